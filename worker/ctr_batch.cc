#include "worker/ctr_batch.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace psd {

void CtrBatch::Clear() {
  labels.clear();
  dense.clear();
  keys.clear();
  values.clear();
  row_offsets.assign(1, 0);
}

absl::Status CheckBatchShape(const CtrBatch& b) {
  const int64_t rows = b.rows();
  if (rows < 1) return absl::InvalidArgumentError("the batch has no rows");
  if (b.dense_dim < 0 || static_cast<int64_t>(b.dense.size()) != rows * b.dense_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed batch: ", rows, " rows of ", b.dense_dim, " dense features need ",
                     rows * b.dense_dim, " values, the batch has ", b.dense.size()));
  }
  const int64_t n = static_cast<int64_t>(b.keys.size());
  if (static_cast<int64_t>(b.row_offsets.size()) != rows + 1 || b.row_offsets[0] != 0 ||
      b.row_offsets[rows] != n || static_cast<int64_t>(b.values.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat("malformed batch: ", rows, " rows, ",
                                                   b.row_offsets.size(), " row offsets, ", n,
                                                   " keys, ", b.values.size(), " values"));
  }
  if (n >= (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(absl::StrCat("the batch is too large (", n, " keys)"));
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (b.row_offsets[r + 1] < b.row_offsets[r]) {
      return absl::InvalidArgumentError(absl::StrCat("row ", r, ": row offsets decrease"));
    }
  }
  return absl::OkStatus();
}

void CtrBatch::Truncate(int64_t rows) {
  labels.resize(rows);
  dense.resize(static_cast<size_t>(rows) * dense_dim);
  row_offsets.resize(rows + 1);
  keys.resize(row_offsets.back());
  values.resize(row_offsets.back());
}

absl::string_view BadRowReasonName(BadRowReason reason) {
  switch (reason) {
    case BadRowReason::kEmptyLine:
      return "empty_line";
    case BadRowReason::kColumnCount:
      return "column_count";
    case BadRowReason::kBadLabel:
      return "bad_label";
    case BadRowReason::kBadInteger:
      return "bad_integer";
    case BadRowReason::kBadHash:
      return "bad_hash";
    case BadRowReason::kBadFeature:
      return "bad_feature";
    case BadRowReason::kBadIndex:
      return "bad_index";
    case BadRowReason::kBadValue:
      return "bad_value";
    case BadRowReason::kLineTooLong:
      return "line_too_long";
  }
  return "unknown";
}

std::string QuoteToken(absl::string_view token) {
  constexpr size_t kMax = 40;
  if (token.size() <= kMax) return absl::StrCat("'", absl::CHexEscape(token), "'");
  return absl::StrCat("'", absl::CHexEscape(token.substr(0, kMax)), "...'");
}

}  // namespace psd
