#include "tools/model_eval_sparse.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/auc.h"
#include "common/status_macros.h"
#include "kernels/select.h"
#include "server/embedding_table.h"
#include "server/sparse_store.h"
#include "server/table_checkpoint.h"
#include "worker/ctr_model.h"
#include "worker/ctr_trainer.h"

namespace psd {
namespace {

// Every server's exported rows, by key.
class ExportedRows {
 public:
  absl::Status Load(const std::string& model_path, const JobSpec& spec) {
    const int servers = spec.cluster.servers;
    dim_ = spec.model.RowDim();
    options_ = TableOptionsFor(spec);
    for (int rank = 0; rank < servers; ++rank) {
      const std::string table = absl::StrCat(model_path, ".table-", rank, "-of-", servers);
      absl::StatusOr<TableSnapshot> snap = ReadTableFile(table);
      if (!snap.ok()) {
        return absl::Status(snap.status().code(),
                            absl::StrCat(table, " (server ", rank,
                                         "'s embedding rows): ", snap.status().message()));
      }
      if (snap->header.dim != dim_) {
        return absl::DataLossError(
            absl::StrCat(table, ": rows of ", snap->header.dim, " floats, the model's are ", dim_));
      }
      for (size_t i = 0; i < snap->keys.size(); ++i) {
        index_[snap->keys[i]] = values_.size();
        values_.insert(values_.end(), snap->values.begin() + i * dim_,
                       snap->values.begin() + (i + 1) * dim_);
      }
    }
    return absl::OkStatus();
  }
  // A key's row; one no server holds has its initial value, as on a server.
  void Fill(absl::Span<const uint64_t> keys, absl::Span<float> out) const {
    for (size_t i = 0; i < keys.size(); ++i) {
      absl::Span<float> row = out.subspan(i * dim_, dim_);
      auto it = index_.find(keys[i]);
      if (it == index_.end()) {
        InitialRow(options_, keys[i], row);
      } else {
        std::copy(values_.begin() + it->second, values_.begin() + it->second + dim_, row.begin());
      }
    }
  }
  size_t rows() const { return index_.size(); }

 private:
  int dim_ = 0;
  TableOptions options_;
  absl::flat_hash_map<uint64_t, size_t> index_;
  std::vector<float> values_;
};

}  // namespace

absl::StatusOr<EvalResult> EvaluateSparseModel(const std::string& path, const ModelFile& file,
                                               const JobSpec& spec) {
  if (spec.data.test_files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": its spec names no data.test_files to score on"));
  }
  ExportedRows rows;
  PSD_RETURN_IF_ERROR(rows.Load(path, spec));
  PSD_ASSIGN_OR_RETURN(CtrTestSet test, LoadCtrTestSet(spec));
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Backend> backend,
                       kernels::CreateBackend(kernels::DeviceKind::kCpu, 0));
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<CtrModel> model,
                       CtrModel::Create(CtrConfigFor(spec), backend.get()));
  for (int t = 0; t < model->num_dense(); ++t) {
    absl::Span<float> param = model->dense_param(t);
    if (param.size() != file.values[t].size()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor ", t, " holds ",
                                                     file.values[t].size(), " values, the model ",
                                                     param.size()));
    }
    std::copy(file.values[t].begin(), file.values[t].end(), param.begin());
  }
  std::vector<float> probs, labels;
  double loss_sum = 0;
  int64_t correct = 0;
  for (const CtrBatch& b : test.batches) {
    PSD_RETURN_IF_ERROR(model->SetBatch(b));
    rows.Fill(model->unique_keys(), model->rows());
    PSD_ASSIGN_OR_RETURN(CtrModel::Result r, model->Predict());
    loss_sum += r.loss_sum;
    const absl::Span<const float> p = model->probabilities();
    for (int64_t i = 0; i < b.rows(); ++i) {
      correct += (p[i] >= 0.5f) == (b.labels[i] >= 0.5f);
      probs.push_back(p[i]);
      labels.push_back(b.labels[i]);
    }
  }
  EvalResult result;
  result.examples = test.rows;
  PSD_ASSIGN_OR_RETURN(result.auc, ExactAuc(probs, labels));
  result.loss = loss_sum / std::max<int64_t>(1, test.rows);
  result.accuracy = static_cast<double>(correct) / std::max<int64_t>(1, test.rows);
  result.table_rows = static_cast<int64_t>(rows.rows());
  return result;
}

}  // namespace psd
