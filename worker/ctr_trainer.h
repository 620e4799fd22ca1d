// One worker's part of a sparse (click-through-rate) job: its shard of the rows through a
// CtrDeviceGroup (a CtrModel, or several: cluster.devices_per_worker), the embedding rows from a
// RowExchange and the dense tensors from a ParamExchange, progress as it goes, and (rank 0) the
// exact test AUC and log loss.
//
// Steps: every worker takes the same number, training.max_steps when set, else epochs times
// floor(min rows of a worker's shard / batch_size), counted before training from the files'
// lines (a skipped bad row still counts there: a shard that runs out early starts its next
// epoch early). A step reads the next batch_size rows of the shard; a batch never spans the
// end of the data (the rows left at the end of an epoch are dropped, as a sync step must be
// batch_size rows on every worker).
#ifndef PSD_WORKER_CTR_TRAINER_H_
#define PSD_WORKER_CTR_TRAINER_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "proto/common.pb.h"
#include "worker/ctr_device_group.h"
#include "worker/ctr_model.h"
#include "worker/ctr_reader.h"
#include "worker/param_exchange.h"
#include "worker/row_exchange.h"
#include "worker/worker_metrics.h"

namespace psd {

// The model configuration of a sparse job spec.
CtrModelConfig CtrConfigFor(const JobSpec& spec);
// The reader options of a sparse job spec, for worker `rank` of `workers` (test files: 0 of 1).
CtrReaderOptions CtrReaderOptionsFor(const JobSpec& spec, int rank, int workers);
// Steps every worker of a sparse job takes (see above); reads the train files' lines once
// when training.max_steps is not set.
absl::StatusOr<int64_t> CtrPlannedSteps(const JobSpec& spec, int workers);

// The test rows, whole, for evaluation (rank 0).
struct CtrTestSet {
  std::vector<CtrBatch> batches;  // of at most kEvalBatchRows rows
  int64_t rows = 0;
};
inline constexpr int64_t kEvalBatchRows = 8192;
absl::StatusOr<CtrTestSet> LoadCtrTestSet(const JobSpec& spec);

// What an evaluation on a test set gives: the exact AUC, the mean log loss, and the share of
// rows whose probability is on the label's side of 0.5.
struct CtrEval {
  double auc = 0, logloss = 0, accuracy = 0;
};
// Scores `test` with `model`'s dense parameters as they are and the rows `rows` gives for
// `step` (read-only: no row is created). Errors name data.test_files (e.g. one class only).
absl::StatusOr<CtrEval> EvaluateCtr(const CtrTestSet& test, int64_t step, CtrModel* model,
                                    RowExchange* rows);

class CtrTrainer {
 public:
  using ProgressFn = std::function<void(const Progress&)>;

  // `test` may be null (only rank 0 evaluates; on device 0's model). Everything must outlive
  // the trainer.
  CtrTrainer(const JobSpec& spec, int rank, int workers, int64_t total_steps,
             CtrDeviceGroup* devices, ParamExchange* dense, RowExchange* rows,
             const CtrTestSet* test);

  int64_t total_steps() const { return total_steps_; }
  void set_start_step(int64_t step) { start_step_ = step; }
  // See Trainer::set_wait_for_others.
  void set_wait_for_others(std::function<absl::Status()> fn) { wait_for_others_ = std::move(fn); }
  // Elastic jobs (cluster.elastic): the step horizon (0: none; it only grows). Run() does not
  // start a step past it before `wait_for_horizon` (called with that step) has extended it.
  void set_step_horizon(int64_t horizon) { horizon_ = std::max(horizon_, horizon); }
  void set_wait_for_horizon(std::function<absl::Status(int64_t step)> fn) {
    wait_for_horizon_ = std::move(fn);
  }
  void set_metrics(std::shared_ptr<WorkerJobMetrics> metrics) { metrics_ = std::move(metrics); }
  // Rows skipped as bad so far (data.bad_rows: skip).
  int64_t skipped_rows() const { return reader_ == nullptr ? 0 : reader_->skipped(); }

  // Runs every step; `progress` gets a report every training.log_every steps and at the end.
  absl::StatusOr<JobResult> Run(const std::atomic<bool>& stop, const ProgressFn& progress);

  // The dense tensors' parameters now (after Run: the final model), one vector per tensor.
  std::vector<std::vector<float>> DenseParams() const;

  // The current parameters on the test set (EvaluateCtr).
  absl::StatusOr<CtrEval> Evaluate(int64_t step) {
    return EvaluateCtr(*test_, step, &devices_->primary(), rows_);
  }

 private:
  // The next batch of the shard (rewinding at the end of the data).
  absl::Status NextBatch();
  absl::Status PullDense(int64_t step);

  const JobSpec& spec_;
  const int rank_;
  const int workers_;
  const int64_t total_steps_;
  CtrDeviceGroup* devices_;
  ParamExchange* dense_;
  RowExchange* rows_;
  const CtrTestSet* test_;
  int64_t start_step_ = 0;
  std::function<absl::Status()> wait_for_others_;
  std::function<absl::Status(int64_t)> wait_for_horizon_;
  int64_t horizon_ = 0;
  std::shared_ptr<WorkerJobMetrics> metrics_;
  std::unique_ptr<CtrReader> reader_;
  CtrBatch batch_;
  int64_t epoch_ = 0;
  int dim_ = 0;
  int num_dense_ = 0;
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_TRAINER_H_
