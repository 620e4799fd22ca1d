// Reads datasets in the IDX format (MNIST, Fashion-MNIST), gzip-compressed or not.
#ifndef PSD_WORKER_IDX_READER_H_
#define PSD_WORKER_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/idx_header.h"

namespace psd {

// Unsigned-byte examples: `count` rows of `dim` values, and one label per row.
struct Dataset {
  int64_t count = 0;
  int64_t dim = 0;
  std::vector<uint8_t> pixels;  // count * dim, row-major
  std::vector<uint8_t> labels;  // count
};

// Loads an image file (ubyte, 2 or more dimensions) and its label file (ubyte, 1 dimension),
// each at most `max_data_bytes` of data (see IdxFile). Errors name the file and what is
// wrong (not a regular file, bad magic, a header that lies about the size, counts that differ).
absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path,
                                       int64_t max_data_bytes = kDefaultMaxIdxDataBytes);

}  // namespace psd

#endif  // PSD_WORKER_IDX_READER_H_
