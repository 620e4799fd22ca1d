#include "server/table_checkpoint.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "server/checkpoint.h"
#include "server/embedding_table.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

TableSnapshot Sample(size_t rows, int dim, int slots, size_t deleted) {
  TableSnapshot s;
  s.header.job_id = "job-1";
  s.header.step = 20;
  s.header.rank = 1;
  s.header.num_servers = 3;
  s.header.dim = dim;
  s.header.slots = slots;
  s.header.full = deleted == 0;
  s.header.base_step = deleted == 0 ? 0 : 10;
  for (size_t i = 0; i < rows; ++i) {
    s.keys.push_back(i * 0x9E3779B97F4A7C15ULL + 3);
    for (int e = 0; e < dim; ++e) s.values.push_back(0.25f * e - static_cast<float>(i));
    for (int e = 0; e < slots; ++e) s.slots.push_back(1.0f + e + i);
    s.updates.push_back(static_cast<uint32_t>(i % 7));
  }
  for (size_t i = 0; i < deleted; ++i) s.deleted.push_back(1000 + 2 * i);
  return s;
}

void CheckSame(const TableSnapshot& a, const TableSnapshot& b) {
  CHECK(a.header.job_id == b.header.job_id);
  CHECK(a.header.step == b.header.step);
  CHECK(a.header.rank == b.header.rank);
  CHECK(a.header.num_servers == b.header.num_servers);
  CHECK(a.header.dim == b.header.dim);
  CHECK(a.header.slots == b.header.slots);
  CHECK(a.header.full == b.header.full);
  CHECK(a.header.base_step == b.header.base_step);
  CHECK(a.keys == b.keys);
  CHECK(a.values == b.values);
  CHECK(a.slots == b.slots);
  CHECK(a.updates == b.updates);
  CHECK(a.deleted == b.deleted);
}

void FlipByte(const std::string& path, int64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  char c = 0;
  f.read(&c, 1);
  c ^= 0x20;
  f.seekp(at);
  f.write(&c, 1);
}

TEST_CASE("table files round trip, full and incremental, over several blocks",
          "[table_checkpoint]") {
  const std::string dir = testing::MakeTempDir("table_roundtrip");
  for (const auto& [rows, slots, deleted] : std::vector<std::tuple<size_t, int, size_t>>{
           {0, 0, 0}, {5, 0, 0}, {10000, 8, 0}, {4096, 16, 5000}, {0, 8, 3}}) {
    const TableSnapshot s = Sample(rows, 8, slots, deleted);
    const std::string path = absl::StrCat(dir, "/t-", rows, "-", slots, "-", deleted);
    absl::StatusOr<TableFileInfo> info = WriteTableFile(path, s);
    REQUIRE(info.ok());
    CHECK(info->bytes == static_cast<int64_t>(fs::file_size(path)));
    absl::StatusOr<TableSnapshot> back = ReadTableFile(path);
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    CheckSame(*back, s);
    CHECK(back->header.rows == rows);
    CHECK(back->header.deleted == deleted);
    absl::StatusOr<TableFileHeader> h = ReadTableFileHeader(path);
    REQUIRE(h.ok());
    CHECK(h->rows == rows);
    CHECK(h->full == (deleted == 0));
  }
  // Sizes that do not match dim and slots are refused.
  TableSnapshot bad = Sample(3, 4, 4, 0);
  bad.values.pop_back();
  CHECK(absl::IsInvalidArgument(WriteTableFile(dir + "/bad", bad).status()));
  CHECK_FALSE(fs::exists(dir + "/bad"));
}

TEST_CASE("a damaged table file is detected and named", "[table_checkpoint]") {
  const std::string dir = testing::MakeTempDir("table_damaged");
  const std::string path = dir + "/server-1.table";
  const TableSnapshot s = Sample(5000, 4, 4, 10);
  REQUIRE(WriteTableFile(path, s).ok());
  const int64_t size = static_cast<int64_t>(fs::file_size(path));
  // A byte in the header, in the first row block, the second row block, the deleted keys.
  for (int64_t at : {int64_t{20}, int64_t{200}, size - 400, size - 10}) {
    REQUIRE(WriteTableFile(path, s).ok());
    FlipByte(path, at);
    absl::Status st = ReadTableFile(path).status();
    INFO("byte " << at << ": " << st);
    CHECK(absl::IsDataLoss(st));
    CHECK(st.message().find(path) != absl::string_view::npos);
    CHECK(st.message().find("checksum") != absl::string_view::npos);
  }
  // Truncated, extended, not a table file at all.
  REQUIRE(WriteTableFile(path, s).ok());
  fs::resize_file(path, size - 3);
  CHECK(absl::IsDataLoss(ReadTableFile(path).status()));
  fs::resize_file(path, size + 5);
  CHECK(absl::IsDataLoss(ReadTableFile(path).status()));
  { std::ofstream(path, std::ios::trunc) << "hello, this is not a table file at all......"; }
  absl::Status st = ReadTableFile(path).status();
  CHECK(absl::IsDataLoss(st));
  CHECK(st.message().find("not a psd table checkpoint") != absl::string_view::npos);
  CHECK(absl::IsNotFound(ReadTableFile(dir + "/missing").status()));
}

TEST_CASE("every flipped byte and every truncation of a table file is caught",
          "[table_checkpoint]") {
  const std::string dir = testing::MakeTempDir("table_every_byte");
  const std::string path = dir + "/t";
  const TableSnapshot s = Sample(3, 2, 2, 2);
  REQUIRE(WriteTableFile(path, s).ok());
  const int64_t size = static_cast<int64_t>(fs::file_size(path));
  for (int64_t at = 0; at < size; ++at) {
    REQUIRE(WriteTableFile(path, s).ok());
    FlipByte(path, at);
    const absl::Status st = ReadTableFile(path).status();
    INFO("byte " << at);
    CHECK(absl::IsDataLoss(st));
  }
  for (int64_t keep = 0; keep < size; ++keep) {
    REQUIRE(WriteTableFile(path, s).ok());
    fs::resize_file(path, keep);
    INFO("first " << keep << " bytes");
    CHECK(absl::IsDataLoss(ReadTableFile(path).status()));
  }
}

// Copies a table the way SparseStore's checkpoints do.
TableSnapshot Snap(EmbeddingTable& t, bool full, int64_t step, int64_t base) {
  TableSnapshot s;
  s.header.job_id = "chain";
  s.header.step = step;
  s.header.rank = 0;
  s.header.num_servers = 1;
  s.header.dim = t.dim();
  s.header.slots = RowOptimizerSlots(t.options().optimizer.type) * t.dim();
  s.header.full = full;
  s.header.base_step = full ? 0 : base;
  if (!full) s.deleted = t.EvictedSinceCheckpoint();
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

// Every row of `t`, sorted by key: (values, slots, updates).
using Rows = std::map<uint64_t, std::tuple<std::vector<float>, std::vector<float>, uint32_t>>;
Rows AllRows(const EmbeddingTable& t) {
  Rows rows;
  t.ForEachRow(false, [&](uint64_t key, absl::Span<const float> v, absl::Span<const float> s,
                          uint32_t u) {
    rows[key] = {std::vector<float>(v.begin(), v.end()), std::vector<float>(s.begin(), s.end()), u};
  });
  return rows;
}
Rows RowsOf(const TableSnapshot& s) {
  Rows rows;
  const size_t dim = s.header.dim, slots = s.header.slots;
  for (size_t i = 0; i < s.keys.size(); ++i) {
    rows[s.keys[i]] = {
        std::vector<float>(s.values.begin() + i * dim, s.values.begin() + (i + 1) * dim),
        std::vector<float>(s.slots.begin() + i * slots, s.slots.begin() + (i + 1) * slots),
        s.updates[i]};
  }
  return rows;
}

TableExpectation ChainExpect(const EmbeddingTable& t) {
  TableExpectation e;
  e.job_id = "chain";
  e.rank = 0;
  e.num_servers = 1;
  e.dim = t.dim();
  e.slots = RowOptimizerSlots(t.options().optimizer.type) * t.dim();
  return e;
}

TEST_CASE("a chain of full and incremental files restores the table, evictions included",
          "[table_checkpoint]") {
  const std::string job_dir = testing::MakeTempDir("table_chain") + "/chain";
  TableOptions o;
  o.dim = 4;
  o.num_shards = 4;
  o.optimizer.type = RowOptimizerType::kLazyAdam;  // slots and update counts
  o.memory_budget_bytes = 48 << 10;                // small: rows get evicted
  o.eviction = EvictionPolicy::kLfu;
  auto made = EmbeddingTable::Create(o);
  REQUIRE(made.ok());
  EmbeddingTable& t = **made;
  std::mt19937_64 rng(7);
  std::map<int64_t, Rows> expected;
  int64_t base = 0;
  int taken = 0;
  for (int64_t step = 0; step < 24; ++step) {
    std::vector<uint64_t> keys;
    for (int i = 0; i < 60; ++i) keys.push_back(rng() % (step < 12 ? 400 : 2000));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::vector<float> out(keys.size() * o.dim);
    t.Lookup(keys, step, absl::MakeSpan(out));
    std::vector<float> grads(keys.size() * o.dim);
    for (float& g : grads) g = static_cast<float>(static_cast<int64_t>(rng() % 200) - 100) / 100;
    t.Apply(keys, grads, 1.0, step);
    if ((step + 1) % 3 != 0) continue;
    const int64_t at = step + 1;  // the table now holds step `at`
    const bool full = taken % 4 == 0;
    const TableSnapshot s = Snap(t, full, at, base);
    REQUIRE(WriteTableFile(CheckpointTableFile(absl::StrCat(job_dir, "/", at), 0), s).ok());
    expected[at] = AllRows(t);
    base = at;
    ++taken;
  }
  CHECK(t.stats().evictions > 100);
  absl::StatusOr<std::vector<int64_t>> chain = TableChain(job_dir, 0, 21);
  REQUIRE(chain.ok());
  CHECK(*chain == std::vector<int64_t>{15, 18, 21});
  for (const auto& [step, rows] : expected) {
    absl::StatusOr<TableSnapshot> restored = ReadTableChain(job_dir, step, ChainExpect(t));
    INFO("step " << step << ": " << restored.status());
    REQUIRE(restored.ok());
    CHECK(restored->header.full);
    CHECK(restored->header.step == step);
    CHECK(RowsOf(*restored) == rows);
    // Restored into a fresh table, the rows are the same.
    auto fresh = EmbeddingTable::Create(o);
    REQUIRE(fresh.ok());
    const size_t dim = o.dim, slots = restored->header.slots;
    for (size_t i = 0; i < restored->keys.size(); ++i) {
      REQUIRE((*fresh)
                  ->Restore(restored->keys[i],
                            absl::MakeConstSpan(restored->values).subspan(i * dim, dim),
                            absl::MakeConstSpan(restored->slots).subspan(i * slots, slots),
                            restored->updates[i])
                  .ok());
    }
    CHECK(AllRows(**fresh) == rows);
  }

  // A missing link is NotFound naming it; a file of another job or dim is DataLoss.
  fs::remove(CheckpointTableFile(job_dir + "/18", 0));
  absl::Status missing = ReadTableChain(job_dir, 21, ChainExpect(t)).status();
  CHECK(absl::IsNotFound(missing));
  CHECK(missing.message().find(job_dir + "/18/server-0.table") != absl::string_view::npos);
  CHECK(ReadTableChain(job_dir, 15, ChainExpect(t)).ok());
  TableExpectation other = ChainExpect(t);
  other.job_id = "other";
  absl::Status wrong = ReadTableChain(job_dir, 15, other).status();
  CHECK(absl::IsDataLoss(wrong));
  CHECK(wrong.message().find("/15/server-0.table") != absl::string_view::npos);
  other = ChainExpect(t);
  other.dim = 8;
  CHECK(absl::IsDataLoss(ReadTableChain(job_dir, 15, other).status()));
  other = ChainExpect(t);
  other.rank = 1;
  CHECK(absl::IsNotFound(ReadTableChain(job_dir, 15, other).status()));
  FlipByte(CheckpointTableFile(job_dir + "/15", 0), 100);
  absl::Status damaged = ReadTableChain(job_dir, 15, ChainExpect(t)).status();
  CHECK(absl::IsDataLoss(damaged));
  CHECK(damaged.message().find("/15/server-0.table") != absl::string_view::npos);
}

TEST_CASE("pruning keeps every table file a kept checkpoint's chain needs", "[table_checkpoint]") {
  const std::string dir = testing::MakeTempDir("table_prune");
  const std::string job_dir = dir + "/job";
  // Steps 1..9, full at 1, 4, 7 (full_every 3); each with a manifest, data and table file.
  auto write_step = [&](int64_t step) {
    const std::string step_dir = absl::StrCat(job_dir, "/", step);
    TableSnapshot s = Sample(3, 2, 0, 0);
    s.header.job_id = "job";
    s.header.rank = 0;
    s.header.num_servers = 1;
    s.header.step = step;
    s.header.full = (step - 1) % 3 == 0;
    s.header.base_step = s.header.full ? 0 : step - 1;
    if (!s.header.full) s.deleted = {uint64_t(step)};
    REQUIRE(WriteTableFile(CheckpointTableFile(step_dir, 0), s).ok());
    { std::ofstream(CheckpointDataFile(step_dir, 0)) << "data"; }
    { std::ofstream(CheckpointManifestFile(step_dir, 0)) << "psd-checkpoint 1\n"; }
  };
  auto has_table = [&](int64_t step) {
    return fs::exists(CheckpointTableFile(absl::StrCat(job_dir, "/", step), 0));
  };
  auto has_manifest = [&](int64_t step) {
    return fs::exists(CheckpointManifestFile(absl::StrCat(job_dir, "/", step), 0));
  };
  for (int64_t step = 1; step <= 6; ++step) write_step(step);
  PruneCheckpoints(dir, "job", 0, 2);  // keeps 5 and 6, whose chain is 4, 5, 6
  for (int64_t step = 1; step <= 3; ++step) {
    CHECK_FALSE(has_table(step));
    CHECK_FALSE(fs::exists(absl::StrCat(job_dir, "/", step)));
  }
  CHECK(has_table(4));
  CHECK_FALSE(has_manifest(4));
  CHECK_FALSE(fs::exists(CheckpointDataFile(job_dir + "/4", 0)));
  CHECK(has_manifest(5));
  CHECK(has_manifest(6));
  CHECK(TableChain(job_dir, 0, 6).ok());
  for (int64_t step = 7; step <= 8; ++step) write_step(step);
  PruneCheckpoints(dir, "job", 0, 2);  // keeps 7 (full) and 8: 4, 5, 6 go
  for (int64_t step = 4; step <= 6; ++step) {
    CHECK_FALSE(has_table(step));
    CHECK_FALSE(fs::exists(absl::StrCat(job_dir, "/", step)));
  }
  CHECK(has_table(7));
  CHECK(has_table(8));
  CHECK(TableChain(job_dir, 0, 8).ok());
  write_step(9);
  PruneCheckpoints(dir, "job", 0, 1);  // keeps 9, whose chain is 7, 8, 9
  CHECK(has_table(7));
  CHECK(has_table(8));
  CHECK_FALSE(has_manifest(7));
  CHECK_FALSE(has_manifest(8));
  absl::StatusOr<std::vector<int64_t>> chain = TableChain(job_dir, 0, 9);
  REQUIRE(chain.ok());
  CHECK(*chain == std::vector<int64_t>{7, 8, 9});
}

}  // namespace
}  // namespace psd
