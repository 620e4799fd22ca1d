#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>

namespace psd {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The loops below take restrict pointers and have no branches, so GCC vectorises them.
void Sgd(float lr, float wd, int64_t n, const float* __restrict g, float* __restrict p) {
  for (int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
}

void Momentum(float lr, float wd, float mu, bool nesterov, int64_t n, const float* __restrict g,
              float* __restrict p, float* __restrict v) {
  // Nesterov steps along g + mu * v, plain momentum along v.
  const float look = nesterov ? mu : 0.0f;
  const float plain = nesterov ? 1.0f : 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + wd * p[i];
    const float vi = mu * v[i] + gi;
    v[i] = vi;
    p[i] -= lr * (plain * gi + look * vi + (1.0f - plain) * vi);
  }
}

void Adagrad(float lr, float wd, float eps, int64_t n, const float* __restrict g,
             float* __restrict p, float* __restrict s) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + wd * p[i];
    const float si = s[i] + gi * gi;
    s[i] = si;
    p[i] -= lr * gi / (std::sqrt(si) + eps);
  }
}

// Adam with bias corrections folded into the step size; `decay` is AdamW's decoupled
// weight decay (lr * wd), `wd` the L2 term Adam adds to the gradient.
void Adam(float step_size, float bias2_sqrt, float wd, float decay, float b1, float b2, float eps,
          int64_t n, const float* __restrict g, float* __restrict p, float* __restrict m,
          float* __restrict v) {
  for (int64_t i = 0; i < n; ++i) {
    const float pi = p[i] * (1.0f - decay);
    const float gi = g[i] + wd * p[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * mi / (std::sqrt(vi) / bias2_sqrt + eps);
  }
}

}  // namespace

double LearningRate(const TrainingSpec& training, int64_t step, int64_t total_steps) {
  const double base = training.optimizer.learning_rate;
  const LrScheduleSpec& s = training.lr_schedule;
  if (step < s.warmup_steps) return base * static_cast<double>(step + 1) / s.warmup_steps;
  const int64_t t = step - s.warmup_steps;
  switch (s.type) {
    case LrScheduleType::kConstant:
      return base;
    case LrScheduleType::kStep:
      return base * std::pow(s.gamma, static_cast<double>(t / std::max<int64_t>(1, s.step_size)));
    case LrScheduleType::kCosine: {
      const int64_t span = std::max<int64_t>(1, total_steps - s.warmup_steps);
      const double frac = std::min(1.0, static_cast<double>(t) / static_cast<double>(span));
      return s.min_lr + (base - s.min_lr) * 0.5 * (1.0 + std::cos(kPi * frac));
    }
  }
  return base;
}

OptimizerState NewOptimizerState(const OptimizerSpec& spec, int64_t n) {
  OptimizerState state;
  switch (spec.type) {
    case OptimizerType::kSgd:
      break;
    case OptimizerType::kMomentum:
    case OptimizerType::kNesterov:
      state.slot0.assign(n, 0.0f);
      break;
    case OptimizerType::kAdagrad:
      state.slot0.assign(n, static_cast<float>(spec.initial_accumulator));
      break;
    case OptimizerType::kAdam:
    case OptimizerType::kAdamW:
      state.slot0.assign(n, 0.0f);
      state.slot1.assign(n, 0.0f);
      break;
  }
  return state;
}

namespace {

// The per-update constants of one ApplyUpdate, then the update of elements
// [offset, offset + n) from gradient values g[0, n).
struct Update {
  const OptimizerSpec& spec;
  float lr, wd;
  float step_size = 0, bias2_sqrt = 0;  // adam, adamw

  Update(const OptimizerSpec& s, float rate, OptimizerState& state)
      : spec(s), lr(rate), wd(static_cast<float>(s.weight_decay)) {
    ++state.updates;
    if (spec.type == OptimizerType::kAdam || spec.type == OptimizerType::kAdamW) {
      const double t = static_cast<double>(state.updates);
      const double bias1 = 1.0 - std::pow(spec.beta1, t);
      const double bias2 = 1.0 - std::pow(spec.beta2, t);
      step_size = static_cast<float>(lr / bias1);
      bias2_sqrt = static_cast<float>(std::sqrt(bias2));
    }
  }

  void Apply(int64_t offset, int64_t n, const float* g, float* params,
             OptimizerState& state) const {
    float* p = params + offset;
    switch (spec.type) {
      case OptimizerType::kSgd:
        Sgd(lr, wd, n, g, p);
        return;
      case OptimizerType::kMomentum:
      case OptimizerType::kNesterov:
        Momentum(lr, wd, static_cast<float>(spec.momentum), spec.type == OptimizerType::kNesterov,
                 n, g, p, state.slot0.data() + offset);
        return;
      case OptimizerType::kAdagrad:
        Adagrad(lr, wd, static_cast<float>(spec.epsilon), n, g, p, state.slot0.data() + offset);
        return;
      case OptimizerType::kAdam:
      case OptimizerType::kAdamW: {
        const bool decoupled = spec.type == OptimizerType::kAdamW;
        Adam(step_size, bias2_sqrt, decoupled ? 0.0f : wd, decoupled ? lr * wd : 0.0f,
             static_cast<float>(spec.beta1), static_cast<float>(spec.beta2),
             static_cast<float>(spec.epsilon), n, g, p, state.slot0.data() + offset,
             state.slot1.data() + offset);
        return;
      }
    }
  }
};

}  // namespace

void ApplyUpdate(const OptimizerSpec& spec, float lr, absl::Span<const float> grad,
                 absl::Span<float> params, OptimizerState& state) {
  const int64_t n = static_cast<int64_t>(std::min(grad.size(), params.size()));
  const Update update(spec, lr, state);
  update.Apply(0, n, grad.data(), params.data(), state);
}

void ApplyUpdate(const OptimizerSpec& spec, float lr, const Payload& grad, absl::Span<float> params,
                 OptimizerState& state) {
  const int64_t size = static_cast<int64_t>(params.size());
  const Update update(spec, lr, state);
  grad.ForEachRun([&](int64_t offset, const float* g, int64_t n) {
    if (offset >= size) return;
    update.Apply(offset, std::min(n, size - offset), g, params.data(), state);
  });
}

}  // namespace psd
