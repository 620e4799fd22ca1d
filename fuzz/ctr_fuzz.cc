// libFuzzer target: the click-through-rate readers (worker/ctr_reader.h): the Criteo and
// libsvm line parsers, and the streaming reader over plain or gzip files in every shard.
// A line parses to exactly one well-formed row or to a bad row naming a column, with the batch
// as it was; over all shards, every line is a row or a skipped row exactly once.
//
// Input: byte 0 picks the mode (mod 4): 0, the rest is Criteo lines (13 integer, 26
// categorical); 1, the rest is libsvm lines; 2, bytes 1-3 set the buffer, shard count and
// format, the rest is one file (gzip if it starts with the magic bytes); 3, as 2, but the
// harness gzip-compresses the file (so that mutations reach the line splitter through zlib).
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fuzz/fuzz_util.h"
#include "worker/criteo_reader.h"
#include "worker/ctr_batch.h"
#include "worker/ctr_reader.h"
#include "worker/libsvm_reader.h"

namespace {

void WriteGzipOrDie(const std::string& path, absl::string_view bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr || (!bytes.empty() &&
                       gzwrite(f, bytes.data(), bytes.size()) != static_cast<int>(bytes.size()))) {
    std::fprintf(stderr, "psd fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  gzclose(f);
}

void CheckWellFormed(const psd::CtrBatch& b) {
  FUZZ_CHECK(static_cast<int64_t>(b.row_offsets.size()) == b.rows() + 1);
  FUZZ_CHECK(b.row_offsets.back() == static_cast<int64_t>(b.keys.size()));
  FUZZ_CHECK(b.keys.size() == b.values.size());
  FUZZ_CHECK(static_cast<int64_t>(b.dense.size()) == b.rows() * b.dense_dim);
  for (float y : b.labels) FUZZ_CHECK(y == 0.0f || y == 1.0f);
}

void ParseLines(absl::string_view text, bool criteo) {
  const psd::CriteoLayout layout;
  psd::CtrBatch batch;
  batch.dense_dim = criteo ? layout.dense : 0;
  psd::BadRow bad;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const int64_t rows = batch.rows();
    const size_t keys = batch.keys.size();
    const bool ok = criteo ? psd::ParseCriteoLine(line, layout, &batch, &bad)
                           : psd::ParseLibsvmLine(line, &batch, &bad);
    CheckWellFormed(batch);
    if (ok) {
      FUZZ_CHECK(batch.rows() == rows + 1);
      if (criteo) {
        FUZZ_CHECK(batch.keys.size() == keys + layout.categorical);
        for (int f = 0; f < layout.categorical; ++f) {
          FUZZ_CHECK(psd::CriteoKeyField(batch.keys[keys + f]) == f);
        }
      }
    } else {
      FUZZ_CHECK(batch.rows() == rows && batch.keys.size() == keys);
      FUZZ_CHECK(bad.column >= 1 && !bad.message.empty());
      if (criteo) FUZZ_CHECK(bad.column <= layout.columns() + 1);
    }
  }
}

void ReadFile(const std::string& path, absl::string_view text, uint8_t buffer, uint8_t shards,
              bool criteo, bool must_read) {
  // The lines the file holds: its '\n's, and a last line without one.
  int64_t lines = std::count(text.begin(), text.end(), '\n');
  if (!text.empty() && text.back() != '\n') ++lines;
  psd::CtrReaderOptions o;
  o.format = criteo ? psd::CtrFormat::kCriteo : psd::CtrFormat::kLibsvm;
  o.criteo = psd::CriteoLayout{2, 3};
  o.bad_rows = psd::BadRowPolicy::kSkip;
  o.lines.buffer_bytes = 1 + buffer % 64;
  o.lines.max_line_bytes = 128;
  o.lines.shard_count = 1 + shards % 3;
  int64_t seen = 0;
  for (int w = 0; w < o.lines.shard_count; ++w) {
    o.lines.shard_index = w;
    absl::StatusOr<std::unique_ptr<psd::CtrReader>> reader = psd::CtrReader::Open({path}, o);
    FUZZ_CHECK(reader.ok(), reader.status().ToString());
    psd::CtrBatch batch;
    while (true) {
      absl::StatusOr<int64_t> n = (*reader)->Next(5, &batch);
      if (!n.ok()) {
        FUZZ_CHECK(!must_read, n.status().ToString());
        FUZZ_CHECK(!n.status().message().empty());
        return;
      }
      CheckWellFormed(batch);
      FUZZ_CHECK(*n == batch.rows() && *n <= 5);
      if (*n == 0) break;
    }
    seen += (*reader)->rows_read() + (*reader)->skipped();
  }
  if (must_read) FUZZ_CHECK(seen == lines, absl::StrCat(seen, " rows of ", lines, " lines"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  psd::fuzz::Input in(data, size);
  const int mode = in.Byte() % 4;
  if (mode <= 1) {
    ParseLines(in.Rest(), mode == 0);
    return 0;
  }
  const uint8_t buffer = in.Byte(), shards = in.Byte(), format = in.Byte();
  const absl::string_view text = in.Rest();
  const std::string path = psd::fuzz::ScratchDir() + "/ctr.txt";
  const bool gzip_magic = text.size() >= 2 && text[0] == '\x1f' && text[1] == '\x8b';
  if (mode == 2) {
    psd::fuzz::WriteFileOrDie(path, text);
    ReadFile(path, text, buffer, shards, format % 2 == 0, !gzip_magic);
  } else {
    WriteGzipOrDie(path, text);
    ReadFile(path, text, buffer, shards, format % 2 == 0, true);
  }
  return 0;
}
