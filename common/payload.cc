#include "common/payload.h"

#include <algorithm>
#include <cstring>

#include "common/fp16.h"

namespace psd {
namespace {

float Value(WireType type, const uint8_t* p) {
  if (type == WireType::kF16) {
    uint16_t h;
    std::memcpy(&h, p, sizeof(h));
    return HalfToFloat(h);
  }
  float f;
  std::memcpy(&f, p, sizeof(f));
  return f;
}

// Walks the pieces: whole(p, index, count) for runs of whole values inside one piece,
// one(value, index) for a value that straddles two pieces.
template <typename Whole, typename One>
void Walk(WireType type, absl::Span<const Payload::Piece> pieces, int64_t limit, Whole whole,
          One one) {
  const size_t size = WireTypeSize(type);
  uint8_t carry[4];
  size_t have = 0;
  int64_t index = 0;
  for (const Payload::Piece& piece : pieces) {
    const uint8_t* p = piece.data();
    size_t left = piece.size();
    if (have > 0) {
      const size_t take = std::min(size - have, left);
      std::memcpy(carry + have, p, take);
      have += take;
      p += take;
      left -= take;
      if (have < size) continue;
      if (index < limit) one(Value(type, carry), index);
      ++index;
      have = 0;
    }
    const int64_t count = std::min<int64_t>(static_cast<int64_t>(left / size), limit - index);
    if (count > 0) whole(p, index, count);
    index += count;
    p += count * size;
    left -= count * size;
    if (left > 0 && index < limit) {
      std::memcpy(carry, p, left);
      have = left;
    }
  }
}

}  // namespace

Payload Payload::F32(absl::Span<const float> values) {
  Payload p(WireType::kF32);
  p.Append(Piece(reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)));
  return p;
}

void Payload::Append(Piece piece) {
  if (piece.empty()) return;
  pieces_.push_back(piece);
  bytes_ += static_cast<int64_t>(piece.size());
}

void Payload::AddTo(float* acc) const {
  const WireType type = type_;
  Walk(
      type_, pieces_, elements(),
      [acc, type](const uint8_t* p, int64_t index, int64_t count) {
        if (type == WireType::kF16) {
          AddHalf(p, acc + index, count);
        } else {
          AddFloat(p, acc + index, count);
        }
      },
      [acc](float v, int64_t index) { acc[index] += v; });
}

void Payload::CopyTo(float* out) const {
  const WireType type = type_;
  Walk(
      type_, pieces_, elements(),
      [out, type](const uint8_t* p, int64_t index, int64_t count) {
        if (type == WireType::kF16) {
          HalfToFloat(p, out + index, count);
        } else {
          std::memcpy(out + index, p, count * sizeof(float));
        }
      },
      [out](float v, int64_t index) { out[index] = v; });
}

void Payload::ForEachRun(
    absl::FunctionRef<void(int64_t offset, const float* values, int64_t n)> fn) const {
  const WireType type = type_;
  Walk(
      type_, pieces_, elements(),
      [&fn, type](const uint8_t* p, int64_t index, int64_t count) {
        if (type == WireType::kF32 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
          fn(index, reinterpret_cast<const float*>(p), count);
          return;
        }
        alignas(64) float block[kBlock];
        const int size = WireTypeSize(type);
        for (int64_t done = 0; done < count; done += kBlock) {
          const int64_t n = std::min(kBlock, count - done);
          if (type == WireType::kF16) {
            HalfToFloat(p + done * size, block, n);
          } else {
            std::memcpy(block, p + done * size, n * sizeof(float));
          }
          fn(index + done, block, n);
        }
      },
      [&fn](float v, int64_t index) { fn(index, &v, 1); });
}

void Payload::ForEachRawRun(
    absl::FunctionRef<void(const uint8_t* bytes, int64_t offset, int64_t n)> whole,
    absl::FunctionRef<void(float value, int64_t offset)> one) const {
  Walk(type_, pieces_, elements(), whole, one);
}

}  // namespace psd
