#include "common/payload.h"

#include <cstring>
#include <random>
#include <vector>

#include "common/fp16.h"
#include "tests/testing.h"

namespace psd {
namespace {

// `bytes` copied to an odd address and split at random points (mid-value splits included).
struct Split {
  std::vector<uint8_t> storage;
  Payload payload;
};

Split MakeSplit(WireType type, const std::vector<uint8_t>& bytes, std::mt19937& rng,
                int max_piece) {
  Split s{std::vector<uint8_t>(bytes.size() + 1), Payload(type)};
  std::memcpy(s.storage.data() + 1, bytes.data(), bytes.size());
  std::uniform_int_distribution<int> piece(1, max_piece);
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t n = std::min<size_t>(piece(rng), bytes.size() - at);
    s.payload.Append(Payload::Piece(s.storage.data() + 1 + at, n));
    at += n;
  }
  return s;
}

TEST_CASE("payload split anywhere reads like the contiguous values", "[payload]") {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-3, 3);
  for (WireType type : {WireType::kF32, WireType::kF16}) {
    for (int max_piece : {1, 3, 7, 64, 5000, 1 << 20}) {
      const int n = 3001;
      std::vector<float> values(n);
      for (float& v : values) v = u(rng);
      std::vector<uint8_t> bytes;
      std::vector<float> expect(n);
      if (type == WireType::kF16) {
        std::vector<uint16_t> h(n);
        FloatToHalf(values.data(), h.data(), n);
        bytes.resize(2 * n);
        std::memcpy(bytes.data(), h.data(), 2 * n);
        for (int i = 0; i < n; ++i) expect[i] = HalfToFloat(h[i]);
      } else {
        bytes.resize(4 * n);
        std::memcpy(bytes.data(), values.data(), 4 * n);
        expect = values;
      }
      Split s = MakeSplit(type, bytes, rng, max_piece);
      INFO("type " << static_cast<int>(type) << " pieces " << s.payload.pieces().size());
      REQUIRE(s.payload.elements() == n);
      REQUIRE(s.payload.whole());
      std::vector<float> copy(n, -1), acc(n, 0.5f), runs(n, -1);
      s.payload.CopyTo(copy.data());
      s.payload.AddTo(acc.data());
      int64_t next = 0;
      s.payload.ForEachRun([&](int64_t offset, const float* v, int64_t count) {
        REQUIRE(offset == next);
        REQUIRE(reinterpret_cast<uintptr_t>(v) % alignof(float) == 0);
        std::memcpy(runs.data() + offset, v, count * sizeof(float));
        next += count;
      });
      REQUIRE(next == n);
      for (int i = 0; i < n; ++i) {
        REQUIRE(copy[i] == expect[i]);
        REQUIRE(acc[i] == 0.5f + expect[i]);
        REQUIRE(runs[i] == expect[i]);
      }
    }
  }
}

TEST_CASE("payload that is not whole values", "[payload]") {
  const uint8_t bytes[7] = {};
  Payload p(WireType::kF32);
  p.Append(Payload::Piece(bytes, 7));
  CHECK(!p.whole());
  CHECK(p.elements() == 1);
  Payload h(WireType::kF16);
  h.Append(Payload::Piece(bytes, 6));
  CHECK(h.whole());
  CHECK(h.elements() == 3);
}

}  // namespace
}  // namespace psd
