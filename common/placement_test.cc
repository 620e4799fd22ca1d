#include "common/placement.h"

#include <algorithm>
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
