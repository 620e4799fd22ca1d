// psd-worker: trains its share of the jobs the coordinator assigns to it.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/command_line.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/logging.h"
#include "common/model_file.h"
#include "common/status_macros.h"
#include "common/transport_flags.h"
#include "coordinator/node_agent.h"
#include "coordinator/node_flags.h"
#include "kernels/select.h"
#include "worker/dataset_cache.h"
#include "worker/trainer.h"

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

namespace psd {
namespace {

std::vector<Device> LocalDevices() {
  std::vector<Device> devices;
  for (const kernels::DeviceInfo& info : kernels::DescribeDevices()) {
    Device d;
    d.set_kind(info.kind == DeviceKind::kCuda ? "cuda" : "cpu");
    d.set_index(info.index);
    d.set_name(info.name);
    d.set_memory_bytes(info.memory_bytes);
    if (!info.usable) d.set_detail(info.detail.empty() ? "unusable" : info.detail);
    devices.push_back(std::move(d));
  }
  return devices;
}

// Runs at most one job at a time on its own thread, as the assignments say.
class Worker {
 public:
  ~Worker() { StopJob(); }
  void set_agent(NodeAgent* agent) { agent_ = agent; }

  void OnAssignment(const Assignment& a) {
    const bool run = a.action() == Assignment::ACTION_RUN && a.role() == ROLE_WORKER;
    if (run && a.job_id() == job_id_ && a.generation() == generation_) return;
    StopJob();
    if (a.action() == Assignment::ACTION_PAUSE) {
      spdlog::info("job {}: paused (a recovery is under way)", a.job_id());
    }
    if (a.action() == Assignment::ACTION_STOP && ran_job_ && absl::GetFlag(FLAGS_exit_after_job)) {
      spdlog::info("job {} ended: exiting (--exit_after_job)", a.job_id());
      kill(getpid(), SIGTERM);  // main() shuts down as on any SIGTERM
    }
    if (!run) return;
    ran_job_ = true;
    job_id_ = a.job_id();
    generation_ = a.generation();
    rank_ = a.rank();
    stop_ = false;
    thread_ = std::thread([this, a] { RunJob(a); });
  }

  // Tells the coordinator this worker is leaving its job (SIGTERM), so the job goes on
  // without it (or fails) now rather than after the heartbeat timeout.
  void Leave() {
    if (job_id_.empty()) return;
    TaskReport report;
    report.set_job_id(job_id_);
    report.set_role(ROLE_WORKER);
    report.set_rank(rank_);
    report.set_generation(generation_);
    report.set_kind(TaskReport::KIND_LEAVING);
    report.set_message("worker shut down (SIGTERM)");
    if (absl::Status s = agent_->ReportTask(report, absl::Seconds(5)); !s.ok()) {
      spdlog::warn("job {}: could not tell the coordinator that this worker leaves: {}", job_id_,
                   s);
    }
  }

  void StopJob() {
    stop_ = true;
    {
      absl::MutexLock lock(&mu_);
      if (client_ != nullptr) client_->Cancel();
    }
    if (thread_.joinable()) thread_.join();
    job_id_.clear();
    generation_ = 0;
  }

 private:
  void RunJob(const Assignment& a) {
    TaskReport report;
    report.set_job_id(a.job_id());
    report.set_role(ROLE_WORKER);
    report.set_rank(a.rank());
    report.set_generation(a.generation());
    absl::StatusOr<JobResult> result = Train(a);
    if (!result.ok() && !stop_ && MayBeRecovery(result.status())) {
      // A server went away or moved to a new generation: the coordinator is probably pausing
      // the job to recover it. Give it time to say so before calling this a failure.
      const absl::Time deadline = absl::Now() + absl::Seconds(15);
      while (!stop_ && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
    }
    if (stop_) {
      spdlog::info("job {}: stopped", a.job_id());
      return;
    }
    if (result.ok()) {
      report.set_kind(TaskReport::KIND_SUCCEEDED);
      *report.mutable_result() = *result;
      spdlog::info("job {}: done in {:.1f} s", a.job_id(), result->wall_seconds());
    } else {
      report.set_kind(TaskReport::KIND_FAILED);
      report.set_message(std::string(result.status().message()));
      spdlog::error("job {}: failed: {}", a.job_id(), result.status().message());
    }
    if (absl::Status s = agent_->ReportTask(report); !s.ok()) {
      spdlog::error("job {}: cannot report to the coordinator: {}", a.job_id(), s);
    }
  }

  static bool MayBeRecovery(const absl::Status& s) {
    return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
           s.code() == absl::StatusCode::kNotFound;
  }

  absl::StatusOr<JobResult> Train(const Assignment& a) {
    ParseOptions parse;
    parse.check_files = true;
    PSD_ASSIGN_OR_RETURN(JobSpec spec, ParseJobSpec(a.spec_yaml(), a.job_id(), parse));
    PSD_ASSIGN_OR_RETURN(auto train, datasets_.Get(spec.data.train_images, spec.data.train_labels));
    std::shared_ptr<const Dataset> test;
    if (a.rank() == 0) {
      PSD_ASSIGN_OR_RETURN(test, datasets_.Get(spec.data.test_images, spec.data.test_labels));
    }
    PSD_ASSIGN_OR_RETURN(auto backend,
                         kernels::CreateBackend(spec.cluster.device, absl::GetFlag(FLAGS_threads)));
    PSD_ASSIGN_OR_RETURN(auto model,
                         Model::Create(spec.model, backend.get(), spec.training.batch_size));
    PSD_ASSIGN_OR_RETURN(Placement placement, Placement::ForJob(spec));
    PsClient::Options options;
    options.job_id = a.job_id();
    options.generation = a.generation();
    options.worker = a.rank();
    options.total_steps = PlannedSteps(spec, train->count, a.num_workers());
    options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
    options.retry_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_retry_deadline_ms));
    options.channels_per_server = absl::GetFlag(FLAGS_channels_per_server);
    options.transport = TransportOptionsFromFlags();  // common/transport_flags.h
    SetWireOptions(spec.cluster, &options);           // cluster.wire_dtype, wire_fp16_params
    PSD_ASSIGN_OR_RETURN(
        std::unique_ptr<PsClient> client,
        PsClient::Create(&placement, {a.server_addresses().begin(), a.server_addresses().end()},
                         options));
    {
      absl::MutexLock lock(&mu_);
      client_ = client.get();
    }
    RemoteExchange exchange(client.get());
    Trainer trainer(spec, a.rank(), a.num_workers(), *train, test.get(), model.get(), &exchange);
    trainer.set_slowdown(absl::GetFlag(FLAGS_slowdown));
    trainer.set_start_step(a.resume_step());
    trainer.set_wait_for_others([&]() -> absl::Status {
      while (!stop_) {
        absl::StatusOr<bool> done =
            agent_->Barrier(a.job_id(), "trained", absl::Seconds(30), ROLE_WORKER);
        if (done.ok() && *done) return absl::OkStatus();
        if (!done.ok() && done.status().code() != absl::StatusCode::kUnavailable) {
          return done.status();
        }
      }
      return absl::CancelledError("stopped");
    });
    spdlog::info("job {}: worker {} of {}, {} steps of batch {} on {} ({})", a.job_id(), a.rank(),
                 a.num_workers(), trainer.total_steps(), spec.training.batch_size, backend->name(),
                 backend->description());
    auto result = trainer.Run(stop_, [&](const Progress& p) {
      ProgressReport r;
      r.set_job_id(a.job_id());
      r.set_worker_rank(a.rank());
      r.set_generation(a.generation());
      *r.mutable_progress() = p;
      absl::StatusOr<bool> ended = agent_->ReportProgress(std::move(r));
      if (ended.ok() && *ended) stop_ = true;
    });
    {
      absl::MutexLock lock(&mu_);
      client_ = nullptr;
    }
    if (result.ok() && a.rank() == 0 && !spec.checkpoint.dir.empty()) {
      const std::string path = absl::StrCat(spec.checkpoint.dir, "/", a.job_id(), "/model.psdm");
      PSD_RETURN_IF_ERROR(
          WriteModelFile(path, {a.spec_yaml(), placement.tensors(), trainer.params()}));
      result->set_model_path(path);
      spdlog::info("job {}: model written to {}", a.job_id(), path);
    }
    return result;
  }

  NodeAgent* agent_ = nullptr;
  DatasetCache datasets_;
  std::string job_id_;
  bool ran_job_ = false;
  int rank_ = 0;
  int64_t generation_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  PsClient* client_ ABSL_GUARDED_BY(mu_) = nullptr;
};

int Run() {
  // A gRPC server for the health service (probes); every other method is unimplemented.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::CallbackGenericService unimplemented;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&unimplemented);
  int port = 0;
  builder.AddListeningPort(ListenAddressFromFlags(), grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> health = builder.BuildAndStart();
  if (health == nullptr || port == 0) {
    spdlog::error("cannot listen on {}", ListenAddressFromFlags());
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
  Worker worker;
  auto agent =
      NodeAgent::Start(*options, [&worker](const Assignment& a) { worker.OnAssignment(a); });
  if (!agent.ok()) {
    spdlog::error("{}", agent.status());
    return 1;
  }
  worker.set_agent(agent->get());
  spdlog::info("listening on port {}, reachable as {}; coordinator {}", port,
               options->self.address(), options->coordinator);
  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", strsignal(signal));
  worker.Leave();
  worker.StopJob();
  (*agent)->Stop();
  health->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::BlockShutdownSignals();
  psd::ParseCommandLineOrHelp(
      argc, argv, "psd-worker --coordinator HOST:PORT [--threads N]: a psd training worker");
  if (absl::Status s = psd::InitLogging("worker"); !s.ok()) {
    std::fprintf(stderr, "psd-worker: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return psd::Run();
}
