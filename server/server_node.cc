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

void ServerNode::EndJobsOtherThan(const std::string& keep) {
  std::vector<std::string> ended;
  jobs_->ForEach([&](ServedJob& job) {
    if (job.id != keep) ended.push_back(job.id);
  });
  for (const std::string& id : ended) jobs_->End(id);
}

void ServerNode::OnAssignment(const Assignment& a) {
  // A node has one assignment: whatever else is served here has ended, even when the STOP
  // that said so was overtaken by the next job's RUN.
  const bool stop = a.action() == Assignment::ACTION_STOP || a.job_id().empty();
  EndJobsOtherThan(stop ? std::string() : a.job_id());
  if (stop) return;
  if (a.action() == Assignment::ACTION_PAUSE) {
    spdlog::info("job {}: paused while a server is replaced", a.job_id());
    return;
  }
  if (a.action() != Assignment::ACTION_RUN || a.role() != ROLE_SERVER) return;
  const std::vector<int> live(a.live_workers().begin(), a.live_workers().end());
  std::vector<WorkerSegment> segments;
  for (const MembershipSegment& m : a.membership()) {
    segments.push_back({m.from_step(), {m.ranks().begin(), m.ranks().end()}});
  }
  if (auto served = jobs_->Get(a.job_id(), a.generation()); served.ok()) {
    // The same generation: membership changed (a worker lost, or elastic workers).
    (*served)->SetWorkerIdentities({a.worker_identities().begin(), a.worker_identities().end()});
    (*served)->store->SetMembership(a.num_workers(), live, std::move(segments));
    if ((*served)->sparse != nullptr) (*served)->sparse->SetLiveWorkers(live);
    if (a.membership_size() > 0) {
      TaskReport applied = ReportFor(a.job_id(), a.rank(), a.generation());
      applied.set_kind(TaskReport::KIND_MEMBERSHIP_APPLIED);
      applied.set_step(a.membership_size());
      Send(applied);
    }
    ScheduleRequestedCheckpoint(**served, a);
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
  *init.mutable_worker_identities() = a.worker_identities();
  TaskReport report = ReportFor(a.job_id(), a.rank(), a.generation());
  auto job = jobs_->Init(init);
  if (job.ok() && a.membership_size() > 0) {
    (*job)->store->SetMembership(a.num_workers(), live, std::move(segments));
  }
  if (job.ok()) {
    ScheduleRequestedCheckpoint(**job, a);
    report.set_kind(TaskReport::KIND_READY);
    report.set_step(a.resume_step());
    report.set_loaded_bytes((*job)->loaded_bytes);
    report.set_moved_bytes((*job)->moved_bytes);
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

void ServerNode::ScheduleRequestedCheckpoint(ServedJob& job, const Assignment& a) {
  const int64_t step = a.checkpoint_step();
  {
    absl::MutexLock lock(&mu_);
    std::pair<int64_t, int64_t>& requested = requested_[job.id];  // generation, step
    if (step <= 0 || (requested.first == job.generation && step <= requested.second)) return;
    requested = {job.generation, step};
  }
  if (absl::Status s = job.ScheduleCheckpoint(step); !s.ok()) {
    spdlog::error("job {}: cannot checkpoint step {} for the server change: {}", job.id, step, s);
    TaskReport report = ReportFor(job.id, job.rank, job.generation);
    report.set_kind(TaskReport::KIND_CHECKPOINT_FAILED);
    report.set_step(step);
    report.set_message(std::string(s.message()));
    Send(report);
    return;
  }
  spdlog::info("job {}: checkpoint of step {} scheduled for the server change", job.id, step);
}

void ServerNode::OnCheckpoint(const CheckpointMeta& meta, const absl::Status& status) {
  TaskReport report = ReportFor(meta.job_id, meta.rank, meta.generation);
  report.set_kind(status.ok() ? TaskReport::KIND_CHECKPOINTED : TaskReport::KIND_CHECKPOINT_FAILED);
  report.set_step(meta.step);
  report.set_snapshot_unix_ms(meta.snapshot_unix_ms);
  if (!status.ok()) report.set_message(std::string(status.message()));
  Send(report);
  absl::MutexLock lock(&mu_);
  settled_[meta.job_id] = std::max(settled_[meta.job_id], meta.step);
  if (status.ok()) written_[meta.job_id] = std::max(written_[meta.job_id], meta.step);
}

void ServerNode::OnJobFaults(const ServedJob& job, const ShardStats& stats,
                             const absl::Status& failure) {
  TaskReport report = ReportFor(job.id, job.rank, job.generation);
  if (!failure.ok()) {
    report.set_kind(TaskReport::KIND_FAILED);
    report.set_message(std::string(failure.message()));
  } else {
    report.set_kind(TaskReport::KIND_NONFINITE_GRADIENTS);
    report.mutable_faults()->set_nonfinite_pushes_rejected(stats.nonfinite_rejected);
    report.mutable_faults()->set_nonfinite_chunks_skipped(stats.nonfinite_skipped);
  }
  Send(report, absl::Seconds(5));
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
    pending.push_back({jobs_->Find(job.id), *step});
  });
  for (const auto& [job, step] : pending) {
    if (job == nullptr) continue;
    absl::MutexLock lock(&mu_);
    auto settled = [this, id = job->id, step = step]()
                       ABSL_NO_THREAD_SAFETY_ANALYSIS { return settled_[id] >= step; };
    if (mu_.AwaitWithDeadline(absl::Condition(&settled), deadline)) {
      if (written_[job->id] >= step) {
        spdlog::info("job {}: checkpoint of step {} written before leaving", job->id, step);
      } else {
        spdlog::warn("job {}: checkpoint of step {} failed before leaving", job->id, step);
      }
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
    // Within the grace period, whatever the coordinator does.
    Send(report, std::clamp(deadline - absl::Now(), absl::Milliseconds(200), absl::Seconds(5)));
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
