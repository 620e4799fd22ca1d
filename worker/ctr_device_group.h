// psd::CtrDeviceGroup: one worker's sparse (click-through-rate) step split over its local
// devices (cluster.devices_per_worker), the counterpart of worker/device_group.h for CtrModel.
//
// Each device holds a CtrModel on a Backend of its own. SetBatch cuts the batch into contiguous
// slices whose sizes differ by at most one row (ShardOf: the first batch % N devices take one
// more; with fewer rows than devices the last devices sit the step out) and de-duplicates the
// whole batch's keys once: unique_keys() is their union, grouped by owning server like a
// single model's, so the worker pulls each unique key once into rows(). TrainStep hands every
// device the rows of its slice's keys and device 0's dense parameters, runs the devices at
// once (each on a thread of its own, its gradients those of its share of the whole batch's
// mean loss: CtrModel::TrainStep's mean_over), then sums the dense gradients tensor by tensor
// and the row gradients key by key into row_grads(): the worker pushes one gradient per
// unique key and dense tensor, once, the same as one device with the whole batch up to float
// rounding. With one device the group is that device's CtrModel itself: no thread, no copy.
//
// Threads: one caller at a time. With CUDA each device's thread binds itself to its device
// (Backend::MakeCurrent), and Create leaves the calling thread bound to device 0, where
// primary() runs; the sums are made on the host.
#ifndef PSD_WORKER_CTR_DEVICE_GROUP_H_
#define PSD_WORKER_CTR_DEVICE_GROUP_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/backend.h"
#include "worker/ctr_batch.h"
#include "worker/ctr_model.h"
#include "worker/unique_keys.h"

namespace psd {

class CtrDeviceGroup {
 public:
  // One device: `model` itself (not owned; it must outlive the group).
  explicit CtrDeviceGroup(CtrModel* model);
  // A CtrModel of `config` on each of `backends` (not owned: they must outlive the group; a
  // null backend is allowed for logreg and fm). One backend gives a group of one owned model.
  static absl::StatusOr<std::unique_ptr<CtrDeviceGroup>> Create(
      const CtrModelConfig& config, const std::vector<kernels::Backend*>& backends);
  CtrDeviceGroup(const CtrDeviceGroup&) = delete;
  CtrDeviceGroup& operator=(const CtrDeviceGroup&) = delete;
  ~CtrDeviceGroup();  // stops and joins the device threads

  int size() const { return static_cast<int>(devices_.size()); }
  // Device 0's model, whose dense_param(t) are the group's. Using it for a batch of its own
  // (evaluation: EvaluateCtr) drops the group's batch: SetBatch again before TrainStep.
  CtrModel& primary() const { return *devices_[0].model; }
  const CtrModelConfig& config() const { return primary().config(); }
  int row_dim() const { return primary().row_dim(); }
  int num_dense() const { return primary().num_dense(); }

  // CtrModel::SetBatch of the whole batch: its slices on the devices, the union of their keys
  // in unique_keys(). A bad row is named by its row in the whole batch's slice of a device.
  absl::Status SetBatch(const CtrBatch& batch);
  absl::Span<const uint64_t> unique_keys() const;
  // [U, row_dim] for U = unique_keys().size(): fill with the pulled rows before TrainStep.
  absl::Span<float> rows();
  // Device 0's dense parameters of tensor t: fill before TrainStep (the group copies them to
  // the other devices).
  absl::Span<float> dense_param(int t) { return primary().dense_param(t); }

  // Forward and backward of the set batch on every device; then row_grads() [U, row_dim],
  // dense_grad(t) and probabilities() (in the batch's row order) are those of the whole batch.
  absl::StatusOr<CtrModel::Result> TrainStep();

  absl::Span<const float> row_grads() const;
  absl::Span<const float> dense_grad(int t) const;
  absl::Span<const float> probabilities() const;

 private:
  struct Device {
    kernels::Backend* backend = nullptr;
    CtrModel* model = nullptr;
    std::unique_ptr<CtrModel> owned;
    std::thread thread;
    int64_t first_row = 0, rows = 0;  // the current batch's slice
    CtrBatch slice;
    std::vector<int32_t> to_group;  // the device's unique key u is the group's to_group[u]
    int64_t assigned = 0;           // tasks handed to this device (guarded by mu_)
    absl::Status status;            // the last task's (guarded by mu_)
    CtrModel::Result result;
  };

  CtrDeviceGroup() = default;
  // Device i's thread: runs each task handed to it until quit_.
  void Serve(int i);
  // Runs task(i) for every device i < active_ on its thread; the first error, naming the device.
  absl::Status RunOnDevices(const std::function<absl::Status(int)>& task);
  // Device i's part of SetBatch: copies its slice, sets it, maps its keys to the group's.
  absl::Status SetSlice(int i, const CtrBatch& batch);
  // Device i's part of TrainStep: gathers its rows, copies the dense parameters, trains.
  absl::Status TrainSlice(int i);

  std::vector<Device> devices_;
  bool has_batch_ = false;
  int active_ = 0;  // devices with rows in the current batch
  int64_t batch_rows_ = 0;
  UniqueKeys unique_;
  std::vector<float> rows_, row_grads_, probabilities_;
  std::vector<std::vector<float>> dense_grads_;

  std::mutex mu_;
  std::condition_variable work_;  // a task was handed out, or quit_
  std::condition_variable done_;  // a device finished its task
  bool quit_ = false;
  std::function<absl::Status(int)> task_;
  int pending_ = 0;  // devices still running the current task
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_DEVICE_GROUP_H_
