#include "worker/batch_plan.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

namespace psd {

BatchPlan::BatchPlan(int64_t examples, int batch_size, int workers, uint64_t seed)
    : examples_(examples),
      batch_size_(batch_size),
      seed_(seed),
      steps_per_epoch_(examples / (static_cast<int64_t>(batch_size) * workers)) {
  PlanSegment all;
  for (int r = 0; r < workers; ++r) all.ranks.push_back(r);
  segments_.push_back(std::move(all));
  starts_.push_back({});
}

absl::Status BatchPlan::SetMembership(std::vector<PlanSegment> segments) {
  if (segments.empty() || segments.front().from_step != 0) {
    return absl::InvalidArgumentError("membership: the first segment must start at step 0");
  }
  std::vector<Cursor> starts;
  for (size_t k = 0; k < segments.size(); ++k) {
    PlanSegment& segment = segments[k];
    std::sort(segment.ranks.begin(), segment.ranks.end());
    const int64_t width = static_cast<int64_t>(batch_size_) * segment.ranks.size();
    if (segment.ranks.empty() || width > examples_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "membership segment ", k, " (from step ", segment.from_step, "): ",
          segment.ranks.empty() ? std::string("no ranks")
                                : absl::StrCat("a global batch of ", width, " is larger than the ",
                                               examples_, " training examples")));
    }
    if (k > 0 && segment.from_step <= segments[k - 1].from_step) {
      return absl::InvalidArgumentError(
          absl::StrCat("membership segment ", k, ": from_step ", segment.from_step,
                       " is not after the previous segment's ", segments[k - 1].from_step));
    }
    if (k == 0) {
      starts.push_back({});
      continue;
    }
    // The previous segment's last batch, then the position after it.
    const PlanSegment& prev = segments[k - 1];
    const int64_t prev_width = static_cast<int64_t>(batch_size_) * prev.ranks.size();
    const int64_t per_epoch = examples_ / prev_width;
    const Cursor from = starts.back();
    const int64_t first_epoch_steps = (examples_ - from.offset) / prev_width;
    const int64_t steps = segment.from_step - prev.from_step;
    Cursor next;
    if (steps <= first_epoch_steps) {
      next = {from.epoch, from.offset + steps * prev_width};
    } else {
      const int64_t rest = steps - first_epoch_steps;  // steps after the first epoch's
      next = {from.epoch + 1 + (rest - 1) / per_epoch, ((rest - 1) % per_epoch + 1) * prev_width};
    }
    starts.push_back(next);
  }
  segments_ = std::move(segments);
  starts_ = std::move(starts);
  return absl::OkStatus();
}

const PlanSegment& BatchPlan::SegmentAt(int64_t step) const {
  auto it =
      std::upper_bound(segments_.begin(), segments_.end(), step,
                       [](int64_t s, const PlanSegment& segment) { return s < segment.from_step; });
  return *std::prev(it);
}

BatchPlan::Cursor BatchPlan::Locate(int64_t step, int64_t* width) const {
  const PlanSegment& segment = SegmentAt(step);
  const Cursor from = starts_[&segment - segments_.data()];
  *width = static_cast<int64_t>(batch_size_) * segment.ranks.size();
  const int64_t per_epoch = examples_ / *width;
  const int64_t first_epoch_steps = (examples_ - from.offset) / *width;
  const int64_t i = step - segment.from_step;
  if (i < first_epoch_steps) return {from.epoch, from.offset + i * *width};
  const int64_t rest = i - first_epoch_steps;
  return {from.epoch + 1 + rest / per_epoch, (rest % per_epoch) * *width};
}

int64_t BatchPlan::EpochOf(int64_t step) const {
  int64_t width = 0;
  return Locate(step, &width).epoch;
}

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
  const PlanSegment& segment = SegmentAt(step);
  auto slot = std::lower_bound(segment.ranks.begin(), segment.ranks.end(), rank);
  if (slot == segment.ranks.end() || *slot != rank) return {};
  int64_t width = 0;
  const Cursor at = Locate(step, &width);
  if (at.epoch != epoch_) Shuffle(at.epoch);
  const int64_t start = at.offset + (slot - segment.ranks.begin()) * batch_size_;
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
