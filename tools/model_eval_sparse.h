// `psdctl eval` of a sparse model (logreg, fm, dlrm): the model file's dense tensors and the
// embedding rows the servers exported beside it (<model>.table-<rank>-of-<n>), scored on the
// test files its spec names, on the CPU.
#ifndef PSD_TOOLS_MODEL_EVAL_SPARSE_H_
#define PSD_TOOLS_MODEL_EVAL_SPARSE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "tools/model_eval.h"

namespace psd {

// Errors name the missing or damaged table file, or the test files' bad row.
absl::StatusOr<EvalResult> EvaluateSparseModel(const std::string& path, const ModelFile& file,
                                               const JobSpec& spec);

}  // namespace psd

#endif  // PSD_TOOLS_MODEL_EVAL_SPARSE_H_
