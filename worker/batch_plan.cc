#include "worker/batch_plan.h"

#include <numeric>
#include <random>
#include <utility>

namespace psd {

BatchPlan::BatchPlan(int64_t examples, int batch_size, int workers, uint64_t seed)
    : examples_(examples),
      batch_size_(batch_size),
      workers_(workers),
      seed_(seed),
      steps_per_epoch_(examples / (static_cast<int64_t>(batch_size) * workers)) {}

void BatchPlan::Shuffle(int64_t epoch) {
  order_.resize(examples_);
  std::iota(order_.begin(), order_.end(), 0);
  // mt19937_64's output is fixed by the standard; the index draw below is ours, so the
  // order is the same with every compiler and library.
  std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(epoch) + 1);
  for (int64_t i = examples_ - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order_[i], order_[j]);
  }
  epoch_ = epoch;
}

absl::Span<const int64_t> BatchPlan::Batch(int64_t step, int rank) {
  const int64_t epoch = step / steps_per_epoch_;
  if (epoch != epoch_) Shuffle(epoch);
  const int64_t start =
      (step % steps_per_epoch_) * batch_size_ * workers_ + static_cast<int64_t>(rank) * batch_size_;
  return absl::MakeConstSpan(order_.data() + start, batch_size_);
}

void FillBatch(const Dataset& data, absl::Span<const int64_t> indices, bool normalize, float* x,
               int32_t* y) {
  const float scale = normalize ? 1.0f / 255.0f : 1.0f;
  for (size_t r = 0; r < indices.size(); ++r) {
    const uint8_t* __restrict src = data.pixels.data() + indices[r] * data.dim;
    float* __restrict dst = x + static_cast<int64_t>(r) * data.dim;
    for (int64_t i = 0; i < data.dim; ++i) dst[i] = static_cast<float>(src[i]) * scale;
    y[r] = data.labels[indices[r]];
  }
}

}  // namespace psd
