// psd::DeviceGroup: a batch split over N CPU devices gives the loss, the gradients and, after
// several SGD steps, the parameters of one device with the whole batch (within float rounding:
// each component within 1e-5 * (|one| + max |one|)), for even and uneven splits; a device's
// failure is reported, not hung on; TrainingSession trains the same model with
// cluster.devices_per_worker 1, 2 and 4. The CUDA cases report "skipped" without a GPU.
#include "worker/device_group.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/select.h"
#include "tests/testing.h"
#include "worker/local_exchange.h"
#include "worker/test_data.h"
#include "worker/trainer.h"
#include "worker/training_session.h"

namespace psd {
namespace {

using testing::Batch;
using testing::Blocks;
using testing::RandomBatch;
constexpr int kClasses = testing::kBlockClasses;
constexpr int kDim = testing::kBlockDim;
using Backends = std::vector<std::unique_ptr<kernels::Backend>>;

kernels::Backend& Cpu() {
  static std::unique_ptr<kernels::Backend> cpu =
      std::move(kernels::CreateBackend(kernels::DeviceKind::kCpu, 1).value());
  return *cpu;
}

ModelSpec Mlp() {
  ModelSpec spec;
  spec.type = ModelType::kMlp;
  spec.input_dim = 12;
  spec.hidden = {16, 8};
  spec.num_classes = 5;
  spec.activation = Activation::kTanh;
  return spec;
}

std::vector<kernels::Backend*> Raw(const Backends& backends) {
  std::vector<kernels::Backend*> raw;
  for (const auto& b : backends) raw.push_back(b.get());
  return raw;
}

// Whether every component of `got` is within tol * (|want| + max |want|) of `want`.
bool Near(absl::Span<const float> got, absl::Span<const float> want, double tol) {
  if (got.size() != want.size()) return false;
  double max_want = 0;
  for (float w : want) max_want = std::max(max_want, std::fabs(static_cast<double>(w)));
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(static_cast<double>(got[i]) - want[i]) > tol * (std::fabs(want[i]) + max_want)) {
      return false;
    }
  }
  return true;
}

// `steps` SGD steps (p -= lr * g, on the host) of one CPU model and of a group on `backends`,
// both from the same initial parameters and batches of `batch` rows; checks each step's loss,
// accuracy and gradients, and then the parameters, within `tol`.
void CompareWithOneDevice(const Backends& backends, int batch, int steps, double tol) {
  const ModelSpec spec = Mlp();
  auto one = Model::Create(spec, &Cpu(), batch);
  REQUIRE(one.ok());
  auto group = DeviceGroup::Create(spec, Raw(backends), batch);
  REQUIRE(group.ok());
  CHECK((*group)->size() == static_cast<int>(backends.size()));
  REQUIRE((*one)->InitParams(7).ok());
  REQUIRE((*group)->InitParams(7).ok());
  const std::vector<TensorInfo>& tensors = (*one)->tensors();
  const float lr = 0.5f;
  for (int step = 0; step < steps; ++step) {
    INFO("step " << step);
    const Batch b = RandomBatch(spec, batch, 100 + step);
    std::vector<uint32_t> one_order, group_order;
    auto r1 = (*one)->TrainStep(b.x, b.y, [&](uint32_t id) { one_order.push_back(id); });
    REQUIRE(r1.ok());
    const std::thread::id caller = std::this_thread::get_id();
    bool on_caller = true;
    auto rn = (*group)->TrainStep(b.x, b.y, [&](uint32_t id) {
      group_order.push_back(id);
      on_caller = on_caller && std::this_thread::get_id() == caller;
    });
    REQUIRE(rn.ok());
    CHECK(group_order == one_order);
    CHECK(on_caller);
    CHECK(rn->examples == batch);
    CHECK(rn->correct == r1->correct);
    CHECK(std::fabs(rn->loss_sum - r1->loss_sum) <= tol * r1->loss_sum);
    for (const TensorInfo& t : tensors) {
      INFO("tensor " << t.name);
      CHECK(Near((*group)->HostGrad(t.id), (*one)->HostGrad(t.id), tol));
      std::vector<float> p1(t.size), pn(t.size);
      REQUIRE((*one)->GetParam(t.id, absl::MakeSpan(p1)).ok());
      REQUIRE((*group)->GetParam(t.id, absl::MakeSpan(pn)).ok());
      absl::Span<const float> g1 = (*one)->HostGrad(t.id), gn = (*group)->HostGrad(t.id);
      for (int64_t i = 0; i < t.size; ++i) {
        p1[i] -= lr * g1[i];
        pn[i] -= lr * gn[i];
      }
      REQUIRE((*one)->SetParam(t.id, p1).ok());
      REQUIRE((*group)->SetParam(t.id, pn).ok());
    }
  }
  for (const TensorInfo& t : tensors) {
    INFO("tensor " << t.name << " after " << steps << " steps");
    std::vector<float> p1(t.size), pn(t.size);
    REQUIRE((*one)->GetParam(t.id, absl::MakeSpan(p1)).ok());
    REQUIRE((*group)->GetParam(t.id, absl::MakeSpan(pn)).ok());
    CHECK(Near(pn, p1, tol));
  }
}

Backends CpuDevices(int n) {
  auto backends = kernels::CreateBackends(kernels::DeviceKind::kCpu, 0, n);
  REQUIRE(backends.ok());
  return std::move(*backends);
}

TEST_CASE("ShardOf splits a batch into contiguous shards differing by at most one row") {
  auto shards = [](int64_t batch, int devices) {
    std::vector<int64_t> counts;
    int64_t next = 0;
    for (int d = 0; d < devices; ++d) {
      const ShardRows s = ShardOf(batch, devices, d);
      CHECK(s.first == next);
      next += s.count;
      counts.push_back(s.count);
    }
    CHECK(next == batch);
    return counts;
  };
  CHECK(shards(10, 4) == std::vector<int64_t>{3, 3, 2, 2});
  CHECK(shards(8, 4) == std::vector<int64_t>{2, 2, 2, 2});
  CHECK(shards(7, 1) == std::vector<int64_t>{7});
  CHECK(shards(3, 4) == std::vector<int64_t>{1, 1, 1, 0});
  CHECK(shards(64, 3) == std::vector<int64_t>{22, 21, 21});
}

TEST_CASE("2 and 4 CPU devices match one device with the same batch over several SGD steps") {
  for (int n : {2, 4}) {
    INFO(n << " devices");
    CompareWithOneDevice(CpuDevices(n), 16, 6, 1e-5);
  }
}

TEST_CASE("an uneven split (batch 10 over 4 devices) matches one device") {
  CompareWithOneDevice(CpuDevices(4), 10, 6, 1e-5);
}

TEST_CASE("a batch smaller than the group leaves the spare devices out") {
  const ModelSpec spec = Mlp();
  const Backends backends = CpuDevices(4);
  auto group = DeviceGroup::Create(spec, Raw(backends), 8);
  REQUIRE(group.ok());
  auto one = Model::Create(spec, &Cpu(), 8);
  REQUIRE(one.ok());
  REQUIRE((*group)->InitParams(3).ok());
  REQUIRE((*one)->InitParams(3).ok());
  const Batch b = RandomBatch(spec, 3, 9);
  auto rn = (*group)->TrainStep(b.x, b.y, nullptr);
  REQUIRE(rn.ok());
  auto r1 = (*one)->TrainStep(b.x, b.y, nullptr);
  REQUIRE(r1.ok());
  CHECK(rn->examples == 3);
  for (const TensorInfo& t : (*one)->tensors()) {
    CHECK(Near((*group)->HostGrad(t.id), (*one)->HostGrad(t.id), 1e-5));
  }
}

TEST_CASE("one device is the model itself") {
  const ModelSpec spec = Mlp();
  auto model = Model::Create(spec, &Cpu(), 8);
  REQUIRE(model.ok());
  DeviceGroup group(model->get());
  CHECK(group.size() == 1);
  CHECK(&group.primary() == model->get());
  REQUIRE(group.InitParams(1).ok());
  const Batch b = RandomBatch(spec, 8, 2);
  REQUIRE(group.TrainStep(b.x, b.y, nullptr).ok());
  // No copy: the gradient is the model's own buffer.
  for (const TensorInfo& t : group.tensors()) {
    CHECK(group.HostGrad(t.id).data() == (*model)->HostGrad(t.id).data());
  }
}

TEST_CASE("bad batches and a failing device are errors, and the group keeps working") {
  const ModelSpec spec = Mlp();
  const Backends backends = CpuDevices(2);
  auto group = DeviceGroup::Create(spec, Raw(backends), 8);
  REQUIRE(group.ok());
  REQUIRE((*group)->InitParams(1).ok());
  Batch b = RandomBatch(spec, 9, 1);
  auto too_big = (*group)->TrainStep(b.x, b.y, nullptr);
  REQUIRE(!too_big.ok());
  CHECK(std::string(too_big.status().message()) == "device group: need 1 to 8 examples, got 9");
  b = RandomBatch(spec, 8, 1);
  auto short_inputs = (*group)->TrainStep(absl::MakeConstSpan(b.x).subspan(1), b.y, nullptr);
  REQUIRE(!short_inputs.ok());
  CHECK(short_inputs.status().code() == absl::StatusCode::kInvalidArgument);
  // Example 6 is device 1's (rows 4..7): its model refuses the label.
  b.y[6] = 99;
  int delivered = 0;
  auto bad_label = (*group)->TrainStep(b.x, b.y, [&](uint32_t) { ++delivered; });
  REQUIRE(!bad_label.ok());
  CHECK(delivered == 0);
  CHECK(std::string(bad_label.status().message()) ==
        "device 1: model: label 99 of example 2 is outside [0, 5)");
  b.y[6] = 1;
  auto ok = (*group)->TrainStep(b.x, b.y, [&](uint32_t) { ++delivered; });
  REQUIRE(ok.ok());
  CHECK(delivered == static_cast<int>((*group)->tensors().size()));
  CHECK(ok->examples == 8);
}

// ---------------------------------------------------------------------------------------------
// Through TrainingSession, as the worker daemon builds it (no servers: a LocalExchange).

JobSpec SessionSpec(int devices) {
  JobSpec spec;
  spec.name = "devices";
  spec.model.type = ModelType::kMlp;
  spec.model.input_dim = kDim;
  spec.model.hidden = {12};
  spec.model.num_classes = kClasses;
  spec.training.batch_size = 10;
  spec.training.epochs = 2;
  spec.training.log_every = 1000;
  spec.training.optimizer.type = OptimizerType::kMomentum;
  spec.training.optimizer.learning_rate = 0.1;
  spec.cluster.device = DeviceKind::kCpu;
  spec.cluster.devices_per_worker = devices;
  return spec;
}

TEST_CASE("TrainingSession with devices_per_worker 2 and 4 trains the model of 1 device") {
  const Dataset train = Blocks(200, 1), test = Blocks(40, 2);
  std::vector<std::vector<float>> reference;
  double reference_accuracy = -1;
  for (int devices : {1, 2, 4}) {
    INFO(devices << " devices");
    const JobSpec spec = SessionSpec(devices);
    SessionOptions options;
    options.cpu_threads = 2;
    auto session = TrainingSession::Create(spec, train, &test, options);
    REQUIRE(session.ok());
    CHECK((*session)->devices().size() == devices);
    CHECK((*session)->backend().name() == "cpu");
    std::atomic<bool> stop{false};
    auto result = (*session)->trainer().Run(stop, nullptr);
    REQUIRE(result.ok());
    CHECK(result->steps() == 40);
    const auto& params = (*session)->trainer().params();
    if (devices == 1) {
      reference = params;
      reference_accuracy = result->test_accuracy();
      CHECK(reference_accuracy >= 0.9);
      continue;
    }
    REQUIRE(params.size() == reference.size());
    for (size_t t = 0; t < params.size(); ++t) {
      INFO("tensor " << t);
      CHECK(Near(params[t], reference[t], 1e-5));
    }
    CHECK(result->test_accuracy() == reference_accuracy);
  }
}

// Usable CUDA devices, and why there are none.
int UsableCuda(std::string* reason) {
  int n = 0;
  for (const kernels::DeviceInfo& d : kernels::DescribeDevices()) {
    if (d.kind != kernels::DeviceKind::kCuda) continue;
    if (d.usable) {
      ++n;
    } else {
      *reason = d.detail;
    }
  }
  return n;
}

TEST_CASE("a job asking for more CUDA devices than the worker has fails naming both counts") {
  std::string reason;
  const int usable = UsableCuda(&reason);
  const int want = std::max(2, usable + 1);
  JobSpec spec = SessionSpec(want);
  spec.cluster.device = DeviceKind::kCuda;
  const Dataset train = Blocks(40, 1);
  auto session = TrainingSession::Create(spec, train, nullptr, SessionOptions());
  REQUIRE(!session.ok());
  CHECK(session.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(session.status().message());
  INFO(message);
  CHECK(message.rfind(absl::StrCat("cluster.devices_per_worker is ", want, " but this worker has ",
                                   usable, " usable CUDA device"),
                      0) == 0);
  if (usable == 0) CHECK(message.find(reason) != std::string::npos);
}

// Two CUDA replicas (on two devices when there are, else twice on device 0) against one CPU
// model: each gradient component within 1e-4 * (|cpu| + max |cpu|), as model_test's CUDA case.
TEST_CASE("2 CUDA devices match one CPU device") {
  std::string reason;
  const int usable = UsableCuda(&reason);
  if (usable == 0) PSD_SKIP("no CUDA device: " + reason);
  Backends backends;
  if (usable >= 2) {
    auto two = kernels::CreateBackends(kernels::DeviceKind::kCuda, 0, 2);
    REQUIRE(two.ok());
    backends = std::move(*two);
  } else {
    for (int i = 0; i < 2; ++i) {
      auto cuda = kernels::CreateBackend(kernels::DeviceKind::kCuda, 0);
      REQUIRE(cuda.ok());
      backends.push_back(std::move(*cuda));
    }
  }
  CompareWithOneDevice(backends, 64, 4, 1e-4);
  // A large batch: shards of 500 rows each.
  CompareWithOneDevice(backends, 1000, 2, 1e-4);
}

}  // namespace
}  // namespace psd
