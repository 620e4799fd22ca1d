// How long each phase of a worker's step took, and their means over a reporting interval
// (the StepPhases of its progress reports, which the coordinator compares to name stragglers).
#ifndef PSD_WORKER_STEP_PHASES_H_
#define PSD_WORKER_STEP_PHASES_H_

#include "absl/time/time.h"
#include "proto/common.pb.h"

namespace psd {

// One step's phases; see StepPhases in proto/common.proto for what each covers.
struct StepTimes {
  absl::Duration data, forward, backward, push, wait, pull;
  absl::Duration step;  // start to end, a --slowdown sleep included
};

// Sums steps' times; Mean() is the interval's StepPhases, Reset() starts the next interval.
class StepPhaseAccumulator {
 public:
  void Add(const StepTimes& t);
  StepPhases Mean() const;
  void Reset() { *this = StepPhaseAccumulator(); }

 private:
  StepTimes sum_;
  int steps_ = 0;
};

}  // namespace psd

#endif  // PSD_WORKER_STEP_PHASES_H_
