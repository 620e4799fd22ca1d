// One job's parameter chunks on one server: values, optimizer state and the consistency
// clock of each chunk. Every chunk has its own lock, so pushes to different chunks never
// serialise.
//
// Clocks: a worker computes step c from parameters it pulled "at step c" and pushes the
// gradient as step c. `sync` (and `ssp` with staleness 0) sums the pushes of all live
// workers for step c, applies the optimizer once with the mean, and the chunk reaches step
// c + 1; a pull at step c waits until the chunk has reached c. `async` applies every push at
// once and never makes a pull wait. `ssp` applies every push at once and makes a pull at step
// c wait until every live worker has pushed step c - s - 1 (its clock has reached c - s).
// In async and ssp a push's learning rate is divided by the number of live workers (a round of
// pushes moves the parameters as far as one sync step), or with training.staleness_aware_lr
// by the updates the chunk took since the pushing worker read it.
//
// Input: a push is checked whole before any of it is applied (worker, steps, every chunk's
// key, length and values), so a refused push changes nothing, not even the duplicate
// detection. Steps lie in [0, total_steps) and within what the consistency model allows: sync,
// the chunk's open step; async and ssp, the worker's next step of the chunk (and ssp, at most
// `staleness` ahead of the slowest live worker). total_steps is the job's: training.max_steps
// when set, else the first accepted push's. Non-finite gradients follow
// training.nonfinite_gradients: reject (refused), skip (the chunk's contribution is dropped,
// the step goes on) or fail (refused, and the job fails: the failure handler hears why).
#ifndef PSD_SERVER_SHARD_STORE_H_
#define PSD_SERVER_SHARD_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/job_spec.h"
#include "common/payload.h"
#include "common/placement.h"
#include "optim/optimizer.h"
#include "prometheus/histogram.h"
#include "server/checkpoint.h"

namespace psd {

struct ShardStats {
  int64_t pushes = 0;
  int64_t duplicate_pushes = 0;
  int64_t pulls = 0;
  int64_t max_staleness = 0;
  int64_t min_step = 0;  // the lowest chunk clock
  int64_t waiting_pulls = 0;
  int64_t nonfinite_rejected = 0;  // pushes refused for non-finite values (reject, fail)
  int64_t nonfinite_skipped = 0;   // chunks whose contribution was dropped (skip)
};

// Elastic workers: from `from_step` on, these worker ranks train (Assignment.membership).
struct WorkerSegment {
  int64_t from_step = 0;
  std::vector<int> ranks;
};

// One chunk of a push: its key and the gradient as received.
struct ChunkPush {
  uint64_t key = 0;
  const Payload* grad = nullptr;
};

class ShardStore {
 public:
  // Called once a pull may read; a non-OK status means it never will (the job stopped).
  using ReadyCallback = absl::AnyInvocable<void(absl::Status)>;
  // Receives every chunk of this server as it was at checkpoint `step` (see
  // ScheduleCheckpoint); called once per step, outside every lock.
  using SnapshotFn = std::function<void(int64_t step, std::vector<ChunkSnapshot> chunks)>;
  // Called once, outside every lock, when a push fails the job; must not block.
  using FailureFn = std::function<void(const absl::Status& reason)>;

  // Creates the chunks `rank` owns under `placement`, initialised from the job's seed, or,
  // with `restore`, from a checkpoint of step `restore_step` (every owned chunk, once).
  // `job_id` names the job in errors.
  static absl::StatusOr<std::unique_ptr<ShardStore>> Create(
      const JobSpec& spec, const Placement& placement, int rank, int num_workers,
      std::vector<ChunkSnapshot>* restore = nullptr, int64_t restore_step = 0,
      const std::string& job_id = "");

  // Checkpoints: every checkpoint.every_steps steps (when > 0) and at each scheduled step,
  // each chunk is copied the moment it reaches the step (sync: completes it; async/ssp: its
  // slowest live worker has pushed it), and once every chunk has been copied `fn` gets them.
  void SetSnapshotHandler(SnapshotFn fn);
  void SetFailureHandler(FailureFn fn);
  // Metrics (server/job_metrics.h), set before the first push and outliving the store: the
  // time of each optimizer update of a chunk, and the staleness each chunk read is served at.
  void SetMetrics(prometheus::Histogram* apply_seconds, prometheus::Histogram* staleness) {
    apply_seconds_ = apply_seconds;
    staleness_seen_ = staleness;
  }
  // Adds a checkpoint at `step`; FailedPrecondition if a chunk is already past it. A store
  // that owns no chunk (more servers than chunks) hands its empty snapshot over at once.
  absl::Status ScheduleCheckpoint(int64_t step);
  // The first step no chunk has passed yet: the earliest step ScheduleCheckpoint accepts.
  int64_t NextCheckpointableStep() const;
  ~ShardStore();

  // Adds `worker`'s gradients of `chunks` computed at `step` (see the clock rules above), all
  // or none (see Input above). A chunk that has already taken this push from that worker (a
  // retry) is acknowledged and not applied again. The gradients are read in place from the
  // received buffers (f32 or f16 in pieces) into the accumulator or the optimizer, no copy.
  absl::Status Push(int worker, int64_t step, int64_t total_steps,
                    absl::Span<const ChunkPush> chunks);
  // One chunk.
  absl::Status Push(int worker, int64_t step, uint64_t key, absl::Span<const float> grad,
                    int64_t total_steps);
  absl::Status Push(int worker, int64_t step, uint64_t key, const Payload& grad,
                    int64_t total_steps);

  // Calls `ready` once `worker` may read chunk `key` for step `step`: at once (on this
  // thread) when it already may, else from the thread whose push or membership change
  // makes it possible, or with an error from Close() or CancelWait(). Returns the id of the
  // waiting pull, or 0 when `ready` was called at once.
  uint64_t WhenReadable(uint64_t key, int worker, int64_t step, ReadyCallback ready);
  // Removes waiting pull `id` of chunk `key` (its client gave up) and calls it with `why`;
  // nothing when it is no longer waiting.
  void CancelWait(uint64_t key, uint64_t id, const absl::Status& why);

  // Copies chunk `key`'s parameters into `out` (its exact length); returns the chunk's clock.
  absl::StatusOr<int64_t> Read(uint64_t key, absl::Span<float> out) const;
  // Calls `fn` with chunk `key`'s parameters under the chunk's lock (to encode them straight
  // into an outgoing buffer); returns the chunk's clock.
  absl::StatusOr<int64_t> ReadWith(uint64_t key,
                                   absl::FunctionRef<void(absl::Span<const float>)> fn) const;

  // The workers the clocks wait for. Steps that were waiting only for removed workers
  // complete now with the gradients that arrived.
  void SetLiveWorkers(const std::vector<int>& workers);
  // Elastic workers: the job now has `num_workers` ranks (never fewer than before), of which
  // `live` are not lost, and `segments` (oldest first) say which train from which step. A sync
  // step t waits for the live ranks of t's segment; async and ssp follow the newest segment (its
  // count shares the learning rate). A rank's first step is its first segment's.
  void SetMembership(int num_workers, const std::vector<int>& live,
                     std::vector<WorkerSegment> segments);

  // Fails every waiting pull with `reason` and refuses later calls.
  void Close(const absl::Status& reason);
  // Why a push failed the job (training.nonfinite_gradients: fail); OK while it has not.
  absl::Status failure() const;

  // Logs, once per call, each chunk whose pulls have waited longer than `threshold`,
  // naming the workers they wait for. Returns the number of such chunks.
  int LogSlowWaits(absl::Duration threshold);

  bool Owns(uint64_t key) const;
  const std::vector<uint64_t>& keys() const { return keys_; }
  int64_t num_bytes() const;
  ShardStats stats() const;
  // stats().max_staleness without visiting the chunks (for every pull reply).
  int64_t max_staleness() const { return max_staleness_.load(); }

 private:
  struct Chunk;
  struct Waiter;

  ShardStore(const JobSpec& spec, const Placement& placement, int rank, int num_workers,
             std::string job_id);
  struct PushItem;
  using PushItems = absl::InlinedVector<PushItem, 4>;
  // The checks of a push that need no chunk lock; fills `items`, in key order.
  absl::Status CheckPush(int worker, int64_t step, int64_t total_steps,
                         absl::Span<const ChunkPush> chunks, PushItems* items);
  // The steps a push's clocks must respect, under the chunk's lock.
  absl::Status CheckClock(const Chunk& c, int worker, int64_t step) const;
  // The job's steps: training.max_steps, else the first accepted push's total (0: unknown).
  int64_t TotalSteps() const;
  void Fail(const absl::Status& reason);
  Chunk* Find(uint64_t key) const;
  // Whether `worker` may read `c` for `step`; also returns the staleness it would observe.
  bool Readable(const Chunk& c, int worker, int64_t step, int64_t* staleness) const;
  // Applies the summed gradient of the open sync step if every live worker has pushed it.
  void MaybeCompleteSyncStep(Chunk& c);
  // The step a checkpoint of `c` would hold now: sync, its clock; else its slowest live
  // worker's clock.
  int64_t CheckpointClock(const Chunk& c) const;
  // Copies `c` into the pending checkpoints it has just reached; returns a checkpoint that is
  // now complete (step, chunks), to hand to the handler outside the locks.
  std::optional<std::pair<int64_t, std::vector<ChunkSnapshot>>> MaybeSnapshot(Chunk& c);
  void Deliver(std::optional<std::pair<int64_t, std::vector<ChunkSnapshot>>> done);
  // Removes the waiters that may read now and returns them, to be called outside the lock.
  std::vector<Waiter> TakeReadyWaiters(Chunk& c);
  void NoteStaleness(int64_t s);

  const JobSpec spec_;
  const std::string job_id_;
  const bool aggregate_;          // sync, or ssp with staleness 0
  std::atomic<int> num_workers_;  // grows with SetMembership, after the clocks have
  std::vector<uint64_t> keys_;
  std::vector<std::unique_ptr<Chunk>> chunks_;  // indexed by key; null where not owned
  mutable absl::Mutex live_mu_;
  // The newest segment's live ranks; and each segment's (from_step, live ranks), oldest first.
  std::vector<int> live_workers_ ABSL_GUARDED_BY(live_mu_);
  std::vector<int> not_lost_ ABSL_GUARDED_BY(live_mu_);
  std::vector<WorkerSegment> segments_ ABSL_GUARDED_BY(live_mu_);
  std::vector<WorkerSegment> live_by_step_ ABSL_GUARDED_BY(live_mu_);
  // The live ranks a sync step `clock` waits for.
  const std::vector<int>& LiveAt(int64_t clock) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(live_mu_);
  // Recomputes live_workers_ and live_by_step_ from not_lost_ and segments_.
  void RecomputeLive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(live_mu_);
  // Completes what the new membership allows: sync steps, checkpoints, waiting pulls.
  void AfterMembershipChange();
  std::atomic<bool> closed_{false};
  // Checkpoints being collected: step -> chunks copied so far; and steps asked for.
  mutable absl::Mutex snap_mu_;
  std::map<int64_t, std::vector<ChunkSnapshot>> snapshots_ ABSL_GUARDED_BY(snap_mu_);
  std::set<int64_t> scheduled_ ABSL_GUARDED_BY(snap_mu_);
  SnapshotFn on_snapshot_ ABSL_GUARDED_BY(snap_mu_);
  std::atomic<int64_t> pushes_{0}, duplicates_{0}, pulls_{0}, max_staleness_{0};
  std::atomic<int64_t> total_steps_{0};  // pinned by the first accepted push
  std::atomic<uint64_t> next_waiter_{1};
  std::atomic<int64_t> waiting_{0}, nonfinite_rejected_{0}, nonfinite_skipped_{0};
  mutable absl::Mutex fail_mu_;
  FailureFn on_failure_ ABSL_GUARDED_BY(fail_mu_);
  prometheus::Histogram* apply_seconds_ = nullptr;
  prometheus::Histogram* staleness_seen_ = nullptr;
  // ApplyUpdate, timed into apply_seconds_ when set.
  void TimedUpdate(double lr, const Payload& grad, absl::Span<float> params, OptimizerState& opt);
  void TimedUpdate(double lr, absl::Span<const float> grad, absl::Span<float> params,
                   OptimizerState& opt);
  absl::Status failure_ ABSL_GUARDED_BY(fail_mu_);
};

}  // namespace psd

#endif  // PSD_SERVER_SHARD_STORE_H_
