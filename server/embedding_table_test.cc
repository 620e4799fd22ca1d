#include "server/embedding_table.h"

#include <algorithm>
#include <map>
#include <thread>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

using Catch::Matchers::WithinAbs;

std::unique_ptr<EmbeddingTable> Make(const TableOptions& o) {
  absl::StatusOr<std::unique_ptr<EmbeddingTable>> t = EmbeddingTable::Create(o);
  REQUIRE(t.ok());
  return *std::move(t);
}

std::vector<float> Initial(const TableOptions& o, uint64_t key) {
  std::vector<float> v(o.dim);
  InitialRow(o, key, absl::MakeSpan(v));
  return v;
}

std::vector<float> Looked(EmbeddingTable& t, uint64_t key, int64_t step = 0) {
  std::vector<float> v(t.dim());
  t.Lookup({key}, step, absl::MakeSpan(v));
  return v;
}

std::vector<float> Stored(const EmbeddingTable& t, uint64_t key) {
  std::vector<float> v(t.dim());
  REQUIRE(t.Read(key, absl::MakeSpan(v)));
  return v;
}

bool Has(const EmbeddingTable& t, uint64_t key) {
  std::vector<float> v(t.dim());
  return t.Read(key, absl::MakeSpan(v));
}

TEST_CASE("a new row is its initial value, however keys are spread", "[embedding_table]") {
  TableOptions o;
  o.dim = 8;
  o.init_scale = 0.5f;
  auto whole = Make(o);
  TableOptions o2 = o;
  o2.num_shards = 4;  // a different striping gives the same rows
  auto half_a = Make(o2), half_b = Make(o2);

  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 1000; ++k) keys.push_back(k * 0x9E3779B97F4A7C15ULL + 7);
  std::vector<float> out(keys.size() * o.dim);
  CHECK_FALSE(Has(*whole, keys[0]));
  whole->Lookup(keys, 0, absl::MakeSpan(out));
  std::vector<uint64_t> a, b;
  for (size_t i = 0; i < keys.size(); ++i) (i % 2 ? a : b).push_back(keys[i]);
  std::vector<float> out_a(a.size() * o.dim), out_b(b.size() * o.dim);
  half_a->Lookup(a, 0, absl::MakeSpan(out_a));
  half_b->Lookup(b, 0, absl::MakeSpan(out_b));

  for (size_t i = 0; i < keys.size(); ++i) {
    const std::vector<float> want = Initial(o, keys[i]);
    CHECK(std::vector<float>(out.begin() + i * o.dim, out.begin() + (i + 1) * o.dim) == want);
    CHECK(Stored(*whole, keys[i]) == want);
    CHECK(Stored(i % 2 ? *half_a : *half_b, keys[i]) == want);
    for (float v : want) {
      CHECK(v >= -0.5f);
      CHECK(v < 0.5f);
    }
  }
  CHECK(whole->stats().rows == 1000);
  CHECK(whole->stats().created == 1000);
  CHECK(whole->stats().lookups == 1000);
  CHECK(half_a->stats().rows + half_b->stats().rows == 1000);

  // Another seed gives other rows; a zero scale gives zeros.
  TableOptions other = o;
  other.seed = 2;
  CHECK(Initial(other, keys[0]) != Initial(o, keys[0]));
  other.init_scale = 0;
  CHECK(Initial(other, keys[0]) == std::vector<float>(o.dim, 0.0f));
  // Repeated keys in one lookup see one row.
  std::vector<float> twice(2 * o.dim);
  whole->Lookup({keys[3], keys[3]}, 1, absl::MakeSpan(twice));
  CHECK(std::equal(twice.begin(), twice.begin() + o.dim, twice.begin() + o.dim));
  CHECK(whole->stats().rows == 1000);
}

TEST_CASE("zero_init_columns start at 0", "[embedding_table]") {
  TableOptions o;
  o.dim = 5;
  o.init_scale = 1.0f;
  o.zero_init_columns = 2;
  auto t = Make(o);
  for (uint64_t k = 1; k <= 50; ++k) {
    const std::vector<float> row = Looked(*t, k);
    CHECK(row[0] == 0.0f);
    CHECK(row[1] == 0.0f);
    CHECK(row == Initial(o, k));
    CHECK((row[2] != 0.0f || row[3] != 0.0f || row[4] != 0.0f));
  }
}

TEST_CASE("apply updates rows with the row optimizer", "[embedding_table]") {
  TableOptions o;
  o.dim = 4;
  o.optimizer.type = RowOptimizerType::kAdagrad;
  o.optimizer.learning_rate = 0.1;
  o.optimizer.initial_accumulator = 0.1;
  auto t = Make(o);
  const std::vector<float> g = {0.5f, -0.25f, 1.0f, 0.0f};
  Looked(*t, 42);
  t->Apply({42}, g, 0.5, 1);
  // The same update done by hand on the initial row.
  std::vector<float> want = Initial(o, 42), slots(4, 0.1f);
  uint32_t updates = 0;
  ApplyRowUpdate(o.optimizer, 0.5, g, absl::MakeSpan(want), absl::MakeSpan(slots), &updates);
  CHECK(Stored(*t, 42) == want);
  CHECK(Looked(*t, 42, 2) == want);

  // A key never looked up is created, then updated.
  t->Apply({77}, g, 1.0, 3);
  std::vector<float> want77 = Initial(o, 77), slots77(4, 0.1f);
  ApplyRowUpdate(o.optimizer, 1.0, g, absl::MakeSpan(want77), absl::MakeSpan(slots77), &updates);
  CHECK(Stored(*t, 77) == want77);
  const TableStats s = t->stats();
  CHECK(s.updates == 2);
  CHECK(s.created == 2);
  CHECK(s.not_admitted_updates == 0);
}

TEST_CASE("lazy adam keeps one update count per row", "[embedding_table]") {
  TableOptions o;
  o.dim = 2;
  o.init_scale = 0;
  o.optimizer.type = RowOptimizerType::kLazyAdam;
  o.optimizer.learning_rate = 0.01;
  auto t = Make(o);
  CHECK(t->raw_row_bytes() == 8 + 4 * 2 * 3 + 4);
  for (int i = 0; i < 5; ++i) t->Apply({1}, std::vector<float>{1, 1}, 1.0, i);
  t->Apply({2}, std::vector<float>{1, -1}, 1.0, 5);
  std::map<uint64_t, uint32_t> counts;
  t->ForEachRow(false,
                [&](uint64_t k, absl::Span<const float> v, absl::Span<const float> s, uint32_t u) {
                  CHECK(v.size() == 2);
                  CHECK(s.size() == 4);
                  counts[k] = u;
                });
  CHECK(counts == std::map<uint64_t, uint32_t>{{1, 5}, {2, 1}});
  // Row 2's first step is bias-corrected by its own count (1): about lr, whatever row 1 did.
  const std::vector<float> row2 = Stored(*t, 2);
  CHECK_THAT(row2[0], WithinAbs(-0.01, 1e-6));
  CHECK_THAT(row2[1], WithinAbs(0.01, 1e-6));
}

TEST_CASE("memory per row stays close to the raw bytes", "[embedding_table]") {
  TableOptions o;
  o.dim = 16;
  o.num_shards = 4;
  auto t = Make(o);
  const int n = 400000;
  std::vector<uint64_t> keys(1000);
  std::vector<float> out(keys.size() * o.dim);
  for (int base = 0; base < n; base += 1000) {
    for (int i = 0; i < 1000; ++i) keys[i] = static_cast<uint64_t>(base + i) * 2654435761ULL;
    t->Lookup(keys, 0, absl::MakeSpan(out));
  }
  const TableStats s = t->stats();
  REQUIRE(s.rows == n);
  CHECK(t->raw_row_bytes() == 8 + 16 * 4 * 2);
  const double ratio = static_cast<double>(s.memory_bytes) / (n * t->raw_row_bytes());
  INFO("memory_bytes / raw = " << ratio);
  CHECK(ratio >= 1.0);
  CHECK(ratio <= 1.3);
}

TEST_CASE("lfu eviction keeps the table under its budget and the hot keys", "[embedding_table]") {
  TableOptions o;
  o.dim = 8;
  o.optimizer.type = RowOptimizerType::kSgd;
  o.num_shards = 4;
  o.memory_budget_bytes = 64 << 10;
  o.eviction = EvictionPolicy::kLfu;
  auto t = Make(o);
  std::vector<uint64_t> hot;
  for (uint64_t k = 0; k < 40; ++k) hot.push_back(1000000 + k);
  std::vector<float> out(100 * o.dim);
  uint64_t cold = 0;
  for (int round = 0; round < 40; ++round) {
    t->Lookup(hot, round, absl::MakeSpan(out));
    std::vector<uint64_t> fresh;
    for (int i = 0; i < 100; ++i) fresh.push_back(cold++);
    t->Lookup(fresh, round, absl::MakeSpan(out));
    const TableStats s = t->stats();
    REQUIRE(s.memory_bytes <= o.memory_budget_bytes);
    REQUIRE(s.rows == s.created - s.evictions);
  }
  const TableStats s = t->stats();
  CHECK(s.evictions > 2000);
  CHECK(s.memory_bytes > o.memory_budget_bytes * 8 / 10);  // the budget is used, not wasted
  for (uint64_t k : hot) CHECK(Has(*t, k));
  int early = 0;
  for (uint64_t k = 0; k < 1000; ++k) early += Has(*t, k);
  CHECK(early < 100);
  // An update to an evicted key re-creates it from its initial value.
  t->Apply({0}, std::vector<float>(o.dim, 1.0f), 1.0, 41);
  std::vector<float> want = Initial(o, 0);
  for (float& v : want) v -= static_cast<float>(o.optimizer.learning_rate);
  CHECK(Stored(*t, 0) == want);
}

TEST_CASE("a full table without eviction stores no new rows", "[embedding_table]") {
  TableOptions o;
  o.dim = 8;
  o.num_shards = 1;
  o.memory_budget_bytes = 8 << 10;
  o.eviction = EvictionPolicy::kNone;
  auto t = Make(o);
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 500; ++k) keys.push_back(k);
  std::vector<float> out(keys.size() * o.dim);
  t->Lookup(keys, 0, absl::MakeSpan(out));
  TableStats s = t->stats();
  CHECK(s.rows < 500);
  CHECK(s.rows > 50);
  CHECK(s.evictions == 0);
  CHECK(s.memory_bytes <= o.memory_budget_bytes);
  CHECK(s.not_admitted_lookups == 500 - s.rows);
  // What was not stored still reads as its initial value; updates to it are dropped and counted.
  CHECK(std::vector<float>(out.end() - o.dim, out.end()) == Initial(o, 499));
  CHECK_FALSE(Has(*t, 499));
  t->Apply({499}, std::vector<float>(o.dim, 1.0f), 1.0, 1);
  CHECK(t->stats().not_admitted_updates == 1);
  // Restoring a row that does not fit says so; one that is stored is overwritten.
  const std::vector<float> slots(o.dim, 0.0f), values(o.dim, 2.0f);
  CHECK(absl::IsResourceExhausted(t->Restore(499, values, slots, 0)));
  REQUIRE(t->Restore(0, values, slots, 0).ok());
  CHECK(Stored(*t, 0) == values);
  CHECK(t->stats().memory_bytes <= o.memory_budget_bytes);
}

TEST_CASE("ttl drops rows not touched for ttl_steps", "[embedding_table]") {
  TableOptions o;
  o.dim = 4;
  o.num_shards = 4;
  o.eviction = EvictionPolicy::kTtl;
  o.ttl_steps = 10;
  auto t = Make(o);
  std::vector<uint64_t> stale, live;
  for (uint64_t k = 0; k < 64; ++k) stale.push_back(k);
  for (uint64_t k = 100; k < 164; ++k) live.push_back(k);
  std::vector<float> out(64 * o.dim);
  t->Lookup(stale, 0, absl::MakeSpan(out));
  for (int step = 0; step <= 30; ++step) {
    t->Lookup(live, step, absl::MakeSpan(out));
    if (step == 5) {
      for (uint64_t k : stale) REQUIRE(Has(*t, k));  // not yet stale
    }
  }
  for (uint64_t k : stale) CHECK_FALSE(Has(*t, k));
  for (uint64_t k : live) CHECK(Has(*t, k));
  TableStats s = t->stats();
  CHECK(s.expired == 64);
  CHECK(s.evictions == 64);
  CHECK(s.rows == 64);
  // An explicit sweep drops what is stale now.
  CHECK(t->ExpireStale(30 + 10) == 0);
  CHECK(t->ExpireStale(30 + 11) == 64);
  CHECK(t->stats().rows == 0);
}

TEST_CASE("ttl over budget falls back to lfu", "[embedding_table]") {
  TableOptions o;
  o.dim = 8;
  o.num_shards = 2;
  o.memory_budget_bytes = 16 << 10;
  o.eviction = EvictionPolicy::kTtl;
  o.ttl_steps = 1000;
  auto t = Make(o);
  std::vector<uint64_t> keys(50);
  std::vector<float> out(keys.size() * o.dim);
  for (uint64_t round = 0; round < 40; ++round) {
    for (uint64_t i = 0; i < 50; ++i) keys[i] = round * 50 + i;
    t->Lookup(keys, static_cast<int64_t>(round), absl::MakeSpan(out));
    REQUIRE(t->stats().memory_bytes <= o.memory_budget_bytes);
  }
  const TableStats s = t->stats();
  CHECK(s.evictions > 1000);
  CHECK(s.expired == 0);
}

TEST_CASE("admission stores a row from the admit_min_count-th lookup", "[embedding_table]") {
  TableOptions o;
  o.dim = 4;
  o.admit_min_count = 3;
  o.optimizer.type = RowOptimizerType::kSgd;
  auto t = Make(o);
  const std::vector<float> g(4, 1.0f);
  CHECK(Looked(*t, 9, 0) == Initial(o, 9));
  CHECK_FALSE(Has(*t, 9));
  t->Apply({9}, g, 1.0, 0);  // dropped
  CHECK(t->stats().not_admitted_updates == 1);
  CHECK(Looked(*t, 9, 1) == Initial(o, 9));
  CHECK_FALSE(Has(*t, 9));
  CHECK(Looked(*t, 9, 2) == Initial(o, 9));
  CHECK(Has(*t, 9));
  t->Apply({9}, g, 1.0, 2);
  std::vector<float> want = Initial(o, 9);
  for (float& v : want) v -= 0.05f;
  CHECK(Stored(*t, 9) == want);
  const TableStats s = t->stats();
  CHECK(s.rows == 1);
  CHECK(s.lookups == 3);
  CHECK(s.not_admitted_lookups == 2);
  CHECK(s.updates == 1);
  CHECK(s.aux_bytes >= 4 * 4096 * 64);  // the sketches
  // Many keys seen once each: none admitted.
  std::vector<uint64_t> once;
  for (uint64_t k = 1000; k < 3000; ++k) once.push_back(k);
  std::vector<float> out(once.size() * o.dim);
  t->Lookup(once, 3, absl::MakeSpan(out));
  CHECK(t->stats().rows == 1);
}

TEST_CASE("checkpoint hooks: changed rows, evicted keys, restore", "[embedding_table]") {
  TableOptions o;
  o.dim = 3;
  o.num_shards = 4;
  o.optimizer.type = RowOptimizerType::kLazyAdam;
  auto t = Make(o);
  std::vector<uint64_t> keys;
  for (uint64_t k = 1; k <= 100; ++k) keys.push_back(k);
  std::vector<float> out(keys.size() * o.dim);
  t->Lookup(keys, 0, absl::MakeSpan(out));
  t->Apply({5, 6}, std::vector<float>(6, 0.5f), 1.0, 1);
  auto count = [&](bool changed_only) {
    int n = 0;
    t->ForEachRow(changed_only, [&](uint64_t, absl::Span<const float>, absl::Span<const float>,
                                    uint32_t) { ++n; });
    return n;
  };
  CHECK(count(false) == 100);
  CHECK(count(true) == 100);  // all created since the start
  t->MarkCheckpointed();
  CHECK(count(true) == 0);
  t->Lookup(keys, 2, absl::MakeSpan(out));  // lookups change nothing
  CHECK(count(true) == 0);
  t->Apply({5, 7}, std::vector<float>(6, -0.25f), 1.0, 3);
  Looked(*t, 1000, 3);  // created
  std::vector<uint64_t> changed;
  t->ForEachRow(true, [&](uint64_t k, absl::Span<const float>, absl::Span<const float>, uint32_t) {
    changed.push_back(k);
  });
  std::sort(changed.begin(), changed.end());
  CHECK(changed == std::vector<uint64_t>{5, 7, 1000});
  CHECK(t->EvictedSinceCheckpoint().empty());

  // Restore every row into a fresh table: same values, slots and counts, nothing changed.
  auto copy = Make(o);
  t->ForEachRow(false, [&](uint64_t k, absl::Span<const float> v, absl::Span<const float> s,
                           uint32_t u) { REQUIRE(copy->Restore(k, v, s, u).ok()); });
  CHECK(copy->stats().rows == 101);
  int changed_in_copy = 0;
  copy->ForEachRow(true, [&](uint64_t, absl::Span<const float>, absl::Span<const float>, uint32_t) {
    ++changed_in_copy;
  });
  CHECK(changed_in_copy == 0);
  for (uint64_t k : {uint64_t{1}, uint64_t{5}, uint64_t{7}, uint64_t{1000}})
    CHECK(Stored(*copy, k) == Stored(*t, k));
  // The next update is the same in both (the optimizer state came along).
  const std::vector<float> g = {0.1f, -0.2f, 0.3f};
  t->Apply({5}, g, 1.0, 4);
  copy->Apply({5}, g, 1.0, 4);
  CHECK(Stored(*copy, 5) == Stored(*t, 5));
  uint32_t updates5 = 0;
  copy->ForEachRow(false,
                   [&](uint64_t k, absl::Span<const float>, absl::Span<const float>, uint32_t u) {
                     if (k == 5) updates5 = u;
                   });
  CHECK(updates5 == 3);

  // Wrong sizes name the key and the sizes.
  absl::Status bad = copy->Restore(9, std::vector<float>(2), std::vector<float>(6), 0);
  CHECK(absl::IsInvalidArgument(bad));
  CHECK(bad.message().find("key 9") != absl::string_view::npos);
  CHECK(absl::IsInvalidArgument(copy->Restore(9, std::vector<float>(3), std::vector<float>(3), 0)));
}

TEST_CASE("evicted keys are listed until the next checkpoint", "[embedding_table]") {
  TableOptions o;
  o.dim = 8;
  o.num_shards = 1;
  o.memory_budget_bytes = 8 << 10;
  auto t = Make(o);
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 300; ++k) keys.push_back(k);
  std::vector<float> out(keys.size() * o.dim);
  t->Lookup(keys, 0, absl::MakeSpan(out));
  const std::vector<uint64_t> evicted = t->EvictedSinceCheckpoint();
  REQUIRE(!evicted.empty());
  CHECK(static_cast<int64_t>(evicted.size()) == t->stats().evictions);
  CHECK(static_cast<int64_t>(evicted.size()) + t->stats().rows == 300);
  for (uint64_t k : evicted) CHECK_FALSE(Has(*t, k));
  // A key stored again is no longer listed.
  Looked(*t, evicted[0], 1);
  const std::vector<uint64_t> after = t->EvictedSinceCheckpoint();
  CHECK(std::find(after.begin(), after.end(), evicted[0]) == after.end());
  t->MarkCheckpointed();
  CHECK(t->EvictedSinceCheckpoint().empty());
}

TEST_CASE("bad options name the field", "[embedding_table]") {
  auto error = [](void (*edit)(TableOptions&)) {
    TableOptions o;
    edit(o);
    absl::StatusOr<std::unique_ptr<EmbeddingTable>> t = EmbeddingTable::Create(o);
    REQUIRE_FALSE(t.ok());
    CHECK(absl::IsInvalidArgument(t.status()));
    return std::string(t.status().message());
  };
  CHECK(error([](TableOptions& o) { o.dim = 0; }).find("dim") == 0);
  CHECK(error([](TableOptions& o) { o.dim = 4097; }).find("dim") == 0);
  CHECK(error([](TableOptions& o) { o.init_scale = -1; }).find("init_scale") == 0);
  CHECK(error([](TableOptions& o) { o.zero_init_columns = 17; }).find("zero_init_columns") == 0);
  CHECK(error([](TableOptions& o) { o.memory_budget_bytes = -1; }).find("memory_budget_bytes") ==
        0);
  CHECK(error([](TableOptions& o) { o.memory_budget_bytes = 100; }).find("too small") !=
        std::string::npos);
  CHECK(error([](TableOptions& o) { o.eviction = EvictionPolicy::kTtl; }).find("ttl_steps") == 0);
  CHECK(error([](TableOptions& o) { o.admit_min_count = 256; }).find("admit_min_count") == 0);
  CHECK(error([](TableOptions& o) { o.num_shards = 3; }).find("num_shards") == 0);
  CHECK(error([](TableOptions& o) {
          o.optimizer.learning_rate = -1;
        }).find("optimizer.learning_rate") == 0);
}

TEST_CASE("lookups and applies from many threads", "[embedding_table]") {
  TableOptions o;
  o.dim = 4;
  o.init_scale = 0;
  o.optimizer.type = RowOptimizerType::kSgd;
  o.optimizer.learning_rate = 1.0;
  auto t = Make(o);
  constexpr int kThreads = 4, kSteps = 200, kBatch = 32;
  constexpr uint64_t kKeys = 500;  // overlapping: threads update the same rows
  std::vector<std::map<uint64_t, int>> applied(kThreads);
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      uint64_t x = 12345 + w;
      std::vector<float> out(kBatch * o.dim);
      const std::vector<float> grads(kBatch * o.dim, 1.0f);
      for (int step = 0; step < kSteps; ++step) {
        std::vector<uint64_t> keys;
        while (keys.size() < kBatch) {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          const uint64_t k = (x >> 33) % kKeys;
          if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
        }
        t->Lookup(keys, step, absl::MakeSpan(out));
        t->Apply(keys, grads, 1.0, step);
        for (uint64_t k : keys) ++applied[w][k];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::map<uint64_t, int> total;
  for (const auto& m : applied)
    for (const auto& [k, n] : m) total[k] += n;
  for (const auto& [k, n] : total) {
    const std::vector<float> row = Stored(*t, k);
    CHECK(row == std::vector<float>(o.dim, -static_cast<float>(n)));
  }
  const TableStats s = t->stats();
  CHECK(s.updates == kThreads * kSteps * kBatch);
  CHECK(s.lookups == kThreads * kSteps * kBatch);
  CHECK(s.rows == static_cast<int64_t>(total.size()));
}

TEST_CASE("many threads under a budget with ttl and admission", "[embedding_table]") {
  TableOptions o;
  o.dim = 8;
  o.num_shards = 8;
  o.memory_budget_bytes = 64 << 10;
  o.eviction = EvictionPolicy::kTtl;
  o.ttl_steps = 20;
  o.admit_min_count = 2;
  o.admit_sketch_width = 256;
  auto t = Make(o);
  constexpr int kThreads = 4, kSteps = 100, kBatch = 64;
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      uint64_t x = 777 + w;
      std::vector<float> out(kBatch * o.dim);
      const std::vector<float> grads(kBatch * o.dim, 0.1f);
      for (int step = 0; step < kSteps; ++step) {
        std::vector<uint64_t> keys;
        while (keys.size() < kBatch) {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          const uint64_t k = (x >> 33) % 20000;
          if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
        }
        t->Lookup(keys, step, absl::MakeSpan(out));
        t->Apply(keys, grads, 1.0, step);
        if (w == 0 && step % 25 == 0) {
          t->ForEachRow(
              true, [](uint64_t, absl::Span<const float>, absl::Span<const float>, uint32_t) {});
          t->MarkCheckpointed();
          (void)t->EvictedSinceCheckpoint();
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const TableStats s = t->stats();
  CHECK(s.memory_bytes <= o.memory_budget_bytes);
  CHECK(s.rows == s.created - s.evictions);
  CHECK(s.lookups == kThreads * kSteps * kBatch);
  CHECK(s.updates + s.not_admitted_updates == kThreads * kSteps * kBatch);
  CHECK(s.evictions > 0);
}

}  // namespace
}  // namespace psd
