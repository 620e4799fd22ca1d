// The jobs this server holds chunks for (usually one at a time), by job id.
#ifndef PSD_SERVER_JOB_REGISTRY_H_
#define PSD_SERVER_JOB_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "proto/parameter_server.pb.h"
#include "server/checkpoint_writer.h"
#include "server/shard_store.h"

namespace psd {

struct ServedJob {
  std::string id;
  int64_t generation = 0;
  int rank = 0;
  JobSpec spec;
  Placement placement;
  std::unique_ptr<ShardStore> store;
};

class JobRegistry {
 public:
  // With a writer, jobs that have checkpoint.dir are checkpointed through it.
  explicit JobRegistry(CheckpointWriter* writer = nullptr) : writer_(writer) {}

  // Creates the job's chunks for this server. The same job and generation again is a no-op;
  // a new generation replaces the old state (its waiting pulls fail with Aborted).
  absl::StatusOr<std::shared_ptr<ServedJob>> Init(const InitJobRequest& request);
  // The same for a parsed spec; `live_workers` empty means all. With resume_step > 0 the
  // chunks come from that step's checkpoint of this rank, in `resume_dir` or else under the
  // job's checkpoint.dir; a checkpoint that cannot be used gives NotFound or DataLoss.
  absl::StatusOr<std::shared_ptr<ServedJob>> Init(const std::string& job_id, int64_t generation,
                                                  const JobSpec& spec, int rank, int num_workers,
                                                  const std::vector<int>& live_workers = {},
                                                  int64_t resume_step = 0,
                                                  const std::string& resume_dir = "");
  // The job, if it is served here in `generation` (0 matches any).
  absl::StatusOr<std::shared_ptr<ServedJob>> Get(const std::string& job_id,
                                                 int64_t generation) const;
  // Drops the job's state; waiting pulls fail with Cancelled.
  void End(const std::string& job_id);
  void ForEach(const std::function<void(ServedJob&)>& fn) const;

 private:
  // Sends the store's checkpoints to the writer.
  void ConnectCheckpoints(const std::shared_ptr<ServedJob>& job);

  CheckpointWriter* writer_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ServedJob>> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace psd

#endif  // PSD_SERVER_JOB_REGISTRY_H_
