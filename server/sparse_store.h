// One job's embedding rows on one server (sparse models): the table and its consistency
// clock, which follows the dense chunks' rules (server/shard_store.h) for a whole table.
//
// A worker pushes every server once per step, its batch's unique keys that the server owns
// with their batch-mean row gradients (no keys is a push too). `sync` (and `ssp` with
// staleness 0) sums the live workers' pushes of step t per key, applies each touched row's
// optimizer once with the mean (sum / live workers), and the table reaches step t + 1; a pull
// for step t waits until the table has reached t. `async` applies each push at once, its
// learning rate divided by the live workers (one round of pushes moves a row as far as one
// sync step); pulls never wait. `ssp` applies at once, and a pull for step t waits until every
// live worker has pushed step t - s - 1. Rows untouched in a step are not updated (lazy).
// A retried push (a step the worker has already pushed) is acknowledged and not applied.
#ifndef PSD_SERVER_SPARSE_STORE_H_
#define PSD_SERVER_SPARSE_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "server/embedding_table.h"
#include "server/table_checkpoint.h"

namespace psd {

// The table options of a job's model.embedding section.
TableOptions TableOptionsFor(const JobSpec& spec);

class SparseStore {
 public:
  using ReadyCallback = absl::AnyInvocable<void(absl::Status)>;

  static absl::StatusOr<std::unique_ptr<SparseStore>> Create(const JobSpec& spec, int rank,
                                                             int num_servers, int num_workers,
                                                             const std::string& job_id);
  ~SparseStore();

  int dim() const { return table_->dim(); }
  // Calls `ready` once `worker` may read rows for `step` (at once, on this thread, when it
  // already may). Returns the waiting pull's id, or 0 when `ready` was called at once.
  uint64_t WhenReadable(int worker, int64_t step, ReadyCallback ready);
  // Removes waiting pull `id` (its client gave up) and calls it with `why`.
  void CancelWait(uint64_t id, const absl::Status& why);
  // Checks a pull's keys (each owned here) and copies their rows into `out` (keys * dim);
  // creates absent rows unless `read_only` (evaluation), which returns initial values.
  absl::Status Lookup(absl::Span<const uint64_t> keys, int64_t step, bool read_only,
                      absl::Span<float> out);
  // Adds `worker`'s row gradients of `step` (grads: keys * dim floats), all or none: the
  // worker, the step, every key (owned here, no repeats) and value (finite) are checked first.
  absl::Status Push(int worker, int64_t step, int64_t total_steps, absl::Span<const uint64_t> keys,
                    absl::Span<const float> grads);
  // The workers the clock waits for; a step waiting only for removed workers completes.
  void SetLiveWorkers(const std::vector<int>& workers);
  // Fails every waiting pull with `reason` and refuses later calls.
  void Close(const absl::Status& reason);

  // The table's clock: sync, steps applied; async and ssp, the slowest live worker's.
  int64_t step() const;
  TableStats stats() const;
  // Sparse pulls and (applied) pushes served.
  int64_t pulls() const { return pulls_.load(); }
  int64_t pushes() const { return pushes_.load(); }
  const EmbeddingTable& table() const { return *table_; }

  // Checkpoints (docs/operations.md#sparse-tables): every checkpoint.every_steps steps (with
  // checkpoint.dir) and at each scheduled step, the table is copied the moment its clock
  // reaches the step (sync: the apply of step s - 1 is done and no push of step s is applied
  // yet, so it holds exactly step s; async/ssp: every live worker has pushed s - 1, as fuzzy
  // as the dense chunks' checkpoints, a faster worker's later pushes may be in). The copy is
  // full every checkpoint.full_every checkpoints (the first always), else the rows changed
  // since the previous one and the keys evicted since. `fn` gets it outside every lock.
  using SnapshotFn = std::function<void(int64_t step, std::shared_ptr<const TableSnapshot>)>;
  void SetSnapshotHandler(SnapshotFn fn);
  // Adds a checkpoint at `step`; FailedPrecondition if the table is already past it.
  absl::Status ScheduleCheckpoint(int64_t step);
  // The earliest step ScheduleCheckpoint accepts.
  int64_t NextCheckpointableStep() const;
  // Makes the next checkpoint full (a previous one was not written: the chain is broken).
  void ForceFullCheckpoint();
  // Before the first call: loads `snapshot`'s rows (a checkpoint chain merged, see
  // ReadTableChain) and starts the clock at `step`. InvalidArgument on a dim or slot mismatch.
  absl::Status Restore(const TableSnapshot& snapshot, int64_t step);
  // Whether the table has reached the job's last step (total_steps of the pushes).
  bool Finished() const;
  // Every row now, as a full checkpoint of step `step()` (the export at a job's end).
  std::shared_ptr<TableSnapshot> FullSnapshot();

 private:
  struct Waiter {
    int worker;
    int64_t step;
    ReadyCallback ready;
  };
  SparseStore(const JobSpec& spec, int rank, int num_servers, int num_workers, std::string job_id,
              TableOptions options, std::unique_ptr<EmbeddingTable> table);
  bool Readable(int worker, int64_t step) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t SlowestLive() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the open sync step once every live worker has pushed it.
  void MaybeCompleteStep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<Waiter> TakeReady() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckKeys(absl::Span<const uint64_t> keys) const;
  // Checkpoints: copies the table if the clock's move from the last value seen to `now`
  // passes a checkpoint step; the copy waits in ready_snapshots_ for DeliverSnapshots.
  void MaybeSnapshot(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The table's rows (all, or changed since the last checkpoint, with the evicted keys).
  std::shared_ptr<TableSnapshot> CopyRows(bool full, int64_t step, int64_t base);
  void DeliverSnapshots() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string job_id_;
  const int rank_;
  const int num_servers_;
  const int num_workers_;
  const bool aggregate_;  // sync, or ssp with staleness 0
  const Consistency consistency_;
  const int staleness_;
  const TableOptions options_;
  std::unique_ptr<EmbeddingTable> table_;
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status close_reason_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> live_ ABSL_GUARDED_BY(mu_);
  int live_count_ ABSL_GUARDED_BY(mu_);
  // Each worker's next step to push (async, ssp; sync: pushed_ marks the open step).
  std::vector<int64_t> next_step_ ABSL_GUARDED_BY(mu_);
  // Sync: the open step, who has pushed it, and the summed gradients by key.
  int64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> pushed_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> applying_ ABSL_GUARDED_BY(mu_);  // async, ssp: a push being applied
  absl::flat_hash_map<uint64_t, uint32_t> sum_index_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> sum_keys_ ABSL_GUARDED_BY(mu_);
  std::vector<float> sums_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  std::atomic<int64_t> pulls_{0}, pushes_{0};
  std::atomic<int64_t> total_steps_{0};  // from the pushes
  // Checkpoints.
  const int64_t every_steps_;  // 0 without checkpoint.dir
  const int full_every_;
  std::set<int64_t> scheduled_ ABSL_GUARDED_BY(mu_);
  int64_t snapshot_clock_ ABSL_GUARDED_BY(mu_) = 0;   // the clock when last checked
  int64_t last_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;  // the base of the next incremental
  int64_t checkpoints_taken_ ABSL_GUARDED_BY(mu_) = 0;
  bool force_full_ ABSL_GUARDED_BY(mu_) = false;
  SnapshotFn on_snapshot_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int64_t, std::shared_ptr<const TableSnapshot>>> ready_snapshots_
      ABSL_GUARDED_BY(mu_);
  // Held shared by lookups and applies outside mu_, exclusively while a checkpoint copies the
  // rows, so that a copy is never taken half-way through an eviction or an update.
  absl::Mutex table_mu_ ABSL_ACQUIRED_AFTER(mu_);
};

}  // namespace psd

#endif  // PSD_SERVER_SPARSE_STORE_H_
