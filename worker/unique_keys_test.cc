#include "worker/unique_keys.h"

#include <random>
#include <unordered_map>
#include <vector>

#include "tests/testing.h"
#include "worker/ctr_batch.h"

namespace psd {
namespace {

// The reference: a std::unordered_map in first-appearance order.
void CheckAgainstReference(const UniqueKeys& u, const std::vector<uint64_t>& keys) {
  std::unordered_map<uint64_t, int32_t> pos;
  std::vector<uint64_t> want;
  for (uint64_t k : keys) {
    if (pos.emplace(k, static_cast<int32_t>(want.size())).second) want.push_back(k);
  }
  REQUIRE(std::vector<uint64_t>(u.keys().begin(), u.keys().end()) == want);
  REQUIRE(u.index().size() == keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    REQUIRE(u.index()[i] == pos[keys[i]]);
    REQUIRE(u.keys()[u.index()[i]] == keys[i]);
  }
}

TEST_CASE("unique keys keep first-appearance order and index every key") {
  UniqueKeys u;
  u.Build({7, 3, 7, 0, 3, 3, ~uint64_t{0}, 0});
  CHECK(std::vector<uint64_t>(u.keys().begin(), u.keys().end()) ==
        std::vector<uint64_t>{7, 3, 0, ~uint64_t{0}});
  CHECK(std::vector<int32_t>(u.index().begin(), u.index().end()) ==
        std::vector<int32_t>{0, 1, 0, 2, 1, 1, 3, 2});
  u.Build({});
  CHECK(u.keys().empty());
  CHECK(u.index().empty());
}

TEST_CASE("grouped unique keys: each group one run, first appearance within it") {
  std::mt19937_64 rng(5);
  UniqueKeys u;
  for (int trial = 0; trial < 20; ++trial) {
    const int groups = 1 + trial % 5;
    std::vector<uint64_t> keys(static_cast<size_t>(rng() % 3000));
    for (auto& k : keys) k = rng() % 700;
    auto group = [groups](uint64_t key) { return static_cast<int>((key * 2654435761u) % groups); };
    u.Build(keys, groups, group);
    // The reference: first appearance, then a stable partition by group.
    std::vector<uint64_t> first;
    std::unordered_map<uint64_t, bool> seen;
    for (uint64_t k : keys) {
      if (seen.emplace(k, true).second) first.push_back(k);
    }
    std::vector<uint64_t> want;
    for (int g = 0; g < groups; ++g) {
      for (uint64_t k : first) {
        if (group(k) == g) want.push_back(k);
      }
    }
    REQUIRE(std::vector<uint64_t>(u.keys().begin(), u.keys().end()) == want);
    REQUIRE(u.index().size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i) REQUIRE(u.keys()[u.index()[i]] == keys[i]);
  }
}

TEST_CASE("unique keys over many batches of Criteo-like and dense keys, reusing the table") {
  UniqueKeys u;
  std::mt19937_64 rng(11);
  for (int batch = 0; batch < 40; ++batch) {
    const size_t n = 1 + rng() % 5000;
    const uint64_t vocab = 1 + rng() % 3000;  // small vocabularies: many repeats
    std::vector<uint64_t> keys(n);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t h = rng() % vocab;
      // Alternate Criteo keys (field in the top byte) with small consecutive integers.
      keys[i] = batch % 2 == 0 ? CriteoKey(static_cast<int>(i % 26), h) : h;
    }
    u.Build(keys);
    CheckAgainstReference(u, keys);
  }
}

TEST_CASE("unique keys: keys that collide in the table's low bits stay distinct") {
  UniqueKeys u;
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 2000; ++i) keys.push_back(i << 40);
  for (uint64_t i = 0; i < 2000; ++i) keys.push_back(i << 40);
  u.Build(keys);
  CheckAgainstReference(u, keys);
  CHECK(u.keys().size() == 2000);
}

}  // namespace
}  // namespace psd
