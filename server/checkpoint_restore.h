// A server's part of a checkpoint, whatever number of servers wrote it: the chunks and table
// rows it owns now. With the same count that is its own files; after a change of server count
// (elastic servers, or a job resumed on another cluster size) it reads the files of the ranks
// that held them then and keeps what it owns (common/placement.h keeps that to few chunks and
// rows, but every file whose rank held some is read).
#ifndef PSD_SERVER_CHECKPOINT_RESTORE_H_
#define PSD_SERVER_CHECKPOINT_RESTORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "server/checkpoint.h"
#include "server/sparse_store.h"

namespace psd {

// What a server loaded: its chunks, and how much of it came from other ranks' files.
struct OwnedChunks {
  std::vector<ChunkSnapshot> chunks;
  int written_by = 0;        // the server count of the checkpoint
  int64_t loaded_bytes = 0;  // parameters and optimizer state read
  int64_t moved_bytes = 0;   // of them, read from another rank's file
};

// The chunks `placement` (of `spec`, whose cluster.servers is the count now) gives `rank`,
// from the checkpoint in `step_dir`. Errors as ReadCheckpoint's, naming the file.
absl::StatusOr<OwnedChunks> ReadOwnedChunks(const std::string& step_dir, const JobSpec& spec,
                                            const Placement& placement, int rank);

// Sparse models: restores into `store` the rows server `rank` of spec.cluster.servers owns at
// `step`, from the chains of table files that end in `step_dir` (the step dir's parent holds
// them), written by `written_by` servers. Returns the rows restored. `job_id` names the job in
// errors; a missing or damaged table is NotFound or DataLoss naming the file.
struct RestoredRows {
  int64_t rows = 0;
  int64_t loaded_bytes = 0;  // keys, values and optimizer slots of those rows
  int64_t moved_bytes = 0;   // of them, read from other ranks' chains
};
absl::StatusOr<RestoredRows> RestoreOwnedRows(const std::string& step_dir, int64_t step,
                                              const JobSpec& spec, int rank, int written_by,
                                              const std::string& job_id, SparseStore& store);

}  // namespace psd

#endif  // PSD_SERVER_CHECKPOINT_RESTORE_H_
