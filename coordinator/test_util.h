// Test helpers for the coordinator protocol: job files, an in-process coordinator, and fake
// server/worker nodes driven by the test through a real NodeAgent.
#ifndef PSD_COORDINATOR_TEST_UTIL_H_
#define PSD_COORDINATOR_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/job_manager.h"
#include "coordinator/service.h"
#include "node/node_agent.h"

namespace psd::testing {

struct JobYamlOptions {
  std::string name = "test";
  int servers = 1;
  int workers = 1;
  std::string on_worker_failure = "fail";
  std::string device = "auto";
  std::string checkpoint_dir;  // empty: no checkpoint section
  int checkpoint_keep = 3;
};

// A valid job file (its data paths need not exist).
std::string JobYaml(const JobYamlOptions& options);

// Whether the job's events include exactly `text`.
bool HasEvent(const JobInfo& job, const std::string& text);

// Options for tests that wait on liveness: heartbeats every 100 ms, dead after 1.5 s, 2 s for
// nodes to come back after a restart.
CoordinatorOptions FastCoordinatorOptions();

// JobManager + gRPC service on 127.0.0.1 (ephemeral port), state in `state_dir`, over mutual
// TLS with the test certificate "coordinator" (tests/test_certs.h) unless `options.tls` says
// otherwise (e.g. TlsOptions::Insecure()).
class InProcessCoordinator {
 public:
  // `port` 0 picks a free one; a restarted coordinator passes its predecessor's port.
  static absl::StatusOr<std::unique_ptr<InProcessCoordinator>> Start(
      const std::string& state_dir, const CoordinatorOptions& options, int port = 0);
  ~InProcessCoordinator();

  const std::string& address() const { return address_; }
  int port() const { return port_; }
  JobManager& manager() { return *manager_; }
  // The job's state, or JOB_STATE_UNSPECIFIED if unknown.
  JobState State(const std::string& job_id);
  // The job's info; an empty one (no id, state unspecified) if unknown.
  JobInfo Job(const std::string& job_id);
  // Waits until the job is in `state`.
  bool WaitForState(const std::string& job_id, JobState state,
                    absl::Duration timeout = absl::Seconds(10));

 private:
  InProcessCoordinator() = default;
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_ = 0;
};

// A server or worker daemon stand-in: a NodeAgent that records every assignment it gets. It
// presents the test certificate "server-<index>" or "worker-<index>" unless set_tls says
// otherwise.
class FakeNode {
 public:
  FakeNode(std::string coordinator, Role role, int index, int preferred_rank = -1,
           std::vector<Device> devices = {});
  ~FakeNode();

  // The address the node registers (default 127.0.0.1:20000+index for servers, 30000+index
  // for workers); set before Start, e.g. to the port of a fake parameter server.
  void set_address(const std::string& address) { info_.set_address(address); }
  // The certificate (or TlsOptions::Insecure()) the node presents; set before Start.
  void set_tls(TlsOptions tls) { tls_ = std::move(tls); }

  // Starts the agent and waits for its registration.
  absl::Status Start(const std::string& node_id_file = "",
                     absl::Duration timeout = absl::Seconds(10));
  // Stops the agent: no more heartbeats (the node looks dead to the coordinator).
  void Stop();

  NodeAgent& agent() { return *agent_; }
  std::string node_id() const { return agent_ ? agent_->node_id() : ""; }
  const NodeInfo& info() const { return info_; }

  // The first assignment received (since Start) that satisfies `match`, waiting up to `timeout`.
  std::optional<Assignment> WaitFor(const std::function<bool(const Assignment&)>& match,
                                    absl::Duration timeout = absl::Seconds(10));
  std::optional<Assignment> WaitForRun(const std::string& job_id,
                                       absl::Duration timeout = absl::Seconds(10));
  std::optional<Assignment> WaitForStop(const std::string& job_id,
                                        absl::Duration timeout = absl::Seconds(10));
  std::vector<Assignment> received() const;

  absl::Status ReportReady(const Assignment& run);
  absl::Status ReportSucceeded(const Assignment& run, const JobResult& result);
  absl::Status ReportFailed(const Assignment& run, const std::string& message);
  absl::Status ReportCheckpointed(const Assignment& run, int64_t step);
  absl::Status ReportCheckpointUnusable(const Assignment& run, int64_t step,
                                        const std::string& message);
  absl::Status ReportLeaving(const Assignment& run);

 private:
  TaskReport Report(const Assignment& run, TaskReport::Kind kind) const;

  std::string coordinator_;
  NodeInfo info_;
  TlsOptions tls_;
  std::unique_ptr<NodeAgent> agent_;
  mutable absl::Mutex mu_;
  std::vector<Assignment> received_ ABSL_GUARDED_BY(mu_);
};

}  // namespace psd::testing

#endif  // PSD_COORDINATOR_TEST_UTIL_H_
