// The order in which a job visits its training examples.
//
// Each epoch has its own permutation of the examples, drawn from the job's seed. Global batch
// i of an epoch is positions [i*G, (i+1)*G) of it, with G = batch_size * workers, and worker
// r's batch is the r-th slice of batch_size examples. So one process with batch G sees exactly
// the union of the workers' batches, in the same order (the sync-equivalence property).
// Examples past the last whole global batch of an epoch are skipped in that epoch.
//
// Elastic workers (SetMembership): from each segment's first step on, G is batch_size times
// the segment's ranks, and ranks[i] takes slice i. The global batches follow one another
// through the epoch's permutation whatever their width: a batch that no longer fits in the
// epoch starts the next one. So one process whose batch changes to G' at step t sees the
// union of the workers' batches again. With one segment this is the rule above.
#ifndef PSD_WORKER_BATCH_PLAN_H_
#define PSD_WORKER_BATCH_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "worker/idx_reader.h"

namespace psd {

// From `from_step` on, these ranks (sorted) train.
struct PlanSegment {
  int64_t from_step = 0;
  std::vector<int> ranks;
};

class BatchPlan {
 public:
  // One segment: ranks 0..workers-1 from step 0.
  BatchPlan(int64_t examples, int batch_size, int workers, uint64_t seed);

  // Global batches per epoch of the first segment (0: the data is smaller than one).
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Replaces the membership: segments oldest first, the first from step 0, each with at least
  // one rank and a global batch no larger than the data. InvalidArgument naming the segment
  // otherwise (the plan is unchanged).
  absl::Status SetMembership(std::vector<PlanSegment> segments);
  const std::vector<PlanSegment>& membership() const { return segments_; }
  // The segment `step` belongs to.
  const PlanSegment& SegmentAt(int64_t step) const;
  // The epoch `step`'s global batch is drawn from.
  int64_t EpochOf(int64_t step) const;
  // Example indices of worker `rank`'s batch at global `step`; empty when `rank` is not in
  // that step's segment.
  absl::Span<const int64_t> Batch(int64_t step, int rank);

 private:
  // Where a segment's first batch starts: (epoch, position in it).
  struct Cursor {
    int64_t epoch = 0, offset = 0;
  };
  // Where `step`'s global batch starts, and its width.
  Cursor Locate(int64_t step, int64_t* width) const;
  void Shuffle(int64_t epoch);

  int64_t examples_;
  int batch_size_;
  uint64_t seed_;
  int64_t steps_per_epoch_;
  std::vector<PlanSegment> segments_;
  std::vector<Cursor> starts_;  // per segment
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
};

// Writes the examples `indices` of `data` as floats (scaled to [0, 1] when `normalize`) into
// `x` (indices.size() rows of data.dim) and their labels into `y`.
void FillBatch(const Dataset& data, absl::Span<const int64_t> indices, bool normalize, float* x,
               int32_t* y);

}  // namespace psd

#endif  // PSD_WORKER_BATCH_PLAN_H_
