// The coordinator's state machine: membership, the job queue, assignments, reports and
// barriers, and the recovery of a running job from a lost server (pause every member, give the
// lost rank another server, roll every server back to the newest complete checkpoint in a new
// generation, then resume the workers). Every public method is thread-safe (one mutex guards
// all state); the gRPC service is a thin translation layer over it.
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
#include "common/tls_options.h"
#include "common/trace_recorder.h"
#include "coordinator/checkpoint_catalog.h"
#include "coordinator/job_history.h"
#include "coordinator/job_store.h"
#include "coordinator/membership.h"
#include "coordinator/slow_server_detector.h"
#include "coordinator/straggler_detector.h"
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
  // How long a job whose server was lost waits for a replacement before it fails.
  absl::Duration recovery_timeout = absl::Minutes(5);
  // Deadline of each call to a parameter server (checkpoints on request).
  absl::Duration server_rpc_timeout = absl::Seconds(10);
  // The longest job spec SubmitJob accepts (--max_spec_bytes; at most kDefaultMaxSpecBytes,
  // which servers and workers allow).
  int64_t max_spec_bytes = kDefaultMaxSpecBytes;
  // SubmitJob refuses a spec whose memory per server (common/memory_estimate.h) exceeds this
  // (--server_memory_budget_bytes); 0: no check.
  int64_t server_memory_budget_bytes = 0;
  // The coordinator's certificate for those calls, or TlsOptions::Insecure().
  TlsOptions tls;
  // When a worker is named a straggler (--straggler_threshold, --straggler_reports).
  StragglerOptions stragglers;
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

  // request.node().identity() is the caller's certificate name (set by the service, empty
  // under --insecure): a node id registered by another certificate is PermissionDenied.
  absl::StatusOr<RegisterNodeResponse> RegisterNode(const RegisterNodeRequest& request);
  // The certificate name a node registered with ("" under --insecure); NotFound if unknown.
  absl::StatusOr<std::string> NodeIdentity(const std::string& node_id);
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
  // Sparse models: adds each running server's embedding-table figures to `info` (GetStats,
  // asked outside the lock with a short deadline; a server that does not answer is left out).
  void AddTableStats(JobInfo* info);
  ListJobsResponse ListJobs();
  absl::StatusOr<JobInfo> CancelJob(const std::string& job_id);
  // Asks every server of a running job with a checkpoint.dir to checkpoint a step it has not
  // reached yet (the job's step + 2), calling the servers without holding the lock.
  absl::StatusOr<CheckpointJobResponse> CheckpointJob(const std::string& job_id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // True when the job no longer runs (the worker should stop). While a trace of the job runs
  // and this worker has not sent it, `trace` (if given) gets the steps to record. Elastic
  // jobs: `answer` (if given) gets the worker's new step horizon and, when the worker knows
  // fewer segments than the job has, the membership.
  absl::StatusOr<bool> ReportProgress(const ProgressReport& report, TraceSteps* trace = nullptr,
                                      ReportProgressResponse* answer = nullptr);
  // Elastic workers (cluster.elastic): the running job is to train on `workers` live workers.
  // Fewer: the highest ranks leave at the next safe step. More: idle workers join at the next
  // safe step, once that many are registered (the job's scale_target says it waits).
  absl::StatusOr<JobInfo> ScaleJob(const ScaleJobRequest& request);

  // --- Step timelines (coordinator/job_trace.cc; psdctl trace) ---
  // Arms steps first..last on every worker and server of a running job, waits until every
  // live worker has sent them (or the timeout, or the job ends: an error naming who did not),
  // collects the servers' and returns one Chrome trace JSON on this coordinator's clock.
  // Gives up (Cancelled) when `cancelled()` turns true (psdctl went away).
  absl::StatusOr<TraceJobResponse> TraceJob(const TraceJobRequest& request,
                                            const std::function<bool()>& cancelled = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A part of a worker's trace.
  absl::Status ReportTrace(const TraceReport& report) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReportTask(const TaskReport& report);
  // True when every live member arrived; false at `deadline`, when `cancelled()` turns true, or
  // when the job stops running.
  absl::StatusOr<bool> Barrier(const BarrierRequest& request, absl::Time deadline,
                               const std::function<bool()>& cancelled);

  // Each job's progress over time (the aggregate of every report), for the web console's
  // charts; not persisted.
  const JobHistory& history() const { return history_; }

 private:
  struct BarrierState {
    Role role = ROLE_UNSPECIFIED;  // the members it waits for: every live one, or one role's
    int64_t round = 0;
    std::set<std::string> arrived;
  };
  // A trace of the job in progress: what each worker sent so far.
  struct WorkerTrace {
    std::vector<TraceEvent> events;
    bool done = false;  // the last part arrived
    int64_t dropped = 0, clock_offset_us = 0, clock_error_us = -1, armed_step = 0;
  };
  struct TraceState {
    TraceSteps steps;
    std::map<int, WorkerTrace> workers;  // by rank
  };
  // A move to another number of servers (coordinator/job_elastic_servers.cc): what it moves,
  // and when the state was taken, written and (in OnServersMoved) restored.
  struct ServerMove {
    bool active = false;
    int from = 0, to = 0;
    int64_t step = 0;
    int64_t moved_bytes = 0, total_bytes = 0;  // from the placements (dense state only)
    int64_t state_taken_ms = 0, written_ms = 0;
    // What the new servers reported loading (TaskReport.loaded_bytes, moved_bytes): embedding
    // rows included.
    int ready = 0;
    int64_t loaded_reported = 0, moved_reported = 0;
  };
  struct Job {
    std::optional<TraceState> trace;  // psdctl trace running
    // Workers hear of the trace only once every server is armed: else a worker could reach
    // the window (and leave it) while the servers are still being armed, one after another.
    // (Here, not in TraceState: clang 14 cannot default-construct a nested class with member
    // initializers inside std::optional within its enclosing class.)
    bool trace_servers_armed = false;
    JobRecord rec;  // its checkpoint fields are copied from `checkpoints` by Persist
    JobSpec spec;
    CheckpointCatalog checkpoints;
    std::map<int, Progress> latest;  // worker rank -> last report
    // worker rank -> the devices it trains on (ProgressReport.devices)
    std::map<int, google::protobuf::RepeatedPtrField<Device>> devices;
    std::optional<StragglerDetector> stragglers;     // this generation's; set when it runs
    std::optional<SlowServerDetector> slow_servers;  // likewise
    std::map<int, JobResult> results;  // worker rank -> result sent with KIND_SUCCEEDED
    std::map<std::string, BarrierState> barriers;
    // Failed checkpoint writes already counted: (step, server rank).
    std::set<std::pair<int64_t, int>> failed_checkpoints;
    // The servers' non-finite counts in generation `nonfinite_generation`, by rank.
    int64_t nonfinite_generation = 0;
    std::map<int, JobFaults> nonfinite;
    absl::Time last_progress_save = absl::InfinitePast();
    // The aggregate progress (info().progress()) is recomputed, O(workers), once per round of
    // reports (as many as there are reporting workers), when a rank reports for the first
    // time, or after kAggregateEvery; in between reports only update `latest`.
    size_t reports_since_aggregate = 0;
    size_t aggregated_ranks = 0;
    absl::Time last_aggregate = absl::InfinitePast();
    // Elastic workers: the highest step horizon granted (no worker starts a step past it
    // unheard); the membership segments the servers must apply before workers go past the
    // newest segment's first step (0: none pending), the servers that did, and the ranks
    // that join at that step.
    int64_t horizon = 0;
    // Elastic servers: the move under way once its checkpoint is written (not persisted: a
    // restarted coordinator does not print its pause).
    ServerMove server_move;
    int membership_pending = 0;
    std::set<int> membership_applied;
    std::vector<int> joining;
    JobInfo& info() { return rec.info; }
    bool running() const { return rec.info.state() == JOB_RUNNING; }
    bool recovering() const { return running() && rec.recovery.active; }
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
  // Forgets the workers' reports (a new generation): progress by rank and stragglers.
  void ResetWorkerReports(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets one worker's reports (it left the job: lost or released) and refreshes the views.
  void ForgetWorkerReports(Job& job, int rank) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Compares a worker's report with the others', names or clears stragglers and slow servers
  // (event, log) and refreshes the job's per-worker and per-server views.
  void UpdateWorkerReports(Job& job, const ProgressReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  // Recomputes info().progress() from `latest` (and adds it to the history).
  void AggregateNow(Job& job, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The one place that decides what a lost member means for its job (`why`: "no heartbeat
  // for 3.0 s").
  void OnMemberLost(Job& job, Role role, int rank, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `lost` describes the member ("server 1 (id at address) lost: why").
  void OnServerLost(Job& job, int rank, const std::string& lost) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnWorkerLost(Job& job, int rank, const std::string& lost) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Recovery from a lost server (see OnServerLost) ---
  // Marks the job recovering, if it is not yet, from its current step.
  void BeginRecovery(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ACTION_PAUSE (current generation) to every member not lost.
  void PauseMembers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives every lost server rank an idle server, if there are enough; once none is lost,
  // restores the servers.
  void FillServerHoles(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReplaceServer(Job& job, int rank, NodeEntry& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a new generation from the newest usable checkpoint: servers get ACTION_RUN, workers
  // stay paused until every server is ready. Fails the job when no usable checkpoint is left.
  void RestoreServers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails recovering jobs whose lost servers were not replaced in time.
  void CheckRecoveryDeadlines(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<int> LostServerRanks(const Job& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Task reports ---
  absl::Status OnLeaving(Job& job, const TaskReport& report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnCheckpointed(Job& job, const TaskReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A server could not write a checkpoint: an event, a count, and checkpoint.on_failure.
  absl::Status OnCheckpointFailed(Job& job, const TaskReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A server's counts of non-finite gradients (cumulative in its generation).
  absl::Status OnNonfiniteGradients(Job& job, const TaskReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnCheckpointUnusable(Job& job, const TaskReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNodeDead(const std::string& node_id, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // --- Elastic workers (coordinator/job_manager.cc, "Elastic workers") ---
  // Starts the change the job's scale_target asks for when it can (idle workers, no change
  // pending, not recovering).
  void MaybeScale(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A new membership segment from the step after every granted horizon: `ranks` train, the
  // servers learn it first. `why` is the event's text.
  void ChangeMembership(Job& job, std::vector<int> ranks, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A server applied `segments` segments of the membership; starts the joining workers once
  // every server has.
  void OnMembershipApplied(Job& job, int server_rank, int64_t segments)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // --- Elastic servers (coordinator/job_elastic_servers.cc) ---
  // psdctl scale --servers: checks the request and starts the change when it can.
  absl::Status RequestServerScale(Job& job, int servers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the change server_scale_target asks for when it can (idle servers, no other change
  // under way, not recovering): the servers checkpoint the step after every granted horizon.
  void MaybeScaleServers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A server wrote a checkpoint: once every one wrote the change's step, SwitchServers.
  void OnServerChangeCheckpointed(Job& job, const TaskReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job moves to the new servers: a new generation from the change's checkpoint.
  void SwitchServers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops a change whose checkpoint is not complete (a server lost, a failed checkpoint); the
  // request stays and is tried again once the job runs.
  void AbandonServerChange(Job& job, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every new server is ready: the event with what moved and the pause.
  void OnServersMoved(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a coordinator restart: the server count is the saved servers'; a change that had not
  // switched is abandoned.
  void ReloadServerChange(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends ACTION_RUN to the joining workers; those not registered since a coordinator
  // restart stay joining, and start when they register.
  void StartJoiners(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ranks of the newest segment that are still live (every live rank without elastic).
  std::vector<int> TrainingRanks(const Job& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The horizon a worker at `step` may have: two reporting intervals ahead, held below a
  // pending change's step.
  int64_t GrantHorizon(Job& job, int64_t step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Completes barriers whose live members have all arrived.
  void CheckBarriers(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Assignment RunAssignment(const Job& job, Role role, int rank) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Assignment PauseAssignment(const Job& job, Role role, int rank) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What a member of a running job should be doing now (a node that re-registers gets it):
  // nullopt for a worker that has not been started yet.
  std::optional<Assignment> MemberAssignment(const Job& job, Role role, int rank) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AssignNode(const std::string& node_id, Assignment assignment)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends every server of the job that is not lost its ACTION_RUN again, which carries the
  // job's current membership and any change the servers must make (a checkpoint step).
  void RunServersAgain(const Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<int> LiveWorkerRanks(const Job& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::set<std::string> BarrierMembers(const Job& job, Role role) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `node_id` is a live member of the barriers that wait for `role` (a scan, no copies).
  bool IsBarrierMember(const Job& job, Role role, const std::string& node_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CoordinatorOptions options_;
  const int64_t start_ms_ = absl::ToUnixMillis(absl::Now());  // Assignment.coordinator_start_ms
  absl::Mutex mu_;
  absl::CondVar changed_;  // signalled on job, barrier and trace changes (not assignments)
  // Each watched node's own wake-up, so that an assignment wakes only its node's watchers (one
  // shared condition woke every watcher on every assignment: quadratic in nodes at job start).
  struct Watch {
    absl::CondVar cv;
    int waiters = 0;  // the entry goes when the last watcher leaves
  };
  std::map<std::string, Watch> watches_ ABSL_GUARDED_BY(mu_);
  // Wakes the watchers of `node_id` (AssignNode, a node dead or re-registered).
  void WakeWatchers(const std::string& node_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<JobStore> store_ ABSL_GUARDED_BY(mu_);
  Membership members_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);  // in submission order
  absl::flat_hash_map<std::string, Job*> jobs_by_id_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  JobHistory history_;  // its own lock
  int64_t next_trace_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::thread monitor_;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_JOB_MANAGER_H_
