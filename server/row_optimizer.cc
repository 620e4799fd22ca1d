#include "server/row_optimizer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace psd {
namespace {

// The loops take restrict pointers and have no branches (FTRL's select aside), so GCC vectorises.
void Sgd(float lr, size_t n, const float* __restrict g, float* __restrict w) {
  for (size_t i = 0; i < n; ++i) w[i] -= lr * g[i];
}

void Adagrad(float lr, float eps, size_t n, const float* __restrict g, float* __restrict w,
             float* __restrict a) {
  for (size_t i = 0; i < n; ++i) {
    const float ai = a[i] + g[i] * g[i];
    a[i] = ai;
    w[i] -= lr * g[i] / (std::sqrt(ai) + eps);
  }
}

void LazyAdam(float step_size, float bias2_sqrt, float b1, float b2, float eps, size_t n,
              const float* __restrict g, float* __restrict w, float* __restrict m,
              float* __restrict v) {
  for (size_t i = 0; i < n; ++i) {
    const float mi = b1 * m[i] + (1.0f - b1) * g[i];
    const float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    w[i] -= step_size * mi / (std::sqrt(vi) / bias2_sqrt + eps);
  }
}

void Ftrl(double alpha, double beta, double l1, double l2, size_t n, const float* __restrict g,
          float* __restrict w, float* __restrict z, float* __restrict nn) {
  const double inv_alpha = 1.0 / alpha;
  for (size_t i = 0; i < n; ++i) {
    const double gi = g[i];
    const double ni = nn[i];
    const double n_new = ni + gi * gi;
    const double sigma = (std::sqrt(n_new) - std::sqrt(ni)) * inv_alpha;
    const double zi = z[i] + gi - sigma * w[i];
    z[i] = static_cast<float>(zi);
    nn[i] = static_cast<float>(n_new);
    const double az = std::fabs(zi);
    if (az <= l1) {
      w[i] = 0.0f;
    } else {
      const double sign = zi < 0 ? -1.0 : 1.0;
      w[i] = static_cast<float>(-(zi - sign * l1) / ((beta + std::sqrt(n_new)) * inv_alpha + l2));
    }
  }
}

}  // namespace

int RowOptimizerSlots(RowOptimizerType t) {
  switch (t) {
    case RowOptimizerType::kSgd:
      return 0;
    case RowOptimizerType::kAdagrad:
      return 1;
    case RowOptimizerType::kLazyAdam:
    case RowOptimizerType::kFtrl:
      return 2;
  }
  return 0;
}

bool RowOptimizerKeepsUpdates(RowOptimizerType t) { return t == RowOptimizerType::kLazyAdam; }

absl::Status ValidateRowOptimizer(const RowOptimizerOptions& o) {
  auto bad = [](const std::string& field, double v, const char* want) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.", field, " = ", v, ": must be ", want));
  };
  switch (o.type) {
    case RowOptimizerType::kSgd:
    case RowOptimizerType::kAdagrad:
    case RowOptimizerType::kLazyAdam:
    case RowOptimizerType::kFtrl:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer.type = ", static_cast<int>(o.type), ": unknown"));
  }
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate))
    return bad("learning_rate", o.learning_rate, "finite and > 0");
  if (!(o.epsilon >= 0) || !std::isfinite(o.epsilon))
    return bad("epsilon", o.epsilon, "finite and >= 0");
  if (!(o.initial_accumulator >= 0) || !std::isfinite(o.initial_accumulator))
    return bad("initial_accumulator", o.initial_accumulator, "finite and >= 0");
  if (!(o.beta1 >= 0 && o.beta1 < 1)) return bad("beta1", o.beta1, "in [0, 1)");
  if (!(o.beta2 >= 0 && o.beta2 < 1)) return bad("beta2", o.beta2, "in [0, 1)");
  if (!(o.ftrl_beta >= 0) || !std::isfinite(o.ftrl_beta))
    return bad("ftrl_beta", o.ftrl_beta, "finite and >= 0");
  if (!(o.l1 >= 0) || !std::isfinite(o.l1)) return bad("l1", o.l1, "finite and >= 0");
  if (!(o.l2 >= 0) || !std::isfinite(o.l2)) return bad("l2", o.l2, "finite and >= 0");
  if (o.type == RowOptimizerType::kFtrl && o.ftrl_beta == 0 && o.l2 == 0)
    return absl::InvalidArgumentError(
        "optimizer.ftrl_beta and optimizer.l2 are both 0: FTRL's first step would divide by 0");
  return absl::OkStatus();
}

void InitialSlots(const RowOptimizerOptions& o, absl::Span<float> slots) {
  std::fill(slots.begin(), slots.end(), 0.0f);
  if (o.type == RowOptimizerType::kAdagrad)
    std::fill(slots.begin(), slots.end(), static_cast<float>(o.initial_accumulator));
}

void ApplyRowUpdate(const RowOptimizerOptions& o, double lr_scale, absl::Span<const float> grad,
                    absl::Span<float> value, absl::Span<float> slots, uint32_t* updates) {
  const size_t n = std::min(grad.size(), value.size());
  const double lr = o.learning_rate * lr_scale;
  if (*updates != UINT32_MAX) ++*updates;
  switch (o.type) {
    case RowOptimizerType::kSgd:
      Sgd(static_cast<float>(lr), n, grad.data(), value.data());
      return;
    case RowOptimizerType::kAdagrad:
      Adagrad(static_cast<float>(lr), static_cast<float>(o.epsilon), n, grad.data(), value.data(),
              slots.data());
      return;
    case RowOptimizerType::kLazyAdam: {
      const double t = static_cast<double>(*updates);
      const double bias1 = 1.0 - std::pow(o.beta1, t);
      const double bias2 = 1.0 - std::pow(o.beta2, t);
      LazyAdam(static_cast<float>(lr / bias1), static_cast<float>(std::sqrt(bias2)),
               static_cast<float>(o.beta1), static_cast<float>(o.beta2),
               static_cast<float>(o.epsilon), n, grad.data(), value.data(), slots.data(),
               slots.data() + value.size());
      return;
    }
    case RowOptimizerType::kFtrl:
      if (!(lr > 0)) return;  // alpha = 0 would divide by 0: no step
      Ftrl(lr, o.ftrl_beta, o.l1, o.l2, n, grad.data(), value.data(), slots.data(),
           slots.data() + value.size());
      return;
  }
}

}  // namespace psd
