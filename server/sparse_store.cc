#include "server/sparse_store.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace psd {
namespace {

RowOptimizerType RowOptimizerFor(TableOptimizerType t) {
  switch (t) {
    case TableOptimizerType::kSgd:
      return RowOptimizerType::kSgd;
    case TableOptimizerType::kLazyAdam:
      return RowOptimizerType::kLazyAdam;
    case TableOptimizerType::kFtrl:
      return RowOptimizerType::kFtrl;
    case TableOptimizerType::kAdagrad:
      break;
  }
  return RowOptimizerType::kAdagrad;
}

EvictionPolicy EvictionFor(EvictionPolicyType e) {
  switch (e) {
    case EvictionPolicyType::kNone:
      return EvictionPolicy::kNone;
    case EvictionPolicyType::kTtl:
      return EvictionPolicy::kTtl;
    case EvictionPolicyType::kLfu:
      break;
  }
  return EvictionPolicy::kLfu;
}

}  // namespace

TableOptions TableOptionsFor(const JobSpec& spec) {
  const EmbeddingSpec& e = spec.model.embedding;
  TableOptions o;
  o.dim = spec.model.RowDim();
  o.seed = spec.seed;
  o.init_scale = static_cast<float>(e.init_scale);
  // The linear weight of logreg and fm starts at 0, as a linear model's usually does.
  o.zero_init_columns = spec.model.type == ModelType::kDlrm ? 0 : 1;
  o.optimizer.type = RowOptimizerFor(e.optimizer.type);
  o.optimizer.learning_rate = e.optimizer.learning_rate;
  o.optimizer.epsilon = e.optimizer.epsilon;
  o.optimizer.initial_accumulator = e.optimizer.initial_accumulator;
  o.optimizer.beta1 = e.optimizer.beta1;
  o.optimizer.beta2 = e.optimizer.beta2;
  o.optimizer.ftrl_beta = e.optimizer.ftrl_beta;
  o.optimizer.l1 = e.optimizer.l1;
  o.optimizer.l2 = e.optimizer.l2;
  o.memory_budget_bytes = e.memory_budget_bytes;
  o.eviction = EvictionFor(e.eviction);
  o.ttl_steps = e.ttl_steps;
  o.admit_min_count = e.admit_min_count;
  return o;
}

absl::StatusOr<std::unique_ptr<SparseStore>> SparseStore::Create(const JobSpec& spec, int rank,
                                                                 int num_servers, int num_workers,
                                                                 const std::string& job_id) {
  if (!spec.model.sparse()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job_id, ": the model has no embedding table"));
  }
  TableOptions options = TableOptionsFor(spec);
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddingTable> table, EmbeddingTable::Create(options));
  return std::unique_ptr<SparseStore>(
      new SparseStore(spec, rank, num_servers, num_workers, job_id, options, std::move(table)));
}

SparseStore::SparseStore(const JobSpec& spec, int rank, int num_servers, int num_workers,
                         std::string job_id, TableOptions options,
                         std::unique_ptr<EmbeddingTable> table)
    : job_id_(std::move(job_id)),
      rank_(rank),
      num_servers_(num_servers),
      num_workers_(num_workers),
      aggregate_(spec.training.consistency == Consistency::kSync ||
                 (spec.training.consistency == Consistency::kSsp && spec.training.staleness == 0)),
      consistency_(spec.training.consistency),
      staleness_(spec.training.staleness),
      options_(std::move(options)),
      table_(std::move(table)),
      live_(num_workers, true),
      live_count_(num_workers),
      next_step_(num_workers, 0),
      pushed_(num_workers, false),
      applying_(num_workers, false),
      every_steps_(spec.checkpoint.dir.empty() ? 0 : spec.checkpoint.every_steps),
      full_every_(std::max(1, spec.checkpoint.full_every)) {}

SparseStore::~SparseStore() { Close(absl::CancelledError("job state dropped")); }

int64_t SparseStore::SlowestLive() const {
  int64_t slowest = -1;
  for (int w = 0; w < num_workers_; ++w) {
    if (!live_[w]) continue;
    slowest = slowest < 0 ? next_step_[w] : std::min(slowest, next_step_[w]);
  }
  return std::max<int64_t>(0, slowest);
}

bool SparseStore::Readable(int worker, int64_t step) const {
  if (aggregate_) return clock_ >= step;
  if (consistency_ == Consistency::kAsync) return true;
  (void)worker;
  return SlowestLive() >= step - staleness_;
}

int64_t SparseStore::step() const {
  absl::MutexLock lock(&mu_);
  return aggregate_ ? clock_ : SlowestLive();
}

std::vector<SparseStore::Waiter> SparseStore::TakeReady() {
  std::vector<Waiter> ready;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (Readable(it->second.worker, it->second.step)) {
      ready.push_back(std::move(it->second));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  return ready;
}

uint64_t SparseStore::WhenReadable(int worker, int64_t step, ReadyCallback ready) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      refused = close_reason_;
    } else if (worker < 0 || worker >= num_workers_) {
      refused = absl::InvalidArgumentError(absl::StrCat("job ", job_id_, ": worker ", worker,
                                                        " is not a rank of the job (0..",
                                                        num_workers_ - 1, ")"));
    } else if (step < 0) {
      refused = absl::InvalidArgumentError(
          absl::StrCat("job ", job_id_, ": step must not be negative, got ", step));
    } else if (!Readable(worker, step)) {
      const uint64_t id = next_waiter_++;
      waiters_.emplace(id, Waiter{worker, step, std::move(ready)});
      return id;
    }
  }
  ready(refused);
  return 0;
}

void SparseStore::CancelWait(uint64_t id, const absl::Status& why) {
  ReadyCallback ready;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    ready = std::move(it->second.ready);
    waiters_.erase(it);
  }
  ready(why);
}

absl::Status SparseStore::CheckKeys(absl::Span<const uint64_t> keys) const {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (SparseOwner(keys[i], num_servers_) != rank_) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", job_id_, ": key ", keys[i], " (entry ", i, ") belongs to server ",
                       SparseOwner(keys[i], num_servers_), ", not to server ", rank_));
    }
  }
  return absl::OkStatus();
}

absl::Status SparseStore::Lookup(absl::Span<const uint64_t> keys, int64_t step, bool read_only,
                                 absl::Span<float> out) {
  const size_t dim = static_cast<size_t>(table_->dim());
  if (out.size() != keys.size() * dim) {
    return absl::InternalError(
        absl::StrCat("sparse lookup: ", out.size(), " floats for ", keys.size(), " rows of ", dim));
  }
  PSD_RETURN_IF_ERROR(CheckKeys(keys));
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return close_reason_;
  }
  ++pulls_;
  absl::ReaderMutexLock table_lock(&table_mu_);
  if (read_only) {
    table_->ReadOrInitial(keys, out);
  } else {
    table_->Lookup(keys, step, out);
  }
  return absl::OkStatus();
}

absl::Status SparseStore::Push(int worker, int64_t step, int64_t total_steps,
                               absl::Span<const uint64_t> keys, absl::Span<const float> grads) {
  const size_t dim = static_cast<size_t>(table_->dim());
  if (grads.size() != keys.size() * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job_id_, ": a sparse push of ", keys.size(), " keys carries ",
                     grads.size(), " gradient values, not keys x dim = ", keys.size() * dim));
  }
  if (worker < 0 || worker >= num_workers_) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job_id_, ": worker ", worker,
                                                   " is not a rank of the job (0..",
                                                   num_workers_ - 1, ")"));
  }
  if (step < 0 || (total_steps > 0 && step >= total_steps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job ", job_id_, ": step ", step, " is outside the job's steps [0, ", total_steps, ")"));
  }
  PSD_RETURN_IF_ERROR(CheckKeys(keys));
  if (total_steps > 0) total_steps_.store(total_steps, std::memory_order_relaxed);
  {
    absl::flat_hash_set<uint64_t> seen;
    seen.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!seen.insert(keys[i]).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("job ", job_id_, ": key ", keys[i], " appears twice in one sparse push"));
      }
    }
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!std::isfinite(grads[i])) {
      return absl::InvalidArgumentError(absl::StrCat("job ", job_id_, ": the gradient of key ",
                                                     keys[i / dim], " (element ", i % dim,
                                                     ") is not finite: ", grads[i]));
    }
  }
  std::vector<Waiter> ready;
  double lr_scale = 1.0;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return close_reason_;
    if (aggregate_) {
      if (step < clock_ || (step == clock_ && pushed_[worker])) return absl::OkStatus();  // retry
      if (step > clock_) {
        return absl::FailedPreconditionError(absl::StrCat("job ", job_id_, ": worker ", worker,
                                                          " pushed rows of step ", step,
                                                          " while the table is at step ", clock_));
      }
      for (size_t i = 0; i < keys.size(); ++i) {
        auto [it, inserted] = sum_index_.emplace(keys[i], static_cast<uint32_t>(sum_keys_.size()));
        if (inserted) {
          sum_keys_.push_back(keys[i]);
          sums_.resize(sums_.size() + dim, 0.0f);
        }
        float* sum = sums_.data() + static_cast<size_t>(it->second) * dim;
        const float* g = grads.data() + i * dim;
        for (size_t j = 0; j < dim; ++j) sum[j] += g[j];
      }
      pushed_[worker] = true;
      ++pushes_;
      MaybeCompleteStep();
      ready = TakeReady();
    } else {
      // A retry while the first attempt is being applied is acknowledged too: the worker's
      // next pull of a later step waits for the clock, which moves once the apply is done.
      if (step < next_step_[worker] || applying_[worker]) return absl::OkStatus();
      if (step > next_step_[worker]) {
        return absl::FailedPreconditionError(absl::StrCat("job ", job_id_, ": worker ", worker,
                                                          " pushed rows of step ", step,
                                                          " before step ", next_step_[worker]));
      }
      applying_[worker] = true;
      lr_scale = 1.0 / std::max(1, live_count_);
    }
  }
  if (!aggregate_) {
    // Outside the clock's lock: the table locks its own stripes, so workers apply in parallel.
    {
      absl::ReaderMutexLock table_lock(&table_mu_);
      table_->Apply(keys, grads, lr_scale, step);
    }
    absl::MutexLock lock(&mu_);
    applying_[worker] = false;
    next_step_[worker] = step + 1;
    ++pushes_;
    MaybeSnapshot(SlowestLive());
    ready = TakeReady();
  }
  DeliverSnapshots();
  for (Waiter& w : ready) w.ready(absl::OkStatus());
  return absl::OkStatus();
}

void SparseStore::MaybeCompleteStep() {
  for (int w = 0; w < num_workers_; ++w) {
    if (live_[w] && !pushed_[w]) return;
  }
  if (live_count_ == 0) return;
  const float scale = 1.0f / static_cast<float>(live_count_);
  for (float& s : sums_) s *= scale;
  table_->Apply(sum_keys_, sums_, 1.0, clock_);
  ++clock_;
  MaybeSnapshot(clock_);  // the table holds exactly step clock_: no push of it is applied yet
  std::fill(pushed_.begin(), pushed_.end(), false);
  for (int w = 0; w < num_workers_; ++w) next_step_[w] = clock_;
  sum_index_.clear();
  sum_keys_.clear();
  sums_.clear();
}

void SparseStore::SetLiveWorkers(const std::vector<int>& workers) {
  std::vector<Waiter> ready;
  {
    absl::MutexLock lock(&mu_);
    std::fill(live_.begin(), live_.end(), false);
    live_count_ = 0;
    for (int w : workers) {
      if (w >= 0 && w < num_workers_ && !live_[w]) {
        live_[w] = true;
        ++live_count_;
      }
    }
    if (aggregate_) MaybeCompleteStep();
    if (!aggregate_) MaybeSnapshot(SlowestLive());
    ready = TakeReady();
  }
  DeliverSnapshots();
  for (Waiter& w : ready) w.ready(absl::OkStatus());
}

void SparseStore::Close(const absl::Status& reason) {
  std::map<uint64_t, Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      closed_ = true;
      close_reason_ = reason;
    }
    waiters.swap(waiters_);
  }
  for (auto& [id, w] : waiters) w.ready(reason);
}

TableStats SparseStore::stats() const { return table_->stats(); }

void SparseStore::SetSnapshotHandler(SnapshotFn fn) {
  absl::MutexLock lock(&mu_);
  on_snapshot_ = std::move(fn);
}

int64_t SparseStore::NextCheckpointableStep() const { return step() + 1; }

absl::Status SparseStore::ScheduleCheckpoint(int64_t step) {
  absl::MutexLock lock(&mu_);
  const int64_t now = aggregate_ ? clock_ : SlowestLive();
  if (step <= now) {
    return absl::FailedPreconditionError(absl::StrCat("cannot checkpoint step ", step, " of job ",
                                                      job_id_, ": its table is already at step ",
                                                      now));
  }
  scheduled_.insert(step);
  return absl::OkStatus();
}

void SparseStore::ForceFullCheckpoint() {
  absl::MutexLock lock(&mu_);
  force_full_ = true;
}

void SparseStore::MaybeSnapshot(int64_t now) {
  if (now <= snapshot_clock_) return;
  const int64_t from = snapshot_clock_;
  snapshot_clock_ = now;
  // The newest checkpoint step in (from, now]: a multiple of every_steps, or one scheduled.
  int64_t step = every_steps_ > 0 ? now / every_steps_ * every_steps_ : 0;
  if (step <= from) step = 0;
  auto it = scheduled_.upper_bound(now);
  if (it != scheduled_.begin() && *std::prev(it) > from) step = std::max(step, *std::prev(it));
  scheduled_.erase(scheduled_.begin(), scheduled_.upper_bound(now));
  if (step == 0 || on_snapshot_ == nullptr) return;
  const bool full = force_full_ || last_checkpoint_ == 0 || checkpoints_taken_ % full_every_ == 0;
  ready_snapshots_.emplace_back(step, CopyRows(full, step, full ? 0 : last_checkpoint_));
  force_full_ = false;
  last_checkpoint_ = step;
  ++checkpoints_taken_;
}

std::shared_ptr<TableSnapshot> SparseStore::CopyRows(bool full, int64_t step, int64_t base) {
  auto snap = std::make_shared<TableSnapshot>();
  TableFileHeader& h = snap->header;
  h.job_id = job_id_;
  h.step = step;
  h.rank = rank_;
  h.num_servers = num_servers_;
  h.dim = table_->dim();
  h.slots = RowOptimizerSlots(options_.optimizer.type) * table_->dim();
  h.full = full;
  h.base_step = base;
  absl::MutexLock table_lock(&table_mu_);
  // The evicted keys before the rows: a key evicted and stored again is then in both, and the
  // rows win on restore.
  if (!full) snap->deleted = table_->EvictedSinceCheckpoint();
  const TableStats stats = table_->stats();
  const size_t guess = full ? static_cast<size_t>(std::max<int64_t>(0, stats.rows)) : 0;
  snap->keys.reserve(guess);
  snap->values.reserve(guess * h.dim);
  snap->slots.reserve(guess * h.slots);
  snap->updates.reserve(guess);
  table_->ForEachRow(!full, [&](uint64_t key, absl::Span<const float> values,
                                absl::Span<const float> slots, uint32_t updates) {
    snap->keys.push_back(key);
    snap->values.insert(snap->values.end(), values.begin(), values.end());
    snap->slots.insert(snap->slots.end(), slots.begin(), slots.end());
    snap->updates.push_back(updates);
  });
  table_->MarkCheckpointed();
  h.rows = snap->keys.size();
  h.deleted = snap->deleted.size();
  return snap;
}

void SparseStore::DeliverSnapshots() {
  std::vector<std::pair<int64_t, std::shared_ptr<const TableSnapshot>>> ready;
  SnapshotFn fn;
  {
    absl::MutexLock lock(&mu_);
    if (ready_snapshots_.empty()) return;
    ready.swap(ready_snapshots_);
    fn = on_snapshot_;
  }
  if (!fn) return;
  for (auto& [step, snap] : ready) fn(step, std::move(snap));
}

absl::Status SparseStore::Restore(const TableSnapshot& snapshot, int64_t step) {
  const TableFileHeader& h = snapshot.header;
  const int want_slots = RowOptimizerSlots(options_.optimizer.type) * table_->dim();
  if (h.dim != table_->dim() || h.slots != want_slots) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job ", job_id_, ": the checkpoint's table has dim ", h.dim, " and ", h.slots,
        " optimizer slots per row; the job's has dim ", table_->dim(), " and ", want_slots));
  }
  const size_t dim = static_cast<size_t>(h.dim), nslots = static_cast<size_t>(h.slots);
  {
    absl::MutexLock table_lock(&table_mu_);
    for (size_t i = 0; i < snapshot.keys.size(); ++i) {
      PSD_RETURN_IF_ERROR(table_->Restore(
          snapshot.keys[i], absl::MakeConstSpan(snapshot.values).subspan(i * dim, dim),
          absl::MakeConstSpan(snapshot.slots).subspan(i * nslots, nslots), snapshot.updates[i]));
    }
  }
  absl::MutexLock lock(&mu_);
  clock_ = step;
  std::fill(next_step_.begin(), next_step_.end(), step);
  snapshot_clock_ = step;
  last_checkpoint_ = 0;  // the first checkpoint after a restore is full
  return absl::OkStatus();
}

bool SparseStore::Finished() const {
  const int64_t total = total_steps_.load(std::memory_order_relaxed);
  return total > 0 && step() >= total;
}

std::shared_ptr<TableSnapshot> SparseStore::FullSnapshot() {
  int64_t now;
  {
    absl::MutexLock lock(&mu_);
    now = aggregate_ ? clock_ : SlowestLive();
  }
  // Not a checkpoint: the changed rows stay marked for the next incremental one.
  auto snap = std::make_shared<TableSnapshot>();
  TableFileHeader& h = snap->header;
  h.job_id = job_id_;
  h.step = std::max<int64_t>(1, now);
  h.rank = rank_;
  h.num_servers = num_servers_;
  h.dim = table_->dim();
  h.slots = RowOptimizerSlots(options_.optimizer.type) * table_->dim();
  h.full = true;
  absl::MutexLock table_lock(&table_mu_);
  table_->ForEachRow(false, [&](uint64_t key, absl::Span<const float> values,
                                absl::Span<const float> slots, uint32_t updates) {
    snap->keys.push_back(key);
    snap->values.insert(snap->values.end(), values.begin(), values.end());
    snap->slots.insert(snap->slots.end(), slots.begin(), slots.end());
    snap->updates.push_back(updates);
  });
  h.rows = snap->keys.size();
  return snap;
}

}  // namespace psd
