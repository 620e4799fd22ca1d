// Names the workers of a job that are persistently slower than the others, and the phase where
// they lose the time, from the step phases of their progress reports (proto StepPhases):
//  - compute: its own step (data, forward, backward, a --slowdown) takes `threshold` times the
//    others' median;
//  - network: its exchange is that much slower while its compute is not. In sync jobs every
//    worker's step is as long as the slowest one's (the others wait), so there the signal is
//    the time its pushes block (a slow link fills the client's window); in async and ssp jobs
//    it is the whole step, beyond compute.
// A worker is named after `reports` slow reports in a row and cleared after as many normal
// ones (coordinator/persistent_verdict.h). Not thread-safe: the job manager calls it under its
// lock.
#ifndef PSD_COORDINATOR_STRAGGLER_DETECTOR_H_
#define PSD_COORDINATOR_STRAGGLER_DETECTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/persistent_verdict.h"
#include "proto/coordinator.pb.h"

namespace psd {

struct StragglerOptions {
  double threshold = 1.5;  // slower than the others' median by this factor
  int reports = 5;         // in this many consecutive reports
  // ... and by at least this much per step (per call, for servers), so that microsecond
  // jitter names nobody ...
  absl::Duration min_excess = absl::Milliseconds(2);
  // ... and by at least this share of the others' median step: what costs the job less is
  // not worth a name (and on a loaded machine, scheduling noise is of that order).
  double min_step_share = 0.25;
};

// Whether `mine` exceeds `others` by the options' threshold, minimum excess and share of
// `step` (seconds: the others' median step).
bool Slower(const StragglerOptions& options, double mine, double others, double step);

// The median of `v` (not empty).
double Median(std::vector<double> v);

// Seconds per step of a worker's own work: the step less its exchange (push, wait, pull).
double ComputeSeconds(const StepPhases& p);

class StragglerDetector {
 public:
  // What one report changed: `rank` named (with why) or cleared.
  using Change = NamingChange;

  StragglerDetector(StragglerOptions options, bool sync) : options_(options), sync_(sync) {}

  // Worker `rank`'s report of step `step`; reports without phases are ignored.
  std::optional<Change> Observe(int rank, int64_t step, const StepPhases& phases);
  // A worker that left the job: no longer compared, no longer named.
  void Forget(int rank);
  // The workers named now, by rank.
  std::vector<Straggler> Current() const;

 private:
  struct Worker {
    explicit Worker(int reports) : naming(reports) {}
    StepPhases latest;
    std::optional<StepPhases> in_snapshot;  // what the sorted phases hold of it
    PersistentVerdict naming;
  };
  // Every worker's phases, sorted, as of the last refresh: a report is judged against the
  // others' medians read off them (O(log n)), and they are rebuilt (O(n log n)) once as many
  // reports as workers have come in, or when a worker joins or leaves. So a report costs
  // O(log n) amortised rather than O(n log n), and the others' figures are at most one round
  // of reports old.
  struct Snapshot {
    std::vector<double> step, compute, push, exchange;
  };
  void Refresh();
  Verdict Judge(int rank) const;

  const StragglerOptions options_;
  const bool sync_;
  std::map<int, Worker> workers_;
  Snapshot sorted_;
  size_t reports_since_refresh_ = 0;
  bool stale_ = true;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_STRAGGLER_DETECTOR_H_
