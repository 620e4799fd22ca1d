// Elastic workers' protocol in one process (coordinator/job_elastic.cc): horizons granted with
// progress reports, a change's step past all of them, servers first, joiners after every server
// applied it, released workers, and the refusals.
#include <algorithm>

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
  auto c = InProcessCoordinator::Start(testing::MakeTempDir("elastic"),
                                       testing::FastCoordinatorOptions());
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
  CHECK(Scale(k, 0).status().message() == "workers: must be between 1 and 4096, got 0");
  ScaleJobRequest unknown;
  unknown.set_job_id("nope-1");
  unknown.set_workers(2);
  CHECK(k.c->manager().ScaleJob(unknown).status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace psd
