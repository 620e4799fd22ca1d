#include "common/fp16.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// An independent reference for finite floats: the nearest half by search over the half
// values (exact in double), ties to the even encoding, overflow from 65520 up.
uint16_t NearestHalf(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7C00;
  uint16_t lo = 0, hi = 0x7BFF;  // largest finite
  while (lo < hi) {              // the first half >= a
    const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
    if (static_cast<double>(HalfToFloat(mid)) >= a) {
      hi = mid;
    } else {
      lo = static_cast<uint16_t>(mid + 1);
    }
  }
  uint16_t best = lo;
  if (lo > 0) {
    const double up = static_cast<double>(HalfToFloat(lo)) - a;
    const double down = a - static_cast<double>(HalfToFloat(static_cast<uint16_t>(lo - 1)));
    if (down < up || (down == up && ((lo - 1) & 1) == 0)) best = static_cast<uint16_t>(lo - 1);
  }
  return sign | best;
}

TEST_CASE("half to float: every encoding, known values", "[fp16]") {
  CHECK(HalfToFloat(0x3C00) == 1.0f);
  CHECK(HalfToFloat(0xC000) == -2.0f);
  CHECK(HalfToFloat(0x7BFF) == 65504.0f);
  CHECK(HalfToFloat(0x0001) == std::ldexp(1.0f, -24));  // smallest denormal
  CHECK(HalfToFloat(0x03FF) == std::ldexp(1023.0f, -24));  // largest denormal
  CHECK(HalfToFloat(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  CHECK(HalfToFloat(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(HalfToFloat(0xFC00) == -std::numeric_limits<float>::infinity());
  CHECK(Bits(HalfToFloat(0x8000)) == 0x80000000u);
  CHECK(std::isnan(HalfToFloat(0x7E00)));
  CHECK(std::isnan(HalfToFloat(0x7C01)));  // signalling NaN comes back quiet
  CHECK((Bits(HalfToFloat(0x7C01)) & 0x400000u) != 0);
  // The bulk routine gives the scalar bits for all 65536 encodings, at any alignment.
  std::vector<uint8_t> bytes(2 * 65536 + 1);
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t v = static_cast<uint16_t>(h);
    std::memcpy(&bytes[1 + 2 * h], &v, 2);
  }
  std::vector<float> out(65536);
  HalfToFloat(bytes.data() + 1, out.data(), 65536);
  int mismatches = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    if (Bits(out[h]) != Bits(HalfToFloat(static_cast<uint16_t>(h)))) ++mismatches;
    // Every non-NaN half survives the round trip.
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(f) && FloatToHalf(f) != h) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("float to half: round to nearest even, denormals, overflow, NaN", "[fp16]") {
  CHECK(FloatToHalf(1.0f) == 0x3C00);
  CHECK(FloatToHalf(65504.0f) == 0x7BFF);
  CHECK(FloatToHalf(65519.996f) == 0x7BFF);
  CHECK(FloatToHalf(65520.0f) == 0x7C00);  // the tie rounds to even: infinity
  CHECK(FloatToHalf(1e10f) == 0x7C00);
  CHECK(FloatToHalf(-1e10f) == 0xFC00);
  CHECK(FloatToHalf(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK(FloatToHalf(std::ldexp(1.0f, -25)) == 0x0000);  // tie between 0 and 2^-24: even
  CHECK(FloatToHalf(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(FloatToHalf(std::ldexp(3.0f, -25)) == 0x0002);  // tie between 1 and 2: even
  CHECK(FloatToHalf(std::ldexp(5.0f, -25)) == 0x0002);  // tie between 2 and 3: even
  CHECK(FloatToHalf(-std::ldexp(1.0f, -30)) == 0x8000);
  CHECK(FloatToHalf(std::ldexp(1023.5f, -24)) == 0x0400);  // carries into the normals
  CHECK(FloatToHalf(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie: even
  CHECK(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie: even
  const uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  CHECK((nan & 0x7C00) == 0x7C00);
  CHECK((nan & 0x03FF) != 0);
  CHECK((FloatToHalf(FromBits(0xFF800001u)) & 0xFE00) == 0xFE00);  // sNaN: quiet, sign kept

  // Every tie between consecutive halves, and one float either side of it.
  int mismatches = 0;
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    const double lo = HalfToFloat(static_cast<uint16_t>(h));
    const double hi = HalfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // exact in float
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      if (FloatToHalf(f) != NearestHalf(f)) ++mismatches;
      if (FloatToHalf(-f) != NearestHalf(-f)) ++mismatches;
    }
  }
  CHECK(mismatches == 0);

  // Random finite floats around the half range.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> exponent(-30, 17);
  std::uniform_real_distribution<float> mantissa(-2.0f, 2.0f);
  mismatches = 0;
  for (int i = 0; i < 200000; ++i) {
    const float f = std::ldexp(mantissa(rng), exponent(rng));
    if (FloatToHalf(f) != NearestHalf(f)) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("bulk float to half equals the scalar reference bit for bit", "[fp16]") {
  INFO("F16C: " << HaveF16c());
  std::mt19937 rng(11);
  std::vector<float> in;
  // Random bit patterns (every class: NaNs, infinities, denormals), then random halves' ties.
  for (int i = 0; i < 1 << 20; ++i) in.push_back(FromBits(static_cast<uint32_t>(rng())));
  for (int i = 0; i < 1 << 16; ++i) {
    const uint16_t h = static_cast<uint16_t>(rng() % 0x7BFF);
    in.push_back(static_cast<float>(
        (double(HalfToFloat(h)) + double(HalfToFloat(static_cast<uint16_t>(h + 1)))) / 2));
  }
  in.push_back(65520.0f);
  in.push_back(-std::ldexp(1.0f, -25));
  std::vector<uint16_t> out(in.size() + 3);
  for (size_t shift : {0, 1, 3}) {  // odd lengths exercise the scalar tail
    const size_t n = in.size() - shift;
    FloatToHalf(in.data() + shift, out.data(), static_cast<int64_t>(n));
    int mismatches = 0;
    for (size_t i = 0; i < n; ++i) {
      if (out[i] != FloatToHalf(in[i + shift])) ++mismatches;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("error feedback sends every step's rounding with the next step", "[fp16]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1e-3f);
  const int n = 1003;
  std::vector<float> residual(n, 0.0f), sent_sum(n, 0.0f), grad_sum(n, 0.0f);
  std::vector<uint16_t> out(n);
  std::vector<double> exact_sent(n, 0.0), exact_grad(n, 0.0);
  for (int step = 0; step < 200; ++step) {
    std::vector<float> g(n);
    for (float& v : g) v = normal(rng);
    g[0] = 1e6f;  // beyond the half range: sent as 65504, the rest kept
    std::vector<float> before = residual;
    FloatToHalfWithFeedback(g.data(), residual.data(), out.data(), n);
    for (int i = 0; i < n; ++i) {
      const float v = g[i] + before[i];
      // What was sent plus what is kept is exactly what there was to send.
      REQUIRE(HalfToFloat(out[i]) + residual[i] == v);
      REQUIRE(out[i] == FloatToHalf(i == 0 ? std::min(v, 65504.0f) : v));
      exact_sent[i] += HalfToFloat(out[i]);
      exact_grad[i] += g[i];
    }
  }
  // Over many steps the sum sent equals the sum of gradients up to the last residual.
  for (int i = 1; i < n; ++i) {
    REQUIRE(std::fabs(exact_sent[i] + residual[i] - exact_grad[i]) <= 1e-6 * 200);
  }
  // The residual stays within half a half-precision step of the values sent.
  CHECK(std::fabs(residual[5]) <= std::ldexp(1.0f, -20));
}

TEST_CASE("accumulating halves and unaligned floats", "[fp16]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  const int n = 1027;
  std::vector<float> values(n);
  for (float& v : values) v = u(rng);
  std::vector<uint16_t> halves(n);
  FloatToHalf(values.data(), halves.data(), n);
  std::vector<uint8_t> hb(2 * n + 1), fb(4 * n + 3);
  std::memcpy(hb.data() + 1, halves.data(), 2 * n);
  std::memcpy(fb.data() + 3, values.data(), 4 * n);
  std::vector<float> acc(n, 1.0f), acc2(n, 1.0f);
  AddHalf(hb.data() + 1, acc.data(), n);
  AddFloat(fb.data() + 3, acc2.data(), n);
  for (int i = 0; i < n; ++i) {
    REQUIRE(acc[i] == 1.0f + HalfToFloat(halves[i]));
    REQUIRE(acc2[i] == 1.0f + values[i]);
  }
}

}  // namespace
}  // namespace psd
