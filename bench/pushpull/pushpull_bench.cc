// bench/pushpull: the parameter-server transport alone (no model). psd-server processes
// (started here with --port 0 --port_file, jobs created with the InitJob RPC, no
// coordinator) and worker threads in this process, each with its own PsClient, push and
// pull one float32 tensor of 1, 4, 16 and 64 MiB, one operation in flight per worker (the
// operation's chunks go in parallel, bounded by the client's window). Prints payload
// throughput in GB/s (1e9 bytes/s; push+pull counts both directions; the median of
// several rounds; 2x2 is the aggregate of both workers) next to the loopback TCP limit that
// `iperf3 -P 1 -l 1M` measures in the same run. Each configuration runs plaintext (servers with
// --insecure) and over mutual TLS with per-rank authorisation (--security; certificates from
// deploy/local/certs.sh), and the TLS/plaintext ratio is printed last.
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/machine.h"
#include "bench/mode_list.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "common/process_init.h"
#include "common/tls_options.h"
#include "proto/parameter_server.grpc.pb.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "worker/ps_client.h"

ABSL_FLAG(std::string, server, "", "psd-server binary (default: the one built beside this bench).");
ABSL_FLAG(std::string, sizes_mib, "1,4,16,64", "Payload sizes in MiB.");
ABSL_FLAG(std::string, configs, "1x1,2x2", "Servers x workers configurations.");
ABSL_FLAG(int, rounds, 15, "Measured rounds per size (the median is printed).");
ABSL_FLAG(int, warmup, 3, "Unmeasured rounds per size first.");
ABSL_FLAG(std::string, chunk_bytes, "1MiB", "cluster.chunk_bytes of the bench job.");
ABSL_FLAG(int, max_in_flight, -1, "Chunk RPCs a worker keeps in flight (-1: PsClient's default).");
ABSL_FLAG(int, channels, -1,
          "TCP connections from each worker to each server (-1: PsClient's default).");
ABSL_FLAG(int, work_threads, 0, "psd-server --work_threads.");
ABSL_FLAG(int64_t, window_bytes, -1, "HTTP/2 window on both ends (-1: psd's default).");
ABSL_FLAG(int64_t, max_frame_bytes, -1, "HTTP/2 max frame on both ends (-1: psd's default).");
ABSL_FLAG(int64_t, read_chunk_bytes, -1, "TCP read sizes on both ends (-1: psd's default).");
ABSL_FLAG(int64_t, write_buffer_bytes, -1, "HTTP/2 write buffer on both ends (-1: psd's default).");
ABSL_FLAG(bool, fp16, false, "cluster.wire_dtype: fp16 (and fp16 parameters).");
ABSL_FLAG(bool, iperf3, true, "Measure iperf3 -P 1 -l 1M on loopback first.");
ABSL_FLAG(int, iperf_seconds, 3, "iperf3 -t.");
ABSL_FLAG(std::string, consistency, "async", "training.consistency of the bench job.");
ABSL_FLAG(std::string, security, "plaintext,tls",
          "Transports to measure: plaintext (--insecure), tls (mutual TLS), or both.");

namespace psd {
namespace {

using psd::testing::ChildProcess;

std::string Runfile(const char* argv0, const std::string& path) {
  for (const std::string& base :
       {absl::StrCat(argv0, ".runfiles/psd/"), std::string("bazel-bin/")}) {
    const std::string p = base + path;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return path;
}

double iperf_cpu = 0;  // CPU s/GB of the iperf3 run (client + server)

double JsonNumber(const std::string& json, const std::string& key, size_t from) {
  const size_t at = json.find("\"" + key + "\"", from);
  if (at == std::string::npos) return -1;
  return std::strtod(json.c_str() + json.find(':', at) + 1, nullptr);
}

// GB/s of `iperf3 -c 127.0.0.1 -P 1 -l 1M`, or a negative value with the reason printed.
double Iperf3(const std::string& dir) {
  if (system("command -v iperf3 >/dev/null 2>&1") != 0) {
    std::printf("iperf3 not found (apt-get install iperf3; bench/pushpull/run.sh does it)\n");
    return -1;
  }
  const std::string port = absl::StrCat(testing::FreeLoopbackPort());
  psd::testing::SpawnOptions output;
  output.stdout_path = dir + "/iperf3-server.out";
  output.stderr_path = dir + "/iperf3-server.err";
  auto server = ChildProcess::Spawn({"/bin/sh", "-c", "exec iperf3 -s -1 -p " + port}, output);
  if (!server.ok()) return -1;
  psd::testing::CommandResult r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    absl::SleepFor(absl::Milliseconds(100));
    r = psd::testing::RunCommand(
        {"/bin/sh", "-c",
         absl::StrCat("exec iperf3 -J -c 127.0.0.1 -p ", port, " -P 1 -l 1M -t ",
                      absl::GetFlag(FLAGS_iperf_seconds))},
        absl::Seconds(absl::GetFlag(FLAGS_iperf_seconds) + 20));
    if (r.exit_code == 0) break;
  }
  server->Stop(absl::Seconds(2));
  const size_t at = r.out.find("\"sum_received\"");
  const size_t bps = at == std::string::npos ? at : r.out.find("\"bits_per_second\"", at);
  if (r.exit_code != 0 || bps == std::string::npos) {
    std::printf("iperf3 failed: %s\n", r.err.c_str());
    return -1;
  }
  const size_t colon = r.out.find(':', bps);
  const double gbps = std::strtod(r.out.c_str() + colon + 1, nullptr) / 8e9;
  const size_t cpu = r.out.find("\"cpu_utilization_percent\"");
  if (cpu != std::string::npos && gbps > 0) {
    iperf_cpu = (JsonNumber(r.out, "host_total", cpu) + JsonNumber(r.out, "remote_total", cpu)) /
                100 / gbps;
  }
  return gbps;
}

// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat.
double CpuSeconds(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  // Fields after the command: state(0) ... utime(11) stime(12).
  double utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return 0;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A reusable barrier for the worker threads.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void Wait() {
    absl::MutexLock lock(&mu_);
    const int64_t gen = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      return;
    }
    auto passed = [this, gen]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return generation_ != gen; };
    mu_.Await(absl::Condition(&passed));
  }

 private:
  absl::Mutex mu_;
  const int n_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

struct Servers {
  bool tls = false;
  std::vector<ChildProcess> processes;
  std::vector<std::string> addresses;
  std::vector<std::unique_ptr<ParameterServer::Stub>> stubs;  // as the coordinator
};

std::string WorkerName(int w) { return absl::StrCat("worker-", w); }

absl::StatusOr<Servers> StartServers(const std::string& binary, const std::string& dir, int n,
                                     const std::string& config, bool tls) {
  Servers s;
  s.tls = tls;
  const TlsOptions coordinator =
      tls ? psd::testing::TestTls("coordinator", PeerRole::kCoordinator) : TlsOptions::Insecure();
  for (int i = 0; i < n; ++i) {
    const std::string port_file = absl::StrCat(dir, "/", config, "-server-", i, ".port");
    unlink(port_file.c_str());
    std::vector<std::string> argv = {
        binary, "--port=0", "--port_file=" + port_file, "--bind=127.0.0.1",
        // No coordinator: jobs come from InitJob below.
        "--coordinator=127.0.0.1:1",
        absl::StrCat("--work_threads=", absl::GetFlag(FLAGS_work_threads))};
    if (tls) {
      for (const std::string& flag :
           psd::testing::TestTlsFlags(absl::StrCat("server-", i), PeerRole::kServer)) {
        argv.push_back(flag);
      }
    } else {
      argv.push_back("--insecure");
    }
    if (absl::GetFlag(FLAGS_window_bytes) >= 0) {
      argv.push_back(absl::StrCat("--grpc_window_bytes=", absl::GetFlag(FLAGS_window_bytes)));
    }
    if (absl::GetFlag(FLAGS_max_frame_bytes) >= 0) {
      argv.push_back(absl::StrCat("--grpc_max_frame_bytes=", absl::GetFlag(FLAGS_max_frame_bytes)));
    }
    if (absl::GetFlag(FLAGS_read_chunk_bytes) >= 0) {
      argv.push_back(
          absl::StrCat("--grpc_read_chunk_bytes=", absl::GetFlag(FLAGS_read_chunk_bytes)));
      argv.push_back(
          absl::StrCat("--grpc_min_read_chunk_bytes=", absl::GetFlag(FLAGS_read_chunk_bytes)));
    }
    if (absl::GetFlag(FLAGS_write_buffer_bytes) >= 0) {
      argv.push_back(
          absl::StrCat("--grpc_write_buffer_bytes=", absl::GetFlag(FLAGS_write_buffer_bytes)));
    }
    psd::testing::SpawnOptions log;
    const std::string tag = absl::StrCat(config, tls ? "-tls" : "-plaintext", "-server-", i);
    log.stderr_path = absl::StrCat(dir, "/", tag, ".log");
    auto p = ChildProcess::Spawn(argv, log);
    if (!p.ok()) return p.status();
    auto port = psd::testing::WaitForPortFile(port_file, absl::Seconds(30), &*p);
    if (!port)
      return absl::UnavailableError(absl::StrCat("psd-server ", i, " did not start; see ", dir));
    s.addresses.push_back(absl::StrCat("127.0.0.1:", *port));
    auto channel = MakeChannel(s.addresses.back(), PeerRole::kServer, coordinator, {});
    if (!channel.ok()) return channel.status();
    s.stubs.push_back(ParameterServer::NewStub(*channel));
    s.processes.push_back(*std::move(p));
  }
  return s;
}

struct Row {
  std::string config;
  bool tls = false;
  int mib = 0;
  double push = 0, pull = 0, push_pull = 0;  // GB/s
  double cpu_per_gb = 0;  // CPU seconds (this process and the servers) per GB of payload
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

absl::StatusOr<Row> Measure(Servers& servers, int num_workers, int mib) {
  const int num_servers = static_cast<int>(servers.addresses.size());
  const int classes = 16;
  const int64_t input_dim = static_cast<int64_t>(mib) * (1 << 20) / 4 / classes;
  const std::string job = absl::StrCat("pushpull-", num_servers, "x", num_workers, "-", mib);
  const bool fp16 = absl::GetFlag(FLAGS_fp16);
  const std::string yaml = absl::StrCat(
      "name: ", job, "\nseed: 1\n", "model: {type: logreg, input_dim: ", input_dim,
      ", num_classes: ", classes, "}\n",
      "data: {train_images: a, train_labels: b, test_images: c, test_labels: d}\n",
      "training: {consistency: ", absl::GetFlag(FLAGS_consistency),
      ", optimizer: {type: sgd, learning_rate: 1e-9}}\n", "cluster: {servers: ", num_servers,
      ", workers: ", num_workers, ", chunk_bytes: ", absl::GetFlag(FLAGS_chunk_bytes),
      ", wire_dtype: ", fp16 ? "fp16" : "fp32", ", wire_fp16_params: ", fp16 ? "true" : "false",
      "}\n");
  auto spec = ParseJobSpec(yaml, job);
  if (!spec.ok()) return spec.status();
  auto placement = Placement::ForJob(*spec);
  if (!placement.ok()) return placement.status();
  for (int s = 0; s < num_servers; ++s) {
    InitJobRequest req;
    req.set_job_id(job);
    req.set_generation(1);
    req.set_spec_yaml(yaml);
    req.set_server_rank(s);
    req.set_num_servers(num_servers);
    req.set_num_workers(num_workers);
    for (int w = 0; w < num_workers; ++w)
      req.add_worker_identities(servers.tls ? WorkerName(w) : "");
    InitJobResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status st = servers.stubs[s]->InitJob(&ctx, req, &resp);
    if (!st.ok()) return absl::UnavailableError(absl::StrCat("InitJob: ", st.error_message()));
  }
  const int64_t n = placement->tensors()[0].size;
  const double bytes = static_cast<double>(n) * 4;  // payload as float32 (the model's size)
  const int rounds = absl::GetFlag(FLAGS_warmup) + absl::GetFlag(FLAGS_rounds);
  // times[phase][round][worker]
  std::vector<std::vector<std::vector<double>>> times(
      3, std::vector<std::vector<double>>(rounds, std::vector<double>(num_workers)));
  std::vector<absl::Status> errors(num_workers);
  Barrier barrier(num_workers);
  auto cpu_now = [&servers] {
    double cpu = CpuSeconds(getpid());
    for (auto& p : servers.processes) cpu += CpuSeconds(p.pid());
    return cpu;
  };
  // CPU of the measured rounds only (set by worker 0 when they start: set-up and warm-up,
  // first touches of the buffers included, are not counted).
  std::atomic<double> cpu_start{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < num_workers; ++w) {
    threads.emplace_back([&, w] {
      PsClient::Options o;
      o.job_id = job;
      o.generation = 1;
      o.worker = w;
      o.total_steps = 1 << 20;
      if (absl::GetFlag(FLAGS_max_in_flight) > 0)
        o.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
      if (absl::GetFlag(FLAGS_channels) > 0) o.channels_per_server = absl::GetFlag(FLAGS_channels);
      if (absl::GetFlag(FLAGS_window_bytes) >= 0) {
        o.transport.stream_window_bytes = absl::GetFlag(FLAGS_window_bytes);
      }
      if (absl::GetFlag(FLAGS_max_frame_bytes) >= 0) {
        o.transport.max_frame_bytes = absl::GetFlag(FLAGS_max_frame_bytes);
      }
      if (absl::GetFlag(FLAGS_read_chunk_bytes) >= 0) {
        o.transport.read_chunk_bytes = absl::GetFlag(FLAGS_read_chunk_bytes);
        o.transport.min_read_chunk_bytes = absl::GetFlag(FLAGS_read_chunk_bytes);
      }
      if (absl::GetFlag(FLAGS_write_buffer_bytes) >= 0) {
        o.transport.write_buffer_bytes = absl::GetFlag(FLAGS_write_buffer_bytes);
      }
      o.tls = servers.tls ? psd::testing::TestTls(WorkerName(w), PeerRole::kWorker)
                          : TlsOptions::Insecure();
      SetWireOptions(spec->cluster, &o);
      auto client = PsClient::Create(&*placement, servers.addresses, o);
      std::vector<float> grad(n, 1e-3f), params(n);
      int64_t step = 0;
      for (int r = 0; r < rounds; ++r) {
        auto timed = [&](int phase, auto start) {
          barrier.Wait();
          if (w == 0 && phase == 0 && r == absl::GetFlag(FLAGS_warmup)) cpu_start = cpu_now();
          const absl::Time t0 = absl::Now();
          if (client.ok()) {
            start();
            absl::Status s = (*client)->Wait();
            if (!s.ok() && errors[w].ok()) errors[w] = s;
          } else if (errors[w].ok()) {
            errors[w] = client.status();
          }
          times[phase][r][w] = absl::ToDoubleSeconds(absl::Now() - t0);
        };
        timed(0, [&] { (*client)->Push(0, step, grad.data()); });
        timed(1, [&] { (*client)->Pull(0, step + 1, params.data()); });
        timed(2, [&] { (*client)->PushPull(0, step + 1, grad.data(), params.data()); });
        step += 2;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double cpu_used = cpu_now() - cpu_start.load();
  for (const absl::Status& e : errors) {
    if (!e.ok()) return e;
  }
  for (int s = 0; s < num_servers; ++s) {
    EndJobRequest req;
    req.set_job_id(job);
    req.set_generation(1);
    EndJobResponse resp;
    grpc::ClientContext ctx;
    servers.stubs[s]->EndJob(&ctx, req, &resp);
  }
  Row row;
  row.config = absl::StrCat(num_servers, "x", num_workers);
  row.tls = servers.tls;
  row.mib = mib;
  // Every round moves the payload 4 times per worker: push, pull, and push+pull's two ways.
  row.cpu_per_gb = cpu_used / (4.0 * absl::GetFlag(FLAGS_rounds) * num_workers * bytes / 1e9);
  double* out[3] = {&row.push, &row.pull, &row.push_pull};
  for (int phase = 0; phase < 3; ++phase) {
    std::vector<double> gbps;
    for (int r = absl::GetFlag(FLAGS_warmup); r < rounds; ++r) {
      // Workers start together; the phase lasts until the slowest is done.
      const double t = *std::max_element(times[phase][r].begin(), times[phase][r].end());
      gbps.push_back((phase == 2 ? 2 : 1) * num_workers * bytes / t / 1e9);
    }
    *out[phase] = Median(gbps);
  }
  return row;
}

int Main(const char* argv0) {
  const std::string binary = absl::GetFlag(FLAGS_server).empty()
                                 ? Runfile(argv0, "server/psd-server")
                                 : absl::GetFlag(FLAGS_server);
  const std::string dir = psd::testing::MakeTempDir("pushpull");
  std::printf(
      "bench/pushpull: float32 payload, chunks of %s, window %d RPCs, %d channel(s) per server, "
      "%s, %s wire, median of %d rounds; %s\n",
      absl::GetFlag(FLAGS_chunk_bytes).c_str(),
      absl::GetFlag(FLAGS_max_in_flight) > 0 ? absl::GetFlag(FLAGS_max_in_flight)
                                             : PsClient::Options().max_in_flight,
      absl::GetFlag(FLAGS_channels) > 0 ? absl::GetFlag(FLAGS_channels)
                                        : PsClient::Options().channels_per_server,
      absl::GetFlag(FLAGS_consistency).c_str(), absl::GetFlag(FLAGS_fp16) ? "fp16" : "f32",
      absl::GetFlag(FLAGS_rounds), bench::MachineLine().c_str());
  const double iperf = absl::GetFlag(FLAGS_iperf3) ? Iperf3(dir) : -1;
  if (iperf > 0) std::printf("iperf3 -P 1 -l 1M on 127.0.0.1: %.2f GB/s\n", iperf);
  std::fflush(stdout);

  const std::vector<bool> modes =
      bench::ModeListOrExit("--security", absl::GetFlag(FLAGS_security), "plaintext", "tls");
  std::printf("transport: %s\n", absl::GetFlag(FLAGS_security).c_str());
  std::vector<Row> rows;
  for (absl::string_view config : absl::StrSplit(absl::GetFlag(FLAGS_configs), ',')) {
    std::vector<std::string> sw = absl::StrSplit(config, 'x');
    int ns = 0, nw = 0;
    if (sw.size() != 2 || !absl::SimpleAtoi(sw[0], &ns) || !absl::SimpleAtoi(sw[1], &nw) ||
        ns < 1 || nw < 1) {
      std::fprintf(stderr, "--configs: bad entry '%s'\n", std::string(config).c_str());
      return 2;
    }
    for (bool tls : modes) {
      auto servers = StartServers(binary, dir, ns, std::string(config), tls);
      if (!servers.ok()) {
        std::fprintf(stderr, "%s\n", std::string(servers.status().message()).c_str());
        return 1;
      }
      for (absl::string_view m : absl::StrSplit(absl::GetFlag(FLAGS_sizes_mib), ',')) {
        int mib = 0;
        if (!absl::SimpleAtoi(m, &mib) || mib < 1) {
          std::fprintf(stderr, "--sizes_mib: bad entry '%s'\n", std::string(m).c_str());
          return 2;
        }
        auto row = Measure(*servers, nw, mib);
        if (!row.ok()) {
          std::fprintf(stderr, "%s: %s\n", std::string(config).c_str(),
                       std::string(row.status().message()).c_str());
          return 1;
        }
        rows.push_back(*row);
        std::fprintf(stderr,
                     "  %s %s %3d MiB: push %.2f pull %.2f push+pull %.2f GB/s, %.2f CPU s/GB\n",
                     row->config.c_str(), tls ? "tls" : "plaintext", mib, row->push, row->pull,
                     row->push_pull, row->cpu_per_gb);
      }
      for (ChildProcess& p : servers->processes) p.Stop(absl::Seconds(5));
    }
  }

  std::printf("\n%-7s %-9s %8s %10s %10s %15s %10s %11s\n", "config", "transport", "payload",
              "push GB/s", "pull GB/s", "push+pull GB/s", "vs iperf3", "CPU s/GB");
  for (const Row& r : rows) {
    std::printf("%-7s %-9s %5d MiB %10.2f %10.2f %15.2f", r.config.c_str(),
                r.tls ? "tls" : "plaintext", r.mib, r.push, r.pull, r.push_pull);
    if (iperf > 0) {
      std::printf(" %10.2f", r.push_pull / iperf);
    } else {
      std::printf(" %10s", "-");
    }
    std::printf(" %11.2f\n", r.cpu_per_gb);
  }
  if (iperf > 0) {
    std::printf("%-7s %-9s %9s %42.2f %10s %11.2f\n", "iperf3", "-", "1M writes", iperf, "1.00",
                iperf_cpu);
  }
  // TLS against plaintext, same configuration and payload, measured in this run.
  bool header = false;
  for (const Row& t : rows) {
    if (!t.tls) continue;
    for (const Row& p : rows) {
      if (p.tls || p.config != t.config || p.mib != t.mib) continue;
      if (!header) {
        std::printf("\nTLS / plaintext (1.00: TLS costs nothing; CPU: TLS needs x as much):\n");
        std::printf("%-7s %8s %10s %10s %15s %11s\n", "config", "payload", "push", "pull",
                    "push+pull", "CPU s/GB");
        header = true;
      }
      std::printf("%-7s %5d MiB %10.2f %10.2f %15.2f %11.2f\n", t.config.c_str(), t.mib,
                  t.push / p.push, t.pull / p.pull, t.push_pull / p.push_pull,
                  t.cpu_per_gb / p.cpu_per_gb);
    }
  }
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main(argv[0]);
}
