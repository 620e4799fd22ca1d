// Recovery from a lost server, checkpoints on request, unusable checkpoints, leaving daemons
// and --resume-from, in one process: a JobManager behind its gRPC service, fake servers and
// workers that talk to it through NodeAgent, and fake parameter servers for CheckpointJob.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/test_util.h"
#include "proto/parameter_server.grpc.pb.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::HasEvent;
using testing::InProcessCoordinator;
using testing::JobYaml;
using testing::JobYamlOptions;
using testing::TestTls;

CoordinatorOptions FastOptions() {
  CoordinatorOptions options;
  options.heartbeat_interval = absl::Milliseconds(100);
  options.heartbeat_timeout = absl::Milliseconds(1500);
  options.restart_grace = absl::Seconds(3);
  options.recovery_timeout = absl::Seconds(30);
  options.server_rpc_timeout = absl::Seconds(3);
  return options;
}

std::unique_ptr<InProcessCoordinator> StartCoordinator(
    const CoordinatorOptions& options = FastOptions(),
    const std::string& state_dir = testing::MakeTempDir("recovery"), int port = 0) {
  auto c = InProcessCoordinator::Start(state_dir, options, port);
  REQUIRE(c.ok());
  return *std::move(c);
}

bool WaitForReason(InProcessCoordinator& c, const std::string& id, const std::string& reason) {
  return testing::WaitUntil([&] { return c.Job(id).reason() == reason; }, absl::Seconds(10));
}

std::string Events(const JobInfo& job) {
  std::string out;
  for (const std::string& e : job.events()) absl::StrAppend(&out, e, "\n");
  return out;
}

// The assignment a node received for `job` with `action` and `generation`.
std::optional<Assignment> WaitForAction(FakeNode& node, const std::string& job,
                                        Assignment::Action action, int64_t generation,
                                        absl::Duration timeout = absl::Seconds(10)) {
  return node.WaitFor(
      [&](const Assignment& a) {
        return a.job_id() == job && a.action() == action && a.generation() == generation;
      },
      timeout);
}

// A job on `servers` servers and `workers` workers, its servers ready and its workers running.
struct Cluster {
  std::vector<std::unique_ptr<FakeNode>> servers;  // by rank
  std::vector<std::unique_ptr<FakeNode>> workers;  // by rank
  std::vector<Assignment> server_runs;             // by rank, generation 1
  std::vector<Assignment> worker_runs;             // by rank, generation 1
  std::string id;
  std::string checkpoint_dir;
};

struct ClusterOptions {
  int servers = 2;
  int workers = 2;
  std::string policy = "fail";
  bool checkpoints = true;
  std::vector<std::string> server_addresses;  // fake parameter servers; default: none
  std::string server_id_dir;                  // node-id files for the servers, when set
};

// Nodes register in rank order, so node i gets rank i.
Cluster StartCluster(InProcessCoordinator& c, const ClusterOptions& o) {
  Cluster cluster;
  for (int i = 0; i < o.servers; ++i) {
    cluster.servers.push_back(std::make_unique<FakeNode>(c.address(), ROLE_SERVER, i, i));
    if (i < static_cast<int>(o.server_addresses.size())) {
      cluster.servers.back()->set_address(o.server_addresses[i]);
    }
    const std::string id_file =
        o.server_id_dir.empty() ? "" : absl::StrCat(o.server_id_dir, "/server-", i, ".id");
    REQUIRE(cluster.servers.back()->Start(id_file).ok());
  }
  for (int i = 0; i < o.workers; ++i) {
    cluster.workers.push_back(std::make_unique<FakeNode>(c.address(), ROLE_WORKER, i, i));
    REQUIRE(cluster.workers.back()->Start().ok());
  }
  JobYamlOptions yaml;
  yaml.servers = o.servers;
  yaml.workers = o.workers;
  yaml.on_worker_failure = o.policy;
  if (o.checkpoints) {
    cluster.checkpoint_dir = testing::MakeTempDir("ckpt");
    yaml.checkpoint_dir = cluster.checkpoint_dir;
  }
  SubmitJobRequest request;
  request.set_spec_yaml(JobYaml(yaml));
  request.set_source_name("job.yaml");
  absl::StatusOr<std::string> id = c.manager().SubmitJob(request);
  REQUIRE(id.ok());
  cluster.id = *id;
  for (auto& s : cluster.servers) {
    auto run = s->WaitForRun(cluster.id);
    REQUIRE(run.has_value());
    cluster.server_runs.push_back(*run);
  }
  for (int i = 0; i < o.servers; ++i) {
    REQUIRE(cluster.server_runs[i].rank() == i);
    REQUIRE(cluster.servers[i]->ReportReady(cluster.server_runs[i]).ok());
  }
  for (int i = 0; i < o.workers; ++i) {
    auto run = cluster.workers[i]->WaitForRun(cluster.id);
    REQUIRE(run.has_value());
    REQUIRE(run->rank() == i);
    cluster.worker_runs.push_back(*run);
  }
  return cluster;
}

void ReportStep(FakeNode& worker, const Assignment& run, int64_t step) {
  ProgressReport report;
  report.set_job_id(run.job_id());
  report.set_generation(run.generation());
  report.set_worker_rank(run.rank());
  report.mutable_progress()->set_step(step);
  report.mutable_progress()->set_total_steps(1000);
  auto stop = worker.agent().ReportProgress(report);
  REQUIRE(stop.ok());
  REQUIRE_FALSE(*stop);
}

// Every server reports the checkpoint of `step` written (only `ranks` when given).
void Checkpointed(Cluster& cluster, int64_t step, std::vector<int> ranks = {}) {
  if (ranks.empty()) {
    for (size_t r = 0; r < cluster.servers.size(); ++r) ranks.push_back(static_cast<int>(r));
  }
  for (int r : ranks) {
    REQUIRE(cluster.servers[r]->ReportCheckpointed(cluster.server_runs[r], step).ok());
  }
}

TEST_CASE("a lost server pauses the job; a replacement resumes it from the last checkpoint") {
  auto c = StartCoordinator();
  Cluster cluster = StartCluster(*c, ClusterOptions());
  const std::string& id = cluster.id;
  for (int w = 0; w < 2; ++w) ReportStep(*cluster.workers[w], cluster.worker_runs[w], 250);
  Checkpointed(cluster, 100);
  Checkpointed(cluster, 200, {1});
  CHECK_FALSE(HasEvent(c->Job(id), "checkpoint of step 200 complete"));
  Checkpointed(cluster, 200, {0});
  Checkpointed(cluster, 300, {0});  // server 1 dies before it writes step 300
  JobInfo info = c->Job(id);
  CHECK(HasEvent(info, "checkpoint of step 100 complete"));
  CHECK(HasEvent(info, "checkpoint of step 200 complete"));
  CHECK_FALSE(HasEvent(info, "checkpoint of step 300 complete"));

  cluster.servers[1]->Stop();
  for (FakeNode* node :
       {cluster.servers[0].get(), cluster.workers[0].get(), cluster.workers[1].get()}) {
    auto pause = WaitForAction(*node, id, Assignment::ACTION_PAUSE, 1);
    REQUIRE(pause.has_value());
  }
  info = c->Job(id);
  CHECK(info.state() == JOB_RUNNING);
  CHECK(info.reason() == "recovering: waiting for a server to replace server 1");
  CHECK(HasEvent(info, "server 1 lost at step 250; pausing"));
  CHECK(info.generation() == 1);
  CHECK(c->manager().CheckpointJob(id).status().code() == absl::StatusCode::kFailedPrecondition);

  FakeNode spare(c->address(), ROLE_SERVER, 7);
  REQUIRE(spare.Start().ok());
  auto run = WaitForAction(spare, id, Assignment::ACTION_RUN, 2);
  REQUIRE(run.has_value());
  CHECK(run->rank() == 1);
  CHECK(run->resume_step() == 200);
  CHECK(run->resume_dir().empty());  // the servers read <checkpoint.dir>/<job>/200 themselves
  CHECK(run->server_addresses(1) == spare.info().address());
  auto run0 = WaitForAction(*cluster.servers[0], id, Assignment::ACTION_RUN, 2);
  REQUIRE(run0.has_value());
  CHECK(run0->resume_step() == 200);
  info = c->Job(id);
  CHECK(info.server_nodes(1) == spare.node_id());
  CHECK(info.reason() == "recovering: servers loading the checkpoint of step 200");
  CHECK(HasEvent(info, absl::StrCat("server 1 replaced by ", spare.node_id(), " at ",
                                    spare.info().address())));

  // Workers stay paused until every server has restored the step.
  REQUIRE(cluster.servers[0]->ReportReady(*run0).ok());
  absl::SleepFor(absl::Milliseconds(200));
  CHECK_FALSE(
      WaitForAction(*cluster.workers[0], id, Assignment::ACTION_RUN, 2, absl::ZeroDuration())
          .has_value());
  REQUIRE(spare.ReportReady(*run).ok());
  std::vector<Assignment> resumed;
  for (auto& w : cluster.workers) {
    auto wr = WaitForAction(*w, id, Assignment::ACTION_RUN, 2);
    REQUIRE(wr.has_value());
    CHECK(wr->resume_step() == 200);
    resumed.push_back(*wr);
  }
  info = c->Job(id);
  INFO(Events(info));
  CHECK(info.reason() == "running");
  CHECK(HasEvent(info, "resumed from step 200 (lost 50 steps)"));
  CHECK(info.progress().step() == 200);

  // The old generation's reports are refused; the job finishes on the new one.
  CHECK(cluster.workers[0]->ReportSucceeded(cluster.worker_runs[0], JobResult()).code() ==
        absl::StatusCode::kFailedPrecondition);
  for (int w = 0; w < 2; ++w) {
    REQUIRE(cluster.workers[w]->ReportSucceeded(resumed[w], JobResult()).ok());
  }
  REQUIRE(c->WaitForState(id, JOB_SUCCEEDED));
}

TEST_CASE("a restarted server takes its old rank back before an idle one") {
  auto c = StartCoordinator();
  ClusterOptions options;
  options.workers = 1;
  options.server_id_dir = testing::MakeTempDir("ids");
  Cluster cluster = StartCluster(*c, options);
  FakeNode idle(c->address(), ROLE_SERVER, 9);
  const std::string lost_id = cluster.servers[1]->node_id();
  // The restarted daemon comes back (same node id) before the heartbeat timeout; an idle
  // server registers first.
  cluster.servers[1]->Stop();
  REQUIRE(idle.Start().ok());
  FakeNode restarted(c->address(), ROLE_SERVER, 1, 1);
  REQUIRE(restarted.Start(options.server_id_dir + "/server-1.id").ok());
  REQUIRE(restarted.node_id() == lost_id);
  auto run = WaitForAction(restarted, cluster.id, Assignment::ACTION_RUN, 2);
  REQUIRE(run.has_value());
  CHECK(run->rank() == 1);
  CHECK(run->resume_step() == 0);  // no checkpoint yet: from the seed again
  const JobInfo info = c->Job(cluster.id);
  INFO(Events(info));
  CHECK(HasEvent(info, "server 1 lost at step 0; pausing"));
  CHECK(HasEvent(info,
                 absl::StrCat("server 1 rejoined: ", lost_id, " at ", restarted.info().address())));
  CHECK(info.reason() == "recovering: servers initialising from the seed");
  CHECK(idle.received().empty());
}

TEST_CASE("a lost server fails a job without checkpoint.dir, saying why") {
  auto c = StartCoordinator();
  ClusterOptions options;
  options.checkpoints = false;
  options.servers = 1;
  options.workers = 1;
  Cluster cluster = StartCluster(*c, options);
  cluster.servers[0]->Stop();
  REQUIRE(c->WaitForState(cluster.id, JOB_FAILED));
  const std::string reason = c->Job(cluster.id).reason();
  CHECK_THAT(reason, Catch::StartsWith("server 0 ("));
  CHECK_THAT(reason, Catch::EndsWith("; the job has no checkpoint.dir, so it cannot recover"));
  CHECK(cluster.workers[0]->WaitForStop(cluster.id).has_value());
}

TEST_CASE("a lost server not replaced within the recovery timeout fails the job") {
  CoordinatorOptions options = FastOptions();
  options.recovery_timeout = absl::Seconds(1);
  auto c = StartCoordinator(options);
  ClusterOptions cluster_options;
  cluster_options.workers = 1;
  Cluster cluster = StartCluster(*c, cluster_options);
  cluster.servers[0]->Stop();
  REQUIRE(WaitForAction(*cluster.workers[0], cluster.id, Assignment::ACTION_PAUSE, 1));
  REQUIRE(c->WaitForState(cluster.id, JOB_FAILED));
  CHECK(c->Job(cluster.id).reason() == "server 0 lost and not replaced within 1s");
  CHECK(cluster.workers[0]->WaitForStop(cluster.id).has_value());
  CHECK(cluster.servers[1]->WaitForStop(cluster.id).has_value());
}

TEST_CASE("an unusable checkpoint falls back to the next older complete one") {
  auto c = StartCoordinator();
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster = StartCluster(*c, options);
  const std::string& id = cluster.id;
  ReportStep(*cluster.workers[0], cluster.worker_runs[0], 230);
  Checkpointed(cluster, 100);
  Checkpointed(cluster, 200);

  // A server leaving (SIGTERM) is lost at once, and is not its own replacement.
  REQUIRE(cluster.servers[1]->ReportLeaving(cluster.server_runs[1]).ok());
  REQUIRE(
      WaitForAction(*cluster.workers[0], id, Assignment::ACTION_PAUSE, 1, absl::Milliseconds(500)));
  CHECK(c->Job(id).reason() == "recovering: waiting for a server to replace server 1");
  FakeNode spare(c->address(), ROLE_SERVER, 5);
  REQUIRE(spare.Start().ok());
  auto run = WaitForAction(spare, id, Assignment::ACTION_RUN, 2);
  REQUIRE(run.has_value());
  REQUIRE(run->resume_step() == 200);

  // A report for another step is refused.
  absl::Status wrong = spare.ReportCheckpointUnusable(*run, 100, "nope");
  CHECK(wrong.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(wrong.message()), Catch::Contains("restores step 200, not 100"));

  REQUIRE(spare
              .ReportCheckpointUnusable(*run, 200,
                                        "checkpoint 200 server-1: chunk 3 checksum "
                                        "mismatch")
              .ok());
  run = WaitForAction(spare, id, Assignment::ACTION_RUN, 3);
  REQUIRE(run.has_value());
  CHECK(run->resume_step() == 100);
  auto run0 = WaitForAction(*cluster.servers[0], id, Assignment::ACTION_RUN, 3);
  REQUIRE(run0.has_value());
  CHECK(run0->resume_step() == 100);
  JobInfo info = c->Job(id);
  CHECK(HasEvent(info,
                 "checkpoint of step 200 unusable (server 1: checkpoint 200 server-1: "
                 "chunk 3 checksum mismatch)"));

  REQUIRE(cluster.servers[0]->ReportCheckpointUnusable(*run0, 100, "manifest missing").ok());
  run0 = WaitForAction(*cluster.servers[0], id, Assignment::ACTION_RUN, 4);
  REQUIRE(run0.has_value());
  CHECK(run0->resume_step() == 0);  // no older checkpoint: from the seed
  run = WaitForAction(spare, id, Assignment::ACTION_RUN, 4);
  REQUIRE(run.has_value());
  REQUIRE(cluster.servers[0]->ReportReady(*run0).ok());
  REQUIRE(spare.ReportReady(*run).ok());
  auto worker = WaitForAction(*cluster.workers[0], id, Assignment::ACTION_RUN, 4);
  REQUIRE(worker.has_value());
  CHECK(worker->resume_step() == 0);
  info = c->Job(id);
  INFO(Events(info));
  CHECK(HasEvent(info, "resumed from step 0 (lost 230 steps)"));

  // A server's failure during a recovery fails the job as before.
  cluster.servers[0]->Stop();
  REQUIRE(WaitForAction(*cluster.workers[0], id, Assignment::ACTION_PAUSE, 4));
  FakeNode third(c->address(), ROLE_SERVER, 6);
  REQUIRE(third.Start().ok());
  auto run5 = WaitForAction(third, id, Assignment::ACTION_RUN, 5);
  REQUIRE(run5.has_value());
  REQUIRE(third.ReportFailed(*run5, "out of memory").ok());
  REQUIRE(c->WaitForState(id, JOB_FAILED));
  CHECK(c->Job(id).reason() == "server 0: out of memory");
}

// A psd.ParameterServer that records Checkpoint calls and answers them with `refusal`.
class FakeParameterServer final : public ParameterServer::Service {
 public:
  FakeParameterServer(InProcessCoordinator* coordinator, grpc::Status refusal)
      : coordinator_(coordinator), refusal_(std::move(refusal)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        "127.0.0.1:0", *MakeServerCredentials(TestTls("fake-server", PeerRole::kServer)), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeParameterServer() override { server_->Shutdown(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::vector<CheckpointRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  grpc::Status Checkpoint(grpc::ServerContext*, const CheckpointRequest* request,
                          CheckpointResponse* response) override {
    // The coordinator must not hold its lock while it calls the servers.
    coordinator_->manager().ListJobs();
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    response->set_step(request->step());
    return refusal_;
  }

 private:
  InProcessCoordinator* coordinator_;
  grpc::Status refusal_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable absl::Mutex mu_;
  std::vector<CheckpointRequest> requests_;
};

TEST_CASE("checkpoint on request calls every server and answers the step") {
  auto c = StartCoordinator();
  FakeParameterServer ps0(c.get(), grpc::Status::OK);
  FakeParameterServer ps1(c.get(), grpc::Status::OK);
  ClusterOptions options;
  options.workers = 1;
  options.server_addresses = {ps0.address(), ps1.address()};
  Cluster cluster = StartCluster(*c, options);
  ReportStep(*cluster.workers[0], cluster.worker_runs[0], 40);
  auto response = c->manager().CheckpointJob(cluster.id);
  REQUIRE(response.ok());
  CHECK(response->step() == 42);
  for (FakeParameterServer* ps : {&ps0, &ps1}) {
    const std::vector<CheckpointRequest> requests = ps->requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].job_id() == cluster.id);
    CHECK(requests[0].generation() == 1);
    CHECK(requests[0].step() == 42);
    CHECK(requests[0].dir() == cluster.checkpoint_dir);
  }
  // "complete" only once every rank wrote it.
  Checkpointed(cluster, 42, {0});
  CHECK_FALSE(HasEvent(c->Job(cluster.id), "checkpoint of step 42 complete"));
  Checkpointed(cluster, 42, {1});
  CHECK(HasEvent(c->Job(cluster.id), "checkpoint of step 42 complete"));
}

TEST_CASE("checkpoint on request: refusals, unreachable servers, no checkpoint.dir") {
  auto c = StartCoordinator();
  SECTION("a server's refusal is the answer") {
    FakeParameterServer ps0(c.get(), grpc::Status::OK);
    FakeParameterServer ps1(
        c.get(), grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "generation 1 is stale"));
    ClusterOptions options;
    options.workers = 1;
    options.server_addresses = {ps0.address(), ps1.address()};
    Cluster cluster = StartCluster(*c, options);
    auto response = c->manager().CheckpointJob(cluster.id);
    REQUIRE_FALSE(response.ok());
    CHECK(response.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(response.status().message() ==
          absl::StrCat("server 1 at ", ps1.address(), ": generation 1 is stale"));
  }
  SECTION("an unreachable server is named, not taken for the coordinator") {
    ClusterOptions options;
    options.servers = 1;
    options.workers = 1;
    options.server_addresses = {"127.0.0.1:1"};
    Cluster cluster = StartCluster(*c, options);
    auto response = c->manager().CheckpointJob(cluster.id);
    REQUIRE_FALSE(response.ok());
    CHECK(response.status().code() == absl::StatusCode::kAborted);
    CHECK_THAT(std::string(response.status().message()),
               Catch::StartsWith("server 0 at 127.0.0.1:1 did not answer"));
  }
  SECTION("a job without checkpoint.dir") {
    ClusterOptions options;
    options.servers = 1;
    options.workers = 1;
    options.checkpoints = false;
    Cluster cluster = StartCluster(*c, options);
    auto response = c->manager().CheckpointJob(cluster.id);
    CHECK(response.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(response.status().message() ==
          absl::StrCat("job ", cluster.id, " has no checkpoint.dir"));
  }
}

TEST_CASE("a worker that leaves is lost at once") {
  auto c = StartCoordinator();
  SECTION("on_worker_failure: continue drops it") {
    ClusterOptions options;
    options.servers = 1;
    options.policy = "continue";
    Cluster cluster = StartCluster(*c, options);
    REQUIRE(cluster.workers[1]->ReportLeaving(cluster.worker_runs[1]).ok());
    // Well within the heartbeat timeout (the node still heartbeats).
    auto shrunk = cluster.servers[0]->WaitFor(
        [&](const Assignment& a) {
          return a.action() == Assignment::ACTION_RUN && a.live_workers_size() == 1;
        },
        absl::Milliseconds(500));
    REQUIRE(shrunk.has_value());
    CHECK(shrunk->live_workers(0) == 0);
    CHECK(HasEvent(c->Job(cluster.id), "worker 1 lost; continuing with 1 worker"));
    // A leaving node gets no new job.
    REQUIRE(cluster.workers[0]->ReportSucceeded(cluster.worker_runs[0], JobResult()).ok());
    REQUIRE(c->WaitForState(cluster.id, JOB_SUCCEEDED));
    JobYamlOptions one;
    one.name = "next";
    SubmitJobRequest request;
    request.set_spec_yaml(JobYaml(one));
    auto next = c->manager().SubmitJob(request);
    REQUIRE(next.ok());
    REQUIRE(c->WaitForState(*next, JOB_RUNNING));
    CHECK(c->Job(*next).worker_nodes(0) == cluster.workers[0]->node_id());
  }
  SECTION("on_worker_failure: fail fails the job") {
    ClusterOptions options;
    options.servers = 1;
    Cluster cluster = StartCluster(*c, options);
    REQUIRE(cluster.workers[0]->ReportLeaving(cluster.worker_runs[0]).ok());
    REQUIRE(c->WaitForState(cluster.id, JOB_FAILED, absl::Milliseconds(500)));
    CHECK_THAT(c->Job(cluster.id).reason(),
               Catch::StartsWith("worker 0 (" + cluster.workers[0]->node_id()));
    CHECK_THAT(c->Job(cluster.id).reason(), Catch::EndsWith(") lost: left (shutting down)"));
  }
}

TEST_CASE("a coordinator restart in the middle of a recovery keeps the checkpointed steps") {
  const std::string state_dir = testing::MakeTempDir("recovery-restart");
  auto c = StartCoordinator(FastOptions(), state_dir);
  const int port = c->port();
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster = StartCluster(*c, options);
  const std::string id = cluster.id;
  ReportStep(*cluster.workers[0], cluster.worker_runs[0], 180);
  Checkpointed(cluster, 50);
  Checkpointed(cluster, 150);
  Checkpointed(cluster, 170, {1});
  cluster.servers[1]->Stop();
  REQUIRE(WaitForReason(*c, id, "recovering: waiting for a server to replace server 1"));

  c.reset();                                             // the coordinator goes down...
  c = StartCoordinator(FastOptions(), state_dir, port);  // ...and comes back
  JobInfo info = c->Job(id);
  CHECK(info.state() == JOB_RUNNING);
  CHECK(info.reason() == "recovering: waiting for a server to replace server 1");
  // The survivors re-register and stay paused; none is lost.
  absl::SleepFor(FastOptions().restart_grace + absl::Milliseconds(500));
  REQUIRE(c->Job(id).state() == JOB_RUNNING);

  FakeNode spare(c->address(), ROLE_SERVER, 8);
  REQUIRE(spare.Start().ok());
  auto run = WaitForAction(spare, id, Assignment::ACTION_RUN, 2);
  REQUIRE(run.has_value());
  CHECK(run->resume_step() == 150);
  auto run0 = WaitForAction(*cluster.servers[0], id, Assignment::ACTION_RUN, 2);
  REQUIRE(run0.has_value());
  REQUIRE(cluster.servers[0]->ReportReady(*run0).ok());
  REQUIRE(spare.ReportReady(*run).ok());
  auto worker = WaitForAction(*cluster.workers[0], id, Assignment::ACTION_RUN, 2);
  REQUIRE(worker.has_value());
  CHECK(worker->resume_step() == 150);
  info = c->Job(id);
  INFO(Events(info));
  CHECK(HasEvent(info, "resumed from step 150 (lost 30 steps)"));
}

TEST_CASE("--resume-from: checked at submit, given to servers and workers") {
  auto c = StartCoordinator();
  const std::string root = testing::MakeTempDir("resume");
  std::filesystem::create_directories(root + "/old-1/300");
  std::filesystem::create_directories(root + "/old-1/500");
  SubmitJobRequest request;
  JobYamlOptions yaml;
  yaml.checkpoint_dir = root;
  request.set_spec_yaml(JobYaml(yaml));
  request.set_source_name("job.yaml");

  request.set_resume_from(root + "/old-1");
  auto bad = c->manager().SubmitJob(request);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message() ==
        absl::StrCat("--resume-from: expected .../<job>/<step>, got ", root, "/old-1"));
  request.set_resume_from(root + "/old-1/400");
  bad = c->manager().SubmitJob(request);
  CHECK(bad.status().message() == absl::StrCat("--resume-from: ", root,
                                               "/old-1/400 does not "
                                               "exist (",
                                               root, "/old-1 has steps 300, 500)"));
  request.set_resume_from("/elsewhere/old-1/700");  // not visible here: on the servers
  CHECK(c->manager().SubmitJob(request).ok());
  REQUIRE(c->manager().CancelJob("test-1").ok());

  request.set_resume_from(root + "/old-1/500/");
  auto id = c->manager().SubmitJob(request);
  REQUIRE(id.ok());
  FakeNode server(c->address(), ROLE_SERVER, 0);
  FakeNode worker(c->address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());
  auto run = server.WaitForRun(*id);
  REQUIRE(run.has_value());
  CHECK(run->resume_step() == 500);
  CHECK(run->resume_dir() == root + "/old-1/500/");
  CHECK(HasEvent(c->Job(*id), "started on 1 server and 1 worker from the checkpoint of step 500"));
  REQUIRE(server.ReportReady(*run).ok());
  auto wr = worker.WaitForRun(*id);
  REQUIRE(wr.has_value());
  CHECK(wr->resume_step() == 500);
  CHECK(wr->resume_dir().empty());
}

TEST_CASE("an unusable --resume-from checkpoint fails the job at start") {
  auto c = StartCoordinator();
  SubmitJobRequest request;
  JobYamlOptions yaml;
  yaml.checkpoint_dir = testing::MakeTempDir("ckpt");
  request.set_spec_yaml(JobYaml(yaml));
  request.set_resume_from("/elsewhere/old-1/500");
  auto id = c->manager().SubmitJob(request);
  REQUIRE(id.ok());
  FakeNode server(c->address(), ROLE_SERVER, 0);
  FakeNode worker(c->address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());
  auto run = server.WaitForRun(*id);
  REQUIRE(run.has_value());
  REQUIRE(server.ReportCheckpointUnusable(*run, 500, "no manifest").ok());
  REQUIRE(c->WaitForState(*id, JOB_FAILED));
  CHECK(c->Job(*id).reason() ==
        "checkpoint of step 500 unusable (server 0: no manifest); no older usable checkpoint");
}

}  // namespace
}  // namespace psd
