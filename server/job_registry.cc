#include "server/job_registry.h"

#include <new>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "common/log.h"
#include "common/memory_estimate.h"
#include "common/status_macros.h"
#include "server/checkpoint.h"

namespace psd {

// The most worker ranks a job may have had, elastic workers included.
constexpr int kMaxJobWorkers = 65536;

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Init(const InitJobRequest& request) {
  PSD_RETURN_IF_ERROR(ValidateJobId(request.job_id()));
  if (std::shared_ptr<ServedJob> existing = Find(request.job_id());
      existing != nullptr && existing->generation == request.generation()) {
    return existing;
  }
  PSD_ASSIGN_OR_RETURN(JobSpec spec,
                       ParseJobSpec(request.spec_yaml(), absl::StrCat("job ", request.job_id())));
  if (request.num_servers() != spec.cluster.servers) {
    return absl::InvalidArgumentError(absl::StrCat("num_servers ", request.num_servers(),
                                                   " differs from cluster.servers ",
                                                   spec.cluster.servers));
  }
  // Elastic workers: ranks added while the job ran (psdctl scale) come after cluster.workers.
  if (request.num_workers() < spec.cluster.workers || request.num_workers() > kMaxJobWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_workers ", request.num_workers(), " is below cluster.workers ",
                     spec.cluster.workers, " or above ", kMaxJobWorkers));
  }
  return Init(request.job_id(), request.generation(), spec, request.server_rank(),
              request.num_workers(), {request.live_workers().begin(), request.live_workers().end()},
              request.resume_step(), request.resume_dir(),
              {request.worker_identities().begin(), request.worker_identities().end()});
}

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Init(
    const std::string& job_id, int64_t generation, const JobSpec& spec, int rank, int num_workers,
    const std::vector<int>& live_workers, int64_t resume_step, const std::string& resume_dir,
    std::vector<std::string> worker_identities) {
  PSD_RETURN_IF_ERROR(ValidateJobId(job_id));
  if (generation < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation: must be the job's (>= 1), got ", generation));
  }
  if (rank < 0 || rank >= spec.cluster.servers) {
    return absl::InvalidArgumentError(
        absl::StrCat("server rank ", rank, " out of range [0, ", spec.cluster.servers, ")"));
  }
  if (resume_step < 0) {
    return absl::InvalidArgumentError(absl::StrCat("resume_step: negative, got ", resume_step));
  }
  if (!resume_dir.empty()) PSD_RETURN_IF_ERROR(ValidateStepDir(resume_dir, resume_step));
  absl::MutexLock init(&init_mu_);
  const MemoryEstimate need = EstimateServerMemory(spec);
  int64_t in_use = 0;
  ForEach([&](ServedJob& other) {
    if (other.id != job_id) in_use += other.memory_bytes;
  });
  if (absl::Status fits = CheckMemoryBudget(need, options_.memory_budget_bytes, in_use);
      !fits.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat("job ", job_id, ": ", fits.message()));
  }
  absl::StatusOr<std::shared_ptr<ServedJob>> created;
  try {
    created = Create(job_id, generation, spec, rank, num_workers, resume_step, resume_dir);
  } catch (const std::bad_alloc&) {
    created = absl::ResourceExhaustedError(
        absl::StrCat("job ", job_id, ": out of memory while creating its chunks (estimated ",
                     FormatMemory(need.total()), " per server)"));
  }
  if (!created.ok()) return created.status();
  std::shared_ptr<ServedJob> job = *std::move(created);
  job->SetWorkerIdentities(std::move(worker_identities));
  job->memory_bytes = need.total();
  if (options_.metrics) {
    job->metrics = std::make_shared<ServerJobMetrics>();
    job->store->SetMetrics(&job->metrics->apply_seconds, &job->metrics->staleness);
  }
  ConnectCheckpoints(job);
  job->store->SetFailureHandler([fn = options_.on_job_failed](const absl::Status&) {
    if (fn) fn();
  });
  if (!live_workers.empty()) job->SetLiveWorkers(live_workers);
  std::shared_ptr<ServedJob> old;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = jobs_[job->id];
    old = std::move(slot);
    slot = job;
  }
  if (old != nullptr) {
    old->Close(absl::AbortedError(
        absl::StrCat("job ", job->id, " moved to generation ", job->generation)));
  }
  spdlog::info("job {} generation {}: serving {} chunks ({} bytes) as server {} of {}", job->id,
               job->generation, job->store->keys().size(), job->store->num_bytes(), job->rank,
               spec.cluster.servers);
  return job;
}

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Create(const std::string& job_id,
                                                               int64_t generation,
                                                               const JobSpec& spec, int rank,
                                                               int num_workers, int64_t resume_step,
                                                               const std::string& resume_dir) {
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
  PSD_ASSIGN_OR_RETURN(
      job->store, ShardStore::Create(spec, job->placement, rank, num_workers,
                                     resume_step > 0 ? &restore : nullptr, resume_step, job_id));
  if (spec.model.sparse()) {
    PSD_ASSIGN_OR_RETURN(
        job->sparse, SparseStore::Create(spec, rank, spec.cluster.servers, num_workers, job_id));
  }
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
    task.metrics = j->metrics;
    writer->Enqueue(std::move(task));
  });
}

std::shared_ptr<ServedJob> JobRegistry::Find(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<ServedJob>> JobRegistry::Get(const std::string& job_id,
                                                            int64_t generation) const {
  if (generation <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation: every call names the job's generation (>= 1), got ", generation));
  }
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job '", job_id, "' is not served here"));
  }
  if (it->second->generation != generation) {
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
  job->Close(absl::CancelledError(absl::StrCat("job ", job_id, " ended")));
  spdlog::info("job {}: state dropped", job_id);
}

absl::Status JobRegistry::End(const std::string& job_id, int64_t generation) {
  std::shared_ptr<ServedJob> job;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end() && it->second->generation == generation) {
      job = std::move(it->second);
      jobs_.erase(it);
    }
  }
  if (job == nullptr) return Get(job_id, generation).status();  // why not
  job->Close(absl::CancelledError(absl::StrCat("job ", job_id, " ended")));
  spdlog::info("job {}: state dropped", job_id);
  return absl::OkStatus();
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
