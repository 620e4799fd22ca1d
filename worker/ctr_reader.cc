#include "worker/ctr_reader.h"

#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/libsvm_reader.h"

namespace psd {

absl::StatusOr<std::unique_ptr<CtrReader>> CtrReader::Open(std::vector<std::string> paths,
                                                           const CtrReaderOptions& options) {
  if (options.format == CtrFormat::kCriteo) {
    const CriteoLayout& l = options.criteo;
    if (l.dense < 0 || l.categorical < 0 || l.categorical > kMaxCriteoFields) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Criteo layout of ", l.dense, " integer and ", l.categorical,
          " categorical features: want dense >= 0 and 0 <= categorical <= ", kMaxCriteoFields));
    }
  }
  absl::StatusOr<std::unique_ptr<LineSource>> lines =
      LineSource::Open(std::move(paths), options.lines);
  if (!lines.ok()) return lines.status();
  return std::unique_ptr<CtrReader>(new CtrReader(std::move(*lines), options));
}

absl::Status CtrReader::Rewind() { return lines_->Rewind(); }

int64_t CtrReader::skipped() const {
  return std::accumulate(skipped_.begin(), skipped_.end(), int64_t{0});
}

absl::StatusOr<int64_t> CtrReader::Next(int64_t max_rows, CtrBatch* batch) {
  batch->Clear();
  const bool criteo = options_.format == CtrFormat::kCriteo;
  batch->dense_dim = criteo ? options_.criteo.dense : 0;
  Line line;
  BadRow bad;
  while (batch->rows() < max_rows) {
    absl::StatusOr<bool> got = lines_->Next(&line);
    if (!got.ok()) return got.status();
    if (!*got) break;
    bool ok;
    if (line.too_long) {
      bad.reason = BadRowReason::kLineTooLong;
      bad.column = 1;
      bad.message = absl::StrCat("line longer than ", options_.lines.max_line_bytes, " bytes");
      ok = false;
    } else {
      ok = criteo ? ParseCriteoLine(line.text, options_.criteo, batch, &bad)
                  : ParseLibsvmLine(line.text, batch, &bad);
    }
    if (ok) continue;
    std::string message =
        absl::StrCat(*line.path, ":", line.number, ": column ", bad.column, ": ", bad.message);
    if (options_.bad_rows == BadRowPolicy::kError) {
      batch->Clear();
      return absl::InvalidArgumentError(std::move(message));
    }
    ++skipped_[static_cast<int>(bad.reason)];
    if (first_skipped_.empty()) first_skipped_ = std::move(message);
  }
  rows_read_ += batch->rows();
  return batch->rows();
}

}  // namespace psd
