// Turns a stream of per-interval verdicts ("slow in phase P" or "normal") about one worker or
// server into names that do not flicker: named after `reports` slow verdicts in a row (of one
// phase), cleared after as many normal ones. Shared by the straggler and slow-server detectors.
#ifndef PSD_COORDINATOR_PERSISTENT_VERDICT_H_
#define PSD_COORDINATOR_PERSISTENT_VERDICT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "proto/coordinator.pb.h"

namespace psd {

// One interval's judgment: `phase` empty when not slow; else its figure and the others'.
struct Verdict {
  std::string phase;
  double seconds = 0, others = 0;
};

// What one verdict changed: named (with why) or cleared.
struct NamingChange {
  bool named = false;
  Straggler straggler;  // rank, phase, times, since_step; node_id left to the caller
};

class PersistentVerdict {
 public:
  explicit PersistentVerdict(int reports) : reports_(reports) {}
  // The verdict on `rank` for the interval that began at step `interval_start`; a change of
  // name (a new phase included) or of clearing, else nullopt (a named one's figures update).
  std::optional<NamingChange> Update(int rank, int64_t interval_start, const Verdict& v);
  const std::optional<Straggler>& named() const { return named_; }

 private:
  int reports_;
  std::string run_phase_;  // the phase of the current run of slow verdicts
  int slow_run_ = 0, normal_run_ = 0;
  int64_t run_start_ = 0;
  std::optional<Straggler> named_;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_PERSISTENT_VERDICT_H_
