// A parameter server's embedding table: rows of `dim` floats keyed by u64 ids, created lazily on
// first lookup, updated by a per-row optimizer, bounded by a memory budget (LFU or TTL eviction)
// and an admission filter, with hooks for full and incremental checkpoints. docs/sparse.md
// describes the layout and the policies.
#ifndef PSD_SERVER_EMBEDDING_TABLE_H_
#define PSD_SERVER_EMBEDDING_TABLE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/row_optimizer.h"

namespace psd {

enum class EvictionPolicy { kNone, kLfu, kTtl };

struct TableOptions {
  int dim = 16;               // floats per row (1 .. 4096)
  uint64_t seed = 1;          // job seed
  float init_scale = 0.01f;   // a new row is uniform in [-init_scale, init_scale), a function of
                              // (seed, key, element) alone; 0 gives zeros
  int zero_init_columns = 0;  // the first N columns of a new row start at 0 (a linear weight)
  RowOptimizerOptions optimizer;
  int64_t memory_budget_bytes = 0;  // 0: unlimited. Bytes the table's rows may use (memory_bytes)
  // What goes when a new row would exceed the budget: LFU evicts the least-used of 8 sampled rows;
  // TTL drops rows not touched for ttl_steps steps (swept as steps advance) and, still over
  // budget, falls back to LFU. kNone creates no row once the budget is full.
  EvictionPolicy eviction = EvictionPolicy::kLfu;
  int64_t ttl_steps = 0;
  int admit_min_count = 0;  // (0 .. 255) a key gets a stored row once looked up this many times
                            // (a count-min sketch per shard); before that lookups return the
                            // initial value and updates to it are dropped and counted
  // Additions to the brief's API:
  int num_shards = 64;             // independently locked stripes (a power of 2, 1 .. 1024)
  int admit_sketch_width = 4096;   // counters per sketch row per shard (4 rows of u8 counters)
  bool track_evicted_keys = true;  // keep the keys evicted since MarkCheckpointed()
};

struct TableStats {
  int64_t rows, memory_bytes, evictions, not_admitted_updates, lookups, created, updates;
  int64_t expired = 0;               // of `evictions`, rows dropped by the TTL sweep
  int64_t not_admitted_lookups = 0;  // lookups answered with the initial value, no row stored
  int64_t aux_bytes = 0;  // admission sketches + the evicted-key sets (outside memory_bytes)
};

class EmbeddingTable {
 public:
  // InvalidArgument naming the field for bad options.
  static absl::StatusOr<std::unique_ptr<EmbeddingTable>> Create(const TableOptions& options);
  ~EmbeddingTable();
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  int dim() const;
  const TableOptions& options() const;

  // Copies each key's row into out[i*dim .. ), creating absent rows lazily (subject to admission
  // and the budget). `step` is the caller's clock (for TTL/LFU). Thread-safe. Serves
  // min(keys.size(), out.size() / dim) keys (the caller sizes out to keys * dim).
  void Lookup(absl::Span<const uint64_t> keys, int64_t step, absl::Span<float> out);
  // Applies grads[i*dim ..) to keys[i]'s row with the row optimizer at learning_rate * lr_scale.
  // A key without a stored row (evicted, not admitted) is created from its initial value first if
  // admitted, else dropped and counted. Keys are unique within one call. Thread-safe.
  void Apply(absl::Span<const uint64_t> keys, absl::Span<const float> grads, double lr_scale,
             int64_t step);
  // Reads a row without creating it (false when absent).
  bool Read(uint64_t key, absl::Span<float> out) const;
  // Each key's row into out[i*dim ..), its initial value where absent; creates nothing
  // (evaluation reads).
  void ReadOrInitial(absl::Span<const uint64_t> keys, absl::Span<float> out) const;
  TableStats stats() const;
  // Bytes allocated for rows: index capacity + arena capacity (rows with their metadata) + the
  // shards' fixed parts. What memory_budget_bytes bounds.
  int64_t memory_bytes() const;
  // Raw bytes of one row: key + values + optimizer slots (+ the update count for lazy adam).
  int64_t raw_row_bytes() const;
  // Bytes one stored row takes in the arena (raw + the u32 use count and u32 last step).
  int64_t stored_row_bytes() const;

  // Checkpoints: rows changed (created or updated) since the last MarkCheckpointed(), or all rows;
  // fn gets (key, values, slots, updates) (updates is 0 but for lazy adam). fn runs under a
  // shard's lock: it must not call back into the table.
  void ForEachRow(
      bool changed_only,
      absl::FunctionRef<void(uint64_t, absl::Span<const float>, absl::Span<const float>, uint32_t)>
          fn) const;
  void MarkCheckpointed();
  // Keys evicted since the last MarkCheckpointed and not stored again since (an incremental
  // checkpoint must drop them). Sorted.
  std::vector<uint64_t> EvictedSinceCheckpoint() const;
  // Restores one row (values, slots, updates) as saved; InvalidArgument on wrong sizes,
  // ResourceExhausted when the budget is full and eviction is kNone. A restored row counts as
  // unchanged (it equals the checkpoint it came from).
  absl::Status Restore(uint64_t key, absl::Span<const float> values, absl::Span<const float> slots,
                       uint32_t updates);
  // Runs the TTL sweep in every shard now (rows untouched for more than ttl_steps before `step`
  // go); returns how many rows went. No-op unless eviction is kTtl.
  int64_t ExpireStale(int64_t step);

 private:
  class Shard;
  struct Grouping;
  static void Group(absl::Span<const uint64_t> keys, int shard_bits, Grouping* g);
  template <typename Fn>
  void ForEachGroup(const Grouping& g, size_t n, Fn fn);
  explicit EmbeddingTable(const TableOptions& options);
  Shard& ShardFor(uint64_t hash) const;

  TableOptions options_;
  int shard_bits_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// The initial value of `key`'s row (what a new row holds), exposed for tests and workers:
// element e is 0 for e < zero_init_columns, else init_scale * (2u - 1) with u in [0, 1) from
// splitmix64(seed, key, e).
void InitialRow(const TableOptions& o, uint64_t key, absl::Span<float> out);

}  // namespace psd

#endif  // PSD_SERVER_EMBEDDING_TABLE_H_
