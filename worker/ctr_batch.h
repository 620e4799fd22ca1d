// What the click-through-rate readers (Criteo TSV, libsvm) produce: a batch of rows with
// labels, dense features and sparse u64 keys, and how a row that does not parse is described.
#ifndef PSD_WORKER_CTR_BATCH_H_
#define PSD_WORKER_CTR_BATCH_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace psd {

// Rows in compressed-sparse-row form. Row r has labels[r] (0 or 1), dense features
// dense[r * dense_dim .. + dense_dim), and sparse features keys/values[row_offsets[r] ..
// row_offsets[r + 1]). A Criteo row has exactly one key per categorical field, in field order
// (key j of the row is field j), value 1; a libsvm row has its idx:val pairs as written.
struct CtrBatch {
  int dense_dim = 0;
  std::vector<float> labels;
  std::vector<float> dense;
  std::vector<uint64_t> keys;
  std::vector<float> values;
  std::vector<int64_t> row_offsets = {0};

  int64_t rows() const { return static_cast<int64_t>(labels.size()); }
  // Empties the batch, keeping its memory for the next one.
  void Clear();
  // Drops rows from `rows` on (undoes a partly appended row).
  void Truncate(int64_t rows);
};

// OK when the batch's arrays agree: a row at least, rows x dense_dim dense values, row offsets
// from 0 to the key count that never decrease, a value per key, fewer than 2^31 keys. Else
// InvalidArgument saying what disagrees (labels and keys themselves are not checked).
absl::Status CheckBatchShape(const CtrBatch& batch);

// The Criteo key rule. A categorical field's hex hash h (at most 55 bits) in field f (0-based,
// below 256) is the key (f << 56) | h; an empty field is the field's missing key
// (f << 56) | (1 << 55). So equal hashes in different fields are different keys, and no hash
// equals a missing key.
inline constexpr int kMaxCriteoFields = 256;
inline constexpr uint64_t kCriteoHashLimit = uint64_t{1} << 55;
inline constexpr uint64_t CriteoKey(int field, uint64_t hash) {
  return (static_cast<uint64_t>(field) << 56) | hash;
}
inline constexpr uint64_t CriteoMissingKey(int field) {
  return (static_cast<uint64_t>(field) << 56) | kCriteoHashLimit;
}
inline constexpr int CriteoKeyField(uint64_t key) { return static_cast<int>(key >> 56); }
inline constexpr bool CriteoKeyMissing(uint64_t key) { return (key & kCriteoHashLimit) != 0; }
inline constexpr uint64_t CriteoKeyHash(uint64_t key) { return key & (kCriteoHashLimit - 1); }

// Why a row was rejected; the reader counts skipped rows per reason.
enum class BadRowReason {
  kEmptyLine,    // nothing on the line
  kColumnCount,  // too few or too many columns (Criteo)
  kBadLabel,     // not 0/1 (Criteo), not 0/1/-1/+1 (libsvm)
  kBadInteger,   // a Criteo integer feature that is not a decimal integer (or overflows)
  kBadHash,      // a Criteo categorical feature that is not a hex hash of at most 55 bits
  kBadFeature,   // a libsvm feature that is not idx:val
  kBadIndex,     // a libsvm idx that is not a decimal u64
  kBadValue,     // a libsvm val that is not a finite number
  kLineTooLong,  // longer than the reader's max_line_bytes
};
inline constexpr int kNumBadRowReasons = 9;
// "empty_line", "column_count", ... (for counters and logs).
absl::string_view BadRowReasonName(BadRowReason reason);

// One rejected row: the reason, the 1-based column (column 1 is the label), and a message
// such as "not a hex hash: 'zz'". The reader prefixes "file:line: column N: ".
struct BadRow {
  BadRowReason reason = BadRowReason::kEmptyLine;
  int column = 1;
  std::string message;
};

// What a reader does with a bad row: stop with an error naming it, or skip it and count it.
enum class BadRowPolicy { kError, kSkip };

using BadRowCounts = std::array<int64_t, kNumBadRowReasons>;

// The offending text quoted for a message: C-escaped, at most 40 bytes then "...".
std::string QuoteToken(absl::string_view token);

}  // namespace psd

#endif  // PSD_WORKER_CTR_BATCH_H_
