#include "server/server_node.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/log.h"

namespace psd {
namespace {

TaskReport ReportFor(const std::string& job_id, int rank, int64_t generation) {
  TaskReport report;
  report.set_job_id(job_id);
  report.set_role(ROLE_SERVER);
  report.set_rank(rank);
  report.set_generation(generation);
  return report;
}

}  // namespace

void ServerNode::set_link(CoordinatorLink* link) {
  absl::MutexLock lock(&mu_);
  link_ = link;
}

CoordinatorLink* ServerNode::link() {
  absl::MutexLock lock(&mu_);
  return link_;
}

void ServerNode::OnAssignment(const Assignment& a) {
  if (a.action() == Assignment::ACTION_STOP || a.job_id().empty()) {
    if (!current_.empty()) jobs_->End(current_);
    current_.clear();
    return;
  }
  if (a.action() == Assignment::ACTION_PAUSE) {
    spdlog::info("job {}: paused while a server is replaced", a.job_id());
    return;
  }
  if (a.action() != Assignment::ACTION_RUN || a.role() != ROLE_SERVER) return;
  const std::vector<int> live(a.live_workers().begin(), a.live_workers().end());
  if (auto served = jobs_->Get(a.job_id(), a.generation()); served.ok()) {
    (*served)->store->SetLiveWorkers(live);  // the same generation: membership changed
    return;
  }
  InitJobRequest init;
  init.set_job_id(a.job_id());
  init.set_generation(a.generation());
  init.set_spec_yaml(a.spec_yaml());
  init.set_server_rank(a.rank());
  init.set_num_servers(a.server_addresses_size());
  init.set_num_workers(a.num_workers());
  init.set_resume_step(a.resume_step());
  init.set_resume_dir(a.resume_dir());
  *init.mutable_live_workers() = a.live_workers();
  TaskReport report = ReportFor(a.job_id(), a.rank(), a.generation());
  auto job = jobs_->Init(init);
  if (job.ok()) {
    current_ = a.job_id();
    report.set_kind(TaskReport::KIND_READY);
    report.set_step(a.resume_step());
  } else if (a.resume_step() > 0 && (job.status().code() == absl::StatusCode::kNotFound ||
                                     job.status().code() == absl::StatusCode::kDataLoss)) {
    spdlog::error("job {}: checkpoint of step {} unusable: {}", a.job_id(), a.resume_step(),
                  job.status().message());
    report.set_kind(TaskReport::KIND_CHECKPOINT_UNUSABLE);
    report.set_step(a.resume_step());
    report.set_message(std::string(job.status().message()));
  } else {
    spdlog::error("job {}: cannot serve: {}", a.job_id(), job.status().message());
    report.set_kind(TaskReport::KIND_FAILED);
    report.set_message(std::string(job.status().message()));
  }
  Send(report);
}

void ServerNode::OnCheckpoint(const CheckpointMeta& meta, const absl::Status& status) {
  if (!status.ok()) return;
  TaskReport report = ReportFor(meta.job_id, meta.rank, meta.generation);
  report.set_kind(TaskReport::KIND_CHECKPOINTED);
  report.set_step(meta.step);
  Send(report);
  absl::MutexLock lock(&mu_);
  written_[meta.job_id] = std::max(written_[meta.job_id], meta.step);
}

void ServerNode::HandOff(absl::Duration grace) {
  const absl::Time deadline = absl::Now() + grace;
  std::vector<std::pair<std::shared_ptr<ServedJob>, int64_t>> pending;
  CoordinatorLink* const coordinator = link();
  jobs_->ForEach([&](ServedJob& job) {
    if (job.spec.checkpoint.dir.empty() || coordinator == nullptr) return;
    // Every server must save the same step: the coordinator picks it and asks them all.
    absl::StatusOr<int64_t> step = coordinator->RequestCheckpoint(job.id);
    if (!step.ok()) {
      spdlog::warn("job {}: no checkpoint before leaving: {}", job.id, step.status());
      return;
    }
    pending.push_back({jobs_->Get(job.id, 0).value_or(nullptr), *step});
  });
  for (const auto& [job, step] : pending) {
    if (job == nullptr) continue;
    absl::MutexLock lock(&mu_);
    auto written = [this, id = job->id, step = step]()
                       ABSL_NO_THREAD_SAFETY_ANALYSIS { return written_[id] >= step; };
    if (mu_.AwaitWithDeadline(absl::Condition(&written), deadline)) {
      spdlog::info("job {}: checkpoint of step {} written before leaving", job->id, step);
    } else {
      spdlog::warn(
          "job {}: no checkpoint of step {} within the grace period; the last complete one "
          "will be used",
          job->id, step);
    }
  }
  jobs_->ForEach([&](ServedJob& job) {
    TaskReport report = ReportFor(job.id, job.rank, job.generation);
    report.set_kind(TaskReport::KIND_LEAVING);
    report.set_message("server shut down (SIGTERM)");
    Send(report, absl::Seconds(5));
  });
}

void ServerNode::Send(const TaskReport& report, absl::Duration deadline) {
  CoordinatorLink* const coordinator = link();
  if (coordinator == nullptr) return;
  if (absl::Status s = coordinator->ReportTask(report, deadline); !s.ok()) {
    spdlog::warn("job {}: report to coordinator failed: {}", report.job_id(), s);
  }
}

}  // namespace psd
