// Files that are either complete or absent (written to a temporary name, fsynced, renamed),
// and reading only regular files, within a size limit, without ever blocking on a FIFO.
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

// A file descriptor, closed when it goes out of scope.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ~ScopedFd();

  int get() const { return fd_; }
  // Gives up ownership (e.g. to gzdopen) and returns the descriptor.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// A regular file open for reading, and its size when it was opened.
struct RegularFile {
  ScopedFd fd;
  int64_t size = 0;
};

// Opens `path` for reading if it is a regular file. The open never blocks (O_NONBLOCK) and
// the type comes from fstat of what was opened, so a FIFO, device, socket or directory is
// refused at once: InvalidArgument "not a regular file: PATH (a FIFO)". A missing file is
// NotFound "file not found: PATH".
absl::StatusOr<RegularFile> OpenRegularFile(const std::string& path);

// The whole regular file at `path` (see OpenRegularFile), or InvalidArgument
// "PATH: N bytes, more than the limit of M bytes" when it holds more than `max_bytes`. Never
// reads more than max_bytes + 1 bytes, so a file that grows while it is read is caught too.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, int64_t max_bytes);

// ReadRegularFile without a size limit: for files psd wrote itself, whose size the caller
// checks (prefer ReadRegularFile with the largest size the caller can accept).
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace psd

#endif  // PSD_COMMON_FILE_UTIL_H_
