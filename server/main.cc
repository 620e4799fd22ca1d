// psd-server: holds the parameter chunks of the jobs the coordinator assigns to it.

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
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
ABSL_FLAG(int64_t, shutdown_grace_ms, 5000,
          "On SIGTERM, the time to checkpoint the jobs served here (half of it) and to let calls "
          "in flight finish (the other half).");
ABSL_FLAG(int, debug_drop_push_replies, 0,
          "Tests only: answer every Nth push with UNAVAILABLE after applying it, as if the reply "
          "were lost (0: never).");

namespace psd {
namespace {

// Turns the coordinator's assignments into job state on this server, and reports what the
// server does with them: ready, checkpointed, leaving.
class AssignmentHandler {
 public:
  explicit AssignmentHandler(PsServer* server) : server_(server) {}
  void set_agent(NodeAgent* agent) {
    absl::MutexLock lock(&mu_);
    agent_ = agent;
  }

  void operator()(const Assignment& a) {
    if (a.action() == Assignment::ACTION_STOP || a.job_id().empty()) {
      if (!current_.empty()) server_->jobs().End(current_);
      current_.clear();
      return;
    }
    if (a.action() == Assignment::ACTION_PAUSE) {
      spdlog::info("job {}: paused while a server is replaced", a.job_id());
      return;
    }
    if (a.action() != Assignment::ACTION_RUN || a.role() != ROLE_SERVER) return;
    const std::vector<int> live(a.live_workers().begin(), a.live_workers().end());
    if (auto served = server_->jobs().Get(a.job_id(), a.generation()); served.ok()) {
      (*served)->store->SetLiveWorkers(live);  // the same generation: membership changed
      return;
    }
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
    TaskReport report = Report(a.job_id(), a.rank(), a.generation());
    auto job = server_->jobs().Init(init);
    if (job.ok()) {
      current_ = a.job_id();
      report.set_kind(TaskReport::KIND_READY);
      report.set_step(a.resume_step());
    } else if (a.resume_step() > 0 && (job.status().code() == absl::StatusCode::kNotFound ||
                                       job.status().code() == absl::StatusCode::kDataLoss)) {
      spdlog::error("job {}: checkpoint of step {} unusable: {}", a.job_id(), a.resume_step(),
                    job.status().message());
      report.set_kind(TaskReport::KIND_CHECKPOINT_UNUSABLE);
      report.set_step(a.resume_step());
      report.set_message(std::string(job.status().message()));
    } else {
      spdlog::error("job {}: cannot serve: {}", a.job_id(), job.status().message());
      report.set_kind(TaskReport::KIND_FAILED);
      report.set_message(std::string(job.status().message()));
    }
    Send(report);
  }

  // From the checkpoint writer: tell the coordinator, then wake a shutdown waiting for it,
  // so that its "leaving" report cannot overtake this one.
  void OnCheckpoint(const CheckpointMeta& meta, const absl::Status& status) {
    if (!status.ok()) return;
    TaskReport report = Report(meta.job_id, meta.rank, meta.generation);
    report.set_kind(TaskReport::KIND_CHECKPOINTED);
    report.set_step(meta.step);
    Send(report);
    absl::MutexLock lock(&mu_);
    written_[meta.job_id] = std::max(written_[meta.job_id], meta.step);
  }

  // SIGTERM: checkpoints each job that has a checkpoint.dir at its next step (waiting up to
  // `grace` for the workers to get there), then tells the coordinator this server leaves.
  void HandOff(absl::Duration grace) {
    const absl::Time deadline = absl::Now() + grace;
    std::vector<std::pair<std::shared_ptr<ServedJob>, int64_t>> pending;
    NodeAgent* agent;
    {
      absl::MutexLock lock(&mu_);
      agent = agent_;
    }
    server_->jobs().ForEach([&](ServedJob& job) {
      if (job.spec.checkpoint.dir.empty() || agent == nullptr) return;
      // Every server must save the same step: the coordinator picks it and asks them all.
      absl::StatusOr<int64_t> step = agent->RequestCheckpoint(job.id);
      if (!step.ok()) {
        spdlog::warn("job {}: no checkpoint before leaving: {}", job.id, step.status());
        return;
      }
      pending.push_back({server_->jobs().Get(job.id, 0).value_or(nullptr), *step});
    });
    for (const auto& [job, step] : pending) {
      if (job == nullptr) continue;
      absl::MutexLock lock(&mu_);
      auto written = [this, id = job->id, step = step]()
                         ABSL_NO_THREAD_SAFETY_ANALYSIS { return written_[id] >= step; };
      if (mu_.AwaitWithDeadline(absl::Condition(&written), deadline)) {
        spdlog::info("job {}: checkpoint of step {} written before leaving", job->id, step);
      } else {
        spdlog::warn(
            "job {}: no checkpoint of step {} within the grace period; the last "
            "complete one will be used",
            job->id, step);
      }
    }
    server_->jobs().ForEach([&](ServedJob& job) {
      TaskReport report = Report(job.id, job.rank, job.generation);
      report.set_kind(TaskReport::KIND_LEAVING);
      report.set_message("server shut down (SIGTERM)");
      Send(report, absl::Seconds(5));
    });
  }

 private:
  static TaskReport Report(const std::string& job_id, int rank, int64_t generation) {
    TaskReport report;
    report.set_job_id(job_id);
    report.set_role(ROLE_SERVER);
    report.set_rank(rank);
    report.set_generation(generation);
    return report;
  }

  void Send(const TaskReport& report, absl::Duration deadline = absl::Seconds(30)) {
    NodeAgent* agent;
    {
      absl::MutexLock lock(&mu_);
      agent = agent_;
    }
    if (agent == nullptr) return;
    if (absl::Status s = agent->ReportTask(report, deadline); !s.ok()) {
      spdlog::warn("job {}: report to coordinator failed: {}", report.job_id(), s);
    }
  }

  PsServer* server_;
  std::string current_;  // touched by the agent's dispatch thread only
  absl::Mutex mu_;
  NodeAgent* agent_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, int64_t> written_ ABSL_GUARDED_BY(mu_);  // newest checkpoint per job
};

int Run() {
  PsServerOptions options;
  options.listen_address = ListenAddressFromFlags();
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.slow_step_log_after = absl::Milliseconds(absl::GetFlag(FLAGS_slow_step_log_ms));
  ApplyServerFlags(&options);  // gRPC transport and --work_threads (server/server_flags.h)
  options.drop_push_replies = absl::GetFlag(FLAGS_debug_drop_push_replies);
  std::unique_ptr<AssignmentHandler> handler;
  options.on_checkpoint = [&handler](const CheckpointMeta& meta, const absl::Status& status) {
    if (handler != nullptr) handler->OnCheckpoint(meta, status);
  };
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
  handler = std::make_unique<AssignmentHandler>(server->get());
  auto agent =
      NodeAgent::Start(*agent_options, [h = handler.get()](const Assignment& a) { (*h)(a); });
  if (!agent.ok()) {
    spdlog::error("{}", agent.status().message());
    return 1;
  }
  handler->set_agent(agent->get());
  spdlog::info("listening on port {}, reachable as {}; coordinator {}", (*server)->port(),
               agent_options->self.address(), agent_options->coordinator);

  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", strsignal(signal));
  const absl::Duration grace = absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms));
  handler->HandOff(grace / 2);
  (*agent)->Stop();
  (*server)->Shutdown(grace / 2);
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
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
