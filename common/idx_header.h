// IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed: the header is read and checked
// before any data is, so a header that lies about the size is an error, never an allocation.
// The job spec's file checks read only the header; the worker's reader reads the data too.
#ifndef PSD_COMMON_IDX_HEADER_H_
#define PSD_COMMON_IDX_HEADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/file_util.h"

struct gzFile_s;

namespace psd {

// The most data bytes an IDX file may declare unless the caller says otherwise (psd-worker
// --max_data_file_bytes).
inline constexpr int64_t kDefaultMaxIdxDataBytes = int64_t{4} << 30;

struct IdxHeader {
  std::string path;
  std::vector<int64_t> dims;  // outermost first, each at least 1
  int64_t elements = 0;       // the product of dims: bytes of data (unsigned bytes)
  bool gzip = false;

  // "60000 x 28 x 28"
  std::string Shape() const;
};

// An IDX file of unsigned bytes, open and past its header.
class IdxFile {
 public:
  // Opens `path` (a regular file: see OpenRegularFile) and reads its header: the magic, the
  // element type (unsigned byte), dimensions of at least 1 whose product is at most
  // `max_data_bytes`, and for a plain file a size that is exactly the header's. Errors name
  // the file: "PATH: truncated: its header says 60000 x 28 x 28 = 47040000 bytes of data, the
  // file has 12".
  static absl::StatusOr<IdxFile> Open(const std::string& path, int64_t max_data_bytes);

  IdxFile(IdxFile&&) noexcept;
  IdxFile& operator=(IdxFile&&) noexcept;
  ~IdxFile();

  const IdxHeader& header() const { return header_; }

  // The data, header().elements bytes. A gzip-compressed file is decompressed into memory as
  // it is read, so memory follows what the file really holds, and is read one byte past the
  // header's size: fewer bytes are "truncated", more are "larger than its header says".
  absl::StatusOr<std::vector<uint8_t>> ReadData();

 private:
  struct GzCloser {
    void operator()(gzFile_s* f) const;
  };
  IdxFile() = default;
  // Reads up to `n` bytes (fewer only at the end of the data).
  absl::StatusOr<int64_t> ReadSome(uint8_t* dst, int64_t n);

  IdxHeader header_;
  ScopedFd fd_;                             // a plain file
  std::unique_ptr<gzFile_s, GzCloser> gz_;  // a gzip-compressed one
};

// Checks an image file's header: at least 2 dimensions (examples, then the pixels of one).
absl::Status CheckImagesHeader(const IdxHeader& images);

// Checks a label file's header against its images': 1 dimension, one label per image.
absl::Status CheckLabelsHeader(const IdxHeader& labels, const IdxHeader& images);

}  // namespace psd

#endif  // PSD_COMMON_IDX_HEADER_H_
