// Inputs the fuzzers (fuzz/) found that broke common/ code, each kept as a test. They fail
// under --config=asan (tests/run.sh runs the suite so) or crash outright without the fix.
#include <string>

#include "absl/strings/match.h"
#include "common/job_spec.h"
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

}  // namespace
}  // namespace psd
