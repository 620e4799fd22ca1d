// The Criteo click-log layout, one row per line, tab-separated: the label (0 or 1), then
// `dense` integer features, then `categorical` features as hex hashes; any feature may be
// empty. See docs/sparse.md, "Data".
#ifndef PSD_WORKER_CRITEO_READER_H_
#define PSD_WORKER_CRITEO_READER_H_

#include "absl/strings/string_view.h"
#include "worker/ctr_batch.h"

namespace psd {

struct CriteoLayout {
  int dense = 13;        // integer features, columns 2 .. dense + 1
  int categorical = 26;  // hex-hash features, the columns after them (at most 256)
  int columns() const { return 1 + dense + categorical; }
};

// The dense feature of an integer x: log(1 + x) for x >= 0; a negative x is clamped to 0 (so
// gives 0), as is an empty field.
float CriteoDense(int64_t x);

// Parses one line (without its '\n'; a trailing '\r' is ignored) and appends its row to
// `batch`, whose dense_dim must be layout.dense: the label, layout.dense dense features
// (CriteoDense), and layout.categorical keys (the key rule of ctr_batch.h), each of value 1.
// Returns false, with `bad` filled and `batch` as it was, if the line is not such a row.
bool ParseCriteoLine(absl::string_view line, const CriteoLayout& layout, CtrBatch* batch,
                     BadRow* bad);

}  // namespace psd

#endif  // PSD_WORKER_CRITEO_READER_H_
