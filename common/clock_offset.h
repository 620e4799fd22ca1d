// NTP-style estimate of another host's clock offset from request round trips: a request sent at
// local time t0 is stamped `remote` by the other host and answered at local t1. If the two legs
// take the same time, remote - (t0 + t1) / 2 is the offset; whatever the legs take, the true
// offset is within (t1 - t0) / 2 of it. Of several samples the one with the shortest round trip
// bounds it best.
#ifndef PSD_COMMON_CLOCK_OFFSET_H_
#define PSD_COMMON_CLOCK_OFFSET_H_

#include <cstdint>

#include "absl/types/span.h"

namespace psd {

struct ClockSample {
  int64_t t0_us = 0;      // local send
  int64_t remote_us = 0;  // the other host's clock while it handled the request
  int64_t t1_us = 0;      // local receive of the reply
};

struct ClockOffset {
  int64_t offset_us = 0;  // remote clock - local clock
  int64_t error_us = 0;   // |true offset - offset_us| <= error_us (half the round trip)
  bool valid = false;     // false: no samples
};

// The estimate of the sample with the shortest round trip.
ClockOffset EstimateClockOffset(absl::Span<const ClockSample> samples);

// The better (smaller error) of two estimates; an invalid one loses.
ClockOffset BetterClockOffset(const ClockOffset& a, const ClockOffset& b);

}  // namespace psd

#endif  // PSD_COMMON_CLOCK_OFFSET_H_
