// Cost of the sparse tables' checkpoints (server/table_checkpoint.h): fills a table with --rows
// rows, then prints the time to copy every row (a full checkpoint's pause, under the table's
// locks), to copy the rows changed after updating --changed_fraction of them (an incremental
// one), to write each file (fsynced, in --dir) and its bytes, and to read the chain back.
#include "server/table_checkpoint.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "server/embedding_table.h"

ABSL_FLAG(int64_t, rows, 2000000, "Rows in the table.");
ABSL_FLAG(int, dim, 16, "Floats per row.");
ABSL_FLAG(double, changed_fraction, 0.01, "Rows updated between the full and the incremental.");
ABSL_FLAG(std::string, dir, "/tmp/psd_table_checkpoint_bench", "Where the files go (removed).");

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t KeyOf(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// What SparseStore copies for a checkpoint.
psd::TableSnapshot Copy(psd::EmbeddingTable& t, bool full, int64_t step, int64_t base) {
  psd::TableSnapshot s;
  s.header.job_id = "bench";
  s.header.step = step;
  s.header.num_servers = 1;
  s.header.dim = t.dim();
  s.header.slots = psd::RowOptimizerSlots(t.options().optimizer.type) * t.dim();
  s.header.full = full;
  s.header.base_step = base;
  if (!full) s.deleted = t.EvictedSinceCheckpoint();
  const size_t guess = full ? static_cast<size_t>(t.stats().rows) : 0;
  s.keys.reserve(guess);
  s.values.reserve(guess * s.header.dim);
  s.slots.reserve(guess * s.header.slots);
  s.updates.reserve(guess);
  t.ForEachRow(
      !full, [&](uint64_t key, absl::Span<const float> v, absl::Span<const float> sl, uint32_t u) {
        s.keys.push_back(key);
        s.values.insert(s.values.end(), v.begin(), v.end());
        s.slots.insert(s.slots.end(), sl.begin(), sl.end());
        s.updates.push_back(u);
      });
  t.MarkCheckpointed();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  psd::TableOptions o;
  o.dim = absl::GetFlag(FLAGS_dim);
  o.optimizer.type = psd::RowOptimizerType::kAdagrad;
  auto made = psd::EmbeddingTable::Create(o);
  if (!made.ok()) return 1;
  psd::EmbeddingTable& t = **made;
  const int batch = 4096;
  std::vector<uint64_t> keys(batch);
  std::vector<float> buf(static_cast<size_t>(batch) * o.dim, 0.01f);
  for (int64_t i = 0; i < rows; i += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, rows - i));
    for (int j = 0; j < n; ++j) keys[j] = KeyOf(i + j);
    t.Apply(absl::MakeConstSpan(keys.data(), n), absl::MakeConstSpan(buf.data(), n * o.dim), 1.0,
            0);
  }
  std::printf("table: %lld rows, dim %d, adagrad (%lld raw bytes per row)\n",
              static_cast<long long>(t.stats().rows), o.dim,
              static_cast<long long>(t.raw_row_bytes()));
  auto report = [&](const char* what, bool full, int64_t step, int64_t base) {
    auto t0 = std::chrono::steady_clock::now();
    const psd::TableSnapshot s = Copy(t, full, step, base);
    const double copy = Seconds(t0);
    t0 = std::chrono::steady_clock::now();
    auto info =
        psd::WriteTableFile(psd::CheckpointTableFile(absl::StrCat(dir, "/bench/", step), 0), s);
    const double write = Seconds(t0);
    if (!info.ok()) {
      std::fprintf(stderr, "%s\n", info.status().ToString().c_str());
      std::exit(1);
    }
    std::printf("%-12s %9zu rows: copy %8.1f ms (%6.0f ns/row), write %8.1f ms, %9.1f MiB\n", what,
                s.keys.size(), copy * 1e3, copy * 1e9 / std::max<size_t>(1, s.keys.size()),
                write * 1e3, info->bytes / 1048576.0);
  };
  report("full", true, 1, 0);
  const int64_t changed = static_cast<int64_t>(rows * absl::GetFlag(FLAGS_changed_fraction));
  for (int64_t i = 0; i < changed; i += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, changed - i));
    for (int j = 0; j < n; ++j) keys[j] = KeyOf((i + j) * (rows / std::max<int64_t>(1, changed)));
    t.Apply(absl::MakeConstSpan(keys.data(), n), absl::MakeConstSpan(buf.data(), n * o.dim), 1.0,
            1);
  }
  report("incremental", false, 2, 1);
  {
    const auto t1 = std::chrono::steady_clock::now();
    auto file = psd::ReadTableFile(psd::CheckpointTableFile(dir + "/bench/1", 0));
    std::printf("read full    %9zu rows: %8.1f ms\n", file.ok() ? file->keys.size() : 0,
                Seconds(t1) * 1e3);
  }
  psd::TableExpectation e{"bench", 0, 1, o.dim, o.dim};
  const auto t0 = std::chrono::steady_clock::now();
  auto chain = psd::ReadTableChain(dir + "/bench", 2, e);
  if (!chain.ok()) {
    std::fprintf(stderr, "%s\n", chain.status().ToString().c_str());
    return 1;
  }
  std::printf("read chain   %9zu rows: %8.1f ms\n", chain->keys.size(), Seconds(t0) * 1e3);
  std::filesystem::remove_all(dir);
  return 0;
}
