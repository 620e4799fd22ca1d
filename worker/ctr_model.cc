#include "worker/ctr_model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "common/status_macros.h"

namespace psd {

using kernels::CopyKind;

// A host vector and, on a backend that is not host-addressable, its device copy (grown, never
// shrunk). On a host-addressable backend the ops read and write the host vector itself.
template <typename T>
struct CtrModel::Mirror {
  kernels::DeviceBuffer<T> dev;

  // Room for n elements on the device; returns where the ops find them.
  absl::StatusOr<T*> Device(kernels::Backend& b, std::vector<T>& host, int64_t n) {
    if (b.host_addressable()) return host.data();
    if (dev.size() < n) {
      const int64_t size = std::max<int64_t>(n, 2 * dev.size());
      dev.Reset();
      PSD_ASSIGN_OR_RETURN(dev, b.AllocateDevice<T>(size));
    }
    return dev.data();
  }
  // Device(), after enqueueing the copy of host[0, n) there.
  absl::StatusOr<T*> Upload(kernels::Backend& b, const kernels::Stream& s, std::vector<T>& host,
                            int64_t n) {
    PSD_ASSIGN_OR_RETURN(T * d, Device(b, host, n));
    if (!b.host_addressable()) {
      PSD_RETURN_IF_ERROR(b.CopyAsync(s, CopyKind::kHostToDevice, d, host.data(), n));
    }
    return d;
  }
  // Enqueues the copy of the device's n elements back into host.
  absl::Status Download(kernels::Backend& b, const kernels::Stream& s, std::vector<T>& host,
                        int64_t n) {
    if (b.host_addressable() || n == 0) return absl::OkStatus();
    return b.CopyAsync(s, CopyKind::kDeviceToHost, host.data(), dev.data(), n);
  }
};

// One dense layer of the dlrm MLP: y = act(x W + b), the last layer without activation.
struct CtrModel::Layer {
  int64_t in = 0, out = 0;
  kernels::DeviceBuffer<float> y, dz;  // [B, out]: output, dloss/d(pre-activation)
};

namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ctr model: ", what));
}

// Grows a scratch buffer to at least n elements.
absl::Status Reserve(kernels::Backend& b, kernels::DeviceBuffer<float>& buf, int64_t n) {
  if (buf.size() >= n) return absl::OkStatus();
  const int64_t size = std::max<int64_t>(n, 2 * buf.size());
  buf.Reset();
  PSD_ASSIGN_OR_RETURN(buf, b.AllocateDevice<float>(size));
  return absl::OkStatus();
}

// The job spec's model of `c`: its layer sizes and dense tensors are the job's
// (ModelSpec::LayerSizes, ModelTensors in common/placement.h), so the servers' chunks fit.
ModelSpec SpecOf(const CtrModelConfig& c) {
  ModelSpec m;
  m.type = c.type == CtrModelType::kFm     ? ModelType::kFm
           : c.type == CtrModelType::kDlrm ? ModelType::kDlrm
                                           : ModelType::kLogreg;
  m.input_dim = c.dense_dim;
  m.sparse_fields = c.fields;
  m.embedding.dim = c.dim;
  m.hidden = c.hidden;
  return m;
}

std::vector<int> DlrmSizes(const CtrModelConfig& c) { return SpecOf(c).LayerSizes(); }

// The stable logistic loss of logit z against label y, and sigmoid(z).
inline double Logistic(double z, double y, double* p) {
  if (z >= 0) {
    const double e = std::exp(-z);
    *p = 1.0 / (1.0 + e);
    return z - z * y + std::log1p(e);
  }
  const double e = std::exp(z);
  *p = e / (1.0 + e);
  return -z * y + std::log1p(e);
}

}  // namespace

absl::string_view CtrModelTypeName(CtrModelType type) {
  switch (type) {
    case CtrModelType::kLogreg:
      return "logreg";
    case CtrModelType::kFm:
      return "fm";
    case CtrModelType::kDlrm:
      return "dlrm";
  }
  return "unknown";
}

int CtrRowDim(const CtrModelConfig& c) {
  switch (c.type) {
    case CtrModelType::kLogreg:
      return 1;
    case CtrModelType::kFm:
      return 1 + c.dim;
    case CtrModelType::kDlrm:
      return c.dim;
  }
  return 0;
}

std::vector<std::vector<int64_t>> CtrDenseShapes(const CtrModelConfig& c) {
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorInfo& t : ModelTensors(SpecOf(c))) shapes.push_back(t.shape);
  return shapes;
}

CtrModel::CtrModel(const CtrModelConfig& c, kernels::Backend* backend)
    : config_(c), backend_(backend) {}
CtrModel::~CtrModel() = default;

absl::StatusOr<std::unique_ptr<CtrModel>> CtrModel::Create(const CtrModelConfig& c,
                                                           kernels::Backend* backend) {
  const absl::string_view name = CtrModelTypeName(c.type);
  if (name == "unknown") return Invalid("unknown model type");
  if (c.fields < 1 || c.fields > kMaxCriteoFields) {
    return Invalid(absl::StrCat("fields must be in [1, ", kMaxCriteoFields, "], got ", c.fields));
  }
  if (c.dense_dim < 0) return Invalid(absl::StrCat("dense_dim must be >= 0, got ", c.dense_dim));
  if (c.type != CtrModelType::kLogreg && c.dim < 1) {
    return Invalid(absl::StrCat(name, ": dim must be at least 1, got ", c.dim));
  }
  if (c.type == CtrModelType::kDlrm) {
    if (backend == nullptr) return Invalid("dlrm needs a compute backend");
    for (size_t i = 0; i < c.hidden.size(); ++i) {
      if (c.hidden[i] < 1) {
        return Invalid(
            absl::StrCat("dlrm: hidden layer ", i, " needs at least 1 unit, got ", c.hidden[i]));
      }
    }
    if (int64_t{c.fields} * c.dim + c.dense_dim > (int64_t{1} << 24)) {
      return Invalid("dlrm: the MLP input (dense_dim + fields * dim) is too wide");
    }
  }
  std::unique_ptr<CtrModel> m(new CtrModel(c, backend));
  m->row_dim_ = CtrRowDim(c);
  m->host_addressable_ = backend == nullptr || backend->host_addressable();
  for (const std::vector<int64_t>& shape : CtrDenseShapes(c)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    m->dense_params_.emplace_back(static_cast<size_t>(n), 0.0f);
    m->dense_grads_.emplace_back(static_cast<size_t>(n), 0.0f);
  }
  if (c.type == CtrModelType::kDlrm) {
    kernels::Backend& b = *backend;
    PSD_ASSIGN_OR_RETURN(m->stream_, b.CreateStream());
    const std::vector<int> sizes = DlrmSizes(c);
    m->layers_.resize(sizes.size() - 1);
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      m->layers_[l].in = sizes[l];
      m->layers_[l].out = sizes[l + 1];
    }
    m->d_params_.resize(m->dense_params_.size());
    m->param_ptrs_.resize(m->dense_params_.size());
    m->grad_ptrs_.resize(m->dense_params_.size());
    m->d_grads_.resize(m->dense_params_.size());
    m->d_rows_ = std::make_unique<Mirror<float>>();
    m->d_row_grads_ = std::make_unique<Mirror<float>>();
    m->d_dense_ = std::make_unique<Mirror<float>>();
    m->d_logits_ = std::make_unique<Mirror<float>>();
    m->d_dlogits_ = std::make_unique<Mirror<float>>();
    m->d_bag_weights_ = std::make_unique<Mirror<float>>();
    m->d_bag_index_ = std::make_unique<Mirror<int32_t>>();
    m->d_bag_offsets_ = std::make_unique<Mirror<int32_t>>();
  }
  if (c.type == CtrModelType::kFm) m->fm_squares_.resize(static_cast<size_t>(c.dim));
  return m;
}

absl::Span<float> CtrModel::dense_param(int t) {
  if (t < 0 || t >= num_dense()) return {};
  return absl::MakeSpan(dense_params_[t]);
}

absl::Span<const float> CtrModel::dense_grad(int t) const {
  if (t < 0 || t >= num_dense()) return {};
  return dense_grads_[t];
}

absl::Status CtrModel::SetBatch(const CtrBatch& batch) {
  has_batch_ = false;
  if (absl::Status shape = CheckBatchShape(batch); !shape.ok()) return Invalid(shape.message());
  const int64_t rows = batch.rows();
  const int64_t n = static_cast<int64_t>(batch.keys.size());
  if (batch.dense_dim != config_.dense_dim) {
    return Invalid(absl::StrCat("the batch has ", batch.dense_dim,
                                " dense features per row, the model expects ", config_.dense_dim));
  }
  if (rows * config_.fields >= (int64_t{1} << 31)) {
    return Invalid(
        absl::StrCat("the batch is too large (", rows, " rows of ", config_.fields, " fields)"));
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float y = batch.labels[r];
    if (!(y >= 0.0f && y <= 1.0f)) {
      return Invalid(absl::StrCat("row ", r, ": label ", y, " is outside [0, 1]"));
    }
  }
  key_fields_.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = batch.row_offsets[r]; j < batch.row_offsets[r + 1]; ++j) {
      const uint64_t key = batch.keys[j];
      const int f = config_.keys_have_fields ? CriteoKeyField(key) : 0;
      if (f >= config_.fields) {
        return Invalid(absl::StrFormat("row %d: key %#x is in field %d, the model has %d fields", r,
                                       key, f, config_.fields));
      }
      key_fields_[j] = f;
    }
  }

  batch_rows_ = rows;
  labels_.assign(batch.labels.begin(), batch.labels.end());
  dense_.assign(batch.dense.begin(), batch.dense.end());
  values_.assign(batch.values.begin(), batch.values.end());
  row_offsets_.assign(batch.row_offsets.begin(), batch.row_offsets.end());
  const int groups = config_.key_groups;
  unique_.Build(batch.keys, groups, [groups](uint64_t key) { return SparseOwner(key, groups); });
  const size_t unique = unique_.keys().size();
  rows_.resize(unique * static_cast<size_t>(row_dim_));
  row_grads_.resize(rows_.size());
  logits_.resize(static_cast<size_t>(rows));
  dlogits_.resize(static_cast<size_t>(rows));
  probabilities_.resize(static_cast<size_t>(rows));
  if (config_.type == CtrModelType::kFm) {
    fm_sums_.resize(static_cast<size_t>(rows) * static_cast<size_t>(config_.dim));
  }

  if (config_.type == CtrModelType::kDlrm) {
    // Counting sort of each row's keys by field: bag (r, f) = r * fields + f, stable.
    const int fields = config_.fields;
    const size_t bags = static_cast<size_t>(rows) * static_cast<size_t>(fields);
    bag_offsets_.assign(bags + 1, 0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = row_offsets_[r]; j < row_offsets_[r + 1]; ++j) {
        ++bag_offsets_[static_cast<size_t>(r * fields + key_fields_[j]) + 1];
      }
    }
    for (size_t b = 0; b < bags; ++b) bag_offsets_[b + 1] += bag_offsets_[b];
    bag_cursor_.assign(bag_offsets_.begin(), bag_offsets_.end() - 1);
    bag_index_.resize(static_cast<size_t>(n));
    bag_weights_.resize(static_cast<size_t>(n));
    const absl::Span<const int32_t> index = unique_.index();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = row_offsets_[r]; j < row_offsets_[r + 1]; ++j) {
        const int32_t at = bag_cursor_[static_cast<size_t>(r * fields + key_fields_[j])]++;
        bag_index_[at] = index[j];
        bag_weights_[at] = values_[j];
      }
    }
  }
  has_batch_ = true;
  return absl::OkStatus();
}

absl::StatusOr<CtrModel::Result> CtrModel::TrainStep(int64_t mean_over) {
  mean_over_ = mean_over > 0 ? mean_over : batch_rows_;
  return Run(true);
}
absl::StatusOr<CtrModel::Result> CtrModel::Predict() {
  mean_over_ = batch_rows_;
  return Run(false);
}

absl::StatusOr<CtrModel::Result> CtrModel::Run(bool train) {
  if (!has_batch_) return absl::FailedPreconditionError("ctr model: no batch is set");
  if (config_.type == CtrModelType::kDlrm) return RunDlrm(train);
  return RunHost(train);
}

double CtrModel::Score(bool train) {
  double loss = 0;
  const double inv = 1.0 / static_cast<double>(mean_over_);
  for (int64_t r = 0; r < batch_rows_; ++r) {
    double p = 0;
    loss += Logistic(logits_[r], labels_[r], &p);
    probabilities_[r] = static_cast<float>(p);
    if (train) dlogits_[r] = static_cast<float>((p - labels_[r]) * inv);
  }
  return loss;
}

CtrModel::Result CtrModel::RunHost(bool train) {
  const int dd = config_.dense_dim;
  const int k = config_.type == CtrModelType::kFm ? config_.dim : 0;
  const int rd = row_dim_;
  const float* u = dd > 0 ? dense_params_[0].data() : nullptr;
  const float bias = dense_params_.back()[0];
  const absl::Span<const int32_t> index = unique_.index();
  const float* rows = rows_.data();
  float* sums = fm_sums_.data();
  float* squares = fm_squares_.data();

  // Forward: logits.
  for (int64_t r = 0; r < batch_rows_; ++r) {
    double z = bias;
    const float* x = dense_.data() + r * dd;
    for (int j = 0; j < dd; ++j) z += double{x[j]} * u[j];
    const int64_t begin = row_offsets_[r], end = row_offsets_[r + 1];
    for (int64_t j = begin; j < end; ++j) z += double{values_[j]} * rows[int64_t{index[j]} * rd];
    if (k > 0) {
      // The row's S_f = sum_k val_k v_k,f (kept for backward) and sum_k (val_k v_k,f)^2.
      float* __restrict__ sum = sums + r * k;
      std::fill_n(sum, k, 0.0f);
      std::fill_n(squares, k, 0.0f);
      for (int64_t j = begin; j < end; ++j) {
        const float* __restrict__ v = rows + int64_t{index[j]} * rd + 1;
        const float val = values_[j];
        for (int f = 0; f < k; ++f) {
          const float t = val * v[f];
          sum[f] += t;
          squares[f] += t * t;
        }
      }
      double pairs = 0;
      for (int f = 0; f < k; ++f) pairs += double{sum[f]} * sum[f] - squares[f];
      z += 0.5 * pairs;
    }
    logits_[r] = static_cast<float>(z);
  }
  Result result{Score(train), batch_rows_};
  if (!train) return result;

  // Backward.
  std::fill(row_grads_.begin(), row_grads_.end(), 0.0f);
  for (std::vector<float>& g : dense_grads_) std::fill(g.begin(), g.end(), 0.0f);
  float* du = dd > 0 ? dense_grads_[0].data() : nullptr;
  double dbias = 0;
  float* grads = row_grads_.data();
  for (int64_t r = 0; r < batch_rows_; ++r) {
    const float g = dlogits_[r];
    dbias += g;
    const float* x = dense_.data() + r * dd;
    for (int j = 0; j < dd; ++j) du[j] += g * x[j];
    const int64_t begin = row_offsets_[r], end = row_offsets_[r + 1];
    for (int64_t j = begin; j < end; ++j) grads[int64_t{index[j]} * rd] += g * values_[j];
    if (k > 0) {
      // d z / d v_k,f = val_k (S_f - val_k v_k,f).
      const float* __restrict__ sum = sums + r * k;
      for (int64_t j = begin; j < end; ++j) {
        const int64_t at = int64_t{index[j]} * rd + 1;
        const float* v = rows + at;
        float* dv = grads + at;
        const float gv = g * values_[j], val = values_[j];
        for (int f = 0; f < k; ++f) dv[f] += gv * (sum[f] - val * v[f]);
      }
    }
  }
  dense_grads_.back()[0] = static_cast<float>(dbias);
  return result;
}

absl::StatusOr<CtrModel::Result> CtrModel::RunDlrm(bool train) {
  kernels::Backend& b = *backend_;
  const kernels::Stream& s = stream_;
  const int64_t batch = batch_rows_;
  const int64_t dd = config_.dense_dim;
  const int64_t dim = config_.dim;
  const int64_t bag_width = int64_t{config_.fields} * dim;
  const int64_t num_bags = batch * config_.fields;
  const int64_t unique = static_cast<int64_t>(unique_.keys().size());
  const int64_t n = static_cast<int64_t>(bag_index_.size());
  const bool mean = config_.mean_pooling;
  const kernels::Activation act = config_.activation;

  // Stage the inputs and parameters.
  PSD_ASSIGN_OR_RETURN(float* rows, d_rows_->Upload(b, s, rows_, unique * dim));
  PSD_ASSIGN_OR_RETURN(int32_t * index, d_bag_index_->Upload(b, s, bag_index_, n));
  PSD_ASSIGN_OR_RETURN(float* weights, d_bag_weights_->Upload(b, s, bag_weights_, n));
  PSD_ASSIGN_OR_RETURN(int32_t * offsets, d_bag_offsets_->Upload(b, s, bag_offsets_, num_bags + 1));
  PSD_ASSIGN_OR_RETURN(float* dense, d_dense_->Upload(b, s, dense_, batch * dd));
  std::vector<float*>& params = param_ptrs_;
  for (size_t t = 0; t < params.size(); ++t) {
    PSD_ASSIGN_OR_RETURN(
        params[t],
        d_params_[t].Upload(b, s, dense_params_[t], static_cast<int64_t>(dense_params_[t].size())));
  }
  PSD_RETURN_IF_ERROR(Reserve(b, bags_, batch * bag_width));
  for (Layer& layer : layers_) {
    PSD_RETURN_IF_ERROR(Reserve(b, layer.y, batch * layer.out));
    if (train) PSD_RETURN_IF_ERROR(Reserve(b, layer.dz, batch * layer.out));
  }

  // Forward: bags, then the MLP on [dense, bags] (layer 0's weight split in its dense and bag
  // parts, so the concatenation is never built).
  PSD_RETURN_IF_ERROR(b.EmbeddingBagForward(s, rows, unique, dim, index, weights, offsets, num_bags,
                                            mean, bags_.data()));
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    const float* w = params[2 * l];
    if (l == 0) {
      if (dd > 0) {
        PSD_RETURN_IF_ERROR(b.Gemm(s, false, false, batch, layer.out, dd, 1.0f, dense, dd, w,
                                   layer.out, 0.0f, layer.y.data(), layer.out));
      }
      PSD_RETURN_IF_ERROR(b.Gemm(s, false, false, batch, layer.out, bag_width, 1.0f, bags_.data(),
                                 bag_width, w + dd * layer.out, layer.out, dd > 0 ? 1.0f : 0.0f,
                                 layer.y.data(), layer.out));
    } else {
      const Layer& prev = layers_[l - 1];
      PSD_RETURN_IF_ERROR(b.Gemm(s, false, false, batch, layer.out, layer.in, 1.0f, prev.y.data(),
                                 layer.in, w, layer.out, 0.0f, layer.y.data(), layer.out));
    }
    if (l + 1 == layers_.size()) {
      PSD_RETURN_IF_ERROR(b.BiasAdd(s, batch, layer.out, params[2 * l + 1], layer.y.data()));
    } else {
      PSD_RETURN_IF_ERROR(
          b.BiasActivation(s, act, batch, layer.out, params[2 * l + 1], layer.y.data()));
    }
  }
  // The last layer's y is [B, 1]: the logits.
  if (b.host_addressable()) {
    std::copy_n(layers_.back().y.data(), batch, logits_.data());
  } else {
    PSD_RETURN_IF_ERROR(
        b.CopyAsync(s, CopyKind::kDeviceToHost, logits_.data(), layers_.back().y.data(), batch));
    PSD_RETURN_IF_ERROR(b.Synchronize(s));
  }
  Result result{Score(train), batch};
  if (!train) return result;

  // Backward, last layer first; layer l's dz holds dloss/d(pre-activation).
  PSD_ASSIGN_OR_RETURN(float* dlogits, d_dlogits_->Upload(b, s, dlogits_, batch));
  std::vector<float*>& grads = grad_ptrs_;
  for (size_t t = 0; t < grads.size(); ++t) {
    PSD_ASSIGN_OR_RETURN(
        grads[t],
        d_grads_[t].Device(b, dense_grads_[t], static_cast<int64_t>(dense_grads_[t].size())));
  }
  for (size_t l = layers_.size(); l-- > 0;) {
    Layer& layer = layers_[l];
    const float* dz = l + 1 == layers_.size() ? dlogits : layer.dz.data();
    float* dw = grads[2 * l];
    PSD_RETURN_IF_ERROR(b.BiasGrad(s, batch, layer.out, dz, grads[2 * l + 1]));
    if (l > 0) {
      Layer& prev = layers_[l - 1];
      PSD_RETURN_IF_ERROR(b.Gemm(s, true, false, layer.in, layer.out, batch, 1.0f, prev.y.data(),
                                 layer.in, dz, layer.out, 0.0f, dw, layer.out));
      // dloss/d(prev output) = dz W^T, then through prev's activation.
      PSD_RETURN_IF_ERROR(b.Gemm(s, false, true, batch, layer.in, layer.out, 1.0f, dz, layer.out,
                                 params[2 * l], layer.out, 0.0f, prev.dz.data(), layer.in));
      PSD_RETURN_IF_ERROR(b.ActivationBackward(s, act, batch * layer.in, prev.y.data(),
                                               prev.dz.data(), prev.dz.data()));
      continue;
    }
    if (dd > 0) {
      PSD_RETURN_IF_ERROR(b.Gemm(s, true, false, dd, layer.out, batch, 1.0f, dense, dd, dz,
                                 layer.out, 0.0f, dw, layer.out));
    }
    PSD_RETURN_IF_ERROR(b.Gemm(s, true, false, bag_width, layer.out, batch, 1.0f, bags_.data(),
                               bag_width, dz, layer.out, 0.0f, dw + dd * layer.out, layer.out));
    // dloss/d(bags) = dz W_bags^T, scattered into the rows.
    PSD_RETURN_IF_ERROR(Reserve(b, dbags_, batch * bag_width));
    PSD_RETURN_IF_ERROR(b.Gemm(s, false, true, batch, bag_width, layer.out, 1.0f, dz, layer.out,
                               params[0] + dd * layer.out, layer.out, 0.0f, dbags_.data(),
                               bag_width));
  }
  PSD_ASSIGN_OR_RETURN(float* drows, d_row_grads_->Device(b, row_grads_, unique * dim));
  PSD_RETURN_IF_ERROR(b.Fill(s, unique * dim, 0.0f, drows));
  PSD_RETURN_IF_ERROR(b.EmbeddingBagBackward(s, dbags_.data(), unique, dim, index, weights, offsets,
                                             num_bags, mean, drows));
  PSD_RETURN_IF_ERROR(d_row_grads_->Download(b, s, row_grads_, unique * dim));
  for (size_t t = 0; t < grads.size(); ++t) {
    PSD_RETURN_IF_ERROR(
        d_grads_[t].Download(b, s, dense_grads_[t], static_cast<int64_t>(dense_grads_[t].size())));
  }
  PSD_RETURN_IF_ERROR(b.Synchronize(s));
  return result;
}

}  // namespace psd
