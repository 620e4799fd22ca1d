#include "server/embedding_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace psd {
namespace {

// An index entry: 8 bits of the key's hash (a tag that spares most probes a look at the row)
// and a 24-bit slot id. kEmpty is never a valid entry: slot 0xFFFFFF is never allocated.
constexpr uint32_t kSlotBits = 24;
constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
constexpr uint32_t kEmpty = 0xFFFFFFFFu;
constexpr uint32_t kMaxRowsPerShard = kSlotMask;  // slot ids 0 .. 2^24 - 2
constexpr uint32_t kMinIndex = 16;
// Row metadata: the top bit of the use count is the changed bit; a free slot's last step is
// kFreeStep and its key field holds the next free slot.
constexpr uint32_t kChangedBit = 1u << 31;
constexpr uint32_t kCountMask = kChangedBit - 1;
constexpr uint32_t kFreeStep = 0xFFFFFFFFu;
constexpr uint32_t kMaxStep = 0xFFFFFFFEu;
constexpr int kLfuSamples = 8;
constexpr int kSketchRows = 4;
constexpr int kMaxDim = 4096;
constexpr int64_t kBlockTargetBytes = 1 << 20;

inline uint64_t Mix(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

inline uint32_t Step32(int64_t step) {
  if (step < 0) return 0;
  if (step > static_cast<int64_t>(kMaxStep)) return kMaxStep;
  return static_cast<uint32_t>(step);
}

inline uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h >> 32) & 0xFFu; }

uint32_t IndexCapFor(uint64_t rows) {
  uint64_t cap = kMinIndex;
  while (rows * 4 > cap * 3) cap *= 2;
  return static_cast<uint32_t>(cap);
}

uint64_t NextPow2(uint64_t x) {
  uint64_t p = 1;
  while (p < x) p *= 2;
  return p;
}

}  // namespace

void InitialRow(const TableOptions& o, uint64_t key, absl::Span<float> out) {
  const uint64_t base = Mix(Mix(o.seed + kGolden) ^ key);
  const double scale = o.init_scale;
  const float fscale = o.init_scale;
  for (size_t e = 0; e < out.size(); ++e) {
    if (static_cast<int64_t>(e) < o.zero_init_columns || scale == 0) {
      out[e] = 0.0f;
      continue;
    }
    const uint64_t r = Mix(base + (e + 1) * kGolden);
    const double u = static_cast<double>(r >> 40) * (1.0 / 16777216.0);  // [0, 1)
    float v = static_cast<float>(scale * (2.0 * u - 1.0));
    if (v >= fscale) v = std::nextafter(fscale, 0.0f);  // rounding must not reach +init_scale
    out[e] = v;
  }
}

// One stripe of the table: an open-addressing index of u32 entries over an arena of fixed-size
// rows in blocks, with a free list threaded through evicted slots. Everything under `mu`.
class EmbeddingTable::Shard {
 public:
  Shard(const TableOptions& o, int id, uint32_t max_rows, uint32_t block_rows)
      : o_(o),
        dim_(o.dim),
        nslots_(RowOptimizerSlots(o.optimizer.type)),
        keeps_updates_(RowOptimizerKeepsUpdates(o.optimizer.type)),
        values_off_(16 + (keeps_updates_ ? 4 : 0)),
        stride_(RowBytes(o)),
        max_rows_(max_rows),
        block_rows_(block_rows),
        block_shift_(Log2(block_rows)),
        rng_(Mix(o.seed ^ (0x5851f42d4c957f2dULL * (id + 1)))) {
    index_.reset(new uint32_t[kMinIndex]);
    std::fill(index_.get(), index_.get() + kMinIndex, kEmpty);
    index_cap_ = kMinIndex;
    if (o.memory_budget_bytes > 0) blocks_.reserve(BlocksFor(max_rows, block_rows));
    if (o.admit_min_count > 0) sketch_.assign(kSketchRows * o.admit_sketch_width, 0);
  }

  // Arena bytes of one row: key, use count, last step, [updates], values, slots.
  static int64_t RowBytes(const TableOptions& o) {
    return 16 + (RowOptimizerKeepsUpdates(o.optimizer.type) ? 4 : 0) +
           4LL * o.dim * (1 + RowOptimizerSlots(o.optimizer.type));
  }
  static size_t BlocksFor(uint64_t rows, uint32_t block_rows) {
    return std::max<size_t>(1, (rows + block_rows - 1) / block_rows);
  }
  // What memory_bytes() says of a shard holding `rows` rows at most, when its arena is capped at
  // `rows` (a budgeted shard).
  static int64_t BytesAtMost(uint64_t rows, int64_t stride, uint32_t block_rows) {
    return static_cast<int64_t>(sizeof(Shard)) + 4LL * IndexCapFor(rows) +
           static_cast<int64_t>(rows) * stride +
           static_cast<int64_t>(sizeof(void*) * BlocksFor(rows, block_rows));
  }

  absl::Mutex mu;

  void Lookup(const uint64_t* keys, const uint64_t* hashes, const uint32_t* order, size_t n,
              int64_t step, float* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Advance(step);
    const uint32_t s32 = Step32(step);
    for (size_t j = 0; j < n; ++j) {
      Prefetch(hashes, order, n, j);
      const size_t i = order ? order[j] : j;
      const uint64_t key = keys[i], h = hashes[i];
      float* dst = out + i * dim_;
      ++lookups_;
      uint32_t slot = Find(key, h);
      if (slot == kEmpty) {
        if (Admit(h, /*count=*/true) && MakeRoom()) {
          slot = Create(key, h, s32);
        } else {
          ++not_admitted_lookups_;
          InitialRow(o_, key, absl::MakeSpan(dst, dim_));
          continue;
        }
      } else {
        char* row = Row(slot);
        uint32_t count = Get32(row + 8);
        if ((count & kCountMask) != kCountMask) ++count;
        Set32(row + 8, count);
        if (Get32(row + 12) < s32) Set32(row + 12, s32);
      }
      std::memcpy(dst, Values(Row(slot)), sizeof(float) * dim_);
    }
  }

  void Apply(const uint64_t* keys, const uint64_t* hashes, const uint32_t* order, size_t n,
             const float* grads, double lr_scale, int64_t step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Advance(step);
    const uint32_t s32 = Step32(step);
    for (size_t j = 0; j < n; ++j) {
      Prefetch(hashes, order, n, j);
      const size_t i = order ? order[j] : j;
      const uint64_t key = keys[i], h = hashes[i];
      uint32_t slot = Find(key, h);
      if (slot == kEmpty) {
        if (!Admit(h, /*count=*/false) || !MakeRoom()) {
          ++not_admitted_updates_;
          continue;
        }
        slot = Create(key, h, s32);
      }
      char* row = Row(slot);
      uint32_t updates = keeps_updates_ ? Get32(row + 16) : 0;
      ApplyRowUpdate(o_.optimizer, lr_scale, absl::MakeConstSpan(grads + i * dim_, dim_),
                     absl::MakeSpan(Values(row), dim_), absl::MakeSpan(Slots(row), nslots_ * dim_),
                     &updates);
      if (keeps_updates_) Set32(row + 16, updates);
      Set32(row + 8, Get32(row + 8) | kChangedBit);
      if (Get32(row + 12) < s32) Set32(row + 12, s32);
      ++updates_;
    }
  }

  bool Read(uint64_t key, uint64_t h, float* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const uint32_t slot = Find(key, h);
    if (slot == kEmpty) return false;
    std::memcpy(out, Values(Row(slot)), sizeof(float) * dim_);
    return true;
  }

  absl::Status Restore(uint64_t key, uint64_t h, absl::Span<const float> values,
                       absl::Span<const float> slots, uint32_t updates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint32_t slot = Find(key, h);
    if (slot == kEmpty) {
      if (!MakeRoom())
        return absl::ResourceExhaustedError(
            absl::StrCat("key ", key, ": the table's memory budget is full (eviction is none)"));
      slot = Create(key, h, Step32(clock_));
    }
    char* row = Row(slot);
    std::memcpy(Values(row), values.data(), sizeof(float) * dim_);
    if (nslots_ > 0) std::memcpy(Slots(row), slots.data(), sizeof(float) * nslots_ * dim_);
    if (keeps_updates_) Set32(row + 16, updates);
    Set32(row + 8, Get32(row + 8) & kCountMask);  // unchanged: it equals its checkpoint
    return absl::OkStatus();
  }

  void ForEach(
      bool changed_only,
      absl::FunctionRef<void(uint64_t, absl::Span<const float>, absl::Span<const float>, uint32_t)>
          fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (uint32_t s = 0; s < high_water_; ++s) {
      const char* row = Row(s);
      if (Get32(row + 12) == kFreeStep) continue;
      if (changed_only && !(Get32(row + 8) & kChangedBit)) continue;
      fn(Get64(row), absl::MakeConstSpan(Values(row), dim_),
         absl::MakeConstSpan(Slots(row), nslots_ * dim_), keeps_updates_ ? Get32(row + 16) : 0);
    }
  }

  void MarkCheckpointed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (uint32_t s = 0; s < high_water_; ++s) {
      char* row = Row(s);
      if (Get32(row + 12) == kFreeStep) continue;
      Set32(row + 8, Get32(row + 8) & kCountMask);
    }
    evicted_ = absl::flat_hash_set<uint64_t>();
  }

  void AppendEvicted(std::vector<uint64_t>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    out->insert(out->end(), evicted_.begin(), evicted_.end());
  }

  int64_t Expire(int64_t step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    clock_ = std::max(clock_, step);
    return Sweep();
  }

  void AddStats(TableStats* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    t->rows += rows_;
    t->memory_bytes += MemoryBytes();
    t->evictions += evictions_;
    t->expired += expired_;
    t->not_admitted_updates += not_admitted_updates_;
    t->not_admitted_lookups += not_admitted_lookups_;
    t->lookups += lookups_;
    t->created += created_;
    t->updates += updates_;
    t->aux_bytes += static_cast<int64_t>(sketch_.capacity()) +
                    static_cast<int64_t>(evicted_.capacity() * (sizeof(uint64_t) + 1));
  }

  int64_t MemoryBytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return static_cast<int64_t>(sizeof(Shard)) + 4LL * index_cap_ +
           static_cast<int64_t>(arena_rows_) * stride_ +
           static_cast<int64_t>(sizeof(void*) * blocks_.capacity());
  }

 private:
  static int Log2(uint32_t x) {
    int b = 0;
    while ((1u << b) < x) ++b;
    return b;
  }
  static uint32_t Get32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  static void Set32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
  static uint64_t Get64(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static void Set64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }

  char* Row(uint32_t slot) const {
    return blocks_[slot >> block_shift_].get() +
           static_cast<size_t>(slot & (block_rows_ - 1)) * stride_;
  }
  float* Values(char* row) const { return reinterpret_cast<float*>(row + values_off_); }
  const float* Values(const char* row) const {
    return reinterpret_cast<const float*>(row + values_off_);
  }
  float* Slots(char* row) const { return Values(row) + dim_; }
  const float* Slots(const char* row) const { return Values(row) + dim_; }

  // Software pipelining of a batch: while key j is served, the index entries of key j + 8 and
  // the row of key j + 4 (its home entry's, when the tag matches) are fetched.
  void Prefetch(const uint64_t* hashes, const uint32_t* order, size_t n, size_t j) const {
    constexpr size_t kIndexAhead = 8, kRowAhead = 4;
    const uint32_t mask = index_cap_ - 1;
    if (j + kIndexAhead < n) {
      const uint64_t h = hashes[order ? order[j + kIndexAhead] : j + kIndexAhead];
      __builtin_prefetch(&index_[static_cast<uint32_t>(h) & mask]);
    }
    if (j + kRowAhead < n) {
      const uint64_t h = hashes[order ? order[j + kRowAhead] : j + kRowAhead];
      const uint32_t e = index_[static_cast<uint32_t>(h) & mask];
      if (e != kEmpty && (e >> kSlotBits) == Tag(h)) {
        const char* row = Row(e & kSlotMask);
        __builtin_prefetch(row);
        __builtin_prefetch(row + stride_ - 1);
      }
    }
  }

  // The shard's clock moves to `step`; with TTL, a sweep runs every max(1, ttl/4) steps.
  void Advance(int64_t step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (step > clock_) clock_ = step;
    if (o_.eviction == EvictionPolicy::kTtl && clock_ >= next_sweep_) {
      Sweep();
      next_sweep_ = clock_ + std::max<int64_t>(1, o_.ttl_steps / 4);
    }
  }

  bool Expired(const char* row) const {
    return o_.eviction == EvictionPolicy::kTtl &&
           clock_ - static_cast<int64_t>(Get32(row + 12)) > o_.ttl_steps;
  }

  int64_t Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (o_.eviction != EvictionPolicy::kTtl) return 0;
    int64_t gone = 0;
    for (uint32_t s = 0; s < high_water_; ++s) {
      const char* row = Row(s);
      if (Get32(row + 12) == kFreeStep || !Expired(row)) continue;
      Remove(s, /*expired=*/true);
      ++gone;
    }
    return gone;
  }

  uint32_t Find(uint64_t key, uint64_t h) const {
    const uint32_t mask = index_cap_ - 1;
    const uint32_t tag = Tag(h);
    for (uint32_t pos = static_cast<uint32_t>(h) & mask;; pos = (pos + 1) & mask) {
      const uint32_t e = index_[pos];
      if (e == kEmpty) return kEmpty;
      if ((e >> kSlotBits) == tag && Get64(Row(e & kSlotMask)) == key) return e & kSlotMask;
    }
  }

  void IndexInsert(uint64_t h, uint32_t slot) {
    const uint32_t mask = index_cap_ - 1;
    uint32_t pos = static_cast<uint32_t>(h) & mask;
    while (index_[pos] != kEmpty) pos = (pos + 1) & mask;
    index_[pos] = (Tag(h) << kSlotBits) | slot;
  }

  void GrowIndex() {
    const uint32_t cap = index_cap_ * 2;
    index_.reset(new uint32_t[cap]);
    std::fill(index_.get(), index_.get() + cap, kEmpty);
    index_cap_ = cap;
    for (uint32_t s = 0; s < high_water_; ++s) {
      const char* row = Row(s);
      if (Get32(row + 12) == kFreeStep) continue;
      IndexInsert(Mix(Get64(row)), s);
    }
  }

  // Removes slot's entry from the index by backward shifting (linear probing keeps no tombstones).
  void IndexErase(uint64_t h, uint32_t slot) {
    const uint32_t mask = index_cap_ - 1;
    uint32_t p = static_cast<uint32_t>(h) & mask;
    while ((index_[p] & kSlotMask) != slot || index_[p] == kEmpty) p = (p + 1) & mask;
    for (uint32_t j = (p + 1) & mask; index_[j] != kEmpty; j = (j + 1) & mask) {
      const uint32_t home = static_cast<uint32_t>(Mix(Get64(Row(index_[j] & kSlotMask)))) & mask;
      // Entry j may move to p when its home is not in the cyclic range (p, j].
      const bool in_range = p < j ? (home > p && home <= j) : (home > p || home <= j);
      if (!in_range) {
        index_[p] = index_[j];
        p = j;
      }
    }
    index_[p] = kEmpty;
  }

  uint32_t AllocSlot() {
    if (free_head_ != kEmpty) {
      const uint32_t s = free_head_;
      free_head_ = static_cast<uint32_t>(Get64(Row(s)));
      return s;
    }
    const uint32_t s = high_water_++;
    const size_t b = s >> block_shift_;
    if (b == 0) {
      if (s >= arena_rows_) {  // block 0 grows by doubling up to a whole block
        const uint32_t rows = static_cast<uint32_t>(std::min<uint64_t>(
            {std::max<uint64_t>(16, 2ULL * arena_rows_), block_rows_, max_rows_}));
        std::unique_ptr<char[]> grown(new char[static_cast<size_t>(rows) * stride_]);
        if (!blocks_.empty()) {
          std::memcpy(grown.get(), blocks_[0].get(), static_cast<size_t>(s) * stride_);
          blocks_[0] = std::move(grown);
        } else {
          blocks_.push_back(std::move(grown));
        }
        arena_rows_ = rows;
      }
    } else if (b == blocks_.size()) {
      const uint32_t rows = static_cast<uint32_t>(
          std::min<uint64_t>(block_rows_, static_cast<uint64_t>(max_rows_) - b * block_rows_));
      blocks_.emplace_back(new char[static_cast<size_t>(rows) * stride_]);
      arena_rows_ += rows;
    }
    return s;
  }

  uint32_t Create(uint64_t key, uint64_t h, uint32_t step) {
    if (static_cast<uint64_t>(rows_ + 1) * 4 > static_cast<uint64_t>(index_cap_) * 3) GrowIndex();
    const uint32_t s = AllocSlot();
    char* row = Row(s);
    Set64(row, key);
    Set32(row + 8, 1u | kChangedBit);
    Set32(row + 12, step);
    if (keeps_updates_) Set32(row + 16, 0);
    InitialRow(o_, key, absl::MakeSpan(Values(row), dim_));
    InitialSlots(o_.optimizer, absl::MakeSpan(Slots(row), nslots_ * dim_));
    IndexInsert(h, s);
    ++rows_;
    ++created_;
    if (!evicted_.empty()) evicted_.erase(key);
    return s;
  }

  void Remove(uint32_t s, bool expired) {
    char* row = Row(s);
    const uint64_t key = Get64(row);
    IndexErase(Mix(key), s);
    Set64(row, free_head_);
    Set32(row + 12, kFreeStep);
    free_head_ = s;
    --rows_;
    ++evictions_;
    if (expired) ++expired_;
    if (o_.track_evicted_keys) evicted_.insert(key);
  }

  // Whether a new row fits, evicting one when the shard is full and the policy allows.
  bool MakeRoom() {
    if (rows_ < max_rows_) return true;
    if (o_.eviction == EvictionPolicy::kNone || rows_ == 0) return false;
    EvictOne();
    return rows_ < max_rows_;
  }

  uint64_t NextRandom() {
    rng_ += kGolden;
    return Mix(rng_);
  }

  // Approximate LFU: of kLfuSamples random rows, an expired one (TTL) if any, else the least used,
  // the least recently touched among equals. Counts halve each time the shard has evicted as many
  // rows as it holds, so that once-hot keys age out.
  void EvictOne() {
    uint32_t victim = kEmpty;
    uint32_t best_count = 0, best_step = 0;
    bool best_expired = false;
    for (int tries = 0, got = 0; got < kLfuSamples && tries < 16 * kLfuSamples; ++tries) {
      const uint32_t s = static_cast<uint32_t>(NextRandom() % high_water_);
      const char* row = Row(s);
      const uint32_t last = Get32(row + 12);
      if (last == kFreeStep) continue;
      ++got;
      const uint32_t count = Get32(row + 8) & kCountMask;
      const bool expired = Expired(row);
      const bool better = victim == kEmpty || (expired && !best_expired) ||
                          (expired == best_expired &&
                           (count < best_count || (count == best_count && last < best_step)));
      if (better) {
        victim = s;
        best_count = count;
        best_step = last;
        best_expired = expired;
      }
    }
    if (victim == kEmpty) return;
    Remove(victim, best_expired);
    if (++evictions_since_decay_ >= rows_ + 1) {
      evictions_since_decay_ = 0;
      for (uint32_t s = 0; s < high_water_; ++s) {
        char* row = Row(s);
        if (Get32(row + 12) == kFreeStep) continue;
        const uint32_t c = Get32(row + 8);
        Set32(row + 8, (c & kChangedBit) | ((c & kCountMask) >> 1));
      }
    }
  }

  // Admission: a conservative-update count-min sketch of lookups of keys without rows; a key is
  // admitted once its estimate reaches admit_min_count. The sketch halves every 10 * width
  // increments so that it never saturates.
  bool Admit(uint64_t h, bool count) {
    if (o_.admit_min_count <= 0) return true;
    const uint64_t h2 = Mix(h ^ kGolden);
    const uint32_t w = static_cast<uint32_t>(o_.admit_sketch_width);
    uint8_t* c[kSketchRows];
    uint32_t m = 255;
    for (int r = 0; r < kSketchRows; ++r) {
      c[r] = &sketch_[r * w + ((h2 >> (16 * r)) & 0xFFFF) % w];
      m = std::min<uint32_t>(m, *c[r]);
    }
    if (count && m < 255) {
      for (int r = 0; r < kSketchRows; ++r)
        if (*c[r] == m) ++*c[r];
      ++m;
      if (++sketch_increments_ >= 10ULL * w) {
        sketch_increments_ = 0;
        for (uint8_t& v : sketch_) v >>= 1;
      }
    }
    return static_cast<int>(m) >= o_.admit_min_count;
  }

  const TableOptions& o_;
  const int dim_;
  const int nslots_;
  const bool keeps_updates_;
  const int values_off_;
  const int64_t stride_;
  const uint32_t max_rows_;
  const uint32_t block_rows_;
  const int block_shift_;

  std::unique_ptr<uint32_t[]> index_;
  uint32_t index_cap_ = 0;
  std::vector<std::unique_ptr<char[]>> blocks_;
  uint32_t arena_rows_ = 0;  // rows the blocks can hold
  uint32_t high_water_ = 0;  // slots ever handed out
  uint32_t free_head_ = kEmpty;
  uint32_t rows_ = 0;
  uint32_t evictions_since_decay_ = 0;
  uint64_t rng_;
  int64_t clock_ = 0;
  int64_t next_sweep_ = 0;
  std::vector<uint8_t> sketch_;
  uint64_t sketch_increments_ = 0;
  absl::flat_hash_set<uint64_t> evicted_;
  int64_t evictions_ = 0, expired_ = 0, not_admitted_updates_ = 0, not_admitted_lookups_ = 0,
          lookups_ = 0, created_ = 0, updates_ = 0;
};

absl::StatusOr<std::unique_ptr<EmbeddingTable>> EmbeddingTable::Create(const TableOptions& o) {
  if (o.dim < 1 || o.dim > kMaxDim)
    return absl::InvalidArgumentError(absl::StrCat("dim = ", o.dim, ": must be in [1, 4096]"));
  if (!(o.init_scale >= 0) || !std::isfinite(o.init_scale))
    return absl::InvalidArgumentError(
        absl::StrCat("init_scale = ", o.init_scale, ": must be finite and >= 0"));
  if (o.zero_init_columns < 0 || o.zero_init_columns > o.dim)
    return absl::InvalidArgumentError(absl::StrCat("zero_init_columns = ", o.zero_init_columns,
                                                   ": must be in [0, dim = ", o.dim, "]"));
  if (absl::Status s = ValidateRowOptimizer(o.optimizer); !s.ok()) return s;
  if (o.memory_budget_bytes < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("memory_budget_bytes = ", o.memory_budget_bytes, ": must be >= 0"));
  switch (o.eviction) {
    case EvictionPolicy::kNone:
    case EvictionPolicy::kLfu:
    case EvictionPolicy::kTtl:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("eviction = ", static_cast<int>(o.eviction), ": unknown"));
  }
  if (o.ttl_steps < 0 || (o.eviction == EvictionPolicy::kTtl && o.ttl_steps == 0))
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl_steps = ", o.ttl_steps, ": must be > 0 with eviction ttl (and never negative)"));
  if (o.admit_min_count < 0 || o.admit_min_count > 255)
    return absl::InvalidArgumentError(
        absl::StrCat("admit_min_count = ", o.admit_min_count, ": must be in [0, 255]"));
  if (o.num_shards < 1 || o.num_shards > 1024 || (o.num_shards & (o.num_shards - 1)) != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("num_shards = ", o.num_shards, ": must be a power of 2 in [1, 1024]"));
  if (o.admit_min_count > 0 && (o.admit_sketch_width < 16 || o.admit_sketch_width > 65536))
    return absl::InvalidArgumentError(
        absl::StrCat("admit_sketch_width = ", o.admit_sketch_width, ": must be in [16, 65536]"));

  const int64_t stride = Shard::RowBytes(o);
  const uint32_t block_rows = static_cast<uint32_t>(std::max<uint64_t>(
      16, std::min<uint64_t>(4096, NextPow2(kBlockTargetBytes / stride + 1) / 2)));
  uint32_t max_rows = kMaxRowsPerShard;
  if (o.memory_budget_bytes > 0) {
    const int64_t fixed = static_cast<int64_t>(sizeof(EmbeddingTable) +
                                               o.num_shards * sizeof(std::unique_ptr<Shard>));
    const int64_t per_shard = (o.memory_budget_bytes - fixed) / o.num_shards;
    if (Shard::BytesAtMost(1, stride, block_rows) > per_shard)
      return absl::InvalidArgumentError(
          absl::StrCat("memory_budget_bytes = ", o.memory_budget_bytes, ": too small for ",
                       o.num_shards, " shards of rows of ", stride, " bytes: needs at least ",
                       Shard::BytesAtMost(1, stride, block_rows) * o.num_shards + fixed));
    uint64_t lo = 1, hi = kMaxRowsPerShard;  // the most rows whose shard fits per_shard
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo + 1) / 2;
      if (Shard::BytesAtMost(mid, stride, block_rows) <= per_shard)
        lo = mid;
      else
        hi = mid - 1;
    }
    max_rows = static_cast<uint32_t>(lo);
  }
  std::unique_ptr<EmbeddingTable> t(new EmbeddingTable(o));
  while ((1 << t->shard_bits_) < o.num_shards) ++t->shard_bits_;
  t->shards_.reserve(o.num_shards);
  for (int i = 0; i < o.num_shards; ++i)
    t->shards_.push_back(std::make_unique<Shard>(t->options_, i, max_rows, block_rows));
  return t;
}

EmbeddingTable::EmbeddingTable(const TableOptions& options) : options_(options) {}
EmbeddingTable::~EmbeddingTable() = default;

int EmbeddingTable::dim() const { return options_.dim; }
const TableOptions& EmbeddingTable::options() const { return options_; }

EmbeddingTable::Shard& EmbeddingTable::ShardFor(uint64_t hash) const {
  return *shards_[shard_bits_ == 0 ? 0 : hash >> (64 - shard_bits_)];
}

// Keys grouped by shard: order[begin[s] .. begin[s + 1]) are the indices of shard s's keys.
struct EmbeddingTable::Grouping {
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> order;
  std::vector<uint32_t> begin;
};

void EmbeddingTable::Group(absl::Span<const uint64_t> keys, int shard_bits, Grouping* g) {
  const size_t n = keys.size();
  const size_t shards = size_t{1} << shard_bits;
  g->hashes.resize(n);
  for (size_t i = 0; i < n; ++i) g->hashes[i] = Mix(keys[i]);
  if (shard_bits == 0) return;
  g->begin.assign(shards + 1, 0);
  for (size_t i = 0; i < n; ++i) ++g->begin[(g->hashes[i] >> (64 - shard_bits)) + 1];
  for (size_t s = 0; s < shards; ++s) g->begin[s + 1] += g->begin[s];
  std::vector<uint32_t> next(g->begin.begin(), g->begin.end() - 1);
  g->order.resize(n);
  for (size_t i = 0; i < n; ++i)
    g->order[next[g->hashes[i] >> (64 - shard_bits)]++] = static_cast<uint32_t>(i);
}

// Runs fn(shard, order, n) for each shard holding some of the grouped keys, under its lock. A
// first pass takes only the locks free now and leaves the busy shards for a second, blocking
// pass, so that callers walking the shards at once do not queue behind each other shard by shard.
template <typename Fn>
void EmbeddingTable::ForEachGroup(const Grouping& g, size_t n, Fn fn) {
  if (shard_bits_ == 0) {
    absl::MutexLock l(&shards_[0]->mu);
    fn(*shards_[0], nullptr, n);
    return;
  }
  std::vector<uint32_t> busy;
  for (size_t s = 0; s < shards_.size(); ++s) {
    const uint32_t b = g.begin[s], e = g.begin[s + 1];
    if (b == e) continue;
    Shard& shard = *shards_[s];
    if (!shard.mu.TryLock()) {
      busy.push_back(static_cast<uint32_t>(s));
      continue;
    }
    fn(shard, g.order.data() + b, e - b);
    shard.mu.Unlock();
  }
  for (uint32_t s : busy) {
    const uint32_t b = g.begin[s], e = g.begin[s + 1];
    absl::MutexLock l(&shards_[s]->mu);
    fn(*shards_[s], g.order.data() + b, e - b);
  }
}

void EmbeddingTable::Lookup(absl::Span<const uint64_t> keys, int64_t step, absl::Span<float> out) {
  const size_t n = std::min(keys.size(), out.size() / options_.dim);
  keys = keys.subspan(0, n);
  if (n == 0) return;
  Grouping g;
  Group(keys, shard_bits_, &g);
  ForEachGroup(
      g, n, [&](Shard& shard, const uint32_t* order, size_t count) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        shard.Lookup(keys.data(), g.hashes.data(), order, count, step, out.data());
      });
}

void EmbeddingTable::Apply(absl::Span<const uint64_t> keys, absl::Span<const float> grads,
                           double lr_scale, int64_t step) {
  const size_t n = std::min(keys.size(), grads.size() / options_.dim);
  keys = keys.subspan(0, n);
  if (n == 0) return;
  Grouping g;
  Group(keys, shard_bits_, &g);
  ForEachGroup(
      g, n, [&](Shard& shard, const uint32_t* order, size_t count) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        shard.Apply(keys.data(), g.hashes.data(), order, count, grads.data(), lr_scale, step);
      });
}

void EmbeddingTable::ReadOrInitial(absl::Span<const uint64_t> keys, absl::Span<float> out) const {
  const size_t dim = static_cast<size_t>(this->dim());
  for (size_t i = 0; i < keys.size(); ++i) {
    absl::Span<float> row = out.subspan(i * dim, dim);
    if (!Read(keys[i], row)) InitialRow(options(), keys[i], row);
  }
}

bool EmbeddingTable::Read(uint64_t key, absl::Span<float> out) const {
  if (out.size() < static_cast<size_t>(options_.dim)) return false;
  const uint64_t h = Mix(key);
  Shard& s = ShardFor(h);
  absl::MutexLock l(&s.mu);
  return s.Read(key, h, out.data());
}

TableStats EmbeddingTable::stats() const {
  TableStats t{0, 0, 0, 0, 0, 0, 0};
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    s->AddStats(&t);
  }
  t.memory_bytes +=
      static_cast<int64_t>(sizeof(EmbeddingTable) + shards_.capacity() * sizeof(shards_[0]));
  return t;
}

int64_t EmbeddingTable::memory_bytes() const { return stats().memory_bytes; }

int64_t EmbeddingTable::raw_row_bytes() const {
  return 8 + 4LL * options_.dim * (1 + RowOptimizerSlots(options_.optimizer.type)) +
         (RowOptimizerKeepsUpdates(options_.optimizer.type) ? 4 : 0);
}

int64_t EmbeddingTable::stored_row_bytes() const { return Shard::RowBytes(options_); }

void EmbeddingTable::ForEachRow(
    bool changed_only,
    absl::FunctionRef<void(uint64_t, absl::Span<const float>, absl::Span<const float>, uint32_t)>
        fn) const {
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    s->ForEach(changed_only, fn);
  }
}

void EmbeddingTable::MarkCheckpointed() {
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    s->MarkCheckpointed();
  }
}

std::vector<uint64_t> EmbeddingTable::EvictedSinceCheckpoint() const {
  std::vector<uint64_t> out;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    s->AppendEvicted(&out);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status EmbeddingTable::Restore(uint64_t key, absl::Span<const float> values,
                                     absl::Span<const float> slots, uint32_t updates) {
  const size_t want_slots =
      static_cast<size_t>(RowOptimizerSlots(options_.optimizer.type)) * options_.dim;
  if (values.size() != static_cast<size_t>(options_.dim))
    return absl::InvalidArgumentError(absl::StrCat("key ", key, ": ", values.size(),
                                                   " values, the table's dim is ", options_.dim));
  if (slots.size() != want_slots)
    return absl::InvalidArgumentError(absl::StrCat("key ", key, ": ", slots.size(),
                                                   " optimizer slots, the table's optimizer keeps ",
                                                   want_slots));
  const uint64_t h = Mix(key);
  Shard& s = ShardFor(h);
  absl::MutexLock l(&s.mu);
  return s.Restore(key, h, values, slots, updates);
}

int64_t EmbeddingTable::ExpireStale(int64_t step) {
  int64_t gone = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    gone += s->Expire(step);
  }
  return gone;
}

}  // namespace psd
