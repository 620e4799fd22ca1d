#include "worker/ctr_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace psd {
namespace {

absl::Status FileError(const std::string& path, absl::string_view what, int err) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what, ": ", std::strerror(err)));
}

gzFile Gz(void* p) { return static_cast<gzFile>(p); }

}  // namespace

LineSource::LineSource(std::vector<std::string> paths, const LineSourceOptions& options)
    : paths_(std::move(paths)), options_(options) {}

LineSource::~LineSource() { CloseFile(); }

absl::StatusOr<std::unique_ptr<LineSource>> LineSource::Open(std::vector<std::string> paths,
                                                             const LineSourceOptions& options) {
  if (paths.empty()) return absl::InvalidArgumentError("no data files");
  if (options.shard_count < 1 || options.shard_index < 0 ||
      options.shard_index >= options.shard_count) {
    return absl::InvalidArgumentError(absl::StrCat("shard ", options.shard_index, " of ",
                                                   options.shard_count, " is not a shard"));
  }
  if (options.buffer_bytes < 1 || options.max_line_bytes < 1) {
    return absl::InvalidArgumentError("buffer_bytes and max_line_bytes must be at least 1");
  }
  for (const std::string& p : paths) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return FileError(p, "cannot open", errno);
    if (S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(p + ": is a directory");
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return FileError(p, "cannot open", errno);
    ::close(fd);
  }
  std::unique_ptr<LineSource> src(new LineSource(std::move(paths), options));
  src->file_ = src->paths_.size();
  absl::Status s = src->Rewind();
  if (!s.ok()) return s;
  return src;
}

void LineSource::CloseFile() {
  if (gz_ != nullptr) {
    gzclose(Gz(gz_));  // closes fd_ too
    gz_ = nullptr;
    fd_ = -1;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::Status LineSource::Rewind() {
  CloseFile();
  global_line_ = 0;
  file_ = 0;
  while (file_ < paths_.size() && options_.shard_mode == ShardMode::kFiles &&
         static_cast<int>(file_ % options_.shard_count) != options_.shard_index) {
    ++file_;
  }
  if (file_ < paths_.size()) return OpenFile(file_);
  return absl::OkStatus();
}

absl::Status LineSource::OpenFile(size_t index) {
  const std::string& path = paths_[index];
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return FileError(path, "cannot open", errno);
  unsigned char magic[2] = {0, 0};
  const ssize_t peeked = ::pread(fd_, magic, 2, 0);  // fails on a pipe: read as plain text
  if (peeked == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    gzFile gz = gzdopen(fd_, "rb");
    if (gz == nullptr) return absl::InternalError(path + ": cannot start gunzip");
    gzbuffer(gz, 1 << 17);
    gz_ = gz;
  }
  eof_ = false;
  line_number_ = 0;
  begin_ = end_ = 0;
  if (buf_.size() != options_.buffer_bytes) {
    buf_.assign(options_.buffer_bytes, 0);
    buf_.shrink_to_fit();
  }
  return absl::OkStatus();
}

absl::Status LineSource::Fill() {
  const std::string& path = paths_[file_];
  char* dst = buf_.data() + end_;
  const size_t room = buf_.size() - end_;
  if (gz_ != nullptr) {
    const unsigned piece = static_cast<unsigned>(std::min<size_t>(room, 1u << 30));
    const int r = gzread(Gz(gz_), dst, piece);
    int err = Z_OK;
    const char* msg = gzerror(Gz(gz_), &err);
    if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid gzip file (", msg, ")"));
    }
    if (r == 0) {
      if (err == Z_BUF_ERROR) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": truncated gzip file (", msg, ")"));
      }
      eof_ = true;
    }
    end_ += static_cast<size_t>(std::max(r, 0));
    return absl::OkStatus();
  }
  while (true) {
    const ssize_t r = ::read(fd_, dst, room);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FileError(path, "read failed", errno);
    if (r == 0) eof_ = true;
    end_ += static_cast<size_t>(r);
    return absl::OkStatus();
  }
}

absl::StatusOr<bool> LineSource::NextInFile(Line* line) {
  line->path = &paths_[file_];
  line->too_long = false;
  bool discarding = false;  // inside a line longer than max_line_bytes
  while (true) {
    const char* start = buf_.data() + begin_;
    const void* nl = std::memchr(start, '\n', end_ - begin_);
    if (nl != nullptr) {
      const size_t len = static_cast<const char*>(nl) - start;
      ++line_number_;
      line->number = line_number_;
      line->too_long = discarding || len > options_.max_line_bytes;
      line->text = line->too_long ? absl::string_view() : absl::string_view(start, len);
      begin_ += len + 1;
      return true;
    }
    if (eof_) {
      if (begin_ == end_ && !discarding) return false;
      const size_t len = end_ - begin_;  // a last line without '\n'
      ++line_number_;
      line->number = line_number_;
      line->too_long = discarding || len > options_.max_line_bytes;
      line->text = line->too_long ? absl::string_view() : absl::string_view(start, len);
      begin_ = end_;
      return true;
    }
    // No '\n' in what is held: make room and read more.
    const size_t held = end_ - begin_;
    if (discarding || held > options_.max_line_bytes) {
      discarding = true;  // drop what is held of the long line
      begin_ = end_ = 0;
    } else {
      if (begin_ > 0) {
        std::memmove(buf_.data(), start, held);
        begin_ = 0;
        end_ = held;
      }
      if (end_ == buf_.size()) {  // a line longer than the buffer, not yet too long
        buf_.resize(std::min(2 * buf_.size(), options_.max_line_bytes + 1));
      }
    }
    absl::Status s = Fill();
    if (!s.ok()) return s;
  }
}

absl::StatusOr<bool> LineSource::Next(Line* line) {
  while (file_ < paths_.size()) {
    absl::StatusOr<bool> got = NextInFile(line);
    if (!got.ok()) return got.status();
    if (*got) {
      if (options_.shard_mode == ShardMode::kFiles) return true;
      const uint64_t i = global_line_++;
      if (static_cast<int>(i % static_cast<uint64_t>(options_.shard_count)) ==
          options_.shard_index) {
        return true;
      }
      continue;
    }
    CloseFile();
    ++file_;
    while (file_ < paths_.size() && options_.shard_mode == ShardMode::kFiles &&
           static_cast<int>(file_ % options_.shard_count) != options_.shard_index) {
      ++file_;
    }
    if (file_ < paths_.size()) {
      absl::Status s = OpenFile(file_);
      if (!s.ok()) return s;
    }
  }
  return false;
}

}  // namespace psd
