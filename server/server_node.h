// A parameter server's part of the cluster: turns the coordinator's assignments into job
// state in the JobRegistry, and reports what the server does with them (ready, unusable
// checkpoint, failed, checkpointed, leaving).
#ifndef PSD_SERVER_SERVER_NODE_H_
#define PSD_SERVER_SERVER_NODE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/coordinator_link.h"
#include "proto/coordinator.pb.h"
#include "server/checkpoint.h"
#include "server/job_registry.h"

namespace psd {

class ServerNode {
 public:
  // `jobs` must outlive the node.
  explicit ServerNode(JobRegistry* jobs) : jobs_(jobs) {}
  ServerNode(const ServerNode&) = delete;
  ServerNode& operator=(const ServerNode&) = delete;

  // Reports go nowhere until a link is set; it must outlive the node.
  void set_link(CoordinatorLink* link);
  // The NodeAgent's handler (one thread, in order).
  void OnAssignment(const Assignment& a);
  // From the checkpoint writer: tells the coordinator the checkpoint was written (or why it
  // was not: KIND_CHECKPOINT_FAILED), then wakes a HandOff() waiting for it, so that its
  // "leaving" report cannot overtake this one.
  void OnCheckpoint(const CheckpointMeta& meta, const absl::Status& status);
  // From the server's watchdog (PsServerOptions::on_job_faults): a push failed the job
  // (KIND_FAILED), or it saw non-finite gradients (KIND_NONFINITE_GRADIENTS, the counts).
  void OnJobFaults(const ServedJob& job, const ShardStats& stats, const absl::Status& failure);
  // SIGTERM: checkpoints each job that has a checkpoint.dir at a step the coordinator picks
  // for all servers (waiting up to `grace` for it), then tells the coordinator this server
  // leaves each job.
  void HandOff(absl::Duration grace);

 private:
  void Send(const TaskReport& report, absl::Duration deadline = absl::Seconds(30));
  void EndJobsOtherThan(const std::string& keep);
  // Elastic servers: schedules the checkpoint an assignment asks for (Assignment.
  // checkpoint_step) once per step; a server already past it reports KIND_CHECKPOINT_FAILED.
  void ScheduleRequestedCheckpoint(ServedJob& job, const Assignment& a);
  CoordinatorLink* link();

  JobRegistry* const jobs_;
  absl::Mutex mu_;
  CoordinatorLink* link_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Per job, the newest checkpoint step written or failed.
  std::map<std::string, int64_t> settled_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> written_ ABSL_GUARDED_BY(mu_);  // the newest written
  // Per job, the generation and step of the newest Assignment.checkpoint_step scheduled.
  std::map<std::string, std::pair<int64_t, int64_t>> requested_ ABSL_GUARDED_BY(mu_);
};

}  // namespace psd

#endif  // PSD_SERVER_SERVER_NODE_H_
