// psd_sim: predictions of psd's training throughput from a SimGrid model (docs/scaling.md).
//   --check: the measured runs of the calibration file (this machine: every worker and server
//            sharing its cores, over loopback) against the simulation of the same configs.
//   --sweep: throughput and scaling efficiency for big clusters on 25 and 100 Gbps links.
//   else:    one configuration (--workers, --servers, --model, --link_gbps, ...).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/scale/sim/calibration.h"
#include "bench/scale/sim/simulate.h"

ABSL_FLAG(std::string, calibration, "",
          "Calibration file (bench/scale/calibrate.sh); empty: defaults.");
ABSL_FLAG(bool, check, false, "Simulate the calibration file's measured runs and compare.");
ABSL_FLAG(bool, sweep, false, "Predict big clusters (--sweep_*).");
ABSL_FLAG(std::string, model, "mlp", "mlp (784-256-128-10), mlp100m, embedding, or widths a,b,c.");
ABSL_FLAG(int, workers, 16, "Workers (single configuration).");
ABSL_FLAG(int, servers, 4, "Servers (single configuration).");
ABSL_FLAG(int, batch, 0, "Batch per worker (0: the model's: 64, embedding 512).");
ABSL_FLAG(int, steps, 1,
          "Simulated steps per configuration of the sweep (sync steps of identical workers are "
          "alike: one is enough).");
ABSL_FLAG(double, link_gbps, 25, "Link speed of each host (cluster platform).");
ABSL_FLAG(double, latency_us, 5, "One-way host-to-host latency (cluster platform).");
ABSL_FLAG(int, worker_cores, 8, "Cores per worker host (compute uses one; gRPC the others).");
ABSL_FLAG(int, server_cores, 8, "Cores per server host.");
ABSL_FLAG(double, worker_tflops, 0,
          "Worker compute rate in TFLOP/s (0: the calibrated CPU rate, one BLAS thread).");
ABSL_FLAG(int64_t, chunk_bytes, 0, "cluster.chunk_bytes (0: the calibration's, the job's).");
ABSL_FLAG(bool, shared, false, "Single configuration on one shared host (this machine).");
ABSL_FLAG(int, max_messages_per_group, 2,
          "A tensor's chunks on one server go as at most this many messages (0: one per chunk).");
ABSL_FLAG(std::string, sweep_models, "mlp,mlp100m,embedding", "Models of the sweep.");
ABSL_FLAG(std::string, sweep_links, "25,100", "Link speeds (Gbps) of the sweep.");
ABSL_FLAG(std::string, sweep_compute, "cpu,gpu",
          "Worker compute of the sweep: cpu (calibrated) and/or gpu (--gpu_tflops; not for the "
          "small mlp, whose step is all communication already).");
ABSL_FLAG(double, gpu_tflops, 10, "Effective TFLOP/s of a 'gpu' worker in the sweep.");
ABSL_FLAG(int, gpu_batch, 1024, "Batch per 'gpu' worker in the sweep.");
ABSL_FLAG(std::string, sweep_configs, "16x4,32x8,64x16,128x32,256x64,512x32,128x8,128x128",
          "WORKERSxSERVERS pairs of the sweep (the simulation holds ~3 actors per pair that "
          "talks, ~20 KB each: 512x128 of a model spread over every server needs ~4 GB and "
          "about a minute).");

namespace psd::sim {
namespace {

bool ParseModel(const std::string& name, ModelConfig* m, int* batch) {
  *m = ModelConfig();
  m->name = name;
  if (name == "mlp") {
    m->layers = {784, 256, 128, 10};
    *batch = 64;
  } else if (name == "mlp100m") {
    m->layers = {4096, 8192, 8192, 1000};  // 108.8M parameters
    *batch = 64;
  } else if (name == "embedding") {
    m->kind = ModelKind::kEmbedding;
    m->fields = 26;
    m->dim = 64;
    m->layers = {26 * 64, 512, 256, 1};
    *batch = 512;
  } else {
    m->layers.clear();
    for (absl::string_view w : absl::StrSplit(name, ',')) {
      int v = 0;
      if (!absl::SimpleAtoi(w, &v) || v < 1) return false;
      m->layers.push_back(v);
    }
    *batch = 64;
    return m->layers.size() >= 2;
  }
  return true;
}

int64_t Params(const ModelConfig& m) {
  int64_t p = 0;
  for (size_t l = 0; l + 1 < m.layers.size(); ++l)
    p += int64_t{m.layers[l]} * m.layers[l + 1] + m.layers[l + 1];
  return p;
}

std::vector<std::string> List(const std::string& s) {
  return absl::StrSplit(s, ',', absl::SkipEmpty());
}

int Check(const Calibration& cal) {
  if (cal.measured.empty()) {
    std::fprintf(stderr, "psd_sim --check: %s has no 'measured' runs\n", cal.source.c_str());
    return 1;
  }
  std::printf("Measured (psd on this machine, %d cores shared by every process) vs simulated:\n",
              cal.machine_cores);
  std::printf("%-10s %14s %14s %8s %10s\n", "S x W", "measured/s", "simulated/s", "error",
              "spread");
  int outside = 0;
  for (const MeasuredRun& m : cal.measured) {
    SimConfig c;
    c.costs = cal;
    c.model.layers = cal.layers;
    c.batch = cal.batch;
    c.chunk_bytes = cal.chunk_bytes;
    c.workers = m.workers;
    c.servers = m.servers;
    c.steps = 20;
    c.max_messages_per_group = 0;
    c.platform.shared = true;
    c.platform.shared_cores = cal.machine_cores;
    auto r = Simulate(c);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    const double err = (r->samples_per_sec - m.samples_per_sec) / m.samples_per_sec * 100;
    if (std::fabs(err) > 15) ++outside;
    std::printf("%-10s %14.0f %14.0f %+7.1f%% %9.0f%%\n",
                absl::StrCat(m.servers, " x ", m.workers).c_str(), m.samples_per_sec,
                r->samples_per_sec, err, m.spread * 100);
  }
  std::printf("%d of %zu within 15%%\n", static_cast<int>(cal.measured.size()) - outside,
              cal.measured.size());
  return 0;
}

int Sweep(const Calibration& cal) {
  std::printf(
      "Predictions (sync, PushPull per chunk, psd's placement of %lld-byte chunks; %d cores per "
      "worker and server host, %.0f us one-way latency; efficiency = samples/s / (workers x "
      "one worker with no parameter server))\n",
      static_cast<long long>(absl::GetFlag(FLAGS_chunk_bytes) > 0 ? absl::GetFlag(FLAGS_chunk_bytes)
                                                                  : cal.chunk_bytes),
      absl::GetFlag(FLAGS_worker_cores), absl::GetFlag(FLAGS_latency_us));
  for (const std::string& model_name : List(absl::GetFlag(FLAGS_sweep_models))) {
    ModelConfig model;
    int batch = 0;
    if (!ParseModel(model_name, &model, &batch)) {
      std::fprintf(stderr, "psd_sim: unknown model '%s'\n", model_name.c_str());
      return 2;
    }
    if (absl::GetFlag(FLAGS_batch) > 0) batch = absl::GetFlag(FLAGS_batch);
    for (const std::string& compute : List(absl::GetFlag(FLAGS_sweep_compute))) {
      if (compute == "gpu" && model_name == "mlp") continue;
      SimConfig base;
      base.costs = cal;
      base.model = model;
      base.batch = batch;
      base.chunk_bytes =
          absl::GetFlag(FLAGS_chunk_bytes) > 0 ? absl::GetFlag(FLAGS_chunk_bytes) : cal.chunk_bytes;
      base.steps = absl::GetFlag(FLAGS_steps);
      base.max_messages_per_group = absl::GetFlag(FLAGS_max_messages_per_group);
      base.platform.worker_cores = absl::GetFlag(FLAGS_worker_cores);
      base.platform.server_cores = absl::GetFlag(FLAGS_server_cores);
      base.platform.link_latency = absl::GetFlag(FLAGS_latency_us) * 1e-6;
      if (compute == "gpu") {
        if (absl::GetFlag(FLAGS_batch) <= 0) base.batch = absl::GetFlag(FLAGS_gpu_batch);
        base.costs.compute_flops_per_second = absl::GetFlag(FLAGS_gpu_tflops) * 1e12;
        base.compute_seconds = StepFlops(model, base.batch) / base.costs.compute_flops_per_second;
      } else if (compute != "cpu") {
        std::fprintf(stderr, "psd_sim: --sweep_compute: cpu or gpu, not '%s'\n", compute.c_str());
        return 2;
      }
      const double one = SingleWorkerSamplesPerSec(base);
      std::printf(
          "\n%s (%.2fM params, %s), batch %d per worker, %s workers: compute %.2f ms/step "
          "(%.0f samples/s alone)\n",
          model_name.c_str(), Params(model) / 1e6,
          model.kind == ModelKind::kEmbedding
              ? absl::StrCat(model.fields, " fields x ", model.dim, " dim rows by hash").c_str()
              : "dense",
          base.batch, compute.c_str(), base.batch / one * 1e3, one);
      std::printf("%-11s", "W x S");
      for (const std::string& g : List(absl::GetFlag(FLAGS_sweep_links)))
        std::printf(" %14s %6s %9s", absl::StrCat(g, "G samples/s").c_str(), "eff", "step ms");
      std::printf("\n");
      for (const std::string& pair : List(absl::GetFlag(FLAGS_sweep_configs))) {
        std::vector<std::string> ws = absl::StrSplit(pair, 'x');
        int w = 0, s = 0;
        if (ws.size() != 2 || !absl::SimpleAtoi(ws[0], &w) || !absl::SimpleAtoi(ws[1], &s)) {
          std::fprintf(stderr, "psd_sim: --sweep_configs: bad pair '%s'\n", pair.c_str());
          return 2;
        }
        std::printf("%-11s", pair.c_str());
        for (const std::string& g : List(absl::GetFlag(FLAGS_sweep_links))) {
          double gbps = 0;
          if (!absl::SimpleAtod(g, &gbps) || gbps <= 0) return 2;
          SimConfig c = base;
          c.workers = w;
          c.servers = s;
          c.platform.link_bytes_per_second = gbps * 1e9 / 8;
          auto r = Simulate(c);
          if (!r.ok()) {
            std::fprintf(stderr, "\n%s\n", std::string(r.status().message()).c_str());
            return 1;
          }
          std::printf(" %14.0f %5.0f%% %9.2f", r->samples_per_sec,
                      r->samples_per_sec / (w * one) * 100, r->step_seconds * 1e3);
          std::fflush(stdout);
        }
        std::printf("\n");
      }
    }
  }
  return 0;
}

int One(const Calibration& cal) {
  SimConfig c;
  c.costs = cal;
  int batch = 0;
  if (!ParseModel(absl::GetFlag(FLAGS_model), &c.model, &batch)) {
    std::fprintf(stderr, "psd_sim: unknown --model '%s'\n", absl::GetFlag(FLAGS_model).c_str());
    return 2;
  }
  c.batch = absl::GetFlag(FLAGS_batch) > 0 ? absl::GetFlag(FLAGS_batch) : batch;
  c.chunk_bytes =
      absl::GetFlag(FLAGS_chunk_bytes) > 0 ? absl::GetFlag(FLAGS_chunk_bytes) : cal.chunk_bytes;
  c.workers = absl::GetFlag(FLAGS_workers);
  c.servers = absl::GetFlag(FLAGS_servers);
  c.steps = absl::GetFlag(FLAGS_steps);
  c.max_messages_per_group = absl::GetFlag(FLAGS_max_messages_per_group);
  c.platform.shared = absl::GetFlag(FLAGS_shared);
  c.platform.shared_cores = cal.machine_cores;
  c.platform.link_bytes_per_second = absl::GetFlag(FLAGS_link_gbps) * 1e9 / 8;
  c.platform.link_latency = absl::GetFlag(FLAGS_latency_us) * 1e-6;
  c.platform.worker_cores = absl::GetFlag(FLAGS_worker_cores);
  c.platform.server_cores = absl::GetFlag(FLAGS_server_cores);
  if (absl::GetFlag(FLAGS_worker_tflops) > 0) {
    c.compute_seconds = StepFlops(c.model, c.batch) / (absl::GetFlag(FLAGS_worker_tflops) * 1e12);
  }
  auto r = Simulate(c);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  const double one = SingleWorkerSamplesPerSec(c);
  std::printf(
      "%s, %d workers x %d servers, %s: %.0f samples/s, step %.3f ms, efficiency %.0f%%, "
      "%lld messages, %.1f MB pushed per worker step, simulated in %.1f s\n",
      absl::GetFlag(FLAGS_model).c_str(), c.workers, c.servers,
      c.platform.shared ? "shared host"
                        : absl::StrCat(absl::GetFlag(FLAGS_link_gbps), " Gbps").c_str(),
      r->samples_per_sec, r->step_seconds * 1e3, r->samples_per_sec / (c.workers * one) * 100,
      static_cast<long long>(r->messages), r->push_bytes_per_worker_step / 1e6, r->wall_seconds);
  return 0;
}

int Main() {
  Calibration cal;
  cal.source = "defaults";
  if (!absl::GetFlag(FLAGS_calibration).empty()) {
    auto loaded = LoadCalibration(absl::GetFlag(FLAGS_calibration));
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
      return 1;
    }
    cal = *loaded;
  }
  std::printf("calibration: %s\n", cal.source.c_str());
  if (absl::GetFlag(FLAGS_check)) {
    if (int rc = Check(cal); rc != 0) return rc;
  }
  if (absl::GetFlag(FLAGS_sweep)) return Sweep(cal);
  if (!absl::GetFlag(FLAGS_check)) return One(cal);
  return 0;
}

}  // namespace
}  // namespace psd::sim

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return psd::sim::Main();
}
