// De-duplication of a batch's sparse keys: the unique keys (what a worker pulls and pushes) and,
// for each key of the batch, the position of its row among them.
#ifndef PSD_WORKER_UNIQUE_KEYS_H_
#define PSD_WORKER_UNIQUE_KEYS_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

namespace psd {

// Reused from batch to batch: after the first batches of a size, Build allocates nothing.
//
// The table is psd's own open-addressing hash (linear probing, slots stamped with the batch they
// belong to) rather than absl::flat_hash_map: flat_hash_map::clear() frees its array once it
// holds more than 127 slots, which would cost an allocation and a page-in per batch.
class UniqueKeys {
 public:
  // keys() becomes the distinct keys of `keys` in order of first appearance, and index()[i] the
  // position of keys[i] in keys(). Fewer than 2^31 keys.
  void Build(absl::Span<const uint64_t> keys);
  // As Build, with keys() ordered by group: those with group(key) == 0 first (in order of first
  // appearance), then group 1, ... up to groups - 1. The worker groups by owning server, so
  // that each server's rows are one run (worker/sparse_client.h sends them in place).
  void Build(absl::Span<const uint64_t> keys, int groups, absl::FunctionRef<int(uint64_t)> group);

  absl::Span<const uint64_t> keys() const { return unique_; }
  absl::Span<const int32_t> index() const { return index_; }

 private:
  struct Slot {
    uint64_t key;
    int32_t value;   // position in unique_
    uint32_t stamp;  // the slot is in use for the current Build when stamp == stamp_
  };
  std::vector<Slot> slots_;  // a power of two, at least twice the keys of a Build
  uint32_t stamp_ = 0;
  std::vector<uint64_t> unique_;
  std::vector<int32_t> index_;
  std::vector<int32_t> group_of_, start_, moved_;  // grouped Build's scratch
  std::vector<uint64_t> grouped_;
};

}  // namespace psd

#endif  // PSD_WORKER_UNIQUE_KEYS_H_
