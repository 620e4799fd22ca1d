// Faults a running job survives or fails from, as the coordinator records them: checkpoints
// that could not be written (checkpoint.on_failure) and non-finite gradients the servers saw;
// and specs refused at submission (memory per server, ids and dirs that would name a path).
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::HasEvent;
using testing::InProcessCoordinator;
using testing::JobYaml;
using testing::JobYamlOptions;

std::unique_ptr<InProcessCoordinator> StartCoordinator(CoordinatorOptions options = {}) {
  options.heartbeat_interval = absl::Milliseconds(100);
  options.heartbeat_timeout = absl::Milliseconds(1500);
  auto c = InProcessCoordinator::Start(testing::MakeTempDir("faults"), options);
  REQUIRE(c.ok());
  return *std::move(c);
}

absl::StatusOr<std::string> Submit(InProcessCoordinator& c, const std::string& yaml) {
  SubmitJobRequest request;
  request.set_spec_yaml(yaml);
  request.set_source_name("job.yaml");
  return c.manager().SubmitJob(request);
}

struct Running {
  std::unique_ptr<FakeNode> server, worker;
  std::string id;
  Assignment run;
  TaskReport Report(TaskReport::Kind kind, int64_t step = 0) const {
    TaskReport r;
    r.set_job_id(id);
    r.set_node_id(server->node_id());
    r.set_role(ROLE_SERVER);
    r.set_rank(0);
    r.set_generation(run.generation());
    r.set_kind(kind);
    r.set_step(step);
    return r;
  }
};

Running Start(InProcessCoordinator& c, const std::string& yaml) {
  Running job;
  job.server = std::make_unique<FakeNode>(c.address(), ROLE_SERVER, 0);
  job.worker = std::make_unique<FakeNode>(c.address(), ROLE_WORKER, 0);
  REQUIRE(job.server->Start().ok());
  REQUIRE(job.worker->Start().ok());
  absl::StatusOr<std::string> id = Submit(c, yaml);
  REQUIRE(id.ok());
  job.id = *id;
  auto run = job.server->WaitForRun(job.id);
  REQUIRE(run.has_value());
  job.run = *run;
  REQUIRE(job.server->ReportReady(*run).ok());
  REQUIRE(job.worker->WaitForRun(job.id).has_value());
  return job;
}

std::string CheckpointedYaml(const std::string& dir, const std::string& policy) {
  JobYamlOptions options;
  options.checkpoint_dir = dir;
  return JobYaml(options) + (policy.empty() ? "" : absl::StrCat("  on_failure: ", policy, "\n"));
}

TEST_CASE("a checkpoint a server could not write is an event and a count; the job goes on") {
  auto c = StartCoordinator();
  Running job = Start(*c, CheckpointedYaml(testing::MakeTempDir("ckpt"), ""));
  TaskReport failed = job.Report(TaskReport::KIND_CHECKPOINT_FAILED, 40);
  failed.set_message("cannot create /ckpt/test-1/40/server-0.tmp: No space left on device");
  REQUIRE(c->manager().ReportTask(failed).ok());
  REQUIRE(c->manager().ReportTask(failed).ok());  // a retried report counts once
  const JobInfo info = c->Job(job.id);
  CHECK(info.state() == JOB_RUNNING);
  CHECK(info.faults().checkpoint_failures() == 1);
  CHECK(HasEvent(info,
                 "checkpoint of step 40 failed on server 0: cannot create "
                 "/ckpt/test-1/40/server-0.tmp: No space left on device"));
  TaskReport worker_says = failed;
  worker_says.set_role(ROLE_WORKER);
  worker_says.set_node_id(job.worker->node_id());
  CHECK(c->manager().ReportTask(worker_says).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("checkpoint.on_failure: fail fails the job with the reason") {
  auto c = StartCoordinator();
  Running job = Start(*c, CheckpointedYaml(testing::MakeTempDir("ckpt"), "fail"));
  TaskReport failed = job.Report(TaskReport::KIND_CHECKPOINT_FAILED, 7);
  failed.set_message("Read-only file system");
  REQUIRE(c->manager().ReportTask(failed).ok());
  const JobInfo info = c->Job(job.id);
  CHECK(info.state() == JOB_FAILED);
  CHECK(info.reason() ==
        "checkpoint of step 7 failed on server 0: Read-only file system (checkpoint.on_failure: "
        "fail)");
  CHECK(job.server->WaitForStop(job.id).has_value());
}

TEST_CASE("the servers' non-finite gradient counts add up in the job's faults") {
  auto c = StartCoordinator();
  Running job = Start(*c, JobYaml({}));
  TaskReport r = job.Report(TaskReport::KIND_NONFINITE_GRADIENTS);
  r.mutable_faults()->set_nonfinite_pushes_rejected(2);
  REQUIRE(c->manager().ReportTask(r).ok());
  r.mutable_faults()->set_nonfinite_pushes_rejected(5);  // cumulative: 3 more
  r.mutable_faults()->set_nonfinite_chunks_skipped(1);
  REQUIRE(c->manager().ReportTask(r).ok());
  REQUIRE(c->manager().ReportTask(r).ok());  // the same again: nothing new
  const JobInfo info = c->Job(job.id);
  CHECK(info.faults().nonfinite_pushes_rejected() == 5);
  CHECK(info.faults().nonfinite_chunks_skipped() == 1);
  CHECK(HasEvent(info,
                 "first non-finite gradients on server 0: 2 pushes refused, 0 chunks "
                 "skipped (training.nonfinite_gradients: reject)"));
  CHECK(info.events_size() == 2);  // started; the first non-finite report
}

TEST_CASE("SubmitJob refuses a model its servers cannot hold, naming the sizes") {
  CoordinatorOptions options;
  options.server_memory_budget_bytes = int64_t{2} << 30;
  auto c = StartCoordinator(options);
  const std::string yaml = R"(name: huge
model: {type: mlp, input_dim: 784, hidden: [32768, 30000], num_classes: 10}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training: {optimizer: {type: momentum}}
cluster: {servers: 2, workers: 1}
)";
  const absl::StatusOr<std::string> id = Submit(*c, yaml);
  CHECK(id.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(id.status().message() ==
        "job.yaml: model needs 5.6 GiB per server (params 1.9 GiB + momentum 1.9 GiB + "
        "accumulator 1.9 GiB + chunk records 1.3 MiB) with 2 servers; the budget is 2.0 GiB (the "
        "coordinator's --server_memory_budget_bytes)");
  CHECK(c->manager().ListJobs().jobs_size() == 0);
}

TEST_CASE("SubmitJob refuses a name that would make a hidden job id") {
  auto c = StartCoordinator();
  JobYamlOptions options;
  options.name = ".hidden";
  const absl::StatusOr<std::string> id = Submit(*c, JobYaml(options));
  CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(id.status().message() ==
        "job.yaml: name: job id \".hidden-1\" must match [A-Za-z0-9._-]{1,128} and not start "
        "with '.'");
}

TEST_CASE("SubmitJob refuses a resume dir that climbs out with ..") {
  auto c = StartCoordinator();
  SubmitJobRequest request;
  request.set_spec_yaml(JobYaml({}));
  request.set_source_name("job.yaml");
  request.set_resume_from("/ckpt/../etc/old-1/500");
  const absl::StatusOr<std::string> id = c->manager().SubmitJob(request);
  CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(id.status().message() ==
        "--resume-from: checkpoint dir \"/ckpt/../etc/old-1/500\": must not contain '.' or '..'");
}

}  // namespace
}  // namespace psd
