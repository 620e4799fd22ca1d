// Files that are either complete or absent: written to a temporary name, fsynced, renamed.
#ifndef PSD_COMMON_FILE_UTIL_H_
#define PSD_COMMON_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace psd {

// Writes a file that appears complete or not at all: bytes go to a temporary file beside
// `path`; Commit() fsyncs it, renames it over `path` and fsyncs the directory. Destroying an
// uncommitted writer removes the temporary file.
class AtomicFileWriter {
 public:
  // Creates missing parent directories and the temporary file.
  static absl::StatusOr<AtomicFileWriter> Open(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  ~AtomicFileWriter();

  absl::Status Append(absl::string_view bytes);
  absl::Status Commit();
  int64_t bytes_written() const { return written_; }

 private:
  AtomicFileWriter(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}

  std::string path_, tmp_;
  int fd_ = -1;
  int64_t written_ = 0;
};

// Writes `contents` to `path` with an AtomicFileWriter.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The whole file; NotFound naming the path if it cannot be opened.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace psd

#endif  // PSD_COMMON_FILE_UTIL_H_
