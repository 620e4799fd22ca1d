#include "common/clock_offset.h"

#include <algorithm>

namespace psd {

ClockOffset EstimateClockOffset(absl::Span<const ClockSample> samples) {
  ClockOffset best;
  for (const ClockSample& s : samples) {
    const int64_t rtt = std::max<int64_t>(0, s.t1_us - s.t0_us);
    ClockOffset o;
    // (t0 + t1) / 2 without overflow, rounding the half microsecond into the error.
    o.offset_us = s.remote_us - (s.t0_us + rtt / 2);
    o.error_us = (rtt + 1) / 2;
    o.valid = true;
    best = BetterClockOffset(best, o);
  }
  return best;
}

ClockOffset BetterClockOffset(const ClockOffset& a, const ClockOffset& b) {
  if (!a.valid) return b;
  if (!b.valid) return a;
  return b.error_us < a.error_us ? b : a;
}

}  // namespace psd
