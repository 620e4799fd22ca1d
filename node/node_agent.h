// The daemon side of the coordinator protocol, used by psd-server and psd-worker.
//
// A NodeAgent registers the daemon with the coordinator (retrying with backoff while the
// coordinator is down), heartbeats on its own thread, watches the node's assignments, and
// re-registers, with the job it is running, when the coordinator restarts or no longer knows
// the node. The daemon gets each new assignment through one handler:
//
//   NodeAgentOptions options;
//   options.coordinator = "127.0.0.1:7070";
//   options.self.set_role(ROLE_SERVER);
//   options.self.set_address("10.0.0.5:7100");
//   options.node_id_file = "/var/lib/psd/server-0.id";
//   auto agent = NodeAgent::Start(options, [&](const Assignment& a) { ... });
//
// The handler runs on one thread, in order, once per new assignment version. An assignment
// equal to the last one delivered (as after a coordinator restart, when the node gets its old
// assignment back with a new version) is not delivered again. The handler should return
// promptly and must not call Stop().
#ifndef PSD_NODE_NODE_AGENT_H_
#define PSD_NODE_NODE_AGENT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tls_options.h"
#include "node/coordinator_link.h"
#include "proto/coordinator.grpc.pb.h"

namespace psd {

struct NodeAgentOptions {
  std::string coordinator;  // host:port
  // role, address (host:port other nodes dial), devices, preferred_rank...; node_id is taken
  // from node_id_file when that exists, else given by the coordinator.
  NodeInfo self;
  // Optional: keeps the node's identity across daemon restarts.
  std::string node_id_file;
  // The certificate the node presents to the coordinator (whose name the coordinator binds
  // to the node id), or TlsOptions::Insecure(); must be set.
  TlsOptions tls;
  absl::Duration rpc_timeout = absl::Seconds(5);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  // A failure that repeats is logged at most once per interval.
  absl::Duration log_interval = absl::Seconds(10);
};

class NodeAgent : public CoordinatorLink {
 public:
  using AssignmentHandler = std::function<void(const Assignment&)>;

  // Starts the agent's threads; returns at once (registration happens in the background).
  // Fails on bad options or an unreadable node-id file.
  static absl::StatusOr<std::unique_ptr<NodeAgent>> Start(NodeAgentOptions options,
                                                          AssignmentHandler handler);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Cancels calls in flight and joins the threads; no handler call starts afterwards.
  void Stop();

  // Empty until the first registration succeeds.
  std::string node_id() const;
  // True once registered (now), false if `timeout` passed first.
  bool WaitRegistered(absl::Duration timeout) const;

  // What the node reports when it re-registers and heartbeats. The agent sets it from each
  // ACTION_RUN and clears it on ACTION_STOP before calling the handler; a daemon that cannot
  // run or leaves a job calls it itself (SetCurrentJob("", -1, 0) for none).
  void SetCurrentJob(const std::string& job_id, int rank, int64_t generation);

  // CoordinatorLink.
  absl::StatusOr<bool> ReportProgress(ProgressReport report) override;
  absl::StatusOr<ReportProgressResponse> ReportProgressFully(ProgressReport report) override;
  absl::Status ReportTrace(TraceReport report) override;
  absl::Status ReportTask(TaskReport report, absl::Duration deadline) override;
  absl::StatusOr<int64_t> RequestCheckpoint(const std::string& job_id) override;
  absl::StatusOr<bool> Barrier(const std::string& job_id, const std::string& name,
                               absl::Duration timeout, Role role) override;

 private:
  NodeAgent(NodeAgentOptions options, AssignmentHandler handler);
  void ControlLoop();
  void WatchLoop();
  void DispatchLoop();
  grpc::Status Register() ABSL_LOCKS_EXCLUDED(mu_);
  grpc::Status Heartbeat() ABSL_LOCKS_EXCLUDED(mu_);
  void Enqueue(const Assignment& assignment) ABSL_LOCKS_EXCLUDED(mu_);
  // Sleeps for `d` unless Stop() comes first; returns false when stopping.
  bool Sleep(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits `d` after `failure`; while the coordinator is unreachable, reconnects meanwhile and
  // returns as soon as it is back. False when stopping.
  bool Backoff(absl::Duration d, const grpc::Status& failure) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Duration NextBackoff(absl::Duration current);
  // Logs `what: status` unless the same `what` was logged within the log interval.
  void LogFailure(const std::string& what, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // Registers a call so that Stop() can cancel it; false when already stopping.
  bool Track(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);
  void Untrack(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);

  const NodeAgentOptions options_;
  const AssignmentHandler handler_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Coordinator::Stub> stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  int64_t registrations_ ABSL_GUARDED_BY(mu_) = 0;
  std::string node_id_ ABSL_GUARDED_BY(mu_);
  std::string job_id_ ABSL_GUARDED_BY(mu_);
  int rank_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(500);
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* watch_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t watched_version_ ABSL_GUARDED_BY(mu_) = -1;
  int heartbeats_behind_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Assignment> queue_ ABSL_GUARDED_BY(mu_);
  Assignment last_enqueued_ ABSL_GUARDED_BY(mu_);  // version cleared
  std::map<std::string, absl::Time> last_logged_ ABSL_GUARDED_BY(mu_);

  std::thread control_, watch_thread_, dispatch_;
};

}  // namespace psd

#endif  // PSD_NODE_NODE_AGENT_H_
