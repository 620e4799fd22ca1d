// Datasets a worker has loaded, kept for the next job that reads the same files.
#ifndef PSD_WORKER_DATASET_CACHE_H_
#define PSD_WORKER_DATASET_CACHE_H_

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
  // The dataset of these files, loaded on first use. Files are not re-read when they change.
  absl::StatusOr<std::shared_ptr<const Dataset>> Get(const std::string& images,
                                                     const std::string& labels);

 private:
  absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Dataset>> loaded_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace psd

#endif  // PSD_WORKER_DATASET_CACHE_H_
