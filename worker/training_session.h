// One worker's training of a job, assembled in one place: the compute backend the job asks
// for, the model, the parameter exchange (the servers, or this process) and the Trainer. The
// worker daemon, the in-process benchmark cluster and the tests all build it here.
#ifndef PSD_WORKER_TRAINING_SESSION_H_
#define PSD_WORKER_TRAINING_SESSION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "kernels/backend.h"
#include "worker/device_group.h"
#include "worker/idx_reader.h"
#include "worker/model.h"
#include "worker/param_exchange.h"
#include "worker/ps_client.h"
#include "worker/trainer.h"

namespace psd {

struct SessionOptions {
  int rank = 0;
  int workers = 1;
  // BLAS threads of the CPU backend; <= 0: one per core. With cluster.devices_per_worker N > 1
  // on the CPU, each of the N replicas gets max(1, threads / N).
  int cpu_threads = 0;
  // Parameter servers by rank; empty: one process with a local optimizer (LocalExchange),
  // which is the single-process baseline and needs workers == 1.
  std::vector<std::string> servers;
  // For the servers: job_id, generation, transport and retry settings. worker and
  // total_steps are filled in, and the cluster section's wire options applied.
  PsClient::Options client;
  double slowdown = 1.0;  // see Trainer::set_slowdown
  int64_t start_step = 0;
  std::function<absl::Status()> wait_for_others;  // see Trainer::set_wait_for_others
  // The job's metrics (worker/worker_metrics.h), given to the trainer and the client; null:
  // none kept.
  std::shared_ptr<WorkerJobMetrics> metrics;
  // Step timelines (psdctl trace), given to the trainer and the client; null: none recorded.
  std::shared_ptr<TraceRecorder> trace;
};

class TrainingSession {
 public:
  // `spec`, `train` and `test` must outlive the session; only rank 0 evaluates on `test`.
  static absl::StatusOr<std::unique_ptr<TrainingSession>> Create(const JobSpec& spec,
                                                                 const Dataset& train,
                                                                 const Dataset* test,
                                                                 SessionOptions options);
  ~TrainingSession();

  Trainer& trainer() { return *trainer_; }
  ParamExchange& exchange() { return *exchange_; }
  const Placement& placement() const { return placement_; }
  // Device 0's backend.
  const kernels::Backend& backend() const { return *backends_[0]; }
  // Every device's backend (cluster.devices_per_worker of them), device 0's first.
  const std::vector<std::unique_ptr<kernels::Backend>>& backends() const { return backends_; }
  // The worker's devices (cluster.devices_per_worker of them).
  DeviceGroup& devices() { return *devices_; }

 private:
  explicit TrainingSession(Placement placement) : placement_(std::move(placement)) {}

  Placement placement_;
  std::vector<std::unique_ptr<kernels::Backend>> backends_;  // one per device
  std::unique_ptr<Model> model_;                             // one device: the model
  std::unique_ptr<DeviceGroup> devices_;
  std::unique_ptr<ParamExchange> exchange_;
  std::unique_ptr<Trainer> trainer_;
};

// The compute-backend kind a job's cluster.device names.
kernels::DeviceKind BackendKind(DeviceKind device);

}  // namespace psd

#endif  // PSD_WORKER_TRAINING_SESSION_H_
