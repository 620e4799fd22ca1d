// psd::Model on the CPU backend: the backward pass against finite differences, the gradient
// callbacks, evaluation, local SGD and bad input; and the CUDA model against the CPU model
// (skipped without a usable CUDA device).
#include "worker/model.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/select.h"
#include "tests/testing.h"
#include "worker/test_data.h"

namespace psd {
namespace {

using testing::Batch;
using testing::RandomBatch;

using Params = std::vector<std::vector<double>>;

kernels::Backend& Cpu() {
  static std::unique_ptr<kernels::Backend> cpu =
      std::move(kernels::CreateBackend(kernels::DeviceKind::kCpu, 1).value());
  return *cpu;
}

ModelSpec Mlp(std::vector<int> hidden, Activation act, int inputs = 5, int classes = 3) {
  ModelSpec spec;
  spec.type = hidden.empty() ? ModelType::kLogreg : ModelType::kMlp;
  spec.input_dim = inputs;
  spec.hidden = std::move(hidden);
  spec.num_classes = classes;
  spec.activation = act;
  return spec;
}

Params ReadParams(Model& model) {
  Params p;
  for (const TensorInfo& t : model.tensors()) {
    std::vector<float> values(t.size);
    REQUIRE(model.GetParam(t.id, absl::MakeSpan(values)).ok());
    p.emplace_back(values.begin(), values.end());
  }
  return p;
}

double Activate(Activation act, double z) {
  switch (act) {
    case Activation::kRelu:
      return std::max(z, 0.0);
    case Activation::kTanh:
      return std::tanh(z);
    case Activation::kSigmoid:
      return 1 / (1 + std::exp(-z));
  }
  return z;
}

// The mean cross-entropy of the MLP in double precision, written from the definition.
double ReferenceLoss(const ModelSpec& spec, const Params& p, const Batch& batch) {
  const std::vector<int> sizes = spec.LayerSizes();
  const size_t n = batch.y.size();
  double loss = 0;
  for (size_t e = 0; e < n; ++e) {
    std::vector<double> a(batch.x.begin() + e * spec.input_dim,
                          batch.x.begin() + (e + 1) * spec.input_dim);
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      const std::vector<double>& w = p[2 * l];
      const std::vector<double>& b = p[2 * l + 1];
      std::vector<double> z(b);
      for (int i = 0; i < sizes[l]; ++i) {
        for (int o = 0; o < sizes[l + 1]; ++o) z[o] += a[i] * w[i * sizes[l + 1] + o];
      }
      if (l + 2 < sizes.size()) {
        for (double& v : z) v = Activate(spec.activation, v);
      }
      a = std::move(z);
    }
    const double max = *std::max_element(a.begin(), a.end());
    double sum = 0;
    for (double v : a) sum += std::exp(v - max);
    loss += std::log(sum) - (a[batch.y[e]] - max);
  }
  return loss / n;
}

std::unique_ptr<Model> MakeModel(const ModelSpec& spec, kernels::Backend& backend, int batch,
                                 uint64_t seed = 7) {
  auto model = Model::Create(spec, &backend, batch);
  REQUIRE(model.ok());
  REQUIRE((*model)->InitParams(seed).ok());
  return std::move(*model);
}

// Runs a step and returns the gradients, tensor by tensor.
Params Gradients(Model& model, const Batch& batch, StepResult* result = nullptr) {
  auto step = model.TrainStep(batch.x, batch.y, nullptr);
  REQUIRE(step.ok());
  if (result != nullptr) *result = *step;
  Params g;
  for (const TensorInfo& t : model.tensors()) {
    absl::Span<const float> grad = model.HostGrad(t.id);
    g.emplace_back(grad.begin(), grad.end());
  }
  return g;
}

// Backward pass vs central differences of the double-precision reference loss (h = 1e-6):
// every component within 1e-4 * (|fd| + max |fd|).
void CheckAgainstReference(const ModelSpec& spec) {
  auto model = MakeModel(spec, Cpu(), 4);
  const Batch batch = RandomBatch(spec, 4, 11);
  StepResult step;
  const Params grads = Gradients(*model, batch, &step);
  Params p = ReadParams(*model);
  CHECK(step.examples == 4);
  CHECK(std::fabs(step.loss_sum / 4 - ReferenceLoss(spec, p, batch)) <=
        1e-5 * ReferenceLoss(spec, p, batch));
  constexpr double h = 1e-6;
  for (size_t t = 0; t < p.size(); ++t) {
    std::vector<double> fd(p[t].size());
    for (size_t i = 0; i < p[t].size(); ++i) {
      const double saved = p[t][i];
      p[t][i] = saved + h;
      const double up = ReferenceLoss(spec, p, batch);
      p[t][i] = saved - h;
      const double down = ReferenceLoss(spec, p, batch);
      p[t][i] = saved;
      fd[i] = (up - down) / (2 * h);
    }
    double max_fd = 0;
    for (double v : fd) max_fd = std::max(max_fd, std::fabs(v));
    for (size_t i = 0; i < fd.size(); ++i) {
      INFO(model->tensors()[t].name << "[" << i << "]: backward " << grads[t][i] << ", fd "
                                    << fd[i]);
      CHECK(std::fabs(grads[t][i] - fd[i]) <= 1e-4 * (std::fabs(fd[i]) + max_fd));
    }
  }
}

TEST_CASE("2-layer MLP backward matches finite differences, every activation") {
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    CheckAgainstReference(Mlp({7}, act));
  }
}

TEST_CASE("deeper MLP and logistic regression backward match finite differences") {
  CheckAgainstReference(Mlp({6, 4}, Activation::kRelu, 9, 5));
  CheckAgainstReference(Mlp({}, Activation::kRelu, 9, 5));
}

// The model's own float forward (Evaluate) differentiated numerically with h = 1e-2: every
// component within 1e-2 * (|fd| + max |fd|) of the backward pass (float noise / h ~ 1e-5).
TEST_CASE("2-layer MLP backward matches finite differences of its own forward") {
  const ModelSpec spec = Mlp({7}, Activation::kTanh);
  auto model = MakeModel(spec, Cpu(), 4);
  const Batch batch = RandomBatch(spec, 4, 12);
  const Params grads = Gradients(*model, batch);
  auto loss = [&] { return model->Evaluate(batch.x, batch.y).value().loss_sum / 4; };
  constexpr float h = 1e-2f;
  for (const TensorInfo& t : model->tensors()) {
    std::vector<float> values(t.size);
    REQUIRE(model->GetParam(t.id, absl::MakeSpan(values)).ok());
    std::vector<double> fd(t.size);
    for (int64_t i = 0; i < t.size; ++i) {
      const float saved = values[i];
      values[i] = saved + h;
      REQUIRE(model->SetParam(t.id, values).ok());
      const double up = loss();
      values[i] = saved - h;
      REQUIRE(model->SetParam(t.id, values).ok());
      const double down = loss();
      values[i] = saved;
      fd[i] = (up - down) / (2 * double{h});
    }
    REQUIRE(model->SetParam(t.id, values).ok());
    double max_fd = 0;
    for (double v : fd) max_fd = std::max(max_fd, std::fabs(v));
    for (int64_t i = 0; i < t.size; ++i) {
      INFO(t.name << "[" << i << "]: backward " << grads[t.id][i] << ", fd " << fd[i]);
      CHECK(std::fabs(grads[t.id][i] - fd[i]) <= 1e-2 * (std::fabs(fd[i]) + max_fd));
    }
  }
}

TEST_CASE("gradients are announced once each, last layer first") {
  const ModelSpec spec = Mlp({16, 8}, Activation::kRelu, 12, 4);
  auto model = MakeModel(spec, Cpu(), 32);
  const Batch batch = RandomBatch(spec, 32, 13);
  std::vector<uint32_t> order;
  auto step = model->TrainStep(batch.x, batch.y, [&](uint32_t id) {
    // The gradient is readable inside the callback.
    CHECK(static_cast<int64_t>(model->HostGrad(id).size()) == model->tensors()[id].size);
    order.push_back(id);
  });
  REQUIRE(step.ok());
  CHECK(order == std::vector<uint32_t>{5, 4, 3, 2, 1, 0});
}

TEST_CASE("TrainStep and Evaluate agree on loss and accuracy; Evaluate batches any count") {
  const ModelSpec spec = Mlp({16}, Activation::kRelu, 10, 4);
  auto model = MakeModel(spec, Cpu(), 8);
  const Batch batch = RandomBatch(spec, 8, 14);
  auto step = model->TrainStep(batch.x, batch.y, nullptr);
  auto eval = model->Evaluate(batch.x, batch.y);
  REQUIRE(step.ok());
  REQUIRE(eval.ok());
  CHECK(std::fabs(step->loss_sum - eval->loss_sum) <= 1e-6 * step->loss_sum);
  CHECK(step->correct == eval->correct);

  // 21 examples in batches of 8: the same sums as one pass of a model with a larger batch.
  const Batch many = RandomBatch(spec, 21, 15);
  auto big = MakeModel(spec, Cpu(), 21);
  auto in_batches = model->Evaluate(many.x, many.y);
  auto at_once = big->Evaluate(many.x, many.y);
  REQUIRE(in_batches.ok());
  REQUIRE(at_once.ok());
  CHECK(in_batches->examples == 21);
  CHECK(in_batches->correct == at_once->correct);
  CHECK(std::fabs(in_batches->loss_sum - at_once->loss_sum) <= 1e-5 * at_once->loss_sum);
}

TEST_CASE("local SGD with momentum learns a separable problem") {
  const ModelSpec spec = Mlp({16}, Activation::kRelu, 2, 2);
  auto model = MakeModel(spec, Cpu(), 64);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> value(-1, 1);
  Batch data;
  for (int i = 0; i < 256; ++i) {
    const float a = value(rng), b = value(rng);
    data.x.insert(data.x.end(), {a, b});
    data.y.push_back(a + b > 0 ? 1 : 0);
  }
  const StepResult before = model->Evaluate(data.x, data.y).value();
  for (int epoch = 0; epoch < 20; ++epoch) {
    for (int first = 0; first < 256; first += 64) {
      auto x = absl::MakeConstSpan(data.x).subspan(first * 2, 128);
      auto y = absl::MakeConstSpan(data.y).subspan(first, 64);
      REQUIRE(model->TrainStep(x, y, nullptr).ok());
      REQUIRE(model->ApplySgdMomentum(0.1f, 0.9f, 0.0f).ok());
    }
  }
  const StepResult after = model->Evaluate(data.x, data.y).value();
  CHECK(after.loss_sum < 0.5 * before.loss_sum);
  CHECK(after.correct >= 240);
}

TEST_CASE("parameters: InitParams is deterministic, SetParam and GetParam round-trip") {
  const ModelSpec spec = Mlp({7}, Activation::kRelu);
  auto model = MakeModel(spec, Cpu(), 4, 99);
  const TensorInfo& w = model->tensors()[0];
  std::vector<float> want(w.size), got(w.size);
  InitTensorSlice(99, w, 0, absl::MakeSpan(want));
  REQUIRE(model->GetParam(0, absl::MakeSpan(got)).ok());
  CHECK(got == want);
  for (float& v : want) v *= 2;
  REQUIRE(model->SetParam(0, want).ok());
  REQUIRE(model->GetParam(0, absl::MakeSpan(got)).ok());
  CHECK(got == want);
  // HostParam + UploadParam is the same, without the extra copy.
  absl::Span<float> staging = model->HostParam(1);
  REQUIRE(static_cast<int64_t>(staging.size()) == model->tensors()[1].size);
  std::fill(staging.begin(), staging.end(), 0.25f);
  REQUIRE(model->UploadParam(1).ok());
  std::vector<float> bias(staging.size());
  REQUIRE(model->GetParam(1, absl::MakeSpan(bias)).ok());
  CHECK(bias == std::vector<float>(staging.size(), 0.25f));
}

TEST_CASE("bad input is an InvalidArgument error") {
  const ModelSpec spec = Mlp({7}, Activation::kRelu);
  auto model = MakeModel(spec, Cpu(), 4);
  Batch batch = RandomBatch(spec, 4, 16);
  auto code = [](const absl::Status& s) { return s.code(); };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  CHECK(code(model->TrainStep(batch.x, {}, nullptr).status()) == kInvalid);
  Batch five = RandomBatch(spec, 5, 17);
  CHECK(code(model->TrainStep(five.x, five.y, nullptr).status()) == kInvalid);  // > max_batch
  CHECK(
      code(model->TrainStep(absl::MakeConstSpan(batch.x).subspan(1), batch.y, nullptr).status()) ==
      kInvalid);
  batch.y[2] = 3;  // classes = 3
  const absl::Status bad_label = model->TrainStep(batch.x, batch.y, nullptr).status();
  CHECK(code(bad_label) == kInvalid);
  CHECK(std::string(bad_label.message()).find("label 3 of example 2") != std::string::npos);
  CHECK(code(model->SetParam(0, std::vector<float>(3))) == kInvalid);
  CHECK(code(model->SetParam(99, std::vector<float>(3))) == kInvalid);
  CHECK(code(model->UploadParam(99)) == kInvalid);
  CHECK(model->HostParam(99).empty());
  CHECK(model->HostGrad(99).empty());
  CHECK(code(Model::Create(spec, nullptr, 4).status()) == kInvalid);
  CHECK(code(Model::Create(spec, &Cpu(), 0).status()) == kInvalid);
  CHECK(code(Model::Create(Mlp({0}, Activation::kRelu), &Cpu(), 4).status()) == kInvalid);
}

// CUDA model vs CPU model on the same parameters and batch: loss within 1e-4 relative,
// each gradient component within 1e-4 * (|cpu| + max |cpu|).
TEST_CASE("cuda model step matches the cpu model") {
  auto cuda = kernels::CreateBackend(kernels::DeviceKind::kCuda, 0);
  if (!cuda.ok()) {
    std::string reason(cuda.status().message());
    for (const kernels::DeviceInfo& d : kernels::DescribeDevices()) {
      if (d.kind == kernels::DeviceKind::kCuda && !d.usable) reason = d.detail;
    }
    PSD_SKIP("no CUDA device: " + reason);
  }
  const ModelSpec spec = Mlp({256, 128}, Activation::kRelu, 784, 10);
  auto on_cpu = MakeModel(spec, Cpu(), 64, 5);
  auto on_cuda = MakeModel(spec, **cuda, 64, 5);
  const Batch batch = RandomBatch(spec, 64, 18);
  StepResult cpu_step, cuda_step;
  const Params cpu_grads = Gradients(*on_cpu, batch, &cpu_step);
  std::vector<uint32_t> order;
  auto step = on_cuda->TrainStep(batch.x, batch.y, [&](uint32_t id) { order.push_back(id); });
  REQUIRE(step.ok());
  CHECK(order == std::vector<uint32_t>{5, 4, 3, 2, 1, 0});
  CHECK(std::fabs(step->loss_sum - cpu_step.loss_sum) <= 1e-4 * cpu_step.loss_sum);
  CHECK(step->correct == cpu_step.correct);
  for (const TensorInfo& t : on_cpu->tensors()) {
    absl::Span<const float> g = on_cuda->HostGrad(t.id);
    double max_cpu = 0;
    for (double v : cpu_grads[t.id]) max_cpu = std::max(max_cpu, std::fabs(v));
    int bad = 0;
    for (int64_t i = 0; i < t.size; ++i) {
      bad +=
          std::fabs(g[i] - cpu_grads[t.id][i]) > 1e-4 * (std::fabs(cpu_grads[t.id][i]) + max_cpu);
    }
    INFO(t.name);
    CHECK(bad == 0);
  }
}

}  // namespace
}  // namespace psd
