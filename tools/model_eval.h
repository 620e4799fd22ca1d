// `psdctl eval`: a model file (common/model_file.h) scored on a labelled IDX data set on the
// CPU backend.
#ifndef PSD_TOOLS_MODEL_EVAL_H_
#define PSD_TOOLS_MODEL_EVAL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace psd {

struct EvalResult {
  double accuracy = 0;
  double loss = 0;  // mean cross-entropy
  int64_t examples = 0;
  // Sparse models: the exact test AUC (loss is then the log loss) and the rows exported.
  double auc = 0;
  int64_t table_rows = 0;
};

// Loads the model file at `path` and evaluates it on `images` and `labels` (IDX files); empty
// paths: the test set named by the spec inside the model file. A sparse model is scored on
// its spec's test files with the servers' exported rows (tools/model_eval_sparse.h). Errors are one
// line naming what was wrong, e.g. "model expects 784 inputs but F has 1024".
absl::StatusOr<EvalResult> EvaluateModelFile(const std::string& path, std::string images,
                                             std::string labels);

// "model <path>: test_accuracy=0.8812 test_loss=0.3321 examples=10000"; for a sparse model
// "model <path>: test_auc=0.7801 test_logloss=0.4502 examples=20000 rows=123456".
std::string EvalLine(const std::string& path, const EvalResult& result);

}  // namespace psd

#endif  // PSD_TOOLS_MODEL_EVAL_H_
