// Table checkpoints end to end on one server: sync steps pushed through SparseStore (and the
// dense chunks through ShardStore) by two workers, checkpoints written by the CheckpointWriter,
// a fresh job resumed from one of them with exactly the rows of that step; and the export of
// the final table when the job ends.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/checkpoint_layout.h"
#include "server/checkpoint_writer.h"
#include "server/job_registry.h"
#include "server/table_checkpoint.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

JobSpec SparseJob(const std::string& dir, const std::string& consistency, int every_steps,
                  int full_every, int keep) {
  const std::string yaml = absl::StrCat(
      "name: ctr\n"
      "data:\n"
      "  format: criteo\n"
      "  train_files: [/d/train.txt]\n"
      "model:\n"
      "  type: fm\n"
      "  embedding:\n"
      "    dim: 4\n"
      "    optimizer: {type: lazy_adam}\n"
      "    memory_budget: 40960\n"
      "    eviction: lfu\n"
      "training:\n"
      "  consistency: ",
      consistency,
      "\n"
      "cluster: {workers: 2, servers: 2}\n"
      "checkpoint: {dir: ",
      dir, ", every_steps: ", every_steps, ", full_every: ", full_every, ", keep: ", keep, "}\n");
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  return *spec;
}

using Rows = std::map<uint64_t, std::tuple<std::vector<float>, std::vector<float>, uint32_t>>;
Rows AllRows(const EmbeddingTable& t) {
  Rows rows;
  t.ForEachRow(false, [&](uint64_t key, absl::Span<const float> v, absl::Span<const float> s,
                          uint32_t u) {
    rows[key] = {std::vector<float>(v.begin(), v.end()), std::vector<float>(s.begin(), s.end()), u};
  });
  return rows;
}

// Counts the checkpoints the writer has written.
struct Written {
  absl::Mutex mu;
  std::vector<std::pair<int64_t, absl::Status>> done ABSL_GUARDED_BY(mu);
  void Wait(size_t n) {
    absl::MutexLock lock(&mu);
    n_ = n;
    mu.Await(absl::Condition(
        +[](Written* w) ABSL_NO_THREAD_SAFETY_ANALYSIS { return w->done.size() >= w->n_; }, this));
  }
  size_t n_ ABSL_GUARDED_BY(mu) = 0;
};

// One sync step from both workers on server `rank`: the dense chunks and the table's keys.
void Step(ServedJob& job, int64_t step, int64_t total, std::mt19937_64& rng) {
  for (int w = 0; w < 2; ++w) {
    std::vector<uint64_t> keys;
    for (int i = 0; i < 200 && keys.size() < 40; ++i) {
      const uint64_t key = rng() % (step < 6 ? 300 : 3000);
      if (SparseOwner(key, 2) == job.rank &&
          std::find(keys.begin(), keys.end(), key) == keys.end()) {
        keys.push_back(key);
      }
    }
    std::vector<float> rows(keys.size() * job.sparse->dim());
    REQUIRE(job.sparse->Lookup(keys, step, false, absl::MakeSpan(rows)).ok());
    std::vector<float> grads(rows.size());
    for (float& g : grads) g = static_cast<float>(static_cast<int64_t>(rng() % 200) - 100) / 64;
    REQUIRE(job.sparse->Push(w, step, total, keys, grads).ok());
    for (uint64_t key : job.store->keys()) {
      std::vector<float> g(job.placement.chunk(key).length, 0.01f * (w + 1));
      REQUIRE(job.store->Push(w, step, key, g, total).ok());
    }
  }
}

TEST_CASE("sync table checkpoints restore the rows of their step bit for bit",
          "[sparse_checkpoint]") {
  const std::string dir = testing::MakeTempDir("sparse_ckpt_sync");
  const JobSpec spec = SparseJob(dir, "sync", 2, 3, 10);
  Written written;
  std::map<int64_t, Rows> at_step;
  {
    CheckpointWriter writer([&](const CheckpointMeta& meta, const absl::Status& s) {
      absl::MutexLock lock(&written.mu);
      written.done.emplace_back(meta.step, s);
    });
    JobRegistry registry(&writer);
    // Server 0 trains 14 steps; checkpoints at 2, 4, ..., 14 (full at 2, 8, 14).
    absl::StatusOr<std::shared_ptr<ServedJob>> made = registry.Init("job-r0", 1, spec, 0, 2);
    REQUIRE(made.ok());
    std::shared_ptr<ServedJob> job = *made;
    std::mt19937_64 rng(11);
    for (int64_t step = 0; step < 14; ++step) {
      Step(*job, step, 20, rng);
      if ((step + 1) % 2 == 0) at_step[step + 1] = AllRows(job->sparse->table());
    }
    REQUIRE(job->sparse->stats().evictions > 0);
    written.Wait(7);
    // Scheduled checkpoints too: at 16 (neither store is past it), refused at 14.
    CHECK(job->ScheduleCheckpoint(16).ok());
    CHECK(absl::IsFailedPrecondition(job->ScheduleCheckpoint(14)));
  }
  {
    absl::MutexLock lock(&written.mu);
    for (const auto& [step, status] : written.done) {
      INFO("step " << step << ": " << status);
      CHECK(status.ok());
    }
  }
  const std::string job_dir = CheckpointJobDir(dir, "job-r0");
  for (int64_t step = 2; step <= 14; step += 2) {
    absl::StatusOr<TableFileHeader> h =
        ReadTableFileHeader(CheckpointTableFile(CheckpointStepDir(dir, "job-r0", step), 0));
    REQUIRE(h.ok());
    CHECK(h->full == (step == 2 || step == 8 || step == 14));
    CHECK(h->base_step == (h->full ? 0 : step - 2));
  }
  // Resume at every checkpoint: the new job's rows are the rows at that step.
  for (int64_t k : {int64_t{4}, int64_t{10}, int64_t{12}, int64_t{14}}) {
    JobRegistry fresh;
    absl::StatusOr<std::shared_ptr<ServedJob>> job = fresh.Init("job-r0", 2, spec, 0, 2, {}, k);
    INFO("resume at " << k << ": " << job.status());
    REQUIRE(job.ok());
    CHECK((*job)->sparse->step() == k);
    CHECK(AllRows((*job)->sparse->table()) == at_step[k]);
    // It trains on from step k.
    std::mt19937_64 rng(5);
    Step(**job, k, 20, rng);
    CHECK((*job)->sparse->step() == k + 1);
  }
  // A new job started from another's checkpoint (psdctl submit --resume-from).
  {
    JobRegistry fresh;
    absl::StatusOr<std::shared_ptr<ServedJob>> job =
        fresh.Init("new-job", 1, spec, 0, 2, {}, 12, CheckpointStepDir(dir, "job-r0", 12));
    INFO(job.status());
    REQUIRE(job.ok());
    CHECK(AllRows((*job)->sparse->table()) == at_step[12]);
  }
  // A table file that is gone or damaged fails the resume naming it.
  fs::remove(CheckpointTableFile(CheckpointStepDir(dir, "job-r0", 10), 0));
  {
    JobRegistry fresh;
    absl::Status s = fresh.Init("job-r0", 2, spec, 0, 2, {}, 12).status();
    CHECK(absl::IsNotFound(s));
    CHECK(s.message().find("/10/server-0.table") != absl::string_view::npos);
    CHECK(fresh.Init("job-r0", 2, spec, 0, 2, {}, 8).ok());
  }
  // A table file whose size differs from what the manifest records, or a manifest without a
  // table (a dense-only checkpoint), is unusable too.
  const std::string step14 = CheckpointStepDir(dir, "job-r0", 14);
  fs::resize_file(CheckpointTableFile(step14, 0),
                  fs::file_size(CheckpointTableFile(step14, 0)) - 1);
  {
    JobRegistry fresh;
    absl::Status s = fresh.Init("job-r0", 2, spec, 0, 2, {}, 14).status();
    CHECK(absl::IsDataLoss(s));
    CHECK(s.message().find("/14/server-0.table") != absl::string_view::npos);
  }
  {
    std::ifstream in(CheckpointManifestFile(step14, 0));
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.rfind("table_", 0) != 0) kept += line + "\n";
    }
    in.close();
    std::ofstream(CheckpointManifestFile(step14, 0), std::ios::trunc) << kept;
    JobRegistry fresh;
    absl::Status s = fresh.Init("job-r0", 2, spec, 0, 2, {}, 14).status();
    CHECK(absl::IsNotFound(s));
    CHECK(s.message().find("records no embedding table") != absl::string_view::npos);
  }
}

TEST_CASE("pruning keeps the chains of kept checkpoints", "[sparse_checkpoint]") {
  const std::string dir = testing::MakeTempDir("sparse_ckpt_prune");
  const JobSpec spec = SparseJob(dir, "sync", 1, 4, 2);
  std::map<int64_t, Rows> at_step;
  {
    Written written;
    CheckpointWriter writer([&](const CheckpointMeta& meta, const absl::Status& s) {
      absl::MutexLock lock(&written.mu);
      written.done.emplace_back(meta.step, s);
    });
    JobRegistry registry(&writer);
    absl::StatusOr<std::shared_ptr<ServedJob>> job = registry.Init("job", 1, spec, 1, 2);
    REQUIRE(job.ok());
    std::mt19937_64 rng(3);
    for (int64_t step = 0; step < 11; ++step) {
      Step(**job, step, 20, rng);
      at_step[step + 1] = AllRows((*job)->sparse->table());
    }
    written.Wait(11);
  }
  // Full at 1, 5, 9; keep 2 keeps 10 and 11, whose chain is 9, 10, 11.
  const std::string job_dir = CheckpointJobDir(dir, "job");
  CHECK(ListCheckpointSteps(job_dir) == std::vector<int64_t>{9, 10, 11});
  for (int64_t k : {int64_t{10}, int64_t{11}}) {
    JobRegistry fresh;
    absl::StatusOr<std::shared_ptr<ServedJob>> job = fresh.Init("job", 2, spec, 1, 2, {}, k);
    INFO(job.status());
    REQUIRE(job.ok());
    CHECK(AllRows((*job)->sparse->table()) == at_step[k]);
  }
  JobRegistry fresh;
  CHECK(absl::IsNotFound(fresh.Init("job", 2, spec, 1, 2, {}, 9).status()));  // no manifest
}

TEST_CASE("async table checkpoints are taken once every live worker pushed the step before",
          "[sparse_checkpoint]") {
  const std::string dir = testing::MakeTempDir("sparse_ckpt_async");
  const JobSpec spec = SparseJob(dir, "async", 3, 10, 5);
  auto made = SparseStore::Create(spec, 0, 2, 2, "job");
  REQUIRE(made.ok());
  SparseStore& store = **made;
  std::vector<int64_t> steps;
  store.SetSnapshotHandler([&](int64_t step, std::shared_ptr<const TableSnapshot> snap) {
    steps.push_back(step);
    CHECK(snap->header.step == step);
  });
  auto push = [&](int worker, int64_t step) {
    std::vector<uint64_t> keys;  // three keys of server 0
    for (uint64_t k = 0; keys.size() < 3; ++k) {
      if (SparseOwner(k, 2) == 0) keys.push_back(k);
    }
    REQUIRE(store.Push(worker, step, 10, keys, std::vector<float>(keys.size() * store.dim(), 0.5f))
                .ok());
  };
  for (int64_t step = 0; step < 4; ++step) push(0, step);  // worker 0 runs ahead
  CHECK(steps.empty());
  for (int64_t step = 0; step < 2; ++step) push(1, step);
  CHECK(steps.empty());
  push(1, 2);  // both have pushed step 2: the table is at step 3
  CHECK(steps == std::vector<int64_t>{3});
  CHECK(store.ScheduleCheckpoint(5).ok());
  CHECK(absl::IsFailedPrecondition(store.ScheduleCheckpoint(3)));
  store.SetLiveWorkers({0});  // worker 1 is lost: the clock follows worker 0 (at step 4)
  push(0, 4);
  CHECK(steps == std::vector<int64_t>{3, 5});
}

TEST_CASE("async checkpoints taken while workers look up and push from their threads",
          "[sparse_checkpoint]") {
  const std::string dir = testing::MakeTempDir("sparse_ckpt_threads");
  const JobSpec spec = SparseJob(dir, "async", 5, 10, 5);
  auto made = SparseStore::Create(spec, 0, 1, 2, "job");
  REQUIRE(made.ok());
  SparseStore& store = **made;
  const std::string job_dir = CheckpointJobDir(dir, "job");
  absl::Mutex mu;
  std::vector<int64_t> steps;
  std::vector<absl::Status> written;
  store.SetSnapshotHandler([&](int64_t step, std::shared_ptr<const TableSnapshot> snap) {
    absl::StatusOr<TableFileInfo> info =
        WriteTableFile(CheckpointTableFile(CheckpointStepDir(dir, "job", step), 0), *snap);
    absl::MutexLock lock(&mu);
    steps.push_back(step);
    written.push_back(info.status());
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&store, w] {
      std::mt19937_64 rng(100 + w);
      for (int64_t step = 0; step < 30; ++step) {
        std::vector<uint64_t> keys;
        for (int i = 0; i < 50; ++i) {
          const uint64_t key = rng() % 4000;
          if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
        }
        std::vector<float> rows(keys.size() * store.dim());
        if (!store.Lookup(keys, step, false, absl::MakeSpan(rows)).ok()) std::abort();
        std::vector<float> grads(rows.size(), 0.125f * (w + 1));
        if (!store.Push(w, step, 30, keys, grads).ok()) std::abort();
      }
    });
  }
  for (std::thread& t : workers) t.join();
  CHECK(store.stats().evictions > 0);
  absl::MutexLock lock(&mu);
  std::sort(steps.begin(), steps.end());
  CHECK(steps == std::vector<int64_t>{5, 10, 15, 20, 25, 30});
  for (const absl::Status& s : written) CHECK(s.ok());
  // Every apply was done when the last checkpoint was taken: its chain is the final table.
  TableExpectation e;
  e.job_id = "job";
  e.num_servers = 1;
  e.dim = store.dim();
  e.slots = 2 * store.dim();  // lazy adam
  absl::StatusOr<TableSnapshot> chain = ReadTableChain(job_dir, 30, e);
  REQUIRE(chain.ok());
  Rows restored;
  const size_t dim = e.dim, slots = e.slots;
  for (size_t i = 0; i < chain->keys.size(); ++i) {
    restored[chain->keys[i]] = {
        std::vector<float>(chain->values.begin() + i * dim, chain->values.begin() + (i + 1) * dim),
        std::vector<float>(chain->slots.begin() + i * slots,
                           chain->slots.begin() + (i + 1) * slots),
        chain->updates[i]};
  }
  CHECK(restored == AllRows(store.table()));
}

TEST_CASE("a sparse job that reaches its end exports its table", "[sparse_checkpoint]") {
  const std::string dir = testing::MakeTempDir("sparse_export");
  const JobSpec spec = SparseJob(dir, "sync", 0, 10, 3);
  JobRegistry registry;
  std::mt19937_64 rng(1);
  Rows final_rows;
  {
    absl::StatusOr<std::shared_ptr<ServedJob>> job = registry.Init("done", 1, spec, 1, 2);
    REQUIRE(job.ok());
    for (int64_t step = 0; step < 4; ++step) Step(**job, step, 4, rng);
    final_rows = AllRows((*job)->sparse->table());
  }
  REQUIRE(registry.End("done", 1).ok());
  const std::string path = ExportedTablePath(dir, "done", 1, 2);
  CHECK(path == dir + "/done/model.psdm.table-1-of-2");
  absl::StatusOr<TableSnapshot> table = ReadTableFile(path);
  INFO(table.status());
  REQUIRE(table.ok());
  CHECK(table->header.full);
  CHECK(table->header.step == 4);
  CHECK(table->header.rank == 1);
  CHECK(table->header.num_servers == 2);
  Rows exported;
  const size_t dim = table->header.dim, slots = table->header.slots;
  for (size_t i = 0; i < table->keys.size(); ++i) {
    exported[table->keys[i]] = {
        std::vector<float>(table->values.begin() + i * dim, table->values.begin() + (i + 1) * dim),
        std::vector<float>(table->slots.begin() + i * slots,
                           table->slots.begin() + (i + 1) * slots),
        table->updates[i]};
  }
  CHECK(exported == final_rows);
  // A job that ends before its last step exports nothing.
  {
    absl::StatusOr<std::shared_ptr<ServedJob>> job = registry.Init("cut", 1, spec, 1, 2);
    REQUIRE(job.ok());
    Step(**job, 0, 4, rng);
  }
  registry.End("cut");
  CHECK_FALSE(fs::exists(ExportedTablePath(dir, "cut", 1, 2)));
}

}  // namespace
}  // namespace psd
