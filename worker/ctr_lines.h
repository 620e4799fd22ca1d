// The lines of a list of text files, plain or gzip-compressed (told apart by the gzip magic
// bytes 1f 8b, not by the name), read through a bounded buffer, and this worker's share of
// them. Memory is bounded by max(buffer_bytes, max_line_bytes + 1), whatever the file sizes.
#ifndef PSD_WORKER_CTR_LINES_H_
#define PSD_WORKER_CTR_LINES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace psd {

// Which lines a worker gets (docs/sparse.md, "Sharding"):
//  kLines: line i of the files concatenated in the order given (0-based, every line counted,
//          good or bad) goes to worker i mod count: balanced to one line, but every worker
//          scans (and decompresses) every file;
//  kFiles: file k of the list goes whole to worker k mod count: no file is read twice, but
//          a worker gets nothing when there are fewer files than workers.
enum class ShardMode { kLines, kFiles };

struct LineSourceOptions {
  ShardMode shard_mode = ShardMode::kLines;
  int shard_index = 0;  // this worker, in [0, shard_count)
  int shard_count = 1;
  size_t buffer_bytes = size_t{1} << 20;    // bytes read per read() / gzread()
  size_t max_line_bytes = size_t{1} << 20;  // a longer line is reported as too long
};

struct Line {
  absl::string_view text;   // without its '\n'; valid until the next call; empty if too_long
  const std::string* path;  // the file it is in, as given
  int64_t number = 0;       // 1-based line number in that file
  bool too_long = false;    // longer than max_line_bytes (skipped over, not held)
};

class LineSource {
 public:
  // Checks every file can be opened and is not a directory; errors name the file.
  static absl::StatusOr<std::unique_ptr<LineSource>> Open(std::vector<std::string> paths,
                                                          const LineSourceOptions& options);
  ~LineSource();

  // The next line of this worker's share: true and `*line` set, or false at the end of the
  // last file. Errors (a read failure, a corrupt or truncated gzip file) name the file.
  absl::StatusOr<bool> Next(Line* line);
  // Starts again at the first file (the next epoch).
  absl::Status Rewind();
  // The bytes of the line buffer now: at most max(buffer_bytes, max_line_bytes + 1).
  size_t buffer_capacity() const { return buf_.size(); }

 private:
  LineSource(std::vector<std::string> paths, const LineSourceOptions& options);
  absl::Status OpenFile(size_t index);
  void CloseFile();
  // Reads more bytes after end_; sets eof_ at the end of the file.
  absl::Status Fill();
  // The next line of the open file, every line (owned or not); false at its end.
  absl::StatusOr<bool> NextInFile(Line* line);

  std::vector<std::string> paths_;
  LineSourceOptions options_;
  size_t file_ = 0;  // index of the open file (paths_.size() once past the last)
  int fd_ = -1;
  void* gz_ = nullptr;  // gzFile when the open file is gzip-compressed
  bool eof_ = false;
  int64_t line_number_ = 0;
  uint64_t global_line_ = 0;  // lines seen over all files (kLines sharding)
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;  // unread bytes are buf_[begin_, end_)
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_LINES_H_
