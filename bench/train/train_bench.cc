// bench/train: training throughput (samples/s) of the Fashion-MNIST MLP with no parameter
// server, with 1 server x 1 worker and with 2 servers x 2 workers, measured in one run; with
// --fp16 also the same clusters with cluster.wire_dtype: fp16. With --accuracy_epochs N it
// then trains N epochs on 2 servers x 2 workers with the job's settings, f32 and fp16 wire,
// and prints the test accuracy of each (the accuracy effect of the fp16 wire).
// Servers and workers are threads of this process that talk over real gRPC on 127.0.0.1,
// plaintext and over mutual TLS (--security; certificates from deploy/local/certs.sh in a
// temporary directory), each cluster in both modes in the same run, with the ratio printed.
// With --metrics off,on each cluster also runs with Prometheus metrics recorded on servers and
// workers and scraped over HTTP every --scrape_ms (docs/observability.md), with the ratio
// printed; --rounds repeats every configuration (odd rounds in reverse order) and reports the
// mean and the spread.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "bench/machine.h"
#include "bench/mode_list.h"
#include "common/job_spec.h"
#include "common/metrics_exposer.h"
#include "common/process_init.h"
#include "common/process_metrics.h"
#include "server/ps_server.h"
#include "server/server_metrics.h"
#include "tests/metrics_scrape.h"
#include "tests/test_certs.h"
#include "worker/training_session.h"
#include "worker/worker_metrics.h"

ABSL_FLAG(std::string, job, "examples/fashion_mnist_mlp.yaml", "Job file (model and data).");
ABSL_FLAG(int64_t, steps, 400, "Steps per worker in each throughput configuration.");
ABSL_FLAG(int, threads, 1, "BLAS threads per worker.");
ABSL_FLAG(int, batch, 0, "Batch size per worker (0: the job's).");
ABSL_FLAG(bool, fp16, false, "Also measure the clusters with cluster.wire_dtype: fp16.");
ABSL_FLAG(bool, fp16_params, false, "With --fp16, parameters as fp16 too (wire_fp16_params).");
ABSL_FLAG(int, max_in_flight, psd::PsClient::Options().max_in_flight,
          "PsClient window (chunk RPCs in flight per worker).");
ABSL_FLAG(int, channels, psd::PsClient::Options().channels_per_server,
          "TCP connections from each worker to each server.");
ABSL_FLAG(int, work_threads, 0, "Server work threads (PsServerOptions::work_threads).");
ABSL_FLAG(std::string, security, "plaintext,tls",
          "Transports to measure each cluster with: plaintext (--insecure), tls (mutual TLS "
          "with per-rank authorisation), or both.");
ABSL_FLAG(std::string, metrics, "off",
          "Metrics modes to measure each cluster with: off, on (recorded on servers and workers "
          "and scraped over HTTP every --scrape_ms), or both (off,on).");
ABSL_FLAG(int, scrape_ms, 1000, "With --metrics on: scrape interval (Prometheus' default: 15 s).");
ABSL_FLAG(int, rounds, 1, "Repeat every configuration this many times, alternating.");
ABSL_FLAG(std::string, trace, "off",
          "Step-timeline modes to measure each cluster with: off (one relaxed load per step and "
          "RPC, as when no psdctl trace runs), on (every worker's and server's recorder armed "
          "for every step: what recording costs), or both (off,on). With --metrics off,on too, "
          "every combination runs, and each is compared with metrics and trace off.");
ABSL_FLAG(int, accuracy_epochs, 0,
          "Then train this many epochs on 2x2, f32 and fp16 wire, and print test accuracy.");

namespace psd {
namespace {

struct Figure {
  std::string name;
  double samples_per_sec = 0;
};

struct Run {
  double samples_per_sec = 0;
  double test_accuracy = -1, test_loss = 0;
  double cpu_ms_per_1k = 0;  // this process's CPU time (all threads) per 1000 samples
  int64_t samples = 0;
};

// CPU seconds of this process so far (user + system, every thread).
double CpuSeconds() {
  auto p = ReadProcessFigures();
  return p.ok() ? p->cpu_seconds : 0;
}

std::string WorkerName(int w) { return absl::StrCat("worker-", w); }

absl::StatusOr<Run> RunWorkers(const JobSpec& spec, const Dataset& data, const Dataset* test,
                               const std::vector<std::string>& servers, bool tls, bool trace,
                               const std::vector<std::shared_ptr<WorkerJobMetrics>>& metrics) {
  const int workers = spec.cluster.workers;
  std::vector<absl::StatusOr<JobResult>> results(workers, absl::UnknownError("not run"));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      SessionOptions o;
      o.rank = w;
      o.workers = workers;
      o.cpu_threads = absl::GetFlag(FLAGS_threads);
      o.servers = servers;
      o.client.job_id = spec.name;
      o.client.generation = 1;  // the servers' Init below
      o.client.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
      o.client.channels_per_server = absl::GetFlag(FLAGS_channels);
      o.client.tls =
          tls ? testing::TestTls(WorkerName(w), PeerRole::kWorker) : TlsOptions::Insecure();
      if (!metrics.empty()) o.metrics = metrics[w];
      if (trace) {
        o.trace = std::make_shared<TraceRecorder>();
        o.trace->Arm(spec.name, 0, spec.training.max_steps);
      }
      auto session = TrainingSession::Create(spec, data, test, std::move(o));
      if (!session.ok()) return void(results[w] = session.status());
      results[w] = (*session)->trainer().Run(stop, nullptr);
    });
  }
  for (auto& t : threads) t.join();
  Run run;
  for (const auto& r : results) {
    if (!r.ok()) return r.status();
    run.samples_per_sec += r->steps() * spec.training.batch_size / r->wall_seconds();
    run.samples += r->steps() * spec.training.batch_size;
  }
  if (test != nullptr) {
    run.test_accuracy = results[0]->test_accuracy();
    run.test_loss = results[0]->test_loss();
  }
  return run;
}

absl::StatusOr<Run> Measure(JobSpec spec, const Dataset& data, const Dataset* test, int num_servers,
                            int workers, bool tls = false, bool metrics = false,
                            bool trace = false) {
  spec.cluster.device = DeviceKind::kCpu;
  spec.cluster.servers = std::max(1, num_servers);
  spec.cluster.workers = workers;
  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
  for (int s = 0; s < num_servers; ++s) {
    PsServerOptions options;
    options.work_threads = absl::GetFlag(FLAGS_work_threads);
    options.metrics = metrics;
    options.tls = tls ? testing::TestTls(absl::StrCat("server-", s), PeerRole::kServer)
                      : TlsOptions::Insecure();
    auto server = PsServer::Start(options);
    if (!server.ok()) return server.status();
    std::vector<std::string> identities;
    for (int w = 0; w < workers; ++w) identities.push_back(tls ? WorkerName(w) : "");
    if (auto job = (*server)->jobs().Init(spec.name, 1, spec, s, workers, {}, 0, "", identities);
        !job.ok()) {
      return job.status();
    }
    if (trace) (*server)->trace().Arm(spec.name, 0, spec.training.max_steps);
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(*std::move(server));
  }
  const double cpu0 = CpuSeconds();
  auto with_cpu = [cpu0](absl::StatusOr<Run> run) -> absl::StatusOr<Run> {
    if (run.ok() && run->samples > 0) {
      run->cpu_ms_per_1k = (CpuSeconds() - cpu0) * 1e3 / (static_cast<double>(run->samples) / 1e3);
    }
    return run;
  };
  if (!metrics) return with_cpu(RunWorkers(spec, data, test, addresses, tls, trace, {}));
  // One exposer for the whole cluster (as if every daemon had its own), scraped and parsed
  // over HTTP as Prometheus would, from a thread of this process.
  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  if (!exposer.ok()) return exposer.status();
  for (const auto& s : servers) (*exposer)->Register(ServerMetrics(&s->jobs()));
  auto worker_metrics = std::make_shared<WorkerMetrics>();
  (*exposer)->Register(worker_metrics);
  absl::Notification done;
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    const absl::Duration every = absl::Milliseconds(absl::GetFlag(FLAGS_scrape_ms));
    while (!done.WaitForNotificationWithTimeout(every)) {
      if (testing::ScrapeMetrics((*exposer)->port()).ok()) ++scrapes;
    }
  });
  std::vector<std::shared_ptr<WorkerJobMetrics>> job_metrics;  // outlive the sessions
  for (int w = 0; w < workers; ++w) {
    job_metrics.push_back(worker_metrics->StartJob(spec.name, w, spec.cluster.servers));
  }
  auto run = with_cpu(RunWorkers(spec, data, test, addresses, tls, trace, job_metrics));
  done.Notify();
  scraper.join();
  auto last = testing::ScrapeMetrics((*exposer)->port());
  if (!last.ok()) return last.status();
  // The figures must say what was done: every worker's steps.
  const double steps = last->Sum("psd_worker_steps_total");
  if (run.ok() && steps != static_cast<double>(spec.training.max_steps) * workers) {
    return absl::InternalError(absl::StrCat("metrics: psd_worker_steps_total says ", steps,
                                            ", expected ", spec.training.max_steps * workers));
  }
  exposer->reset();
  return run;
}

JobSpec WithWire(JobSpec spec, bool fp16) {
  spec.cluster.wire_dtype = fp16 ? WireDType::kF16 : WireDType::kF32;
  spec.cluster.wire_fp16_params = fp16 && absl::GetFlag(FLAGS_fp16_params);
  return spec;
}

int Main() {
  auto spec = LoadJobSpecFile(absl::GetFlag(FLAGS_job));
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_batch) > 0) spec->training.batch_size = absl::GetFlag(FLAGS_batch);
  auto data = LoadIdxDataset(spec->data.train_images, spec->data.train_labels);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", std::string(data.status().message()).c_str());
    return 1;
  }
  std::printf(
      "bench/train: %s, batch %d per worker, %ld steps per worker, %d BLAS thread(s) "
      "per worker, %s\n",
      spec->name.c_str(), spec->training.batch_size, static_cast<long>(absl::GetFlag(FLAGS_steps)),
      absl::GetFlag(FLAGS_threads), bench::MachineLine().c_str());
  struct Config {
    std::string name;
    int servers, workers;
    bool fp16;
    bool tls = false;
    bool metrics = false;
    bool trace = false;
    size_t base = 0;  // the configuration of the same cluster and transport, metrics and trace off
  };
  const std::vector<bool> modes =
      bench::ModeListOrExit("--security", absl::GetFlag(FLAGS_security), "plaintext", "tls");
  const std::vector<bool> metrics_modes =
      bench::ModeListOrExit("--metrics", absl::GetFlag(FLAGS_metrics), "off", "on");
  const std::vector<bool> trace_modes =
      bench::ModeListOrExit("--trace", absl::GetFlag(FLAGS_trace), "off", "on");
  std::printf("transport: %s (the accuracy runs: %s); metrics: %s; trace: %s\n",
              absl::GetFlag(FLAGS_security).c_str(), modes.back() ? "tls" : "plaintext",
              absl::GetFlag(FLAGS_metrics).c_str(), absl::GetFlag(FLAGS_trace).c_str());
  std::vector<Config> configs = {{"no parameter server", 0, 1, false}};
  std::vector<Config> clusters = {{"1 server x 1 worker", 1, 1, false},
                                  {"2 servers x 2 workers", 2, 2, false}};
  if (absl::GetFlag(FLAGS_fp16)) {
    clusters.push_back({"1 x 1, fp16 wire", 1, 1, true});
    clusters.push_back({"2 x 2, fp16 wire", 2, 2, true});
  }
  for (const Config& c : clusters) {
    for (bool tls : modes) {
      const size_t base = configs.size();
      for (bool metrics : metrics_modes) {
        for (bool traced : trace_modes) {
          Config with = c;
          with.tls = tls;
          with.metrics = metrics;
          with.trace = traced;
          with.base = base;
          if (modes.size() > 1) with.name += tls ? ", tls" : ", plaintext";
          if (metrics_modes.size() > 1) with.name += metrics ? ", metrics on" : ", metrics off";
          if (trace_modes.size() > 1) with.name += traced ? ", trace on" : ", trace off";
          configs.push_back(with);
        }
      }
    }
  }
  JobSpec timed = *spec;
  timed.training.max_steps = absl::GetFlag(FLAGS_steps);
  timed.training.log_every = 1 << 30;
  timed.training.eval_every = 0;
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  std::vector<std::vector<double>> seen(configs.size());
  std::vector<std::vector<double>> cpu(configs.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < configs.size(); ++k) {
      // Odd rounds go backwards, so that no configuration always runs first (or after the
      // same neighbour).
      const size_t i = r % 2 == 0 ? k : configs.size() - 1 - k;
      const Config& c = configs[i];
      auto run = Measure(WithWire(timed, c.fp16), *data, nullptr, c.servers, c.workers, c.tls,
                         c.metrics, c.trace);
      if (!run.ok()) {
        std::fprintf(stderr, "%s: %s\n", c.name.c_str(),
                     std::string(run.status().message()).c_str());
        return 1;
      }
      seen[i].push_back(run->samples_per_sec);
      cpu[i].push_back(run->cpu_ms_per_1k);
    }
  }
  std::vector<Figure> figures;
  for (size_t i = 0; i < configs.size(); ++i) {
    double sum = 0;
    for (double v : seen[i]) sum += v;
    figures.push_back({configs[i].name, sum / static_cast<double>(seen[i].size())});
  }
  if (rounds > 1) {
    std::printf("\n%d rounds; samples/s of each round:\n", rounds);
    for (size_t i = 0; i < configs.size(); ++i) {
      std::printf("  %-50s", configs[i].name.c_str());
      for (double v : seen[i]) std::printf(" %8.0f", v);
      std::printf("\n");
    }
  }
  std::printf("\n%-52s %12s %10s\n", "configuration", "samples/s", "vs no-PS");
  for (const Figure& f : figures) {
    std::printf("%-52s %12.0f %10.2f\n", f.name.c_str(), f.samples_per_sec,
                f.samples_per_sec / figures[0].samples_per_sec);
  }
  if (metrics_modes.size() > 1 || trace_modes.size() > 1) {
    // Each configuration with metrics or trace on against its cluster's with both off, and
    // each round's ratio too, for the spread.
    auto mean = [](const std::vector<double>& v) {
      double sum = 0;
      for (double x : v) sum += x;
      return sum / static_cast<double>(v.size());
    };
    std::printf(
        "\nObservability cost (samples/s on / off; 1.00 is free) and CPU ms per 1000 "
        "samples (all threads):\n");
    for (size_t i = 1; i < configs.size(); ++i) {
      const size_t off = configs[i].base;
      if (i == off) continue;
      std::printf("  %-50s %.3f", configs[i].name.c_str(),
                  figures[i].samples_per_sec / figures[off].samples_per_sec);
      if (rounds > 1) {
        std::vector<double> ratios;
        for (int r = 0; r < rounds; ++r) ratios.push_back(seen[i][r] / seen[off][r]);
        std::sort(ratios.begin(), ratios.end());
        std::printf("  (rounds %.3f .. %.3f, median %.3f)", ratios.front(), ratios.back(),
                    ratios[ratios.size() / 2]);
      }
      std::printf("  cpu %.1f vs %.1f (%.3f)\n", mean(cpu[i]), mean(cpu[off]),
                  mean(cpu[i]) / mean(cpu[off]));
    }
  }
  if (modes.size() > 1 && metrics_modes.size() == 1 && trace_modes.size() == 1) {
    std::printf("\nTLS cost (samples/s with TLS / plaintext; 1.00 is free):\n");
    for (size_t i = 1; i + 1 < figures.size(); i += 2) {
      std::string name = configs[i].name.substr(0, configs[i].name.rfind(", "));
      const double tls =
          configs[i].tls ? figures[i].samples_per_sec : figures[i + 1].samples_per_sec;
      const double plain =
          configs[i].tls ? figures[i + 1].samples_per_sec : figures[i].samples_per_sec;
      std::printf("  %-34s %.2f\n", name.c_str(), tls / plain);
    }
  }

  const int epochs = absl::GetFlag(FLAGS_accuracy_epochs);
  if (epochs > 0) {
    auto test = LoadIdxDataset(spec->data.test_images, spec->data.test_labels);
    if (!test.ok()) {
      std::fprintf(stderr, "%s\n", std::string(test.status().message()).c_str());
      return 1;
    }
    JobSpec full = *spec;
    full.training.epochs = epochs;
    full.training.max_steps = 0;
    full.training.log_every = 1 << 30;
    full.training.eval_every = 0;
    std::printf("\n%d epochs on 2 servers x 2 workers (%s, batch %d per worker):\n", epochs,
                std::string(ConsistencyName(full.training.consistency)).c_str(),
                full.training.batch_size);
    std::printf("%-28s %14s %10s %12s\n", "wire", "test accuracy", "test loss", "samples/s");
    for (bool fp16 : {false, true}) {
      auto run =
          Measure(WithWire(full, fp16), *data, &*test, 2, 2, modes.back(), metrics_modes.back());
      if (!run.ok()) {
        std::fprintf(stderr, "%s\n", std::string(run.status().message()).c_str());
        return 1;
      }
      const std::string name =
          !fp16 ? "f32"
                : (absl::GetFlag(FLAGS_fp16_params) ? "fp16 gradients and parameters"
                                                    : "fp16 gradients (feedback)");
      std::printf("%-28s %14.4f %10.4f %12.0f\n", name.c_str(), run->test_accuracy, run->test_loss,
                  run->samples_per_sec);
    }
  }
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
