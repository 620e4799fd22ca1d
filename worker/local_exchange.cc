#include "worker/local_exchange.h"

#include <algorithm>

namespace psd {

LocalExchange::LocalExchange(const JobSpec& spec, const std::vector<TensorInfo>& tensors,
                             int64_t total_steps)
    : spec_(spec), total_steps_(total_steps) {
  for (const TensorInfo& t : tensors) {
    params_.emplace_back(t.size);
    InitTensorSlice(spec.seed, t, 0, absl::MakeSpan(params_.back()));
    state_.push_back(NewOptimizerState(spec.training.optimizer, t.size));
  }
}

void LocalExchange::Pull(uint32_t t, int64_t, absl::Span<float> out) {
  std::copy(params_[t].begin(), params_[t].end(), out.begin());
}

void LocalExchange::PushPull(uint32_t t, int64_t step, absl::Span<const float> grad,
                             absl::Span<float> out) {
  const double lr = LearningRate(spec_.training, step, total_steps_);
  ApplyUpdate(spec_.training.optimizer, static_cast<float>(lr), grad, absl::MakeSpan(params_[t]),
              state_[t]);
  std::copy(params_[t].begin(), params_[t].end(), out.begin());
}

}  // namespace psd
