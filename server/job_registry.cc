#include "server/job_registry.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/checkpoint.h"

namespace psd {

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Init(const InitJobRequest& request) {
  if (auto existing = Get(request.job_id(), 0);
      existing.ok() && (*existing)->generation == request.generation()) {
    return existing;
  }
  PSD_ASSIGN_OR_RETURN(JobSpec spec,
                       ParseJobSpec(request.spec_yaml(), absl::StrCat("job ", request.job_id())));
  if (request.num_servers() != spec.cluster.servers) {
    return absl::InvalidArgumentError(absl::StrCat("num_servers ", request.num_servers(),
                                                   " differs from cluster.servers ",
                                                   spec.cluster.servers));
  }
  return Init(request.job_id(), request.generation(), spec, request.server_rank(),
              request.num_workers(), {request.live_workers().begin(), request.live_workers().end()},
              request.resume_step(), request.resume_dir());
}

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Init(
    const std::string& job_id, int64_t generation, const JobSpec& spec, int rank, int num_workers,
    const std::vector<int>& live_workers, int64_t resume_step, const std::string& resume_dir) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id is empty");
  auto job = std::make_shared<ServedJob>();
  job->id = job_id;
  job->generation = generation;
  job->rank = rank;
  job->spec = spec;
  PSD_ASSIGN_OR_RETURN(job->placement, Placement::ForJob(spec));
  std::vector<ChunkSnapshot> restore;
  if (resume_step > 0) {
    if (resume_dir.empty() && spec.checkpoint.dir.empty()) {
      return absl::NotFoundError(absl::StrCat("cannot resume job ", job_id, " at step ",
                                              resume_step, ": it has no checkpoint.dir"));
    }
    const std::string dir = resume_dir.empty()
                                ? CheckpointStepDir(spec.checkpoint.dir, job_id, resume_step)
                                : resume_dir;
    PSD_ASSIGN_OR_RETURN(restore, ReadCheckpoint(dir, rank, job->placement));
    spdlog::info("job {}: loaded the checkpoint of step {} from {}", job_id, resume_step, dir);
  }
  PSD_ASSIGN_OR_RETURN(job->store,
                       ShardStore::Create(spec, job->placement, rank, num_workers,
                                          resume_step > 0 ? &restore : nullptr, resume_step));
  ConnectCheckpoints(job);
  if (!live_workers.empty()) job->store->SetLiveWorkers(live_workers);
  std::shared_ptr<ServedJob> old;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = jobs_[job->id];
    old = std::move(slot);
    slot = job;
  }
  if (old != nullptr) {
    old->store->Close(absl::AbortedError(
        absl::StrCat("job ", job->id, " moved to generation ", job->generation)));
  }
  spdlog::info("job {} generation {}: serving {} chunks ({} bytes) as server {} of {}", job->id,
               job->generation, job->store->keys().size(), job->store->num_bytes(), job->rank,
               spec.cluster.servers);
  return job;
}

void JobRegistry::ConnectCheckpoints(const std::shared_ptr<ServedJob>& job) {
  if (writer_ == nullptr || job->spec.checkpoint.dir.empty()) return;
  std::weak_ptr<ServedJob> weak = job;
  CheckpointWriter* writer = writer_;
  job->store->SetSnapshotHandler([weak, writer](int64_t step, std::vector<ChunkSnapshot> chunks) {
    std::shared_ptr<ServedJob> j = weak.lock();
    if (j == nullptr) return;
    CheckpointWriter::Task task;
    task.dir = j->spec.checkpoint.dir;
    task.keep = j->spec.checkpoint.keep;
    task.meta = {j->id, step, j->generation, j->rank, j->spec.cluster.servers};
    task.placement = std::shared_ptr<const Placement>(j, &j->placement);
    task.chunks = std::move(chunks);
    writer->Enqueue(std::move(task));
  });
}

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Get(const std::string& job_id,
                                                            int64_t generation) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job '", job_id, "' is not served here"));
  }
  if (generation != 0 && it->second->generation != generation) {
    return absl::AbortedError(absl::StrCat("job ", job_id, " is at generation ",
                                           it->second->generation, ", request has ", generation));
  }
  return it->second;
}

void JobRegistry::End(const std::string& job_id) {
  std::shared_ptr<ServedJob> job;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    job = std::move(it->second);
    jobs_.erase(it);
  }
  job->store->Close(absl::CancelledError(absl::StrCat("job ", job_id, " ended")));
  spdlog::info("job {}: state dropped", job_id);
}

void JobRegistry::ForEach(const std::function<void(ServedJob&)>& fn) const {
  std::vector<std::shared_ptr<ServedJob>> jobs;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, job] : jobs_) jobs.push_back(job);
  }
  for (const auto& job : jobs) fn(*job);
}

}  // namespace psd
