// The jobs this server holds chunks for (usually one at a time), by job id.
#ifndef PSD_SERVER_JOB_REGISTRY_H_
#define PSD_SERVER_JOB_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "proto/parameter_server.pb.h"
#include "server/checkpoint_writer.h"
#include "server/job_metrics.h"
#include "server/shard_store.h"
#include "server/sparse_store.h"

namespace psd {

struct ServedJob {
  std::string id;
  int64_t generation = 0;
  int rank = 0;
  JobSpec spec;
  Placement placement;
  std::unique_ptr<ShardStore> store;
  std::unique_ptr<SparseStore> sparse;  // sparse models only: the embedding rows
  int64_t memory_bytes = 0;             // common/memory_estimate.h's figure for the job
  // Loaded from a checkpoint at the start of this generation: state bytes, and of them those
  // read from other ranks' files (a change of server count).
  int64_t loaded_bytes = 0, moved_bytes = 0;
  // The certificate name of each worker rank (the coordinator's assignment); a push or pull
  // for rank r is accepted only from that certificate. Empty under --insecure. Elastic
  // workers add ranks while the job runs.
  std::string WorkerIdentity(int rank) const {
    absl::MutexLock lock(&identities_mu);
    return rank >= 0 && rank < static_cast<int>(worker_identities.size()) ? worker_identities[rank]
                                                                          : std::string();
  }
  bool HasWorkerIdentities() const {
    absl::MutexLock lock(&identities_mu);
    return !worker_identities.empty();
  }
  void SetWorkerIdentities(std::vector<std::string> names) {
    absl::MutexLock lock(&identities_mu);
    if (!names.empty()) worker_identities = std::move(names);
  }
  mutable absl::Mutex identities_mu;
  std::vector<std::string> worker_identities ABSL_GUARDED_BY(identities_mu);
  // Fails the waiting pulls of both stores with `reason` and refuses later calls.
  void Close(const absl::Status& reason) {
    store->Close(reason);
    if (sparse != nullptr) sparse->Close(reason);
  }
  // The workers the clocks wait for (both stores).
  void SetLiveWorkers(const std::vector<int>& workers) {
    store->SetLiveWorkers(workers);
    if (sparse != nullptr) sparse->SetLiveWorkers(workers);
  }
  // The job's metrics (server/job_metrics.h); null when metrics are off.
  std::shared_ptr<ServerJobMetrics> metrics;
  // Adds a checkpoint at `step` to both stores; FailedPrecondition if either is past it.
  absl::Status ScheduleCheckpoint(int64_t step);
  // Sparse models: the parts of a checkpoint (chunks, table) that came in, by step; a server
  // checkpoint is written once both parts of its step are in.
  struct PendingCheckpoint {
    bool has_chunks = false;
    std::vector<ChunkSnapshot> chunks;
    std::shared_ptr<const TableSnapshot> table;
  };
  absl::Mutex pending_mu;
  std::map<int64_t, PendingCheckpoint> pending ABSL_GUARDED_BY(pending_mu);
};

struct JobRegistryOptions {
  // Jobs are refused (ResourceExhausted) beyond this many bytes in all (0: no limit).
  int64_t memory_budget_bytes = 0;
  // Called (it must not block) when a push has failed a job: see ShardStore::failure().
  std::function<void()> on_job_failed;
  // Give every job its ServerJobMetrics (--metrics_port); off, the hot path records nothing.
  bool metrics = false;
};

class JobRegistry {
 public:
  // With a writer, jobs that have checkpoint.dir are checkpointed through it.
  explicit JobRegistry(CheckpointWriter* writer = nullptr, JobRegistryOptions options = {})
      : writer_(writer), options_(std::move(options)) {}

  // Creates the job's chunks for this server, after checking every field of the request (ids,
  // generation, ranks, counts, resume dir) and that the job fits in the memory budget; an
  // allocation that fails anyway is ResourceExhausted. The same job and generation again is a
  // no-op; a new generation replaces the old state (its waiting pulls fail with Aborted).
  absl::StatusOr<std::shared_ptr<ServedJob>> Init(const InitJobRequest& request);
  // The same for a parsed spec; `live_workers` empty means all. With resume_step > 0 the
  // chunks come from that step's checkpoint of this rank, in `resume_dir` or else under the
  // job's checkpoint.dir, and a sparse model's table from the chain of table files that ends
  // there (server/table_checkpoint.h); a checkpoint that cannot be used gives NotFound or
  // DataLoss naming the file.
  absl::StatusOr<std::shared_ptr<ServedJob>> Init(const std::string& job_id, int64_t generation,
                                                  const JobSpec& spec, int rank, int num_workers,
                                                  const std::vector<int>& live_workers = {},
                                                  int64_t resume_step = 0,
                                                  const std::string& resume_dir = "",
                                                  std::vector<std::string> worker_identities = {});
  // The job, if it is served here in exactly `generation` (an RPC's: 0 is InvalidArgument).
  absl::StatusOr<std::shared_ptr<ServedJob>> Get(const std::string& job_id,
                                                 int64_t generation) const;
  // The job in whatever generation is served (this server's own lookups); null if none.
  std::shared_ptr<ServedJob> Find(const std::string& job_id) const;
  // Drops the job's state; waiting pulls fail with Cancelled. A sparse job whose table reached
  // its last step first exports the table (ExportTable).
  void End(const std::string& job_id);
  // The same when it is served in `generation` (an RPC's): else as Get's errors.
  absl::Status End(const std::string& job_id, int64_t generation);
  void ForEach(const std::function<void(ServedJob&)>& fn) const;
  // Whether jobs get their ServerJobMetrics (JobRegistryOptions::metrics).
  bool metrics() const { return options_.metrics; }

 private:
  // Sends the store's checkpoints to the writer.
  void ConnectCheckpoints(const std::shared_ptr<ServedJob>& job);
  // Sparse models with checkpoint.dir: writes the job's final table beside its model file
  // (ExportedTablePath) when the table reached the job's last step.
  static void ExportTable(const ServedJob& job);

  // Init() after its checks.
  absl::StatusOr<std::shared_ptr<ServedJob>> Create(const std::string& job_id, int64_t generation,
                                                    const JobSpec& spec, int rank, int num_workers,
                                                    int64_t resume_step,
                                                    const std::string& resume_dir);

  CheckpointWriter* writer_;
  const JobRegistryOptions options_;
  absl::Mutex init_mu_;  // one Init at a time: the memory budget holds for all
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ServedJob>> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace psd

#endif  // PSD_SERVER_JOB_REGISTRY_H_
