#include "tools/model_eval.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "common/placement.h"
#include "common/status_macros.h"
#include "kernels/select.h"
#include "tools/model_eval_sparse.h"
#include "worker/batch_plan.h"
#include "worker/idx_reader.h"
#include "worker/model.h"

namespace psd {
namespace {

// Examples per forward pass.
constexpr int64_t kEvalBatch = 1024;

std::string Shape(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The file's tensors must be those of the model its spec describes, in order.
absl::Status CheckTensors(const std::string& path, const ModelFile& file, const JobSpec& spec) {
  const std::vector<TensorInfo> expected = ModelTensors(spec.model);
  if (file.tensors.size() != expected.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", file.tensors.size(), " tensors, but its spec's model has ", expected.size()));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorInfo& t = file.tensors[i];
    if (t.name != expected[i].name || t.shape != expected[i].shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor ", i, " is ", t.name, " ", Shape(t.shape), ", but its spec's model has ",
          expected[i].name, " ", Shape(expected[i].shape)));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckData(const Dataset& data, const ModelSpec& model, const std::string& images,
                       const std::string& labels) {
  if (data.dim != model.input_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("model expects ", model.input_dim, " inputs but ", images, " has ", data.dim));
  }
  for (int64_t i = 0; i < data.count; ++i) {
    if (data.labels[i] >= model.num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat(labels, ": label ", static_cast<int>(data.labels[i]), " of example ", i,
                       " is not a class of the model (", model.num_classes, " classes)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EvalResult> EvaluateModelFile(const std::string& path, std::string images,
                                             std::string labels) {
  PSD_ASSIGN_OR_RETURN(ModelFile file, ReadModelFile(path));
  absl::StatusOr<JobSpec> spec = ParseJobSpec(file.spec_yaml, absl::StrCat(path, " (spec)"));
  if (!spec.ok()) return spec.status();
  PSD_RETURN_IF_ERROR(CheckTensors(path, file, *spec));
  if (spec->model.sparse()) {
    if (!images.empty() || !labels.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": a sparse model is scored on its spec's data.test_files, not on IDX files"));
    }
    return EvaluateSparseModel(path, file, *spec);
  }
  if (images.empty()) images = spec->data.test_images;
  if (labels.empty()) labels = spec->data.test_labels;
  PSD_ASSIGN_OR_RETURN(Dataset data, LoadIdxDataset(images, labels));
  PSD_RETURN_IF_ERROR(CheckData(data, spec->model, images, labels));

  PSD_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Backend> backend,
                       kernels::CreateBackend(kernels::DeviceKind::kCpu, 0));
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                       Model::Create(spec->model, backend.get(),
                                     static_cast<int>(std::min(data.count, kEvalBatch))));
  for (size_t t = 0; t < file.values.size(); ++t) {
    PSD_RETURN_IF_ERROR(model->SetParam(static_cast<uint32_t>(t), file.values[t]));
  }
  std::vector<int64_t> all(data.count);
  std::iota(all.begin(), all.end(), 0);
  std::vector<float> x(data.count * data.dim);
  std::vector<int32_t> y(data.count);
  FillBatch(data, all, spec->data.normalize, x.data(), y.data());
  PSD_ASSIGN_OR_RETURN(StepResult scored, model->Evaluate(x, y));
  EvalResult result;
  result.examples = scored.examples;
  result.accuracy = static_cast<double>(scored.correct) / scored.examples;
  result.loss = scored.loss_sum / scored.examples;
  return result;
}

std::string EvalLine(const std::string& path, const EvalResult& result) {
  if (result.auc > 0) {
    return absl::StrFormat("model %s: test_auc=%.4f test_logloss=%.4f examples=%d rows=%d", path,
                           result.auc, result.loss, result.examples, result.table_rows);
  }
  return absl::StrFormat("model %s: test_accuracy=%.4f test_loss=%.4f examples=%d", path,
                         result.accuracy, result.loss, result.examples);
}

}  // namespace psd
