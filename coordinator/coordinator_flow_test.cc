// The assignment protocol end to end, in one process: a JobManager behind its gRPC service, and
// fake servers and workers that talk to it through NodeAgent.
#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::InProcessCoordinator;
using testing::JobYaml;
using testing::JobYamlOptions;

std::unique_ptr<InProcessCoordinator> StartCoordinator() {
  auto c =
      InProcessCoordinator::Start(testing::MakeTempDir("flow"), testing::FastCoordinatorOptions());
  REQUIRE(c.ok());
  return *std::move(c);
}

std::string Submit(InProcessCoordinator& c, const JobYamlOptions& options) {
  SubmitJobRequest request;
  request.set_spec_yaml(JobYaml(options));
  request.set_source_name("job.yaml");
  absl::StatusOr<std::string> id = c.manager().SubmitJob(request);
  REQUIRE(id.ok());
  return *id;
}

JobInfo Get(InProcessCoordinator& c, const std::string& id) {
  absl::StatusOr<JobInfo> job = c.manager().GetJob(id);
  REQUIRE(job.ok());
  return *job;
}

bool WaitForReason(InProcessCoordinator& c, const std::string& id, const std::string& reason) {
  return testing::WaitUntil([&] { return Get(c, id).reason() == reason; }, absl::Seconds(5));
}

bool HasEvent(const JobInfo& job, const std::string& text) {
  return std::find(job.events().begin(), job.events().end(), text) != job.events().end();
}

// One server and `workers` workers, registered, and a job that runs on them with the servers
// ready and the workers' assignments delivered.
struct RunningJob {
  std::unique_ptr<FakeNode> server;
  std::vector<std::unique_ptr<FakeNode>> workers;
  std::string id;
  Assignment server_run;
  std::vector<Assignment> worker_runs;  // by rank

  FakeNode& worker(int rank) {
    for (size_t i = 0; i < workers.size(); ++i) {
      if (worker_runs[i].rank() == rank) return *workers[i];
    }
    FAIL("no worker of rank " << rank);
    return *workers[0];
  }
  const Assignment& worker_run(int rank) {
    for (const Assignment& a : worker_runs) {
      if (a.rank() == rank) return a;
    }
    FAIL("no worker of rank " << rank);
    return worker_runs[0];
  }
};

RunningJob StartJob(InProcessCoordinator& c, int workers, const std::string& policy) {
  RunningJob job;
  job.server = std::make_unique<FakeNode>(c.address(), ROLE_SERVER, 0);
  REQUIRE(job.server->Start().ok());
  for (int i = 0; i < workers; ++i) {
    job.workers.push_back(std::make_unique<FakeNode>(c.address(), ROLE_WORKER, i));
    REQUIRE(job.workers.back()->Start().ok());
  }
  JobYamlOptions options;
  options.workers = workers;
  options.on_worker_failure = policy;
  job.id = Submit(c, options);
  auto run = job.server->WaitForRun(job.id);
  REQUIRE(run.has_value());
  job.server_run = *run;
  REQUIRE(job.server->ReportReady(*run).ok());
  for (auto& w : job.workers) {
    auto wr = w->WaitForRun(job.id);
    REQUIRE(wr.has_value());
    job.worker_runs.push_back(*wr);
  }
  return job;
}

TEST_CASE("a job waits for nodes, runs servers first, then workers, and frees its nodes") {
  auto c = StartCoordinator();
  JobYamlOptions options;
  options.workers = 2;
  const std::string id = Submit(*c, options);
  CHECK(id == "test-1");
  CHECK(Get(*c, id).state() == JOB_QUEUED);
  CHECK(WaitForReason(*c, id, "waiting: 0 of 1 servers and 0 of 2 workers registered"));

  FakeNode server(c->address(), ROLE_SERVER, 0);
  REQUIRE(server.Start().ok());
  CHECK(WaitForReason(*c, id, "waiting: 0 of 2 workers registered"));
  FakeNode w0(c->address(), ROLE_WORKER, 0);
  REQUIRE(w0.Start().ok());
  CHECK(WaitForReason(*c, id, "waiting: 1 of 2 workers registered"));
  FakeNode w1(c->address(), ROLE_WORKER, 1);
  REQUIRE(w1.Start().ok());

  auto run = server.WaitForRun(id);
  REQUIRE(run.has_value());
  CHECK(Get(*c, id).state() == JOB_RUNNING);
  CHECK(run->role() == ROLE_SERVER);
  CHECK(run->rank() == 0);
  CHECK(run->generation() == 1);
  CHECK(run->num_workers() == 2);
  CHECK(run->server_addresses_size() == 1);
  CHECK(run->server_addresses(0) == server.info().address());
  CHECK(std::vector<int>(run->live_workers().begin(), run->live_workers().end()) ==
        std::vector<int>{0, 1});
  CHECK(run->spec_yaml() == JobYaml(options));
  // Workers start only once every server is ready.
  absl::SleepFor(absl::Milliseconds(200));
  CHECK_FALSE(w0.WaitForRun(id, absl::ZeroDuration()).has_value());

  REQUIRE(server.ReportReady(*run).ok());
  auto r0 = w0.WaitForRun(id);
  auto r1 = w1.WaitForRun(id);
  REQUIRE(r0.has_value());
  REQUIRE(r1.has_value());
  CHECK(r0->rank() + r1->rank() == 1);  // ranks 0 and 1 (registration order: w0 first)
  CHECK(r0->rank() == 0);
  CHECK(r0->server_addresses(0) == server.info().address());
  CHECK(r0->role() == ROLE_WORKER);

  ProgressReport report;
  report.set_job_id(id);
  report.set_generation(1);
  report.set_worker_rank(0);
  report.mutable_progress()->set_step(10);
  report.mutable_progress()->set_loss(1.0);
  report.mutable_progress()->set_test_accuracy(0.5);
  report.mutable_progress()->set_samples_per_sec(100);
  auto cancelled = w0.agent().ReportProgress(report);
  REQUIRE(cancelled.ok());
  CHECK_FALSE(*cancelled);
  report.set_worker_rank(1);
  report.mutable_progress()->set_step(8);
  report.mutable_progress()->set_loss(3.0);
  REQUIRE(w1.agent().ReportProgress(report).ok());
  const Progress progress = Get(*c, id).progress();
  CHECK(progress.step() == 8);
  CHECK(progress.loss() == 2.0);
  CHECK(progress.test_accuracy() == 0.5);
  CHECK(progress.samples_per_sec() == 200);

  // Every live member must arrive before anyone passes the barrier.
  std::vector<std::thread> threads;
  std::atomic<int> passed{0};
  for (FakeNode* node : {&server, &w0, &w1}) {
    threads.emplace_back([&, node] {
      auto done = node->agent().Barrier(id, "init", absl::Seconds(5), ROLE_UNSPECIFIED);
      if (done.ok() && *done) ++passed;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(passed == 3);

  JobResult result;
  result.set_test_accuracy(0.9);
  result.set_steps(100);
  REQUIRE(w1.ReportSucceeded(*r1, JobResult()).ok());
  CHECK(Get(*c, id).state() == JOB_RUNNING);
  REQUIRE(w0.ReportSucceeded(*r0, result).ok());
  REQUIRE(c->WaitForState(id, JOB_SUCCEEDED));
  const JobInfo done = Get(*c, id);
  CHECK(done.result().test_accuracy() == 0.9);
  CHECK(done.result().steps() == 100);
  CHECK(done.ended_ms() >= done.started_ms());
  for (FakeNode* node : {&server, &w0, &w1}) CHECK(node->WaitForStop(id).has_value());
  const ListNodesResponse nodes = c->manager().ListNodes();
  for (const NodeStatus& n : nodes.nodes()) CHECK(n.state() == NODE_IDLE);

  report.set_worker_rank(0);
  cancelled = w0.agent().ReportProgress(report);
  REQUIRE(cancelled.ok());
  CHECK(*cancelled);

  // The freed nodes take the next job.
  const std::string next = Submit(*c, options);
  CHECK(next == "test-2");
  CHECK(server.WaitForRun(next).has_value());
}

TEST_CASE("a lost worker is dropped when the job says continue") {
  auto c = StartCoordinator();
  RunningJob job = StartJob(*c, 2, "continue");
  job.worker(1).Stop();
  auto shrunk = job.server->WaitFor([&](const Assignment& a) {
    return a.job_id() == job.id && a.action() == Assignment::ACTION_RUN &&
           a.live_workers_size() == 1;
  });
  REQUIRE(shrunk.has_value());
  CHECK(shrunk->live_workers(0) == 0);
  CHECK(shrunk->generation() == job.server_run.generation());
  CHECK(shrunk->version() > job.server_run.version());
  JobInfo info = Get(*c, job.id);
  CHECK(info.state() == JOB_RUNNING);
  CHECK(HasEvent(info, "worker 1 lost; continuing with 1 worker"));

  // Barriers now wait only for the live members.
  std::thread server_waits([&] {
    auto done =
        job.server->agent().Barrier(job.id, "after-loss", absl::Seconds(5), ROLE_UNSPECIFIED);
    CHECK((done.ok() && *done));
  });
  auto done =
      job.worker(0).agent().Barrier(job.id, "after-loss", absl::Seconds(5), ROLE_UNSPECIFIED);
  server_waits.join();
  CHECK((done.ok() && *done));

  REQUIRE(job.worker(0).ReportSucceeded(job.worker_run(0), JobResult()).ok());
  REQUIRE(c->WaitForState(job.id, JOB_SUCCEEDED));
  bool dead_listed = false;
  const ListNodesResponse nodes = c->manager().ListNodes();
  for (const NodeStatus& n : nodes.nodes()) {
    if (n.node().node_id() == job.worker(1).node_id()) dead_listed = n.state() == NODE_DEAD;
  }
  CHECK(dead_listed);
}

TEST_CASE("a lost worker fails the job when the job says fail") {
  auto c = StartCoordinator();
  RunningJob job = StartJob(*c, 2, "fail");
  const std::string lost_id = job.worker(1).node_id();
  job.worker(1).Stop();
  REQUIRE(c->WaitForState(job.id, JOB_FAILED));
  const std::string reason = Get(*c, job.id).reason();
  CHECK_THAT(reason, Catch::StartsWith("worker 1 (" + lost_id + " at 127.0.0.1:3000"));
  CHECK_THAT(reason, Catch::Contains(") lost: no heartbeat for "));
  CHECK(job.server->WaitForStop(job.id).has_value());
  CHECK(job.worker(0).WaitForStop(job.id).has_value());
}

TEST_CASE("the last worker lost fails a continue job") {
  auto c = StartCoordinator();
  RunningJob job = StartJob(*c, 1, "continue");
  job.worker(0).Stop();
  REQUIRE(c->WaitForState(job.id, JOB_FAILED));
  CHECK_THAT(Get(*c, job.id).reason(), Catch::EndsWith("; no worker left"));
}

TEST_CASE("a lost server fails a job without checkpoint.dir") {
  auto c = StartCoordinator();
  RunningJob job = StartJob(*c, 1, "continue");
  const std::string server_id = job.server->node_id();
  job.server->Stop();
  REQUIRE(c->WaitForState(job.id, JOB_FAILED));
  CHECK_THAT(Get(*c, job.id).reason(), Catch::StartsWith("server 0 (" + server_id +
                                                         " at 127.0.0.1:20000) lost: "
                                                         "no heartbeat for "));
  CHECK_THAT(Get(*c, job.id).reason(),
             Catch::EndsWith("; the job has no checkpoint.dir, so it cannot recover"));
  CHECK(job.worker(0).WaitForStop(job.id).has_value());
}

TEST_CASE("a task's failure fails the job with its role and rank") {
  auto c = StartCoordinator();
  RunningJob job = StartJob(*c, 2, "continue");
  REQUIRE(job.worker(1).ReportFailed(job.worker_run(1), "out of memory").ok());
  REQUIRE(c->WaitForState(job.id, JOB_FAILED));
  CHECK(Get(*c, job.id).reason() == "worker 1: out of memory");
  CHECK(job.server->WaitForStop(job.id).has_value());
}

TEST_CASE("cancel ends a queued job at once and stops a running one") {
  auto c = StartCoordinator();
  JobYamlOptions big;
  big.workers = 5;
  const std::string queued = Submit(*c, big);
  auto cancelled = c->manager().CancelJob(queued);
  REQUIRE(cancelled.ok());
  CHECK(cancelled->state() == JOB_CANCELLED);
  CHECK(cancelled->reason() == "cancelled by user");

  RunningJob job = StartJob(*c, 1, "fail");
  REQUIRE(c->manager().CancelJob(job.id).ok());
  CHECK(c->State(job.id) == JOB_CANCELLED);
  CHECK(job.server->WaitForStop(job.id).has_value());
  CHECK(job.worker(0).WaitForStop(job.id).has_value());
  // Reports for a cancelled job are refused; progress says stop.
  CHECK(job.worker(0).ReportSucceeded(job.worker_run(0), JobResult()).code() ==
        absl::StatusCode::kFailedPrecondition);
  // Cancelling again is fine; a finished job cannot be cancelled.
  CHECK(c->manager().CancelJob(job.id).ok());
}

TEST_CASE("jobs start first come, first served") {
  auto c = StartCoordinator();
  JobYamlOptions two;
  two.workers = 2;
  const std::string first = Submit(*c, two);
  const std::string second = Submit(*c, JobYamlOptions());
  FakeNode server(c->address(), ROLE_SERVER, 0);
  FakeNode worker(c->address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());
  CHECK(WaitForReason(*c, first, "waiting: 1 of 2 workers registered"));
  CHECK(Get(*c, second).reason() == "waiting: queued behind " + first);
  CHECK(Get(*c, second).state() == JOB_QUEUED);
}

TEST_CASE("a cuda job waits for workers with a usable cuda device") {
  auto c = StartCoordinator();
  Device broken;
  broken.set_kind("cuda");
  broken.set_detail("CUDA driver version is insufficient for CUDA runtime version");
  FakeNode server(c->address(), ROLE_SERVER, 0);
  FakeNode cpu_worker(c->address(), ROLE_WORKER, 0, -1, {broken});
  REQUIRE(server.Start().ok());
  REQUIRE(cpu_worker.Start().ok());
  JobYamlOptions options;
  options.device = "cuda";
  const std::string id = Submit(*c, options);
  CHECK(WaitForReason(*c, id, "waiting: 0 of 1 workers with a usable cuda device registered"));
  Device gpu;
  gpu.set_kind("cuda");
  gpu.set_name("NVIDIA H100");
  FakeNode gpu_worker(c->address(), ROLE_WORKER, 1, -1, {gpu});
  REQUIRE(gpu_worker.Start().ok());
  REQUIRE(server.WaitForRun(id).has_value());
  CHECK(Get(*c, id).worker_nodes(0) == gpu_worker.node_id());
}

TEST_CASE("a node keeps its identity in its node-id file") {
  auto c = StartCoordinator();
  const std::string id_file = testing::MakeTempDir("node") + "/node.id";
  FakeNode node(c->address(), ROLE_WORKER, 0);
  REQUIRE(node.Start(id_file).ok());
  const std::string first = node.node_id();
  CHECK(absl::StrContains(testing::ReadFile(id_file), first));
  node.Stop();
  FakeNode again(c->address(), ROLE_WORKER, 0);
  REQUIRE(again.Start(id_file).ok());
  CHECK(again.node_id() == first);
}

TEST_CASE("a busy node that comes back without its job is lost to that job") {
  auto c = StartCoordinator();
  const std::string id_file = testing::MakeTempDir("node") + "/node.id";
  FakeNode server(c->address(), ROLE_SERVER, 0);
  FakeNode worker(c->address(), ROLE_WORKER, 0);
  REQUIRE(server.Start(id_file).ok());
  REQUIRE(worker.Start().ok());
  const std::string id = Submit(*c, JobYamlOptions());
  REQUIRE(server.WaitForRun(id).has_value());
  server.Stop();
  FakeNode restarted(c->address(), ROLE_SERVER, 0);  // a new daemon with the same identity
  REQUIRE(restarted.Start(id_file).ok());
  REQUIRE(c->WaitForState(id, JOB_FAILED));
  CHECK_THAT(Get(*c, id).reason(), Catch::Contains("re-registered without the job"));
}

TEST_CASE("bad requests get errors that name the problem") {
  auto c = StartCoordinator();
  SubmitJobRequest bad;
  bad.set_spec_yaml("name: x\ntraining:\n  batch_size: 0\n");
  bad.set_source_name("bad.yaml");
  auto submitted = c->manager().SubmitJob(bad);
  REQUIRE_FALSE(submitted.ok());
  CHECK(submitted.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(submitted.status().message()), Catch::StartsWith("bad.yaml:"));

  RegisterNodeRequest no_role;
  no_role.mutable_node()->set_address("127.0.0.1:1");
  CHECK_THAT(std::string(c->manager().RegisterNode(no_role).status().message()),
             Catch::StartsWith("node.role:"));
  RegisterNodeRequest no_address;
  no_address.mutable_node()->set_role(ROLE_WORKER);
  CHECK_THAT(std::string(c->manager().RegisterNode(no_address).status().message()),
             Catch::StartsWith("node.address:"));

  CHECK(c->manager().GetJob("nope").status().message() == "no job 'nope'");
  CHECK(c->manager().CancelJob("nope").status().code() == absl::StatusCode::kNotFound);

  RunningJob job = StartJob(*c, 1, "fail");
  TaskReport wrong;
  wrong.set_job_id(job.id);
  wrong.set_node_id(job.server->node_id());
  wrong.set_role(ROLE_WORKER);
  wrong.set_rank(0);
  wrong.set_generation(1);
  wrong.set_kind(TaskReport::KIND_SUCCEEDED);
  absl::Status status = c->manager().ReportTask(wrong);
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(status.message()), Catch::Contains("is not worker 0 of job"));
  wrong.set_rank(5);
  CHECK_THAT(std::string(c->manager().ReportTask(wrong).message()),
             Catch::StartsWith("rank 5 out of range"));
  // The job is unharmed.
  CHECK(c->State(job.id) == JOB_RUNNING);
  const absl::Status no_dir = c->manager().CheckpointJob(job.id).status();
  CHECK(no_dir.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(no_dir.message() == "job " + job.id + " has no checkpoint.dir");
}

}  // namespace
}  // namespace psd
