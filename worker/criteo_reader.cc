#include "worker/criteo_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// Hex digit values; -1 for every other byte.
struct HexTable {
  int8_t value[256];
  constexpr HexTable() : value() {
    for (int c = 0; c < 256; ++c) {
      value[c] = c >= '0' && c <= '9'   ? static_cast<int8_t>(c - '0')
                 : c >= 'a' && c <= 'f' ? static_cast<int8_t>(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? static_cast<int8_t>(c - 'A' + 10)
                                        : int8_t{-1};
    }
  }
};
constexpr HexTable kHex;

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
  const char* const line_end = line.data() + line.size();
  const char* p = line.data();
  // The next tab-separated field (the column count is known to be right).
  auto next = [&]() {
    const void* tab = std::memchr(p, '\t', line_end - p);
    const char* end = tab == nullptr ? line_end : static_cast<const char*>(tab);
    absl::string_view field(p, end - p);
    p = end + 1;
    return field;
  };
  const absl::string_view label = next();
  if (label != "0" && label != "1") {
    return Fail(bad, BadRowReason::kBadLabel, 1,
                absl::StrCat("label must be 0 or 1: ", QuoteToken(label)));
  }
  // Sized once, then written in place; a bad field truncates back.
  const size_t dense_at = batch->dense.size();
  batch->dense.resize(dense_at + layout.dense);
  float* dense = batch->dense.data() + dense_at;
  for (int j = 0; j < layout.dense; ++j) {
    const absl::string_view f = next();
    int64_t x = 0;
    if (!f.empty() && !ParseInt64(f, &x)) {
      batch->Truncate(rows_before);
      return Fail(bad, BadRowReason::kBadInteger, 2 + j,
                  absl::StrCat("not an integer: ", QuoteToken(f)));
    }
    dense[j] = CriteoDense(x);
  }
  const size_t keys_at = batch->keys.size();
  batch->keys.resize(keys_at + layout.categorical);
  batch->values.resize(keys_at + layout.categorical, 1.0f);
  uint64_t* keys = batch->keys.data() + keys_at;
  for (int j = 0; j < layout.categorical; ++j) {
    const absl::string_view f = next();
    const int column = 2 + layout.dense + j;
    if (f.empty()) {
      keys[j] = CriteoMissingKey(j);
      continue;
    }
    uint64_t h = 0;
    for (char c : f) {
      const int d = kHex.value[static_cast<unsigned char>(c)];
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
    keys[j] = CriteoKey(j, h);
  }
  batch->labels.push_back(label[0] == '1' ? 1.0f : 0.0f);
  batch->row_offsets.push_back(static_cast<int64_t>(batch->keys.size()));
  return true;
}

}  // namespace psd
