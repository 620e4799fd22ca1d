// The training loop on the CPU backend with in-process exchanges: no servers, no gRPC.
#include "worker/trainer.h"

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "kernels/select.h"
#include "tests/testing.h"
#include "worker/local_exchange.h"
#include "worker/test_data.h"

namespace psd {
namespace {

using testing::Blocks;
constexpr int kClasses = testing::kBlockClasses;
constexpr int kDim = testing::kBlockDim;

JobSpec Spec() {
  JobSpec spec;
  spec.name = "trainer-test";
  spec.model.type = ModelType::kLogreg;
  spec.model.input_dim = kDim;
  spec.model.hidden = {};
  spec.model.num_classes = kClasses;
  spec.training.batch_size = 8;
  spec.training.epochs = 3;
  spec.training.log_every = 10;
  spec.training.optimizer.type = OptimizerType::kSgd;
  spec.training.optimizer.learning_rate = 0.5;
  return spec;
}

kernels::Backend& Cpu() {
  static std::unique_ptr<kernels::Backend> cpu =
      std::move(kernels::CreateBackend(kernels::DeviceKind::kCpu, 1).value());
  return *cpu;
}

// Records every call and hands out zeros; Wait() returns `fail_at_wait` once armed.
class RecordingExchange : public ParamExchange {
 public:
  struct Call {
    bool push;
    uint32_t tensor;
    int64_t step;
  };
  void Pull(uint32_t t, int64_t step, absl::Span<float> out) override {
    calls.push_back({false, t, step});
    std::fill(out.begin(), out.end(), 0.0f);
  }
  void PushPull(uint32_t t, int64_t step, absl::Span<const float>, absl::Span<float> out) override {
    calls.push_back({true, t, step});
    std::fill(out.begin(), out.end(), 0.0f);
  }
  absl::Status Wait() override {
    if (++waits == fail_at_wait) return absl::UnavailableError("server 1 went away");
    return absl::OkStatus();
  }
  std::vector<Call> calls;
  int waits = 0;
  int fail_at_wait = -1;
};

TEST_CASE("Trainer learns a separable problem through a LocalExchange") {
  const JobSpec spec = Spec();
  const Dataset train = Blocks(400, 1), test = Blocks(100, 2);
  auto model = Model::Create(spec.model, &Cpu(), spec.training.batch_size);
  REQUIRE(model.ok());
  LocalExchange exchange(spec, (*model)->tensors(), PlannedSteps(spec, train.count, 1));
  Trainer trainer(spec, 0, 1, train, &test, model->get(), &exchange);
  CHECK(trainer.total_steps() == 3 * 400 / 8);
  std::vector<Progress> reports;
  std::atomic<bool> stop{false};
  auto result = trainer.Run(stop, [&](const Progress& p) { reports.push_back(p); });
  REQUIRE(result.ok());
  CHECK(result->steps() == 150);
  CHECK(result->test_accuracy() >= 0.99);
  // Every 10 steps, then the final evaluation.
  REQUIRE(reports.size() == 16);
  CHECK(reports.front().step() == 10);
  CHECK(reports.back().test_accuracy() == result->test_accuracy());
  CHECK(reports[14].loss() < reports[0].loss() / 4);
  // What the trainer ends with is what the exchange holds.
  for (uint32_t t = 0; t < trainer.params().size(); ++t) {
    CHECK(trainer.params()[t] == exchange.params(t));
  }
}

// A LocalExchange whose Wait() takes at least `wait`, as a network would.
class SlowExchange : public LocalExchange {
 public:
  using LocalExchange::LocalExchange;
  absl::Status Wait() override {
    absl::SleepFor(absl::Milliseconds(2));
    return LocalExchange::Wait();
  }
};

double Parts(const StepPhases& p) {
  return p.data() + p.forward() + p.backward() + p.push() + p.wait() + p.pull();
}

TEST_CASE("Trainer reports each interval's step phases, a slowdown as part of the step") {
  const JobSpec spec = Spec();
  const Dataset train = Blocks(400, 1);
  for (double slowdown : {1.0, 3.0}) {
    INFO("slowdown " << slowdown);
    auto model = Model::Create(spec.model, &Cpu(), spec.training.batch_size);
    REQUIRE(model.ok());
    SlowExchange exchange(spec, (*model)->tensors(), PlannedSteps(spec, train.count, 1));
    Trainer trainer(spec, 0, 1, train, nullptr, model->get(), &exchange);
    trainer.set_slowdown(slowdown);
    std::vector<Progress> reports;
    std::atomic<bool> stop{false};
    REQUIRE(trainer.Run(stop, [&](const Progress& p) { reports.push_back(p); }).ok());
    REQUIRE(reports.size() == 15);
    for (const Progress& r : reports) {
      const StepPhases& p = r.phases();
      CHECK(p.steps() == 10);
      CHECK(p.wait() >= 0.002);
      for (double part : {p.data(), p.forward(), p.backward(), p.push(), p.pull()}) {
        CHECK(part >= 0);
      }
      // The parts are consecutive stretches of the step: they add up to it, less the sleep.
      CHECK(p.step() >= slowdown * Parts(p) * 0.999);
      if (slowdown == 1.0) CHECK(p.step() <= Parts(p) * 1.001 + 1e-6);
    }
  }
}

TEST_CASE("Trainer pushes every tensor at every step, last layer first, from the start step") {
  JobSpec spec = Spec();
  spec.model.type = ModelType::kMlp;
  spec.model.hidden = {8};
  spec.training.max_steps = 5;
  const Dataset train = Blocks(64, 3);
  auto model = Model::Create(spec.model, &Cpu(), spec.training.batch_size);
  REQUIRE(model.ok());
  const uint32_t tensors = static_cast<uint32_t>((*model)->tensors().size());
  REQUIRE(tensors == 4);
  RecordingExchange exchange;
  Trainer trainer(spec, 0, 1, train, nullptr, model->get(), &exchange);
  trainer.set_start_step(2);
  std::atomic<bool> stop{false};
  REQUIRE(trainer.Run(stop, nullptr).ok());
  // The pulls for step 2, then steps 2, 3, 4: each pushes all tensors.
  REQUIRE(exchange.calls.size() == tensors + 3 * tensors);
  for (uint32_t t = 0; t < tensors; ++t) {
    CHECK_FALSE(exchange.calls[t].push);
    CHECK(exchange.calls[t].step == 2);
  }
  for (int64_t s = 0; s < 3; ++s) {
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < tensors; ++i) {
      const RecordingExchange::Call& c = exchange.calls[tensors + s * tensors + i];
      CHECK(c.push);
      CHECK(c.step == 2 + s);
      order.push_back(c.tensor);
    }
    // Backward produces the output layer's tensors first.
    CHECK(order.front() >= tensors - 2);
    CHECK(order.back() < 2);
  }
}

TEST_CASE("Trainer returns the exchange's error and stops when asked") {
  const JobSpec spec = Spec();
  const Dataset train = Blocks(64, 4);
  auto model = Model::Create(spec.model, &Cpu(), spec.training.batch_size);
  REQUIRE(model.ok());
  {
    RecordingExchange exchange;
    exchange.fail_at_wait = 3;  // the initial pull, step 0, then step 1 fails
    Trainer trainer(spec, 0, 1, train, nullptr, model->get(), &exchange);
    std::atomic<bool> stop{false};
    auto result = trainer.Run(stop, nullptr);
    CHECK(result.status().code() == absl::StatusCode::kUnavailable);
    CHECK(result.status().message() == "server 1 went away");
  }
  {
    RecordingExchange exchange;
    Trainer trainer(spec, 0, 1, train, nullptr, model->get(), &exchange);
    std::atomic<bool> stop{true};
    CHECK(trainer.Run(stop, nullptr).status().code() == absl::StatusCode::kCancelled);
  }
}

TEST_CASE("Trainer refuses data that does not fit the model or the batch") {
  JobSpec spec = Spec();
  auto model = Model::Create(spec.model, &Cpu(), spec.training.batch_size);
  REQUIRE(model.ok());
  RecordingExchange exchange;
  std::atomic<bool> stop{false};
  const Dataset tiny = Blocks(4, 5);  // fewer than one batch of 8
  Trainer small(spec, 0, 1, tiny, nullptr, model->get(), &exchange);
  auto r = small.Run(stop, nullptr);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("smaller than one global batch"));
  const Dataset enough = Blocks(64, 6);
  Trainer resumed(spec, 0, 1, enough, nullptr, model->get(), &exchange);
  resumed.set_start_step(1000);
  r = resumed.Run(stop, nullptr);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("cannot resume at step 1000"));
}

}  // namespace
}  // namespace psd
