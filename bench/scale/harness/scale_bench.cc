// bench/scale harness: for each --workers count, a real psd-coordinator and --servers
// psd-server processes on 127.0.0.1 (plaintext: --insecure), then that many light psd-worker
// processes (one BLAS thread, one channel per server, a tiny MLP split into small chunks so that
// every server holds some). Printed per worker count: the time from spawning the workers to
// all registered; the coordinator's CPU per heartbeat and resident memory per node while idle;
// the time from submitting a sync job to running and to its first step; the sync step latency
// (the job's steps between 20% and 80% of its length, over the time they took) and the
// coordinator's CPU per worker step; the same for an async job, as worker steps and chunk
// pushes per second. Figures only, no assertions; the exit status is 0 when every job ran.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/machine.h"
#include "bench/process_stats.h"
#include "bench/runfiles.h"
#include "common/process_init.h"
#include "common/tls_options.h"
#include "node/node_agent.h"
#include "proto/coordinator.grpc.pb.h"
#include "spdlog/spdlog.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "worker/worker_node.h"

ABSL_FLAG(std::string, workers, "8,64,128,256", "Worker counts to measure, one cluster each.");
ABSL_FLAG(int, servers, 8, "Parameter servers of every cluster.");
ABSL_FLAG(int64_t, sync_steps, 200, "Steps of the sync job.");
ABSL_FLAG(int64_t, async_steps, 200, "Steps of the async job (per worker).");
ABSL_FLAG(int, idle_seconds, 10, "Idle window over which heartbeat CPU and memory are read.");
ABSL_FLAG(int64_t, heartbeat_interval_ms, 500, "The coordinator's --heartbeat_interval_ms.");
ABSL_FLAG(int64_t, heartbeat_timeout_ms, 10000, "The coordinator's --heartbeat_timeout_ms.");
ABSL_FLAG(int, register_timeout_s, 120, "Give up when the workers have not registered by then.");
ABSL_FLAG(int, job_timeout_s, 600, "Give up on a job that has not ended by then.");
ABSL_FLAG(std::string, worker_kind, "threads",
          "threads: every worker a NodeAgent and WorkerNode in this process, each with its own "
          "connections (psd-worker's code without its process); processes: psd-worker "
          "processes (each start loads the CUDA libraries: about 0.4 s of CPU here).");
ABSL_FLAG(std::string, keep_dir, "",
          "Run directory (logs of every daemon); empty: a temporary one, removed at the end.");

namespace psd {
namespace {

using psd::bench::CpuSeconds;
using psd::bench::RssMb;
using psd::testing::ChildProcess;
using psd::testing::SpawnOptions;

constexpr int kSide = 4;          // images of 4x4 pixels: 16 inputs
constexpr int kBatch = 8;         // per worker
constexpr int kChunkBytes = 256;  // a 16-16-10 MLP (442 floats) in 8 chunks

struct Data {
  std::string train_images, train_labels, test_images, test_labels;
};

// A small synthetic data set: each class lights one pixel brighter, plus noise.
Data MakeData(const std::string& dir) {
  std::mt19937 rng(11);
  auto make = [&](const std::string& stem, uint32_t n) {
    std::vector<uint8_t> pixels(static_cast<size_t>(n) * kSide * kSide), labels(n);
    for (uint32_t i = 0; i < n; ++i) {
      labels[i] = static_cast<uint8_t>(rng() % 10);
      for (int p = 0; p < kSide * kSide; ++p) {
        pixels[i * kSide * kSide + p] =
            static_cast<uint8_t>((p == labels[i] ? 200 : 20) + rng() % 40);
      }
    }
    psd::testing::WriteIdx(dir + "/" + stem + "-images", {n, kSide, kSide}, pixels);
    psd::testing::WriteIdx(dir + "/" + stem + "-labels", {n}, labels);
  };
  make("train", 4096);
  make("test", 256);
  return {dir + "/train-images", dir + "/train-labels", dir + "/test-images", dir + "/test-labels"};
}

std::string JobYaml(const std::string& name, const Data& d, const std::string& consistency,
                    int servers, int workers, int64_t steps) {
  return absl::StrCat(
      "name: ", name, "\nseed: 3\nmodel: {type: mlp, input_dim: ", kSide * kSide,
      ", hidden: [16], num_classes: 10}\ndata:\n  train_images: ", d.train_images,
      "\n  train_labels: ", d.train_labels, "\n  test_images: ", d.test_images,
      "\n  test_labels: ", d.test_labels, "\ntraining:\n  batch_size: ", kBatch,
      "\n  epochs: 1000\n  max_steps: ", steps, "\n  log_every: 5\n  consistency: ", consistency,
      "\n  optimizer: {type: sgd, learning_rate: 0.05}\ncluster: {servers: ", servers,
      ", workers: ", workers, ", device: cpu, chunk_bytes: ", kChunkBytes, "}\n");
}

// A light worker in this process: psd-worker's NodeAgent and WorkerNode, with its own
// connections to the coordinator and the servers.
class ThreadWorker {
 public:
  static absl::StatusOr<std::unique_ptr<ThreadWorker>> Start(const std::string& coordinator,
                                                             int index) {
    auto w = std::unique_ptr<ThreadWorker>(new ThreadWorker());
    WorkerNodeOptions options;
    options.cpu_threads = 1;
    options.channels_per_server = 1;
    options.tls = TlsOptions::Insecure();
    w->node_ = std::make_unique<WorkerNode>(std::move(options));
    NodeAgentOptions agent;
    agent.coordinator = coordinator;
    agent.tls = TlsOptions::Insecure();
    agent.self.set_role(ROLE_WORKER);
    agent.self.set_address(absl::StrCat("127.0.0.1:", 40000 + index));  // never dialled
    agent.self.set_hostname(absl::StrCat("light-worker-", index));
    agent.self.set_preferred_rank(-1);
    WorkerNode* node = w->node_.get();
    auto started = NodeAgent::Start(agent, [node](const Assignment& a) { node->OnAssignment(a); });
    if (!started.ok()) return started.status();
    w->agent_ = *std::move(started);
    w->node_->set_link(w->agent_.get());
    return w;
  }
  ~ThreadWorker() {
    node_->StopJob();
    agent_->Stop();
  }

 private:
  ThreadWorker() = default;
  std::unique_ptr<WorkerNode> node_;
  std::unique_ptr<NodeAgent> agent_;
};

// One cluster: the coordinator and servers, then the workers, all killed on destruction.
class Cluster {
 public:
  explicit Cluster(std::string dir) : dir_(std::move(dir)) {}
  ~Cluster() { thread_workers_.clear(); }

  absl::Status StartCoordinator() {
    const std::string port_file = dir_ + "/coordinator.port";
    auto p =
        Spawn({"coordinator/psd-coordinator", "--insecure", "--bind=127.0.0.1", "--port=0",
               "--port_file=" + port_file, "--state_dir=" + dir_ + "/coordinator-state",
               absl::StrCat("--heartbeat_interval_ms=", absl::GetFlag(FLAGS_heartbeat_interval_ms)),
               absl::StrCat("--heartbeat_timeout_ms=", absl::GetFlag(FLAGS_heartbeat_timeout_ms))},
              "coordinator");
    if (!p.ok()) return p.status();
    coordinator_ = *std::move(p);
    std::optional<int> port =
        psd::testing::WaitForPortFile(port_file, absl::Seconds(30), &coordinator_);
    if (!port) return absl::UnavailableError("the coordinator did not start (coordinator.log)");
    address_ = absl::StrCat("127.0.0.1:", *port);
    stub_ = Coordinator::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    return absl::OkStatus();
  }

  absl::Status SpawnNode(const std::string& binary, const std::string& name,
                         std::vector<std::string> extra, std::vector<ChildProcess>* into) {
    std::vector<std::string> argv = {binary,
                                     "--insecure",
                                     "--coordinator=" + address_,
                                     "--bind=127.0.0.1",
                                     "--advertise_host=127.0.0.1",
                                     "--port=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Spawn(argv, name);
    if (!p.ok()) return p.status();
    into->push_back(*std::move(p));
    return absl::OkStatus();
  }
  absl::Status SpawnServer(int i) {
    return SpawnNode("server/psd-server", absl::StrCat("server-", i), {}, &servers_);
  }
  absl::Status SpawnWorker(int i) {
    if (absl::GetFlag(FLAGS_worker_kind) == "threads") {
      auto w = ThreadWorker::Start(address_, i);
      if (!w.ok()) return w.status();
      thread_workers_.push_back(*std::move(w));
      return absl::OkStatus();
    }
    return SpawnNode("worker/psd-worker", absl::StrCat("worker-", i),
                     {"--threads=1", "--channels_per_server=1"}, &workers_);
  }

  // Registered live nodes of `role`, or -1 if the coordinator did not answer.
  int Registered(Role role) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ListNodesResponse nodes;
    if (!stub_->ListNodes(&context, ListNodesRequest(), &nodes).ok()) return -1;
    return static_cast<int>(std::count_if(
        nodes.nodes().begin(), nodes.nodes().end(),
        [role](const NodeStatus& n) { return n.node().role() == role && n.state() != NODE_DEAD; }));
  }

  absl::StatusOr<std::string> Submit(const std::string& yaml) {
    grpc::ClientContext context;
    SubmitJobRequest request;
    request.set_spec_yaml(yaml);
    request.set_source_name("scale.yaml");
    SubmitJobResponse response;
    grpc::Status s = stub_->SubmitJob(&context, request, &response);
    if (!s.ok()) return absl::InvalidArgumentError(s.error_message());
    return response.job_id();
  }

  std::optional<JobInfo> Get(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    GetJobRequest request;
    request.set_job_id(id);
    JobInfo info;
    if (!stub_->GetJob(&context, request, &info).ok()) return std::nullopt;
    return info;
  }

  pid_t coordinator_pid() const { return coordinator_.pid(); }
  const std::string& dir() const { return dir_; }

 private:
  absl::StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                     const std::string& name) {
    SpawnOptions options;
    options.stdout_path = dir_ + "/" + name + ".log";
    options.stderr_path = options.stdout_path;
    options.append = true;
    return ChildProcess::Spawn(argv, options);
  }

  std::string dir_, address_;
  ChildProcess coordinator_;
  std::vector<ChildProcess> servers_, workers_;
  std::vector<std::unique_ptr<ThreadWorker>> thread_workers_;
  std::unique_ptr<Coordinator::Stub> stub_;
};

// Polls a job every 20 ms until it ends; the time it first ran, first reached each step.
struct JobRun {
  bool succeeded = false;
  std::string reason;
  double to_running_s = -1, to_first_step_s = -1;
  double step_s = -1;  // seconds per step between 20% and 80% of the job
  double coordinator_cpu_per_worker_step_us = -1;
  int64_t window_steps = 0;
};

JobRun RunJob(Cluster& cluster, const std::string& yaml, int64_t steps) {
  JobRun run;
  const absl::Time submitted = absl::Now();
  absl::StatusOr<std::string> id = cluster.Submit(yaml);
  if (!id.ok()) {
    run.reason = std::string(id.status().message());
    return run;
  }
  const int64_t from = steps / 5, to = steps * 4 / 5;
  std::optional<absl::Time> t_from, t_to;
  double cpu_from = -1, cpu_to = -1;
  int64_t step_from = 0, step_to = 0;
  const absl::Time give_up = submitted + absl::Seconds(absl::GetFlag(FLAGS_job_timeout_s));
  while (absl::Now() < give_up) {
    std::optional<JobInfo> info = cluster.Get(*id);
    const absl::Time now = absl::Now();
    const double since = absl::ToDoubleSeconds(now - submitted);
    if (info) {
      if (info->state() != JOB_QUEUED && run.to_running_s < 0) run.to_running_s = since;
      const int64_t step = info->progress().step();
      if (step > 0 && run.to_first_step_s < 0) run.to_first_step_s = since;
      if (!t_from && step >= from) {
        t_from = now, step_from = step, cpu_from = CpuSeconds(cluster.coordinator_pid());
      }
      if (!t_to && step >= to && step > step_from) {
        t_to = now, step_to = step, cpu_to = CpuSeconds(cluster.coordinator_pid());
      }
      if (info->state() == JOB_SUCCEEDED || info->state() == JOB_FAILED ||
          info->state() == JOB_CANCELLED) {
        run.succeeded = info->state() == JOB_SUCCEEDED;
        run.reason = info->reason();
        break;
      }
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (t_from && t_to) {
    run.window_steps = step_to - step_from;
    run.step_s = absl::ToDoubleSeconds(*t_to - *t_from) / static_cast<double>(run.window_steps);
    run.coordinator_cpu_per_worker_step_us = (cpu_to - cpu_from) * 1e6;  // divided by the caller
  }
  if (!run.succeeded && run.reason.empty()) run.reason = "timed out";
  return run;
}

struct Row {
  int workers = 0;
  double register_s = -1, idle_cpu_pct = -1, heartbeat_cpu_us = -1, rss_per_node_kb = -1,
         coordinator_rss_mb = -1;
  JobRun sync, async;
};

absl::StatusOr<Row> Measure(int workers, const Data& data, const std::string& dir) {
  const int servers = absl::GetFlag(FLAGS_servers);
  Row row;
  row.workers = workers;
  Cluster cluster(dir);
  if (absl::Status s = cluster.StartCoordinator(); !s.ok()) return s;
  for (int i = 0; i < servers; ++i) {
    if (absl::Status s = cluster.SpawnServer(i); !s.ok()) return s;
  }
  if (!psd::testing::WaitUntil([&] { return cluster.Registered(ROLE_SERVER) == servers; },
                               absl::Seconds(60), absl::Milliseconds(50))) {
    return absl::DeadlineExceededError("the servers did not register");
  }
  absl::SleepFor(absl::Seconds(1));
  const double rss_servers_only = RssMb(cluster.coordinator_pid());
  const int idle = absl::GetFlag(FLAGS_idle_seconds);
  // The coordinator's CPU with the servers alone: what the workers' heartbeats add is measured
  // against it.
  const double base0 = CpuSeconds(cluster.coordinator_pid());
  absl::SleepFor(absl::Seconds(idle));
  const double base_rate = (CpuSeconds(cluster.coordinator_pid()) - base0) / idle;

  const absl::Time spawn = absl::Now();
  for (int i = 0; i < workers; ++i) {
    if (absl::Status s = cluster.SpawnWorker(i); !s.ok()) return s;
  }
  if (!psd::testing::WaitUntil([&] { return cluster.Registered(ROLE_WORKER) == workers; },
                               absl::Seconds(absl::GetFlag(FLAGS_register_timeout_s)),
                               absl::Milliseconds(20))) {
    return absl::DeadlineExceededError(absl::StrCat("only ", cluster.Registered(ROLE_WORKER),
                                                    " of ", workers, " workers registered"));
  }
  row.register_s = absl::ToDoubleSeconds(absl::Now() - spawn);

  // Idle: every node heartbeats; nothing else reaches the coordinator.
  absl::SleepFor(absl::Seconds(2));
  const double cpu0 = CpuSeconds(cluster.coordinator_pid());
  absl::SleepFor(absl::Seconds(idle));
  const double cpu1 = CpuSeconds(cluster.coordinator_pid());
  row.idle_cpu_pct = (cpu1 - cpu0) / idle * 100;
  const double heartbeats_per_s =
      workers * 1000.0 / static_cast<double>(absl::GetFlag(FLAGS_heartbeat_interval_ms));
  row.heartbeat_cpu_us = ((cpu1 - cpu0) / idle - base_rate) * 1e6 / heartbeats_per_s;
  row.coordinator_rss_mb = RssMb(cluster.coordinator_pid());
  row.rss_per_node_kb = (row.coordinator_rss_mb - rss_servers_only) * 1e3 / workers;

  const int64_t sync_steps = absl::GetFlag(FLAGS_sync_steps);
  row.sync = RunJob(cluster, JobYaml("scale-sync", data, "sync", servers, workers, sync_steps),
                    sync_steps);
  const int64_t async_steps = absl::GetFlag(FLAGS_async_steps);
  row.async = RunJob(cluster, JobYaml("scale-async", data, "async", servers, workers, async_steps),
                     async_steps);
  for (JobRun* run : {&row.sync, &row.async}) {
    if (run->window_steps > 0) {
      run->coordinator_cpu_per_worker_step_us /= static_cast<double>(run->window_steps * workers);
    }
  }
  return row;
}

std::string Fmt(double v, const char* format) {
  return v < 0 ? std::string("-") : absl::StrFormat(format, v);
}

int Main() {
  if (absl::Status s = psd::bench::EnterRunfiles("//bench/scale/harness:scale_bench"); !s.ok()) {
    std::fprintf(stderr, "bench/scale: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const std::string kind = absl::GetFlag(FLAGS_worker_kind);
  if (kind != "threads" && kind != "processes") {
    std::fprintf(stderr, "--worker_kind: expected threads or processes, got '%s'\n", kind.c_str());
    return 2;
  }
  // The light workers' own log lines (a job's start and end, each) would drown the figures.
  if (kind == "threads") spdlog::set_level(spdlog::level::warn);
  std::vector<int> counts;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_workers), ',')) {
    int w = 0;
    if (!absl::SimpleAtoi(part, &w) || w < 1 || w > 4096) {
      std::fprintf(stderr,
                   "--workers: expected counts from 1 to 4096 separated by commas, got '%s'\n",
                   std::string(part).c_str());
      return 2;
    }
    counts.push_back(w);
  }
  std::string root = absl::GetFlag(FLAGS_keep_dir);
  const bool keep = !root.empty();
  if (!keep) root = psd::testing::MakeTempDir("psd-scale");
  std::filesystem::create_directories(root);
  const Data data = MakeData(root);
  const int servers = absl::GetFlag(FLAGS_servers);
  std::printf(
      "bench/scale: %d servers, a 16-16-10 MLP in %d-byte chunks, batch %d per worker, "
      "plaintext, heartbeats every %lld ms, workers as %s; %s\n",
      servers, kChunkBytes, kBatch,
      static_cast<long long>(absl::GetFlag(FLAGS_heartbeat_interval_ms)), kind.c_str(),
      psd::bench::MachineLine().c_str());
  std::fflush(stdout);
  std::vector<Row> rows;
  bool all_ok = true;
  for (int w : counts) {
    const std::string dir = absl::StrCat(root, "/w", w);
    std::filesystem::create_directories(dir);
    absl::StatusOr<Row> row = Measure(w, data, dir);
    if (!row.ok()) {
      std::printf("%d workers: %s (logs in %s)\n", w, std::string(row.status().message()).c_str(),
                  dir.c_str());
      all_ok = false;
      continue;
    }
    for (const JobRun* run : {&row->sync, &row->async}) {
      if (!run->succeeded) {
        std::printf("%d workers: a job did not succeed: %s\n", w, run->reason.c_str());
        all_ok = false;
      }
    }
    std::printf("%d workers measured (%s)\n", w, psd::bench::MachineLine().c_str());
    std::fflush(stdout);
    rows.push_back(*std::move(row));
  }

  std::printf("\n%8s %10s %8s %9s %9s %9s | %9s %9s %9s %10s | %9s %11s %10s\n", "workers",
              "register_s", "idle_cpu", "hb_cpu_us", "kb/node", "coord_mb", "start_s", "1st_step",
              "sync_ms", "cpu_us/ws", "async_ms", "wsteps/s", "cpu_us/ws");
  for (const Row& r : rows) {
    const double async_rate = r.async.step_s > 0 ? r.workers / r.async.step_s : -1;
    std::printf("%8d %10s %8s %9s %9s %9s | %9s %9s %9s %10s | %9s %11s %10s\n", r.workers,
                Fmt(r.register_s, "%.2f").c_str(), Fmt(r.idle_cpu_pct, "%.1f%%").c_str(),
                Fmt(r.heartbeat_cpu_us, "%.1f").c_str(), Fmt(r.rss_per_node_kb, "%.1f").c_str(),
                Fmt(r.coordinator_rss_mb, "%.1f").c_str(), Fmt(r.sync.to_running_s, "%.2f").c_str(),
                Fmt(r.sync.to_first_step_s, "%.2f").c_str(),
                Fmt(r.sync.step_s * 1e3, "%.1f").c_str(),
                Fmt(r.sync.coordinator_cpu_per_worker_step_us, "%.1f").c_str(),
                Fmt(r.async.step_s * 1e3, "%.1f").c_str(), Fmt(async_rate, "%.0f").c_str(),
                Fmt(r.async.coordinator_cpu_per_worker_step_us, "%.1f").c_str());
  }
  if (!rows.empty()) {
    const Row& base = rows.front();
    std::printf("\nagainst %d workers:\n", base.workers);
    for (const Row& r : rows) {
      const double n = static_cast<double>(r.workers) / base.workers;
      std::printf(
          "  %4d workers (%.0fx): sync step latency %.2fx, coordinator CPU per heartbeat "
          "%.2fx, per worker step %.2fx\n",
          r.workers, n, r.sync.step_s / base.sync.step_s,
          r.heartbeat_cpu_us / base.heartbeat_cpu_us,
          r.sync.coordinator_cpu_per_worker_step_us / base.sync.coordinator_cpu_per_worker_step_us);
    }
  }
  std::printf(
      "\ncolumns: register_s from spawning the workers to all registered; idle_cpu the "
      "coordinator's CPU while only heartbeats reach it; hb_cpu_us what one worker heartbeat "
      "adds to it (against the servers alone); kb/node coordinator RSS per worker; start_s from "
      "submit to "
      "running, 1st_step to the first step reported; sync_ms / async_ms seconds per step "
      "between 20%% and 80%% of the job; cpu_us/ws coordinator CPU per worker step; wsteps/s "
      "worker steps per second (async: each pushes all %d chunks)\n",
      (16 * 16 + 16 + 16 * 10 + 10) * 4 / kChunkBytes + 1);
  if (!keep) std::filesystem::remove_all(root);
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  psd::InitProcess();
  return psd::Main();
}
