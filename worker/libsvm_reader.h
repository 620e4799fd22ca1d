// The libsvm text format, one row per line: `label idx:val idx:val ...`, separated by spaces
// or tabs. See docs/sparse.md, "Data".
#ifndef PSD_WORKER_LIBSVM_READER_H_
#define PSD_WORKER_LIBSVM_READER_H_

#include "absl/strings/string_view.h"
#include "worker/ctr_batch.h"

namespace psd {

// Parses one line (without its '\n'; a trailing '\r' is ignored) and appends its row to
// `batch` (dense_dim 0): the label (0 or -1 read as 0; 1 or +1 as 1), and one key per idx:val,
// key = idx (a decimal u64), value = val (a finite float), in the order written (neither
// sorted nor de-duplicated). A row with only a label has no keys. Columns are the
// whitespace-separated tokens, the label column 1. Returns false, with `bad` filled and
// `batch` as it was, if the line is not such a row.
bool ParseLibsvmLine(absl::string_view line, CtrBatch* batch, BadRow* bad);

}  // namespace psd

#endif  // PSD_WORKER_LIBSVM_READER_H_
