// IEEE 754 binary16 ("half") <-> binary32 conversion for the wire (cluster.wire_dtype: fp16).
//
// Float to half rounds to nearest, ties to even; values from 65520 up become infinity;
// values below the smallest half denormal round to (signed) zero; NaNs stay NaNs (quiet,
// sign and top payload bits kept). Half to float is exact. The bulk routines use F16C
// (vcvtps2ph / vcvtph2ps) where the CPU has it and an exact scalar loop elsewhere; both give
// the same bits as the scalar FloatToHalf / HalfToFloat below.
//
// Byte inputs (`const uint8_t*`) are little-endian values at any alignment: received
// network buffers are read in place.
#ifndef PSD_COMMON_FP16_H_
#define PSD_COMMON_FP16_H_

#include <cstdint>

namespace psd {

// Scalar reference conversions.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

// Whether the bulk routines below run on F16C/AVX on this CPU.
bool HaveF16c();

// out[i] = FloatToHalf(in[i]).
void FloatToHalf(const float* in, uint16_t* out, int64_t n);
// out[i] = HalfToFloat(in[i]), `in` as little-endian bytes at any alignment.
void HalfToFloat(const uint8_t* in, float* out, int64_t n);
// Error feedback: v = grad[i] + residual[i]; out[i] = FloatToHalf(v);
// residual[i] = v - HalfToFloat(out[i]) (exact). What one step rounds away is sent with the
// next. Values beyond the half range go as +-65504, the excess staying in the residual.
void FloatToHalfWithFeedback(const float* grad, float* residual, uint16_t* out, int64_t n);
// acc[i] += HalfToFloat(in[i]), `in` as little-endian bytes at any alignment.
void AddHalf(const uint8_t* in, float* acc, int64_t n);
// acc[i] += in[i], `in` as little-endian f32 bytes at any alignment.
void AddFloat(const uint8_t* in, float* acc, int64_t n);

}  // namespace psd

#endif  // PSD_COMMON_FP16_H_
