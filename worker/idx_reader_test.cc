// IDX files whose headers lie, or that are not files at all: each is an error naming the file,
// found before anything is allocated for the data, and never a crash or a hang.
#include "worker/idx_reader.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/fifo.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::IdxBytes;
using testing::WriteGzip;
using testing::WriteIdx;

struct Files {
  std::string dir, images, labels;
};

// Three 2x2 images and their labels.
Files Good(const std::string& name) {
  Files f;
  f.dir = testing::MakeTempDir(name);
  f.images = f.dir + "/images";
  f.labels = f.dir + "/labels";
  WriteIdx(f.images, {3, 2, 2}, std::vector<uint8_t>(12, 7));
  WriteIdx(f.labels, {3}, {0, 1, 2});
  return f;
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string ErrorOf(const std::string& images, const std::string& labels) {
  absl::StatusOr<Dataset> ds = LoadIdxDataset(images, labels);
  if (ds.ok()) return "(loaded)";
  return std::string(ds.status().message());
}

TEST_CASE("LoadIdxDataset reads plain and gzip-compressed files") {
  Files f = Good("idx-good");
  absl::StatusOr<Dataset> ds = LoadIdxDataset(f.images, f.labels);
  REQUIRE(ds.ok());
  CHECK(ds->count == 3);
  CHECK(ds->dim == 4);
  CHECK(ds->labels == std::vector<uint8_t>{0, 1, 2});
  WriteGzip(f.images + ".gz", IdxBytes({3, 2, 2}, std::vector<uint8_t>(12, 7)));
  ds = LoadIdxDataset(f.images + ".gz", f.labels);
  REQUIRE(ds.ok());
  CHECK(ds->pixels == std::vector<uint8_t>(12, 7));
  // The limit applies to each file's data.
  CHECK(LoadIdxDataset(f.images, f.labels, 12).ok());
  CHECK(LoadIdxDataset(f.images, f.labels, 11).status().message() ==
        f.images +
            ": its header says 3 x 2 x 2 = 12 bytes of data, more than the limit of 11 bytes");
}

TEST_CASE("A plain IDX file whose header claims more data than the file holds is refused") {
  Files f = Good("idx-lies");
  // 2^31 x 2^31 bytes would be 4 EiB: the old reader tried to allocate them (bad_alloc).
  WriteIdx(f.images, {0x80000000u, 0x80000000u}, std::vector<uint8_t>(12, 7));
  CHECK(ErrorOf(f.images, f.labels) ==
        f.images +
            ": its header says 2147483648 x 2147483648 = 4611686018427387904 bytes of data, more "
            "than the limit of " +
            std::to_string(kDefaultMaxIdxDataBytes) + " bytes");
  // 60000 x 28 x 28 (47 MB) in a 28-byte file.
  WriteIdx(f.images, {60000, 28, 28}, std::vector<uint8_t>(12, 7));
  CHECK(ErrorOf(f.images, f.labels) ==
        f.images +
            ": truncated: its header says 60000 x 28 x 28 = 47040000 bytes of data, the file has "
            "12");
  WriteIdx(f.images, {3, 2, 2}, std::vector<uint8_t>(20, 7));
  CHECK(ErrorOf(f.images, f.labels) ==
        f.images + ": larger than its header says: 3 x 2 x 2 = 12 bytes of data, the file has 20");
  // Dimensions whose product overflows 64 bits.
  WriteIdx(f.images, {0xffffffffu, 0xffffffffu, 0xffffffffu}, {});
  CHECK(ErrorOf(f.images, f.labels) == f.images +
                                           ": its header says 4294967295 x 4294967295 x 4294967295 "
                                           "bytes of data, more than the limit of " +
                                           std::to_string(kDefaultMaxIdxDataBytes) + " bytes");
  WriteIdx(f.images, {3, 0, 2}, {});
  CHECK(ErrorOf(f.images, f.labels) == f.images + ": empty IDX array (dimension 2 is 0)");
  WriteIdx(f.images, {}, {});
  CHECK(ErrorOf(f.images, f.labels) == f.images + ": empty IDX array (no dimensions)");
  const std::string header = IdxBytes({3, 2, 2}, {}).substr(0, 10);
  WriteGzip(f.images, header);  // a header cut short, compressed
  CHECK(ErrorOf(f.images, f.labels) ==
        f.images + ": truncated: the IDX header needs 16 bytes, the file decompresses to 10");
  WriteIdx(f.images, {3, 2, 2}, {});
  std::string cut = testing::ReadFile(f.images).substr(0, 10);
  Write(f.images, cut);
  CHECK(ErrorOf(f.images, f.labels) ==
        f.images + ": truncated: the IDX header needs 16 bytes, the file has 10");
}

TEST_CASE("A gzip-compressed IDX file is read only as far as its header says") {
  Files f = Good("idx-gz-lies");
  const std::string gz = f.dir + "/images.gz";
  WriteGzip(gz, IdxBytes({3, 28, 28}, std::vector<uint8_t>(100, 7)));
  CHECK(ErrorOf(gz, f.labels) == gz + ": truncated: its header says 3 x 28 x 28 = 2352 bytes of "
                                      "data, the file decompresses to 100");
  WriteGzip(gz, IdxBytes({3, 2, 2}, std::vector<uint8_t>(1000, 7)));
  CHECK(ErrorOf(gz, f.labels) ==
        gz + ": larger than its header says: 3 x 2 x 2 = 12 bytes of data, the file "
             "decompresses to more");
  WriteGzip(gz, IdxBytes({3, 2, 2}, std::vector<uint8_t>(12, 7)));
  std::string bytes = testing::ReadFile(gz);
  bytes[bytes.size() - 6] ^= 0x55;  // the stored CRC32 of the data
  Write(gz, bytes);
  CHECK_THAT(ErrorOf(gz, f.labels), Catch::StartsWith(gz + ": not a valid gzip file"));
}

TEST_CASE("Image and label files must agree") {
  Files f = Good("idx-pair");
  WriteIdx(f.labels, {4}, {0, 1, 2, 3});
  CHECK(ErrorOf(f.images, f.labels) ==
        f.labels + " has 4 labels but " + f.images + " has 3 images");
  WriteIdx(f.labels, {3, 1}, {0, 1, 2});
  CHECK(ErrorOf(f.images, f.labels) == f.labels + ": labels need 1 dimension, got 2");
  WriteIdx(f.labels, {3}, {0, 1, 2});
  CHECK(ErrorOf(f.labels, f.labels) == f.labels + ": images need at least 2 dimensions, got 1");
}

TEST_CASE("LoadIdxDataset refuses a FIFO at once") {
  Files f = Good("idx-fifo");
  const std::string fifo = f.dir + "/fifo";
  REQUIRE(testing::MakeFifo(fifo));
  std::string error;
  REQUIRE(testing::ReturnsWithin(absl::Seconds(5), fifo, [&] { error = ErrorOf(fifo, f.labels); }));
  CHECK(error == "not a regular file: " + fifo + " (a FIFO)");
  REQUIRE(testing::ReturnsWithin(absl::Seconds(5), fifo, [&] { error = ErrorOf(f.images, fifo); }));
  CHECK(error == "not a regular file: " + fifo + " (a FIFO)");
  CHECK(ErrorOf(f.dir, f.labels) == "not a regular file: " + f.dir + " (a directory)");
  CHECK(ErrorOf(f.dir + "/missing", f.labels) == "file not found: " + f.dir + "/missing");
}

}  // namespace
}  // namespace psd
