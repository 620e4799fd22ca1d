// The streaming reader: plain and gzip files, batches across files, the bad-row policy,
// sharding, lines longer than the buffer and than the line limit.
#include "worker/ctr_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing.h"

namespace psd {
namespace {

using Catch::Matchers::Contains;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

std::string WriteFile(const std::string& name, const std::string& bytes) {
  const std::string path = TmpDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

std::string WriteGzip(const std::string& name, const std::string& bytes) {
  const std::string path = TmpDir() + "/" + name;
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), bytes.size()) == (int)bytes.size());
  gzclose(f);
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A Criteo row (layout 2 integer, 3 categorical) whose first hash is `id`.
std::string CriteoRow(int id) {
  return absl::StrCat(id % 3 == 0 ? 1 : 0, "\t", id, "\t\t", absl::Hex(id), "\t\tabc\n");
}

CtrReaderOptions Criteo23() {
  CtrReaderOptions o;
  o.criteo = CriteoLayout{2, 3};
  return o;
}

// Every row of a reader, as the first key's hash (Criteo) or first key (libsvm).
std::vector<uint64_t> ReadIds(CtrReader* reader, int64_t batch_rows = 7) {
  std::vector<uint64_t> ids;
  CtrBatch batch;
  while (true) {
    absl::StatusOr<int64_t> n = reader->Next(batch_rows, &batch);
    REQUIRE(n.ok());
    if (*n == 0) break;
    REQUIRE(batch.row_offsets.size() == static_cast<size_t>(*n) + 1);
    for (int64_t r = 0; r < *n; ++r) {
      REQUIRE(batch.row_offsets[r + 1] > batch.row_offsets[r]);
      ids.push_back(CriteoKeyHash(batch.keys[batch.row_offsets[r]]));
    }
  }
  return ids;
}

TEST_CASE("Plain and gzip files read alike, told apart by their bytes") {
  std::string text;
  for (int i = 0; i < 50; ++i) text += CriteoRow(i);
  // Names that lie: the gzip file has no .gz, the plain one has.
  const std::string gz = WriteGzip("criteo_gz.txt", text);
  const std::string plain = WriteFile("criteo_plain.gz", text);
  for (const std::string& path : {gz, plain}) {
    auto reader = CtrReader::Open({path}, Criteo23());
    REQUIRE(reader.ok());
    CtrBatch batch;
    auto n = (*reader)->Next(1000, &batch);
    REQUIRE(n.ok());
    REQUIRE(*n == 50);
    CHECK(batch.dense_dim == 2);
    CHECK(batch.dense.size() == 100);
    CHECK(batch.keys.size() == 150);
    CHECK(batch.labels[3] == 1.0f);
    CHECK(batch.labels[4] == 0.0f);
    CHECK(batch.keys[3 * 4] == CriteoKey(0, 4));
    CHECK(batch.keys[3 * 4 + 1] == CriteoMissingKey(1));
    CHECK(batch.keys[3 * 4 + 2] == CriteoKey(2, 0xabc));
    CHECK(batch.dense[2 * 4 + 1] == 0.0f);  // empty integer
    CHECK(*(*reader)->Next(1000, &batch) == 0);
    CHECK(batch.rows() == 0);
    CHECK((*reader)->rows_read() == 50);
  }
}

TEST_CASE("Batches run across files; the last line may lack its newline; Rewind") {
  const std::string a = WriteFile("multi_a.txt", CriteoRow(0) + CriteoRow(1));
  const std::string empty = WriteFile("multi_empty.txt", "");
  std::string c_text = CriteoRow(2) + CriteoRow(3) + CriteoRow(4);
  c_text.pop_back();  // no final '\n'
  const std::string c = WriteGzip("multi_c.txt", c_text);
  const std::string crlf = WriteFile("multi_crlf.txt", "1\t5\t6\t5\t\t\r\n");
  auto reader = CtrReader::Open({a, empty, c, crlf}, Criteo23());
  REQUIRE(reader.ok());
  CHECK(ReadIds(reader->get(), 3) == std::vector<uint64_t>{0, 1, 2, 3, 4, 5});
  REQUIRE((*reader)->Rewind().ok());
  CHECK(ReadIds(reader->get(), 2) == std::vector<uint64_t>{0, 1, 2, 3, 4, 5});
  CHECK((*reader)->rows_read() == 12);
}

TEST_CASE("kError: a bad row is an error naming file, line and column") {
  const std::string good = WriteFile("err_good.txt", CriteoRow(0));
  const std::string bad =
      WriteFile("err_bad.txt", CriteoRow(1) + CriteoRow(2) + "1\t2\t3\tzz\t\t\n" + CriteoRow(4));
  auto reader = CtrReader::Open({good, bad}, Criteo23());
  REQUIRE(reader.ok());
  CtrBatch batch;
  auto n = (*reader)->Next(100, &batch);
  REQUIRE(!n.ok());
  CHECK(n.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(n.status().message() == bad + ":3: column 4: not a hex hash: 'zz'");
  CHECK(batch.rows() == 0);

  CtrReaderOptions svm;
  svm.format = CtrFormat::kLibsvm;
  const std::string s = WriteFile("err.svm", "1 1:1\n0 2:x\n");
  auto r2 = CtrReader::Open({s}, svm);
  REQUIRE(r2.ok());
  auto n2 = (*r2)->Next(100, &batch);
  REQUIRE(!n2.ok());
  CHECK(n2.status().message() == s + ":2: column 2: not a finite number: '2:x'");
}

TEST_CASE("kSkip: bad rows are skipped and counted per reason") {
  const std::string path = WriteFile(
      "skip.txt", CriteoRow(0) + "\n" + "1\t2\n" + "3\t1\t1\t1\t1\t1\n" + "1\tx\t1\t1\t1\t1\n" +
                      "1\t1\t1\tq\t1\t1\n" + CriteoRow(6) + "1\t1\t1\tq\t1\t1\n");
  CtrReaderOptions o = Criteo23();
  o.bad_rows = BadRowPolicy::kSkip;
  auto reader = CtrReader::Open({path}, o);
  REQUIRE(reader.ok());
  CHECK(ReadIds(reader->get()) == std::vector<uint64_t>{0, 6});
  CtrReader& r = **reader;
  CHECK(r.skipped() == 6);
  CHECK(r.skipped(BadRowReason::kEmptyLine) == 1);
  CHECK(r.skipped(BadRowReason::kColumnCount) == 1);
  CHECK(r.skipped(BadRowReason::kBadLabel) == 1);
  CHECK(r.skipped(BadRowReason::kBadInteger) == 1);
  CHECK(r.skipped(BadRowReason::kBadHash) == 2);
  CHECK(r.skipped(BadRowReason::kBadIndex) == 0);
  CHECK(r.first_skipped() == path + ":2: column 1: empty line");
}

// Each row a libsvm line "label id:1"; some bad rows between.
struct ShardFiles {
  std::vector<std::string> paths;
  std::vector<uint64_t> ids;  // the good rows
  int bad = 0;
};

ShardFiles MakeShardFiles(const std::string& prefix, int files) {
  ShardFiles f;
  uint64_t id = 0;
  for (int k = 0; k < files; ++k) {
    std::string text;
    const int rows = (k * 7) % 5 + (k == 1 ? 0 : 3);  // uneven; file 1 may be short
    for (int i = 0; i < rows; ++i, ++id) {
      if (id % 4 == 3) {
        text += "bad\n";
        ++f.bad;
      } else {
        text += absl::StrCat(id % 2, " ", id, ":1\n");
        f.ids.push_back(id);
      }
    }
    const std::string name = absl::StrCat(prefix, k, ".svm");
    f.paths.push_back(k % 2 == 0 ? WriteGzip(name, text) : WriteFile(name, text));
  }
  return f;
}

TEST_CASE("Sharding gives every row to exactly one worker") {
  for (ShardMode mode : {ShardMode::kLines, ShardMode::kFiles}) {
    const ShardFiles f = MakeShardFiles(mode == ShardMode::kLines ? "shl" : "shf", 5);
    for (int workers : {1, 2, 3, 5, 7}) {
      std::map<uint64_t, int> seen;
      int64_t skipped = 0;
      for (int w = 0; w < workers; ++w) {
        CtrReaderOptions o;
        o.format = CtrFormat::kLibsvm;
        o.bad_rows = BadRowPolicy::kSkip;
        o.lines.shard_mode = mode;
        o.lines.shard_index = w;
        o.lines.shard_count = workers;
        auto reader = CtrReader::Open(f.paths, o);
        REQUIRE(reader.ok());
        std::vector<uint64_t> ids = ReadIds(reader->get(), 2);
        for (uint64_t id : ids) {
          ++seen[id];
          if (mode == ShardMode::kLines) {
            // Line i (over all files, bad lines counted) goes to worker i mod W; the ids
            // here are line numbers.
            CHECK(static_cast<int>(id % workers) == w);
          }
        }
        skipped += (*reader)->skipped();
      }
      INFO("mode " << static_cast<int>(mode) << ", workers " << workers);
      CHECK(seen.size() == f.ids.size());
      for (uint64_t id : f.ids) CHECK(seen[id] == 1);
      CHECK(skipped == f.bad);
    }
  }
}

TEST_CASE("A file much bigger than the read buffer, lines across its edges") {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += CriteoRow(i);
  const std::string plain = WriteFile("big.txt", text);
  const std::string gz = WriteGzip("big.txt.gz", text);
  for (size_t buffer : {size_t{1}, size_t{7}, size_t{64}, size_t{4096}}) {
    for (const std::string& path : {plain, gz}) {
      CtrReaderOptions o = Criteo23();
      o.lines.buffer_bytes = buffer;
      o.lines.max_line_bytes = 64;
      auto reader = CtrReader::Open({path}, o);
      REQUIRE(reader.ok());
      std::vector<uint64_t> ids = ReadIds(reader->get(), 1000);
      REQUIRE(ids.size() == 3000);
      CHECK((*reader)->buffer_capacity() <= std::max<size_t>(buffer, 65));  // not the file
      for (int i = 0; i < 3000; ++i) CHECK(ids[i] == static_cast<uint64_t>(i));
    }
  }
}

TEST_CASE("A line longer than max_line_bytes is a bad row, not held") {
  const std::string long_hash(200, 'a');
  const std::string text = CriteoRow(0) + "1\t1\t1\t" + long_hash + "\t\t\n" + CriteoRow(2) +
                           "0\t" + std::string(500, '1');  // long, last, no newline
  const std::string path = WriteFile("long.txt", text);
  CtrReaderOptions o = Criteo23();
  o.lines.buffer_bytes = 16;
  o.lines.max_line_bytes = 64;
  {
    auto reader = CtrReader::Open({path}, o);
    REQUIRE(reader.ok());
    CtrBatch batch;
    auto n = (*reader)->Next(10, &batch);
    REQUIRE(!n.ok());
    CHECK(n.status().message() == path + ":2: column 1: line longer than 64 bytes");
  }
  o.bad_rows = BadRowPolicy::kSkip;
  auto reader = CtrReader::Open({path}, o);
  REQUIRE(reader.ok());
  CHECK(ReadIds(reader->get()) == std::vector<uint64_t>{0, 2});
  CHECK((*reader)->skipped(BadRowReason::kLineTooLong) == 2);
  CHECK((*reader)->buffer_capacity() <= 65);  // the long lines were not held
}

TEST_CASE("Files that cannot be read are errors naming them") {
  CtrReaderOptions o = Criteo23();
  auto missing = CtrReader::Open({TmpDir() + "/no_such_file"}, o);
  REQUIRE(!missing.ok());
  CHECK_THAT(std::string(missing.status().message()),
             Contains("no_such_file: cannot open: No such file or directory"));
  auto dir = CtrReader::Open({TmpDir()}, o);
  REQUIRE(!dir.ok());
  CHECK_THAT(std::string(dir.status().message()), Contains(": is a directory"));
  CHECK(!CtrReader::Open({}, o).ok());
  o.lines.shard_index = 2;
  o.lines.shard_count = 2;
  CHECK(!CtrReader::Open({TmpDir()}, o).ok());

  std::string text;
  for (int i = 0; i < 2000; ++i) text += CriteoRow(i);
  const std::string gz = ReadAll(WriteGzip("whole.gz", text));
  const std::string truncated = WriteFile("truncated.gz", gz.substr(0, gz.size() / 2));
  auto r = CtrReader::Open({truncated}, Criteo23());
  REQUIRE(r.ok());
  CtrBatch batch;
  absl::Status last;
  while (true) {
    auto n = (*r)->Next(100, &batch);
    if (!n.ok()) {
      last = n.status();
      break;
    }
    if (*n == 0) break;
  }
  CHECK_THAT(std::string(last.message()), Contains("truncated.gz: truncated gzip file"));

  std::string corrupt_bytes = gz;
  for (size_t i = 20; i < 60; ++i) corrupt_bytes[i] = '\xff';
  const std::string corrupt = WriteFile("corrupt.gz", corrupt_bytes);
  auto c = CtrReader::Open({corrupt}, Criteo23());
  REQUIRE(c.ok());
  auto n = (*c)->Next(100, &batch);
  REQUIRE(!n.ok());
  CHECK_THAT(std::string(n.status().message()), Contains("corrupt.gz: not a valid gzip file"));
}

}  // namespace
}  // namespace psd
