// Rows per second of the click-through-rate models' training step (worker/ctr_model.h) on the
// CPU backend: SetBatch (key de-duplication, bags) and TrainStep (forward + backward) timed
// apart, on Criteo-shaped synthetic batches (26 fields with skewed key frequencies, 13 dense).
//   bazel run -c opt //bench/sparse:model_step -- [--cpu_threads=N] [--batch=4096] [--dim=16]
//                                                [--hidden=64,32] [--min_time_s=S]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/process_init.h"
#include "kernels/select.h"
#include "worker/ctr_batch.h"
#include "worker/ctr_model.h"
#include "worker/unique_keys.h"

ABSL_FLAG(int, cpu_threads, 1, "OpenBLAS threads for the CPU backend (0: one per core).");
ABSL_FLAG(int, batch, 4096, "Rows per batch.");
ABSL_FLAG(int, fields, 26, "Categorical fields.");
ABSL_FLAG(int, dense_dim, 13, "Dense features per row.");
ABSL_FLAG(int, dim, 16, "fm factor width and dlrm embedding width.");
ABSL_FLAG(std::vector<std::string>, hidden, std::vector<std::string>({"64", "32"}),
          "dlrm hidden widths.");
ABSL_FLAG(int, vocab, 100000, "Distinct keys per field (drawn with a Zipf-like skew).");
ABSL_FLAG(double, min_time_s, 1.0, "Minimum time measured per figure.");

namespace psd {
namespace {

using Clock = std::chrono::steady_clock;

// Criteo-shaped batches: key rank ~ vocab^u (a log-uniform rank, so a few keys are common).
std::vector<CtrBatch> MakeBatches(int count, int rows, int fields, int dense_dim, int vocab) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<CtrBatch> batches(count);
  for (CtrBatch& b : batches) {
    b.dense_dim = dense_dim;
    for (int r = 0; r < rows; ++r) {
      b.labels.push_back(unit(rng) < 0.25 ? 1.0f : 0.0f);
      for (int j = 0; j < dense_dim; ++j) b.dense.push_back(static_cast<float>(unit(rng)));
      for (int f = 0; f < fields; ++f) {
        const uint64_t rank = static_cast<uint64_t>(std::pow(vocab, unit(rng))) - 1;
        b.keys.push_back(CriteoKey(f, rank * 0x9e3779b97f4a7c15ULL % kCriteoHashLimit));
        b.values.push_back(1.0f);
      }
      b.row_offsets.push_back(static_cast<int64_t>(b.keys.size()));
    }
  }
  return batches;
}

// Seconds per call of fn, over at least min_time_s and 3 calls.
template <typename Fn>
double Time(Fn fn, double min_time_s) {
  int calls = 0;
  const Clock::time_point start = Clock::now();
  double elapsed = 0;
  while (calls < 3 || elapsed < min_time_s) {
    fn(calls);
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return elapsed / calls;
}

int Main() {
  const int threads = absl::GetFlag(FLAGS_cpu_threads);
  auto backend = kernels::CreateBackend(kernels::DeviceKind::kCpu, threads);
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
    return 1;
  }
  CtrModelConfig base;
  base.fields = absl::GetFlag(FLAGS_fields);
  base.keys_have_fields = true;
  base.dense_dim = absl::GetFlag(FLAGS_dense_dim);
  base.dim = absl::GetFlag(FLAGS_dim);
  for (const std::string& h : absl::GetFlag(FLAGS_hidden)) {
    int width = 0;
    if (!absl::SimpleAtoi(h, &width)) {
      std::fprintf(stderr, "--hidden: not a width: %s\n", h.c_str());
      return 1;
    }
    base.hidden.push_back(width);
  }
  const int rows = absl::GetFlag(FLAGS_batch);
  const double min_time_s = absl::GetFlag(FLAGS_min_time_s);
  const std::vector<CtrBatch> batches =
      MakeBatches(4, rows, base.fields, base.dense_dim, absl::GetFlag(FLAGS_vocab));
  std::printf("ctr model step on %s\n", (*backend)->description().c_str());
  std::printf("batch %d, %d fields, %d dense, dim %d, hidden %s\n", rows, base.fields,
              base.dense_dim, base.dim, absl::StrJoin(absl::GetFlag(FLAGS_hidden), ",").c_str());
  // Key de-duplication alone: UniqueKeys against an absl::flat_hash_map cleared per batch.
  {
    UniqueKeys unique;
    absl::flat_hash_map<uint64_t, int32_t> map;
    std::vector<uint64_t> order;
    std::vector<int32_t> index;
    size_t check = 0;
    const double ours = Time(
        [&](int i) {
          unique.Build(batches[i % batches.size()].keys);
          check += unique.keys().size();
        },
        min_time_s);
    const double absl_map = Time(
        [&](int i) {
          const std::vector<uint64_t>& keys = batches[i % batches.size()].keys;
          map.clear();
          order.clear();
          index.resize(keys.size());
          for (size_t j = 0; j < keys.size(); ++j) {
            auto [it, inserted] = map.try_emplace(keys[j], static_cast<int32_t>(order.size()));
            if (inserted) order.push_back(keys[j]);
            index[j] = it->second;
          }
          check += order.size();
        },
        min_time_s);
    const double keys = static_cast<double>(batches[0].keys.size());
    std::printf("de-duplication: UniqueKeys %.1f M keys/s, absl::flat_hash_map %.1f M keys/s%s\n",
                keys / ours / 1e6, keys / absl_map / 1e6, check == 0 ? " (?)" : "");
  }
  std::printf("%-8s %10s %12s %14s %14s %14s\n", "model", "unique", "row floats", "SetBatch r/s",
              "TrainStep r/s", "both r/s");
  for (CtrModelType type : {CtrModelType::kLogreg, CtrModelType::kFm, CtrModelType::kDlrm}) {
    CtrModelConfig c = base;
    c.type = type;
    auto model = CtrModel::Create(c, backend->get());
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    CtrModel& m = **model;
    std::mt19937_64 rng(2);
    std::uniform_real_distribution<float> small(-0.05f, 0.05f);
    for (int t = 0; t < m.num_dense(); ++t) {
      for (float& x : m.dense_param(t)) x = small(rng);
    }
    bool ok = true;
    const double set_s =
        Time([&](int i) { ok = ok && m.SetBatch(batches[i % batches.size()]).ok(); }, min_time_s);
    double unique = 0;
    for (const CtrBatch& b : batches) {
      ok = ok && m.SetBatch(b).ok();
      unique += static_cast<double>(m.unique_keys().size()) / batches.size();
    }
    for (float& x : m.rows()) x = small(rng);
    const double step_s = Time([&](int) { ok = ok && m.TrainStep().ok(); }, min_time_s);
    if (!ok) {
      std::fprintf(stderr, "%s: a step failed\n", std::string(CtrModelTypeName(type)).c_str());
      return 1;
    }
    std::printf("%-8s %10.0f %12d %14.0f %14.0f %14.0f\n",
                std::string(CtrModelTypeName(type)).c_str(), unique, m.row_dim(), rows / set_s,
                rows / step_s, rows / (set_s + step_s));
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
