#include "coordinator/straggler_detector.h"

#include <optional>

#include "tests/testing.h"

namespace psd {
namespace {

// The cases below count in threes: named after 3 slow reports, cleared after 3 normal ones.
const StragglerOptions kThreeReports{1.5, 3};

// Mean seconds per step over 10 steps: `compute` of its own work, then push, wait and pull.
StepPhases Phases(double compute, double push = 0.001, double wait = 0.002, double pull = 0.0005) {
  StepPhases p;
  p.set_data(compute / 4);
  p.set_forward(compute / 4);
  p.set_backward(compute / 2);
  p.set_push(push);
  p.set_wait(wait);
  p.set_pull(pull);
  p.set_step(compute + push + wait + pull);
  p.set_steps(10);
  return p;
}

// Each of `workers` reports `phases(rank)` for `rounds` intervals of 10 steps from `step`;
// returns the changes, in order.
template <typename F>
std::vector<StragglerDetector::Change> Run(StragglerDetector& d, int workers, int rounds, F phases,
                                           int64_t& step) {
  std::vector<StragglerDetector::Change> changes;
  for (int i = 0; i < rounds; ++i) {
    step += 10;
    for (int rank = 0; rank < workers; ++rank) {
      if (auto c = d.Observe(rank, step, phases(rank))) changes.push_back(*c);
    }
  }
  return changes;
}

TEST_CASE("a worker whose steps compute 3x longer is named after 3 reports, then cleared") {
  StragglerDetector d(kThreeReports, /*sync=*/true);
  int64_t step = 0;
  // In sync the fast workers wait for the slow one: their wait grows, their compute does not.
  auto slow1 = [](int rank) { return rank == 1 ? Phases(0.030) : Phases(0.010, 0.001, 0.022); };
  CHECK(Run(d, 3, 2, slow1, step).empty());
  auto changes = Run(d, 3, 1, slow1, step);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].named);
  CHECK(changes[0].straggler.rank() == 1);
  CHECK(changes[0].straggler.phase() == "compute");
  CHECK(changes[0].straggler.seconds_per_step() == Approx(0.030));
  CHECK(changes[0].straggler.others_seconds_per_step() == Approx(0.010));
  CHECK(changes[0].straggler.since_step() == 0);
  REQUIRE(d.Current().size() == 1);
  // Still slow: still named, no new change.
  CHECK(Run(d, 3, 5, slow1, step).empty());
  // Back to normal: cleared after 3 normal reports.
  auto even = [](int) { return Phases(0.010); };
  CHECK(Run(d, 3, 2, even, step).empty());
  changes = Run(d, 3, 1, even, step);
  REQUIRE(changes.size() == 1);
  CHECK_FALSE(changes[0].named);
  CHECK(changes[0].straggler.rank() == 1);
  CHECK(d.Current().empty());
}

TEST_CASE("equal workers, jitter and a single slow report name nobody") {
  StragglerDetector d(kThreeReports, /*sync=*/true);
  int64_t step = 0;
  int round = 0;
  // +-30% jitter, and every 7th report one worker at 2x.
  auto noisy = [&](int rank) {
    const double jitter = 1.0 + 0.3 * (((rank * 7 + round) % 5) - 2) / 2.0;
    const bool spike = (round + rank) % 7 == 0;
    return Phases(0.010 * jitter * (spike ? 2 : 1));
  };
  std::vector<StragglerDetector::Change> all;
  for (round = 0; round < 50; ++round) {
    auto changes = Run(d, 4, 1, noisy, step);
    all.insert(all.end(), changes.begin(), changes.end());
  }
  CHECK(all.empty());
  // Tiny steps: 3x slower, but by less than min_excess (2 ms) per step.
  StragglerDetector tiny(kThreeReports, true);
  auto micro = [](int rank) { return Phases(rank == 0 ? 0.0003 : 0.0001, 0, 0, 0); };
  CHECK(Run(tiny, 2, 10, micro, step).empty());
}

TEST_CASE("network stragglers: pushes that block in sync, slow exchange in async") {
  int64_t step = 0;
  StragglerDetector sync(kThreeReports, /*sync=*/true);
  // Worker 2's pushes block on its window; the others wait as long in total.
  auto slow_link = [](int rank) {
    return rank == 2 ? Phases(0.010, 0.020, 0.002) : Phases(0.010, 0.001, 0.021);
  };
  auto changes = Run(sync, 3, 3, slow_link, step);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].straggler.rank() == 2);
  CHECK(changes[0].straggler.phase() == "network");
  CHECK(changes[0].straggler.seconds_per_step() == Approx(0.020));

  // Async: nobody waits for anybody; worker 0's round trips are 4x longer.
  StragglerDetector async(kThreeReports, /*sync=*/false);
  auto slow_rtt = [](int rank) {
    return rank == 0 ? Phases(0.010, 0.001, 0.030) : Phases(0.010, 0.001, 0.006);
  };
  // Rank 0 reports first: its first report has nobody to be compared with.
  changes = Run(async, 4, 4, slow_rtt, step);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].straggler.rank() == 0);
  CHECK(changes[0].straggler.phase() == "network");
  // ... whereas in an async job a fast worker's long wait (ssp's bound) is not a straggler
  // unless its whole step is slower too: the slow computer is the one named.
  StragglerDetector ssp(kThreeReports, /*sync=*/false);
  auto bound = [](int rank) {
    return rank == 0 ? Phases(0.030, 0.001, 0.001) : Phases(0.010, 0.001, 0.020);
  };
  changes = Run(ssp, 2, 4, bound, step);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].straggler.rank() == 0);
  CHECK(changes[0].straggler.phase() == "compute");
}

TEST_CASE("the threshold and the number of reports are options; a forgotten worker is dropped") {
  StragglerOptions options;
  options.threshold = 4;
  options.reports = 1;
  StragglerDetector d(options, true);
  int64_t step = 0;
  auto three_x = [](int rank) { return Phases(rank == 0 ? 0.030 : 0.010); };
  CHECK(Run(d, 2, 5, three_x, step).empty());  // 3x < 4x
  auto five_x = [](int rank) { return Phases(rank == 0 ? 0.050 : 0.010); };
  REQUIRE(Run(d, 2, 1, five_x, step).size() == 1);  // one report is enough
  CHECK(d.Current().size() == 1);
  d.Forget(0);
  CHECK(d.Current().empty());
  // One worker left: nothing to compare with.
  CHECK_FALSE(d.Observe(1, step + 10, Phases(0.5)).has_value());
  // A report without phases (an older worker) is ignored.
  CHECK_FALSE(d.Observe(0, step + 10, StepPhases()).has_value());
}

}  // namespace
}  // namespace psd
