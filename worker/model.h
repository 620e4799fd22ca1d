// psd::Model: an MLP or logistic regression on a compute Backend (kernels/backend.h) that runs
// one training step's forward and backward pass, and evaluation.
//
// Tensors are those of ModelTensors(spec) (common/placement.h), in that order: layer l's weight
// [in, out] row-major has id 2l, its bias [out] id 2l + 1. Parameters and gradients live in
// device buffers, one per tensor. The loss is the mean cross-entropy over the batch, so the
// gradients are batch means.
//
// Ownership and lifetimes:
// - The Backend must outlive the Model. A Model is used from one thread at a time; callbacks run
//   on that thread, inside TrainStep.
// - HostParam(id) is host staging for a tensor's parameters: pinned memory the Model owns on
//   CUDA, the parameters themselves on the CPU. Fill it (e.g. straight from the wire), then call
//   UploadParam(id), which returns at once on CUDA. Do not write it again before the next
//   TrainStep, Evaluate, GetParam or SetParam has returned: they wait for pending uploads.
//   Never touch parameters (HostParam, UploadParam, SetParam) inside on_grad_ready: backward
//   still reads them.
// - HostGrad(id) holds the tensor's gradient from the moment on_grad_ready(id) is called until
//   the next TrainStep starts. On CUDA it is a pinned copy the Model owns; on the CPU it is the
//   gradient buffer itself (no copy).
#ifndef PSD_WORKER_MODEL_H_
#define PSD_WORKER_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "kernels/backend.h"

namespace psd {

// What a TrainStep or an Evaluate saw.
struct StepResult {
  double loss_sum = 0;  // summed cross-entropy; the mean loss is loss_sum / examples
  int64_t correct = 0;  // examples whose first highest logit is the label
  int64_t examples = 0;
};

class Model {
 public:
  // Called with a tensor id as soon as HostGrad(id) holds that tensor's gradient; ids arrive
  // last layer first (bias, then weight), i.e. in descending order.
  using GradReadyFn = std::function<void(uint32_t tensor_id)>;

  // Allocates every buffer for batches of up to `max_batch` examples. Parameters start
  // uninitialised: set them with InitParams, SetParam or HostParam + UploadParam.
  static absl::StatusOr<std::unique_ptr<Model>> Create(const ModelSpec& spec,
                                                       kernels::Backend* backend, int max_batch);
  ~Model();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  int input_dim() const { return input_dim_; }
  int num_classes() const { return num_classes_; }
  int max_batch() const { return max_batch_; }
  kernels::Backend& backend() const { return *backend_; }

  // Host staging for tensor `id`'s parameters (empty for an unknown id); see the top comment.
  absl::Span<float> HostParam(uint32_t id);
  // Enqueues the copy of HostParam(id) to the device (nothing to do on the CPU).
  absl::Status UploadParam(uint32_t id);
  // Copies a whole tensor's values into HostParam(id) and uploads them.
  absl::Status SetParam(uint32_t id, absl::Span<const float> values);
  // Every tensor from InitTensorSlice(seed, ...): psd's deterministic initialisation.
  absl::Status InitParams(uint64_t seed);
  // Copies tensor `id`'s current parameters into `out` (its size must match); blocks.
  absl::Status GetParam(uint32_t id, absl::Span<float> out);

  // Forward and backward over inputs [batch, input_dim] and labels [batch] (1 <= batch <=
  // max_batch, labels in [0, num_classes)). Calls on_grad_ready (may be empty) once per tensor,
  // and returns after every gradient is in HostGrad. The gradients are those of the summed loss
  // divided by `mean_over` (0: batch, the mean loss); a device of a DeviceGroup passes the whole
  // batch's size, so that the devices' gradients add up to the whole batch's.
  absl::StatusOr<StepResult> TrainStep(absl::Span<const float> inputs,
                                       absl::Span<const int32_t> labels,
                                       const GradReadyFn& on_grad_ready, int64_t mean_over = 0);
  // Tensor `id`'s gradient of the last TrainStep (empty for an unknown id).
  absl::Span<const float> HostGrad(uint32_t id) const;

  // Loss and accuracy over any number of examples, in batches of max_batch; no gradients.
  absl::StatusOr<StepResult> Evaluate(absl::Span<const float> inputs,
                                      absl::Span<const int32_t> labels);

  // Local SGD with momentum on the last gradients (the single-process baseline):
  // v = momentum * v + (g + weight_decay * p); p -= lr * v. Velocities start at zero.
  absl::Status ApplySgdMomentum(float lr, float momentum, float weight_decay);

 private:
  struct Tensor;
  struct Layer;

  explicit Model(kernels::Backend* backend);
  absl::Status Allocate(const ModelSpec& spec);
  absl::Status CheckBatch(absl::Span<const float> inputs, absl::Span<const int32_t> labels,
                          int64_t max_examples) const;
  // Stages one batch on the device; returns where the inputs and labels are.
  absl::Status StageBatch(const float* inputs, const int32_t* labels, int64_t batch,
                          const float** x, const int32_t** y);
  absl::Status Forward(const float* x, int64_t batch);
  // Loss sum and correct count of the logits in the last forward pass, copied to the host;
  // with_grad: also dLoss/dlogits of the loss sum divided by `mean_over`.
  absl::Status Score(const int32_t* y, int64_t batch, bool with_grad, int64_t mean_over);
  absl::Status Backward(const float* x, int64_t batch, const GradReadyFn& on_grad_ready);
  // Publishes tensor `id`'s gradient once the compute stream has produced it.
  absl::Status EmitGrad(uint32_t id);
  // Runs on_grad_ready for the published gradients that have arrived, in order; with `wait`,
  // for all of them.
  absl::Status DeliverGrads(const GradReadyFn& on_grad_ready, bool wait);
  absl::Status WaitForUploads();

  kernels::Backend* backend_;
  bool host_addressable_ = false;
  int input_dim_ = 0;
  int num_classes_ = 0;
  int max_batch_ = 0;
  kernels::Activation activation_ = kernels::Activation::kRelu;
  std::vector<TensorInfo> tensors_;
  std::vector<Tensor> params_;
  std::vector<Layer> layers_;
  kernels::Stream compute_, upload_, download_;
  kernels::DeviceBuffer<float> inputs_;
  kernels::DeviceBuffer<int32_t> labels_;
  kernels::DeviceBuffer<float> loss_;
  kernels::DeviceBuffer<int32_t> correct_;
  kernels::HostBuffer<float> host_loss_;
  kernels::HostBuffer<int32_t> host_correct_;
  std::vector<uint32_t> pending_grads_;  // published, not yet delivered, in order
  size_t delivered_ = 0;                 // pending_grads_[0, delivered_) are delivered
};

}  // namespace psd

#endif  // PSD_WORKER_MODEL_H_
