// Server-side optimizers and learning-rate schedules. State lives with each chunk.
#ifndef PSD_OPTIM_OPTIMIZER_H_
#define PSD_OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "common/job_spec.h"
#include "common/payload.h"

namespace psd {

// Learning rate for update `step` (0-based) of a job planned for `total_steps` steps:
// linear warm-up over lr_schedule.warmup_steps, then constant, step decay or cosine decay
// (PyTorch's CosineAnnealingLR over the steps after warm-up, ending at min_lr).
double LearningRate(const TrainingSpec& training, int64_t step, int64_t total_steps);

// One chunk's optimizer state: up to two slots of the chunk's size and an update counter.
struct OptimizerState {
  std::vector<float> slot0;  // momentum velocity, Adagrad sum of squares, Adam first moment
  std::vector<float> slot1;  // Adam second moment
  int64_t updates = 0;       // updates applied so far (Adam's bias correction)
};

// Allocates the state `spec` needs for a chunk of `n` elements.
OptimizerState NewOptimizerState(const OptimizerSpec& spec, int64_t n);

// Applies one update with learning rate `lr` and gradient `grad` (already averaged) to
// `params`, in the update rules of PyTorch's SGD (momentum, Nesterov), Adagrad, Adam, AdamW.
void ApplyUpdate(const OptimizerSpec& spec, float lr, absl::Span<const float> grad,
                 absl::Span<float> params, OptimizerState& state);
// The same update with the gradient read in place from a wire payload (f32 or f16, in
// pieces): one update, applied run by run (identical to the above for the same values).
void ApplyUpdate(const OptimizerSpec& spec, float lr, const Payload& grad, absl::Span<float> params,
                 OptimizerState& state);

}  // namespace psd

#endif  // PSD_OPTIM_OPTIMIZER_H_
