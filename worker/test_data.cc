#include "worker/test_data.h"

#include <random>

namespace psd::testing {

Dataset Blocks(int64_t count, uint32_t seed) {
  Dataset d;
  d.count = count;
  d.dim = kBlockDim;
  d.pixels.resize(count * kBlockDim);
  d.labels.resize(count);
  uint32_t x = seed;
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(i % kBlockClasses);
    d.labels[i] = static_cast<uint8_t>(label);
    for (int p = 0; p < kBlockDim; ++p) {
      x = x * 1664525u + 1013904223u;
      const bool lit = p / 4 == label;
      d.pixels[i * kBlockDim + p] = static_cast<uint8_t>(lit ? 200 + (x >> 28) : (x >> 27));
    }
  }
  return d;
}

Batch RandomBatch(const ModelSpec& spec, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1, 1);
  std::uniform_int_distribution<int32_t> label(0, spec.num_classes - 1);
  Batch b;
  for (int i = 0; i < n * spec.input_dim; ++i) b.x.push_back(value(rng));
  for (int i = 0; i < n; ++i) b.y.push_back(label(rng));
  return b;
}

}  // namespace psd::testing
