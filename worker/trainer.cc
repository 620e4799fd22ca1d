#include "worker/trainer.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace psd {

int64_t PlannedSteps(const JobSpec& spec, int64_t train_examples, int workers) {
  if (spec.training.max_steps > 0) return spec.training.max_steps;
  const int64_t per_epoch =
      train_examples / (static_cast<int64_t>(spec.training.batch_size) * workers);
  return per_epoch * spec.training.epochs;
}

Trainer::Trainer(const JobSpec& spec, int rank, int workers, const Dataset& train,
                 const Dataset* test, Model* model, ParamExchange* exchange)
    : Trainer(spec, rank, workers, train, test, std::make_unique<DeviceGroup>(model), nullptr,
              exchange) {}

Trainer::Trainer(const JobSpec& spec, int rank, int workers, const Dataset& train,
                 const Dataset* test, DeviceGroup* devices, ParamExchange* exchange)
    : Trainer(spec, rank, workers, train, test, nullptr, devices, exchange) {}

Trainer::Trainer(const JobSpec& spec, int rank, int workers, const Dataset& train,
                 const Dataset* test, std::unique_ptr<DeviceGroup> owned, DeviceGroup* devices,
                 ParamExchange* exchange)
    : spec_(spec),
      rank_(rank),
      train_(train),
      owned_devices_(std::move(owned)),
      devices_(devices != nullptr ? devices : owned_devices_.get()),
      exchange_(exchange),
      plan_(train.count, spec.training.batch_size, workers, spec.seed),
      total_steps_(PlannedSteps(spec, train.count, workers)) {
  for (const TensorInfo& t : devices_->tensors()) params_.emplace_back(t.size);
  x_.resize(static_cast<size_t>(spec.training.batch_size) * train.dim);
  y_.resize(spec.training.batch_size);
  if (test != nullptr) {
    std::vector<int64_t> all(test->count);
    std::iota(all.begin(), all.end(), 0);
    test_x_.resize(test->count * test->dim);
    test_y_.resize(test->count);
    FillBatch(*test, all, spec.data.normalize, test_x_.data(), test_y_.data());
  }
}

namespace {

void RecordStep(WorkerJobMetrics& m, const StepTimes& t, int64_t examples, int64_t staleness) {
  m.phase(StepPhase::kData).Observe(absl::ToDoubleSeconds(t.data));
  m.phase(StepPhase::kForward).Observe(absl::ToDoubleSeconds(t.forward));
  m.phase(StepPhase::kBackward).Observe(absl::ToDoubleSeconds(t.backward));
  m.phase(StepPhase::kPush).Observe(absl::ToDoubleSeconds(t.push));
  m.phase(StepPhase::kWait).Observe(absl::ToDoubleSeconds(t.wait));
  m.phase(StepPhase::kPull).Observe(absl::ToDoubleSeconds(t.pull));
  m.step_seconds.Observe(absl::ToDoubleSeconds(t.step));
  m.steps.Increment();
  m.samples.Increment(static_cast<double>(examples));
  m.max_staleness.Set(static_cast<double>(staleness));
}

}  // namespace

void Trainer::RecordPhases(int64_t step, absl::Duration extra) {
  const absl::Time(&t)[5] = traced_.t;
  const absl::Time first_grad = traced_.first_grad;
  auto event = [&](const char* name, absl::Time start, absl::Time end) {
    TraceEvent e;
    e.name = name;
    e.track = "phases";
    e.step = step;
    e.start_us = TraceMicros(start);
    e.dur_us = TraceMicros(end) - e.start_us;
    return e;
  };
  TraceEvent whole = event("step", t[0], t[4] + extra);
  whole.args = {{"rank", rank_}};
  trace_->Record(std::move(whole));
  trace_->Record(event("data", t[0], t[1]));
  trace_->Record(event("forward", t[1], first_grad));
  // Backward runs from the first gradient to the model's end; the pushes nest inside it.
  trace_->Record(event("backward", first_grad, t[2]));
  for (const TracedPush& p : traced_pushes_) {
    TraceEvent e = event("push", p.start, p.end);
    e.args = {{"tensor", p.tensor}};
    trace_->Record(std::move(e));
  }
  trace_->Record(event("wait", t[2], t[3]));
  trace_->Record(event("pull", t[3], t[4]));
  if (extra > absl::ZeroDuration()) trace_->Record(event("slowdown", t[4], t[4] + extra));
}

absl::Status Trainer::Step(int64_t step, StepResult* seen, StepTimes* times) {
  const bool traced = trace_ != nullptr && trace_->Wants(step);  // one load when off
  if (traced) traced_pushes_.clear();
  const absl::Time t0 = absl::Now();
  FillBatch(train_, plan_.Batch(step, rank_), spec_.data.normalize, x_.data(), y_.data());
  const absl::Time t1 = absl::Now();
  absl::Time first_grad = absl::InfiniteFuture();
  absl::Duration pushing;
  PSD_ASSIGN_OR_RETURN(StepResult r, devices_->TrainStep(x_, y_, [&](uint32_t t) {
    const absl::Time p0 = absl::Now();
    first_grad = std::min(first_grad, p0);
    exchange_->PushPull(t, step, devices_->HostGrad(t), absl::MakeSpan(params_[t]));
    const absl::Time p1 = absl::Now();
    pushing += p1 - p0;
    if (traced) traced_pushes_.push_back({t, p0, p1});
  }));
  const absl::Time t2 = absl::Now();
  PSD_RETURN_IF_ERROR(exchange_->Wait());
  const absl::Time t3 = absl::Now();
  for (uint32_t t = 0; t < params_.size(); ++t)
    PSD_RETURN_IF_ERROR(devices_->SetParam(t, params_[t]));
  const absl::Time t4 = absl::Now();
  first_grad = std::min(first_grad, t2);
  times->data = t1 - t0;
  times->forward = first_grad - t1;
  times->backward = t2 - first_grad - pushing;
  times->push = pushing;
  times->wait = t3 - t2;
  times->pull = t4 - t3;
  times->step = t4 - t0;
  // A --slowdown sleep comes after Step(): Run() records the step's events after it.
  traced_.armed = traced;
  if (traced) {
    traced_.t[0] = t0;
    traced_.t[1] = t1;
    traced_.t[2] = t2;
    traced_.t[3] = t3;
    traced_.t[4] = t4;
    traced_.first_grad = first_grad;
  }
  seen->loss_sum += r.loss_sum;
  seen->correct += r.correct;
  seen->examples += r.examples;
  return absl::OkStatus();
}

absl::Status Trainer::set_membership(std::vector<PlanSegment> segments, int64_t horizon) {
  if (!segments.empty()) PSD_RETURN_IF_ERROR(plan_.SetMembership(std::move(segments)));
  horizon_ = std::max(horizon_, horizon);
  return absl::OkStatus();
}

namespace {

bool HasRank(const PlanSegment& segment, int rank) {
  return std::binary_search(segment.ranks.begin(), segment.ranks.end(), rank);
}

}  // namespace

absl::StatusOr<StepResult> Trainer::Evaluate() { return devices_->Evaluate(test_x_, test_y_); }

absl::Status Trainer::PullAll(int64_t step) {
  for (uint32_t t = 0; t < params_.size(); ++t) {
    exchange_->Pull(t, step, absl::MakeSpan(params_[t]));
  }
  PSD_RETURN_IF_ERROR(exchange_->Wait());
  for (uint32_t t = 0; t < params_.size(); ++t)
    PSD_RETURN_IF_ERROR(devices_->SetParam(t, params_[t]));
  return absl::OkStatus();
}

absl::StatusOr<JobResult> Trainer::Run(const std::atomic<bool>& stop, const ProgressFn& progress) {
  if (plan_.steps_per_epoch() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("training set of ", train_.count,
                                                   " examples is smaller than one global batch of ",
                                                   spec_.training.batch_size, " x workers"));
  }
  if (train_.dim != devices_->input_dim()) {
    return absl::InvalidArgumentError(absl::StrCat("model.input_dim is ", devices_->input_dim(),
                                                   " but the training examples have ", train_.dim,
                                                   " values"));
  }
  if (start_step_ < 0 || start_step_ > total_steps_) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resume at step ", start_step_,
                                                   " of a job of ", total_steps_, " steps"));
  }
  // A rank that joins later (elastic workers) starts at its first segment; one no segment
  // from the start step on names is released at once.
  int64_t first = start_step_;
  if (!HasRank(plan_.SegmentAt(first), rank_)) {
    first = total_steps_;
    for (const PlanSegment& segment : plan_.membership()) {
      if (segment.from_step > start_step_ && HasRank(segment, rank_)) {
        first = std::min(first, segment.from_step);
      }
    }
  }
  PSD_RETURN_IF_ERROR(PullAll(std::min(first, total_steps_)));

  const absl::Time start = absl::Now();
  const int64_t spe = plan_.steps_per_epoch();
  Progress report;
  report.set_total_steps(total_steps_);
  report.set_epochs(static_cast<int32_t>((total_steps_ + spe - 1) / spe));
  report.set_test_accuracy(-1);
  StepResult interval;
  StepPhaseAccumulator phases;
  absl::Time interval_start = start;
  int64_t step = first;
  for (; step < total_steps_; ++step) {
    if (stop.load()) return absl::CancelledError("stopped");
    if (horizon_ > 0 && step > horizon_ && wait_for_horizon_) {
      PSD_RETURN_IF_ERROR(wait_for_horizon_(step));
    }
    if (!HasRank(plan_.SegmentAt(step), rank_)) {
      released_ = true;
      break;
    }
    StepTimes times;
    const int64_t examples_before = interval.examples;
    PSD_RETURN_IF_ERROR(Step(step, &interval, &times));
    if (slowdown_ > 1.0) {
      const absl::Duration extra = times.step * (slowdown_ - 1.0);
      absl::SleepFor(extra);
      times.step += extra;
    }
    if (traced_.armed) RecordPhases(step, times.step - (traced_.t[4] - traced_.t[0]));
    phases.Add(times);
    if (metrics_ != nullptr) {
      RecordStep(*metrics_, times, interval.examples - examples_before, exchange_->max_staleness());
    }
    const bool last = step + 1 == total_steps_;
    const bool eval = !test_y_.empty() && spec_.training.eval_every > 0 &&
                      (step + 1) % spec_.training.eval_every == 0 && !last;
    if (eval) {
      PSD_ASSIGN_OR_RETURN(StepResult e, Evaluate());
      report.set_test_accuracy(static_cast<double>(e.correct) / e.examples);
      report.set_test_step(step + 1);
    }
    if ((step + 1) % spec_.training.log_every == 0 || last || eval) {
      const absl::Time now = absl::Now();
      report.set_step(step + 1);
      report.set_epoch(static_cast<int32_t>(plan_.EpochOf(step)));
      report.set_loss(interval.loss_sum / std::max<int64_t>(1, interval.examples));
      report.set_train_accuracy(static_cast<double>(interval.correct) /
                                std::max<int64_t>(1, interval.examples));
      report.set_samples_per_sec(interval.examples /
                                 std::max(1e-9, absl::ToDoubleSeconds(now - interval_start)));
      report.set_max_staleness(exchange_->max_staleness());
      report.set_timestamp_ms(absl::ToUnixMillis(now));
      report.set_wall_seconds(absl::ToDoubleSeconds(now - start));
      *report.mutable_phases() = phases.Mean();
      report.clear_servers();
      for (ServerTiming& t : exchange_->TakeServerTimings()) *report.add_servers() = std::move(t);
      if (progress) progress(report);
      phases.Reset();
      interval = {};
      interval_start = now;
    }
  }
  if (released_) {
    JobResult result;
    result.set_steps(step);
    result.set_wall_seconds(absl::ToDoubleSeconds(absl::Now() - start));
    return result;
  }
  if (wait_for_others_) {
    PSD_RETURN_IF_ERROR(wait_for_others_());
    // The others' last updates (async, ssp) are on the servers now.
    PSD_RETURN_IF_ERROR(PullAll(total_steps_));
  }
  JobResult result;
  result.set_steps(total_steps_);
  result.set_max_staleness(exchange_->max_staleness());
  if (!test_y_.empty()) {
    PSD_ASSIGN_OR_RETURN(StepResult e, Evaluate());
    result.set_test_accuracy(static_cast<double>(e.correct) / e.examples);
    result.set_test_loss(e.loss_sum / e.examples);
    report.set_test_accuracy(result.test_accuracy());
    report.set_test_step(total_steps_);
    if (progress) progress(report);
  }
  result.set_wall_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  return result;
}

}  // namespace psd
