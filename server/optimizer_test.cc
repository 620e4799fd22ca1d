#include "server/optimizer.h"

#include <cmath>
#include <random>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

// Double-precision reference of each optimizer, written from the published update rules.
struct Reference {
  OptimizerSpec spec;
  std::vector<double> p, a, b;
  int64_t t = 0;

  void Step(double lr, const std::vector<double>& g) {
    ++t;
    const double wd = spec.weight_decay, mu = spec.momentum;
    for (size_t i = 0; i < p.size(); ++i) {
      switch (spec.type) {
        case OptimizerType::kSgd:
          p[i] -= lr * (g[i] + wd * p[i]);
          break;
        case OptimizerType::kMomentum:
        case OptimizerType::kNesterov: {
          const double gi = g[i] + wd * p[i];
          a[i] = mu * a[i] + gi;
          p[i] -= lr * (spec.type == OptimizerType::kNesterov ? gi + mu * a[i] : a[i]);
          break;
        }
        case OptimizerType::kAdagrad: {
          const double gi = g[i] + wd * p[i];
          a[i] += gi * gi;
          p[i] -= lr * gi / (std::sqrt(a[i]) + spec.epsilon);
          break;
        }
        case OptimizerType::kAdam:
        case OptimizerType::kAdamW: {
          const bool decoupled = spec.type == OptimizerType::kAdamW;
          if (decoupled) p[i] *= 1.0 - lr * wd;
          const double gi = g[i] + (decoupled ? 0.0 : wd * p[i]);
          a[i] = spec.beta1 * a[i] + (1 - spec.beta1) * gi;
          b[i] = spec.beta2 * b[i] + (1 - spec.beta2) * gi * gi;
          const double mhat = a[i] / (1 - std::pow(spec.beta1, t));
          const double vhat = b[i] / (1 - std::pow(spec.beta2, t));
          p[i] -= lr * mhat / (std::sqrt(vhat) + spec.epsilon);
          break;
        }
      }
    }
  }
};

double RelativeError(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(diff / norm);
}

void CheckAgainstReference(OptimizerSpec spec, const TrainingSpec& training) {
  constexpr int kSteps = 100;
  constexpr int kSize = 1031;
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> p(kSize);
  Reference ref{spec, std::vector<double>(kSize),
                std::vector<double>(kSize, spec.initial_accumulator), std::vector<double>(kSize)};
  if (spec.type != OptimizerType::kAdagrad) std::fill(ref.a.begin(), ref.a.end(), 0.0);
  for (int i = 0; i < kSize; ++i) ref.p[i] = p[i] = static_cast<float>(normal(rng));
  OptimizerState state = NewOptimizerState(spec, kSize);
  std::vector<float> g(kSize);
  std::vector<double> gd(kSize);
  for (int step = 0; step < kSteps; ++step) {
    for (int i = 0; i < kSize; ++i) {
      g[i] = static_cast<float>(normal(rng) * 0.5 + 0.1 * p[i]);
      gd[i] = g[i];
    }
    const double lr = LearningRate(training, step, kSteps);
    ApplyUpdate(spec, static_cast<float>(lr), g, absl::MakeSpan(p), state);
    ref.Step(lr, gd);
  }
  INFO("optimizer " << OptimizerName(spec.type));
  CHECK(RelativeError(p, ref.p) <= 1e-5);
}

TEST_CASE("every optimizer matches its double-precision reference over 100 steps", "[optimizer]") {
  TrainingSpec training;
  training.optimizer.learning_rate = 0.01;
  for (auto schedule :
       {LrScheduleType::kConstant, LrScheduleType::kStep, LrScheduleType::kCosine}) {
    training.lr_schedule.type = schedule;
    training.lr_schedule.warmup_steps = schedule == LrScheduleType::kCosine ? 10 : 0;
    training.lr_schedule.step_size = 30;
    training.lr_schedule.gamma = 0.5;
    for (auto type : {OptimizerType::kSgd, OptimizerType::kMomentum, OptimizerType::kNesterov,
                      OptimizerType::kAdagrad, OptimizerType::kAdam, OptimizerType::kAdamW}) {
      for (double wd : {0.0, 0.01}) {
        OptimizerSpec spec = training.optimizer;
        spec.type = type;
        spec.weight_decay = wd;
        spec.initial_accumulator = type == OptimizerType::kAdagrad ? 0.1 : 0.0;
        training.optimizer = spec;
        INFO("schedule " << static_cast<int>(schedule) << " weight decay " << wd);
        CheckAgainstReference(spec, training);
      }
    }
  }
}

TEST_CASE("learning-rate schedules", "[optimizer]") {
  TrainingSpec t;
  t.optimizer.learning_rate = 0.1;
  CHECK(LearningRate(t, 0, 100) == 0.1);
  CHECK(LearningRate(t, 99, 100) == 0.1);

  t.lr_schedule.type = LrScheduleType::kCosine;
  t.lr_schedule.min_lr = 0.001;
  CHECK(LearningRate(t, 0, 100) == Approx(0.1));
  CHECK(LearningRate(t, 50, 100) == Approx((0.1 + 0.001) / 2));
  CHECK(LearningRate(t, 100, 100) == Approx(0.001));
  CHECK(LearningRate(t, 150, 100) == Approx(0.001));

  t.lr_schedule.warmup_steps = 10;
  CHECK(LearningRate(t, 0, 110) == Approx(0.01));
  CHECK(LearningRate(t, 4, 110) == Approx(0.05));
  CHECK(LearningRate(t, 10, 110) == Approx(0.1));
  CHECK(LearningRate(t, 60, 110) == Approx((0.1 + 0.001) / 2));

  t.lr_schedule = {};
  t.lr_schedule.type = LrScheduleType::kStep;
  t.lr_schedule.step_size = 10;
  t.lr_schedule.gamma = 0.5;
  CHECK(LearningRate(t, 9, 100) == Approx(0.1));
  CHECK(LearningRate(t, 10, 100) == Approx(0.05));
  CHECK(LearningRate(t, 25, 100) == Approx(0.025));
}

}  // namespace
}  // namespace psd
