// libFuzzer target: the data readers: IDX files, plain or gzip-compressed (common/idx_header.h)
// and the worker's data set loader on top of them (worker/idx_reader.h). Whatever the files
// hold, a read gives data of exactly the size the header declares, or an error; never more
// memory than the limit allows.
//
// Input: byte 0 picks the mode (mod 3): 0, the rest is one IDX file; 1, the rest is one IDX
// file that the harness gzip-compresses (so that mutations reach the header reader through
// zlib); 2, a 16-bit length, that many bytes of an image file, then the label file.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/idx_header.h"
#include "fuzz/fuzz_util.h"
#include "worker/idx_reader.h"

namespace {

// Small enough that no input makes the readers allocate much; large enough for the seeds.
constexpr int64_t kMaxDataBytes = 1 << 20;

void WriteGzipOrDie(const std::string& path, absl::string_view bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr || (!bytes.empty() &&
                       gzwrite(f, bytes.data(), bytes.size()) != static_cast<int>(bytes.size()))) {
    std::fprintf(stderr, "psd fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  gzclose(f);
}

void ReadOne(const std::string& path) {
  absl::StatusOr<psd::IdxFile> file = psd::IdxFile::Open(path, kMaxDataBytes);
  if (!file.ok()) return;
  const psd::IdxHeader& h = file->header();
  int64_t product = 1;
  for (int64_t d : h.dims) {
    FUZZ_CHECK(d >= 1, h.Shape());
    product *= d;
    FUZZ_CHECK(product <= kMaxDataBytes, h.Shape());
  }
  FUZZ_CHECK(product == h.elements, h.Shape());
  (void)psd::CheckImagesHeader(h);
  (void)h.Shape();
  absl::StatusOr<std::vector<uint8_t>> data = file->ReadData();
  if (data.ok()) {
    FUZZ_CHECK(static_cast<int64_t>(data->size()) == h.elements,
               absl::StrCat(data->size(), " bytes read, header says ", h.Shape()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  psd::fuzz::Input in(data, size);
  const int mode = in.Byte() % 3;
  const std::string& dir = psd::fuzz::ScratchDir();
  const std::string images = dir + "/images-idx3-ubyte";
  const std::string labels = dir + "/labels-idx1-ubyte";
  if (mode == 0) {
    psd::fuzz::WriteFileOrDie(images, in.Rest());
    ReadOne(images);
  } else if (mode == 1) {
    WriteGzipOrDie(images, in.Rest());
    ReadOne(images);
  } else {
    psd::fuzz::WriteFileOrDie(images, in.Record());
    psd::fuzz::WriteFileOrDie(labels, in.Rest());
    absl::StatusOr<psd::Dataset> ds = psd::LoadIdxDataset(images, labels, kMaxDataBytes);
    if (ds.ok()) {
      FUZZ_CHECK(ds->count >= 1 && ds->dim >= 1);
      FUZZ_CHECK(static_cast<int64_t>(ds->pixels.size()) == ds->count * ds->dim);
      FUZZ_CHECK(static_cast<int64_t>(ds->labels.size()) == ds->count);
    }
  }
  return 0;
}
