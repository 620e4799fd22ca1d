#include "common/fp16.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define PSD_X86 1
#endif

namespace psd {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

float LoadFloat(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof(f));
  return f;
}

uint16_t LoadHalf(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return h;
}

// Portable loops (the scalar reference, element by element).
void FloatToHalfScalar(const float* in, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = FloatToHalf(in[i]);
}

void HalfToFloatScalar(const uint8_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = HalfToFloat(LoadHalf(in + 2 * i));
}

// Feedback sends values beyond the half range as +-65504 and keeps the excess in the
// residual (a NaN stays a NaN).
constexpr float kHalfMax = 65504.0f;

float ClampToHalf(float v) { return v > kHalfMax ? kHalfMax : (v < -kHalfMax ? -kHalfMax : v); }

void FeedbackScalar(const float* grad, float* residual, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = grad[i] + residual[i];
    const uint16_t h = FloatToHalf(ClampToHalf(v));
    out[i] = h;
    residual[i] = v - HalfToFloat(h);
  }
}

void AddHalfScalar(const uint8_t* in, float* acc, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += HalfToFloat(LoadHalf(in + 2 * i));
}

#ifdef PSD_X86
constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

__attribute__((target("avx,f16c"))) void FloatToHalfF16c(const float* in, uint16_t* out,
                                                          int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), kRound);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  FloatToHalfScalar(in + i, out + i, n - i);
}

__attribute__((target("avx,f16c"))) void HalfToFloatF16c(const uint8_t* in, float* out,
                                                          int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  HalfToFloatScalar(in + 2 * i, out + i, n - i);
}

__attribute__((target("avx,f16c"))) void FeedbackF16c(const float* grad, float* residual,
                                                       uint16_t* out, int64_t n) {
  const __m256 hi = _mm256_set1_ps(kHalfMax), lo = _mm256_set1_ps(-kHalfMax);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_add_ps(_mm256_loadu_ps(grad + i), _mm256_loadu_ps(residual + i));
    // min/max return their second operand when one is NaN: a NaN passes through.
    const __m256 c = _mm256_max_ps(lo, _mm256_min_ps(hi, v));
    const __m128i h = _mm256_cvtps_ph(c, kRound);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
    _mm256_storeu_ps(residual + i, _mm256_sub_ps(v, _mm256_cvtph_ps(h)));
  }
  FeedbackScalar(grad + i, residual + i, out + i, n - i);
}

__attribute__((target("avx,f16c"))) void AddHalfF16c(const uint8_t* in, float* acc, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i));
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i), _mm256_cvtph_ps(h)));
  }
  AddHalfScalar(in + 2 * i, acc + i, n - i);
}

__attribute__((target("avx"))) void AddFloatAvx(const uint8_t* in, float* acc, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(reinterpret_cast<const float*>(in + 4 * i));
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i), g));
  }
  for (; i < n; ++i) acc[i] += LoadFloat(in + 4 * i);
}

bool DetectF16c() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx")) return false;
  // CPUID.1:ECX.F16C: clang 14 (--config=fuzz) has no "f16c" for __builtin_cpu_supports.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

bool DetectAvx() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx");
}
#else
bool DetectF16c() { return false; }
bool DetectAvx() { return false; }
#endif

const bool kF16c = DetectF16c();
const bool kAvx = DetectAvx();

}  // namespace

uint16_t FloatToHalf(float f) {
  const uint32_t x = Bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7FFFFFFFu;
  if (a >= 0x7F800000u) {  // infinity or NaN
    if (a == 0x7F800000u) return sign | 0x7C00u;
    return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
  }
  if (a >= 0x47800000u) return sign | 0x7C00u;  // >= 65536: infinity
  if (a >= 0x38800000u) {                         // a half normal (or 65520.. rounding up)
    uint32_t h = (a - 0x38000000u) >> 13;
    const uint32_t rest = a & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carries into the exponent
    return static_cast<uint16_t>(sign | h);
  }
  if (a < 0x33000000u) return sign;  // below 2^-25: rounds to zero
  // A half denormal: value / 2^-24 rounded to nearest even.
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24
  uint32_t h = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu;
  const uint32_t m = h & 0x3FFu;
  if (e == 0) {
    // Zero or a denormal: m * 2^-24 is exact in float.
    const float v = static_cast<float>(m) * (1.0f / 16777216.0f);
    return FromBits(Bits(v) | sign);
  }
  if (e == 31) return FromBits(sign | 0x7F800000u | (m ? (0x400000u | (m << 13)) : 0u));
  return FromBits(sign | ((e + 112) << 23) | (m << 13));
}

bool HaveF16c() { return kF16c; }

void FloatToHalf(const float* in, uint16_t* out, int64_t n) {
#ifdef PSD_X86
  if (kF16c) return FloatToHalfF16c(in, out, n);
#endif
  FloatToHalfScalar(in, out, n);
}

void HalfToFloat(const uint8_t* in, float* out, int64_t n) {
#ifdef PSD_X86
  if (kF16c) return HalfToFloatF16c(in, out, n);
#endif
  HalfToFloatScalar(in, out, n);
}

void FloatToHalfWithFeedback(const float* grad, float* residual, uint16_t* out, int64_t n) {
#ifdef PSD_X86
  if (kF16c) return FeedbackF16c(grad, residual, out, n);
#endif
  FeedbackScalar(grad, residual, out, n);
}

void AddHalf(const uint8_t* in, float* acc, int64_t n) {
#ifdef PSD_X86
  if (kF16c) return AddHalfF16c(in, acc, n);
#endif
  AddHalfScalar(in, acc, n);
}

void AddFloat(const uint8_t* in, float* acc, int64_t n) {
#ifdef PSD_X86
  if (kAvx) return AddFloatAvx(in, acc, n);
#endif
  for (int64_t i = 0; i < n; ++i) acc[i] += LoadFloat(in + 4 * i);
}

}  // namespace psd
