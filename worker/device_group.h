// psd::DeviceGroup: one worker's training step split over its local devices
// (cluster.devices_per_worker). Each device holds a replica of the model on a Backend of its own.
// A step's batch is cut into contiguous shards whose sizes differ by at most one row (ShardOf);
// each replica runs forward and backward on its shard on a thread of its own, with gradients of
// its share of the whole batch's mean loss (Model::TrainStep's mean_over), and the group sums
// the replicas' gradients tensor by tensor, as soon as every replica has one, into a host
// buffer: the caller pushes one gradient per tensor, the same bytes as one device with the
// whole batch would send. With one device the group is that device's Model itself: no thread,
// no copy, no extra step.
//
// Threads: every method is called from one thread at a time (the Trainer's); callbacks run on
// that thread. With CUDA each replica thread binds itself to its device (Backend::MakeCurrent),
// and the calling thread does so before it touches a replica. The gradients are summed on the
// host from each replica's pinned copy (Model::HostGrad).
#ifndef PSD_WORKER_DEVICE_GROUP_H_
#define PSD_WORKER_DEVICE_GROUP_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "kernels/backend.h"
#include "worker/model.h"

namespace psd {

// Rows [first, first + count) of a batch of `batch` rows that device `device` of `devices`
// takes: the first batch % devices devices take batch / devices + 1 rows, the others
// batch / devices (0 when batch < devices: such a device sits the step out).
struct ShardRows {
  int64_t first = 0;
  int64_t count = 0;
};
ShardRows ShardOf(int64_t batch, int devices, int device);
// The shard sizes of a batch for logs: "16" or "16 or 17".
std::string ShardSizes(int64_t batch, int devices);

class DeviceGroup {
 public:
  using GradReadyFn = Model::GradReadyFn;

  // One device: `model` itself (not owned; it must outlive the group).
  explicit DeviceGroup(Model* model);
  // A replica of `spec` on each of `backends` (not owned: they must outlive the group, and only
  // the group uses them while it lives), for batches of up to `max_batch` rows in all. One
  // backend gives a group of one owned Model.
  static absl::StatusOr<std::unique_ptr<DeviceGroup>> Create(
      const ModelSpec& spec, const std::vector<kernels::Backend*>& backends, int max_batch);
  DeviceGroup(const DeviceGroup&) = delete;
  DeviceGroup& operator=(const DeviceGroup&) = delete;
  ~DeviceGroup();  // stops and joins the replica threads

  // Devices in the group.
  int size() const { return static_cast<int>(replicas_.size()); }
  // Device 0's replica (the model itself with one device).
  Model& primary() const { return *replicas_[0].model; }
  const std::vector<TensorInfo>& tensors() const { return primary().tensors(); }
  int input_dim() const { return primary().input_dim(); }
  int max_batch() const { return max_batch_; }

  // Model::SetParam on every replica.
  absl::Status SetParam(uint32_t id, absl::Span<const float> values);
  // Model::InitParams on every replica: all start from the same parameters.
  absl::Status InitParams(uint64_t seed);
  // Model::GetParam of device 0 (every replica holds the same parameters).
  absl::Status GetParam(uint32_t id, absl::Span<float> out);

  // Model::TrainStep over the whole batch (1 <= batch <= max_batch), split over the devices.
  // on_grad_ready(id) runs on the calling thread once HostGrad(id) holds the sum of every
  // device's gradient of tensor id, in descending id order; the result sums the devices'.
  absl::StatusOr<StepResult> TrainStep(absl::Span<const float> inputs,
                                       absl::Span<const int32_t> labels,
                                       const GradReadyFn& on_grad_ready);
  // The last TrainStep's gradient of tensor `id`, summed over the devices (empty for an
  // unknown id); valid until the next TrainStep starts.
  absl::Span<const float> HostGrad(uint32_t id) const;

  // Model::Evaluate on device 0.
  absl::StatusOr<StepResult> Evaluate(absl::Span<const float> inputs,
                                      absl::Span<const int32_t> labels);

 private:
  struct Replica {
    kernels::Backend* backend = nullptr;  // null for a group wrapping a caller's model
    Model* model = nullptr;
    std::unique_ptr<Model> owned;
    std::thread thread;
    // The current step's shard and what the replica made of it (guarded by mu_).
    int64_t assigned = 0;  // steps handed to this replica
    absl::Span<const float> x;
    absl::Span<const int32_t> y;
    absl::StatusOr<StepResult> result;
  };

  DeviceGroup() = default;
  // Replica i's thread: waits for a step, runs it, reports, until quit_.
  void Serve(int i);
  // Binds the calling thread to replica i's device (nothing with one device).
  absl::Status Enter(int i);
  // sums_[id] = the sum over replicas [0, active) of their HostGrad(id).
  void Sum(uint32_t id, int active);

  int max_batch_ = 0;
  std::vector<Replica> replicas_;
  std::vector<std::vector<float>> sums_;  // per tensor, with more than one device

  std::mutex mu_;
  std::condition_variable work_;  // a step was handed out, or quit_
  std::condition_variable done_;  // a gradient is ready, or a replica finished
  bool quit_ = false;
  int64_t mean_over_ = 0;   // the current step's whole batch
  std::vector<int> ready_;  // per tensor: replicas whose gradient is in their HostGrad
  int finished_ = 0;        // replicas done with the current step
  bool failed_ = false;     // one of them failed
};

}  // namespace psd

#endif  // PSD_WORKER_DEVICE_GROUP_H_
