// psd_calibrate: the figures bench/scale's simulator needs, measured with psd's own code on
// this machine, written as a calibration file (bench/scale/sim/calibration.h):
//  - worker compute: a TrainingSession with no parameter server (data + forward + backward +
//    the local optimizer, the latter taken off again with the apply figure below);
//  - server apply: ShardStore pushes in-process (no RPC), one and several workers, so that
//    summing a push and applying the optimizer come apart;
//  - gRPC: PushPull round trips of one chunk against one PsServer (as bench/pushpull:latency)
//    with the process's CPU time, so that CPU and wait come apart;
//  - real runs: S servers x W workers as threads of this process over loopback gRPC, the
//    job's model (as bench/train), to check the simulator against.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/scale/sim/calibration.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "common/process_init.h"
#include "server/ps_server.h"
#include "worker/idx_reader.h"
#include "worker/ps_client.h"
#include "worker/training_session.h"

ABSL_FLAG(std::string, job, "examples/fashion_mnist_mlp.yaml", "Job file (model and data).");
ABSL_FLAG(std::string, out, "bench/scale/calibration.txt", "Calibration file to write.");
ABSL_FLAG(int64_t, steps, 300, "Steps per worker of each measured run.");
ABSL_FLAG(std::string, runs, "1x1,2x2,4x4", "SERVERSxWORKERS runs to measure.");
ABSL_FLAG(int, rounds, 2, "Rounds of each measured run (the mean is kept, the spread shown).");
ABSL_FLAG(std::string, sizes_kib, "4,64,256,1024,4096", "Round-trip payload sizes, KiB.");
ABSL_FLAG(int, round_trips, 60, "Round trips per size (the first 10 not counted).");

namespace psd {
namespace {

// CPU seconds of this process, every thread (getrusage: microseconds, where /proc's are ticks).
double Cpu() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "psd_calibrate: %s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

// CPU seconds of the calling thread.
double ThreadCpu() {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Least squares y = a + b x, weighted by 1 / y^2 (relative error: the small sizes, where
// the fixed part shows, count as much as the big ones).
void Fit(const std::vector<double>& x, const std::vector<double>& y, double* a, double* b) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double w = 1.0 / std::max(1e-18, y[i] * y[i]);
    sw += w;
    sx += w * x[i];
    sy += w * y[i];
    sxx += w * x[i] * x[i];
    sxy += w * x[i] * y[i];
  }
  *b = (sw * sxy - sx * sy) / std::max(1e-300, sw * sxx - sx * sx);
  *a = (sy - *b * sx) / sw;
}

// CPU seconds (of this thread: other work on the machine does not count) per step of pushing
// `workers` gradients of one chunk of `elems` floats and
// completing the sync step, on a ShardStore in this process (no RPC).
double ApplySeconds(const JobSpec& job, int64_t elems, int workers, int steps) {
  JobSpec spec = job;
  spec.model.type = ModelType::kLogreg;
  spec.model.hidden.clear();
  spec.model.input_dim = static_cast<int>(elems / 4);
  spec.model.num_classes = 4;
  spec.cluster.servers = 1;
  spec.cluster.workers = workers;
  spec.cluster.chunk_bytes = std::max<int64_t>(spec.cluster.chunk_bytes, elems * 4);
  spec.training.max_steps = steps + 10;
  spec.training.consistency = Consistency::kSync;
  JobRegistry registry;
  auto job_or = registry.Init("apply", 1, spec, 0, workers);
  if (!job_or.ok()) Die(job_or.status(), "apply job");
  ShardStore& store = *(*job_or)->store;
  std::vector<float> grad(static_cast<size_t>(elems), 1e-4f);
  double start = 0;
  for (int t = 0; t < steps + 10; ++t) {
    if (t == 10) start = ThreadCpu();
    for (int w = 0; w < workers; ++w) {
      if (absl::Status s = store.Push(w, t, 0, grad, steps + 10); !s.ok()) Die(s, "apply push");
    }
  }
  return (ThreadCpu() - start) / steps;
}

struct RoundTrip {
  double bytes, wall, cpu;  // per round trip (seconds)
};

RoundTrip PushPullRoundTrip(const JobSpec& job, int64_t bytes, int rounds) {
  JobSpec spec = job;
  spec.model.type = ModelType::kLogreg;
  spec.model.hidden.clear();
  spec.model.input_dim = static_cast<int>(std::max<int64_t>(1, bytes / 4 / 4));
  spec.model.num_classes = 4;
  spec.cluster.servers = 1;
  spec.cluster.workers = 1;
  spec.cluster.chunk_bytes = 64 << 20;
  spec.training.consistency = Consistency::kSync;
  spec.training.max_steps = 0;
  auto placement = Placement::ForJob(spec);
  if (!placement.ok()) Die(placement.status(), "placement");
  PsServerOptions server_options;
  server_options.tls = TlsOptions::Insecure();
  auto server = PsServer::Start(server_options);
  if (!server.ok()) Die(server.status(), "server");
  if (auto j = (*server)->jobs().Init("rtt", 1, spec, 0, 1); !j.ok()) Die(j.status(), "init");
  PsClient::Options o;
  o.job_id = "rtt";
  o.generation = 1;
  o.total_steps = 1 << 20;
  o.tls = TlsOptions::Insecure();
  auto client = PsClient::Create(&*placement, {absl::StrCat("127.0.0.1:", (*server)->port())}, o);
  if (!client.ok()) Die(client.status(), "client");
  const int64_t n = placement->tensors()[0].size;
  std::vector<float> grad(n, 1e-3f), params(n);
  std::vector<double> wall;
  double cpu0 = 0;
  for (int step = 0; step < rounds; ++step) {
    if (step == 10) cpu0 = Cpu();
    const absl::Time t0 = absl::Now();
    (*client)->PushPull(0, step, grad.data(), params.data());
    if (absl::Status s = (*client)->Wait(); !s.ok()) Die(s, "round trip");
    if (step >= 10) wall.push_back(absl::ToDoubleSeconds(absl::Now() - t0));
  }
  const double cpu = (Cpu() - cpu0) / static_cast<double>(wall.size());
  std::sort(wall.begin(), wall.end());
  client->reset();
  (*server)->Shutdown(absl::Seconds(1));
  return {static_cast<double>(n * 4), wall[wall.size() / 2], cpu};
}

// samples/s of S servers x W workers (threads of this process over loopback gRPC, plaintext).
double MeasureRun(const JobSpec& job, const Dataset& data, int num_servers, int workers,
                  int64_t steps) {
  JobSpec spec = job;
  spec.cluster.device = DeviceKind::kCpu;
  spec.cluster.servers = num_servers;
  spec.cluster.workers = workers;
  spec.training.max_steps = steps;
  spec.training.log_every = 1 << 30;
  spec.training.eval_every = 0;
  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
  for (int s = 0; s < num_servers; ++s) {
    PsServerOptions options;
    options.tls = TlsOptions::Insecure();
    auto server = PsServer::Start(options);
    if (!server.ok()) Die(server.status(), "server");
    if (auto j = (*server)->jobs().Init(spec.name, 1, spec, s, workers); !j.ok())
      Die(j.status(), "init");
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(*std::move(server));
  }
  std::vector<absl::StatusOr<JobResult>> results(workers, absl::UnknownError("not run"));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      SessionOptions o;
      o.rank = w;
      o.workers = workers;
      o.cpu_threads = 1;
      o.servers = addresses;
      o.client.job_id = spec.name;
      o.client.generation = 1;
      o.client.tls = TlsOptions::Insecure();
      auto session = TrainingSession::Create(spec, data, nullptr, std::move(o));
      if (!session.ok()) return void(results[w] = session.status());
      results[w] = (*session)->trainer().Run(stop, nullptr);
    });
  }
  for (auto& t : threads) t.join();
  double sps = 0;
  for (const auto& r : results) {
    if (!r.ok()) Die(r.status(), "run");
    sps += r->steps() * spec.training.batch_size / r->wall_seconds();
  }
  for (auto& s : servers) s->Shutdown(absl::Seconds(1));
  return sps;
}

// CPU seconds per step of one worker with no parameter server (the local optimizer included).
double LocalStepSeconds(const JobSpec& job, const Dataset& data, int64_t steps) {
  JobSpec spec = job;
  spec.cluster.device = DeviceKind::kCpu;
  spec.cluster.workers = 1;
  spec.training.max_steps = steps;
  spec.training.log_every = 1 << 30;
  spec.training.eval_every = 0;
  SessionOptions o;
  o.cpu_threads = 1;
  auto session = TrainingSession::Create(spec, data, nullptr, std::move(o));
  if (!session.ok()) Die(session.status(), "local session");
  std::atomic<bool> stop{false};
  const double cpu0 = Cpu();
  auto r = (*session)->trainer().Run(stop, nullptr);
  if (!r.ok()) Die(r.status(), "local run");
  // CPU time, not wall: what other work on the machine takes does not count (one BLAS
  // thread: the step runs on one core).
  return std::min(r->wall_seconds(), Cpu() - cpu0) / static_cast<double>(r->steps());
}

int Main() {
  auto spec = LoadJobSpecFile(absl::GetFlag(FLAGS_job));
  if (!spec.ok()) Die(spec.status(), "job");
  auto data = LoadIdxDataset(spec->data.train_images, spec->data.train_labels);
  if (!data.ok()) Die(data.status(), "data");
  sim::Calibration c;
  c.machine_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  c.batch = spec->training.batch_size;
  c.layers = spec->model.LayerSizes();
  c.chunk_bytes = spec->cluster.chunk_bytes;

  // Server apply: per byte, one worker and four; the fixed part from a 16-float chunk.
  const int64_t elems = 1 << 18;  // 1 MiB
  // Each figure is the least of three tries (CPU time: the machine's other work shows only
  // through caches).
  auto least = [](auto f) { return std::min({f(), f(), f()}); };
  const double a1 = least([&] { return ApplySeconds(*spec, elems, 1, 200); });
  const double a4 = least([&] { return ApplySeconds(*spec, elems, 4, 100); });
  const double tiny = least([&] { return ApplySeconds(*spec, 16, 1, 2000); });
  const double bytes = static_cast<double>(elems * 4);
  c.apply_accumulate_per_byte = std::max(0.0, (a4 - a1) / 3 / bytes);
  c.apply_update_per_byte = std::max(0.0, a1 / bytes - c.apply_accumulate_per_byte);
  c.apply_fixed = tiny;
  std::printf("apply (1 MiB chunk): 1 worker %.1f us, 4 workers %.1f us; 16 floats %.2f us\n",
              a1 * 1e6, a4 * 1e6, tiny * 1e6);

  // gRPC round trips.
  std::vector<double> x, wall, cpu;
  std::printf("%10s %12s %12s %12s\n", "bytes", "median us", "cpu us", "apply us");
  for (absl::string_view kib_text : absl::StrSplit(absl::GetFlag(FLAGS_sizes_kib), ',')) {
    int64_t kib = 0;
    if (!absl::SimpleAtoi(kib_text, &kib) || kib < 1) {
      std::fprintf(stderr, "psd_calibrate: --sizes_kib: bad size '%s'\n",
                   std::string(kib_text).c_str());
      return 2;
    }
    // Small sizes get more round trips, for a CPU figure well above the clock's grain.
    const int trips = std::max(20, absl::GetFlag(FLAGS_round_trips)) *
                      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(16, 1024 / kib)));
    RoundTrip r = PushPullRoundTrip(*spec, kib * 1024, trips);
    if (RoundTrip again = PushPullRoundTrip(*spec, kib * 1024, trips); again.wall < r.wall)
      r = again;
    const double apply =
        c.apply_fixed + (c.apply_accumulate_per_byte + c.apply_update_per_byte) * r.bytes;
    std::printf("%10.0f %12.0f %12.0f %12.1f\n", r.bytes, r.wall * 1e6, r.cpu * 1e6, apply * 1e6);
    x.push_back(r.bytes);
    wall.push_back(std::max(0.0, r.wall - apply));
    cpu.push_back(std::max(0.0, r.cpu - apply));
  }
  double wa, wb, ca, cb;
  Fit(x, wall, &wa, &wb);
  Fit(x, cpu, &ca, &cb);
  // A round trip is two messages of n bytes (push, reply). The simulator runs a message's CPU
  // half on each end at once (the CPU of a round trip here exceeds its wall time: gRPC's
  // threads on both ends overlap), then waits rpc_latency plus n / loopback bandwidth.
  c.rpc_cpu_fixed = std::max(0.0, ca / 2);
  c.rpc_cpu_per_byte = std::max(0.0, cb / 2);
  c.rpc_latency = std::max(0.0, wa / 2 - ca / 4);
  const double residual = wb / 2 - cb / 4;
  c.loopback_bytes_per_second = residual > 1e-13 ? 1 / residual : 0;
  std::printf("per message: CPU %.1f us + %.3f ns/B, wait %.1f us, loopback residual %s\n",
              c.rpc_cpu_fixed * 1e6, c.rpc_cpu_per_byte * 1e9, c.rpc_latency * 1e6,
              c.loopback_bytes_per_second > 0
                  ? absl::StrCat(c.loopback_bytes_per_second / 1e9, " GB/s").c_str()
                  : "none");

  // Worker compute.
  const int64_t steps = absl::GetFlag(FLAGS_steps);
  const double local = least([&] { return LocalStepSeconds(*spec, *data, steps); });
  int64_t params = 0;
  for (const TensorInfo& t : ModelTensors(spec->model)) params += t.size;
  const double local_apply =
      (c.apply_accumulate_per_byte + c.apply_update_per_byte) * 4.0 * static_cast<double>(params);
  c.compute_seconds = std::max(1e-6, local - local_apply);
  double flops = 0;
  for (size_t l = 0; l + 1 < c.layers.size(); ++l)
    flops += (l > 0 ? 6.0 : 4.0) * c.layers[l] * c.layers[l + 1] * c.batch;
  c.compute_flops_per_second = flops / c.compute_seconds;
  std::printf(
      "compute: %.3f ms per step (no parameter server %.3f ms, local optimizer %.3f ms), "
      "%.2f GFLOP/s\n",
      c.compute_seconds * 1e3, local * 1e3, local_apply * 1e3, c.compute_flops_per_second / 1e9);

  // Real runs, round-robin over the configurations (no configuration always runs first or
  // after the same neighbour); each keeps its best round, as the figures above keep their
  // least time: other work on the machine only ever slows a run down. The spread says how
  // much the rounds differed.
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  std::vector<sim::MeasuredRun> runs;
  for (absl::string_view run : absl::StrSplit(absl::GetFlag(FLAGS_runs), ',', absl::SkipEmpty())) {
    std::vector<std::string> sw = absl::StrSplit(run, 'x');
    sim::MeasuredRun m;
    if (sw.size() != 2 || !absl::SimpleAtoi(sw[0], &m.servers) ||
        !absl::SimpleAtoi(sw[1], &m.workers) || m.servers < 1 || m.workers < 1) {
      std::fprintf(stderr, "psd_calibrate: --runs: bad 'SxW' '%s'\n", std::string(run).c_str());
      return 2;
    }
    runs.push_back(m);
  }
  std::vector<std::vector<double>> seen(runs.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < runs.size(); ++k) {
      const size_t i = r % 2 == 0 ? k : runs.size() - 1 - k;
      seen[i].push_back(MeasureRun(*spec, *data, runs[i].servers, runs[i].workers, steps));
    }
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    sim::MeasuredRun& m = runs[i];
    const double best = *std::max_element(seen[i].begin(), seen[i].end());
    m.samples_per_sec = best;
    m.spread = (best - *std::min_element(seen[i].begin(), seen[i].end())) / best;
    c.measured.push_back(m);
    std::printf("run %d servers x %d workers: best %.0f samples/s, rounds", m.servers, m.workers,
                best);
    for (double v : seen[i]) std::printf(" %.0f", v);
    std::printf("\n");
  }
  const std::string comment =
      absl::StrCat("psd calibration (bench/scale/calibrate.sh) of ", absl::FormatTime(absl::Now()),
                   ", job ", absl::GetFlag(FLAGS_job), ", ", c.machine_cores, " cores, ", steps,
                   " steps per run, ", rounds, " rounds");
  std::ofstream out(absl::GetFlag(FLAGS_out));
  out << sim::FormatCalibration(c, comment);
  if (!out) {
    std::fprintf(stderr, "psd_calibrate: cannot write %s\n", absl::GetFlag(FLAGS_out).c_str());
    return 1;
  }
  std::printf("wrote %s\n", absl::GetFlag(FLAGS_out).c_str());
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
