// A tensor piece's values as they arrived from the network: little-endian f32 or f16 spread
// over several byte ranges (the buffers gRPC received), read in place. A value may straddle
// two ranges; ranges may sit at any alignment.
#ifndef PSD_COMMON_PAYLOAD_H_
#define PSD_COMMON_PAYLOAD_H_

#include <cstdint>

#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

namespace psd {

// Element type of a payload; the values match the wire's DType enum.
enum class WireType : uint8_t { kF32 = 0, kF16 = 1 };

inline int WireTypeSize(WireType t) { return t == WireType::kF16 ? 2 : 4; }

class Payload {
 public:
  using Piece = absl::Span<const uint8_t>;
  // Runs handed to ForEachRun are at most this many values when converted.
  static constexpr int64_t kBlock = 2048;

  Payload() = default;
  explicit Payload(WireType type) : type_(type) {}
  // Values contiguous in memory (one piece).
  static Payload F32(absl::Span<const float> values);

  // Appends the next byte range of the values.
  void Append(Piece piece);
  void Clear() {
    pieces_.clear();
    bytes_ = 0;
  }

  WireType type() const { return type_; }
  void set_type(WireType type) { type_ = type; }
  int64_t bytes() const { return bytes_; }
  // Whole values held (bytes() / element size).
  int64_t elements() const { return bytes_ / WireTypeSize(type_); }
  // Whether bytes() is a whole number of values.
  bool whole() const { return bytes_ % WireTypeSize(type_) == 0; }
  const absl::InlinedVector<Piece, 4>& pieces() const { return pieces_; }

  // acc[i] += value i for every value (f16 converted on the fly, no staging copy).
  void AddTo(float* acc) const;
  // out[i] = value i for every value.
  void CopyTo(float* out) const;
  // Calls fn(offset, values, n) for consecutive runs covering [0, elements()) in order:
  // 4-byte-aligned f32 ranges in place (one run each), everything else (f16, unaligned f32, a
  // value straddling two ranges) converted into a small stack buffer first.
  void ForEachRun(absl::FunctionRef<void(int64_t offset, const float* values, int64_t n)> fn) const;
  // The same walk on the wire's bytes: whole(bytes, offset, n) for each run of n whole values
  // inside one range (not converted), one(value, offset) for a value that straddles two ranges
  // (converted), covering [0, elements()) in order.
  void ForEachRawRun(absl::FunctionRef<void(const uint8_t* bytes, int64_t offset, int64_t n)> whole,
                     absl::FunctionRef<void(float value, int64_t offset)> one) const;

 private:
  WireType type_ = WireType::kF32;
  absl::InlinedVector<Piece, 4> pieces_;
  int64_t bytes_ = 0;
};

}  // namespace psd

#endif  // PSD_COMMON_PAYLOAD_H_
