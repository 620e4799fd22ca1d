// Memory and speed of server/embedding_table: inserts --rows rows, then prints the table's bytes
// per row and the process's RSS growth per row against the raw row bytes, and lookup/apply rows/s
// with 1 and 2 threads. --compare_flat_hash_map also measures an absl::flat_hash_map<u64, u32>
// index of as many keys, the alternative the table's own index replaces.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "server/embedding_table.h"

ABSL_FLAG(int64_t, rows, 10000000, "Rows to insert.");
ABSL_FLAG(int, dim, 16, "Floats per row.");
ABSL_FLAG(std::string, optimizer, "adagrad", "sgd, adagrad, lazy_adam or ftrl.");
ABSL_FLAG(int, shards, 64, "Table shards.");
ABSL_FLAG(int, batch, 1024, "Keys per Lookup/Apply call.");
ABSL_FLAG(int64_t, ops, 2000000, "Rows each speed test looks up or updates (per thread).");
ABSL_FLAG(bool, compare_flat_hash_map, true,
          "Also measure a flat_hash_map<uint64_t, uint32_t> of --rows keys.");

namespace {

int64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

uint64_t KeyOf(uint64_t i) {  // distinct 64-bit keys (splitmix64 is a bijection)
  uint64_t z = i + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Rows per second of `threads` threads each running `ops` rows of lookups (or applies) of random
// stored keys in batches.
double Speed(psd::EmbeddingTable& t, int threads, bool apply, int64_t rows, int64_t ops, int batch,
             int64_t step) {
  const int dim = t.dim();
  std::vector<std::thread> pool;
  const auto t0 = std::chrono::steady_clock::now();
  for (int w = 0; w < threads; ++w) {
    pool.emplace_back([&, w] {
      std::vector<uint64_t> keys(batch);
      std::vector<float> buf(static_cast<size_t>(batch) * dim, 0.001f);
      uint64_t x = 1000003ULL * (w + 1) + (apply ? 17 : 0);
      for (int64_t done = 0; done < ops; done += batch) {
        for (int i = 0; i < batch; ++i) {
          // Distinct within a batch: consecutive indices of a random start, spread by KeyOf.
          keys[i] = KeyOf((x + static_cast<uint64_t>(i)) % static_cast<uint64_t>(rows));
        }
        x = KeyOf(x) % static_cast<uint64_t>(rows);
        if (apply)
          t.Apply(keys, buf, 1.0, step);
        else
          t.Lookup(keys, step, absl::MakeSpan(buf));
      }
    });
  }
  for (std::thread& th : pool) th.join();
  return static_cast<double>(ops) * threads / Seconds(t0);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  psd::TableOptions o;
  o.dim = absl::GetFlag(FLAGS_dim);
  o.num_shards = absl::GetFlag(FLAGS_shards);
  const std::string opt = absl::GetFlag(FLAGS_optimizer);
  if (opt == "sgd") {
    o.optimizer.type = psd::RowOptimizerType::kSgd;
  } else if (opt == "adagrad") {
    o.optimizer.type = psd::RowOptimizerType::kAdagrad;
  } else if (opt == "lazy_adam") {
    o.optimizer.type = psd::RowOptimizerType::kLazyAdam;
  } else if (opt == "ftrl") {
    o.optimizer.type = psd::RowOptimizerType::kFtrl;
  } else {
    std::fprintf(stderr, "--optimizer=%s: want sgd, adagrad, lazy_adam or ftrl\n", opt.c_str());
    return 2;
  }
  o.eviction = psd::EvictionPolicy::kNone;
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int64_t ops = absl::GetFlag(FLAGS_ops);
  if (rows < 1 || batch < 1 || batch > rows) {
    std::fprintf(stderr, "--rows must be >= 1 and --batch in [1, rows]\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<psd::EmbeddingTable>> made = psd::EmbeddingTable::Create(o);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
    return 2;
  }
  psd::EmbeddingTable& t = **made;

  std::vector<uint64_t> keys(batch);
  std::vector<float> out(static_cast<size_t>(batch) * o.dim);
  const int64_t rss0 = RssBytes();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t base = 0; base < rows; base += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, rows - base));
    for (int i = 0; i < n; ++i) keys[i] = KeyOf(base + i);
    t.Lookup(absl::MakeConstSpan(keys.data(), n), 0, absl::MakeSpan(out.data(), n * o.dim));
  }
  const double insert_s = Seconds(t0);
  const int64_t rss1 = RssBytes();
  const psd::TableStats s = t.stats();
  const double raw = static_cast<double>(t.raw_row_bytes());
  const double table_per_row = static_cast<double>(s.memory_bytes) / s.rows;
  const double rss_per_row = static_cast<double>(rss1 - rss0) / s.rows;

  std::printf("table_memory: dim %d, optimizer %s, %d shards, batch %d\n", o.dim, opt.c_str(),
              o.num_shards, batch);
  std::printf("rows                      %lld\n", static_cast<long long>(s.rows));
  std::printf("raw bytes/row             %.1f  (key 8 + values + optimizer slots%s)\n", raw,
              psd::RowOptimizerKeepsUpdates(o.optimizer.type) ? " + update count 4" : "");
  std::printf("stored bytes/row (arena)  %lld  (raw + u32 use count + u32 last step)\n",
              static_cast<long long>(t.stored_row_bytes()));
  std::printf("memory_bytes/row          %.1f  (%.3fx raw)\n", table_per_row, table_per_row / raw);
  std::printf("RSS growth/row            %.1f  (%.3fx raw)\n", rss_per_row, rss_per_row / raw);
  std::printf("memory_bytes total        %.1f MB, RSS growth %.1f MB\n", s.memory_bytes / 1e6,
              (rss1 - rss0) / 1e6);
  std::printf("insert (lookup creating)  %.2f M rows/s\n", s.rows / insert_s / 1e6);
  for (int threads : {1, 2}) {
    const double lookup = Speed(t, threads, false, rows, ops, batch, 1);
    const double apply = Speed(t, threads, true, rows, ops, batch, 1);
    std::printf("%d thread%s: lookup %.2f M rows/s, apply %.2f M rows/s\n", threads,
                threads > 1 ? "s" : "", lookup / 1e6, apply / 1e6);
  }
  std::printf("cores online              %ld\n", sysconf(_SC_NPROCESSORS_ONLN));

  if (absl::GetFlag(FLAGS_compare_flat_hash_map)) {
    const int64_t r0 = RssBytes();
    absl::flat_hash_map<uint64_t, uint32_t> index;
    for (int64_t i = 0; i < rows; ++i) index.emplace(KeyOf(i) ^ 1, static_cast<uint32_t>(i));
    const int64_t r1 = RssBytes();
    std::printf(
        "flat_hash_map<u64,u32>    %.1f bytes/entry RSS (capacity %zu, load %.2f); the table's "
        "index + arena slack: %.1f bytes/row\n",
        static_cast<double>(r1 - r0) / rows, index.capacity(),
        static_cast<double>(index.size()) / index.capacity(),
        table_per_row - static_cast<double>(t.stored_row_bytes()));
  }
  return 0;
}
