// psd::CtrModel: the click-through-rate models' forward and backward pass on one CtrBatch
// (worker/ctr_batch.h): logistic regression, a factorisation machine and a DLRM-style model.
//
// A model has two kinds of parameters:
// - table rows, one per sparse key, CtrRowDim floats each, kept by the servers' embedding table;
//   the worker pulls the rows of a batch's unique keys into rows() and pushes row_grads();
// - dense tensors (CtrDenseShapes), pulled into dense_param(t), pushed as dense_grad(t).
//
// The loss is binary cross-entropy on one logit per row, in the stable form
//   loss(z, y) = max(z, 0) - z y + log(1 + exp(-|z|)),   p = sigmoid(z),
// averaged over the batch's rows, so every gradient is a batch mean (dloss/dz = (p - y) / B).
//
// The models, for a row with dense features x (dense_dim) and sparse pairs (key k, value val_k):
// - logreg: z = b + sum_j x_j u_j + sum_k val_k w_k. Row of key k: [w_k].
// - fm:     logreg's z + 1/2 sum_f [(sum_k val_k v_k,f)^2 - sum_k (val_k v_k,f)^2], f < dim
//           (Rendle's O(dim n) form of sum over pairs k < k' of <v_k, v_k'> val_k val_k').
//           Row of key k: [w_k, v_k,0 .. v_k,dim-1].
// - dlrm:   one bag per field f: bag_f = sum (or, with mean_pooling, the mean) of val_k e_k
//           over the row's keys of field f (an empty bag is zeros; the mean divides by the
//           number of keys, not by their values); h = [x, bag_0, ..., bag_{F-1}]; z = MLP(h)
//           with `hidden` layers of `activation` and a linear last layer of width 1.
//           Row of key k: e_k (dim floats).
// A key's field is CriteoKeyField(key) when keys_have_fields, else 0. A key that occurs twice
// in a row counts twice. logreg and fm run as plain loops on the host (no Backend needed);
// dlrm runs its bags and MLP on the Backend (EmbeddingBag*, Gemm, BiasActivation,
// ActivationBackward, BiasGrad), staging through device buffers unless the backend is
// host-addressable, where the host spans are handed to the ops directly.
//
// Use: SetBatch, fill rows() and dense_param(t), then TrainStep (or Predict). One thread at a
// time; the Backend must outlive the model. After warm-up (batches of similar size), SetBatch
// and TrainStep allocate nothing.
#ifndef PSD_WORKER_CTR_MODEL_H_
#define PSD_WORKER_CTR_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kernels/backend.h"
#include "worker/ctr_batch.h"
#include "worker/unique_keys.h"

namespace psd {

enum class CtrModelType { kLogreg, kFm, kDlrm };

// "logreg", "fm", "dlrm".
absl::string_view CtrModelTypeName(CtrModelType type);

struct CtrModelConfig {
  CtrModelType type = CtrModelType::kLogreg;
  // Categorical fields (Criteo 26; libsvm data has no fields: 1, and every key is in field 0).
  int fields = 1;
  // true: a key's field is CriteoKeyField(key) (must be < fields); false: field 0.
  bool keys_have_fields = false;
  int dense_dim = 0;        // dense features per row (Criteo 13, libsvm 0)
  int dim = 8;              // fm: factor width; dlrm: embedding width
  std::vector<int> hidden;  // dlrm: the top MLP's hidden widths (output: 1 logit)
  kernels::Activation activation = kernels::Activation::kRelu;  // dlrm hidden activation
  bool mean_pooling = false;  // dlrm: bags are mean- rather than sum-pooled
  // unique_keys() come grouped by owning server, SparseOwner(key, key_groups), so that each
  // server's rows are one run of rows() (1: in order of first appearance).
  int key_groups = 1;
};

// Floats per table row: logreg 1 (w), fm 1 + dim (w then v), dlrm dim.
int CtrRowDim(const CtrModelConfig& c);

// The dense tensors' shapes, in order: logreg/fm: [dense_dim, 1] weight (omitted when
// dense_dim == 0) then [1] bias; dlrm: for each layer of sizes {dense_dim + fields * dim,
// hidden..., 1}: weight [in, out] row-major, then bias [out].
std::vector<std::vector<int64_t>> CtrDenseShapes(const CtrModelConfig& c);

class CtrModel {
 public:
  struct Result {
    double loss_sum = 0;  // summed loss over the rows; the mean loss is loss_sum / examples
    int64_t examples = 0;
  };

  // InvalidArgument on a bad config. `backend` may be null for logreg and fm.
  static absl::StatusOr<std::unique_ptr<CtrModel>> Create(const CtrModelConfig& c,
                                                          kernels::Backend* backend);
  ~CtrModel();

  const CtrModelConfig& config() const { return config_; }
  int row_dim() const { return row_dim_; }
  int num_dense() const { return static_cast<int>(dense_params_.size()); }

  // Takes a batch (copying what it needs): de-duplicates its keys into unique_keys() and sizes
  // rows() and row_grads(). InvalidArgument naming the row for an empty or malformed batch, a
  // label outside [0, 1], a dense width other than the model's, or a key whose field is >=
  // fields; the model has no batch then.
  absl::Status SetBatch(const CtrBatch& batch);
  absl::Span<const uint64_t> unique_keys() const { return unique_.keys(); }
  // For each key of the batch (in its order), the position of its row in unique_keys().
  absl::Span<const int32_t> key_index() const { return unique_.index(); }

  // [U, row_dim], U = unique_keys().size(): fill with the pulled rows before TrainStep/Predict.
  absl::Span<float> rows() { return absl::MakeSpan(rows_); }
  // Host parameters of dense tensor t (empty for a bad t): fill before TrainStep/Predict.
  absl::Span<float> dense_param(int t);

  // Forward and backward of the set batch. Afterwards row_grads() [U, row_dim] and
  // dense_grad(t) hold the batch-mean gradients, probabilities() the click probabilities.
  // mean_over > 0 averages the loss over that many rows instead of the batch's (a device's
  // slice of a larger batch: its gradients are its share of the whole batch's mean).
  // FailedPrecondition without a batch.
  absl::StatusOr<Result> TrainStep(int64_t mean_over = 0);
  // Forward only; fills probabilities().
  absl::StatusOr<Result> Predict();

  absl::Span<const float> row_grads() const { return row_grads_; }
  absl::Span<const float> dense_grad(int t) const;
  absl::Span<const float> probabilities() const { return probabilities_; }

 private:
  struct Layer;
  template <typename T>
  struct Mirror;

  CtrModel(const CtrModelConfig& c, kernels::Backend* backend);
  absl::StatusOr<Result> Run(bool train);
  // logreg and fm on the host.
  Result RunHost(bool train);
  // dlrm on the backend.
  absl::StatusOr<Result> RunDlrm(bool train);
  // Loss sum, probabilities and (train) dloss/dlogit of logits_ into dlogits_.
  double Score(bool train);

  CtrModelConfig config_;
  kernels::Backend* backend_;
  bool host_addressable_ = true;
  int row_dim_ = 0;
  bool has_batch_ = false;
  int64_t mean_over_ = 0;  // the current TrainStep's divisor of the loss

  // The batch.
  int64_t batch_rows_ = 0;
  std::vector<float> labels_;
  std::vector<float> dense_;
  std::vector<float> values_;
  std::vector<int64_t> row_offsets_;
  std::vector<int> key_fields_;
  UniqueKeys unique_;
  // dlrm: the batch's keys regrouped into bags (row r, field f) = bag r * fields + f.
  std::vector<int32_t> bag_index_;
  std::vector<float> bag_weights_;
  std::vector<int32_t> bag_offsets_;
  std::vector<int32_t> bag_cursor_;

  // Parameters, gradients and outputs on the host.
  std::vector<float> rows_, row_grads_;
  std::vector<std::vector<float>> dense_params_, dense_grads_;
  std::vector<float> logits_, dlogits_, probabilities_;
  std::vector<float> fm_sums_;     // fm: [B, dim], row r's sum_k val_k v_k,f
  std::vector<float> fm_squares_;  // fm: [dim], a row's sum_k (val_k v_k,f)^2

  // dlrm on the backend.
  std::vector<Layer> layers_;
  std::unique_ptr<Mirror<float>> d_rows_, d_row_grads_, d_dense_, d_logits_, d_dlogits_,
      d_bag_weights_;
  std::unique_ptr<Mirror<int32_t>> d_bag_index_, d_bag_offsets_;
  std::vector<Mirror<float>> d_params_, d_grads_;
  std::vector<float*> param_ptrs_, grad_ptrs_;  // where the ops find dense tensor t
  kernels::DeviceBuffer<float> bags_, dbags_;   // [B, fields * dim]
  kernels::Stream stream_;
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_MODEL_H_
