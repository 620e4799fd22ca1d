// Forward+backward time of the MLP 784-256-128-10 per batch on every compute backend present,
// its GEMM rate, and that rate as a share of the backend's peak (one large sgemm).
//   bazel run //bench/kernels -- [--cpu_threads=N] [--min_time_s=S] [--rounds=R]
//                                [--batches=64,512]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "common/process_init.h"
#include "kernels/select.h"
#include "worker/model.h"

ABSL_FLAG(int, cpu_threads, 0, "OpenBLAS threads for the CPU backend (0: one per core).");
ABSL_FLAG(double, min_time_s, 0.5, "Minimum time measured in each round of a figure.");
ABSL_FLAG(int, rounds, 3, "Rounds per figure; the fastest counts (other load only slows).");
ABSL_FLAG(std::vector<std::string>, batches, std::vector<std::string>({"64", "512"}),
          "Batch sizes to measure.");

namespace psd {
namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  std::string backend;
  int batch = 0;
  double ms = 0;
  double gflops = 0;
  double peak = 0;
};

// Best mean seconds per call of `fn` over --rounds rounds of at least min_time_s (and 3 calls).
template <typename Fn>
absl::StatusOr<double> Time(Fn fn, double min_time_s) {
  double best = 1e30;
  for (int round = 0; round < std::max(1, absl::GetFlag(FLAGS_rounds)); ++round) {
    int calls = 0;
    const Clock::time_point start = Clock::now();
    double elapsed = 0;
    while (calls < 3 || elapsed < min_time_s) {
      if (absl::Status s = fn(); !s.ok()) return s;
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    best = std::min(best, elapsed / calls);
  }
  return best;
}

// GFLOP/s of one n x n x n sgemm: the practical peak of the backend.
absl::StatusOr<double> PeakGflops(kernels::Backend& b, double min_time_s) {
  const int64_t n = b.host_addressable() ? 2048 : 8192;
  auto a = b.AllocateDevice<float>(n * n);
  auto c = b.AllocateDevice<float>(n * n);
  if (!a.ok()) return a.status();
  if (!c.ok()) return c.status();
  const kernels::Stream& s = b.default_stream();
  if (absl::Status st = b.Fill(s, n * n, 0.5f, a->data()); !st.ok()) return st;
  auto gemm = [&]() -> absl::Status {
    absl::Status st =
        b.Gemm(s, false, false, n, n, n, 1.0f, a->data(), n, a->data(), n, 0.0f, c->data(), n);
    return st.ok() ? b.Synchronize(s) : st;
  };
  if (absl::Status st = gemm(); !st.ok()) return st;  // warm-up
  absl::StatusOr<double> seconds = Time(gemm, min_time_s);
  if (!seconds.ok()) return seconds.status();
  return 2.0 * n * n * n / *seconds / 1e9;
}

// GEMM flops of one forward+backward pass: forward X·W, backward Xᵀ·dZ and (but for the first
// layer) dZ·Wᵀ, each 2·batch·in·out.
double StepFlops(const ModelSpec& spec, int batch) {
  const std::vector<int> sizes = spec.LayerSizes();
  double flops = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    flops += (l == 0 ? 2 : 3) * 2.0 * batch * sizes[l] * sizes[l + 1];
  }
  return flops;
}

absl::Status Measure(kernels::Backend& b, const std::vector<int>& batches, double min_time_s,
                     std::vector<Row>* rows) {
  ModelSpec spec;  // the default: 784-256-128-10, relu
  absl::StatusOr<double> peak = PeakGflops(b, min_time_s);
  if (!peak.ok()) return peak.status();
  for (int batch : batches) {
    absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(spec, &b, batch);
    if (!model.ok()) return model.status();
    if (absl::Status s = (*model)->InitParams(1); !s.ok()) return s;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> pixel(0, 1);
    std::vector<float> x(static_cast<size_t>(batch) * spec.input_dim);
    std::vector<int32_t> y(batch);
    for (float& v : x) v = pixel(rng);
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int32_t>(i % spec.num_classes);
    auto step = [&]() { return (*model)->TrainStep(x, y, nullptr).status(); };
    for (int i = 0; i < 3; ++i) {
      if (absl::Status s = step(); !s.ok()) return s;
    }
    absl::StatusOr<double> seconds = Time(step, min_time_s);
    if (!seconds.ok()) return seconds.status();
    rows->push_back({std::string(b.name()), batch, *seconds * 1e3,
                     StepFlops(spec, batch) / *seconds / 1e9, *peak});
  }
  return absl::OkStatus();
}

int Main() {
  const double min_time_s = absl::GetFlag(FLAGS_min_time_s);
  std::vector<int> batches;
  for (const std::string& b : absl::GetFlag(FLAGS_batches)) batches.push_back(std::stoi(b));

  std::vector<std::unique_ptr<kernels::Backend>> backends;
  std::vector<std::string> notes;
  auto cpu = kernels::CreateBackend(kernels::DeviceKind::kCpu, absl::GetFlag(FLAGS_cpu_threads));
  if (!cpu.ok()) {
    std::fprintf(stderr, "cpu backend: %s\n", cpu.status().ToString().c_str());
    return 1;
  }
  backends.push_back(std::move(*cpu));
  auto cuda = kernels::CreateBackend(kernels::DeviceKind::kCuda, 0);
  if (cuda.ok()) {
    backends.push_back(std::move(*cuda));
  } else {
    notes.push_back(absl::StrFormat("cuda: not measured (%s)", cuda.status().message()));
  }

  std::vector<Row> rows;
  for (auto& b : backends) {
    if (absl::Status s = Measure(*b, batches, min_time_s, &rows); !s.ok()) {
      std::fprintf(stderr, "%s: %s\n", std::string(b->name()).c_str(), s.ToString().c_str());
      return 1;
    }
  }

  std::printf(
      "\nMLP 784-256-128-10 (relu), one training step = Model::TrainStep: forward +\n"
      "backward incl. input upload and gradient download; GFLOP/s counts GEMM flops;\n"
      "peak = one large sgemm on the same backend (cpu 2048^3, cuda 8192^3).\n");
  for (auto& b : backends) {
    std::printf("  %-5s %s\n", std::string(b->name()).c_str(), b->description().c_str());
  }
  for (const std::string& note : notes) std::printf("  %s\n", note.c_str());
  std::printf("\n%-8s %6s %11s %12s %9s %13s %10s\n", "backend", "batch", "ms/batch", "examples/s",
              "GFLOP/s", "peak GFLOP/s", "% of peak");
  for (const Row& r : rows) {
    std::printf("%-8s %6d %11.3f %12.0f %9.1f %13.1f %9.1f%%\n", r.backend.c_str(), r.batch, r.ms,
                r.batch / (r.ms / 1e3), r.gflops, r.peak, 100 * r.gflops / r.peak);
  }
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
