#include "server/nonfinite.h"

#include <algorithm>
#include <cstring>

namespace psd {
namespace {

// Branch-free loops over little-endian bytes that GCC vectorises at -O3: narrow counters (a
// lane per value) summed per block, so that no block can overflow them.
int64_t CountF32(const uint8_t* p, int64_t n) {
  int64_t total = 0;
  for (int64_t start = 0; start < n; start += int64_t{1} << 20) {
    const int64_t end = std::min<int64_t>(n, start + (int64_t{1} << 20));
    uint32_t count = 0;
    for (int64_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, p + 4 * i, 4);
      count += (bits & 0x7f800000u) == 0x7f800000u;
    }
    total += count;
  }
  return total;
}

int64_t CountF16(const uint8_t* p, int64_t n) {
  int64_t total = 0;
  for (int64_t start = 0; start < n; start += int64_t{1} << 15) {
    const int64_t end = std::min<int64_t>(n, start + (int64_t{1} << 15));
    uint16_t count = 0;
    for (int64_t i = start; i < end; ++i) {
      uint16_t bits;
      std::memcpy(&bits, p + 2 * i, 2);
      count += (bits & 0x7c00u) == 0x7c00u;
    }
    total += count;
  }
  return total;
}

}  // namespace

int64_t CountNonFinite(const Payload& grad) {
  const bool half = grad.type() == WireType::kF16;
  const size_t size = half ? 2 : 4;
  auto count = [half](const uint8_t* p, int64_t n) {
    return half ? CountF16(p, n) : CountF32(p, n);
  };
  int64_t total = 0;
  uint8_t carry[4];
  size_t have = 0;  // bytes of a value that straddles two pieces
  for (const Payload::Piece& piece : grad.pieces()) {
    const uint8_t* p = piece.data();
    size_t left = piece.size();
    if (have > 0) {
      const size_t take = std::min(size - have, left);
      std::memcpy(carry + have, p, take);
      have += take;
      p += take;
      left -= take;
      if (have < size) continue;
      total += count(carry, 1);
      have = 0;
    }
    const int64_t whole = static_cast<int64_t>(left / size);
    total += count(p, whole);
    left -= whole * size;
    if (left > 0) {
      std::memcpy(carry, p + whole * size, left);
      have = left;
    }
  }
  return total;
}

}  // namespace psd
