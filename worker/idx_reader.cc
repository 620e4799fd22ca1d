#include "worker/idx_reader.h"

#include <utility>

#include "common/status_macros.h"

namespace psd {

absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path, int64_t max_data_bytes) {
  // Both headers are checked before either file's data is read.
  PSD_ASSIGN_OR_RETURN(IdxFile images, IdxFile::Open(images_path, max_data_bytes));
  PSD_RETURN_IF_ERROR(CheckImagesHeader(images.header()));
  PSD_ASSIGN_OR_RETURN(IdxFile labels, IdxFile::Open(labels_path, max_data_bytes));
  PSD_RETURN_IF_ERROR(CheckLabelsHeader(labels.header(), images.header()));
  Dataset ds;
  ds.count = images.header().dims[0];
  ds.dim = images.header().elements / ds.count;
  PSD_ASSIGN_OR_RETURN(ds.pixels, images.ReadData());
  PSD_ASSIGN_OR_RETURN(ds.labels, labels.ReadData());
  return ds;
}

}  // namespace psd
