#include "server/job_registry.h"

#include <filesystem>
#include <new>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/checkpoint_layout.h"
#include "common/log.h"
#include "common/memory_estimate.h"
#include "common/status_macros.h"
#include "server/checkpoint.h"
#include "server/checkpoint_restore.h"
#include "server/table_checkpoint.h"

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
  // Elastic servers: cluster.servers is the count the job started with; the assignment's list
  // of servers is the count now (psdctl scale --servers).
  if (spec.cluster.elastic && request.num_servers() >= 1 && request.num_servers() <= kMaxServers) {
    spec.cluster.servers = request.num_servers();
  }
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

absl::Status ServedJob::ScheduleCheckpoint(int64_t step) {
  if (sparse != nullptr) {
    // Both or neither: a part whose other never comes would wait for ever.
    const int64_t earliest =
        std::max(store->NextCheckpointableStep(), sparse->NextCheckpointableStep());
    if (step < earliest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot checkpoint step ", step, ": this server is already at step ", earliest - 1));
    }
    PSD_RETURN_IF_ERROR(sparse->ScheduleCheckpoint(step));
  }
  return store->ScheduleCheckpoint(step);
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
  OwnedChunks restore;
  std::string dir;
  if (resume_step > 0) {
    if (resume_dir.empty() && spec.checkpoint.dir.empty()) {
      return absl::NotFoundError(absl::StrCat("cannot resume job ", job_id, " at step ",
                                              resume_step, ": it has no checkpoint.dir"));
    }
    dir = resume_dir.empty() ? CheckpointStepDir(spec.checkpoint.dir, job_id, resume_step)
                             : resume_dir;
    PSD_ASSIGN_OR_RETURN(restore, ReadOwnedChunks(dir, spec, job->placement, rank));
    job->loaded_bytes = restore.loaded_bytes;
    job->moved_bytes = restore.moved_bytes;
    spdlog::info(
        "job {}: loaded the checkpoint of step {} from {} ({} of {} servers; {} bytes "
        "from other ranks' files)",
        job_id, resume_step, dir, restore.written_by, spec.cluster.servers, restore.moved_bytes);
  }
  PSD_ASSIGN_OR_RETURN(job->store, ShardStore::Create(spec, job->placement, rank, num_workers,
                                                      resume_step > 0 ? &restore.chunks : nullptr,
                                                      resume_step, job_id));
  if (spec.model.sparse()) {
    PSD_ASSIGN_OR_RETURN(
        job->sparse, SparseStore::Create(spec, rank, spec.cluster.servers, num_workers, job_id));
    if (resume_step > 0) {
      PSD_ASSIGN_OR_RETURN(
          const RestoredRows rows,
          RestoreOwnedRows(dir, resume_step, spec, rank, restore.written_by, job_id, *job->sparse));
      spdlog::info(
          "job {}: restored {} embedding rows of step {} from {} ({} bytes from other "
          "ranks' chains)",
          job_id, rows.rows, resume_step, dir, rows.moved_bytes);
      job->loaded_bytes += rows.loaded_bytes;
      job->moved_bytes += rows.moved_bytes;
    }
  }
  return job;
}

void JobRegistry::ConnectCheckpoints(const std::shared_ptr<ServedJob>& job) {
  if (writer_ == nullptr || job->spec.checkpoint.dir.empty()) return;
  std::weak_ptr<ServedJob> weak = job;
  CheckpointWriter* writer = writer_;
  auto enqueue = [weak, writer](const std::shared_ptr<ServedJob>& j, int64_t step,
                                std::vector<ChunkSnapshot> chunks,
                                std::shared_ptr<const TableSnapshot> table) {
    CheckpointWriter::Task task;
    task.dir = j->spec.checkpoint.dir;
    task.keep = j->spec.checkpoint.keep;
    task.meta = {j->id,
                 step,
                 j->generation,
                 j->rank,
                 j->spec.cluster.servers,
                 absl::ToUnixMillis(absl::Now())};
    task.placement = std::shared_ptr<const Placement>(j, &j->placement);
    task.chunks = std::move(chunks);
    task.metrics = j->metrics;
    if (table != nullptr) {
      task.table = std::move(table);
      task.table_written = [weak](const absl::Status& status) {
        // The next incremental would apply on a file that is not there: make it full.
        if (std::shared_ptr<ServedJob> k = weak.lock(); k != nullptr && !status.ok()) {
          k->sparse->ForceFullCheckpoint();
        }
      };
    }
    writer->Enqueue(std::move(task));
  };
  if (job->sparse == nullptr) {
    job->store->SetSnapshotHandler(
        [weak, enqueue](int64_t step, std::vector<ChunkSnapshot> chunks) {
          if (std::shared_ptr<ServedJob> j = weak.lock(); j != nullptr) {
            enqueue(j, step, std::move(chunks), nullptr);
          }
        });
    return;
  }
  // Sparse models: one server checkpoint once both parts of the step are in. Older steps still
  // waiting for a part will not get it (the clocks only move on): they are dropped, and a
  // dropped table means the next table checkpoint must be full.
  auto complete = [enqueue](const std::shared_ptr<ServedJob>& j, int64_t step) {
    ServedJob::PendingCheckpoint done;
    bool dropped_table = false;
    {
      absl::MutexLock lock(&j->pending_mu);
      auto it = j->pending.find(step);
      // A server that holds no dense chunk (more servers than the dense part's chunks) has
      // its table only: its dense store never takes a snapshot.
      const bool chunks_in =
          it != j->pending.end() && (it->second.has_chunks || j->store->keys().empty());
      if (!chunks_in || it->second.table == nullptr) return;
      done = std::move(it->second);
      for (auto old = j->pending.begin(); old != it; ++old) {
        dropped_table = dropped_table || old->second.table != nullptr;
        spdlog::warn("job {}: checkpoint of step {} dropped: only its {} came in", j->id,
                     old->first, old->second.has_chunks ? "chunks" : "table");
      }
      j->pending.erase(j->pending.begin(), std::next(it));
    }
    if (dropped_table) j->sparse->ForceFullCheckpoint();
    enqueue(j, step, std::move(done.chunks), std::move(done.table));
  };
  job->store->SetSnapshotHandler([weak, complete](int64_t step, std::vector<ChunkSnapshot> chunks) {
    std::shared_ptr<ServedJob> j = weak.lock();
    if (j == nullptr) return;
    {
      absl::MutexLock lock(&j->pending_mu);
      ServedJob::PendingCheckpoint& p = j->pending[step];
      p.has_chunks = true;
      p.chunks = std::move(chunks);
    }
    complete(j, step);
  });
  job->sparse->SetSnapshotHandler(
      [weak, complete](int64_t step, std::shared_ptr<const TableSnapshot> table) {
        std::shared_ptr<ServedJob> j = weak.lock();
        if (j == nullptr) return;
        {
          absl::MutexLock lock(&j->pending_mu);
          j->pending[step].table = std::move(table);
        }
        complete(j, step);
      });
}

void JobRegistry::ExportTable(const ServedJob& job) {
  if (job.sparse == nullptr || job.spec.checkpoint.dir.empty()) return;
  if (!job.sparse->Finished()) {
    spdlog::info("job {}: the embedding table is not exported: the job did not reach its end",
                 job.id);
    return;
  }
  const std::string path =
      ExportedTablePath(job.spec.checkpoint.dir, job.id, job.rank, job.spec.cluster.servers);
  std::shared_ptr<TableSnapshot> table = job.sparse->FullSnapshot();
  absl::StatusOr<TableFileInfo> info = WriteTableFile(path, *table);
  if (!info.ok()) {
    spdlog::error("job {}: exporting the embedding table to {} failed: {}", job.id, path,
                  info.status());
    return;
  }
  spdlog::info("job {}: exported {} embedding rows ({} bytes) to {}", job.id, table->keys.size(),
               info->bytes, path);
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
  ExportTable(*job);
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
  ExportTable(*job);
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
