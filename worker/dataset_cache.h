// Datasets a worker has loaded, kept for the next job that reads the same files.
#ifndef PSD_WORKER_DATASET_CACHE_H_
#define PSD_WORKER_DATASET_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/idx_reader.h"

namespace psd {

class DatasetCache {
 public:
  // Each file may hold at most `max_data_bytes` of data (see LoadIdxDataset).
  explicit DatasetCache(int64_t max_data_bytes = kDefaultMaxIdxDataBytes)
      : max_data_bytes_(max_data_bytes) {}

  // The dataset of these files, loaded on first use. Files are not re-read when they change.
  absl::StatusOr<std::shared_ptr<const Dataset>> Get(const std::string& images,
                                                     const std::string& labels);

 private:
  const int64_t max_data_bytes_;
  absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Dataset>> loaded_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace psd

#endif  // PSD_WORKER_DATASET_CACHE_H_
