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
