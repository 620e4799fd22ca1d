// How much memory a job takes on each of its parameter servers, from the spec alone (nothing
// is allocated): the parameters, optimizer slots and sync accumulator of the chunks a server
// owns (balanced as common/placement.h balances them, within one chunk), the per-chunk records of
// the shard store (locks, clocks per worker), the chunk map every server holds, and the copy a
// checkpoint takes while it is written. Transient network buffers are not included. psdctl
// validate, the coordinator's SubmitJob and the server's InitJob all compare it with a budget, so a
// job too big for its servers is refused with the sizes instead of crashing them.
#ifndef PSD_COMMON_MEMORY_ESTIMATE_H_
#define PSD_COMMON_MEMORY_ESTIMATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/job_spec.h"

namespace psd {

// What the shard store keeps per owned chunk besides its values (the record, its lock and
// vectors' headers and heap blocks), and per chunk of the job on every server (the chunk map,
// key lists and index, with their growth slack). server/shard_store.cc checks the first.
inline constexpr int64_t kChunkRecordBytes = 512;
inline constexpr int64_t kChunkMapBytes = 96;
// The default server budget: this share of the machine's memory (or of its cgroup limit).
inline constexpr double kDefaultMemoryBudgetFraction = 0.8;

// Bytes on the server that owns the most parameters.
struct MemoryEstimate {
  int servers = 1;
  int64_t params = 0;
  int64_t optimizer = 0;    // optimizer slots (optimizer_name says which)
  int64_t accumulator = 0;  // sync, and ssp with staleness 0: the open step's sum
  int64_t checkpoint = 0;   // with checkpoint.dir: the copy being written
  int64_t bookkeeping = 0;  // chunk records and the chunk map
  // Sparse models: the embedding table's model.embedding.memory_budget (0: unbounded, so not
  // counted: the table grows with the keys it sees).
  int64_t table = 0;
  std::string optimizer_name;  // "momentum", "adagrad sums", "adam moments"; empty for sgd
  int64_t total() const;
};

// Optimizer floats a server keeps per parameter: 0 (sgd), 1 (momentum, adagrad), 2 (adam).
int OptimizerSlots(OptimizerType type);

MemoryEstimate EstimateServerMemory(const JobSpec& spec);

// OK when the estimate fits in `budget_bytes` (<= 0: no limit) less `in_use` (other jobs);
// else ResourceExhausted like "model needs 4.0 GiB per server (params 1.3 GiB + momentum
// 1.3 GiB + accumulator 1.3 GiB) with 2 servers; the budget is 2.0 GiB".
absl::Status CheckMemoryBudget(const MemoryEstimate& estimate, int64_t budget_bytes,
                               int64_t in_use = 0);

// "4.0 GiB", "12.5 MiB", "3.0 KiB", "17 B".
std::string FormatMemory(int64_t bytes);
// A byte count ("1073741824") or a size with a unit ("16GiB", "512 MiB", "100KiB", "7B").
std::optional<int64_t> ParseMemorySize(absl::string_view text);

// The machine's memory, or the process's cgroup limit when that is lower.
int64_t MachineMemoryBytes();
// kDefaultMemoryBudgetFraction of MachineMemoryBytes().
int64_t DefaultMemoryBudget();

}  // namespace psd

#endif  // PSD_COMMON_MEMORY_ESTIMATE_H_
