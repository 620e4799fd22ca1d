#include "coordinator/scheduler.h"

#include "coordinator/progress.h"
#include "tests/testing.h"

namespace psd {
namespace {

std::vector<Candidate> Nodes(const std::string& prefix, int n) {
  std::vector<Candidate> out;
  for (int i = 0; i < n; ++i) out.push_back({prefix + std::to_string(i), -1, false});
  return out;
}

TEST_CASE("PickNodes says what a job waits for") {
  Requirements need;
  need.servers = 2;
  need.workers = 2;
  NodeCounts nodes;
  nodes.idle_servers = Nodes("s", 2);
  nodes.idle_workers = Nodes("w", 1);
  CHECK(PickNodes(need, nodes).reason == "waiting: 1 of 2 workers registered");

  nodes.idle_servers = Nodes("s", 1);
  nodes.idle_workers = Nodes("w", 2);
  CHECK(PickNodes(need, nodes).reason == "waiting: 1 of 2 servers registered");

  nodes.idle_servers = {};
  nodes.idle_workers = Nodes("w", 1);
  CHECK(PickNodes(need, nodes).reason == "waiting: 0 of 2 servers and 1 of 2 workers registered");

  nodes.idle_servers = Nodes("s", 2);
  nodes.busy_workers = 3;
  CHECK(PickNodes(need, nodes).reason ==
        "waiting: 1 of 2 workers registered (3 workers busy with other jobs)");
}

TEST_CASE("PickNodes counts only workers with a usable cuda device for cuda jobs") {
  Requirements need;
  need.servers = 1;
  need.workers = 2;
  need.workers_need_cuda = true;
  NodeCounts nodes;
  nodes.idle_servers = Nodes("s", 1);
  nodes.idle_workers = Nodes("w", 3);
  nodes.idle_workers[2].has_cuda = true;
  Pick pick = PickNodes(need, nodes);
  CHECK_FALSE(pick.ready);
  CHECK(pick.reason == "waiting: 1 of 2 workers with a usable cuda device registered");
  nodes.idle_workers[0].has_cuda = true;
  pick = PickNodes(need, nodes);
  REQUIRE(pick.ready);
  CHECK(pick.workers == std::vector<std::string>{"w0", "w2"});
}

TEST_CASE("PickNodes ranks by preferred rank, then registration order") {
  Requirements need;
  need.servers = 3;
  need.workers = 1;
  NodeCounts nodes;
  nodes.idle_servers = {{"a", -1, false}, {"b", 2, false}, {"c", 0, false}, {"d", 7, false}};
  nodes.idle_workers = Nodes("w", 2);
  Pick pick = PickNodes(need, nodes);
  REQUIRE(pick.ready);
  CHECK(pick.servers == std::vector<std::string>{"c", "a", "b"});
  CHECK(pick.workers == std::vector<std::string>{"w0"});
}

TEST_CASE("AssignRanks gives a contested preferred rank to the earlier node") {
  std::vector<Candidate> c = {{"a", 1, false}, {"b", 1, false}};
  CHECK(AssignRanks(2, c) == std::vector<std::string>{"b", "a"});
  CHECK(AssignRanks(3, c).empty());
}

TEST_CASE("HasUsableCuda ignores cuda devices with a problem") {
  NodeInfo node;
  Device* d = node.add_devices();
  d->set_kind("cuda");
  d->set_detail("CUDA driver version is insufficient");
  CHECK_FALSE(HasUsableCuda(node));
  node.add_devices()->set_kind("cuda");
  CHECK(HasUsableCuda(node));
}

TEST_CASE("AggregateProgress combines the live workers' reports") {
  std::map<int, Progress> latest;
  Progress p0, p1, p2;
  p0.set_step(100);
  p0.set_total_steps(500);
  p0.set_loss(1.0);
  p0.set_samples_per_sec(1000);
  p0.set_test_accuracy(0.8);
  p0.set_test_step(100);
  p0.set_max_staleness(2);
  p1.set_step(90);
  p1.set_loss(3.0);
  p1.set_samples_per_sec(500);
  p1.set_test_accuracy(0.1);
  p1.set_max_staleness(5);
  p2.set_step(10);  // rank 2 is not live
  latest[0] = p0;
  latest[1] = p1;
  latest[2] = p2;
  Progress all = AggregateProgress(latest, {0, 1});
  CHECK(all.step() == 90);
  CHECK(all.total_steps() == 500);
  CHECK(all.samples_per_sec() == 1500);
  CHECK(all.loss() == 2.0);
  CHECK(all.test_accuracy() == 0.8);
  CHECK(all.test_step() == 100);
  CHECK(all.max_staleness() == 5);
  CHECK(all.live_workers() == 2);

  Progress without_rank0 = AggregateProgress(latest, {1});
  CHECK(without_rank0.test_accuracy() == -1);
}

}  // namespace
}  // namespace psd
