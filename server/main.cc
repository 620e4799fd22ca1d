// psd-server: holds the parameter chunks of the jobs the coordinator assigns to it.

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/logging.h"
#include "coordinator/node_agent.h"
#include "coordinator/node_flags.h"
#include "server/ps_server.h"
#include "server/server_flags.h"

ABSL_FLAG(int64_t, slow_step_log_ms, 10000,
          "Log the workers a step waits for once it has waited this long.");
ABSL_FLAG(int64_t, max_message_bytes, 256 << 20, "Largest gRPC message accepted or sent.");
ABSL_FLAG(int64_t, shutdown_grace_ms, 5000, "On SIGTERM, how long calls in flight get to finish.");

namespace psd {
namespace {

// Turns the coordinator's assignments into job state on this server.
class AssignmentHandler {
 public:
  explicit AssignmentHandler(PsServer* server) : server_(server) {}
  void set_agent(NodeAgent* agent) { agent_ = agent; }

  void operator()(const Assignment& a) {
    if (a.action() == Assignment::ACTION_STOP || a.job_id().empty()) {
      if (!current_.empty()) server_->jobs().End(current_);
      current_.clear();
      return;
    }
    if (a.action() != Assignment::ACTION_RUN || a.role() != ROLE_SERVER) return;
    InitJobRequest init;
    init.set_job_id(a.job_id());
    init.set_generation(a.generation());
    init.set_spec_yaml(a.spec_yaml());
    init.set_server_rank(a.rank());
    init.set_num_servers(a.server_addresses_size());
    init.set_num_workers(a.num_workers());
    init.set_resume_step(a.resume_step());
    init.set_resume_dir(a.resume_dir());
    *init.mutable_live_workers() = a.live_workers();
    TaskReport report;
    report.set_job_id(a.job_id());
    report.set_role(ROLE_SERVER);
    report.set_rank(a.rank());
    report.set_generation(a.generation());
    auto job = server_->jobs().Init(init);
    if (job.ok()) {
      (*job)->store->SetLiveWorkers({a.live_workers().begin(), a.live_workers().end()});
      current_ = a.job_id();
      report.set_kind(TaskReport::KIND_READY);
      report.set_step((*job)->store->stats().min_step);
    } else {
      spdlog::error("job {}: cannot serve: {}", a.job_id(), job.status().message());
      report.set_kind(TaskReport::KIND_FAILED);
      report.set_message(std::string(job.status().message()));
    }
    if (absl::Status s = agent_->ReportTask(report); !s.ok()) {
      spdlog::warn("job {}: report to coordinator failed: {}", a.job_id(), s.message());
    }
  }

 private:
  PsServer* server_;
  NodeAgent* agent_ = nullptr;
  std::string current_;
};

int Run() {
  PsServerOptions options;
  options.listen_address = ListenAddressFromFlags();
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.slow_step_log_after = absl::Milliseconds(absl::GetFlag(FLAGS_slow_step_log_ms));
  ApplyServerFlags(&options);  // gRPC transport and --work_threads (server/server_flags.h)
  auto server = PsServer::Start(options);
  if (!server.ok()) {
    spdlog::error("{}", server.status().message());
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
  AssignmentHandler handler(server->get());
  auto agent = NodeAgent::Start(*agent_options, [&handler](const Assignment& a) { handler(a); });
  if (!agent.ok()) {
    spdlog::error("{}", agent.status().message());
    return 1;
  }
  handler.set_agent(agent->get());
  spdlog::info("listening on port {}, reachable as {}; coordinator {}", (*server)->port(),
               agent_options->self.address(), agent_options->coordinator);

  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", strsignal(signal));
  (*agent)->Stop();
  (*server)->Shutdown(absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::BlockShutdownSignals();
  absl::SetProgramUsageMessage(
      "psd-server --coordinator HOST:PORT [--port P | --port 0 --port_file F]: a psd parameter "
      "server");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status s = psd::InitLogging("server"); !s.ok()) {
    std::fprintf(stderr, "psd-server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return psd::Run();
}
