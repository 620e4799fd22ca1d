#include "bench/inproc_cluster.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "server/ps_server.h"
#include "worker/training_session.h"

namespace psd {
namespace {

// Returns once all `n` workers have called Arrive().
class Barrier {
 public:
  explicit Barrier(int n) : left_(n) {}
  absl::Status Arrive() {
    absl::MutexLock lock(&mu_);
    --left_;
    mu_.Await(absl::Condition(
        +[](int* left) { return *left <= 0; }, &left_));
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  int left_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<JobResult> RunWorker(const JobSpec& spec, int rank, const Dataset& train,
                                    const Dataset* test, const std::vector<std::string>& servers,
                                    const InProcessOptions& options,
                                    const Trainer::ProgressFn& progress, Barrier& trained) {
  SessionOptions o;
  o.rank = rank;
  o.workers = spec.cluster.workers;
  o.cpu_threads = options.cpu_threads;
  o.servers = servers;
  o.client.job_id = spec.name;
  o.client.generation = 1;  // the servers' Init below
  o.client.tls = TlsOptions::Insecure();
  if (auto it = options.slowdown.find(rank); it != options.slowdown.end()) o.slowdown = it->second;
  o.wait_for_others = [&trained] { return trained.Arrive(); };
  PSD_ASSIGN_OR_RETURN(auto session, TrainingSession::Create(spec, train, test, std::move(o)));
  std::atomic<bool> stop{false};
  return session->trainer().Run(stop, rank == 0 ? progress : nullptr);
}

}  // namespace

absl::StatusOr<InProcessRun> RunInProcess(const JobSpec& spec, const Dataset& train,
                                          const Dataset* test, const InProcessOptions& options) {
  JobSpec s = spec;
  s.cluster.device = DeviceKind::kCpu;
  s.cluster.servers = std::max(1, options.servers);
  if (options.servers == 0 && s.cluster.workers != 1) {
    return absl::InvalidArgumentError("without parameter servers there is one worker");
  }
  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
  for (int r = 0; r < options.servers; ++r) {
    PsServerOptions server_options;
    server_options.tls = TlsOptions::Insecure();
    PSD_ASSIGN_OR_RETURN(auto server, PsServer::Start(server_options));
    PSD_RETURN_IF_ERROR(server->jobs().Init(s.name, 1, s, r, s.cluster.workers).status());
    addresses.push_back(absl::StrCat("127.0.0.1:", server->port()));
    servers.push_back(std::move(server));
  }
  InProcessRun run;
  absl::Mutex mu;
  const Trainer::ProgressFn progress = [&](const Progress& p) {
    absl::MutexLock lock(&mu);
    run.progress.push_back(p);
  };
  std::vector<absl::StatusOr<JobResult>> results(s.cluster.workers, absl::UnknownError("not run"));
  Barrier trained(s.cluster.workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < s.cluster.workers; ++w) {
    threads.emplace_back([&, w] {
      results[w] = RunWorker(s, w, train, test, addresses, options, progress, trained);
      if (!results[w].ok()) trained.Arrive().IgnoreError();  // let the others finish
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    run.samples_per_sec += r->steps() * s.training.batch_size / r->wall_seconds();
    run.results.push_back(*r);
  }
  return run;
}

}  // namespace psd
