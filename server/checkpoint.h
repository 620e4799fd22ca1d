// Checkpoint files of one server: its chunks' parameters and optimizer state at one step.
//
// In a step dir (common/checkpoint_layout.h) the server's data file holds the data (CRC-32C per
// chunk) and its manifest, written after the data is durable, marks it complete. Both are
// written to temporary names, fsynced and renamed. A checkpoint without its manifest, or whose
// data does not match its manifest and checksums, is never loaded.
#ifndef PSD_SERVER_CHECKPOINT_H_
#define PSD_SERVER_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/checkpoint_layout.h"
#include "common/placement.h"
#include "optim/optimizer.h"

namespace psd {

// One chunk as a checkpoint holds it.
struct ChunkSnapshot {
  uint64_t key = 0;
  int64_t clock = 0;  // the chunk's clock when the snapshot was taken
  std::vector<float> params;
  OptimizerState opt;
};

struct CheckpointMeta {
  std::string job_id;
  int64_t step = 0;
  int64_t generation = 0;
  int rank = 0;
  int num_servers = 0;
  int64_t snapshot_unix_ms = 0;  // when the state was taken (not in the files)
};

// A sparse model's table file (server/table_checkpoint.h) in the same step dir, written before
// the manifest, which records it: a checkpoint is never complete without its table.
struct ManifestTable {
  int64_t bytes = 0;
  uint32_t crc32c = 0;
  bool full = true;
  int64_t base_step = 0;
};

// Writes this server's checkpoint into `step_dir` (data, then manifest). `chunks` are the
// chunks `placement` gives to meta.rank; `table`, when given, describes the table file already
// written there.
absl::Status WriteCheckpoint(const std::string& step_dir, const CheckpointMeta& meta,
                             const Placement& placement, absl::Span<const ChunkSnapshot> chunks,
                             const ManifestTable* table = nullptr);

// The number of servers that wrote the checkpoint in `step_dir`, from `rank`'s manifest (rank
// 0's when the checkpoint has no such rank): NotFound when missing, DataLoss when malformed.
absl::StatusOr<int> ReadCheckpointServers(const std::string& step_dir, int rank);

// The table entry of server `rank`'s manifest in `step_dir`: NotFound when the manifest is
// missing or records no table, DataLoss when it is malformed.
absl::StatusOr<ManifestTable> ReadManifestTable(const std::string& step_dir, int rank);

// Reads server `rank`'s checkpoint from `step_dir`, checking the manifest, every checksum, and
// that it was written for `placement`. Errors name the file and what is wrong.
absl::StatusOr<std::vector<ChunkSnapshot>> ReadCheckpoint(const std::string& step_dir, int rank,
                                                          const Placement& placement,
                                                          CheckpointMeta* meta = nullptr);

// The chunks of server `rank`'s checkpoint in `step_dir` for which `wanted(key)` holds, read
// record by record: the others are skipped without being read (a server that takes a few
// chunks after a change of server count reads only those). Checks the file's size against the
// manifest, the header and each read chunk's checksum; errors as ReadCheckpoint's.
absl::StatusOr<std::vector<ChunkSnapshot>> ReadCheckpointChunks(
    const std::string& step_dir, int rank, const Placement& placement,
    const std::function<bool(uint64_t key)>& wanted);

// Removes `rank`'s files from all but the newest `keep` complete checkpoints of the job under
// `dir`, and step directories left empty. Logs what it removes. A table file (sparse models)
// stays while the chain of a kept checkpoint needs it, and goes once none does.
void PruneCheckpoints(const std::string& dir, const std::string& job_id, int rank, int keep);

}  // namespace psd

#endif  // PSD_SERVER_CHECKPOINT_H_
