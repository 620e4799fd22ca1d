// The simulator against the step time a formula gives on a trivial platform: one worker and
// one server on their own hosts, a link of known latency and bandwidth, no compute and no CPU
// costs, so that only the transfers count.
#include "bench/scale/sim/simulate.h"

#include <catch2/catch.hpp>

namespace psd::sim {
namespace {

SimConfig Trivial() {
  SimConfig c;
  c.model.layers = {1000, 1};  // tensors: weight (4000 B) and bias (4 B), one chunk each
  c.workers = 1;
  c.servers = 1;
  c.steps = 3;
  c.compute_seconds = 0;
  c.platform.shared = false;
  c.platform.link_bytes_per_second = 1e6;
  c.platform.link_latency = 1e-3;
  Calibration& k = c.costs;
  k.rpc_cpu_fixed = k.rpc_cpu_per_byte = k.rpc_latency = 0;
  k.apply_accumulate_per_byte = k.apply_update_per_byte = k.apply_fixed = 0;
  k.header_bytes = 0;
  return c;
}

TEST_CASE("one worker, one server: step time is the formula's") {
  const SimConfig c = Trivial();
  auto r = Simulate(c);
  REQUIRE(r.ok());
  // Per step, on the one connection: push bias (L + 4/B), then push weight (L + 4000/B),
  // whose reply (L + 4000/B) ends the step; the bias reply went back meanwhile.
  const double L = 1e-3, B = 1e6;
  const double step = L + 4 / B + L + 4000 / B + L + 4000 / B;
  CHECK(r->step_seconds == Approx(step).epsilon(1e-6));
  CHECK(r->samples_per_sec == Approx(64 / step).epsilon(1e-6));
  CHECK(r->push_bytes_per_worker_step == 4004);
}

TEST_CASE("compute and server apply add to the step as the formula says") {
  SimConfig c = Trivial();
  c.compute_seconds = 0.01;
  c.costs.apply_update_per_byte = 1e-6;  // 4 ms for the weight's 4000 B
  auto r = Simulate(c);
  REQUIRE(r.ok());
  // One layer: forward and dW are half the compute each; the bias goes after forward, the
  // weight after dW, and its reply waits for its transfer and its apply.
  const double L = 1e-3, B = 1e6;
  const double step = 0.01 + L + 4000 / B + 4000 * 1e-6 + L + 4000 / B;
  CHECK(r->step_seconds == Approx(step).epsilon(1e-6));
}

TEST_CASE("bad configurations are refused") {
  SimConfig c = Trivial();
  c.workers = 0;
  CHECK_FALSE(Simulate(c).ok());
}

}  // namespace
}  // namespace psd::sim
