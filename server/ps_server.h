// A running parameter server: the gRPC server with the ParameterServer service, its jobs,
// and the watchdog that logs steps waiting too long. Used by psd-server, tests and benches.
#ifndef PSD_SERVER_PS_SERVER_H_
#define PSD_SERVER_PS_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/transport_options.h"
#include "server/job_registry.h"
#include "server/ps_service.h"

namespace psd {

struct PsServerOptions {
  std::string listen_address = "127.0.0.1:0";  // port 0: any free port
  int64_t max_message_bytes = 256 << 20;       // overrides transport.max_message_bytes
  TransportOptions transport;                  // HTTP/2 windows, frame and buffer sizes
  // Threads for push/pull work off gRPC's threads (PsService::Options); 0: none.
  int work_threads = 0;
  absl::Duration slow_step_log_after = absl::Seconds(10);
  // Tests only: answer every Nth push with UNAVAILABLE after applying it (0: never).
  int drop_push_replies = 0;
  // Called on the checkpoint writer's thread after each checkpoint write (or failure).
  CheckpointWriter::DoneFn on_checkpoint;
};

class PsServer {
 public:
  static absl::StatusOr<std::unique_ptr<PsServer>> Start(const PsServerOptions& options);
  ~PsServer();

  int port() const { return port_; }
  JobRegistry& jobs() { return registry_; }
  const PsService& service() const { return service_; }
  // Stops accepting calls, fails the waiting ones, and waits up to `grace` for the rest.
  void Shutdown(absl::Duration grace);

 private:
  explicit PsServer(const PsServerOptions& options)
      : writer_(options.on_checkpoint),
        registry_(&writer_),
        service_(&registry_, PsService::Options{options.work_threads, options.drop_push_replies}) {}
  void WatchSlowSteps(absl::Duration threshold);

  CheckpointWriter writer_;
  JobRegistry registry_;
  PsService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Notification stopping_;
  std::thread watchdog_;
};

}  // namespace psd

#endif  // PSD_SERVER_PS_SERVER_H_
