#include "worker/ctr_trainer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auc.h"
#include "common/placement.h"
#include "common/status_macros.h"

namespace psd {

CtrModelConfig CtrConfigFor(const JobSpec& spec) {
  const ModelSpec& m = spec.model;
  CtrModelConfig c;
  c.type = m.type == ModelType::kFm     ? CtrModelType::kFm
           : m.type == ModelType::kDlrm ? CtrModelType::kDlrm
                                        : CtrModelType::kLogreg;
  c.fields = m.sparse_fields;
  c.keys_have_fields = spec.data.format == "criteo";
  c.dense_dim = m.input_dim;
  c.dim = m.embedding.dim;
  c.hidden = m.hidden;
  c.activation = m.activation == Activation::kTanh      ? kernels::Activation::kTanh
                 : m.activation == Activation::kSigmoid ? kernels::Activation::kSigmoid
                                                        : kernels::Activation::kRelu;
  c.mean_pooling = m.embedding.pooling == Pooling::kMean;
  return c;
}

CtrReaderOptions CtrReaderOptionsFor(const JobSpec& spec, int rank, int workers) {
  CtrReaderOptions o;
  o.format = spec.data.format == "libsvm" ? CtrFormat::kLibsvm : CtrFormat::kCriteo;
  o.criteo.dense = spec.data.dense_features;
  o.criteo.categorical = spec.data.categorical_fields;
  o.bad_rows =
      spec.data.bad_rows == BadRowsPolicy::kSkip ? BadRowPolicy::kSkip : BadRowPolicy::kError;
  o.lines.shard_mode = spec.data.shard == ShardRule::kFiles ? ShardMode::kFiles : ShardMode::kLines;
  o.lines.shard_index = rank;
  o.lines.shard_count = workers;
  return o;
}

absl::StatusOr<int64_t> CtrPlannedSteps(const JobSpec& spec, int workers) {
  if (spec.training.max_steps > 0) return spec.training.max_steps;
  const std::vector<std::string>& files = spec.data.train_files;
  LineSourceOptions all;
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<LineSource> lines, LineSource::Open(files, all));
  std::vector<int64_t> per_file(files.size(), 0);
  int64_t total = 0;
  size_t index = 0;
  const std::string* current = nullptr;
  Line line;
  for (;;) {
    PSD_ASSIGN_OR_RETURN(bool more, lines->Next(&line));
    if (!more) break;
    if (line.path != current) {  // the next file with lines (an empty one has none)
      if (current != nullptr) ++index;
      while (index + 1 < files.size() && files[index] != *line.path) ++index;
      current = line.path;
    }
    ++per_file[index];
    ++total;
  }
  int64_t fewest = total / workers;
  if (spec.data.shard == ShardRule::kFiles) {
    std::vector<int64_t> rows(workers, 0);
    for (size_t k = 0; k < files.size(); ++k) rows[k % workers] += per_file[k];
    fewest = *std::min_element(rows.begin(), rows.end());
  }
  const int64_t per_epoch = fewest / spec.training.batch_size;
  if (per_epoch < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.train_files: the smallest worker's shard has ", fewest, " rows (of ", total,
        " lines in ", files.size(), " file(s), ", workers, " workers, data.shard ",
        spec.data.shard == ShardRule::kFiles ? "files" : "lines",
        "), fewer than one batch of training.batch_size ", spec.training.batch_size));
  }
  return per_epoch * spec.training.epochs;
}

absl::StatusOr<CtrTestSet> LoadCtrTestSet(const JobSpec& spec) {
  CtrTestSet set;
  if (spec.data.test_files.empty()) return set;
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<CtrReader> reader,
                       CtrReader::Open(spec.data.test_files, CtrReaderOptionsFor(spec, 0, 1)));
  for (;;) {
    CtrBatch batch;
    PSD_ASSIGN_OR_RETURN(int64_t n, reader->Next(kEvalBatchRows, &batch));
    if (n == 0) break;
    set.rows += n;
    set.batches.push_back(std::move(batch));
  }
  return set;
}

absl::StatusOr<CtrEval> EvaluateCtr(const CtrTestSet& test, int64_t step, CtrModel* model,
                                    RowExchange* rows) {
  std::vector<float> probs, labels;
  probs.reserve(test.rows);
  labels.reserve(test.rows);
  double loss_sum = 0;
  int64_t correct = 0;
  for (const CtrBatch& b : test.batches) {
    PSD_RETURN_IF_ERROR(model->SetBatch(b));
    PSD_RETURN_IF_ERROR(
        rows->Pull(model->unique_keys(), step, model->row_dim(), true, model->rows()));
    PSD_ASSIGN_OR_RETURN(CtrModel::Result r, model->Predict());
    loss_sum += r.loss_sum;
    const absl::Span<const float> p = model->probabilities();
    for (int64_t i = 0; i < b.rows(); ++i) {
      correct += (p[i] >= 0.5f) == (b.labels[i] >= 0.5f);
      probs.push_back(p[i]);
      labels.push_back(b.labels[i]);
    }
  }
  CtrEval e;
  e.logloss = loss_sum / std::max<int64_t>(1, test.rows);
  e.accuracy = static_cast<double>(correct) / std::max<int64_t>(1, test.rows);
  absl::StatusOr<double> auc = ExactAuc(probs, labels);
  if (!auc.ok()) {
    return absl::Status(auc.status().code(),
                        absl::StrCat("data.test_files: ", auc.status().message()));
  }
  e.auc = *auc;
  return e;
}

CtrTrainer::CtrTrainer(const JobSpec& spec, int rank, int workers, int64_t total_steps,
                       CtrDeviceGroup* devices, ParamExchange* dense, RowExchange* rows,
                       const CtrTestSet* test)
    : spec_(spec),
      rank_(rank),
      workers_(workers),
      total_steps_(total_steps),
      devices_(devices),
      dense_(dense),
      rows_(rows),
      test_(test != nullptr && test->rows > 0 ? test : nullptr),
      dim_(spec.model.RowDim()),
      num_dense_(static_cast<int>(ModelTensors(spec.model).size())) {}

absl::Status CtrTrainer::NextBatch() {
  const int64_t want = spec_.training.batch_size;
  PSD_ASSIGN_OR_RETURN(int64_t n, reader_->Next(want, &batch_));
  if (n == want) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(reader_->Rewind());
  ++epoch_;
  PSD_ASSIGN_OR_RETURN(n, reader_->Next(want, &batch_));
  if (n < want) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", rank_, ": its shard of data.train_files holds ", n,
                     " good rows, fewer than one batch of ", want,
                     " (bad rows skipped: ", reader_->skipped(), ")"));
  }
  return absl::OkStatus();
}

std::vector<std::vector<float>> CtrTrainer::DenseParams() const {
  std::vector<std::vector<float>> out;
  for (int t = 0; t < num_dense_; ++t) {
    const absl::Span<float> p = devices_->dense_param(t);
    out.emplace_back(p.begin(), p.end());
  }
  return out;
}

absl::Status CtrTrainer::PullDense(int64_t step) {
  for (int t = 0; t < num_dense_; ++t) dense_->Pull(t, step, devices_->dense_param(t));
  return dense_->Wait();
}

absl::StatusOr<JobResult> CtrTrainer::Run(const std::atomic<bool>& stop,
                                          const ProgressFn& progress) {
  if (start_step_ < 0 || start_step_ > total_steps_) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resume at step ", start_step_,
                                                   " of a job of ", total_steps_, " steps"));
  }
  PSD_ASSIGN_OR_RETURN(reader_, CtrReader::Open(spec_.data.train_files,
                                                CtrReaderOptionsFor(spec_, rank_, workers_)));
  // A resumed worker continues its data where the checkpointed step left it.
  for (int64_t s = 0; s < start_step_; ++s) PSD_RETURN_IF_ERROR(NextBatch());
  PSD_RETURN_IF_ERROR(PullDense(start_step_));

  const absl::Time start = absl::Now();
  Progress report;
  report.set_total_steps(total_steps_);
  report.set_test_accuracy(-1);
  if (test_ != nullptr) {
    report.set_test_auc(-1);
    report.set_test_logloss(-1);
  }
  double loss_sum = 0;
  int64_t examples = 0, correct = 0;
  absl::Time interval_start = start;
  auto evaluate = [&](int64_t at) -> absl::Status {
    PSD_ASSIGN_OR_RETURN(CtrEval e, Evaluate(at));
    report.set_test_auc(e.auc);
    report.set_test_logloss(e.logloss);
    report.set_test_accuracy(e.accuracy);
    report.set_test_step(at);
    return absl::OkStatus();
  };
  for (int64_t step = start_step_; step < total_steps_; ++step) {
    if (stop.load()) return absl::CancelledError("stopped");
    if (horizon_ > 0 && step > horizon_ && wait_for_horizon_) {
      PSD_RETURN_IF_ERROR(wait_for_horizon_(step));
    }
    const absl::Time step_start = absl::Now();
    PSD_RETURN_IF_ERROR(NextBatch());
    PSD_RETURN_IF_ERROR(devices_->SetBatch(batch_));
    PSD_RETURN_IF_ERROR(rows_->Pull(devices_->unique_keys(), step, dim_, false, devices_->rows()));
    PSD_ASSIGN_OR_RETURN(CtrModel::Result r, devices_->TrainStep());
    loss_sum += r.loss_sum;
    examples += r.examples;
    const absl::Span<const float> p = devices_->probabilities();
    for (int64_t i = 0; i < batch_.rows(); ++i)
      correct += (p[i] >= 0.5f) == (batch_.labels[i] >= 0.5f);
    for (int t = 0; t < num_dense_; ++t) {
      dense_->PushPull(t, step, devices_->dense_grad(t), devices_->dense_param(t));
    }
    const absl::Status pushed =
        rows_->Push(devices_->unique_keys(), devices_->row_grads(), dim_, step);
    const absl::Status exchanged = dense_->Wait();
    PSD_RETURN_IF_ERROR(pushed);
    PSD_RETURN_IF_ERROR(exchanged);
    if (metrics_ != nullptr) {
      metrics_->step_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - step_start));
      metrics_->steps.Increment();
      metrics_->samples.Increment(static_cast<double>(r.examples));
    }
    const bool last = step + 1 == total_steps_;
    const bool eval = test_ != nullptr && spec_.training.eval_every > 0 &&
                      (step + 1) % spec_.training.eval_every == 0 && !last;
    if (eval) PSD_RETURN_IF_ERROR(evaluate(step + 1));
    if ((step + 1) % spec_.training.log_every == 0 || last || eval) {
      const absl::Time now = absl::Now();
      report.set_step(step + 1);
      report.set_epoch(static_cast<int32_t>(epoch_));
      report.set_loss(loss_sum / std::max<int64_t>(1, examples));
      report.set_train_accuracy(static_cast<double>(correct) / std::max<int64_t>(1, examples));
      report.set_samples_per_sec(examples /
                                 std::max(1e-9, absl::ToDoubleSeconds(now - interval_start)));
      report.set_max_staleness(dense_->max_staleness());
      report.set_timestamp_ms(absl::ToUnixMillis(now));
      report.set_wall_seconds(absl::ToDoubleSeconds(now - start));
      report.clear_servers();
      for (ServerTiming& t : dense_->TakeServerTimings()) *report.add_servers() = std::move(t);
      if (progress) progress(report);
      loss_sum = 0;
      examples = correct = 0;
      interval_start = now;
    }
  }
  if (wait_for_others_) {
    PSD_RETURN_IF_ERROR(wait_for_others_());
    PSD_RETURN_IF_ERROR(PullDense(total_steps_));
  }
  JobResult result;
  result.set_steps(total_steps_);
  result.set_max_staleness(dense_->max_staleness());
  if (test_ != nullptr) {
    PSD_RETURN_IF_ERROR(evaluate(total_steps_));
    result.set_test_auc(report.test_auc());
    result.set_test_loss(report.test_logloss());
    result.set_test_accuracy(report.test_accuracy());
    if (progress) progress(report);
  }
  result.set_wall_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  return result;
}

}  // namespace psd
