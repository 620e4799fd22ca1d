// Restoring a checkpoint on another number of servers (elastic servers): every chunk and row
// reaches its new owner exactly once, bit for bit, and only the ranks that hold moved data are
// read.
#include "server/checkpoint_restore.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "server/job_registry.h"
#include "server/row_optimizer.h"
#include "server/table_checkpoint.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

JobSpec Spec(const std::string& yaml, int servers) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  spec->cluster.servers = servers;
  return *spec;
}

JobSpec DenseJob(const std::string& dir, int servers) {
  return Spec(
      absl::StrCat(
          "name: mlp\n"
          "data: {train_images: /d/i, train_labels: /d/l, test_images: /d/ti, test_labels: /d/tl}\n"
          "model: {hidden: [64, 32]}\n"
          "training: {optimizer: {type: adam}}\n"
          "cluster: {workers: 1, servers: 1, chunk_bytes: 4096, elastic: true}\n"
          "checkpoint: {dir: ",
          dir, "}\n"),
      servers);
}

// A value that names its chunk, element and slot.
float Value(uint64_t key, size_t i, int slot) {
  return static_cast<float>(key * 1000 + i) + 0.25f * static_cast<float>(slot);
}

// Writes the checkpoint of `step` of `spec`'s servers as if each had trained.
void WriteDense(const JobSpec& spec, const std::string& id, int64_t step) {
  auto placement = Placement::ForJob(spec);
  REQUIRE(placement.ok());
  const std::string step_dir = CheckpointStepDir(spec.checkpoint.dir, id, step);
  fs::create_directories(step_dir);
  for (int rank = 0; rank < spec.cluster.servers; ++rank) {
    std::vector<ChunkSnapshot> chunks;
    for (uint64_t key : placement->ServerKeys(rank)) {
      ChunkSnapshot& c = chunks.emplace_back();
      c.key = key;
      c.clock = step;
      const size_t n = static_cast<size_t>(placement->chunk(key).length);
      for (size_t i = 0; i < n; ++i) {
        c.params.push_back(Value(key, i, 0));
        c.opt.slot0.push_back(Value(key, i, 1));
        c.opt.slot1.push_back(Value(key, i, 2));
      }
      c.opt.updates = static_cast<int64_t>(key);
    }
    REQUIRE(WriteCheckpoint(step_dir, {id, step, 1, rank, spec.cluster.servers}, *placement, chunks)
                .ok());
  }
}

TEST_CASE("chunks written by n servers reach their owners among m, each once, bit for bit",
          "[checkpoint_restore][elastic]") {
  const std::string dir = testing::MakeTempDir("restore_dense");
  for (const auto& [n, m] : std::vector<std::pair<int, int>>{{2, 3}, {3, 2}, {1, 4}, {4, 1}}) {
    const std::string id = absl::StrCat("job-", n, "-", m);
    WriteDense(DenseJob(dir, n), id, 7);
    const JobSpec now = DenseJob(dir, m);
    auto placement = Placement::ForJob(now);
    auto before = Placement::ForJob(DenseJob(dir, n));
    REQUIRE(placement.ok());
    REQUIRE(before.ok());
    INFO(n << " -> " << m << " servers");
    int64_t moved = 0, loaded = 0;
    std::map<uint64_t, int> seen;
    for (int rank = 0; rank < m; ++rank) {
      auto owned = ReadOwnedChunks(CheckpointStepDir(dir, id, 7), now, *placement, rank);
      INFO(owned.status());
      REQUIRE(owned.ok());
      CHECK(owned->written_by == n);
      moved += owned->moved_bytes;
      loaded += owned->loaded_bytes;
      std::vector<uint64_t> keys;
      for (const ChunkSnapshot& c : owned->chunks) {
        keys.push_back(c.key);
        ++seen[c.key];
        CHECK(c.clock == 7);
        CHECK(c.opt.updates == static_cast<int64_t>(c.key));
        bool exact = c.params.size() == static_cast<size_t>(placement->chunk(c.key).length);
        for (size_t i = 0; exact && i < c.params.size(); ++i) {
          exact = c.params[i] == Value(c.key, i, 0) && c.opt.slot0[i] == Value(c.key, i, 1) &&
                  c.opt.slot1[i] == Value(c.key, i, 2);
        }
        CHECK(exact);
      }
      CHECK(keys == placement->ServerKeys(rank));
    }
    CHECK(seen.size() == placement->chunks().size());
    for (const auto& [key, times] : seen) CHECK(times == 1);
    // Each moved parameter comes with its two adam moments.
    CHECK(moved == 3 * MovedBytes(*before, *placement));
    CHECK(loaded == 3 * 4 * placement->total_elements());
    CHECK(moved > 0);
  }
  // A checkpoint of another model's chunks is refused, naming the step dir.
  const std::string id = "job-other";
  WriteDense(DenseJob(dir, 2), id, 3);
  JobSpec other = DenseJob(dir, 3);
  other.model.hidden = {64};
  auto placement = Placement::ForJob(other);
  REQUIRE(placement.ok());
  auto owned = ReadOwnedChunks(CheckpointStepDir(dir, id, 3), other, *placement, 0);
  CHECK(absl::IsDataLoss(owned.status()));
  CHECK(owned.status().message().find(CheckpointStepDir(dir, id, 3)) != absl::string_view::npos);
}

JobSpec SparseJob(const std::string& dir, int servers) {
  return Spec(absl::StrCat("name: ctr\n"
                           "data: {format: criteo, train_files: [/d/train.txt]}\n"
                           "model:\n"
                           "  type: fm\n"
                           "  embedding: {dim: 4, optimizer: {type: lazy_adam}}\n"
                           "training: {optimizer: {type: sgd}}\n"
                           "cluster: {workers: 1, servers: 1}\n"
                           "checkpoint: {dir: ",
                           dir, "}\n"),
              servers);
}

using Rows = std::map<uint64_t, std::tuple<std::vector<float>, std::vector<float>, uint32_t>>;

TEST_CASE("table rows written by n servers reach their owners among m, each once",
          "[checkpoint_restore][elastic][sparse]") {
  const std::string dir = testing::MakeTempDir("restore_sparse");
  const int dim = TableOptionsFor(SparseJob(dir, 1)).dim;  // fm: the factors and a weight
  const int slots = RowOptimizerSlots(RowOptimizerType::kLazyAdam) * dim;
  for (const auto& [n, m] : std::vector<std::pair<int, int>>{{2, 3}, {3, 1}}) {
    const std::string id = absl::StrCat("ctr-", n, "-", m);
    const JobSpec then = SparseJob(dir, n);
    auto before = Placement::ForJob(then);
    REQUIRE(before.ok());
    const std::string step_dir = CheckpointStepDir(dir, id, 5);
    fs::create_directories(step_dir);
    Rows all;
    for (int rank = 0; rank < n; ++rank) {
      TableSnapshot table;
      table.header = {id, 5, rank, n, dim, slots, true, 0, 0, 0};
      for (uint64_t key = 1; key <= 3000; ++key) {
        const uint64_t k = key << 40 | key;
        if (SparseOwner(k, n) != rank) continue;
        table.keys.push_back(k);
        std::vector<float> v(dim), s(slots);
        for (int i = 0; i < dim; ++i) v[i] = static_cast<float>(key) + 0.5f * i;
        for (int i = 0; i < slots; ++i) s[i] = static_cast<float>(key) * 2 + i;
        table.values.insert(table.values.end(), v.begin(), v.end());
        table.slots.insert(table.slots.end(), s.begin(), s.end());
        table.updates.push_back(static_cast<uint32_t>(key % 7));
        all[k] = {v, s, static_cast<uint32_t>(key % 7)};
      }
      auto info = WriteTableFile(CheckpointTableFile(step_dir, rank), table);
      REQUIRE(info.ok());
      std::vector<ChunkSnapshot> chunks;
      for (uint64_t key : before->ServerKeys(rank)) {
        ChunkSnapshot& c = chunks.emplace_back();
        c.key = key;
        c.clock = 5;
        c.params.assign(before->chunk(key).length, 0.5f);
      }
      const ManifestTable entry{info->bytes, info->crc32c, true, 0};
      REQUIRE(WriteCheckpoint(step_dir, {id, 5, 1, rank, n}, *before, chunks, &entry).ok());
    }
    INFO(n << " -> " << m << " servers");
    Rows restored;
    for (int rank = 0; rank < m; ++rank) {
      JobRegistry registry;
      auto job = registry.Init(id, 2, SparseJob(dir, m), rank, 1, {}, 5);
      INFO(job.status());
      REQUIRE(job.ok());
      CHECK((*job)->sparse->step() == 5);
      (*job)->sparse->table().ForEachRow(false, [&](uint64_t key, absl::Span<const float> v,
                                                    absl::Span<const float> s, uint32_t u) {
        CHECK(SparseOwner(key, m) == rank);
        CHECK(restored.count(key) == 0);
        restored[key] = {std::vector<float>(v.begin(), v.end()),
                         std::vector<float>(s.begin(), s.end()), u};
      });
    }
    REQUIRE(restored.size() == all.size());
    for (const auto& [key, row] : all) {
      INFO("key " << key);
      REQUIRE(restored.count(key) == 1);
      CHECK(std::get<0>(restored[key]) == std::get<0>(row));
      CHECK(std::get<1>(restored[key]) == std::get<1>(row));
      CHECK(std::get<2>(restored[key]) == std::get<2>(row));
    }
  }
}

}  // namespace
}  // namespace psd
