// Table checkpoint files: one server's embedding rows of one job at one step, full (every row)
// or incremental (the rows changed since the base checkpoint, and the keys evicted since).
//
// A file is a header (magic, version, job, step, rank, servers, dim, slots, kind, base step,
// counts), blocks of rows (key, values, slots, update count), then blocks of deleted keys, each
// block with its CRC-32C; written to a temporary name, fsynced and renamed. A step's table is
// restored from its chain: the newest full checkpoint at or before it, then each incremental
// after it in order (each names its base). docs/model-file.md describes the bytes.
#ifndef PSD_SERVER_TABLE_CHECKPOINT_H_
#define PSD_SERVER_TABLE_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace psd {

struct TableFileHeader {
  std::string job_id;
  int64_t step = 0;
  int rank = 0;
  int num_servers = 0;
  int dim = 0;
  int slots = 0;          // optimizer floats per row (RowOptimizerSlots * dim)
  bool full = true;       // false: incremental, applies on the checkpoint of base_step
  int64_t base_step = 0;  // incremental only; 0 for a full checkpoint
  uint64_t rows = 0;
  uint64_t deleted = 0;
};

// Rows as a checkpoint holds them: row i is keys[i], values[i*dim ..), slots[i*slots ..),
// updates[i]; `deleted` are the keys an incremental checkpoint removes (sorted).
struct TableSnapshot {
  TableFileHeader header;
  std::vector<uint64_t> keys;
  std::vector<float> values;
  std::vector<float> slots;
  std::vector<uint32_t> updates;
  std::vector<uint64_t> deleted;
};

// What was written: the file's size and CRC-32C of all its bytes (for the step's manifest).
struct TableFileInfo {
  int64_t bytes = 0;
  uint32_t crc32c = 0;
};

// Writes `snapshot` to `path` atomically; its header's counts are taken from the vectors.
// InvalidArgument when the vectors' sizes do not match dim and slots.
absl::StatusOr<TableFileInfo> WriteTableFile(const std::string& path,
                                             const TableSnapshot& snapshot);

// Reads the header of the table file at `path` (NotFound when missing; DataLoss naming the
// file when damaged).
absl::StatusOr<TableFileHeader> ReadTableFileHeader(const std::string& path);

// Reads a whole table file, checking every block's checksum. DataLoss naming the file.
absl::StatusOr<TableSnapshot> ReadTableFile(const std::string& path);

// What a restored table must match.
struct TableExpectation {
  std::string job_id;
  int rank = 0;
  int num_servers = 0;
  int dim = 0;
  int slots = 0;
};

// The steps of the chain that restores `step` from the table files under `job_dir`
// (<job_dir>/<step>/server-<rank>.table), oldest (the full one) first. NotFound naming the
// missing file; DataLoss for a damaged header or a link that does not go back.
absl::StatusOr<std::vector<int64_t>> TableChain(const std::string& job_dir, int rank, int64_t step);

// Reads the chain of `step` and merges it (rows replaced by later files, deleted keys removed)
// into one full snapshot of step `step`, rows sorted by key. Errors name the file: NotFound
// (a missing link), DataLoss (checksum, or a file written for another job, rank, server count,
// dim or optimizer).
absl::StatusOr<TableSnapshot> ReadTableChain(const std::string& job_dir, int64_t step,
                                             const TableExpectation& expect);

}  // namespace psd

#endif  // PSD_SERVER_TABLE_CHECKPOINT_H_
