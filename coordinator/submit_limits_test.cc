// SubmitJob refuses job specs over the limits (bytes, YAML nodes) before building them, with
// INVALID_ARGUMENT naming the limit, and goes on serving: a 4 MB spec with a 2-million-entry
// list cost the coordinator about 1 GB, ten at once about 7 GB.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/service.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::InProcessCoordinator;

int64_t PeakRssBytes() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return int64_t{usage.ru_maxrss} << 10;
}

// A spec with a flow list of `n` ones (under a field the limits are checked before), padded
// with comment lines to at least `bytes`.
std::string SpecWithList(int64_t n, size_t bytes = 0) {
  std::string spec = testing::JobYaml({});
  std::string list = "[";
  for (int64_t i = 0; i < n; ++i) list += i == 0 ? "1" : ",1";
  absl::StrAppend(&spec, "notes: ", list, "]\n");
  while (spec.size() < bytes) spec += "# padding padding padding padding padding padding\n";
  return spec;
}

SubmitJobRequest Request(const std::string& yaml) {
  SubmitJobRequest request;
  request.set_spec_yaml(yaml);
  request.set_source_name("job.yaml");
  return request;
}

TEST_CASE("SubmitJob refuses oversized specs without building them and keeps serving") {
  auto c = InProcessCoordinator::Start(testing::MakeTempDir("limits"), CoordinatorOptions());
  REQUIRE(c.ok());
  JobManager& manager = (*c)->manager();
  const std::string too_long = SpecWithList(2, 4 << 20);
  const std::string too_many = SpecWithList(500000);  // 1 MB: within the byte limit
  REQUIRE(too_many.size() < static_cast<size_t>(kDefaultMaxSpecBytes));
  const int64_t peak_before = PeakRssBytes();
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<std::string> id = manager.SubmitJob(Request(too_long));
    CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(id.status().message() == absl::StrCat("job.yaml: ", too_long.size(),
                                                " bytes, more than the limit of ",
                                                kDefaultMaxSpecBytes, " bytes for a job spec"));
    id = manager.SubmitJob(Request(too_many));
    CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(id.status().message()),
               Catch::Contains(absl::StrCat(": yaml: more than ", kMaxSpecNodes, " YAML nodes")));
  }
  // Each of those cost about 240 MB (the 1 MB one) before the limits. Under ASan freed blocks
  // stay resident in its quarantine, so the peak says nothing there; the default phase checks.
#if !defined(__SANITIZE_ADDRESS__)
  CHECK(PeakRssBytes() - peak_before < (64 << 20));
#else
  (void)peak_before;
#endif
  absl::StatusOr<std::string> ok = manager.SubmitJob(Request(testing::JobYaml({})));
  CHECK(ok.ok());
}

TEST_CASE("SubmitJob takes its byte limit from the options, and bounds its other fields") {
  CoordinatorOptions options;
  options.max_spec_bytes = 4096;
  auto c = InProcessCoordinator::Start(testing::MakeTempDir("limits"), options);
  REQUIRE(c.ok());
  JobManager& manager = (*c)->manager();
  const std::string spec = SpecWithList(2, 5000);
  CHECK(manager.SubmitJob(Request(spec)).status().message() ==
        absl::StrCat("job.yaml: ", spec.size(),
                     " bytes, more than the limit of 4096 bytes for "
                     "a job spec"));
  SubmitJobRequest long_name = Request(testing::JobYaml({}));
  long_name.set_source_name(std::string(2000, 'x'));
  CHECK(manager.SubmitJob(long_name).status().message() ==
        "source_name: at most 1024 bytes, got 2000");
  SubmitJobRequest long_resume = Request(testing::JobYaml({}));
  long_resume.set_resume_from(std::string(5000, 'x'));
  CHECK(manager.SubmitJob(long_resume).status().message() ==
        "--resume-from: at most 4096 bytes, got 5000");
  CHECK(manager.SubmitJob(Request(testing::JobYaml({}))).ok());
}

TEST_CASE("the gRPC server's message limit follows the spec limit") {
  CoordinatorOptions options;
  CHECK(MaxRequestBytes(options) == kDefaultMaxSpecBytes + (64 << 10));
  options.max_spec_bytes = 4096;
  CHECK(MaxRequestBytes(options) == 4096 + (64 << 10));
}

}  // namespace
}  // namespace psd
