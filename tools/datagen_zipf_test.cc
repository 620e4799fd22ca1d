#include "tools/datagen_zipf.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/testing.h"

namespace psd::datagen {
namespace {

// Deterministic uniforms in [0, 1), counting the calls.
struct Uniforms {
  std::mt19937_64 gen{12345};
  int64_t calls = 0;
  double operator()() {
    ++calls;
    return static_cast<double>(gen() >> 11) * 0x1.0p-53;
  }
};

// sum_{k=1..n} k^-s: exact up to 10^6 terms, then the integral of the tail (to well under
// 0.1% for the n and s tested).
double Harmonic(uint64_t n, double s) {
  const uint64_t m = std::min<uint64_t>(n, 1000000);
  double h = 0;
  for (uint64_t k = m; k >= 1; --k) h += std::pow(static_cast<double>(k), -s);
  if (n > m) {
    auto antiderivative = [s](double x) {
      return s == 1 ? std::log(x) : std::pow(x, 1 - s) / (1 - s);
    };
    h += antiderivative(n + 0.5) - antiderivative(m + 0.5);
  }
  return h;
}

TEST_CASE("Zipf draws follow k^-s over small n") {
  for (double s : {0.5, 1.0, 1.1, 2.5}) {
    const uint64_t n = 10;
    ZipfSampler zipf(n, s);
    Uniforms u;
    const int draws = 200000;
    std::vector<int64_t> count(n + 1, 0);
    for (int i = 0; i < draws; ++i) {
      const uint64_t k = zipf.Sample(u);
      if (k < 1 || k > n) FAIL("draw " << k << " out of [1, " << n << "]");
      ++count[k];
    }
    const double h = Harmonic(n, s);
    for (uint64_t k = 1; k <= n; ++k) {
      const double p = std::pow(static_cast<double>(k), -s) / h;
      const double freq = static_cast<double>(count[k]) / draws;
      INFO("s " << s << " k " << k << " p " << p << " freq " << freq);
      CHECK(std::fabs(freq - p) < 5 * std::sqrt(p * (1 - p) / draws));
    }
    CHECK(static_cast<double>(u.calls) / draws < 1.2);
  }
}

TEST_CASE("Zipf over 10^8 values needs no table and has the right head") {
  const uint64_t n = 100000000;
  ZipfSampler zipf(n, 1.1);
  Uniforms u;
  const int draws = 200000;
  int64_t ones = 0, twos = 0, over_million = 0;
  for (int i = 0; i < draws; ++i) {
    const uint64_t k = zipf.Sample(u);
    if (k < 1 || k > n) FAIL("draw " << k << " out of [1, " << n << "]");
    ones += k == 1;
    twos += k == 2;
    over_million += k > 1000000;
  }
  const double h = Harmonic(n, 1.1);
  const double p1 = 1 / h, p2 = std::pow(2.0, -1.1) / h;
  CHECK(std::fabs(static_cast<double>(ones) / draws - p1) < 5 * std::sqrt(p1 / draws));
  CHECK(std::fabs(static_cast<double>(twos) / draws - p2) < 5 * std::sqrt(p2 / draws));
  // P(k > 10^6) = (H(n) - H(10^6)) / H(n).
  const double tail = (h - Harmonic(1000000, 1.1)) / h;
  CHECK(std::fabs(static_cast<double>(over_million) / draws - tail) < 5 * std::sqrt(tail / draws));
  CHECK(static_cast<double>(u.calls) / draws < 1.2);
}

TEST_CASE("Zipf over one value is that value") {
  ZipfSampler zipf(1, 1.1);
  Uniforms u;
  for (int i = 0; i < 100; ++i) CHECK(zipf.Sample(u) == 1);
}

}  // namespace
}  // namespace psd::datagen
