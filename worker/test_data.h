// Small deterministic data sets and batches for the worker's unit tests.
#ifndef PSD_WORKER_TEST_DATA_H_
#define PSD_WORKER_TEST_DATA_H_

#include <cstdint>
#include <vector>

#include "common/job_spec.h"
#include "worker/idx_reader.h"

namespace psd::testing {

// Blocks(): kBlockClasses classes of kBlockDim pixels.
inline constexpr int kBlockClasses = 4;
inline constexpr int kBlockDim = 16;

// Class c lights up pixels [4c, 4c + 4) (plus a little deterministic noise elsewhere), so a
// linear model separates the classes perfectly; example i has class i % kBlockClasses.
Dataset Blocks(int64_t count, uint32_t seed);

struct Batch {
  std::vector<float> x;
  std::vector<int32_t> y;
};

// `n` examples of `spec`: inputs uniform in [-1, 1], labels uniform over the classes.
Batch RandomBatch(const ModelSpec& spec, int n, uint64_t seed);

}  // namespace psd::testing

#endif  // PSD_WORKER_TEST_DATA_H_
