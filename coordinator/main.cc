// psd-coordinator: membership, the job queue and its SQLite store, assignments.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/command_line.h"
#include "common/daemon.h"
#include "common/health_port.h"
#include "common/logging.h"
#include "common/memory_estimate.h"
#include "common/metrics_flags.h"
#include "common/process_init.h"
#include "common/rpc_metrics.h"
#include "common/tls_flags.h"
#include "coordinator/console_http.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/job_manager.h"
#include "coordinator/job_store.h"
#include "coordinator/service.h"

ABSL_FLAG(std::string, bind, "0.0.0.0", "Address to listen on.");
ABSL_FLAG(int, port, 7070, "Port to listen on; 0 picks a free one (see --port_file).");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound port to this file once listening (atomically: temp file + rename).");
ABSL_FLAG(std::string, state_dir, "", "Directory of the coordinator's state (required).");
ABSL_FLAG(int64_t, heartbeat_interval_ms, 500, "Heartbeat interval told to nodes.");
ABSL_FLAG(int64_t, heartbeat_timeout_ms, 3000, "A node missing heartbeats this long is dead.");
ABSL_FLAG(int64_t, restart_grace_ms, -1,
          "After a restart, how long a running job's nodes have to re-register "
          "(default: 2 x --heartbeat_timeout_ms).");
ABSL_FLAG(int64_t, recovery_timeout_ms, 300000,
          "How long a job that lost a server waits for a replacement server before it fails.");
ABSL_FLAG(int64_t, server_rpc_timeout_ms, 10000,
          "Deadline of each call to a parameter server (psdctl checkpoint).");
ABSL_FLAG(int64_t, server_memory_budget_bytes, -1,
          "SubmitJob refuses a job whose estimated memory per parameter server (parameters, "
          "optimizer state, accumulators, checkpoint copy, chunk records) exceeds this. -1: 80% "
          "of this machine's memory (set it to the servers' budget when they run elsewhere); "
          "0: no check.");
ABSL_FLAG(int64_t, max_spec_bytes, psd::kDefaultMaxSpecBytes,
          "The longest job spec psdctl submit may send (at most the default); gRPC refuses "
          "larger requests before they are read.");
ABSL_FLAG(double, straggler_threshold, 1.5,
          "A worker whose compute (or network) time per step is this many times the other "
          "workers' median, in --straggler_reports reports in a row, is named a straggler; "
          "likewise a server whose chunk RPCs take this many times the other servers' median.");
ABSL_FLAG(double, straggler_min_step_share, 0.25,
          "... and only when that excess is at least this share of the others' median step "
          "(a slow server: its excess per call); 0 names every excess over 2 ms.");
ABSL_FLAG(int, straggler_reports, 5,
          "Consecutive progress reports (one every training.log_every steps) that name a "
          "straggler, and that clear it.");
ABSL_FLAG(int, http_port, 0,
          "Port of the read-only web console (docs/observability.md, \"Web console\"); 0: off.");
ABSL_FLAG(std::string, http_address, "127.0.0.1",
          "Address the web console listens on. It is plaintext and unauthenticated: keep it on "
          "a trusted network or behind a proxy (docs/security.md).");
ABSL_FLAG(std::string, console_assets_dir, "/var/cache/psd/console/uplot/node_modules/uplot/dist",
          "Where the console finds uPlot.iife.min.js and uPlot.min.css (installed by "
          "deploy/local/install_deps.sh); without them it serves no charts.");
ABSL_FLAG(int64_t, shutdown_grace_ms, 2000,
          "On SIGTERM, how long open calls get to finish before they are cancelled.");

namespace psd {
namespace {

constexpr char kStateFile[] = "coordinator.db";
constexpr char kLockFile[] = "coordinator.lock";
// The smallest --max_spec_bytes: a spec that sets every field takes about 1.5 KiB.
constexpr int64_t kMinSpecBytesFlag = 4096;

// Holds an exclusive lock on the state directory for the life of the process, so that two
// coordinators never share one state file.
absl::Status LockStateDir(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kLockFile);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("--state_dir: cannot open ", path));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("--state_dir: ", dir, " is in use by another psd-coordinator"));
  }
  return absl::OkStatus();  // the descriptor stays open until exit
}

absl::StatusOr<CoordinatorOptions> OptionsFromFlags() {
  CoordinatorOptions options;
  const int64_t interval = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  const int64_t timeout = absl::GetFlag(FLAGS_heartbeat_timeout_ms);
  int64_t grace = absl::GetFlag(FLAGS_restart_grace_ms);
  if (interval <= 0) return absl::InvalidArgumentError("--heartbeat_interval_ms: must be > 0");
  if (timeout <= interval) {
    return absl::InvalidArgumentError(
        absl::StrCat("--heartbeat_timeout_ms: must exceed --heartbeat_interval_ms (", interval,
                     "), got ", timeout));
  }
  if (grace < 0) grace = 2 * timeout;
  const int64_t recovery = absl::GetFlag(FLAGS_recovery_timeout_ms);
  if (recovery <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--recovery_timeout_ms: must be > 0, got ", recovery));
  }
  const int64_t server_rpc = absl::GetFlag(FLAGS_server_rpc_timeout_ms);
  if (server_rpc <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server_rpc_timeout_ms: must be > 0, got ", server_rpc));
  }
  options.heartbeat_interval = absl::Milliseconds(interval);
  options.heartbeat_timeout = absl::Milliseconds(timeout);
  options.restart_grace = absl::Milliseconds(grace);
  options.recovery_timeout = absl::Milliseconds(recovery);
  options.server_rpc_timeout = absl::Milliseconds(server_rpc);
  const int64_t max_spec = absl::GetFlag(FLAGS_max_spec_bytes);
  if (max_spec < kMinSpecBytesFlag || max_spec > kDefaultMaxSpecBytes) {
    return absl::InvalidArgumentError(absl::StrCat("--max_spec_bytes: must be between ",
                                                   kMinSpecBytesFlag, " and ", kDefaultMaxSpecBytes,
                                                   ", got ", max_spec));
  }
  options.max_spec_bytes = max_spec;
  const int64_t budget = absl::GetFlag(FLAGS_server_memory_budget_bytes);
  options.server_memory_budget_bytes = budget < 0 ? DefaultMemoryBudget() : budget;
  options.stragglers.threshold = absl::GetFlag(FLAGS_straggler_threshold);
  options.stragglers.reports = absl::GetFlag(FLAGS_straggler_reports);
  options.stragglers.min_step_share = absl::GetFlag(FLAGS_straggler_min_step_share);
  if (options.stragglers.min_step_share < 0 || options.stragglers.min_step_share >= 10) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--straggler_min_step_share: must be in [0, 10), got ", options.stragglers.min_step_share));
  }
  if (!(options.stragglers.threshold > 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--straggler_threshold: must be > 1, got ", options.stragglers.threshold));
  }
  if (options.stragglers.reports < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--straggler_reports: must be >= 1, got ", options.stragglers.reports));
  }
  return options;
}

int Run() {
  const std::string state_dir = absl::GetFlag(FLAGS_state_dir);
  if (state_dir.empty()) {
    spdlog::error("--state_dir: required");
    return 2;
  }
  absl::StatusOr<CoordinatorOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    spdlog::error("{}", std::string(options.status().message()));
    return 2;
  }
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(PeerRole::kCoordinator);
  if (!tls.ok()) {
    spdlog::error("{}", std::string(tls.status().message()));
    return 2;
  }
  options->tls = *tls;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(*tls);
  if (!credentials.ok()) {
    spdlog::error("{}", std::string(credentials.status().message()));
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    spdlog::error("--state_dir: cannot create {}: {}", state_dir, ec.message());
    return 1;
  }
  if (absl::Status s = LockStateDir(state_dir); !s.ok()) {
    spdlog::error("{}", std::string(s.message()));
    return 1;
  }
  const std::string db_path = absl::StrCat(state_dir, "/", kStateFile);
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(db_path);
  if (!store.ok()) {
    spdlog::error("{}", std::string(store.status().message()));
    return 1;
  }
  absl::StatusOr<std::unique_ptr<JobManager>> manager =
      JobManager::Create(*options, *std::move(store));
  if (!manager.ok()) {
    spdlog::error("{}", std::string(manager.status().message()));
    return 1;
  }

  CoordinatorService service(manager->get(), /*authorize=*/!tls->insecure);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  const std::string address =
      absl::StrCat(absl::GetFlag(FLAGS_bind), ":", absl::GetFlag(FLAGS_port));
  builder.AddListeningPort(address, *credentials, &port);
  builder.SetMaxReceiveMessageSize(MaxRequestBytes(*options));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    spdlog::error("cannot listen on {}", address);
    return 1;
  }
  absl::StatusOr<std::unique_ptr<grpc::Server>> health =
      StartHealthPortFromFlags(absl::GetFlag(FLAGS_bind));
  if (!health.ok()) {
    spdlog::error("{}", std::string(health.status().message()));
    server->Shutdown();
    return 1;
  }
  // Destroyed before the service and the manager its scrapes read.
  absl::StatusOr<std::unique_ptr<MetricsExposer>> metrics = StartMetricsFromFlags("coordinator");
  if (!metrics.ok()) {
    spdlog::error("{}", std::string(metrics.status().message()));
    server->Shutdown();
    return 1;
  }
  if (*metrics != nullptr) {
    (*metrics)->Register(CoordinatorMetrics(manager->get(), &service));
    (*metrics)->Register(DenialMetrics(&service.authorizer(), "coordinator"));
  }
  // Destroyed before the manager its pages read.
  std::unique_ptr<ConsoleHttp> console;
  if (const int http_port = absl::GetFlag(FLAGS_http_port); http_port != 0) {
    ConsoleOptions console_options;
    console_options.address = absl::GetFlag(FLAGS_http_address);
    console_options.port = http_port;
    console_options.assets_dir = absl::GetFlag(FLAGS_console_assets_dir);
    absl::StatusOr<std::unique_ptr<ConsoleHttp>> started =
        ConsoleHttp::Start(manager->get(), console_options);
    if (!started.ok()) {
      spdlog::error("--http_port: {}", std::string(started.status().message()));
      server->Shutdown();
      return 1;
    }
    console = *std::move(started);
    spdlog::info("web console on http://{}:{}/ (read-only, plaintext)", console_options.address,
                 console->port());
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, port); !s.ok()) {
      spdlog::error("{}", std::string(s.message()));
      server->Shutdown();
      return 1;
    }
  }
  spdlog::info(
      "listening on {}:{} with {} (state {}, heartbeat {} ms, timeout {} ms, restart grace {} "
      "ms, recovery timeout {} ms)",
      absl::GetFlag(FLAGS_bind), port, DescribeTls(*tls), db_path,
      absl::ToInt64Milliseconds(options->heartbeat_interval),
      absl::ToInt64Milliseconds(options->heartbeat_timeout),
      absl::ToInt64Milliseconds(options->restart_grace),
      absl::ToInt64Milliseconds(options->recovery_timeout));

  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", strsignal(signal));

  if (*health != nullptr) (*health)->Shutdown();
  metrics->reset();
  console.reset();
  (*manager)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  server->Wait();
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  psd::BlockShutdownSignals();

  psd::ParseCommandLineOrHelp(
      argc, argv,
      "psd-coordinator --state_dir DIR [--port P | --port 0 --port_file F]: the psd coordinator");
  if (absl::Status s = psd::InitLogging("coordinator"); !s.ok()) {
    std::fprintf(stderr, "psd-coordinator: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return psd::Run();
}
