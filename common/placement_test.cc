#include "common/placement.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "tests/testing.h"

namespace psd {
namespace {

std::vector<TensorInfo> MlpTensors() {
  ModelSpec model;
  model.hidden = {256, 128};
  return ModelTensors(model);
}

TEST_CASE("model tensors are weight then bias per layer", "[placement]") {
  const auto tensors = MlpTensors();
  REQUIRE(tensors.size() == 6);
  CHECK(tensors[0].name == "layer0.weight");
  CHECK(tensors[0].shape == std::vector<int64_t>{784, 256});
  CHECK(tensors[1].shape == std::vector<int64_t>{256});
  CHECK(tensors[5].size == 10);
  CHECK(tensors[4].fan_in == 128);
  ModelSpec logreg;
  logreg.type = ModelType::kLogreg;
  CHECK(ModelTensors(logreg).size() == 2);
}

TEST_CASE("every chunk is placed exactly once and covers its tensor", "[placement]") {
  for (int servers = 1; servers <= 64; ++servers) {
    for (int64_t chunk : {1000, 4096, 65536, 1 << 20}) {
      auto p = Placement::Build(MlpTensors(), chunk, servers);
      REQUIRE(p.ok());
      std::set<uint64_t> seen;
      for (int s = 0; s < servers; ++s) {
        for (uint64_t k : p->ServerKeys(s)) {
          CHECK(seen.insert(k).second);
          CHECK(p->chunk(k).server == s);
        }
      }
      CHECK(seen.size() == p->chunks().size());
      for (const TensorInfo& t : p->tensors()) {
        int64_t next = 0;
        for (uint64_t k : p->TensorKeys(t.id)) {
          CHECK(p->chunk(k).offset == next);
          CHECK(p->chunk(k).length <= chunk);
          next += p->chunk(k).length;
        }
        CHECK(next == t.size);
      }
    }
  }
}

TEST_CASE("servers' bytes differ by at most one chunk", "[placement]") {
  for (int servers = 1; servers <= 64; ++servers) {
    for (int64_t chunk : {777, 4096, 65536}) {
      auto p = Placement::Build(MlpTensors(), chunk, servers);
      REQUIRE(p.ok());
      int64_t lo = INT64_MAX, hi = 0;
      for (int s = 0; s < servers; ++s) {
        lo = std::min(lo, p->ServerBytes(s));
        hi = std::max(hi, p->ServerBytes(s));
      }
      INFO("servers=" << servers << " chunk=" << chunk);
      CHECK(hi - lo <= chunk * 4);
    }
  }
}

TEST_CASE("a change of server count moves only the chunks of the ranks added or removed",
          "[placement][elastic]") {
  for (int64_t chunk : {777, 4096}) {
    for (int n = 1; n <= 12; ++n) {
      auto from = Placement::Build(MlpTensors(), chunk, n);
      REQUIRE(from.ok());
      for (int m = 1; m <= 12; ++m) {
        auto to = Placement::Build(MlpTensors(), chunk, m);
        REQUIRE(to.ok());
        INFO("chunk=" << chunk << " servers " << n << " -> " << m);
        int64_t expected = 0;  // the bytes of the ranks only the larger placement has
        const Placement& larger = n > m ? *from : *to;
        for (int s = std::min(n, m); s < std::max(n, m); ++s) expected += larger.ServerBytes(s);
        for (const ChunkInfo& c : to->chunks()) {
          const int before = from->chunk(c.key).server;
          if (before != c.server) CHECK(std::max(before, c.server) >= std::min(n, m));
        }
        CHECK(MovedBytes(*from, *to) == expected);
        CHECK(MovedBytes(*to, *from) == expected);
      }
    }
  }
}

TEST_CASE("sparse rows move only onto an added server, about 1/(n+1) of them",
          "[placement][elastic]") {
  constexpr int kKeys = 200000;
  for (int n = 1; n <= 8; ++n) {
    int moved = 0;
    std::vector<int> rows(n + 1, 0);
    for (uint64_t k = 0; k < kKeys; ++k) {
      const uint64_t key = (k % 26) << 56 | k * 0x9e3779b97f4a7c15ULL >> 8;  // Criteo-like
      const int before = SparseOwner(key, n), after = SparseOwner(key, n + 1);
      REQUIRE(before >= 0);
      REQUIRE(before < n);
      ++rows[after];
      if (before != after) {
        ++moved;
        CHECK(after == n);
      }
    }
    INFO("servers " << n << " -> " << n + 1);
    CHECK(std::abs(moved - kKeys / (n + 1)) < kKeys / 50);
    for (int r : rows) CHECK(std::abs(r - kKeys / (n + 1)) < kKeys / 50);  // balanced by rows
  }
}

TEST_CASE("placement is deterministic", "[placement]") {
  for (int servers : {1, 3, 7, 64}) {
    auto a = Placement::Build(MlpTensors(), 5000, servers);
    auto b = Placement::Build(MlpTensors(), 5000, servers);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(a->chunks().size() == b->chunks().size());
    for (size_t i = 0; i < a->chunks().size(); ++i) {
      CHECK(a->chunks()[i].server == b->chunks()[i].server);
      CHECK(a->chunks()[i].offset == b->chunks()[i].offset);
    }
  }
}

TEST_CASE("placement rejects bad arguments", "[placement]") {
  CHECK(Placement::Build(MlpTensors(), 1024, 0).status().message() ==
        "placement: need at least 1 server, got 0");
  CHECK(!Placement::Build(MlpTensors(), 0, 2).ok());
}

TEST_CASE("initial values do not depend on chunking", "[placement]") {
  const auto tensors = MlpTensors();
  const TensorInfo& w = tensors[0];
  std::vector<float> whole(w.size), pieces(w.size);
  InitTensorSlice(42, w, 0, absl::MakeSpan(whole));
  for (int64_t off = 0; off < w.size; off += 1000) {
    const int64_t n = std::min<int64_t>(1000, w.size - off);
    InitTensorSlice(42, w, off, absl::MakeSpan(pieces.data() + off, n));
  }
  CHECK(whole == pieces);
  const float bound = 1.0f / 28.0f;
  double sum = 0;
  for (float v : whole) {
    REQUIRE(std::abs(v) <= bound);
    sum += v;
  }
  CHECK(std::abs(sum / whole.size()) < 0.01 * bound);
  std::vector<float> other(w.size);
  InitTensorSlice(43, w, 0, absl::MakeSpan(other));
  CHECK(other != whole);
}

}  // namespace
}  // namespace psd
