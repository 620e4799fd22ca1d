#include "worker/dataset_cache.h"

#include "common/status_macros.h"

namespace psd {

absl::StatusOr<std::shared_ptr<const Dataset>> DatasetCache::Get(const std::string& images,
                                                                 const std::string& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = loaded_[{images, labels}];
  if (slot == nullptr) {
    PSD_ASSIGN_OR_RETURN(Dataset ds, LoadIdxDataset(images, labels, max_data_bytes_));
    slot = std::make_shared<const Dataset>(std::move(ds));
  }
  return slot;
}

}  // namespace psd
