#include "server/shard_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/memory_estimate.h"
#include "common/status_macros.h"
#include "server/nonfinite.h"

namespace psd {
namespace {

// ApplyUpdate, its time observed into `seconds` when there is one (metrics on).
template <typename Grad>
void TimedApply(prometheus::Histogram* seconds, const OptimizerSpec& optimizer, float lr,
                const Grad& grad, absl::Span<float> params, OptimizerState& opt) {
  if (seconds == nullptr) return ApplyUpdate(optimizer, lr, grad, params, opt);
  const absl::Time start = absl::Now();
  ApplyUpdate(optimizer, lr, grad, params, opt);
  seconds->Observe(absl::ToDoubleSeconds(absl::Now() - start));
}

}  // namespace

struct ShardStore::PushItem {
  Chunk* c;
  const Payload* grad;
  bool skip;       // non-finite values, training.nonfinite_gradients: skip
  bool duplicate;  // a retry the chunk has already taken
};

struct ShardStore::Waiter {
  uint64_t id = 0;
  int worker = 0;
  int64_t step = 0;
  absl::Time since;
  ReadyCallback ready;
};

struct ShardStore::Chunk {
  mutable absl::Mutex mu;
  ChunkInfo info;
  std::vector<float> params ABSL_GUARDED_BY(mu);
  std::vector<float> accum ABSL_GUARDED_BY(mu);  // sync: sum of the open step's gradients
  OptimizerState opt ABSL_GUARDED_BY(mu);
  // sync: steps completed; async/ssp: updates applied.
  int64_t clock ABSL_GUARDED_BY(mu) = 0;
  int contributors ABSL_GUARDED_BY(mu) = 0;  // sync: pushes summed into accum
  int arrived ABSL_GUARDED_BY(mu) = 0;       // sync: pushes of the open step, skipped ones too
  std::vector<int64_t> worker_clock ABSL_GUARDED_BY(mu);       // per worker: last pushed step + 1
  std::vector<int64_t> worker_read_clock ABSL_GUARDED_BY(mu);  // clock at the worker's last read
  std::vector<Waiter> waiters ABSL_GUARDED_BY(mu);
  int64_t snapshot_clock ABSL_GUARDED_BY(mu) = 0;  // checkpoint clock at the last check
};

ShardStore::ShardStore(const JobSpec& spec, const Placement& placement, int rank, int num_workers,
                       std::string job_id)
    : spec_(spec),
      job_id_(std::move(job_id)),
      aggregate_(spec.training.consistency == Consistency::kSync ||
                 (spec.training.consistency == Consistency::kSsp && spec.training.staleness == 0)),
      num_workers_(num_workers),
      keys_(placement.ServerKeys(rank)),
      chunks_(placement.chunks().size()) {
  for (int w = 0; w < num_workers; ++w) not_lost_.push_back(w);
  segments_.push_back({0, not_lost_});
  absl::MutexLock lock(&live_mu_);
  RecomputeLive();
}

ShardStore::~ShardStore() { Close(absl::CancelledError("job state dropped")); }

absl::StatusOr<std::unique_ptr<ShardStore>> ShardStore::Create(
    const JobSpec& spec, const Placement& placement, int rank, int num_workers,
    std::vector<ChunkSnapshot>* restore, int64_t restore_step, const std::string& job_id) {
  if (rank < 0 || rank >= placement.num_servers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server rank ", rank, " out of range [0, ", placement.num_servers(), ")"));
  }
  if (num_workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("need at least 1 worker, got ", num_workers));
  }
  // What common/memory_estimate.h counts for each chunk's record: the struct and the heap
  // blocks of its vectors (allocator headers).
  static_assert(sizeof(Chunk) + 6 * 16 <= kChunkRecordBytes,
                "a chunk's record grew: update kChunkRecordBytes in common/memory_estimate.h");
  std::unique_ptr<ShardStore> store(new ShardStore(spec, placement, rank, num_workers, job_id));
  for (uint64_t key : store->keys_) {
    auto c = std::make_unique<Chunk>();
    c->info = placement.chunk(key);
    absl::MutexLock lock(&c->mu);
    c->params.resize(c->info.length);
    InitTensorSlice(spec.seed, placement.tensors()[c->info.tensor], c->info.offset,
                    absl::MakeSpan(c->params));
    if (store->aggregate_) c->accum.assign(c->info.length, 0.0f);
    c->opt = NewOptimizerState(spec.training.optimizer, c->info.length);
    c->worker_clock.assign(num_workers, 0);
    c->worker_read_clock.assign(num_workers, 0);
    store->chunks_[key] = std::move(c);
  }
  if (restore != nullptr) {
    std::set<uint64_t> restored;
    for (ChunkSnapshot& snap : *restore) {
      Chunk* c = store->Find(snap.key);
      if (c == nullptr || !restored.insert(snap.key).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "checkpoint holds chunk ", snap.key, " twice or server ", rank, " does not own it"));
      }
      absl::MutexLock lock(&c->mu);
      if (snap.params.size() != c->params.size() || snap.opt.slot0.size() != c->opt.slot0.size() ||
          snap.opt.slot1.size() != c->opt.slot1.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "checkpoint chunk ", snap.key, " does not fit this job (optimizer or size changed)"));
      }
      c->params = std::move(snap.params);
      c->opt = std::move(snap.opt);
      // Every worker resumes at restore_step: earlier pushes count as applied.
      c->clock = store->aggregate_ ? restore_step : snap.clock;
      c->worker_clock.assign(num_workers, restore_step);
      c->worker_read_clock.assign(num_workers, c->clock);
      c->snapshot_clock = restore_step;
    }
    if (restored.size() != store->keys_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint holds ", restored.size(),
                                                     " chunks, server ", rank, " owns ",
                                                     store->keys_.size()));
    }
  }
  return store;
}

ShardStore::Chunk* ShardStore::Find(uint64_t key) const {
  return key < chunks_.size() ? chunks_[key].get() : nullptr;
}

bool ShardStore::Owns(uint64_t key) const { return Find(key) != nullptr; }

int64_t ShardStore::num_bytes() const {
  int64_t n = 0;
  for (uint64_t key : keys_) n += chunks_[key]->info.length;
  return n * static_cast<int64_t>(sizeof(float));
}

absl::Status ShardStore::Push(int worker, int64_t step, uint64_t key, absl::Span<const float> grad,
                              int64_t total_steps) {
  return Push(worker, step, key, Payload::F32(grad), total_steps);
}

absl::Status ShardStore::Push(int worker, int64_t step, uint64_t key, const Payload& grad,
                              int64_t total_steps) {
  const ChunkPush chunk{key, &grad};
  return Push(worker, step, total_steps, {&chunk, 1});
}

int64_t ShardStore::TotalSteps() const {
  return spec_.training.max_steps > 0 ? spec_.training.max_steps : total_steps_.load();
}

absl::Status ShardStore::CheckPush(int worker, int64_t step, int64_t total_steps,
                                   absl::Span<const ChunkPush> chunks, PushItems* items) {
  if (worker < 0 || worker >= num_workers_) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker ", worker, " out of range [0, ", num_workers_.load(), ")"));
  }
  if (step < 0) return absl::InvalidArgumentError(absl::StrCat("negative step ", step));
  if (total_steps <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("total_steps: must be the job's planned steps (> 0), got ", total_steps));
  }
  if (const int64_t known = TotalSteps(); known > 0 && total_steps != known) {
    return absl::InvalidArgumentError(
        absl::StrCat("total_steps ", total_steps, " differs from the job's ", known));
  }
  if (step >= total_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("step ", step, " is outside the job's steps [0, ", total_steps, ")"));
  }
  items->clear();
  int64_t bad_values = 0;
  std::vector<uint64_t> bad_keys;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const uint64_t key = chunks[i].key;
    const Payload& grad = *chunks[i].grad;
    Chunk* c = Find(key);
    if (c == nullptr) {
      return absl::NotFoundError(absl::StrCat("chunk ", key, " is not on this server"));
    }
    if (!grad.whole()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", key, ": payload of ", grad.bytes(), " bytes is not whole ",
                       grad.type() == WireType::kF16 ? "halves" : "floats"));
    }
    if (grad.elements() != c->info.length) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", key, ": gradient has ",
                                                     grad.elements(), " elements, expected ",
                                                     c->info.length));
    }
    const int64_t n = CountNonFinite(grad);
    if (n > 0) {
      bad_keys.push_back(key);
      bad_values += n;
    }
    items->push_back({c, &grad, n > 0, false});
  }
  // Key order: the order in which a push locks its chunks (no other path holds two).
  std::sort(items->begin(), items->end(),
            [](const PushItem& a, const PushItem& b) { return a.c->info.key < b.c->info.key; });
  for (size_t i = 1; i < items->size(); ++i) {
    if ((*items)[i].c == (*items)[i - 1].c) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", (*items)[i].c->info.key, " appears twice in one push"));
    }
  }
  const NonfinitePolicy policy = spec_.training.nonfinite_gradients;
  if (bad_values == 0 || policy == NonfinitePolicy::kSkip) return absl::OkStatus();
  ++nonfinite_rejected_;
  const absl::Status refused = absl::InvalidArgumentError(absl::StrCat(
      job_id_.empty() ? "" : absl::StrCat("job ", job_id_, " "), "worker ", worker, " step ", step,
      ": chunk", bad_keys.size() == 1 ? " " : "s ", absl::StrJoin(bad_keys, ", "),
      bad_keys.size() == 1 ? " has " : " have ", bad_values, " non-finite value",
      bad_values == 1 ? "" : "s", " (training.nonfinite_gradients: ", NonfinitePolicyName(policy),
      "); ", policy == NonfinitePolicy::kFail ? "the job fails" : "nothing applied"));
  if (policy == NonfinitePolicy::kFail) Fail(refused);
  return refused;
}

absl::Status ShardStore::CheckClock(const Chunk& c, int worker, int64_t step) const {
  if (aggregate_) {
    if (step == c.clock) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", worker, " pushed step ", step, " of chunk ", c.info.key,
                     " but the chunk is at step ", c.clock,
                     step < c.clock ? " (the worker was dropped from the job)" : ""));
  }
  if (step != c.worker_clock[worker]) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", worker, " pushed step ", step, " of chunk ", c.info.key,
                     " but its next step there is ", c.worker_clock[worker]));
  }
  if (spec_.training.consistency == Consistency::kSsp) {
    int64_t slowest = step;
    absl::MutexLock lock(&live_mu_);
    for (int w : live_workers_) slowest = std::min(slowest, c.worker_clock[w]);
    if (step > slowest + spec_.training.staleness) {
      return absl::FailedPreconditionError(absl::StrCat(
          "worker ", worker, " pushed step ", step, " of chunk ", c.info.key, ", more than ",
          spec_.training.staleness, " steps ahead of the slowest worker (at step ", slowest, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ShardStore::Push(int worker, int64_t step, int64_t total_steps,
                              absl::Span<const ChunkPush> chunks) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (closed_) return absl::FailedPreconditionError("job is no longer served here");
  PushItems items;
  PSD_RETURN_IF_ERROR(CheckPush(worker, step, total_steps, chunks, &items));
  for (PushItem& item : items) item.c->mu.Lock();
  auto unlock = [&items]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (auto it = items.rbegin(); it != items.rend(); ++it) it->c->mu.Unlock();
  };
  absl::Status status;
  for (PushItem& item : items) {
    item.duplicate = item.c->worker_clock[worker] > step;
    if (!item.duplicate) status = CheckClock(*item.c, worker, step);
    if (!status.ok()) break;
  }
  if (status.ok()) {
    int64_t pinned = 0;
    if (!total_steps_.compare_exchange_strong(pinned, total_steps) && pinned != total_steps) {
      status = absl::InvalidArgumentError(
          absl::StrCat("total_steps ", total_steps, " differs from the job's ", pinned));
    }
  }
  if (!status.ok()) {
    unlock();
    return status;
  }
  std::vector<Waiter> ready;
  absl::InlinedVector<std::optional<std::pair<int64_t, std::vector<ChunkSnapshot>>>, 4> snapshots;
  const double rate = LearningRate(spec_.training, step, total_steps);
  for (PushItem& item : items) {
    Chunk& c = *item.c;
    if (item.duplicate) {
      ++duplicates_;
      continue;
    }
    ++pushes_;
    if (item.skip) ++nonfinite_skipped_;
    if (aggregate_) {
      if (!item.skip) {
        item.grad->AddTo(c.accum.data());
        ++c.contributors;
      }
      ++c.arrived;
      c.worker_clock[worker] = step + 1;
      MaybeCompleteSyncStep(c);
    } else {
      if (!item.skip) {
        // One push per live worker moves the parameters as far as one sync step: the rate is
        // divided by the number of live workers, or (staleness-aware) by the number of
        // updates since this worker read the chunk, so a stale gradient takes a smaller step.
        double lr = rate;
        if (spec_.training.staleness_aware_lr) {
          lr /= static_cast<double>(std::max<int64_t>(1, c.clock - c.worker_read_clock[worker]));
        } else {
          absl::MutexLock live(&live_mu_);
          lr /= static_cast<double>(std::max<size_t>(1, live_workers_.size()));
        }
        TimedUpdate(lr, *item.grad, absl::MakeSpan(c.params), c.opt);
        ++c.clock;
      }
      c.worker_clock[worker] = step + 1;
    }
    snapshots.push_back(MaybeSnapshot(c));
    std::vector<Waiter> more = TakeReadyWaiters(c);
    for (Waiter& w : more) ready.push_back(std::move(w));
  }
  unlock();
  for (auto& snapshot : snapshots) Deliver(std::move(snapshot));
  for (Waiter& w : ready) w.ready(absl::OkStatus());
  return absl::OkStatus();
}

void ShardStore::MaybeCompleteSyncStep(Chunk& c) {
  if (c.arrived == 0) return;
  {
    absl::MutexLock lock(&live_mu_);
    const std::vector<int>& live = LiveAt(c.clock);
    // Every live worker's push is among the step's arrivals: until there are that many, no
    // scan (one scan per step and chunk, not one per push: that was quadratic in workers).
    if (static_cast<size_t>(c.arrived) < live.size()) return;
    for (int w : live) {
      if (c.worker_clock[w] <= c.clock) return;
    }
  }
  if (c.contributors > 0) {  // else every push of the step was skipped: no update
    const float inv = 1.0f / static_cast<float>(c.contributors);
    for (float& a : c.accum) a *= inv;
    const double lr = LearningRate(spec_.training, c.clock, TotalSteps());
    TimedUpdate(lr, c.accum, absl::MakeSpan(c.params), c.opt);
    std::fill(c.accum.begin(), c.accum.end(), 0.0f);
  }
  c.contributors = 0;
  c.arrived = 0;
  ++c.clock;
}

bool ShardStore::Readable(const Chunk& c, int worker, int64_t step, int64_t* staleness) const {
  (void)worker;
  int64_t slowest = step;
  {
    absl::MutexLock lock(&live_mu_);
    for (int w : live_workers_) slowest = std::min(slowest, c.worker_clock[w]);
  }
  *staleness = step - slowest;
  switch (spec_.training.consistency) {
    case Consistency::kAsync:
      return true;
    case Consistency::kSsp:
      if (!aggregate_) return *staleness <= spec_.training.staleness;
      [[fallthrough]];
    case Consistency::kSync:
      *staleness = 0;
      return c.clock >= step;
  }
  return true;
}

std::vector<ShardStore::Waiter> ShardStore::TakeReadyWaiters(Chunk& c) {
  std::vector<Waiter> ready;
  for (size_t i = 0; i < c.waiters.size();) {
    int64_t staleness = 0;
    if (Readable(c, c.waiters[i].worker, c.waiters[i].step, &staleness)) {
      NoteStaleness(staleness);
      c.worker_read_clock[c.waiters[i].worker] = c.clock;
      ready.push_back(std::move(c.waiters[i]));
      c.waiters[i] = std::move(c.waiters.back());
      c.waiters.pop_back();
      --waiting_;
    } else {
      ++i;
    }
  }
  return ready;
}

void ShardStore::TimedUpdate(double lr, const Payload& grad, absl::Span<float> params,
                             OptimizerState& opt) {
  TimedApply(apply_seconds_, spec_.training.optimizer, static_cast<float>(lr), grad, params, opt);
}

void ShardStore::TimedUpdate(double lr, absl::Span<const float> grad, absl::Span<float> params,
                             OptimizerState& opt) {
  TimedApply(apply_seconds_, spec_.training.optimizer, static_cast<float>(lr), grad, params, opt);
}

void ShardStore::NoteStaleness(int64_t s) {
  if (staleness_seen_ != nullptr) staleness_seen_->Observe(static_cast<double>(s));
  int64_t seen = max_staleness_.load();
  while (s > seen && !max_staleness_.compare_exchange_weak(seen, s)) {
  }
}

uint64_t ShardStore::WhenReadable(uint64_t key, int worker, int64_t step, ReadyCallback ready) {
  ++pulls_;
  Chunk* c = Find(key);
  if (c == nullptr) {
    ready(absl::NotFoundError(absl::StrCat("chunk ", key, " is not on this server")));
    return 0;
  }
  if (worker < 0 || worker >= num_workers_) {
    ready(absl::InvalidArgumentError(
        absl::StrCat("worker ", worker, " out of range [0, ", num_workers_.load(), ")")));
    return 0;
  }
  // A pull of step t reads what step t computes from; the last one is of the job's last step.
  if (const int64_t total = TotalSteps(); step < 0 || (total > 0 && step > total)) {
    ready(absl::InvalidArgumentError(
        step < 0
            ? absl::StrCat("negative step ", step)
            : absl::StrCat("pull of step ", step, " is outside the job's steps [0, ", total, "]")));
    return 0;
  }
  {
    absl::MutexLock lock(&c->mu);
    if (closed_) {
      ready(absl::FailedPreconditionError("job is no longer served here"));
      return 0;
    }
    int64_t staleness = 0;
    if (!Readable(*c, worker, step, &staleness)) {
      const uint64_t id = next_waiter_++;
      c->waiters.push_back({id, worker, step, absl::Now(), std::move(ready)});
      ++waiting_;
      return id;
    }
    NoteStaleness(staleness);
    c->worker_read_clock[worker] = c->clock;
  }
  ready(absl::OkStatus());
  return 0;
}

void ShardStore::CancelWait(uint64_t key, uint64_t id, const absl::Status& why) {
  Chunk* c = Find(key);
  if (c == nullptr || id == 0) return;
  std::optional<Waiter> gone;
  {
    absl::MutexLock lock(&c->mu);
    for (size_t i = 0; i < c->waiters.size(); ++i) {
      if (c->waiters[i].id != id) continue;
      gone = std::move(c->waiters[i]);
      c->waiters[i] = std::move(c->waiters.back());
      c->waiters.pop_back();
      --waiting_;
      break;
    }
  }
  if (gone.has_value()) gone->ready(why);
}

absl::StatusOr<int64_t> ShardStore::ReadWith(
    uint64_t key, absl::FunctionRef<void(absl::Span<const float>)> fn) const {
  const Chunk* c = Find(key);
  if (c == nullptr)
    return absl::NotFoundError(absl::StrCat("chunk ", key, " is not on this server"));
  absl::MutexLock lock(&c->mu);
  fn(c->params);
  return c->clock;
}

absl::StatusOr<int64_t> ShardStore::Read(uint64_t key, absl::Span<float> out) const {
  const Chunk* c = Find(key);
  if (c == nullptr)
    return absl::NotFoundError(absl::StrCat("chunk ", key, " is not on this server"));
  if (static_cast<int64_t>(out.size()) != c->info.length) {
    return absl::InvalidArgumentError(absl::StrCat("chunk ", key, ": read of ", out.size(),
                                                   " elements, chunk has ", c->info.length));
  }
  absl::MutexLock lock(&c->mu);
  std::copy(c->params.begin(), c->params.end(), out.begin());
  return c->clock;
}

void ShardStore::SetLiveWorkers(const std::vector<int>& workers) {
  {
    absl::MutexLock lock(&live_mu_);
    not_lost_.clear();
    for (int w : workers) {
      if (w >= 0 && w < num_workers_) not_lost_.push_back(w);
    }
    RecomputeLive();
  }
  AfterMembershipChange();
}

const std::vector<int>& ShardStore::LiveAt(int64_t clock) const {
  auto it = std::upper_bound(
      live_by_step_.begin(), live_by_step_.end(), clock,
      [](int64_t c, const WorkerSegment& segment) { return c < segment.from_step; });
  return it == live_by_step_.begin() ? live_by_step_.front().ranks : std::prev(it)->ranks;
}

void ShardStore::RecomputeLive() {
  live_by_step_.clear();
  for (const WorkerSegment& segment : segments_) {
    WorkerSegment live{segment.from_step, {}};
    for (int r : segment.ranks) {
      if (std::binary_search(not_lost_.begin(), not_lost_.end(), r)) live.ranks.push_back(r);
    }
    live_by_step_.push_back(std::move(live));
  }
  live_workers_ = live_by_step_.back().ranks;
}

void ShardStore::SetMembership(int num_workers, const std::vector<int>& live,
                               std::vector<WorkerSegment> segments) {
  if (segments.empty()) segments.push_back({0, live});
  for (WorkerSegment& segment : segments) std::sort(segment.ranks.begin(), segment.ranks.end());
  // Each rank's first step: its clocks start there (a rank that joins at step t next pushes t).
  std::map<int, int64_t> first;
  for (const WorkerSegment& segment : segments) {
    for (int r : segment.ranks) first.try_emplace(r, segment.from_step);
  }
  const int grown = std::max(num_workers, num_workers_.load());
  for (uint64_t key : keys_) {
    Chunk& c = *chunks_[key];
    absl::MutexLock lock(&c.mu);
    if (static_cast<int>(c.worker_clock.size()) < grown) {
      c.worker_clock.resize(grown, 0);
      c.worker_read_clock.resize(grown, c.clock);
    }
    for (const auto& [r, from] : first) {
      if (r >= 0 && r < grown && c.worker_clock[r] < from) c.worker_clock[r] = from;
    }
  }
  num_workers_.store(grown);  // pushes of the new ranks are accepted from here on
  {
    absl::MutexLock lock(&live_mu_);
    not_lost_.clear();
    for (int w : live) {
      if (w >= 0 && w < grown) not_lost_.push_back(w);
    }
    std::sort(not_lost_.begin(), not_lost_.end());
    segments_ = std::move(segments);
    RecomputeLive();
  }
  AfterMembershipChange();
}

void ShardStore::AfterMembershipChange() {
  for (uint64_t key : keys_) {
    Chunk& c = *chunks_[key];
    std::vector<Waiter> ready;
    std::optional<std::pair<int64_t, std::vector<ChunkSnapshot>>> snapshot;
    {
      absl::MutexLock lock(&c.mu);
      if (aggregate_) MaybeCompleteSyncStep(c);
      snapshot = MaybeSnapshot(c);
      ready = TakeReadyWaiters(c);
    }
    Deliver(std::move(snapshot));
    for (Waiter& w : ready) w.ready(absl::OkStatus());
  }
}

int64_t ShardStore::CheckpointClock(const Chunk& c) const {
  if (aggregate_) return c.clock;
  int64_t slowest = INT64_MAX;
  absl::MutexLock lock(&live_mu_);
  for (int w : live_workers_) slowest = std::min(slowest, c.worker_clock[w]);
  return slowest == INT64_MAX ? c.snapshot_clock : slowest;
}

std::optional<std::pair<int64_t, std::vector<ChunkSnapshot>>> ShardStore::MaybeSnapshot(Chunk& c) {
  const int64_t now = CheckpointClock(c);
  if (now <= c.snapshot_clock) return std::nullopt;
  const int64_t from = c.snapshot_clock;
  c.snapshot_clock = now;
  // The newest checkpoint step in (from, now]: a multiple of every_steps, or one scheduled.
  const int64_t every = spec_.checkpoint.dir.empty() ? 0 : spec_.checkpoint.every_steps;
  int64_t step = every > 0 ? now / every * every : 0;
  if (step <= from) step = 0;
  absl::MutexLock lock(&snap_mu_);
  if (on_snapshot_ == nullptr) return std::nullopt;
  auto it = scheduled_.upper_bound(now);
  if (it != scheduled_.begin() && *std::prev(it) > from) step = std::max(step, *std::prev(it));
  if (step == 0) return std::nullopt;
  std::vector<ChunkSnapshot>& chunks = snapshots_[step];
  chunks.push_back({c.info.key, c.clock, c.params, c.opt});
  if (chunks.size() < keys_.size()) return std::nullopt;
  std::pair<int64_t, std::vector<ChunkSnapshot>> done{step, std::move(chunks)};
  snapshots_.erase(step);
  scheduled_.erase(scheduled_.begin(), scheduled_.upper_bound(step));
  return done;
}

void ShardStore::Deliver(std::optional<std::pair<int64_t, std::vector<ChunkSnapshot>>> done) {
  if (!done.has_value()) return;
  SnapshotFn fn;
  {
    absl::MutexLock lock(&snap_mu_);
    fn = on_snapshot_;
  }
  if (fn) fn(done->first, std::move(done->second));
}

void ShardStore::SetFailureHandler(FailureFn fn) {
  absl::MutexLock lock(&fail_mu_);
  on_failure_ = std::move(fn);
}

absl::Status ShardStore::failure() const {
  absl::MutexLock lock(&fail_mu_);
  return failure_;
}

void ShardStore::Fail(const absl::Status& reason) {
  FailureFn fn;
  {
    absl::MutexLock lock(&fail_mu_);
    if (!failure_.ok()) return;
    failure_ = reason;
    fn = on_failure_;
  }
  spdlog::error("{}", reason.message());
  Close(absl::FailedPreconditionError(absl::StrCat("the job failed: ", reason.message())));
  if (fn) fn(reason);
}

void ShardStore::SetSnapshotHandler(SnapshotFn fn) {
  absl::MutexLock lock(&snap_mu_);
  on_snapshot_ = std::move(fn);
}

int64_t ShardStore::NextCheckpointableStep() const {
  int64_t passed = 0;
  for (uint64_t key : keys_) {
    absl::MutexLock lock(&chunks_[key]->mu);
    passed = std::max(passed, CheckpointClock(*chunks_[key]));
  }
  return passed + 1;
}

absl::Status ShardStore::ScheduleCheckpoint(int64_t step) {
  const int64_t earliest = NextCheckpointableStep();
  if (step < earliest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot checkpoint step ", step, ": this server is already at step ", earliest - 1));
  }
  if (keys_.empty()) {
    // No chunk here: no clock will pass the step, and the (empty) state is that of any step.
    Deliver(std::make_pair(step, std::vector<ChunkSnapshot>()));
    return absl::OkStatus();
  }
  absl::MutexLock lock(&snap_mu_);
  scheduled_.insert(step);
  return absl::OkStatus();
}

void ShardStore::Close(const absl::Status& reason) {
  closed_ = true;
  for (uint64_t key : keys_) {
    Chunk& c = *chunks_[key];
    std::vector<Waiter> waiting;
    {
      absl::MutexLock lock(&c.mu);
      waiting.swap(c.waiters);
      waiting_ -= static_cast<int64_t>(waiting.size());
    }
    for (Waiter& w : waiting) w.ready(reason);
  }
}

int ShardStore::LogSlowWaits(absl::Duration threshold) {
  const absl::Time now = absl::Now();
  int slow = 0;
  for (uint64_t key : keys_) {
    Chunk& c = *chunks_[key];
    absl::MutexLock lock(&c.mu);
    if (c.waiters.empty()) continue;
    absl::Time oldest = now;
    int64_t step = 0;
    for (const Waiter& w : c.waiters) {
      if (w.since < oldest) oldest = w.since, step = w.step;
    }
    if (now - oldest < threshold) continue;
    ++slow;
    std::vector<int> behind;
    {
      absl::MutexLock live_lock(&live_mu_);
      for (int w : live_workers_) {
        if (c.worker_clock[w] < step - (aggregate_ ? 0 : spec_.training.staleness)) {
          behind.push_back(w);
        }
      }
    }
    spdlog::warn("chunk {} step {}: pulls have waited {:.1f} s for worker(s) [{}]", key, step,
                 absl::ToDoubleSeconds(now - oldest), absl::StrJoin(behind, ", "));
  }
  return slow;
}

ShardStats ShardStore::stats() const {
  ShardStats s;
  s.pushes = pushes_;
  s.duplicate_pushes = duplicates_;
  s.pulls = pulls_;
  s.max_staleness = max_staleness_;
  s.waiting_pulls = waiting_;
  s.nonfinite_rejected = nonfinite_rejected_;
  s.nonfinite_skipped = nonfinite_skipped_;
  s.min_step = INT64_MAX;
  for (uint64_t key : keys_) {
    absl::MutexLock lock(&chunks_[key]->mu);
    s.min_step = std::min(s.min_step, chunks_[key]->clock);
  }
  if (keys_.empty()) s.min_step = 0;
  return s;
}

}  // namespace psd
