// bench/load: a local cluster (deploy/local/cluster.sh: the coordinator, 1 server, 1 worker,
// mutual TLS as users run it) trains a job alone, then the same job again while --clients
// threads, each with its own gRPC channel and certificate from the cluster's run dir, call the
// coordinator (half of them) and the server (the other half) for --seconds. Each client makes
// one kind of call, one at a time, as fast as it can (or every --interval_ms): reads a viewer
// may make, and calls that must be refused with a given code (wrong role, wrong rank, invalid
// spec, malformed bytes). Printed: per kind of call the calls, calls/s, unexpected results
// (any code other than the expected one: the "errors"), p50 and p99 latency; the job's wall
// time and steps/s alone and under load, and the slowdown; the RSS of the server and the
// coordinator before the load, at its peak and after it, and whether it came back to within
// --rss_tolerance_mb or --rss_tolerance_pct of before. Figures only, no assertions; the exit
// status is 0 when the cluster came up and both jobs ran to an end.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/machine.h"
#include "bench/process_stats.h"
#include "bench/runfiles.h"
#include "common/process_init.h"
#include "common/tls_options.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/parameter_server.grpc.pb.h"
#include "tests/idx_writer.h"
#include "tests/local_cluster.h"
#include "tests/process.h"

ABSL_FLAG(int, seconds, 60, "How long the clients call the cluster, while the second job trains.");
ABSL_FLAG(int, clients, 64,
          "Concurrent clients, each with its own gRPC channel: half on the coordinator, half on "
          "the server.");
ABSL_FLAG(int, interval_ms, 0, "Pause of each client between its calls (0: back to back).");
ABSL_FLAG(int, call_timeout_ms, 5000, "Deadline of each call (a call past it is an error).");
ABSL_FLAG(int64_t, steps, 0,
          "training.max_steps of the job (0: calibrated by a short job so that the job alone "
          "takes about --job_seconds).");
ABSL_FLAG(int, job_seconds, 0,
          "Target wall time of the job alone when --steps is 0 (0: max(1.3 x --seconds, "
          "--seconds + 15), so that the load falls inside the job).");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Fashion-MNIST IDX files (train-images-idx3-ubyte.gz...); when missing, a synthetic "
          "data set of the same shape is written instead.");
ABSL_FLAG(int, settle_seconds, 5, "Wait before the RSS after (and before) is read.");
ABSL_FLAG(double, rss_tolerance_mb, 20, "After is back at baseline if within this many MB ...");
ABSL_FLAG(double, rss_tolerance_pct, 10, "... or within this percentage of before.");

namespace psd {
namespace {

using psd::bench::RssMb;
using psd::testing::CommandResult;
using psd::testing::LocalCluster;

// ---------------------------------------------------------------------------------------------
// Runfiles, data, the job.

struct DataSet {
  std::string train_images, train_labels, test_images, test_labels;
  std::string what;
};

// Fashion-MNIST when it is there, else a synthetic set of the same shape (each class a band of
// bright rows plus noise) written with the tests' IDX writer.
DataSet FindOrMakeData(const std::string& dir, const std::string& scratch) {
  DataSet d{dir + "/train-images-idx3-ubyte.gz", dir + "/train-labels-idx1-ubyte.gz",
            dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", ""};
  std::error_code ec;
  if (std::filesystem::is_regular_file(d.train_images, ec) &&
      std::filesystem::is_regular_file(d.train_labels, ec) &&
      std::filesystem::is_regular_file(d.test_images, ec) &&
      std::filesystem::is_regular_file(d.test_labels, ec)) {
    d.what = "Fashion-MNIST (" + dir + ")";
    return d;
  }
  std::mt19937 rng(7);
  auto make = [&](const std::string& images, const std::string& labels, uint32_t n) {
    std::vector<uint8_t> pixels(static_cast<size_t>(n) * 784), classes(n);
    for (uint32_t i = 0; i < n; ++i) {
      const int c = static_cast<int>(rng() % 10);
      classes[i] = static_cast<uint8_t>(c);
      for (int p = 0; p < 784; ++p) {
        const int row = p / 28;
        const int base = (row / 3 == c) ? 180 : 30;
        pixels[static_cast<size_t>(i) * 784 + p] = static_cast<uint8_t>(base + rng() % 60);
      }
    }
    psd::testing::WriteGzip(images, psd::testing::IdxBytes({n, 28, 28}, pixels));
    psd::testing::WriteGzip(labels, psd::testing::IdxBytes({n}, classes));
  };
  d.train_images = scratch + "/train-images-idx3-ubyte.gz";
  d.train_labels = scratch + "/train-labels-idx1-ubyte.gz";
  d.test_images = scratch + "/t10k-images-idx3-ubyte.gz";
  d.test_labels = scratch + "/t10k-labels-idx1-ubyte.gz";
  make(d.train_images, d.train_labels, 20000);
  make(d.test_images, d.test_labels, 2000);
  d.what = absl::StrCat("synthetic, 20000 + 2000 images (", dir, " not found)");
  return d;
}

constexpr char kHidden[] = "[128, 64]";
constexpr int kBatch = 64;

std::string JobYaml(const std::string& name, const DataSet& d, int64_t max_steps) {
  return absl::StrCat(
      "name: ", name, "\nseed: 7\n", "model: {type: mlp, input_dim: 784, hidden: ", kHidden,
      ", num_classes: 10}\n", "data:\n  train_images: ", d.train_images,
      "\n  train_labels: ", d.train_labels, "\n  test_images: ", d.test_images,
      "\n  test_labels: ", d.test_labels, "\n", "training:\n  batch_size: ", kBatch,
      "\n  epochs: 1000\n  max_steps: ", max_steps, "\n  log_every: 10\n  consistency: sync\n",
      "  optimizer: {type: sgd, learning_rate: 0.05}\n",
      "cluster: {servers: 1, workers: 1, device: cpu, chunk_bytes: 16KiB}\n");
}

// ---------------------------------------------------------------------------------------------
// RSS.

// The pid in RUN_DIR/pids/NAME.pid (cluster.sh writes it), or -1.
pid_t PidOf(const LocalCluster& cluster, const std::string& name) {
  int pid = -1;
  const std::string text(absl::StripAsciiWhitespace(
      psd::testing::ReadFile(cluster.run_dir() + "/pids/" + name + ".pid")));
  if (!absl::SimpleAtoi(text, &pid)) return -1;
  return pid;
}

struct Daemon {
  std::string name;
  pid_t pid = -1;
  double start = -1, peak_alone = -1, before = -1, peak = -1, after = -1;
};

// ---------------------------------------------------------------------------------------------
// Calls.

struct Identity {
  TlsOptions tls;
  std::string name;
};

absl::StatusOr<Identity> LoadIdentity(const LocalCluster& cluster, const std::string& name,
                                      PeerRole role) {
  const std::string certs = cluster.run_dir() + "/certs/";
  auto tls = LoadTls(certs + "ca-bundle.crt", certs + name + ".crt", certs + name + ".key", role);
  if (!tls.ok()) return tls.status();
  return Identity{*std::move(tls), name};
}

// One kind of call: which daemon, which method, as whom, what bytes, and the one status code
// it must get.
struct CallKind {
  std::string label;
  bool on_server = false;  // the parameter server (else the coordinator)
  std::string method;      // "/psd.Coordinator/GetJob"
  const Identity* as = nullptr;
  std::string request;  // serialized request (or deliberately malformed bytes)
  grpc::StatusCode expect = grpc::StatusCode::OK;
};

struct KindStats {
  int64_t calls = 0, expected = 0, unexpected = 0;
  std::map<grpc::StatusCode, int64_t> unexpected_codes;
  std::string first_unexpected;
  std::vector<float> latency_ms;
  int clients = 0;
};

const char* CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "?";
  }
}

// A channel of its own (its own TCP connection and TLS session) to a daemon of `role`.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OwnChannel(const std::string& address, PeerRole role,
                                                          const TlsOptions& tls) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return MakeChannel(address, role, tls, args);
}

// One unary call through the generic API, blocking.
grpc::Status Call(grpc::GenericStub& stub, const std::string& method, const std::string& request,
                  absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  absl::Notification done;
  grpc::Status result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
    result = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

// The client loop: `kind` until `stop`, one call at a time.
void RunClient(const CallKind& kind, const std::string& address, const std::atomic<bool>& stop,
               KindStats* out) {
  auto channel = OwnChannel(address, kind.on_server ? PeerRole::kServer : PeerRole::kCoordinator,
                            kind.as->tls);
  if (!channel.ok()) {
    out->unexpected++;
    out->first_unexpected = std::string(channel.status().message());
    return;
  }
  grpc::GenericStub stub(*channel);
  const absl::Duration timeout = absl::Milliseconds(absl::GetFlag(FLAGS_call_timeout_ms));
  const absl::Duration pause = absl::Milliseconds(absl::GetFlag(FLAGS_interval_ms));
  out->latency_ms.reserve(1 << 16);
  while (!stop.load(std::memory_order_relaxed)) {
    const absl::Time t0 = absl::Now();
    const grpc::Status s = Call(stub, kind.method, kind.request, timeout);
    out->latency_ms.push_back(static_cast<float>(absl::ToDoubleMilliseconds(absl::Now() - t0)));
    out->calls++;
    if (s.error_code() == kind.expect) {
      out->expected++;
    } else {
      out->unexpected++;
      out->unexpected_codes[s.error_code()]++;
      if (out->first_unexpected.empty()) {
        out->first_unexpected = absl::StrCat(CodeName(s.error_code()), ": ", s.error_message());
      }
    }
    if (pause > absl::ZeroDuration()) absl::SleepFor(pause);
  }
}

// ---------------------------------------------------------------------------------------------
// Jobs.

struct JobSample {
  absl::Time at;
  int64_t step = 0;
};

struct JobRun {
  std::string id;
  JobInfo final_info;
  std::string verdict;           // psdctl wait's last line
  std::vector<JobSample> steps;  // (time, steps completed), about once a second
  double wall_s = 0;             // started_ms to ended_ms
  bool ok = false;
};

bool Terminal(JobState s) { return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED; }

// The refusals each daemon counted, by method ("psd.Coordinator/SubmitJob"), read as a viewer.
std::map<std::string, int64_t> Denials(const std::shared_ptr<grpc::Channel>& coordinator,
                                       const std::shared_ptr<grpc::Channel>& server) {
  std::map<std::string, int64_t> out;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ListNodesResponse r;
    if (Coordinator::NewStub(coordinator)->ListNodes(&ctx, ListNodesRequest(), &r).ok()) {
      for (const auto& [method, n] : r.denied_calls()) out[method] = n;
    }
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ServerStats r;
    if (ParameterServer::NewStub(server)->GetStats(&ctx, GetStatsRequest(), &r).ok()) {
      for (const auto& [method, n] : r.denied_calls()) out[method] = n;
    }
  }
  return out;
}

absl::StatusOr<JobInfo> GetJob(Coordinator::Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  GetJobRequest req;
  req.set_job_id(id);
  JobInfo info;
  const grpc::Status s = stub.GetJob(&ctx, req, &info);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return info;
}

absl::StatusOr<std::string> Submit(const LocalCluster& cluster, const std::string& file) {
  const CommandResult r = cluster.Psdctl({"submit", file});
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("psdctl submit failed: ", r.out, r.err));
  }
  // psdctl prints the new job's id ("job <id> submitted" in older versions).
  std::string line = psd::testing::LastLine(r.out);
  if (absl::StartsWith(line, "job ")) line = line.substr(4);
  line = std::string(absl::StripSuffix(line, " submitted"));
  if (line.empty() || line.find(' ') != std::string::npos) {
    return absl::InternalError(absl::StrCat("psdctl submit said: ", r.out));
  }
  return line;
}

// Waits (GetJob about once a second, `on_tick` each time) until the job ends.
absl::Status Follow(Coordinator::Stub& admin, const LocalCluster& cluster, JobRun* run,
                    absl::Duration timeout, const std::function<void(const JobInfo&)>& on_tick) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    auto info = GetJob(admin, run->id);
    if (info.ok()) {
      if (info->state() == JOB_RUNNING && info->progress().step() > 0) {
        run->steps.push_back({absl::Now(), info->progress().step()});
      }
      if (on_tick) on_tick(*info);
      if (Terminal(info->state())) {
        run->final_info = *info;
        break;
      }
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("job ", run->id, " did not end in time"));
    }
    absl::SleepFor(absl::Seconds(1));
  }
  const JobInfo& j = run->final_info;
  run->ok = j.state() == JOB_SUCCEEDED;
  if (j.started_ms() > 0 && j.ended_ms() > j.started_ms()) {
    run->wall_s = (j.ended_ms() - j.started_ms()) / 1000.0;
  } else {
    run->wall_s = j.result().wall_seconds();
  }
  const CommandResult w = cluster.Psdctl({"wait", run->id}, absl::Seconds(60));
  run->verdict = psd::testing::LastLine(w.out + w.err);
  return absl::OkStatus();
}

// Steps per second within [from, to]: from the first sample there to the first that shows the
// last step seen there (a plateau at the end, the final evaluation, is not training).
double StepRate(const std::vector<JobSample>& samples, absl::Time from, absl::Time to) {
  const JobSample* a = nullptr;
  const JobSample* b = nullptr;
  for (const JobSample& s : samples) {
    if (s.at < from || s.at > to) continue;
    if (a == nullptr) a = &s;
    if (b == nullptr || s.step > b->step) b = &s;
  }
  if (a == nullptr || b == a || b->at <= a->at) return -1;
  return (b->step - a->step) / absl::ToDoubleSeconds(b->at - a->at);
}

// Percentile of sorted values.
double Percentile(const std::vector<float>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(q * sorted.size())) - 1;
  i = std::min(i, sorted.size() - 1);
  return sorted[i];
}

// ---------------------------------------------------------------------------------------------

int Main() {
  const int seconds = std::max(1, absl::GetFlag(FLAGS_seconds));
  const int clients = std::max(2, absl::GetFlag(FLAGS_clients));
  const absl::Duration settle = absl::Seconds(std::max(0, absl::GetFlag(FLAGS_settle_seconds)));
  if (absl::Status s = psd::bench::EnterRunfiles("//bench/load"); !s.ok()) {
    std::fprintf(stderr, "bench/load: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf(
      "bench/load: %d clients (%d on the coordinator, %d on the server) for %d s while a job "
      "trains; %s\n",
      clients, clients / 2, clients - clients / 2, seconds, bench::MachineLine().c_str());
  std::fflush(stdout);

  auto started = LocalCluster::Start(1, 1);
  if (!started.ok()) {
    std::fprintf(stderr, "bench/load: %s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<LocalCluster> cluster = *std::move(started);
  std::printf("cluster: coordinator %s, 1 server, 1 worker, mutual TLS (run dir %s)\n",
              cluster->coordinator().c_str(), cluster->run_dir().c_str());
  const std::string server_address = absl::StrCat(
      "127.0.0.1:",
      absl::StripAsciiWhitespace(psd::testing::ReadFile(cluster->run_dir() + "/ports/server-0")));

  std::vector<Daemon> daemons = {{"server-0"}, {"coordinator"}, {"worker-0"}};
  for (Daemon& d : daemons) {
    d.pid = PidOf(*cluster, d.name);
    d.start = RssMb(d.pid);
  }

  absl::StatusOr<Identity> viewer = LoadIdentity(*cluster, "viewer", PeerRole::kViewer);
  absl::StatusOr<Identity> admin = LoadIdentity(*cluster, "admin", PeerRole::kAdmin);
  absl::StatusOr<Identity> worker = LoadIdentity(*cluster, "worker-0", PeerRole::kWorker);
  for (const auto* id : {&viewer, &admin, &worker}) {
    if (!id->ok()) {
      std::fprintf(stderr, "bench/load: %s\n", std::string(id->status().message()).c_str());
      return 1;
    }
  }
  auto admin_channel = OwnChannel(cluster->coordinator(), PeerRole::kCoordinator, admin->tls);
  if (!admin_channel.ok()) {
    std::fprintf(stderr, "bench/load: %s\n", std::string(admin_channel.status().message()).c_str());
    return 1;
  }
  auto admin_stub = Coordinator::NewStub(*admin_channel);

  const DataSet data =
      FindOrMakeData(absl::GetFlag(FLAGS_data_dir), psd::testing::MakeTempDir("load-data"));
  std::printf("data: %s; job: MLP 784-%s-10, batch %d, sync, 1 server, 1 worker, CPU\n",
              data.what.c_str(), kHidden, kBatch);
  std::fflush(stdout);

  auto run_job = [&](const std::string& name, int64_t steps, JobRun* run,
                     const std::function<void(const JobInfo&)>& on_tick) -> absl::Status {
    const std::string file = cluster->WriteJobFile(name, JobYaml(name, data, steps));
    auto id = Submit(*cluster, file);
    if (!id.ok()) return id.status();
    run->id = *id;
    return Follow(*admin_stub, *cluster, run, absl::Minutes(20), on_tick);
  };

  // The number of steps: a short job measures the speed.
  int64_t steps = absl::GetFlag(FLAGS_steps);
  if (steps <= 0) {
    const int target = absl::GetFlag(FLAGS_job_seconds) > 0
                           ? absl::GetFlag(FLAGS_job_seconds)
                           : std::max(static_cast<int>(std::lround(1.3 * seconds)), seconds + 15);
    JobRun calib;
    constexpr int64_t kCalibrationSteps = 500;
    if (absl::Status s = run_job("load-calibrate", kCalibrationSteps, &calib, nullptr); !s.ok()) {
      std::fprintf(stderr, "bench/load: calibration job: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    if (!calib.ok || calib.wall_s <= 0) {
      std::fprintf(stderr, "bench/load: calibration job did not succeed: %s\n",
                   calib.verdict.c_str());
      return 1;
    }
    // The training rate (the job's start-up and final evaluation are paid once per job).
    double rate = StepRate(calib.steps, absl::InfinitePast(), absl::InfiniteFuture());
    if (rate <= 0) rate = kCalibrationSteps / calib.wall_s;
    steps = std::max<int64_t>(100, static_cast<int64_t>(std::llround(rate * target)));
    std::printf(
        "calibration: %lld steps in %.1f s (%.1f steps/s training) -> %lld steps for about %d s "
        "alone\n",
        static_cast<long long>(kCalibrationSteps), calib.wall_s, rate,
        static_cast<long long>(steps), target);
  }
  std::printf("job: max_steps %lld\n", static_cast<long long>(steps));
  std::fflush(stdout);

  // 1. The job alone.
  JobRun alone;
  auto sample_alone = [&](const JobInfo&) {
    for (Daemon& d : daemons) d.peak_alone = std::max(d.peak_alone, RssMb(d.pid));
  };
  if (absl::Status s = run_job("load-alone", steps, &alone, sample_alone); !s.ok()) {
    std::fprintf(stderr, "bench/load: job alone: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("job alone: %s\n", alone.verdict.c_str());
  std::fflush(stdout);
  absl::SleepFor(settle);
  for (Daemon& d : daemons) d.before = RssMb(d.pid);

  // 2. The same job under load.
  const std::string loaded_file =
      cluster->WriteJobFile("load-loaded", JobYaml("load-loaded", data, steps));
  JobRun loaded;
  auto loaded_id = Submit(*cluster, loaded_file);
  if (!loaded_id.ok()) {
    std::fprintf(stderr, "bench/load: %s\n", std::string(loaded_id.status().message()).c_str());
    return 1;
  }
  loaded.id = *loaded_id;
  // Wait until it trains (the server serves it, the worker has made a step).
  JobInfo info;
  const absl::Time wait_until = absl::Now() + absl::Minutes(3);
  while (true) {
    auto got = GetJob(*admin_stub, loaded.id);
    if (got.ok()) {
      info = *got;
      if (Terminal(info.state()) || (info.state() == JOB_RUNNING && info.progress().step() > 0))
        break;
    }
    if (absl::Now() > wait_until) {
      std::fprintf(stderr, "bench/load: job %s did not start training in 3 minutes\n",
                   loaded.id.c_str());
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  if (Terminal(info.state())) {
    std::fprintf(stderr, "bench/load: job %s ended before the load started: %s\n",
                 loaded.id.c_str(), info.reason().c_str());
    return 1;
  }

  // The kinds of calls. Every request is built once; the job's id and generation are known.
  const std::string job_id = loaded.id;
  const int64_t generation = info.generation();
  const std::string invalid_spec = "name: load-invalid\nmodel: {type: no-such-model}\n";
  std::vector<CallKind> coordinator_kinds, server_kinds;
  {
    GetJobRequest get;
    get.set_job_id(job_id);
    GetJobRequest unknown;
    unknown.set_job_id("no-such-job-1");
    SubmitJobRequest bad;
    bad.set_spec_yaml(invalid_spec);
    bad.set_source_name("load-invalid.yaml");
    CancelJobRequest cancel;
    cancel.set_job_id(job_id);
    TaskReport task;
    task.set_job_id(job_id);
    task.set_node_id("forged");
    task.set_role(ROLE_WORKER);
    task.set_kind(TaskReport::KIND_FAILED);
    task.set_message("forged by bench/load");
    coordinator_kinds = {
        {"GetJob (viewer)", false, "/psd.Coordinator/GetJob", &*viewer, get.SerializeAsString(),
         grpc::StatusCode::OK},
        {"ListJobs (viewer)", false, "/psd.Coordinator/ListJobs", &*viewer,
         ListJobsRequest().SerializeAsString(), grpc::StatusCode::OK},
        {"ListNodes (viewer)", false, "/psd.Coordinator/ListNodes", &*viewer,
         ListNodesRequest().SerializeAsString(), grpc::StatusCode::OK},
        {"GetJob unknown id (viewer)", false, "/psd.Coordinator/GetJob", &*viewer,
         unknown.SerializeAsString(), grpc::StatusCode::NOT_FOUND},
        {"SubmitJob invalid spec (admin)", false, "/psd.Coordinator/SubmitJob", &*admin,
         bad.SerializeAsString(), grpc::StatusCode::INVALID_ARGUMENT},
        {"SubmitJob (viewer)", false, "/psd.Coordinator/SubmitJob", &*viewer,
         bad.SerializeAsString(), grpc::StatusCode::PERMISSION_DENIED},
        {"CancelJob of the job (viewer)", false, "/psd.Coordinator/CancelJob", &*viewer,
         cancel.SerializeAsString(), grpc::StatusCode::PERMISSION_DENIED},
        {"ReportTask (admin)", false, "/psd.Coordinator/ReportTask", &*admin,
         task.SerializeAsString(), grpc::StatusCode::PERMISSION_DENIED},
    };

    GetStatsRequest own;
    GetStatsRequest of_job;
    of_job.set_job_id(job_id);
    of_job.set_generation(generation);
    PushRequest push;
    push.set_job_id(job_id);
    push.set_generation(generation);
    push.set_worker(0);
    push.set_step(1);
    Chunk* chunk = push.add_chunks();
    chunk->set_key(0);
    chunk->set_dtype(DTYPE_F32);
    chunk->set_data(std::string(64, '\0'));
    InitJobRequest init;
    init.set_job_id(job_id);
    init.set_generation(generation + 1);
    init.set_spec_yaml(invalid_spec);
    PullRequest wrong_rank;
    wrong_rank.set_job_id(job_id);
    wrong_rank.set_generation(generation);
    wrong_rank.set_worker(1);  // the job has one worker: rank 0, worker-0's
    wrong_rank.set_step(1);
    wrong_rank.add_keys(0);
    PullRequest generation0 = wrong_rank;
    generation0.set_worker(0);
    generation0.set_generation(0);
    EndJobRequest end;
    end.set_job_id(job_id);
    end.set_generation(generation);
    // A length-delimited field that runs past the end of the message.
    const char kMalformed[] = "\x0a\xff\xff\x03garbage";
    const std::string malformed(kMalformed, sizeof(kMalformed) - 1);
    server_kinds = {
        {"GetStats (viewer)", true, "/psd.ParameterServer/GetStats", &*viewer,
         own.SerializeAsString(), grpc::StatusCode::OK},
        {"GetStats of the job (viewer)", true, "/psd.ParameterServer/GetStats", &*viewer,
         of_job.SerializeAsString(), grpc::StatusCode::OK},
        {"Push (viewer)", true, "/psd.ParameterServer/Push", &*viewer, push.SerializeAsString(),
         grpc::StatusCode::PERMISSION_DENIED},
        {"InitJob (admin)", true, "/psd.ParameterServer/InitJob", &*admin, init.SerializeAsString(),
         grpc::StatusCode::PERMISSION_DENIED},
        {"Pull as rank 1 (worker-0)", true, "/psd.ParameterServer/Pull", &*worker,
         wrong_rank.SerializeAsString(), grpc::StatusCode::PERMISSION_DENIED},
        {"EndJob (worker-0)", true, "/psd.ParameterServer/EndJob", &*worker,
         end.SerializeAsString(), grpc::StatusCode::PERMISSION_DENIED},
        {"Push malformed bytes (worker-0)", true, "/psd.ParameterServer/Push", &*worker, malformed,
         grpc::StatusCode::INVALID_ARGUMENT},
        {"Pull generation 0 (worker-0)", true, "/psd.ParameterServer/Pull", &*worker,
         generation0.SerializeAsString(), grpc::StatusCode::INVALID_ARGUMENT},
    };
  }

  // Clients: the first half on the coordinator, the rest on the server, kinds round robin.
  struct Client {
    const CallKind* kind;
    std::string address;
    KindStats stats;
  };
  std::vector<Client> client_list(clients);
  for (int c = 0; c < clients; ++c) {
    const bool on_server = c >= clients / 2;
    const int i = on_server ? c - clients / 2 : c;
    const std::vector<CallKind>& kinds = on_server ? server_kinds : coordinator_kinds;
    client_list[c].kind = &kinds[i % kinds.size()];
    client_list[c].address = on_server ? server_address : cluster->coordinator();
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.reserve(clients);
  auto viewer_coordinator = OwnChannel(cluster->coordinator(), PeerRole::kCoordinator, viewer->tls);
  auto viewer_server = OwnChannel(server_address, PeerRole::kServer, viewer->tls);
  if (!viewer_coordinator.ok() || !viewer_server.ok()) {
    std::fprintf(stderr, "bench/load: no viewer channel\n");
    return 1;
  }
  const std::map<std::string, int64_t> denied_before = Denials(*viewer_coordinator, *viewer_server);
  const absl::Time load_start = absl::Now();
  for (Client& c : client_list) {
    threads.emplace_back(RunClient, std::cref(*c.kind), std::cref(c.address), std::cref(stop),
                         &c.stats);
  }
  std::printf("load: %d clients started at step %lld of job %s\n", clients,
              static_cast<long long>(info.progress().step()), job_id.c_str());
  std::fflush(stdout);

  // The follower samples the job and the RSS once a second; the load stops after --seconds (or
  // when the job ends first).
  absl::Time load_end = absl::InfinitePast();
  bool ended_early = false;
  auto on_tick = [&](const JobInfo& j) {
    const absl::Time now = absl::Now();
    if (!stop.load()) {
      for (size_t d = 0; d < daemons.size(); ++d) {
        daemons[d].peak = std::max(daemons[d].peak, RssMb(daemons[d].pid));
      }
    }
    if (!stop.load() && (Terminal(j.state()) || now - load_start >= absl::Seconds(seconds))) {
      ended_early = Terminal(j.state()) && now - load_start < absl::Seconds(seconds);
      stop.store(true);
      load_end = now;
    }
  };
  absl::Status followed = Follow(*admin_stub, *cluster, &loaded, absl::Minutes(30), on_tick);
  if (!stop.load()) {
    stop.store(true);
    load_end = absl::Now();
  }
  for (std::thread& t : threads) t.join();
  if (!followed.ok()) {
    std::fprintf(stderr, "bench/load: job under load: %s\n",
                 std::string(followed.message()).c_str());
  }
  absl::SleepFor(settle);
  for (Daemon& d : daemons) d.after = RssMb(d.pid);
  const double load_s = absl::ToDoubleSeconds(load_end - load_start);

  // Per kind.
  std::vector<std::string> order;
  std::map<std::string, KindStats> by_kind;
  for (const std::vector<CallKind>* kinds : {&coordinator_kinds, &server_kinds}) {
    for (const CallKind& k : *kinds) {
      const std::string key = absl::StrCat(k.on_server ? "server " : "coord  ", k.label);
      order.push_back(key);
      by_kind[key];
    }
  }
  for (const Client& c : client_list) {
    const std::string key = absl::StrCat(c.kind->on_server ? "server " : "coord  ", c.kind->label);
    KindStats& k = by_kind[key];
    k.clients++;
    k.calls += c.stats.calls;
    k.expected += c.stats.expected;
    k.unexpected += c.stats.unexpected;
    for (const auto& [code, n] : c.stats.unexpected_codes) k.unexpected_codes[code] += n;
    if (k.first_unexpected.empty()) k.first_unexpected = c.stats.first_unexpected;
    k.latency_ms.insert(k.latency_ms.end(), c.stats.latency_ms.begin(), c.stats.latency_ms.end());
  }

  std::printf("\nload: %.1f s%s\n", load_s,
              ended_early ? " (stopped early: the job ended first; raise --steps)" : "");
  std::printf("%-40s %7s %8s %8s %-19s %6s %8s %8s\n", "call (as whom)", "clients", "calls",
              "calls/s", "expected", "errors", "p50 ms", "p99 ms");
  int64_t total_calls = 0, total_errors = 0;
  std::vector<float> all;
  for (const std::string& key : order) {
    KindStats& k = by_kind[key];
    std::sort(k.latency_ms.begin(), k.latency_ms.end());
    const CallKind* kind = nullptr;
    for (const Client& c : client_list) {
      if (absl::StrCat(c.kind->on_server ? "server " : "coord  ", c.kind->label) == key) {
        kind = c.kind;
      }
    }
    std::string expect = "-";
    if (kind != nullptr) expect = CodeName(kind->expect);
    if (k.clients == 0) {
      std::printf("%-40s %7d %8s (no client: raise --clients)\n", key.c_str(), 0, "-");
      continue;
    }
    std::printf("%-40s %7d %8lld %8.1f %-19s %6lld %8.2f %8.2f\n", key.c_str(), k.clients,
                static_cast<long long>(k.calls), k.calls / load_s, expect.c_str(),
                static_cast<long long>(k.unexpected), Percentile(k.latency_ms, 0.50),
                Percentile(k.latency_ms, 0.99));
    total_calls += k.calls;
    total_errors += k.unexpected;
    all.insert(all.end(), k.latency_ms.begin(), k.latency_ms.end());
  }
  std::sort(all.begin(), all.end());
  std::printf("%-40s %7d %8lld %8.1f %-19s %6lld %8.2f %8.2f\n", "all", clients,
              static_cast<long long>(total_calls), total_calls / load_s, "",
              static_cast<long long>(total_errors), Percentile(all, 0.50), Percentile(all, 0.99));
  for (const std::string& key : order) {
    const KindStats& k = by_kind[key];
    if (k.unexpected == 0) continue;
    std::string codes;
    for (const auto& [code, n] : k.unexpected_codes) {
      absl::StrAppend(&codes, codes.empty() ? "" : ", ", CodeName(code), " x", n);
    }
    std::printf("  errors of %s: %s; first: %s\n", key.c_str(), codes.c_str(),
                k.first_unexpected.c_str());
  }

  // The daemons count every refusal (PERMISSION_DENIED) per method: do they match ours?
  const std::map<std::string, int64_t> denied_after = Denials(*viewer_coordinator, *viewer_server);
  std::map<std::string, int64_t> refused_by_us;
  for (const Client& c : client_list) {
    if (c.kind->expect != grpc::StatusCode::PERMISSION_DENIED) continue;
    refused_by_us[c.kind->method.substr(1)] += c.stats.expected;
  }
  std::printf(
      "\nrefusals counted by the daemons during the load (denied_calls) vs refusals the clients "
      "got:\n");
  for (const auto& [method, ours] : refused_by_us) {
    auto before = denied_before.find(method);
    auto after = denied_after.find(method);
    const int64_t counted = (after == denied_after.end() ? 0 : after->second) -
                            (before == denied_before.end() ? 0 : before->second);
    std::printf("  %-34s %8lld counted, %8lld refused%s\n", method.c_str(),
                static_cast<long long>(counted), static_cast<long long>(ours),
                counted == ours ? "" : "  (MISMATCH)");
  }

  // The job.
  const double rate_alone = StepRate(alone.steps, absl::InfinitePast(), absl::InfiniteFuture());
  const double rate_loaded = StepRate(loaded.steps, load_start, load_end);
  std::printf("\njob (max_steps %lld, batch %d):\n", static_cast<long long>(steps), kBatch);
  std::printf("  alone:      %s\n", alone.verdict.c_str());
  std::printf("  under load: %s\n", loaded.verdict.c_str());
  std::printf(
      "  wall time alone %.1f s, under load %.1f s (the load covered %.1f s of it): slowdown "
      "x%.2f\n",
      alone.wall_s, loaded.wall_s, load_s, alone.wall_s > 0 ? loaded.wall_s / alone.wall_s : 0.0);
  if (rate_alone > 0 && rate_loaded > 0) {
    std::printf(
        "  steps/s alone %.1f (%.0f samples/s), during the load %.1f (%.0f samples/s): "
        "slowdown x%.2f\n",
        rate_alone, rate_alone * kBatch, rate_loaded, rate_loaded * kBatch,
        rate_alone / rate_loaded);
  }
  std::printf("  job under load: %s", loaded.ok ? "succeeded" : "DID NOT SUCCEED");
  if (alone.ok && loaded.ok) {
    const double a = alone.final_info.result().test_accuracy();
    const double b = loaded.final_info.result().test_accuracy();
    std::printf("; test accuracy %.4f, alone %.4f (%s)", b, a,
                a == b ? "the same: sync training is deterministic" : "different");
  }
  std::printf("\n");

  // Memory.
  const double tol_mb = absl::GetFlag(FLAGS_rss_tolerance_mb);
  const double tol_pct = absl::GetFlag(FLAGS_rss_tolerance_pct);
  std::printf(
      "\nRSS (MB, once a second): at start (idle cluster), peak while the job trained alone, "
      "before the load (after the job alone, %.0f s settled), peak during the load, after (%.0f "
      "s after the load and the job ended); after-bef is judged\n",
      absl::ToDoubleSeconds(settle), absl::ToDoubleSeconds(settle));
  std::printf("%-12s %8s %10s %8s %8s %8s %9s  %s\n", "daemon", "start", "peak alone", "before",
              "peak", "after", "after-bef", "back to baseline?");
  bool all_back = true;
  for (size_t d = 0; d < daemons.size(); ++d) {
    const Daemon& m = daemons[d];
    const double diff = m.after - m.before;
    const bool back = diff <= tol_mb || diff <= m.before * tol_pct / 100;
    const bool judged = m.name != "worker-0";
    if (judged) all_back = all_back && back;
    const std::string verdict =
        !judged ? "(for reference: it trained both jobs)"
        : back  ? absl::StrFormat("yes (within %.0f MB or %.0f%%)", tol_mb, tol_pct)
                : absl::StrFormat("NO (more than %.0f MB and %.0f%%)", tol_mb, tol_pct);
    std::printf("%-12s %8.1f %10.1f %8.1f %8.1f %8.1f %+9.1f  %s\n", m.name.c_str(), m.start,
                m.peak_alone, m.before, m.peak, m.after, diff, verdict.c_str());
  }
  std::printf(
      "\nsummary: %lld calls in %.1f s (%.0f/s), %lld errors; job slowdown x%.2f in steps/s "
      "during the load, x%.2f in wall time; memory %s; job under load %s\n",
      static_cast<long long>(total_calls), load_s, total_calls / load_s,
      static_cast<long long>(total_errors),
      rate_alone > 0 && rate_loaded > 0 ? rate_alone / rate_loaded : 0.0,
      alone.wall_s > 0 ? loaded.wall_s / alone.wall_s : 0.0,
      all_back ? "back to baseline" : "NOT back to baseline", loaded.ok ? "succeeded" : "FAILED");
  std::fflush(stdout);
  return (alone.final_info.state() != JOB_STATE_UNSPECIFIED && followed.ok()) ? 0 : 1;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
