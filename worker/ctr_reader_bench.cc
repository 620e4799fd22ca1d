// Rows per second of the click-through-rate reader over the files given (plain or gzip), one
// worker, batches of 4096, three passes; prints each pass and the best. Make data with
// `psd-datagen ctr` (docs/sparse.md). Usage: ctr_reader_bench [--libsvm] FILE...
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "worker/ctr_reader.h"

int main(int argc, char** argv) {
  psd::CtrReaderOptions options;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--libsvm") {
      options.format = psd::CtrFormat::kLibsvm;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: ctr_reader_bench [--libsvm] FILE...\n");
    return 2;
  }
  double bytes = 0;
  for (const std::string& f : files) {
    struct stat st;
    if (::stat(f.c_str(), &st) == 0) bytes += static_cast<double>(st.st_size);
  }
  double best = 0;
  for (int pass = 0; pass < 3; ++pass) {
    auto reader = psd::CtrReader::Open(files, options);
    if (!reader.ok()) {
      std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
      return 1;
    }
    psd::CtrBatch batch;
    int64_t keys = 0;
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      absl::StatusOr<int64_t> n = (*reader)->Next(4096, &batch);
      if (!n.ok()) {
        std::fprintf(stderr, "%s\n", n.status().ToString().c_str());
        return 1;
      }
      if (*n == 0) break;
      keys += static_cast<int64_t>(batch.keys.size());
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rows = static_cast<double>((*reader)->rows_read());
    std::printf("pass %d: %.0f rows (%lld keys) in %.3f s: %.0f rows/s, %.1f MB/s of file\n",
                pass + 1, rows, static_cast<long long>(keys), s, rows / s, bytes / s / 1e6);
    if (rows / s > best) best = rows / s;
  }
  std::printf("best: %.0f rows/s\n", best);
  return 0;
}
