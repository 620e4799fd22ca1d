// psd-server: holds the parameter chunks of the jobs the coordinator assigns to it.

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
#include "common/memory_estimate.h"
#include "common/metrics_flags.h"
#include "common/process_init.h"
#include "common/rpc_metrics.h"
#include "common/tls_flags.h"
#include "node/node_agent.h"
#include "node/node_flags.h"
#include "server/ps_server.h"
#include "server/server_flags.h"
#include "server/server_metrics.h"
#include "server/server_node.h"

ABSL_FLAG(int64_t, slow_step_log_ms, 10000,
          "Log the workers a step waits for once it has waited this long.");
ABSL_FLAG(int64_t, max_message_bytes, 256 << 20, "Largest gRPC message accepted or sent.");
ABSL_FLAG(int64_t, shutdown_grace_ms, 5000,
          "On SIGTERM, the time to checkpoint the jobs served here (half of it) and to let calls "
          "in flight finish (the other half).");
ABSL_FLAG(int64_t, memory_budget_bytes, -1,
          "InitJob refuses jobs whose estimated memory (parameters, optimizer state, "
          "accumulators, checkpoint copy, chunk records; common/memory_estimate.h) would take "
          "the jobs served here past this many bytes. -1: 80% of the machine's memory (or of "
          "the cgroup limit); 0: no limit.");
ABSL_FLAG(int, debug_drop_push_replies, 0,
          "Tests only: answer every Nth push with UNAVAILABLE after applying it, as if the reply "
          "were lost (0: never).");

ABSL_FLAG(int64_t, debug_push_delay_ms, 0,
          "Drills only: every push waits this many milliseconds before it is applied, as on an "
          "overloaded server (the coordinator then names this server slow; 0: never).");

namespace psd {
namespace {

int Run() {
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(PeerRole::kServer);
  if (!tls.ok()) {
    spdlog::error("{}", tls.status().message());
    return 2;
  }
  PsServerOptions options;
  options.tls = *tls;
  options.listen_address = ListenAddressFromFlags();
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.slow_step_log_after = absl::Milliseconds(absl::GetFlag(FLAGS_slow_step_log_ms));
  ApplyServerFlags(&options);  // gRPC transport and --work_threads (server/server_flags.h)
  options.drop_push_replies = absl::GetFlag(FLAGS_debug_drop_push_replies);
  options.push_delay = absl::Milliseconds(absl::GetFlag(FLAGS_debug_push_delay_ms));
  std::unique_ptr<ServerNode> node;
  options.on_checkpoint = [&node](const CheckpointMeta& meta, const absl::Status& status) {
    if (node != nullptr) node->OnCheckpoint(meta, status);
  };
  options.on_job_faults = [&node](const ServedJob& job, const ShardStats& stats,
                                  const absl::Status& failure) {
    if (node != nullptr) node->OnJobFaults(job, stats, failure);
  };
  const int64_t budget = absl::GetFlag(FLAGS_memory_budget_bytes);
  options.memory_budget_bytes = budget < 0 ? DefaultMemoryBudget() : budget;
  spdlog::info("memory budget for jobs: {}", options.memory_budget_bytes > 0
                                                 ? FormatMemory(options.memory_budget_bytes)
                                                 : std::string("no limit"));
  options.metrics = MetricsEnabledFromFlags();
  auto server = PsServer::Start(options);
  if (!server.ok()) {
    spdlog::error("{}", server.status().message());
    return 1;
  }
  // After the server: destroyed before it, so that no scrape reads a server that is gone.
  absl::StatusOr<std::unique_ptr<MetricsExposer>> metrics = StartMetricsFromFlags("server");
  if (!metrics.ok()) {
    spdlog::error("{}", metrics.status().message());
    return 1;
  }
  if (*metrics != nullptr) {
    (*metrics)->Register(ServerMetrics(&(*server)->jobs()));
    (*metrics)->Register(DenialMetrics(&(*server)->service().authorizer(), "server"));
  }
  absl::StatusOr<std::unique_ptr<grpc::Server>> health =
      StartHealthPortFromFlags(BindHostFromFlags());
  if (!health.ok()) {
    spdlog::error("{}", health.status().message());
    return 1;
  }
  if (absl::Status s = PublishPort((*server)->port()); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  Device cpu;
  cpu.set_kind("cpu");
  cpu.set_name("cpu");
  auto agent_options = AgentOptionsFromFlags(ROLE_SERVER, (*server)->port(), {cpu});
  if (!agent_options.ok()) {
    spdlog::error("{}", agent_options.status().message());
    return 2;
  }
  agent_options->tls = *tls;
  node = std::make_unique<ServerNode>(&(*server)->jobs());
  auto agent = NodeAgent::Start(*agent_options,
                                [n = node.get()](const Assignment& a) { n->OnAssignment(a); });
  if (!agent.ok()) {
    spdlog::error("{}", agent.status().message());
    return 1;
  }
  node->set_link(agent->get());
  spdlog::info("listening on port {}, reachable as {}; coordinator {}", (*server)->port(),
               agent_options->self.address(), agent_options->coordinator);

  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", strsignal(signal));
  const absl::Duration grace = absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms));
  if (*health != nullptr) (*health)->Shutdown();
  node->HandOff(grace / 2);
  (*agent)->Stop();
  (*server)->Shutdown(grace / 2);
  metrics->reset();  // its scrapes read the server's jobs
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
      "psd-server --coordinator HOST:PORT [--port P | --port 0 --port_file F]: a psd parameter "
      "server");
  if (absl::Status s = psd::InitLogging("server"); !s.ok()) {
    std::fprintf(stderr, "psd-server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return psd::Run();
}
