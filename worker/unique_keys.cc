#include "worker/unique_keys.h"

#include <algorithm>

namespace psd {
namespace {

// The murmur3 / splitmix64 finaliser: keys that differ only in high bits (a Criteo key's field)
// or low bits spread over the whole table.
inline uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

void UniqueKeys::Build(absl::Span<const uint64_t> keys) {
  const size_t n = keys.size();
  size_t capacity = slots_.size();
  if (capacity < 2 * n || capacity < 16) {
    capacity = std::max<size_t>(capacity, 16);
    while (capacity < 2 * n) capacity *= 2;
    slots_.assign(capacity, Slot{0, 0, 0});
    stamp_ = 0;
  }
  if (++stamp_ == 0) {  // wrapped: no slot may look current
    for (Slot& s : slots_) s.stamp = 0;
    stamp_ = 1;
  }
  const size_t mask = capacity - 1;
  const uint32_t stamp = stamp_;
  Slot* const slots = slots_.data();
  unique_.clear();
  index_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = keys[i];
    size_t h = static_cast<size_t>(Mix(key)) & mask;
    while (true) {
      Slot& s = slots[h];
      if (s.stamp != stamp) {
        s.key = key;
        s.stamp = stamp;
        s.value = static_cast<int32_t>(unique_.size());
        unique_.push_back(key);
        index_[i] = s.value;
        break;
      }
      if (s.key == key) {
        index_[i] = s.value;
        break;
      }
      h = (h + 1) & mask;
    }
  }
}

void UniqueKeys::Build(absl::Span<const uint64_t> keys, int groups,
                       absl::FunctionRef<int(uint64_t)> group) {
  Build(keys);
  if (groups <= 1) return;
  const size_t u = unique_.size();
  group_of_.resize(u);
  start_.assign(static_cast<size_t>(groups) + 1, 0);
  for (size_t j = 0; j < u; ++j) {
    group_of_[j] = group(unique_[j]);
    ++start_[group_of_[j] + 1];
  }
  for (int g = 0; g < groups; ++g) start_[g + 1] += start_[g];
  moved_.resize(u);  // old position -> new
  grouped_.resize(u);
  for (size_t j = 0; j < u; ++j) {
    const int32_t to = start_[group_of_[j]]++;
    moved_[j] = to;
    grouped_[to] = unique_[j];
  }
  unique_.swap(grouped_);
  for (int32_t& i : index_) i = moved_[i];
}

}  // namespace psd
