// The coordinator's state machine: membership, the job queue, assignments, reports and
// barriers. Every public method is thread-safe (one mutex guards all state); the gRPC
// service is a thin translation layer over it.
#ifndef PSD_COORDINATOR_JOB_MANAGER_H_
#define PSD_COORDINATOR_JOB_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/job_spec.h"
#include "coordinator/job_store.h"
#include "coordinator/membership.h"
#include "proto/coordinator.pb.h"

namespace psd {

struct CoordinatorOptions {
  absl::Duration heartbeat_interval = absl::Milliseconds(500);  // told to nodes
  absl::Duration heartbeat_timeout = absl::Seconds(3);
  // After a restart, how long a running job's nodes have to re-register.
  absl::Duration restart_grace = absl::Seconds(6);
  // How long dead nodes stay in ListNodes.
  absl::Duration dead_retention = absl::Minutes(10);
  // Minimum time between two saves of a job's progress.
  absl::Duration progress_save_interval = absl::Seconds(1);
};

class JobManager {
 public:
  // Loads every job from `store` (running ones wait for their nodes to re-register) and starts
  // the liveness monitor.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(const CoordinatorOptions& options,
                                                            std::unique_ptr<JobStore> store);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Wakes every waiting call (they return Unavailable) and stops the monitor. Idempotent.
  void Shutdown();

  absl::StatusOr<RegisterNodeResponse> RegisterNode(const RegisterNodeRequest& request);
  HeartbeatResponse Heartbeat(const HeartbeatRequest& request);
  ListNodesResponse ListNodes();
  // The node's assignment once its version exceeds `after_version`, or nullopt if that did not
  // happen by `deadline`. NotFound when the node is not registered (or dead); Unavailable on
  // shutdown.
  absl::StatusOr<std::optional<Assignment>> NextAssignment(const std::string& node_id,
                                                           int64_t after_version,
                                                           absl::Time deadline);

  absl::StatusOr<std::string> SubmitJob(const SubmitJobRequest& request);
  absl::StatusOr<JobInfo> GetJob(const std::string& job_id);
  ListJobsResponse ListJobs();
  absl::StatusOr<JobInfo> CancelJob(const std::string& job_id);
  absl::StatusOr<CheckpointJobResponse> CheckpointJob(const std::string& job_id);

  // True when the job no longer runs (the worker should stop).
  absl::StatusOr<bool> ReportProgress(const ProgressReport& report);
  absl::Status ReportTask(const TaskReport& report);
  // True when every live member arrived; false at `deadline`, when `cancelled()` turns true, or
  // when the job stops running.
  absl::StatusOr<bool> Barrier(const BarrierRequest& request, absl::Time deadline,
                               const std::function<bool()>& cancelled);

 private:
  struct BarrierState {
    int64_t round = 0;
    std::set<std::string> arrived;
  };
  struct Job {
    JobRecord rec;
    JobSpec spec;
    std::map<int, Progress> latest;    // worker rank -> last report
    std::map<int, JobResult> results;  // worker rank -> result sent with KIND_SUCCEEDED
    std::map<std::string, BarrierState> barriers;
    std::map<int64_t, std::set<int>> checkpoints;  // step -> server ranks that wrote it
    absl::Time last_progress_save = absl::InfinitePast();
    JobInfo& info() { return rec.info; }
    bool running() const { return rec.info.state() == JOB_RUNNING; }
  };

  JobManager(const CoordinatorOptions& options, std::unique_ptr<JobStore> store);
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  void MonitorLoop() ABSL_LOCKS_EXCLUDED(mu_);

  Job* FindJob(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Job*> GetJobOrError(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job's member at (role, rank) if it is `node_id`; else an error naming the mismatch.
  absl::StatusOr<MemberRecord*> CheckMember(Job& job, Role role, int rank,
                                            const std::string& node_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Persist(Job& job, Durability durability) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a notable event in the job's history (callers log it).
  void AddEvent(Job& job, const std::string& text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Starts queued jobs, first come first served, while enough idle nodes exist.
  void Schedule() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartJob(Job& job, const std::vector<std::string>& servers,
                const std::vector<std::string>& workers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends workers ACTION_RUN once every server is ready.
  void MaybeStartWorkers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a job: final state, STOP to its nodes, which become idle; then schedules.
  void Finish(Job& job, JobState state, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Succeeds the job when every worker still in it is done.
  void MaybeSucceed(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The one place that decides what a lost member means for its job (`why`: "no heartbeat
  // for 3.0 s").
  void OnMemberLost(Job& job, Role role, int rank, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNodeDead(const std::string& node_id, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Completes barriers whose live members have all arrived.
  void CheckBarriers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Assignment RunAssignment(const Job& job, Role role, int rank) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AssignNode(const std::string& node_id, Assignment assignment)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<int> LiveWorkerRanks(const Job& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::set<std::string> BarrierMembers(const Job& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CoordinatorOptions options_;
  absl::Mutex mu_;
  absl::CondVar changed_;  // signalled on every assignment, job or barrier change
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<JobStore> store_ ABSL_GUARDED_BY(mu_);
  Membership members_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);  // in submission order
  absl::flat_hash_map<std::string, Job*> jobs_by_id_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::thread monitor_;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_JOB_MANAGER_H_
