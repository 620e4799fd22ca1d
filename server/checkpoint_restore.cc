#include "server/checkpoint_restore.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "common/status_macros.h"
#include "server/row_optimizer.h"
#include "server/table_checkpoint.h"

namespace psd {
namespace {

// A chunk's parameters and optimizer state, in bytes.
int64_t StateBytes(const ChunkSnapshot& c) {
  return static_cast<int64_t>((c.params.size() + c.opt.slot0.size() + c.opt.slot1.size()) *
                              sizeof(float));
}

// The step dir without trailing slashes, and its parent (the job dir that holds the chains).
std::pair<std::string, std::string> StepAndJobDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string job_dir = dir.substr(0, dir.rfind('/'));
  return {std::move(dir), std::move(job_dir)};
}

// Server `rank`'s table file of the step must be the one its manifest records.
absl::Status CheckTableFile(const std::string& dir, int rank, int64_t step,
                            const std::string& job_id) {
  absl::StatusOr<ManifestTable> entry = ReadManifestTable(dir, rank);
  if (absl::IsNotFound(entry.status())) {
    return absl::NotFoundError(absl::StrCat("cannot resume job ", job_id, " at step ", step, ": ",
                                            entry.status().message()));
  }
  PSD_RETURN_IF_ERROR(entry.status());
  const std::string file = CheckpointTableFile(dir, rank);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(file, ": missing: ", ec.message()));
  if (static_cast<int64_t>(size) != entry->bytes) {
    return absl::DataLossError(
        absl::StrCat(file, ": ", size, " bytes, the manifest records ", entry->bytes));
  }
  return absl::OkStatus();
}

// Keeps the rows of `table` that server `rank` of `servers` owns.
void KeepOwnedRows(TableSnapshot& table, int rank, int servers) {
  const size_t dim = static_cast<size_t>(table.header.dim);
  const size_t slots = static_cast<size_t>(table.header.slots);
  size_t kept = 0;
  for (size_t i = 0; i < table.keys.size(); ++i) {
    if (SparseOwner(table.keys[i], servers) != rank) continue;
    if (kept != i) {
      table.keys[kept] = table.keys[i];
      std::copy_n(table.values.begin() + i * dim, dim, table.values.begin() + kept * dim);
      std::copy_n(table.slots.begin() + i * slots, slots, table.slots.begin() + kept * slots);
      table.updates[kept] = table.updates[i];
    }
    ++kept;
  }
  table.keys.resize(kept);
  table.values.resize(kept * dim);
  table.slots.resize(kept * slots);
  table.updates.resize(kept);
}

}  // namespace

absl::StatusOr<OwnedChunks> ReadOwnedChunks(const std::string& step_dir, const JobSpec& spec,
                                            const Placement& placement, int rank) {
  OwnedChunks out;
  PSD_ASSIGN_OR_RETURN(out.written_by, ReadCheckpointServers(step_dir, rank));
  if (out.written_by == placement.num_servers()) {
    PSD_ASSIGN_OR_RETURN(out.chunks, ReadCheckpoint(step_dir, rank, placement));
    for (const ChunkSnapshot& c : out.chunks) out.loaded_bytes += StateBytes(c);
    return out;
  }
  JobSpec then = spec;
  then.cluster.servers = out.written_by;
  PSD_ASSIGN_OR_RETURN(const Placement before, Placement::ForJob(then));
  if (before.chunks().size() != placement.chunks().size()) {
    return absl::DataLossError(absl::StrCat(step_dir, ": written for ", before.chunks().size(),
                                            " chunks; this job has ", placement.chunks().size(),
                                            " (model and cluster.chunk_bytes must match)"));
  }
  for (int source = 0; source < out.written_by; ++source) {
    const std::vector<uint64_t>& held = before.ServerKeys(source);
    if (std::none_of(held.begin(), held.end(),
                     [&](uint64_t key) { return placement.chunk(key).server == rank; })) {
      continue;
    }
    PSD_ASSIGN_OR_RETURN(std::vector<ChunkSnapshot> chunks,
                         ReadCheckpointChunks(step_dir, source, before, [&](uint64_t key) {
                           return placement.chunk(key).server == rank;
                         }));
    for (ChunkSnapshot& c : chunks) {
      out.loaded_bytes += StateBytes(c);
      if (source != rank) out.moved_bytes += StateBytes(c);
      out.chunks.push_back(std::move(c));
    }
  }
  std::sort(out.chunks.begin(), out.chunks.end(),
            [](const ChunkSnapshot& a, const ChunkSnapshot& b) { return a.key < b.key; });
  return out;
}

absl::StatusOr<RestoredRows> RestoreOwnedRows(const std::string& step_dir, int64_t step,
                                              const JobSpec& spec, int rank, int written_by,
                                              const std::string& job_id, SparseStore& store) {
  const auto [dir, job_dir] = StepAndJobDir(step_dir);
  const TableOptions options = TableOptionsFor(spec);
  TableExpectation expect;
  // The job that wrote it: this one, or the one a new job starts from (--resume-from).
  expect.job_id = job_dir.substr(job_dir.rfind('/') + 1);
  expect.num_servers = written_by;
  expect.dim = options.dim;
  expect.slots = RowOptimizerSlots(options.optimizer.type) * options.dim;
  const bool same = written_by == spec.cluster.servers;
  RestoredRows out;
  for (int source = same ? rank : 0; source < (same ? rank + 1 : written_by); ++source) {
    PSD_RETURN_IF_ERROR(CheckTableFile(dir, source, step, job_id));
    expect.rank = source;
    PSD_ASSIGN_OR_RETURN(TableSnapshot table, ReadTableChain(job_dir, step, expect));
    if (!same) KeepOwnedRows(table, rank, spec.cluster.servers);
    const int64_t n = static_cast<int64_t>(table.keys.size());
    const int64_t bytes =
        n * static_cast<int64_t>(sizeof(uint64_t) + sizeof(float) * (expect.dim + expect.slots));
    out.rows += n;
    out.loaded_bytes += bytes;
    if (source != rank) out.moved_bytes += bytes;
    PSD_RETURN_IF_ERROR(store.Restore(table, step));
  }
  return out;
}

}  // namespace psd
