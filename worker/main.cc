// psd-worker: trains its share of the jobs the coordinator assigns to it.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/daemon.h"
#include "common/health_port.h"
#include "common/log.h"
#include "common/logging.h"
#include "common/metrics_flags.h"
#include "common/process_init.h"
#include "common/tls_flags.h"
#include "common/transport_flags.h"
#include "node/node_agent.h"
#include "node/node_flags.h"
#include "worker/worker_node.h"

ABSL_FLAG(int, threads, 0, "BLAS threads of the CPU backend; 0: one per core.");
ABSL_FLAG(int, max_in_flight, 64, "Chunk RPCs a worker keeps in flight at once.");
ABSL_FLAG(int, channels_per_server, 2, "TCP connections to each server.");
ABSL_FLAG(int64_t, rpc_retry_deadline_ms, 60000,
          "Retry pushes and pulls to a server that cannot be reached for this long before the "
          "job fails (a retried push is applied once).");
ABSL_FLAG(bool, exit_after_job, false,
          "Exit (0) once the first job this worker ran has ended, so a batch scheduler (a "
          "Kubernetes Job) sees the worker complete.");
ABSL_FLAG(double, slowdown, 1.0,
          "Make every training step take this many times as long (a straggler for drills and "
          "benchmarks); 1 is full speed.");
ABSL_FLAG(int64_t, max_data_file_bytes, psd::kDefaultMaxIdxDataBytes,
          "The most data one IDX file of a job may hold (its header is checked before it is "
          "read); a larger file fails the job.");

namespace psd {
namespace {

int Run() {
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(PeerRole::kWorker);
  if (!tls.ok()) {
    spdlog::error("{}", tls.status());
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(*tls);
  if (!credentials.ok()) {
    spdlog::error("{}", credentials.status());
    return 2;
  }
  // A gRPC server for the health service (probes, over the same mutual TLS: any certificate
  // of the cluster's CA); every other method is unimplemented.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::CallbackGenericService unimplemented;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&unimplemented);
  int port = 0;
  builder.AddListeningPort(ListenAddressFromFlags(), *credentials, &port);
  std::unique_ptr<grpc::Server> health = builder.BuildAndStart();
  if (health == nullptr || port == 0) {
    spdlog::error("cannot listen on {}", ListenAddressFromFlags());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<grpc::Server>> health_port =
      StartHealthPortFromFlags(BindHostFromFlags());
  if (!health_port.ok()) {
    spdlog::error("{}", health_port.status());
    return 1;
  }
  if (absl::Status s = PublishPort(port); !s.ok()) {
    spdlog::error("{}", s);
    return 1;
  }
  auto options = AgentOptionsFromFlags(ROLE_WORKER, port, LocalDevices());
  if (!options.ok()) {
    spdlog::error("{}", options.status());
    return 2;
  }
  options->tls = *tls;
  WorkerNodeOptions node_options;
  node_options.cpu_threads = absl::GetFlag(FLAGS_threads);
  node_options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  node_options.channels_per_server = absl::GetFlag(FLAGS_channels_per_server);
  node_options.retry_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_retry_deadline_ms));
  node_options.transport = TransportOptionsFromFlags();
  node_options.tls = *tls;
  node_options.slowdown = absl::GetFlag(FLAGS_slowdown);
  node_options.max_data_file_bytes = absl::GetFlag(FLAGS_max_data_file_bytes);
  if (node_options.max_data_file_bytes <= 0) {
    spdlog::error("--max_data_file_bytes: must be > 0, got {}", node_options.max_data_file_bytes);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<MetricsExposer>> metrics = StartMetricsFromFlags("worker");
  if (!metrics.ok()) {
    spdlog::error("{}", metrics.status());
    return 1;
  }
  if (*metrics != nullptr) {
    node_options.metrics = std::make_shared<WorkerMetrics>();
    (*metrics)->Register(node_options.metrics);
  }
  if (absl::GetFlag(FLAGS_exit_after_job)) {
    node_options.on_job_ended = [](const std::string& job_id) {
      spdlog::info("job {} ended: exiting (--exit_after_job)", job_id);
      kill(getpid(), SIGTERM);  // Run() shuts down as on any SIGTERM
    };
  }
  WorkerNode worker(std::move(node_options));
  auto agent =
      NodeAgent::Start(*options, [&worker](const Assignment& a) { worker.OnAssignment(a); });
  if (!agent.ok()) {
    spdlog::error("{}", agent.status());
    return 1;
  }
  worker.set_link(agent->get());
  spdlog::info("listening on port {}, reachable as {}; coordinator {}", port,
               options->self.address(), options->coordinator);
  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", strsignal(signal));
  worker.Leave();
  worker.StopJob();
  (*agent)->Stop();
  if (*health_port != nullptr) (*health_port)->Shutdown();
  health->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  psd::BlockShutdownSignals();
  psd::ParseCommandLineOrHelp(
      argc, argv, "psd-worker --coordinator HOST:PORT [--threads N]: a psd training worker");
  if (absl::Status s = psd::InitLogging("worker"); !s.ok()) {
    std::fprintf(stderr, "psd-worker: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return psd::Run();
}
