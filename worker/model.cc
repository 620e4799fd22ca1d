#include "worker/model.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace psd {

using kernels::CopyKind;

// One parameter tensor: device values, gradient, optimizer state, host staging and the events
// that order the streams around it.
struct Model::Tensor {
  kernels::DeviceBuffer<float> param, grad, velocity;
  kernels::HostBuffer<float> host_param, host_grad;  // empty when the backend is host-addressable
  kernels::Event uploaded;                           // HostParam -> param finished
  kernels::Event grad_done;                          // the compute stream wrote grad
  kernels::Event grad_copied;                        // grad -> HostGrad finished
};

// One dense layer Y = act(X·W + b); the last layer has no activation (its Y are the logits).
struct Model::Layer {
  int64_t in = 0, out = 0;
  uint32_t weight = 0, bias = 0;    // tensor ids
  kernels::DeviceBuffer<float> y;   // [max_batch, out]: the layer's output after activation
  kernels::DeviceBuffer<float> dz;  // [max_batch, out]: dLoss/d(pre-activation)
};

namespace {

kernels::Activation KernelActivation(Activation a) {
  switch (a) {
    case Activation::kTanh:
      return kernels::Activation::kTanh;
    case Activation::kSigmoid:
      return kernels::Activation::kSigmoid;
    case Activation::kRelu:
      break;
  }
  return kernels::Activation::kRelu;
}

}  // namespace

Model::Model(kernels::Backend* backend) : backend_(backend) {}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const ModelSpec& spec,
                                                     kernels::Backend* backend, int max_batch) {
  if (backend == nullptr) return absl::InvalidArgumentError("model: no compute backend");
  if (max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: max_batch must be at least 1, got ", max_batch));
  }
  const std::vector<int> sizes = spec.LayerSizes();
  for (int size : sizes) {
    if (size < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("model: every layer needs at least 1 unit, got ", size));
    }
  }
  std::unique_ptr<Model> model(new Model(backend));
  model->max_batch_ = max_batch;
  model->activation_ = KernelActivation(spec.activation);
  PSD_RETURN_IF_ERROR(model->Allocate(spec));
  return model;
}

absl::Status Model::Allocate(const ModelSpec& spec) {
  kernels::Backend& b = *backend_;
  host_addressable_ = b.host_addressable();
  input_dim_ = spec.input_dim;
  num_classes_ = spec.num_classes;
  tensors_ = ModelTensors(spec);
  params_.resize(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    Tensor& t = params_[i];
    const int64_t n = tensors_[i].size;
    PSD_ASSIGN_OR_RETURN(t.param, b.AllocateDevice<float>(n));
    PSD_ASSIGN_OR_RETURN(t.grad, b.AllocateDevice<float>(n));
    if (!host_addressable_) {
      PSD_ASSIGN_OR_RETURN(t.host_param, b.AllocateHost<float>(n));
      PSD_ASSIGN_OR_RETURN(t.host_grad, b.AllocateHost<float>(n));
    }
    PSD_ASSIGN_OR_RETURN(t.uploaded, b.CreateEvent());
    PSD_ASSIGN_OR_RETURN(t.grad_done, b.CreateEvent());
    PSD_ASSIGN_OR_RETURN(t.grad_copied, b.CreateEvent());
  }
  const std::vector<int> sizes = spec.LayerSizes();
  layers_.resize(sizes.size() - 1);
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    layer.in = sizes[l];
    layer.out = sizes[l + 1];
    layer.weight = static_cast<uint32_t>(2 * l);
    layer.bias = static_cast<uint32_t>(2 * l + 1);
    PSD_ASSIGN_OR_RETURN(layer.y, b.AllocateDevice<float>(max_batch_ * layer.out));
    PSD_ASSIGN_OR_RETURN(layer.dz, b.AllocateDevice<float>(max_batch_ * layer.out));
  }
  PSD_ASSIGN_OR_RETURN(compute_, b.CreateStream());
  PSD_ASSIGN_OR_RETURN(upload_, b.CreateStream());
  PSD_ASSIGN_OR_RETURN(download_, b.CreateStream());
  if (!host_addressable_) {
    PSD_ASSIGN_OR_RETURN(inputs_, b.AllocateDevice<float>(int64_t{max_batch_} * input_dim_));
    PSD_ASSIGN_OR_RETURN(labels_, b.AllocateDevice<int32_t>(max_batch_));
  }
  PSD_ASSIGN_OR_RETURN(loss_, b.AllocateDevice<float>(1));
  PSD_ASSIGN_OR_RETURN(correct_, b.AllocateDevice<int32_t>(1));
  PSD_ASSIGN_OR_RETURN(host_loss_, b.AllocateHost<float>(1));
  PSD_ASSIGN_OR_RETURN(host_correct_, b.AllocateHost<int32_t>(1));
  return absl::OkStatus();
}

absl::Span<float> Model::HostParam(uint32_t id) {
  if (id >= params_.size()) return {};
  Tensor& t = params_[id];
  return host_addressable_ ? absl::MakeSpan(t.param.data(), t.param.size()) : t.host_param.span();
}

absl::Span<const float> Model::HostGrad(uint32_t id) const {
  if (id >= params_.size()) return {};
  const Tensor& t = params_[id];
  return host_addressable_ ? absl::MakeConstSpan(t.grad.data(), t.grad.size())
                           : absl::MakeConstSpan(t.host_grad.data(), t.host_grad.size());
}

absl::Status Model::UploadParam(uint32_t id) {
  if (id >= params_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model: no tensor ", id));
  }
  if (host_addressable_) return absl::OkStatus();
  Tensor& t = params_[id];
  PSD_RETURN_IF_ERROR(backend_->CopyAsync(upload_, CopyKind::kHostToDevice, t.param.data(),
                                          t.host_param.data(), t.param.size()));
  return backend_->Record(t.uploaded, upload_);
}

absl::Status Model::SetParam(uint32_t id, absl::Span<const float> values) {
  if (id >= params_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model: no tensor ", id));
  }
  if (static_cast<int64_t>(values.size()) != tensors_[id].size) {
    return absl::InvalidArgumentError(absl::StrCat("model: tensor ", tensors_[id].name, " has ",
                                                   tensors_[id].size, " elements, got ",
                                                   values.size()));
  }
  // The staging buffer may still be feeding this tensor's previous upload.
  PSD_RETURN_IF_ERROR(backend_->Synchronize(params_[id].uploaded));
  std::copy(values.begin(), values.end(), HostParam(id).begin());
  return UploadParam(id);
}

absl::Status Model::InitParams(uint64_t seed) {
  for (uint32_t id = 0; id < params_.size(); ++id) {
    PSD_RETURN_IF_ERROR(backend_->Synchronize(params_[id].uploaded));
    InitTensorSlice(seed, tensors_[id], 0, HostParam(id));
    PSD_RETURN_IF_ERROR(UploadParam(id));
  }
  return absl::OkStatus();
}

absl::Status Model::WaitForUploads() { return backend_->Synchronize(upload_); }

absl::Status Model::GetParam(uint32_t id, absl::Span<float> out) {
  if (id >= params_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model: no tensor ", id));
  }
  if (static_cast<int64_t>(out.size()) != tensors_[id].size) {
    return absl::InvalidArgumentError(absl::StrCat("model: tensor ", tensors_[id].name, " has ",
                                                   tensors_[id].size, " elements, got room for ",
                                                   out.size()));
  }
  PSD_RETURN_IF_ERROR(WaitForUploads());
  PSD_RETURN_IF_ERROR(backend_->Synchronize(compute_));
  return backend_->Copy(CopyKind::kDeviceToHost, out.data(), params_[id].param.data(),
                        static_cast<int64_t>(out.size()));
}

absl::Status Model::CheckBatch(absl::Span<const float> inputs, absl::Span<const int32_t> labels,
                               int64_t max_examples) const {
  const int64_t n = static_cast<int64_t>(labels.size());
  if (n < 1 || n > max_examples) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: need 1 to ", max_examples, " examples, got ", n));
  }
  if (static_cast<int64_t>(inputs.size()) != n * input_dim_) {
    return absl::InvalidArgumentError(absl::StrCat("model: ", n, " examples of ", input_dim_,
                                                   " inputs need ", n * input_dim_, " values, got ",
                                                   inputs.size()));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes_) {
      return absl::InvalidArgumentError(absl::StrCat("model: label ", labels[i], " of example ", i,
                                                     " is outside [0, ", num_classes_, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Model::StageBatch(const float* inputs, const int32_t* labels, int64_t batch,
                               const float** x, const int32_t** y) {
  if (host_addressable_) {  // the backend reads the caller's memory directly
    *x = inputs;
    *y = labels;
    return absl::OkStatus();
  }
  PSD_RETURN_IF_ERROR(backend_->CopyAsync(compute_, CopyKind::kHostToDevice, inputs_.data(), inputs,
                                          batch * input_dim_));
  PSD_RETURN_IF_ERROR(
      backend_->CopyAsync(compute_, CopyKind::kHostToDevice, labels_.data(), labels, batch));
  *x = inputs_.data();
  *y = labels_.data();
  return absl::OkStatus();
}

absl::Status Model::Forward(const float* x, int64_t batch) {
  kernels::Backend& b = *backend_;
  const float* in = x;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    // Layer l waits only for its own parameters: later layers may still be uploading.
    PSD_RETURN_IF_ERROR(b.Wait(compute_, params_[layer.weight].uploaded));
    PSD_RETURN_IF_ERROR(b.Wait(compute_, params_[layer.bias].uploaded));
    PSD_RETURN_IF_ERROR(b.Gemm(compute_, false, false, batch, layer.out, layer.in, 1.0f, in,
                               layer.in, params_[layer.weight].param.data(), layer.out, 0.0f,
                               layer.y.data(), layer.out));
    const float* bias = params_[layer.bias].param.data();
    if (l + 1 == layers_.size()) {
      PSD_RETURN_IF_ERROR(b.BiasAdd(compute_, batch, layer.out, bias, layer.y.data()));
    } else {
      PSD_RETURN_IF_ERROR(
          b.BiasActivation(compute_, activation_, batch, layer.out, bias, layer.y.data()));
    }
    in = layer.y.data();
  }
  return absl::OkStatus();
}

absl::Status Model::Score(const int32_t* y, int64_t batch, bool with_grad, int64_t mean_over) {
  kernels::Backend& b = *backend_;
  Layer& last = layers_.back();
  // d(mean loss)/d(logits) = (softmax - onehot) / batch (mean_over for a device's share).
  PSD_RETURN_IF_ERROR(b.SoftmaxXent(compute_, batch, num_classes_, last.y.data(), y,
                                    1.0f / static_cast<float>(mean_over),
                                    with_grad ? last.dz.data() : nullptr, loss_.data()));
  PSD_RETURN_IF_ERROR(
      b.CountCorrect(compute_, batch, num_classes_, last.y.data(), y, correct_.data()));
  PSD_RETURN_IF_ERROR(
      b.CopyAsync(compute_, CopyKind::kDeviceToHost, host_loss_.data(), loss_.data(), 1));
  return b.CopyAsync(compute_, CopyKind::kDeviceToHost, host_correct_.data(), correct_.data(), 1);
}

absl::Status Model::EmitGrad(uint32_t id) {
  kernels::Backend& b = *backend_;
  Tensor& t = params_[id];
  PSD_RETURN_IF_ERROR(b.Record(t.grad_done, compute_));
  if (!host_addressable_) {
    PSD_RETURN_IF_ERROR(b.Wait(download_, t.grad_done));
    PSD_RETURN_IF_ERROR(b.CopyAsync(download_, CopyKind::kDeviceToHost, t.host_grad.data(),
                                    t.grad.data(), t.grad.size()));
    PSD_RETURN_IF_ERROR(b.Record(t.grad_copied, download_));
  }
  pending_grads_.push_back(id);
  return absl::OkStatus();
}

absl::Status Model::DeliverGrads(const GradReadyFn& on_grad_ready, bool wait) {
  for (; delivered_ < pending_grads_.size(); ++delivered_) {
    const uint32_t id = pending_grads_[delivered_];
    const kernels::Event& ready =
        host_addressable_ ? params_[id].grad_done : params_[id].grad_copied;
    if (wait) {
      PSD_RETURN_IF_ERROR(backend_->Synchronize(ready));
    } else {
      PSD_ASSIGN_OR_RETURN(const bool done, backend_->Query(ready));
      if (!done) break;
    }
    if (on_grad_ready) on_grad_ready(id);
  }
  return absl::OkStatus();
}

absl::Status Model::Backward(const float* x, int64_t batch, const GradReadyFn& on_grad_ready) {
  kernels::Backend& b = *backend_;
  pending_grads_.clear();
  delivered_ = 0;
  for (size_t l = layers_.size(); l-- > 0;) {
    Layer& layer = layers_[l];
    const float* layer_in = l == 0 ? x : layers_[l - 1].y.data();
    PSD_RETURN_IF_ERROR(
        b.BiasGrad(compute_, batch, layer.out, layer.dz.data(), params_[layer.bias].grad.data()));
    PSD_RETURN_IF_ERROR(EmitGrad(layer.bias));
    // dW[in, out] = Xᵀ[in, batch] · dZ[batch, out]
    PSD_RETURN_IF_ERROR(b.Gemm(compute_, true, false, layer.in, layer.out, batch, 1.0f, layer_in,
                               layer.in, layer.dz.data(), layer.out, 0.0f,
                               params_[layer.weight].grad.data(), layer.out));
    PSD_RETURN_IF_ERROR(EmitGrad(layer.weight));
    if (l > 0) {
      // dX[batch, in] = dZ[batch, out] · Wᵀ[out, in], then through the previous activation.
      Layer& prev = layers_[l - 1];
      PSD_RETURN_IF_ERROR(b.Gemm(compute_, false, true, batch, layer.in, layer.out, 1.0f,
                                 layer.dz.data(), layer.out, params_[layer.weight].param.data(),
                                 layer.out, 0.0f, prev.dz.data(), layer.in));
      PSD_RETURN_IF_ERROR(b.ActivationBackward(compute_, activation_, batch * layer.in,
                                               prev.y.data(), prev.dz.data(), prev.dz.data()));
    }
    PSD_RETURN_IF_ERROR(DeliverGrads(on_grad_ready, /*wait=*/false));
  }
  return DeliverGrads(on_grad_ready, /*wait=*/true);
}

absl::StatusOr<StepResult> Model::TrainStep(absl::Span<const float> inputs,
                                            absl::Span<const int32_t> labels,
                                            const GradReadyFn& on_grad_ready, int64_t mean_over) {
  PSD_RETURN_IF_ERROR(CheckBatch(inputs, labels, max_batch_));
  const int64_t batch = static_cast<int64_t>(labels.size());
  if (mean_over < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: mean_over must be 0 (the batch) or positive, got ", mean_over));
  }
  if (mean_over == 0) mean_over = batch;
  const float* x = nullptr;
  const int32_t* y = nullptr;
  PSD_RETURN_IF_ERROR(StageBatch(inputs.data(), labels.data(), batch, &x, &y));
  PSD_RETURN_IF_ERROR(Forward(x, batch));
  PSD_RETURN_IF_ERROR(Score(y, batch, /*with_grad=*/true, mean_over));
  PSD_RETURN_IF_ERROR(Backward(x, batch, on_grad_ready));
  PSD_RETURN_IF_ERROR(backend_->Synchronize(compute_));
  return StepResult{host_loss_.data()[0], host_correct_.data()[0], batch};
}

absl::StatusOr<StepResult> Model::Evaluate(absl::Span<const float> inputs,
                                           absl::Span<const int32_t> labels) {
  PSD_RETURN_IF_ERROR(CheckBatch(inputs, labels, static_cast<int64_t>(labels.size())));
  StepResult total;
  for (size_t first = 0; first < labels.size(); first += max_batch_) {
    const int64_t batch = std::min<int64_t>(max_batch_, labels.size() - first);
    const float* x = nullptr;
    const int32_t* y = nullptr;
    PSD_RETURN_IF_ERROR(
        StageBatch(inputs.data() + first * input_dim_, labels.data() + first, batch, &x, &y));
    PSD_RETURN_IF_ERROR(Forward(x, batch));
    PSD_RETURN_IF_ERROR(Score(y, batch, /*with_grad=*/false, batch));
    PSD_RETURN_IF_ERROR(backend_->Synchronize(compute_));
    total.loss_sum += host_loss_.data()[0];
    total.correct += host_correct_.data()[0];
    total.examples += batch;
  }
  return total;
}

absl::Status Model::ApplySgdMomentum(float lr, float momentum, float weight_decay) {
  kernels::Backend& b = *backend_;
  for (Tensor& t : params_) {
    PSD_RETURN_IF_ERROR(b.Wait(compute_, t.uploaded));
    if (t.velocity.size() != t.param.size()) {
      PSD_ASSIGN_OR_RETURN(t.velocity, b.AllocateDevice<float>(t.param.size()));
      PSD_RETURN_IF_ERROR(b.Fill(compute_, t.velocity.size(), 0.0f, t.velocity.data()));
    }
    PSD_RETURN_IF_ERROR(b.SgdMomentum(compute_, t.param.size(), lr, momentum, weight_decay,
                                      t.grad.data(), t.velocity.data(), t.param.data()));
  }
  return b.Synchronize(compute_);
}

}  // namespace psd
