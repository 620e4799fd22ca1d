// Inputs the fuzzers (fuzz/) found that broke common/ code, each kept as a test. They fail
// under --config=asan (tests/run.sh runs the suite so) or crash outright without the fix.
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "tests/testing.h"

namespace psd {
namespace {

// jobspec_fuzz: an unknown field name close to no known one made UnknownFieldReason compare
// against a string_view of a destroyed temporary (stack-use-after-scope; ASan). The same text
// reaches the coordinator (SubmitJob) and the servers (InitJob).
TEST_CASE("an unknown field with no close name is named, not read from a dead temporary") {
  for (const std::string yaml : {"name: x\nmodel: {type: mlp, liden: [3]}\n",
                                 "name: x\ndata: {zzzzzzzzzzzz: 1}\n", "zq: 1\n"}) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "fuzz.yaml");
    REQUIRE_FALSE(spec.ok());
    INFO(spec.status().message());
    CHECK(absl::StartsWith(spec.status().message(), "fuzz.yaml:"));
    CHECK(absl::StrContains(spec.status().message(), "unknown field"));
  }
}

// jobspec_fuzz: a key that is a multi-line plain scalar (or any key with a line break) was
// quoted verbatim, so the "one line" error of ParseJobSpec ran over several, and a key as long
// as the file was repeated whole.
TEST_CASE("an error naming a key with line breaks, or a huge one, stays one short line") {
  const std::string long_key(5000, 'k');
  for (const std::string& yaml : {std::string("name: kkkkks\nlkkkk)kkkD\n\n kk: 1\n"),
                                 std::string("name: a\n\"x\\ty\\nz\": 1\n"),
                                 "name: a\n" + long_key + ": 1\n"}) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "fuzz.yaml");
    REQUIRE_FALSE(spec.ok());
    const std::string message(spec.status().message());
    INFO(message);
    CHECK(absl::StartsWith(message, "fuzz.yaml:"));
    CHECK_FALSE(absl::StrContains(message, '\n'));
    CHECK_FALSE(absl::StrContains(message, '\t'));
    CHECK(message.size() < 600);
  }
}

// model_file_fuzz: a tensor with no values (a dimension of 0) made ReadModelFile call
// memcpy(nullptr, p, 0), undefined behaviour (UBSan: "null pointer passed as argument 1").
TEST_CASE("a model file with an empty tensor reads back") {
  ModelFile m;
  m.spec_yaml = "name: m\n";
  TensorInfo empty;
  empty.name = "layer0.weight";
  empty.shape = {0, 4};
  empty.size = 0;
  m.tensors = {empty};
  m.values = {{}};
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/empty.psdm";
  REQUIRE(WriteModelFile(path, m).ok());
  absl::StatusOr<ModelFile> back = ReadModelFile(path);
  REQUIRE(back.ok());
  REQUIRE(back->tensors.size() == 1);
  CHECK(back->tensors[0].shape == std::vector<int64_t>{0, 4});
  CHECK(back->values[0].empty());
}

}  // namespace
}  // namespace psd
