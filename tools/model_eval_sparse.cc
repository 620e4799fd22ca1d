#include "tools/model_eval_sparse.h"

#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/select.h"
#include "server/embedding_table.h"
#include "server/sparse_store.h"
#include "server/table_checkpoint.h"
#include "worker/ctr_model.h"
#include "worker/ctr_trainer.h"

namespace psd {
namespace {

// How many servers exported the tables beside `model_path`: the spec's count, or, when the job
// ended on another (elastic servers), the one of the `.table-0-of-N` file there.
int ExportedTableServers(const std::string& model_path, int spec_servers) {
  std::error_code ec;
  if (std::filesystem::exists(absl::StrCat(model_path, ".table-0-of-", spec_servers), ec)) {
    return spec_servers;
  }
  const std::filesystem::path path(model_path);
  const std::string prefix = path.filename().string() + ".table-0-of-";
  int found = 0;
  for (const auto& e : std::filesystem::directory_iterator(path.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    int n = 0;
    if (absl::StartsWith(name, prefix) &&
        absl::SimpleAtoi(absl::string_view(name).substr(prefix.size()), &n) && n > 0) {
      if (found != 0 && n != found) return spec_servers;  // ambiguous: report the spec's
      found = n;
    }
  }
  return found > 0 ? found : spec_servers;
}

// Every server's exported rows, by key: what evaluation pulls (it never pushes).
class ExportedRows : public RowExchange {
 public:
  absl::Status Load(const std::string& model_path, const JobSpec& spec) {
    const int servers = ExportedTableServers(model_path, spec.cluster.servers);
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
  absl::Status Pull(absl::Span<const uint64_t> keys, int64_t, int, bool,
                    absl::Span<float> out) override {
    for (size_t i = 0; i < keys.size(); ++i) {
      absl::Span<float> row = out.subspan(i * dim_, dim_);
      auto it = index_.find(keys[i]);
      if (it == index_.end()) {
        InitialRow(options_, keys[i], row);
      } else {
        std::copy(values_.begin() + it->second, values_.begin() + it->second + dim_, row.begin());
      }
    }
    return absl::OkStatus();
  }
  absl::Status Push(absl::Span<const uint64_t>, absl::Span<const float>, int, int64_t) override {
    return absl::FailedPreconditionError("psdctl eval pushes no gradients");
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
  PSD_ASSIGN_OR_RETURN(CtrEval e, EvaluateCtr(test, 0, model.get(), &rows));
  EvalResult result;
  result.examples = test.rows;
  result.auc = e.auc;
  result.loss = e.logloss;
  result.accuracy = e.accuracy;
  result.table_rows = static_cast<int64_t>(rows.rows());
  return result;
}

}  // namespace psd
