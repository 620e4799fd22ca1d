// Per-row optimizers of the servers' embedding tables: each row keeps its own slots (and, for lazy
// Adam, its own update count), so a row untouched by a step costs nothing.
#ifndef PSD_SERVER_ROW_OPTIMIZER_H_
#define PSD_SERVER_ROW_OPTIMIZER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace psd {

enum class RowOptimizerType { kSgd, kAdagrad, kLazyAdam, kFtrl };

struct RowOptimizerOptions {
  RowOptimizerType type = RowOptimizerType::kAdagrad;
  double learning_rate = 0.05;        // sgd, adagrad, lazy adam; FTRL's alpha
  double epsilon = 1e-8;              // adagrad, lazy adam
  double initial_accumulator = 0.0;   // adagrad
  double beta1 = 0.9, beta2 = 0.999;  // lazy adam (bias correction by the row's own update count)
  double ftrl_beta = 1.0, l1 = 0.0,
         l2 = 0.0;  // FTRL-proximal (McMahan et al. 2013), per coordinate
};

// Float slots per row element the optimizer keeps (sgd 0, adagrad 1, lazy adam 2 (m, v), ftrl 2
// (z, n)); lazy adam also keeps one per-row update count.
int RowOptimizerSlots(RowOptimizerType t);

// Whether the optimizer uses the row's update count (lazy adam only).
bool RowOptimizerKeepsUpdates(RowOptimizerType t);

// Checks the options; InvalidArgument naming the field.
absl::Status ValidateRowOptimizer(const RowOptimizerOptions& o);

// Fills a new row's slots (RowOptimizerSlots * dim floats): adagrad's accumulators start at
// initial_accumulator, every other slot at 0.
void InitialSlots(const RowOptimizerOptions& o, absl::Span<float> slots);

// Applies one update of `grad` to `value` with the row's `slots` (RowOptimizerSlots * dim floats,
// laid out slot-major: slot s of element e at slots[s * dim + e]) and its update count `*updates`
// (incremented). The step is learning_rate * lr_scale.
//   sgd:       w -= lr g
//   adagrad:   a += g^2;  w -= lr g / (sqrt(a) + eps)
//   lazy adam: t = ++updates;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//              w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   ftrl:      sigma = (sqrt(n + g^2) - sqrt(n)) / lr;  z += g - sigma w;  n += g^2;
//              w = |z| <= l1 ? 0 : -(z - sign(z) l1) / ((ftrl_beta + sqrt(n)) / lr + l2)
//              (no step at lr <= 0). FTRL computes w from (z, n): a row's initial value only
//              enters through the first sigma * w, so FTRL tables usually take init_scale 0.
void ApplyRowUpdate(const RowOptimizerOptions& o, double lr_scale, absl::Span<const float> grad,
                    absl::Span<float> value, absl::Span<float> slots, uint32_t* updates);

}  // namespace psd

#endif  // PSD_SERVER_ROW_OPTIMIZER_H_
