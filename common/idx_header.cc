#include "common/idx_header.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace psd {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
// A gzip-compressed file's data is decompressed in pieces of at most this many bytes.
constexpr int64_t kGzipPiece = int64_t{64} << 20;

// How much of a stream the reader got: "has 12" for a plain file, "decompresses to 12".
std::string Got(const IdxHeader& h, int64_t bytes) {
  return absl::StrCat(h.gzip ? "the file decompresses to " : "the file has ", bytes);
}

}  // namespace

std::string IdxHeader::Shape() const { return absl::StrJoin(dims, " x "); }

void IdxFile::GzCloser::operator()(gzFile_s* f) const { gzclose(f); }

IdxFile::IdxFile(IdxFile&&) noexcept = default;
IdxFile& IdxFile::operator=(IdxFile&&) noexcept = default;
IdxFile::~IdxFile() = default;

absl::StatusOr<IdxFile> IdxFile::Open(const std::string& path, int64_t max_data_bytes) {
  PSD_ASSIGN_OR_RETURN(RegularFile file, OpenRegularFile(path));
  IdxFile idx;
  idx.header_.path = path;
  unsigned char magic[2] = {0, 0};
  const ssize_t peeked = pread(file.fd.get(), magic, 2, 0);
  idx.header_.gzip = peeked == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  const int64_t file_bytes = file.size;
  if (idx.header_.gzip) {
    gzFile gz = gzdopen(file.fd.get(), "rb");
    if (gz == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot start gunzip"));
    file.fd.release();  // gzclose closes it
    idx.gz_.reset(gz);
  } else {
    idx.fd_ = std::move(file.fd);
  }

  // Reads exactly `n` header bytes; `needed` is the header's size so far, for the message.
  int64_t got = 0;
  auto read_header = [&](void* dst, int64_t n, int64_t needed) -> absl::Status {
    PSD_ASSIGN_OR_RETURN(int64_t read, idx.ReadSome(static_cast<uint8_t*>(dst), n));
    got += read;
    if (read < n) {
      return absl::DataLossError(absl::StrCat(path, ": truncated: the IDX header needs ", needed,
                                              " bytes, ", Got(idx.header_, got)));
    }
    return absl::OkStatus();
  };
  uint8_t head[4];
  PSD_RETURN_IF_ERROR(read_header(head, 4, 4));
  if (head[0] != 0 || head[1] != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an IDX file (bad magic)"));
  }
  if (head[2] != kUnsignedByte) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": element type 0x",
                                                   absl::Hex(head[2], absl::kZeroPad2),
                                                   " is not unsigned byte (0x08)"));
  }
  const int rank = head[3];
  if (rank == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty IDX array (no dimensions)"));
  }
  const int64_t header_bytes = 4 + 4 * int64_t{rank};
  std::vector<uint8_t> be(4 * rank);
  PSD_RETURN_IF_ERROR(read_header(be.data(), 4 * rank, header_bytes));
  bool overflow = false;
  int64_t elements = 1;
  for (int d = 0; d < rank; ++d) {
    const int64_t size = (int64_t{be[4 * d]} << 24) | (int64_t{be[4 * d + 1]} << 16) |
                         (int64_t{be[4 * d + 2]} << 8) | int64_t{be[4 * d + 3]};
    if (size == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": empty IDX array (dimension ", d + 1, " is 0)"));
    }
    idx.header_.dims.push_back(size);
    if (elements > std::numeric_limits<int64_t>::max() / size) overflow = true;
    if (!overflow) elements *= size;
  }
  if (overflow || elements > max_data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": its header says ", idx.header_.Shape(),
                                                   overflow ? "" : absl::StrCat(" = ", elements),
                                                   " bytes of data, more than the limit of ",
                                                   max_data_bytes, " bytes"));
  }
  idx.header_.elements = elements;
  if (!idx.header_.gzip && file_bytes != header_bytes + elements) {
    const int64_t data = file_bytes - header_bytes;
    return absl::DataLossError(absl::StrCat(
        path, data < elements ? ": truncated: its header says " : ": larger than its header says: ",
        idx.header_.Shape(), " = ", elements, " bytes of data, ", Got(idx.header_, data)));
  }
  return idx;
}

absl::StatusOr<int64_t> IdxFile::ReadSome(uint8_t* dst, int64_t n) {
  int64_t got = 0;
  while (got < n) {
    const unsigned piece = static_cast<unsigned>(std::min<int64_t>(n - got, 1 << 30));
    if (gz_ != nullptr) {
      const int r = gzread(gz_.get(), dst + got, piece);
      if (r < 0) {
        int err = Z_OK;
        const char* msg = gzerror(gz_.get(), &err);
        return absl::DataLossError(
            absl::StrCat(header_.path, ": not a valid gzip file (", msg, ")"));
      }
      if (r == 0) break;
      got += r;
    } else {
      const ssize_t r = read(fd_.get(), dst + got, piece);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        return absl::DataLossError(
            absl::StrCat("cannot read ", header_.path, ": ", std::strerror(errno)));
      }
      if (r == 0) break;
      got += r;
    }
  }
  return got;
}

absl::StatusOr<std::vector<uint8_t>> IdxFile::ReadData() {
  const int64_t want = header_.elements;
  std::vector<uint8_t> data;
  if (!header_.gzip) data.reserve(want);  // its size was checked against the file's
  while (static_cast<int64_t>(data.size()) < want) {
    const int64_t have = static_cast<int64_t>(data.size());
    const int64_t piece = header_.gzip ? std::min(want - have, kGzipPiece) : want - have;
    data.resize(have + piece);
    PSD_ASSIGN_OR_RETURN(int64_t got, ReadSome(data.data() + have, piece));
    data.resize(have + got);
    if (got < piece) {
      return absl::DataLossError(absl::StrCat(header_.path, ": truncated: its header says ",
                                              header_.Shape(), " = ", want, " bytes of data, ",
                                              Got(header_, have + got)));
    }
  }
  uint8_t extra;
  PSD_ASSIGN_OR_RETURN(int64_t more, ReadSome(&extra, 1));
  if (more > 0) {
    return absl::DataLossError(absl::StrCat(
        header_.path, ": larger than its header says: ", header_.Shape(), " = ", want,
        " bytes of data, ", header_.gzip ? "the file decompresses to more" : "the file has more"));
  }
  return data;
}

absl::Status CheckImagesHeader(const IdxHeader& images) {
  if (images.dims.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(images.path, ": images need at least 2 dimensions, got ", images.dims.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckLabelsHeader(const IdxHeader& labels, const IdxHeader& images) {
  if (labels.dims.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.path, ": labels need 1 dimension, got ", labels.dims.size()));
  }
  if (labels.dims[0] != images.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(labels.path, " has ", labels.dims[0],
                                                   " labels but ", images.path, " has ",
                                                   images.dims[0], " images"));
  }
  return absl::OkStatus();
}

}  // namespace psd
