// JobManager::TraceJob's refusals (the whole flow runs in //tests:trace_test).
#include "absl/strings/match.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::InProcessCoordinator;

TraceJobRequest Trace(const std::string& job, int64_t first, int64_t last) {
  TraceJobRequest r;
  r.set_job_id(job);
  r.set_first_step(first);
  r.set_last_step(last);
  r.set_timeout_ms(100);
  return r;
}

TEST_CASE("TraceJob refuses unknown jobs, jobs not running and bad windows, naming each") {
  auto c = InProcessCoordinator::Start(testing::MakeTempDir("trace"), CoordinatorOptions());
  REQUIRE(c.ok());
  JobManager& m = (*c)->manager();

  absl::StatusOr<TraceJobResponse> r = m.TraceJob(Trace("nope-1", 1, 2));
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("no job 'nope-1'"));

  r = m.TraceJob(Trace("nope-1", 7, 3));
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() == "steps: want A-B with 0 <= A <= B, got '7-3'");
  r = m.TraceJob(Trace("nope-1", 0, kMaxTraceSteps));
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("at most 1000 steps per trace"));

  // No nodes registered: the job stays queued.
  SubmitJobRequest submit;
  submit.set_spec_yaml(testing::JobYaml({}));
  submit.set_source_name("job.yaml");
  absl::StatusOr<std::string> id = m.SubmitJob(submit);
  REQUIRE(id.ok());
  r = m.TraceJob(Trace(*id, 1, 2));
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("is not running (queued)"));

  // A worker's trace for a job that is not being traced.
  TraceReport report;
  report.set_job_id(*id);
  report.set_node_id("nobody");
  CHECK_FALSE(m.ReportTrace(report).ok());
}

}  // namespace
}  // namespace psd
