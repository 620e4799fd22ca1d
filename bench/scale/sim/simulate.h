// A SimGrid model of psd's training step: per worker, forward and backward (calibrated
// compute), each tensor's chunks pushed to their servers as soon as the tensor's gradient is
// ready (psd's placement, common/placement.h), the server summing the pushes of all workers
// for a step and applying the optimizer once (sync), and every chunk's fresh parameters sent
// back in the reply (PushPull). CPU costs of gRPC and of the server's apply run on the hosts'
// cores, so they compete with compute where processes share a machine.
#ifndef PSD_BENCH_SCALE_SIM_SIMULATE_H_
#define PSD_BENCH_SCALE_SIM_SIMULATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/scale/sim/calibration.h"

namespace psd::sim {

enum class ModelKind { kDenseMlp, kEmbedding };

struct ModelConfig {
  std::string name = "mlp";
  ModelKind kind = ModelKind::kDenseMlp;
  std::vector<int> layers = {784, 256, 128, 10};  // dense MLP widths (embedding: the top MLP)
  int fields = 26;                                // embedding: lookups per example
  int dim = 64;                                   // embedding: floats per row
};

struct PlatformConfig {
  // shared: every worker and server on one host of `shared_cores` cores, messages over its
  // loopback (this machine's measured runs); else one host per worker and per server, each
  // with its own full-duplex link to a non-blocking switch.
  bool shared = false;
  int shared_cores = 2;
  double link_bytes_per_second = 25e9 / 8;
  double link_latency = 5e-6;  // one way, host to host
  int worker_cores = 8;
  int server_cores = 8;
};

struct SimConfig {
  ModelConfig model;
  PlatformConfig platform;
  int workers = 1, servers = 1;
  int batch = 64;  // per worker
  int steps = 5;
  int64_t chunk_bytes = 1 << 20;
  // A tensor's chunks on one server travel as at most this many messages (each a run of whole
  // chunks): keeps big models' event count down; 0: one message per chunk, as psd sends them.
  int max_messages_per_group = 4;
  // Worker compute: seconds of data + forward + backward per step; < 0: the model's FLOPs at
  // costs.compute_flops_per_second (the measured model's own step: costs.compute_seconds).
  double compute_seconds = -1;
  Calibration costs;
};

struct SimResult {
  double seconds = 0;          // simulated time of all steps
  double step_seconds = 0;     // seconds / steps
  double samples_per_sec = 0;  // workers * batch / step_seconds
  int64_t messages = 0;        // simulated messages (pushes and replies)
  int64_t push_bytes_per_worker_step = 0;
  double wall_seconds = 0;  // the simulation's own run time
};

// FLOPs of one training step (forward 2, backward 4 per weight per example; the first layer's
// input gradient is not computed).
double StepFlops(const ModelConfig& model, int batch);

// Runs the simulation in a child process (SimGrid keeps one engine per process) and returns
// its result.
absl::StatusOr<SimResult> Simulate(const SimConfig& config);

// The throughput the measured job would have with no parameter server at all: batch /
// compute_seconds (one worker).
double SingleWorkerSamplesPerSec(const SimConfig& config);

}  // namespace psd::sim

#endif  // PSD_BENCH_SCALE_SIM_SIMULATE_H_
