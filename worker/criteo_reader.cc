#include "worker/criteo_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"

namespace psd {
namespace {

bool Fail(BadRow* bad, BadRowReason reason, int column, std::string message) {
  bad->reason = reason;
  bad->column = column;
  bad->message = std::move(message);
  return false;
}

// A decimal integer: optional '-', then digits, within int64.
bool ParseInt64(absl::string_view s, int64_t* out) {
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  const uint64_t limit =
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0);
  if (v > limit) return false;
  *out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

float CriteoDense(int64_t x) {
  return x <= 0 ? 0.0f : static_cast<float>(std::log1p(static_cast<double>(x)));
}

bool ParseCriteoLine(absl::string_view line, const CriteoLayout& layout, CtrBatch* batch,
                     BadRow* bad) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return Fail(bad, BadRowReason::kEmptyLine, 1, "empty line");
  const int columns = 1 + static_cast<int>(std::count(line.begin(), line.end(), '\t'));
  const int want = layout.columns();
  if (columns < want) {
    return Fail(
        bad, BadRowReason::kColumnCount, columns + 1,
        absl::StrCat("missing: the row has ", columns, " columns, the layout ", want, " (label, ",
                     layout.dense, " integer, ", layout.categorical, " categorical)"));
  }
  if (columns > want) {
    return Fail(
        bad, BadRowReason::kColumnCount, want + 1,
        absl::StrCat("extra column: the row has ", columns, " columns, the layout ", want,
                     " (label, ", layout.dense, " integer, ", layout.categorical, " categorical)"));
  }
  const int64_t rows_before = batch->rows();
  size_t pos = 0;
  auto next = [&]() {
    const size_t tab = line.find('\t', pos);
    const size_t end = tab == absl::string_view::npos ? line.size() : tab;
    absl::string_view field = line.substr(pos, end - pos);
    pos = end + 1;
    return field;
  };
  const absl::string_view label = next();
  if (label != "0" && label != "1") {
    return Fail(bad, BadRowReason::kBadLabel, 1,
                absl::StrCat("label must be 0 or 1: ", QuoteToken(label)));
  }
  for (int j = 0; j < layout.dense; ++j) {
    const absl::string_view f = next();
    int64_t x = 0;
    if (!f.empty() && !ParseInt64(f, &x)) {
      batch->Truncate(rows_before);
      return Fail(bad, BadRowReason::kBadInteger, 2 + j,
                  absl::StrCat("not an integer: ", QuoteToken(f)));
    }
    batch->dense.push_back(CriteoDense(x));
  }
  for (int j = 0; j < layout.categorical; ++j) {
    const absl::string_view f = next();
    const int column = 2 + layout.dense + j;
    if (f.empty()) {
      batch->keys.push_back(CriteoMissingKey(j));
      batch->values.push_back(1.0f);
      continue;
    }
    uint64_t h = 0;
    for (char c : f) {
      const int d = HexDigit(c);
      if (d < 0) {
        batch->Truncate(rows_before);
        return Fail(bad, BadRowReason::kBadHash, column,
                    absl::StrCat("not a hex hash: ", QuoteToken(f)));
      }
      if (h >= (kCriteoHashLimit >> 4)) {  // one more digit would reach 2^55
        batch->Truncate(rows_before);
        return Fail(bad, BadRowReason::kBadHash, column,
                    absl::StrCat("hex hash wider than 55 bits: ", QuoteToken(f)));
      }
      h = (h << 4) | static_cast<uint64_t>(d);
    }
    batch->keys.push_back(CriteoKey(j, h));
    batch->values.push_back(1.0f);
  }
  batch->labels.push_back(label[0] == '1' ? 1.0f : 0.0f);
  batch->row_offsets.push_back(static_cast<int64_t>(batch->keys.size()));
  return true;
}

}  // namespace psd
