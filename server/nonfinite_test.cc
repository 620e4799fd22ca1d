#include "server/nonfinite.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/fp16.h"
#include "tests/testing.h"

namespace psd {
namespace {

TEST_CASE("non-finite values are counted across pieces at any alignment", "[nonfinite]") {
  std::vector<float> v(1000, 1.5f);
  v[0] = std::nanf("");
  v[333] = std::numeric_limits<float>::infinity();
  v[999] = -std::numeric_limits<float>::infinity();
  v[500] = std::numeric_limits<float>::max();  // finite
  v[501] = std::numeric_limits<float>::denorm_min();
  std::vector<uint8_t> bytes(1 + v.size() * 4);
  std::memcpy(bytes.data() + 1, v.data(), v.size() * 4);  // unaligned
  for (size_t cut : {size_t{1}, size_t{2}, size_t{7}, size_t{1333}, size_t{4000}}) {
    Payload p(WireType::kF32);
    p.Append({bytes.data() + 1, cut});
    p.Append({bytes.data() + 1 + cut, v.size() * 4 - cut});
    INFO(cut);
    CHECK(CountNonFinite(p) == 3);
  }
  CHECK(CountNonFinite(Payload::F32(v)) == 3);
}

TEST_CASE("non-finite halves are counted", "[nonfinite]") {
  std::vector<uint16_t> h(77, FloatToHalf(0.25f));
  h[5] = FloatToHalf(std::nanf(""));
  h[6] = FloatToHalf(1e6f);  // beyond the half range: infinity
  h[7] = FloatToHalf(65504.0f);
  Payload p(WireType::kF16);
  const auto* b = reinterpret_cast<const uint8_t*>(h.data());
  p.Append({b, 11});
  p.Append({b + 11, h.size() * 2 - 11});
  CHECK(CountNonFinite(p) == 2);
}

}  // namespace
}  // namespace psd
