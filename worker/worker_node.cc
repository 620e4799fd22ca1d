#include "worker/worker_node.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "common/log.h"
#include "common/model_file.h"
#include "common/status_macros.h"
#include "kernels/select.h"
#include "worker/trace_uploader.h"
#include "worker/training_session.h"

namespace psd {
namespace {

TaskReport ReportFor(const std::string& job_id, int rank, int64_t generation) {
  TaskReport report;
  report.set_job_id(job_id);
  report.set_role(ROLE_WORKER);
  report.set_rank(rank);
  report.set_generation(generation);
  return report;
}

// A server went away or moved to a new generation: the coordinator is probably pausing the
// job to recover it.
bool MayBeRecovery(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
         s.code() == absl::StatusCode::kNotFound;
}

std::vector<PlanSegment> PlanSegments(
    const google::protobuf::RepeatedPtrField<MembershipSegment>& membership) {
  std::vector<PlanSegment> segments;
  for (const MembershipSegment& m : membership) {
    segments.push_back({m.from_step(), {m.ranks().begin(), m.ranks().end()}});
  }
  return segments;
}

}  // namespace

std::vector<Device> LocalDevices() {
  std::vector<Device> devices;
  for (const kernels::DeviceInfo& info : kernels::DescribeDevices()) {
    Device d;
    d.set_kind(info.kind == kernels::DeviceKind::kCuda ? "cuda" : "cpu");
    d.set_index(info.index);
    d.set_name(info.name);
    d.set_memory_bytes(info.memory_bytes);
    if (!info.usable) d.set_detail(info.detail.empty() ? "unusable" : info.detail);
    devices.push_back(std::move(d));
  }
  return devices;
}

std::vector<Device> TrainingDevices(const std::vector<const kernels::Backend*>& backends) {
  std::vector<Device> devices;
  for (size_t i = 0; i < backends.size(); ++i) {
    const kernels::Backend& b = *backends[i];
    Device d;
    d.set_kind(std::string(b.name()));
    d.set_index(b.name() == "cpu" ? static_cast<int>(i) : b.device_index());
    d.set_name(b.description());
    devices.push_back(std::move(d));
  }
  return devices;
}

void WorkerNode::OnAssignment(const Assignment& a) {
  const bool run = a.action() == Assignment::ACTION_RUN && a.role() == ROLE_WORKER;
  {
    absl::MutexLock lock(&mu_);
    if (run && a.job_id() == running_.job_id && a.generation() == running_.generation) return;
  }
  StopJob();
  if (a.action() == Assignment::ACTION_PAUSE) {
    spdlog::info("job {}: paused (a recovery is under way)", a.job_id());
  }
  if (a.action() == Assignment::ACTION_STOP && ran_job_ && options_.on_job_ended) {
    options_.on_job_ended(a.job_id());
  }
  if (!run) return;
  ran_job_ = true;
  {
    absl::MutexLock lock(&mu_);
    running_ = {a.job_id(), a.rank(), a.generation()};
  }
  stop_ = false;
  thread_ = std::thread([this, a] { RunJob(a); });
}

void WorkerNode::Leave() {
  Running running;
  {
    absl::MutexLock lock(&mu_);
    running = running_;
  }
  if (running.job_id.empty() || link_ == nullptr) return;
  TaskReport report = ReportFor(running.job_id, running.rank, running.generation);
  report.set_kind(TaskReport::KIND_LEAVING);
  report.set_message("worker shut down (SIGTERM)");
  if (absl::Status s = link_->ReportTask(report, absl::Seconds(5)); !s.ok()) {
    spdlog::warn("job {}: could not tell the coordinator that this worker leaves: {}",
                 running.job_id, s);
  }
}

void WorkerNode::StopJob() {
  stop_ = true;
  {
    absl::MutexLock lock(&mu_);
    if (exchange_ != nullptr) exchange_->Cancel();
    if (rows_ != nullptr) rows_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  running_ = Running();
}

void WorkerNode::RunJob(const Assignment& a) {
  TaskReport report = ReportFor(a.job_id(), a.rank(), a.generation());
  absl::StatusOr<JobResult> result = Train(a);
  if (!result.ok() && !stop_ && MayBeRecovery(result.status())) {
    // Give the coordinator time to pause the job before calling this a failure.
    const absl::Time deadline = absl::Now() + options_.recovery_grace;
    while (!stop_ && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  }
  if (stop_) {
    spdlog::info("job {}: stopped", a.job_id());
    return;
  }
  if (result.ok() && released_) {
    report.set_kind(TaskReport::KIND_RELEASED);
    report.set_step(result->steps());
    spdlog::info("job {}: released at step {} (the job goes on with fewer workers)", a.job_id(),
                 result->steps());
  } else if (result.ok()) {
    report.set_kind(TaskReport::KIND_SUCCEEDED);
    *report.mutable_result() = *result;
    spdlog::info("job {}: done in {:.1f} s", a.job_id(), result->wall_seconds());
  } else {
    report.set_kind(TaskReport::KIND_FAILED);
    report.set_message(std::string(result.status().message()));
    spdlog::error("job {}: failed: {}", a.job_id(), result.status().message());
  }
  if (absl::Status s = link_->ReportTask(report, absl::Seconds(30)); !s.ok()) {
    spdlog::error("job {}: cannot report to the coordinator: {}", a.job_id(), s);
  }
}

absl::Status WorkerNode::AwaitHorizon(
    int64_t step, Progress last,
    const std::function<absl::StatusOr<ReportProgressResponse>(const Progress&)>& report,
    const std::function<absl::Status(const ReportProgressResponse&)>& learn) {
  last.clear_phases();  // not a new interval: the straggler detector ignores it
  last.clear_servers();
  while (!stop_) {
    absl::StatusOr<ReportProgressResponse> answer = report(last);
    if (answer.ok()) {
      if (answer->cancelled()) return absl::CancelledError("cancelled");
      PSD_RETURN_IF_ERROR(learn(*answer));
      if (answer->step_horizon() >= step) return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::CancelledError("stopped");
}

absl::StatusOr<JobResult> WorkerNode::Train(const Assignment& a) {
  ParseOptions parse;
  parse.check_files = true;
  parse.max_data_bytes = options_.max_data_file_bytes;
  PSD_ASSIGN_OR_RETURN(JobSpec spec, ParseJobSpec(a.spec_yaml(), a.job_id(), parse));
  // Elastic servers: the assignment's server list is the job's count now (psdctl scale).
  if (spec.cluster.elastic && a.server_addresses_size() > 0) {
    spec.cluster.servers = a.server_addresses_size();
  }
  SessionOptions session_options;
  session_options.rank = a.rank();
  // The job's first membership fixes its steps and data order; later ranks join it.
  session_options.workers =
      a.membership_size() > 0 ? a.membership(0).ranks_size() : a.num_workers();
  session_options.cpu_threads = options_.cpu_threads;
  session_options.servers = {a.server_addresses().begin(), a.server_addresses().end()};
  session_options.client.job_id = a.job_id();
  session_options.client.generation = a.generation();
  session_options.client.max_in_flight = options_.max_in_flight;
  session_options.client.retry_deadline = options_.retry_deadline;
  session_options.client.channels_per_server = options_.channels_per_server;
  session_options.client.transport = options_.transport;
  session_options.client.tls = options_.tls;
  session_options.slowdown = options_.slowdown;
  session_options.start_step = a.resume_step();
  session_options.trace = trace_;
  if (options_.metrics != nullptr) {
    job_metrics_ = options_.metrics->StartJob(a.job_id(), a.rank(), a.server_addresses_size());
    session_options.metrics = job_metrics_;
  }
  session_options.wait_for_others = [&]() -> absl::Status {
    while (!stop_) {
      absl::StatusOr<bool> done =
          link_->Barrier(a.job_id(), "trained", absl::Seconds(30), ROLE_WORKER);
      if (done.ok() && *done) return absl::OkStatus();
      if (!done.ok() && done.status().code() != absl::StatusCode::kUnavailable) {
        return done.status();
      }
    }
    return absl::CancelledError("stopped");
  };
  if (spec.model.sparse()) return TrainSparse(a, spec, std::move(session_options));
  PSD_ASSIGN_OR_RETURN(auto train, datasets_.Get(spec.data.train_images, spec.data.train_labels));
  std::shared_ptr<const Dataset> test;
  if (a.rank() == 0) {
    PSD_ASSIGN_OR_RETURN(test, datasets_.Get(spec.data.test_images, spec.data.test_labels));
  }
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<TrainingSession> session,
                       TrainingSession::Create(spec, *train, test.get(), session_options));
  {
    absl::MutexLock lock(&mu_);
    exchange_ = &session->exchange();
  }
  if (stop_) session->exchange().Cancel();  // StopJob() came before the exchange was known
  Trainer& trainer = session->trainer();
  PSD_RETURN_IF_ERROR(trainer.set_membership(PlanSegments(a.membership()), a.step_horizon()));
  int known_segments = a.membership_size();
  // Installs the membership and horizon of a progress report's answer.
  auto learn = [&](const ReportProgressResponse& answer) -> absl::Status {
    if (answer.membership_size() > known_segments) {
      spdlog::info("job {}: membership now {} segments; from step {}: {} workers", a.job_id(),
                   answer.membership_size(),
                   answer.membership(answer.membership_size() - 1).from_step(),
                   answer.membership(answer.membership_size() - 1).ranks_size());
      PSD_RETURN_IF_ERROR(trainer.set_membership(PlanSegments(answer.membership()), 0));
      known_segments = answer.membership_size();
    }
    return trainer.set_membership({}, answer.step_horizon());
  };
  std::vector<const kernels::Backend*> backends;
  for (const auto& b : session->backends()) backends.push_back(b.get());
  const std::vector<Device> devices = TrainingDevices(backends);
  Progress last_progress;
  auto report_progress = [&](const Progress& p) {
    ProgressReport r;
    r.set_job_id(a.job_id());
    r.set_worker_rank(a.rank());
    r.set_generation(a.generation());
    r.set_membership_size(known_segments);
    for (const Device& d : devices) *r.add_devices() = d;
    *r.mutable_progress() = p;
    return link_->ReportProgressFully(std::move(r));
  };
  // At the horizon: ask until the coordinator extends it (it holds it while a membership
  // change reaches the servers).
  trainer.set_wait_for_horizon(
      [&](int64_t step) { return AwaitHorizon(step, last_progress, report_progress, learn); });
  spdlog::info("job {}: worker {} of {}, {} steps of batch {} on {} ({})", a.job_id(), a.rank(),
               a.num_workers(), trainer.total_steps(), spec.training.batch_size,
               session->backend().name(), session->backend().description());
  TraceUploader tracing(link_, trace_, a.job_id(), a.rank(), a.generation());
  auto result = trainer.Run(stop_, [&](const Progress& p) {
    last_progress = p;
    const absl::Time sent = absl::Now();
    absl::StatusOr<ReportProgressResponse> answer = report_progress(p);
    const absl::Time answered = absl::Now();
    if (!answer.ok()) return;
    if (answer->cancelled()) stop_ = true;
    if (absl::Status s = learn(*answer); !s.ok()) {
      spdlog::error("job {}: membership from the coordinator refused: {}", a.job_id(), s);
    }
    tracing.OnProgress(sent, answered, *answer, p.step());
  });
  {
    absl::MutexLock lock(&mu_);
    exchange_ = nullptr;
  }
  released_ = trainer.released();
  if (result.ok() && !released_ && a.rank() == 0 && !spec.checkpoint.dir.empty()) {
    const std::string path = ExportedModelPath(spec.checkpoint.dir, a.job_id());
    PSD_RETURN_IF_ERROR(
        WriteModelFile(path, {a.spec_yaml(), session->placement().tensors(), trainer.params()}));
    result->set_model_path(path);
    spdlog::info("job {}: model written to {}", a.job_id(), path);
  }
  return result;
}

}  // namespace psd
