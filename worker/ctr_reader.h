// Streams click-through-rate rows (Criteo TSV or libsvm) from a list of files, plain or gzip,
// as this worker's shard of them, in batches; a bad row stops the read with an error naming
// it or is skipped and counted, as the policy says. See docs/sparse.md, "Data".
#ifndef PSD_WORKER_CTR_READER_H_
#define PSD_WORKER_CTR_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/criteo_reader.h"
#include "worker/ctr_batch.h"
#include "worker/ctr_lines.h"

namespace psd {

enum class CtrFormat { kCriteo, kLibsvm };

struct CtrReaderOptions {
  CtrFormat format = CtrFormat::kCriteo;
  CriteoLayout criteo;  // kCriteo only
  BadRowPolicy bad_rows = BadRowPolicy::kError;
  LineSourceOptions lines;  // sharding, buffer and line size limits
};

class CtrReader {
 public:
  static absl::StatusOr<std::unique_ptr<CtrReader>> Open(std::vector<std::string> paths,
                                                         const CtrReaderOptions& options);

  // Replaces `batch` with the next at most `max_rows` rows of this shard (fewer only at the
  // end; 0 once the data is exhausted). Under kError a bad row is an InvalidArgument error
  // "path:line: column N: reason" (the rows before it in this batch are dropped with it).
  absl::StatusOr<int64_t> Next(int64_t max_rows, CtrBatch* batch);
  // Starts again at the first row of the shard (the next epoch); counters keep counting.
  absl::Status Rewind();

  // The bytes of the reader's line buffer (see LineSource::buffer_capacity).
  size_t buffer_capacity() const { return lines_->buffer_capacity(); }

  // Rows returned so far; rows skipped (kSkip), in total and per reason.
  int64_t rows_read() const { return rows_read_; }
  int64_t skipped() const;
  int64_t skipped(BadRowReason reason) const { return skipped_[static_cast<int>(reason)]; }
  const BadRowCounts& skipped_counts() const { return skipped_; }
  // The first skipped row's error message, so that a log can show one example; "" if none.
  const std::string& first_skipped() const { return first_skipped_; }

 private:
  CtrReader(std::unique_ptr<LineSource> lines, const CtrReaderOptions& options)
      : lines_(std::move(lines)), options_(options) {}

  std::unique_ptr<LineSource> lines_;
  CtrReaderOptions options_;
  int64_t rows_read_ = 0;
  BadRowCounts skipped_{};
  std::string first_skipped_;
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_READER_H_
