// A running parameter server: the gRPC server with the ParameterServer service, its jobs,
// and the watchdog that logs steps waiting too long and reports each job's faults (a job a
// push failed, non-finite gradients seen). Used by psd-server, tests and benches.
#ifndef PSD_SERVER_PS_SERVER_H_
#define PSD_SERVER_PS_SERVER_H_

#include <grpcpp/server.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/tls_options.h"
#include "common/transport_options.h"
#include "server/job_registry.h"
#include "server/ps_service.h"

namespace psd {

struct PsServerOptions {
  std::string listen_address = "127.0.0.1:0";  // port 0: any free port
  int64_t max_message_bytes = 256 << 20;       // overrides transport.max_message_bytes
  TransportOptions transport;                  // HTTP/2 windows, frame and buffer sizes
  // Mutual TLS and per-RPC authorisation; must be set (a loaded TlsOptions, or
  // TlsOptions::Insecure() for plaintext without authorisation).
  TlsOptions tls;
  // Threads for push/pull work off gRPC's threads (PsService::Options); 0: none.
  int work_threads = 0;
  absl::Duration slow_step_log_after = absl::Seconds(10);
  // Tests only: answer every Nth push with UNAVAILABLE after applying it (0: never).
  int drop_push_replies = 0;
  // Drills only: every push waits this long before it is applied (PsService::Options).
  absl::Duration push_delay = absl::ZeroDuration();
  // Called on the checkpoint writer's thread after each checkpoint write (or failure).
  CheckpointWriter::DoneFn on_checkpoint;
  // InitJob refuses jobs beyond this many bytes in all (common/memory_estimate.h); 0: no limit.
  int64_t memory_budget_bytes = 0;
  // Called on the watchdog's thread when a job's faults change: a push failed it (`failure`
  // not OK, once), or it saw more non-finite gradients (stats' cumulative counts); at most
  // once per job per fault_report_interval, at once for a failure.
  std::function<void(const ServedJob& job, const ShardStats& stats, const absl::Status& failure)>
      on_job_faults;
  absl::Duration fault_report_interval = absl::Seconds(1);
  // Record each job's hot-path metrics (server/job_metrics.h) for a scrape of
  // ServerMetrics(&jobs()) (server/server_metrics.h); off, nothing is recorded.
  bool metrics = false;
};

class PsServer {
 public:
  static absl::StatusOr<std::unique_ptr<PsServer>> Start(const PsServerOptions& options);
  ~PsServer();

  int port() const { return port_; }
  JobRegistry& jobs() { return registry_; }
  const PsService& service() const { return service_; }
  // What the service records for psdctl trace (benchmarks arm it directly).
  TraceRecorder& trace() { return service_.trace(); }
  // Stops accepting calls, fails the waiting ones, and waits up to `grace` for the rest.
  void Shutdown(absl::Duration grace);

 private:
  explicit PsServer(const PsServerOptions& options)
      : writer_(options.on_checkpoint),
        registry_(&writer_, {options.memory_budget_bytes, [this] { Wake(); }, options.metrics}),
        service_(&registry_, PsService::Options{options.work_threads, options.drop_push_replies,
                                                options.push_delay, !options.tls.insecure}) {}
  void Watch(const PsServerOptions& options);
  void Wake();
  // Calls on_faults for the jobs whose faults changed since the last report.
  void ReportFaults(const PsServerOptions& options);

  CheckpointWriter writer_;
  JobRegistry registry_;
  PsService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Notification stopping_;
  absl::Mutex wake_mu_;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;
  struct Reported {
    bool failed = false;
    int64_t rejected = 0, skipped = 0;
  };
  std::map<std::pair<std::string, int64_t>, Reported> reported_;  // the watchdog's own
  std::thread watchdog_;
};

}  // namespace psd

#endif  // PSD_SERVER_PS_SERVER_H_
