// One worker's part of a job: its batches through the model, gradients out and parameters in
// through a ParamExchange, progress as it goes, and (rank 0) test-set evaluation.
#ifndef PSD_WORKER_TRAINER_H_
#define PSD_WORKER_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/trace_recorder.h"
#include "proto/common.pb.h"
#include "worker/batch_plan.h"
#include "worker/device_group.h"
#include "worker/idx_reader.h"
#include "worker/model.h"
#include "worker/param_exchange.h"
#include "worker/step_phases.h"
#include "worker/worker_metrics.h"

namespace psd {

// Steps every worker of a job takes: training.max_steps when set, else whole epochs of
// global batches (batch_size * workers examples each).
int64_t PlannedSteps(const JobSpec& spec, int64_t train_examples, int workers);

class Trainer {
 public:
  using ProgressFn = std::function<void(const Progress&)>;

  // `test` may be null (only rank 0 evaluates). Everything must outlive the Trainer.
  Trainer(const JobSpec& spec, int rank, int workers, const Dataset& train, const Dataset* test,
          Model* model, ParamExchange* exchange);
  // The same on a worker's devices (cluster.devices_per_worker): each step's batch is split
  // over them and their summed gradient pushed once.
  Trainer(const JobSpec& spec, int rank, int workers, const Dataset& train, const Dataset* test,
          DeviceGroup* devices, ParamExchange* exchange);

  int64_t total_steps() const { return total_steps_; }
  // Resumes at `step` (a checkpoint's step) instead of 0: parameters are pulled for that step
  // and the data order continues where it was.
  void set_start_step(int64_t step) { start_step_ = step; }
  // Makes every step take `factor` times as long (sleeping after it), to play a straggler in
  // tests and benchmarks. 1 (the default) runs at full speed.
  void set_slowdown(double factor) { slowdown_ = factor; }
  // Called by every worker after its last step, before the final evaluation: a barrier that
  // returns once every live worker has finished, so that the evaluation sees the final model
  // (in async and ssp modes workers finish at different times).
  void set_wait_for_others(std::function<absl::Status()> fn) { wait_for_others_ = std::move(fn); }
  // Steps, samples and each step's phases also go to `metrics` (worker/worker_metrics.h);
  // null (the default): no metrics.
  void set_metrics(std::shared_ptr<WorkerJobMetrics> metrics) { metrics_ = std::move(metrics); }
  // Step timelines (psdctl trace): each armed step's phases, on track "phases"; null (the
  // default): none recorded. Off, a step costs one relaxed load.
  void set_trace(std::shared_ptr<TraceRecorder> trace) { trace_ = std::move(trace); }
  // Elastic workers: the job's membership (segments oldest first, worker/batch_plan.h) and the
  // step horizon (0: none): Run() does not start a step past the horizon before
  // `wait_for_horizon` (called with that step) has extended it through set_membership, and
  // it ends early, released, at the first step whose segment leaves this rank out.
  absl::Status set_membership(std::vector<PlanSegment> segments, int64_t horizon);
  void set_wait_for_horizon(std::function<absl::Status(int64_t step)> fn) {
    wait_for_horizon_ = std::move(fn);
  }
  const BatchPlan& plan() const { return plan_; }
  // Whether Run() ended because this worker left the membership (a scale-down).
  bool released() const { return released_; }
  // The parameters after the last step Run() completed, one vector per tensor.
  const std::vector<std::vector<float>>& params() const { return params_; }
  // Runs every step; `progress` gets a report every training.log_every steps and at the end,
  // with the interval's step phases.
  // Returns Cancelled as soon as `stop` is set.
  absl::StatusOr<JobResult> Run(const std::atomic<bool>& stop, const ProgressFn& progress);

 private:
  Trainer(const JobSpec& spec, int rank, int workers, const Dataset& train, const Dataset* test,
          std::unique_ptr<DeviceGroup> owned, DeviceGroup* devices, ParamExchange* exchange);
  absl::Status Step(int64_t step, StepResult* seen, StepTimes* times);
  absl::StatusOr<StepResult> Evaluate();
  // Fetches every tensor's parameters for computing `step` into the model.
  absl::Status PullAll(int64_t step);
  // The traced step's phases and each tensor's push as events; `extra`: a --slowdown sleep.
  void RecordPhases(int64_t step, absl::Duration extra);

  const JobSpec& spec_;
  const int rank_;
  const Dataset& train_;
  std::unique_ptr<DeviceGroup> owned_devices_;  // a group of the one Model given
  DeviceGroup* devices_;
  ParamExchange* exchange_;
  BatchPlan plan_;
  int64_t total_steps_;
  double slowdown_ = 1.0;
  int64_t start_step_ = 0;
  std::function<absl::Status()> wait_for_others_;
  std::function<absl::Status(int64_t)> wait_for_horizon_;
  int64_t horizon_ = 0;
  bool released_ = false;
  std::shared_ptr<WorkerJobMetrics> metrics_;
  std::shared_ptr<TraceRecorder> trace_;
  // The armed step's pushes: (tensor, start, end).
  struct TracedPush {
    uint32_t tensor;
    absl::Time start, end;
  };
  std::vector<TracedPush> traced_pushes_;
  // The last step's times when it was traced: start, batch filled, model done, exchange
  // done, end.
  struct TracedStep {
    bool armed = false;
    absl::Time t[5];
    absl::Time first_grad;
  };
  TracedStep traced_;
  std::vector<std::vector<float>> params_;  // parameters for the next step, as they arrive
  std::vector<float> x_;
  std::vector<int32_t> y_;
  std::vector<float> test_x_;
  std::vector<int32_t> test_y_;
};

}  // namespace psd

#endif  // PSD_WORKER_TRAINER_H_
