// A trained model in one file: the job spec it was trained with and every parameter tensor.
// The format is documented in docs/model-file.md.
#ifndef PSD_COMMON_MODEL_FILE_H_
#define PSD_COMMON_MODEL_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/placement.h"

namespace psd {

struct ModelFile {
  std::string spec_yaml;
  std::vector<TensorInfo> tensors;         // name, id and shape of each tensor
  std::vector<std::vector<float>> values;  // one per tensor
};

// Writes `model` to `path` atomically (temporary file, fsync, rename).
absl::Status WriteModelFile(const std::string& path, const ModelFile& model);

// The largest model file ReadModelFile reads unless told otherwise.
inline constexpr int64_t kDefaultMaxModelFileBytes = int64_t{16} << 30;

// Reads and checks a model file, a regular file of at most `max_bytes`; errors name the file
// and what is wrong (magic, version, truncation, a shape or size that does not fit the file, a
// tensor's checksum).
absl::StatusOr<ModelFile> ReadModelFile(const std::string& path,
                                        int64_t max_bytes = kDefaultMaxModelFileBytes);

}  // namespace psd

#endif  // PSD_COMMON_MODEL_FILE_H_
