// Elastic workers' protocol in one process (coordinator/job_elastic.cc): horizons granted with
// progress reports, a change's step past all of them, servers first, joiners after every server
// applied it, released workers, and the refusals.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::InProcessCoordinator;

// A job on one server and `workers` workers, log_every 10, elastic unless `fixed`.
std::string ElasticYaml(int workers, bool fixed = false) {
  testing::JobYamlOptions o;
  o.name = "elastic";
  o.workers = workers;
  std::string yaml = absl::StrReplaceAll(testing::JobYaml(o),
                                         {{"  epochs: 1\n", "  epochs: 1\n  log_every: 10\n"}});
  if (!fixed) yaml = absl::StrReplaceAll(yaml, {{"cluster:\n", "cluster:\n  elastic: true\n"}});
  return yaml;
}

ReportProgressResponse Report(FakeNode& worker, const Assignment& run, int64_t step,
                              int membership_size = 0) {
  ProgressReport report;
  report.set_job_id(run.job_id());
  report.set_generation(run.generation());
  report.set_worker_rank(run.rank());
  report.set_membership_size(membership_size);
  report.mutable_progress()->set_step(step);
  report.mutable_progress()->set_total_steps(1000);
  auto answer = worker.agent().ReportProgressFully(report);
  REQUIRE(answer.ok());
  return *answer;
}

absl::Status Applied(FakeNode& server, const Assignment& run, int64_t segments) {
  TaskReport report;
  report.set_job_id(run.job_id());
  report.set_role(ROLE_SERVER);
  report.set_rank(run.rank());
  report.set_generation(run.generation());
  report.set_kind(TaskReport::KIND_MEMBERSHIP_APPLIED);
  report.set_step(segments);
  return server.agent().ReportTask(report, absl::Seconds(5));
}

struct Cluster {
  std::string state_dir;
  std::unique_ptr<InProcessCoordinator> c;
  std::unique_ptr<FakeNode> server;
  std::vector<std::unique_ptr<FakeNode>> workers;
  std::string id;
  Assignment server_run;
  std::vector<Assignment> runs;  // of the workers the job started on, by index
};

// `registered` workers, the first `in_job` of them in the job.
Cluster Start(int registered, int in_job, bool fixed = false) {
  Cluster k;
  k.state_dir = testing::MakeTempDir("elastic");
  auto c = InProcessCoordinator::Start(k.state_dir, testing::FastCoordinatorOptions());
  REQUIRE(c.ok());
  k.c = *std::move(c);
  k.server = std::make_unique<FakeNode>(k.c->address(), ROLE_SERVER, 0);
  REQUIRE(k.server->Start().ok());
  for (int i = 0; i < in_job; ++i) {
    k.workers.push_back(std::make_unique<FakeNode>(k.c->address(), ROLE_WORKER, i));
    REQUIRE(k.workers.back()->Start().ok());
  }
  SubmitJobRequest request;
  request.set_spec_yaml(ElasticYaml(in_job, fixed));
  request.set_source_name("job.yaml");
  absl::StatusOr<std::string> id = k.c->manager().SubmitJob(request);
  REQUIRE(id.ok());
  k.id = *id;
  auto run = k.server->WaitForRun(k.id);
  REQUIRE(run.has_value());
  k.server_run = *run;
  REQUIRE(k.server->ReportReady(*run).ok());
  for (int i = 0; i < in_job; ++i) {
    auto w = k.workers[i]->WaitForRun(k.id);
    REQUIRE(w.has_value());
    k.runs.push_back(*w);
  }
  for (int i = in_job; i < registered; ++i) {  // idle, for the job to take
    k.workers.push_back(std::make_unique<FakeNode>(k.c->address(), ROLE_WORKER, i));
    REQUIRE(k.workers.back()->Start().ok());
  }
  return k;
}

// The coordinator goes down and comes back on the same state dir and port.
void Restart(Cluster& k) {
  const int port = k.c->port();
  k.c.reset();
  auto c = InProcessCoordinator::Start(k.state_dir, testing::FastCoordinatorOptions(), port);
  REQUIRE(c.ok());
  k.c = *std::move(c);
}

// Waits until every node of `k` has registered with the (restarted) coordinator.
void WaitRegistered(Cluster& k) {
  std::vector<std::string> ids = {k.server->node_id()};
  for (const auto& w : k.workers) ids.push_back(w->node_id());
  REQUIRE(testing::WaitUntil(
      [&] {
        const ListNodesResponse nodes = k.c->manager().ListNodes();
        return std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
          return std::any_of(nodes.nodes().begin(), nodes.nodes().end(), [&](const NodeStatus& n) {
            return n.node().node_id() == id && n.last_heartbeat_ms() > 0;
          });
        });
      },
      absl::Seconds(5)));
}

int CountEvents(const JobInfo& job, const std::string& text) {
  return static_cast<int>(std::count(job.events().begin(), job.events().end(), text));
}

absl::StatusOr<JobInfo> Scale(Cluster& k, int workers) {
  ScaleJobRequest request;
  request.set_job_id(k.id);
  request.set_workers(workers);
  return k.c->manager().ScaleJob(request);
}

TEST_CASE("a scale-up takes effect past every horizon, after the servers, then starts the joiner",
          "[elastic]") {
  Cluster k = Start(2, 1);
  const Assignment& w0 = k.runs[0];
  CHECK(w0.step_horizon() == 20);  // two reporting intervals from step 0
  CHECK(Report(*k.workers[0], w0, 10).step_horizon() == 30);

  auto scaled = Scale(k, 2);
  REQUIRE(scaled.ok());
  CHECK(
      testing::HasEvent(k.c->Job(k.id), "scaling from 1 to 2 workers at step 31: workers [0, 1]"));
  // The server hears first: the same generation, the membership, two ranks.
  auto membership = k.server->WaitFor(
      [&](const Assignment& a) { return a.job_id() == k.id && a.membership_size() == 2; });
  REQUIRE(membership.has_value());
  CHECK(membership->num_workers() == 2);
  CHECK(membership->membership(1).from_step() == 31);
  // Until it has applied it, no horizon reaches step 31; the worker learns the membership.
  ReportProgressResponse held = Report(*k.workers[0], w0, 20);
  CHECK(held.step_horizon() == 30);
  REQUIRE(held.membership_size() == 2);
  CHECK(held.membership(1).ranks_size() == 2);
  CHECK_FALSE(k.workers[1]->WaitForRun(k.id, absl::Milliseconds(300)).has_value());
  REQUIRE(Applied(*k.server, *membership, 2).ok());
  auto joined = k.workers[1]->WaitForRun(k.id);
  REQUIRE(joined.has_value());
  CHECK(joined->rank() == 1);
  CHECK(joined->membership_size() == 2);
  CHECK(joined->step_horizon() >= 31);
  CHECK(testing::HasEvent(k.c->Job(k.id), "workers [1] join at step 31"));
  // Known membership: not sent again; the horizon moves on.
  ReportProgressResponse after = Report(*k.workers[0], w0, 30, 2);
  CHECK(after.step_horizon() == 50);
  CHECK(after.membership_size() == 0);
}

TEST_CASE("a scale-down releases the highest rank, which becomes idle", "[elastic]") {
  Cluster k = Start(2, 2);
  REQUIRE(Report(*k.workers[0], k.runs[0], 10).step_horizon() == 30);
  REQUIRE(Scale(k, 1).ok());
  CHECK(testing::HasEvent(k.c->Job(k.id), "scaling from 2 to 1 workers at step 31: workers [0]"));
  auto membership = k.server->WaitFor(
      [&](const Assignment& a) { return a.job_id() == k.id && a.membership_size() == 2; });
  REQUIRE(membership.has_value());
  REQUIRE(Applied(*k.server, *membership, 2).ok());
  const int released = k.runs[0].rank() == 1 ? 0 : 1;  // the node holding rank 1
  TaskReport report;
  report.set_job_id(k.id);
  report.set_role(ROLE_WORKER);
  report.set_rank(1);
  report.set_generation(k.runs[released].generation());
  report.set_kind(TaskReport::KIND_RELEASED);
  report.set_step(31);
  REQUIRE(k.workers[released]->agent().ReportTask(report, absl::Seconds(5)).ok());
  const JobInfo job = k.c->Job(k.id);
  CHECK(job.state() == JOB_RUNNING);
  CHECK(testing::HasEvent(job, "worker 1 released at step 31"));
  const ListNodesResponse nodes = k.c->manager().ListNodes();
  const std::string released_id = k.workers[released]->node_id();
  CHECK(std::any_of(nodes.nodes().begin(), nodes.nodes().end(), [&](const NodeStatus& n) {
    return n.node().node_id() == released_id && n.state() == NODE_IDLE;
  }));
}

TEST_CASE("a scale-up without enough idle workers waits for them", "[elastic]") {
  Cluster k = Start(1, 1);
  auto scaled = Scale(k, 2);
  REQUIRE(scaled.ok());
  CHECK(scaled->scale_target() == 2);
  CHECK(scaled->reason() == "running; scaling to 2 workers waits for 1 idle worker");
  FakeNode late(k.c->address(), ROLE_WORKER, 7);
  REQUIRE(late.Start().ok());
  CHECK(testing::WaitUntil([&] { return k.c->Job(k.id).scale_target() == 0; }, absl::Seconds(5)));
  CHECK(k.c->Job(k.id).reason() == "running");
}

TEST_CASE("psdctl scale is refused with a reason", "[elastic]") {
  Cluster fixed = Start(1, 1, /*fixed=*/true);
  auto refused = Scale(fixed, 2);
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(refused.status().message() == "job " + fixed.id +
                                          " was submitted without cluster.elastic: true, so its "
                                          "workers are fixed");
  Cluster k = Start(1, 1);
  CHECK(Scale(k, 0).status().message() == "give the workers or the servers wanted (or both)");
  CHECK(Scale(k, -1).status().message() == "workers: must be between 1 and 4096, got -1");
  ScaleJobRequest unknown;
  unknown.set_job_id("nope-1");
  unknown.set_workers(2);
  CHECK(k.c->manager().ScaleJob(unknown).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE(
    "a coordinator restart before the servers applied a scale-up: they apply it again and "
    "the joiner starts once",
    "[elastic]") {
  Cluster k = Start(2, 1);
  const Assignment& w0 = k.runs[0];
  REQUIRE(Report(*k.workers[0], w0, 10).step_horizon() == 30);
  REQUIRE(Scale(k, 2).ok());
  auto told = k.server->WaitFor(
      [&](const Assignment& a) { return a.job_id() == k.id && a.membership_size() == 2; });
  REQUIRE(told.has_value());
  Restart(k);  // before the server said it applied the change
  // The new coordinator's RUN differs from the one the server applied, so it applies it again.
  auto again = k.server->WaitFor([&](const Assignment& a) {
    return a.job_id() == k.id && a.membership_size() == 2 &&
           a.coordinator_start_ms() != told->coordinator_start_ms();
  });
  REQUIRE(again.has_value());
  CHECK(again->membership(1).from_step() == 31);
  // The idle joiner registers again without the job: it is not lost, and not started yet; the
  // worker's horizon stays below the change.
  WaitRegistered(k);
  CHECK_FALSE(k.workers[1]->WaitForRun(k.id, absl::Milliseconds(300)).has_value());
  CHECK(Report(*k.workers[0], w0, 20, 2).step_horizon() == 30);
  REQUIRE(Applied(*k.server, *again, 2).ok());
  auto joined = k.workers[1]->WaitForRun(k.id);
  REQUIRE(joined.has_value());
  CHECK(joined->rank() == 1);
  CHECK(joined->membership_size() == 2);
  CHECK(joined->step_horizon() >= 31);
  CHECK(Report(*k.workers[0], w0, 30, 2).step_horizon() == 50);
  absl::SleepFor(testing::FastCoordinatorOptions().restart_grace + absl::Milliseconds(300));
  const JobInfo job = k.c->Job(k.id);
  INFO(absl::StrJoin(job.events(), "\n"));
  CHECK(job.state() == JOB_RUNNING);
  CHECK(CountEvents(job, "scaling from 1 to 2 workers at step 31: workers [0, 1]") == 1);
  CHECK(CountEvents(job, "workers [1] join at step 31") == 1);
}

TEST_CASE("a coordinator restart after a scale-up was applied: nobody waits, nothing twice",
          "[elastic]") {
  Cluster k = Start(2, 1);
  const Assignment& w0 = k.runs[0];
  REQUIRE(Report(*k.workers[0], w0, 10).step_horizon() == 30);
  REQUIRE(Scale(k, 2).ok());
  auto told = k.server->WaitFor(
      [&](const Assignment& a) { return a.job_id() == k.id && a.membership_size() == 2; });
  REQUIRE(told.has_value());
  REQUIRE(Applied(*k.server, *told, 2).ok());
  auto joined = k.workers[1]->WaitForRun(k.id);
  REQUIRE(joined.has_value());
  Restart(k);
  WaitRegistered(k);
  // Every member re-registers with the job and resumes; the change is not waited for again.
  CHECK(Report(*k.workers[0], w0, 40, 2).step_horizon() == 60);
  CHECK(Report(*k.workers[1], *joined, 40, 2).step_horizon() == 60);
  absl::SleepFor(testing::FastCoordinatorOptions().restart_grace + absl::Milliseconds(300));
  const JobInfo job = k.c->Job(k.id);
  INFO(absl::StrJoin(job.events(), "\n"));
  CHECK(job.state() == JOB_RUNNING);
  REQUIRE(job.membership_size() == 2);
  CHECK(job.membership(1).from_step() == 31);
  CHECK(CountEvents(job, "workers [1] join at step 31") == 1);
}

TEST_CASE("a scale after a coordinator restart takes effect past the horizons granted before it",
          "[elastic]") {
  Cluster k = Start(2, 1);
  const Assignment& w0 = k.runs[0];
  REQUIRE(Report(*k.workers[0], w0, 10).step_horizon() == 30);
  Restart(k);
  REQUIRE(Scale(k, 2).ok());  // it waits for the idle worker to register again, if need be
  REQUIRE(
      testing::WaitUntil([&] { return k.c->Job(k.id).membership_size() == 2; }, absl::Seconds(5)));
  const JobInfo job = k.c->Job(k.id);
  CHECK(job.membership(1).from_step() > 30);  // the old coordinator granted up to step 30
}

}  // namespace
}  // namespace psd
