#include "worker/libsvm_reader.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/charconv.h"
#include "absl/strings/str_cat.h"

namespace psd {
namespace {

bool Fail(BadRow* bad, BadRowReason reason, int column, std::string message) {
  bad->reason = reason;
  bad->column = column;
  bad->message = std::move(message);
  return false;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

bool ParseU64(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseLibsvmLine(absl::string_view line, CtrBatch* batch, BadRow* bad) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const int64_t rows_before = batch->rows();
  size_t pos = 0;
  int column = 0;
  // The next whitespace-separated token; empty at the end of the line.
  auto next = [&]() {
    while (pos < line.size() && IsSpace(line[pos])) ++pos;
    const size_t start = pos;
    while (pos < line.size() && !IsSpace(line[pos])) ++pos;
    return line.substr(start, pos - start);
  };
  const absl::string_view label = next();
  column = 1;
  if (label.empty()) return Fail(bad, BadRowReason::kEmptyLine, 1, "empty line");
  float y;
  if (label == "0" || label == "-1") {
    y = 0.0f;
  } else if (label == "1" || label == "+1") {
    y = 1.0f;
  } else {
    return Fail(bad, BadRowReason::kBadLabel, 1,
                absl::StrCat("label must be 0, 1, -1 or +1: ", QuoteToken(label)));
  }
  for (absl::string_view tok = next(); !tok.empty(); tok = next()) {
    ++column;
    const size_t colon = tok.find(':');
    if (colon == absl::string_view::npos) {
      batch->Truncate(rows_before);
      return Fail(bad, BadRowReason::kBadFeature, column,
                  absl::StrCat("not idx:val: ", QuoteToken(tok)));
    }
    const absl::string_view idx = tok.substr(0, colon);
    const absl::string_view val = tok.substr(colon + 1);
    uint64_t key;
    if (!ParseU64(idx, &key)) {
      batch->Truncate(rows_before);
      return Fail(bad, BadRowReason::kBadIndex, column,
                  absl::StrCat("not a feature index (a decimal u64): ", QuoteToken(tok)));
    }
    float v = 0.0f;
    const absl::from_chars_result r = absl::from_chars(val.data(), val.data() + val.size(), v);
    if (val.empty() || r.ec != std::errc() || r.ptr != val.data() + val.size() ||
        !std::isfinite(v)) {
      batch->Truncate(rows_before);
      return Fail(bad, BadRowReason::kBadValue, column,
                  absl::StrCat("not a finite number: ", QuoteToken(tok)));
    }
    batch->keys.push_back(key);
    batch->values.push_back(v);
  }
  batch->labels.push_back(y);
  batch->row_offsets.push_back(static_cast<int64_t>(batch->keys.size()));
  return true;
}

}  // namespace psd
