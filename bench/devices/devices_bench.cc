// bench/devices: samples/s of one worker that splits its batch over N local devices
// (cluster.devices_per_worker), for each N of --devices, with the same total batch. Two
// figures per N: "step" is DeviceGroup::TrainStep alone (forward, backward and the gradient
// sum), "worker" is the whole training loop with an in-process exchange (Trainer::Run with
// LocalExchange: the step, the optimizer on the summed gradient and the parameters copied back
// to every device). The model is the Fashion-MNIST MLP (784-256-128-10) on synthetic data.
// --rounds repeats every N (odd rounds in reverse order); the mean and the spread are printed.
//
//   bazel run -c opt //bench/devices -- --devices 1,2 --batch 256 --rounds 3
//   bazel-bin/bench/devices/devices --device cuda --devices 1,2   # where there are 2 GPUs
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/machine.h"
#include "common/job_spec.h"
#include "common/process_init.h"
#include "common/status_macros.h"
#include "worker/device_group.h"
#include "worker/training_session.h"

ABSL_FLAG(std::string, devices, "1,2", "Devices per worker to measure, comma-separated.");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or auto (cluster.device).");
ABSL_FLAG(int, batch, 256, "Total batch per worker (split over the devices).");
ABSL_FLAG(int64_t, steps, 100, "Steps per measurement.");
ABSL_FLAG(int, rounds, 3, "Repeat every configuration this many times, alternating.");
ABSL_FLAG(int, threads, 0,
          "BLAS threads of the worker in all (0: one per core), shared by its "
          "CPU devices.");

namespace psd {
namespace {

constexpr int kDim = 784;
constexpr int kClasses = 10;

Dataset Synthetic(int64_t count) {
  Dataset d;
  d.count = count;
  d.dim = kDim;
  d.pixels.resize(count * kDim);
  d.labels.resize(count);
  std::mt19937 rng(1);
  for (auto& p : d.pixels) p = static_cast<uint8_t>(rng() >> 24);
  for (int64_t i = 0; i < count; ++i) d.labels[i] = static_cast<uint8_t>(i % kClasses);
  return d;
}

JobSpec Spec(int devices, DeviceKind device, int batch, int64_t steps) {
  JobSpec spec;
  spec.name = "devices-bench";
  spec.model.type = ModelType::kMlp;
  spec.model.input_dim = kDim;
  spec.model.hidden = {256, 128};
  spec.model.num_classes = kClasses;
  spec.training.batch_size = batch;
  spec.training.max_steps = steps;
  spec.training.log_every = steps;
  spec.training.optimizer.type = OptimizerType::kMomentum;
  spec.cluster.device = device;
  spec.cluster.devices_per_worker = devices;
  return spec;
}

struct Figure {
  double step = 0;    // samples/s of DeviceGroup::TrainStep alone
  double worker = 0;  // samples/s of Trainer::Run
};

absl::StatusOr<Figure> Measure(const JobSpec& spec, const Dataset& train, int threads) {
  SessionOptions options;
  options.cpu_threads = threads;
  PSD_ASSIGN_OR_RETURN(auto session, TrainingSession::Create(spec, train, nullptr, options));
  DeviceGroup& group = session->devices();
  PSD_RETURN_IF_ERROR(group.InitParams(spec.seed));
  const int batch = spec.training.batch_size;
  std::vector<float> x(static_cast<size_t>(batch) * kDim);
  std::vector<int32_t> y(batch);
  for (int i = 0; i < batch; ++i) {
    for (int k = 0; k < kDim; ++k) x[i * kDim + k] = train.pixels[i * kDim + k] / 255.0f;
    y[i] = train.labels[i];
  }
  Figure f;
  const int64_t steps = spec.training.max_steps;
  PSD_RETURN_IF_ERROR(group.TrainStep(x, y, nullptr).status());  // warm-up
  const absl::Time t0 = absl::Now();
  for (int64_t s = 0; s < steps; ++s) PSD_RETURN_IF_ERROR(group.TrainStep(x, y, nullptr).status());
  f.step = steps * batch / absl::ToDoubleSeconds(absl::Now() - t0);
  std::atomic<bool> stop{false};
  const absl::Time t1 = absl::Now();
  PSD_RETURN_IF_ERROR(session->trainer().Run(stop, nullptr).status());
  f.worker = steps * batch / absl::ToDoubleSeconds(absl::Now() - t1);
  return f;
}

// "mean (min .. max)".
std::string Summary(std::vector<double> v) {
  if (v.empty()) return "n/a";
  double sum = 0;
  for (double x : v) sum += x;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%8.0f (%.0f .. %.0f)", sum / v.size(), *lo, *hi);
  return buf;
}

int Main() {
  std::vector<int> counts;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_devices), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1 || n > kMaxDevicesPerWorker) {
      std::fprintf(stderr, "--devices: expected numbers 1..%d, got '%s'\n", kMaxDevicesPerWorker,
                   std::string(part).c_str());
      return 2;
    }
    counts.push_back(n);
  }
  const std::string kind = absl::GetFlag(FLAGS_device);
  const DeviceKind device = kind == "cuda"  ? DeviceKind::kCuda
                            : kind == "cpu" ? DeviceKind::kCpu
                                            : DeviceKind::kAuto;
  const int batch = absl::GetFlag(FLAGS_batch);
  const int64_t steps = absl::GetFlag(FLAGS_steps);
  const int threads = absl::GetFlag(FLAGS_threads);
  const Dataset train = Synthetic(static_cast<int64_t>(batch) * 4);
  std::printf(
      "bench/devices: MLP 784-256-128-10, total batch %d, %lld steps, device %s, "
      "%d BLAS threads in all; %s\n",
      batch, static_cast<long long>(steps), kind.c_str(),
      threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()),
      bench::MachineLine().c_str());
  std::map<int, std::vector<double>> step, worker;
  std::map<int, std::string> failed;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    std::vector<int> order = counts;
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (int n : order) {
      if (failed.count(n)) continue;
      absl::StatusOr<Figure> f = Measure(Spec(n, device, batch, steps), train, threads);
      if (!f.ok()) {
        failed[n] = std::string(f.status().message());
        continue;
      }
      std::printf("round %d: %2d devices: step %8.0f samples/s, worker %8.0f samples/s\n", round, n,
                  f->step, f->worker);
      step[n].push_back(f->step);
      worker[n].push_back(f->worker);
    }
  }
  std::printf("\n%-8s %-30s %-30s %s\n", "devices", "step samples/s (min .. max)",
              "worker samples/s (min .. max)", "worker vs 1 device");
  double one = 0;
  if (!worker[1].empty()) {
    for (double x : worker[1]) one += x / worker[1].size();
  }
  for (int n : counts) {
    if (failed.count(n)) {
      std::printf("%-8d n/a: %s\n", n, failed[n].c_str());
      continue;
    }
    double mean = 0;
    for (double x : worker[n]) mean += x / worker[n].size();
    std::printf("%-8d %-30s %-30s %s\n", n, Summary(step[n]).c_str(), Summary(worker[n]).c_str(),
                one > 0 ? absl::StrFormat("%.2fx", mean / one).c_str() : "");
  }
  return failed.empty() ? 0 : 1;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
