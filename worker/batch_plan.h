// The order in which a job visits its training examples.
//
// Each epoch has its own permutation of the examples, drawn from the job's seed. Global batch
// i of an epoch is positions [i*G, (i+1)*G) of it, with G = batch_size * workers, and worker
// r's batch is the r-th slice of batch_size examples. So one process with batch G sees exactly
// the union of the workers' batches, in the same order (the sync-equivalence property).
// Examples past the last whole global batch of an epoch are skipped in that epoch.
#ifndef PSD_WORKER_BATCH_PLAN_H_
#define PSD_WORKER_BATCH_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "worker/idx_reader.h"

namespace psd {

class BatchPlan {
 public:
  BatchPlan(int64_t examples, int batch_size, int workers, uint64_t seed);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Example indices of worker `rank`'s batch at global `step`.
  absl::Span<const int64_t> Batch(int64_t step, int rank);

 private:
  void Shuffle(int64_t epoch);

  int64_t examples_;
  int batch_size_;
  int workers_;
  uint64_t seed_;
  int64_t steps_per_epoch_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
};

// Writes the examples `indices` of `data` as floats (scaled to [0, 1] when `normalize`) into
// `x` (indices.size() rows of data.dim) and their labels into `y`.
void FillBatch(const Dataset& data, absl::Span<const int64_t> indices, bool normalize, float* x,
               int32_t* y);

}  // namespace psd

#endif  // PSD_WORKER_BATCH_PLAN_H_
