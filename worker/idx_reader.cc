#include "worker/idx_reader.h"

#include <zlib.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace psd {
namespace {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

absl::Status ReadExactly(gzFile f, const std::string& path, void* dst, int64_t bytes) {
  auto* out = static_cast<uint8_t*>(dst);
  while (bytes > 0) {
    const unsigned piece = static_cast<unsigned>(std::min<int64_t>(bytes, 1 << 30));
    const int got = gzread(f, out, piece);
    if (got <= 0) {
      int err = Z_OK;
      const char* msg = gzerror(f, &err);
      return absl::DataLossError(absl::StrCat(path, ": truncated or unreadable (",
                                              err == Z_OK ? "unexpected end of file" : msg, ")"));
    }
    out += got;
    bytes -= got;
  }
  return absl::OkStatus();
}

// Reads an IDX file of unsigned bytes (type code 0x08).
absl::StatusOr<IdxArray> ReadIdx(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  uint8_t magic[4];
  PSD_RETURN_IF_ERROR(ReadExactly(f.get(), path, magic, 4));
  if (magic[0] != 0 || magic[1] != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an IDX file (bad magic)"));
  }
  if (magic[2] != 0x08) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": element type 0x", absl::Hex(magic[2]), " is not unsigned byte"));
  }
  IdxArray array;
  int64_t total = 1;
  for (int d = 0; d < magic[3]; ++d) {
    uint8_t be[4];
    PSD_RETURN_IF_ERROR(ReadExactly(f.get(), path, be, 4));
    const int64_t size = (int64_t{be[0]} << 24) | (be[1] << 16) | (be[2] << 8) | be[3];
    array.dims.push_back(size);
    total *= size;
  }
  if (array.dims.empty() || total <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty IDX array"));
  }
  array.data.resize(total);
  PSD_RETURN_IF_ERROR(ReadExactly(f.get(), path, array.data.data(), total));
  return array;
}

}  // namespace

absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path) {
  PSD_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_path));
  PSD_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_path));
  if (images.dims.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, ": images need at least 2 dimensions, got ", images.dims.size()));
  }
  if (labels.dims.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": labels need 1 dimension, got ", labels.dims.size()));
  }
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, " has ", images.dims[0],
                                                   " examples but ", labels_path, " has ",
                                                   labels.dims[0], " labels"));
  }
  Dataset ds;
  ds.count = images.dims[0];
  ds.dim = static_cast<int64_t>(images.data.size()) / ds.count;
  ds.pixels = std::move(images.data);
  ds.labels = std::move(labels.data);
  return ds;
}

}  // namespace psd
