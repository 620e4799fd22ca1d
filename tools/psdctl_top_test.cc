#include "tools/psdctl_top.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "proto/names.h"
#include "tests/testing.h"

namespace psd {
namespace {

void AddNode(TopView& view, const std::string& id, Role role, NodeState state) {
  NodeStatus* n = view.nodes.add_nodes();
  n->mutable_node()->set_node_id(id);
  n->mutable_node()->set_role(role);
  n->mutable_node()->set_address("h:1");
  n->set_state(state);
}

JobInfo* AddJob(TopView& view, const std::string& id, JobState state) {
  JobInfo* job = view.jobs.add_jobs();
  job->set_job_id(id);
  job->set_state(state);
  job->set_reason(JobStateName(state));
  return job;
}

TopView Cluster() {
  TopView view;
  view.coordinator = "127.0.0.1:7070";
  AddNode(view, "server-1", ROLE_SERVER, NODE_BUSY);
  AddNode(view, "worker-1", ROLE_WORKER, NODE_BUSY);
  AddNode(view, "worker-2", ROLE_WORKER, NODE_DEAD);
  for (int i = 0; i < 7; ++i) AddJob(view, "old-" + std::to_string(i), JOB_SUCCEEDED);
  JobInfo* running = AddJob(view, "mnist-8", JOB_RUNNING);
  running->add_worker_nodes("worker-1");
  running->add_worker_nodes("worker-2");
  Progress* p = running->mutable_progress();
  p->set_step(250);
  p->set_total_steps(1000);
  p->set_loss(0.4321);
  p->set_test_accuracy(0.8712);
  p->set_samples_per_sec(12345);
  p->set_live_workers(1);
  p->set_wall_seconds(25);
  p->set_timestamp_ms(1000);
  AddJob(view, "next-9", JOB_QUEUED);
  return view;
}

TEST_CASE("top shows nodes by role and state, and jobs with their progress") {
  const std::string frame = TopFrame(Cluster(), absl::FromUnixSeconds(0), 0);
  CHECK_THAT(frame, Catch::StartsWith("psd top  coordinator 127.0.0.1:7070  "));
  CHECK_THAT(frame, Catch::Contains("\nnodes: 1 server, 2 workers: 2 busy, 1 dead\n"));
  CHECK_THAT(frame, Catch::Contains("\njobs: 1 running, 1 queued, 7 finished\n"));
  // 750 steps left at 10 steps/s.
  CHECK_THAT(frame, Catch::Contains("\nmnist-8  running    250/1000  0.4321  0.8712    12345      "
                                    "1/2      1m15s  running\n"));
  CHECK_THAT(frame, Catch::Contains("\nnext-9   queued     -         -       -         -          "
                                    "-        -      queued\n"));
  // The five latest finished jobs, not the older ones.
  CHECK_THAT(frame, !Catch::Contains("old-1 "));
  CHECK_THAT(frame, Catch::Contains("\nold-2    succeeded"));
  CHECK_THAT(frame, Catch::Contains("\nold-6    succeeded"));
  CHECK_THAT(frame, Catch::Contains("\nworker-2  worker  h:1      dead"));
}

TEST_CASE("top cuts lines to the terminal's width and says when a refresh failed") {
  TopView view = Cluster();
  view.error = "psdctl: cannot reach coordinator at 127.0.0.1:7070: unavailable";
  const std::string frame = TopFrame(view, absl::FromUnixSeconds(0), 40);
  for (absl::string_view line : absl::StrSplit(frame, '\n')) CHECK(line.size() <= 40);
  CHECK_THAT(frame, Catch::Contains("\npsdctl: cannot reach coordinator at 127"));
  CHECK_THAT(frame, Catch::EndsWith("\n"));
  CHECK_THAT(TopFrame(view, absl::FromUnixSeconds(0), 0),
             Catch::Contains("unavailable (figures below are older)\n"));
}

TEST_CASE("top of an empty cluster") {
  TopView view;
  view.coordinator = "c:1";
  const std::string frame = TopFrame(view, absl::FromUnixSeconds(0), 0);
  CHECK_THAT(frame, Catch::EndsWith("\nnodes: none registered\njobs: 0 running, 0 queued, "
                                    "0 finished\n"));
  view.error = "psdctl: cannot reach coordinator at c:1: unavailable";
  CHECK_THAT(TopFrame(view, absl::FromUnixSeconds(0), 0),
             Catch::Contains("\npsdctl: cannot reach coordinator at c:1: unavailable\nnodes: "));
}

}  // namespace
}  // namespace psd
