// What the libFuzzer targets of fuzz/ share: a scratch directory for the readers that take a
// path, files written into it, a reader of structured fuzz input, and FUZZ_CHECK for the
// properties each target asserts beyond "does not crash".
#ifndef PSD_FUZZ_FUZZ_UTIL_H_
#define PSD_FUZZ_FUZZ_UTIL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace psd::fuzz {

// A property the code under test promises was broken: print it and abort (libFuzzer saves the
// input as a crash).
#define FUZZ_CHECK(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "  %s\n", ::psd::fuzz::Describe(__VA_ARGS__).c_str());          \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

inline std::string Describe() { return ""; }
inline std::string Describe(absl::string_view s) { return std::string(s); }

// This process's scratch directory (under $TMPDIR, else /tmp), made once, removed at exit.
const std::string& ScratchDir();

// Writes `bytes` to `path` (replacing it); aborts if it cannot (the harness, not the code under
// test, is broken then).
void WriteFileOrDie(const std::string& path, absl::string_view bytes);

// Reads structured input front to back; past the end every read gives zeros / empty.
class Input {
 public:
  Input(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? static_cast<uint8_t>(data_[pos_++]) : 0; }
  uint16_t U16() {
    const uint16_t lo = Byte();
    return static_cast<uint16_t>(lo | (Byte() << 8));
  }
  // The next `n` bytes (fewer at the end).
  absl::string_view Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    absl::string_view out(data_ + pos_, n);
    pos_ += n;
    return out;
  }
  // A record: a 16-bit little-endian length, then that many bytes.
  absl::string_view Record() { return Bytes(U16()); }
  absl::string_view Rest() { return Bytes(size_); }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace psd::fuzz

#endif  // PSD_FUZZ_FUZZ_UTIL_H_
