// A worker daemon's part of the cluster: runs at most one job at a time on its own thread, as
// the coordinator's assignments say, and reports what became of it.
#ifndef PSD_WORKER_WORKER_NODE_H_
#define PSD_WORKER_WORKER_NODE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/job_spec.h"
#include "common/tls_options.h"
#include "common/trace_recorder.h"
#include "common/transport_options.h"
#include "kernels/backend.h"
#include "node/coordinator_link.h"
#include "proto/coordinator.pb.h"
#include "worker/dataset_cache.h"
#include "worker/param_exchange.h"
#include "worker/row_exchange.h"
#include "worker/training_session.h"
#include "worker/worker_metrics.h"

namespace psd {

struct WorkerNodeOptions {
  int cpu_threads = 0;  // BLAS threads of the CPU backend; 0: one per core
  int max_in_flight = 64;
  int channels_per_server = 2;
  absl::Duration retry_deadline = absl::Seconds(60);
  TransportOptions transport;
  TlsOptions tls;         // the worker's certificate, for the parameter servers
  double slowdown = 1.0;  // straggler drills: every step takes this many times as long
  // The most data bytes one IDX file may hold (psd-worker --max_data_file_bytes).
  int64_t max_data_file_bytes = kDefaultMaxIdxDataBytes;
  // After a failure that looks like a recovery (a server gone or in a new generation), how
  // long to wait for the coordinator's pause before reporting the failure.
  absl::Duration recovery_grace = absl::Seconds(15);
  // Called (on the assignment thread) when the coordinator stops a job after this node ran
  // one; psd-worker --exit_after_job exits there.
  std::function<void(const std::string& job_id)> on_job_ended;
  // Where each job's metrics are reported (--metrics_port); null: none kept.
  std::shared_ptr<WorkerMetrics> metrics;
};

class WorkerNode {
 public:
  explicit WorkerNode(WorkerNodeOptions options)
      : options_(std::move(options)), datasets_(options_.max_data_file_bytes) {}
  ~WorkerNode() { StopJob(); }
  WorkerNode(const WorkerNode&) = delete;
  WorkerNode& operator=(const WorkerNode&) = delete;

  // Must be set before the first assignment; must outlive the node.
  void set_link(CoordinatorLink* link) { link_ = link; }
  // The NodeAgent's handler: starts, keeps or stops the job as `a` says.
  void OnAssignment(const Assignment& a);
  // Tells the coordinator this worker leaves its job (SIGTERM), so that the job goes on
  // without it (or fails) now rather than after the heartbeat timeout.
  void Leave();
  // Stops the running job, if any, and waits for its thread.
  void StopJob();

 private:
  struct Running {
    std::string job_id;
    int rank = 0;
    int64_t generation = 0;
  };
  void RunJob(const Assignment& a);
  absl::StatusOr<JobResult> Train(const Assignment& a);
  // At the step horizon of an elastic job: sends `last` again through `report` (as no new
  // interval) until an answer extends the horizon to `step` (the coordinator holds it while a
  // change is under way); `learn` sees every answer first.
  absl::Status AwaitHorizon(
      int64_t step, Progress last,
      const std::function<absl::StatusOr<ReportProgressResponse>(const Progress&)>& report,
      const std::function<absl::Status(const ReportProgressResponse&)>& learn);
  // A sparse job (worker/worker_node_sparse.cc): logreg, fm or dlrm on CTR rows.
  absl::StatusOr<JobResult> TrainSparse(const Assignment& a, const JobSpec& spec,
                                        SessionOptions session_options);

  const WorkerNodeOptions options_;
  CoordinatorLink* link_ = nullptr;
  DatasetCache datasets_;
  // What `psdctl trace` asks this worker to record (worker/trace_uploader.h).
  std::shared_ptr<TraceRecorder> trace_ = std::make_shared<TraceRecorder>();
  bool ran_job_ = false;   // touched by the assignment thread only
  bool released_ = false;  // the job's thread only: the last Train() ended released
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  Running running_ ABSL_GUARDED_BY(mu_);
  ParamExchange* exchange_ ABSL_GUARDED_BY(mu_) = nullptr;
  RowExchange* rows_ ABSL_GUARDED_BY(mu_) = nullptr;  // sparse jobs
  // The last job's metrics, kept (and so still reported) until the next job starts.
  std::shared_ptr<WorkerJobMetrics> job_metrics_;  // the job thread's
};

// This machine's compute devices, as a worker reports them when it registers.
std::vector<Device> LocalDevices();

// The devices a job trains on, one per backend in order (ProgressReport.devices): a CUDA
// device by its ordinal, CPU replicas numbered from 0 (cpu:0, cpu:1, ...); the backend's
// description as the name.
std::vector<Device> TrainingDevices(const std::vector<const kernels::Backend*>& backends);

}  // namespace psd

#endif  // PSD_WORKER_WORKER_NODE_H_
