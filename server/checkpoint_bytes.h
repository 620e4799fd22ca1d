// The byte encoding shared by the server's checkpoint files (server/checkpoint.h, the dense
// chunks; server/table_checkpoint.h, the embedding rows): values as they are in memory on
// little-endian hosts (x86-64, AArch64), read back through a bounds-checked cursor whose
// errors are DataLoss naming the file.
#ifndef PSD_SERVER_CHECKPOINT_BYTES_H_
#define PSD_SERVER_CHECKPOINT_BYTES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace psd::checkpoint_bytes {

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

inline void PutFloats(std::string& out, const float* v, size_t n) {
  if (n > 0) out.append(reinterpret_cast<const char*>(v), n * sizeof(float));
}

class Reader {
 public:
  Reader(std::string file, absl::string_view data) : file_(std::move(file)), data_(data) {}

  template <typename T>
  absl::StatusOr<T> Get(absl::string_view what) {
    PSD_ASSIGN_OR_RETURN(absl::string_view b, Bytes(sizeof(T), what));
    T v;
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }
  absl::StatusOr<absl::string_view> Bytes(uint64_t n, absl::string_view what) {
    if (n > data_.size() - pos_) {
      return Error(absl::StrCat("truncated at byte ", pos_, " while reading ", what));
    }
    absl::string_view b = data_.substr(pos_, n);
    pos_ += n;
    return b;
  }
  // Appends n floats to `out`.
  absl::Status Floats(std::vector<float>& out, uint64_t n, absl::string_view what) {
    PSD_ASSIGN_OR_RETURN(absl::string_view b, Bytes(n * sizeof(float), what));
    const size_t at = out.size();
    out.resize(at + n);
    // An empty slot (plain SGD) has no storage: memcpy of a null pointer is undefined.
    if (n > 0) std::memcpy(out.data() + at, b.data(), b.size());
    return absl::OkStatus();
  }
  absl::Status Error(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat(file_, ": ", what));
  }
  size_t pos() const { return pos_; }
  absl::string_view data() const { return data_; }

 private:
  std::string file_;
  absl::string_view data_;
  size_t pos_ = 0;
};

}  // namespace psd::checkpoint_bytes

#endif  // PSD_SERVER_CHECKPOINT_BYTES_H_
