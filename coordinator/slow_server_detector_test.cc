#include "coordinator/slow_server_detector.h"

#include <functional>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

// The cases below count in threes: named after 3 slow reports, cleared after 3 normal ones.
const StragglerOptions kThreeReports{1.5, 3};

// One worker's report of an interval of 10 steps of 20 ms, at `step`: `calls` chunk RPCs to
// each server, taking `rpc(server)` seconds each, of which the server spent `apply(server)`.
Progress Report(int64_t step, int servers, const std::function<double(int)>& rpc,
                const std::function<double(int)>& apply, int64_t calls = 40) {
  Progress p;
  p.set_step(step);
  p.mutable_phases()->set_steps(10);
  p.mutable_phases()->set_step(0.020);
  for (int s = 0; s < servers; ++s) {
    ServerTiming* t = p.add_servers();
    t->set_rank(s);
    t->set_calls(calls);
    t->set_rpc_seconds(rpc(s) * calls);
    t->set_apply_seconds(apply(s) * calls);
    t->set_bytes(calls * 100000);
  }
  return p;
}

// `workers` report `rounds` intervals each from `step`; returns the changes in order.
std::vector<NamingChange> Run(SlowServerDetector& d, int workers, int servers, int rounds,
                              const std::function<double(int)>& rpc,
                              const std::function<double(int)>& apply, int64_t& step) {
  std::vector<NamingChange> changes;
  for (int i = 0; i < rounds; ++i) {
    step += 10;
    for (int w = 0; w < workers; ++w) {
      for (NamingChange& c : d.Observe(w, Report(step, servers, rpc, apply), workers)) {
        changes.push_back(std::move(c));
      }
    }
  }
  return changes;
}

TEST_CASE("a server that applies 10x slower is named 'apply' after 3 intervals, then cleared") {
  SlowServerDetector d{kThreeReports};
  int64_t step = 0;
  auto rpc = [](int s) { return s == 2 ? 0.012 : 0.0015; };
  auto apply = [](int s) { return s == 2 ? 0.011 : 0.0005; };
  CHECK(Run(d, 4, 4, 2, rpc, apply, step).empty());
  auto changes = Run(d, 4, 4, 1, rpc, apply, step);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].named);
  CHECK(changes[0].straggler.rank() == 2);
  CHECK(changes[0].straggler.phase() == "apply");
  CHECK(changes[0].straggler.seconds_per_step() == Approx(0.011));
  CHECK(changes[0].straggler.others_seconds_per_step() == Approx(0.0005));
  CHECK(changes[0].straggler.since_step() == 0);
  REQUIRE(d.Current().size() == 1);
  // The loads: every worker's calls summed, times per call, bytes over the interval.
  REQUIRE(d.loads().size() == 4);
  CHECK(d.loads()[2].calls() == 4 * 40);
  CHECK(d.loads()[2].rpc_seconds() == Approx(0.012));
  CHECK(d.loads()[2].apply_seconds() == Approx(0.011));
  CHECK(d.loads()[2].bytes_per_second() == Approx(4 * 40 * 100000 / 0.2));
  // Still slow: no new change. Back to normal: cleared after 3 normal intervals.
  CHECK(Run(d, 4, 4, 4, rpc, apply, step).empty());
  auto even = [](int) { return 0.0015; };
  auto even_apply = [](int) { return 0.0005; };
  CHECK(Run(d, 4, 4, 2, even, even_apply, step).empty());
  changes = Run(d, 4, 4, 1, even, even_apply, step);
  REQUIRE(changes.size() == 1);
  CHECK_FALSE(changes[0].named);
  CHECK(changes[0].straggler.rank() == 2);
  CHECK(d.Current().empty());
}

TEST_CASE("a server whose round trips are slow while its own time is not is named 'network'") {
  SlowServerDetector d{kThreeReports};
  int64_t step = 0;
  auto rpc = [](int s) { return s == 0 ? 0.010 : 0.0015; };
  auto apply = [](int) { return 0.0005; };
  auto changes = Run(d, 2, 3, 3, rpc, apply, step);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].straggler.rank() == 0);
  CHECK(changes[0].straggler.phase() == "network");
  CHECK(changes[0].straggler.seconds_per_step() == Approx(0.0095));
  CHECK(changes[0].straggler.others_seconds_per_step() == Approx(0.001));
}

TEST_CASE("even servers, jitter under the minimum excess and one server name nobody") {
  int64_t step = 0;
  {
    SlowServerDetector d{kThreeReports};
    // 3x slower but only 1 ms per call more: under the 2 ms minimum excess.
    auto rpc = [](int s) { return s == 1 ? 0.0015 : 0.0005; };
    auto apply = [](int s) { return s == 1 ? 0.001 : 0.0001; };
    CHECK(Run(d, 4, 4, 500, rpc, apply, step).empty());
    CHECK(d.Current().empty());
  }
  {
    SlowServerDetector d{kThreeReports};
    auto rpc = [](int) { return 0.5; };
    CHECK(Run(d, 4, 1, 10, rpc, rpc, step).empty());
    REQUIRE(d.loads().size() == 1);
  }
}

TEST_CASE("servers are compared on calls of like size: big chunks are not slowness") {
  SlowServerDetector d{kThreeReports};
  // Server 0 holds one 1 MB chunk (size class 10) and takes 30 ms per call; server 1 holds
  // small chunks (class 5) at 1 ms, and one 1 MB chunk that it serves as fast as server 0.
  auto report = [](int64_t step, double big1) {
    Progress p;
    p.set_step(step);
    p.mutable_phases()->set_steps(10);
    p.mutable_phases()->set_step(0.050);
    auto add = [&](int rank, int size_class, int64_t calls, double rpc) {
      ServerTiming* t = p.add_servers();
      t->set_rank(rank);
      t->set_size_class(size_class);
      t->set_calls(calls);
      t->set_rpc_seconds(calls * rpc);
      t->set_apply_seconds(calls * rpc / 2);
    };
    add(0, 10, 10, 0.030);
    add(1, 5, 40, 0.001);
    add(1, 10, 10, big1);
    return p;
  };
  int64_t step = 0;
  for (int i = 0; i < 10; ++i) CHECK(d.Observe(0, report(step += 10, 0.030), 1).empty());
  CHECK(d.Current().empty());
  // Server 1's big calls take 3x as long as server 0's: that is slowness.
  std::vector<NamingChange> changes;
  for (int i = 0; i < 3; ++i) {
    for (auto& c : d.Observe(0, report(step += 10, 0.090), 1)) changes.push_back(c);
  }
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].straggler.rank() == 1);
  CHECK(changes[0].straggler.phase() == "apply");
  CHECK(changes[0].straggler.seconds_per_step() == Approx(0.045));
  CHECK(changes[0].straggler.others_seconds_per_step() == Approx(0.015));
}

TEST_CASE("judged once every worker reported, or when one reports again before the others") {
  SlowServerDetector d{kThreeReports};
  int64_t step = 0;
  auto rpc = [](int s) { return s == 1 ? 0.02 : 0.001; };
  auto apply = [](int s) { return s == 1 ? 0.019 : 0.0005; };
  auto count = [&](int worker) { return d.Observe(worker, Report(step, 2, rpc, apply), 2).size(); };
  // Workers 0 and 1 each report 3 intervals: 3 judgments, the third names server 1.
  size_t changes = 0;
  for (int i = 0; i < 3; ++i) {
    step += 10;
    CHECK(count(0) == 0);
    changes += count(1);
  }
  CHECK(changes == 1);
  CHECK(d.Current().size() == 1);
  // Worker 0 falls silent (its figures gone): each second report of worker 1 judges, so the
  // third judgment, at its sixth report, clears server 1.
  d.Forget(0);
  for (int i = 0; i < 6; ++i) {
    INFO("report " << i);
    CHECK(d.Observe(1,
                    Report(
                        step += 10, 2, [](int) { return 0.001; }, apply),
                    2)
              .size() == (i == 5 ? 1u : 0u));
  }
  CHECK(d.Current().empty());
  d.Forget(1);
  CHECK(d.loads().empty());
}

}  // namespace
}  // namespace psd
