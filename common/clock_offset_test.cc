#include "common/clock_offset.h"

#include <cstdlib>
#include <random>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

TEST_CASE("EstimateClockOffset recovers synthetic offsets within half the round trip") {
  std::mt19937_64 rng(7);
  for (int64_t true_offset : {int64_t{0}, int64_t{1234567}, int64_t{-98765}, int64_t{5}}) {
    std::vector<ClockSample> samples;
    int64_t local = 1'700'000'000'000'000;
    for (int i = 0; i < 5; ++i) {
      // Asymmetric legs: the request and the reply take different times.
      const int64_t there = 50 + static_cast<int64_t>(rng() % 5000);
      const int64_t back = 50 + static_cast<int64_t>(rng() % 5000);
      ClockSample s;
      s.t0_us = local;
      s.remote_us = local + there + true_offset;
      s.t1_us = local + there + back;
      samples.push_back(s);
      local += 100000;
    }
    const ClockOffset o = EstimateClockOffset(samples);
    REQUIRE(o.valid);
    CHECK(std::llabs(o.offset_us - true_offset) <= o.error_us);
    int64_t min_rtt = INT64_MAX;
    for (const ClockSample& s : samples) min_rtt = std::min(min_rtt, s.t1_us - s.t0_us);
    CHECK(o.error_us == (min_rtt + 1) / 2);
  }
}

TEST_CASE("EstimateClockOffset without samples is invalid; the better estimate wins") {
  CHECK_FALSE(EstimateClockOffset({}).valid);
  ClockOffset a{10, 100, true}, b{12, 20, true}, none;
  CHECK(BetterClockOffset(a, b).error_us == 20);
  CHECK(BetterClockOffset(none, a).offset_us == 10);
  CHECK(BetterClockOffset(a, none).offset_us == 10);
}

}  // namespace
}  // namespace psd
