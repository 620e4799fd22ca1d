// The figures the simulator needs about psd on a machine, measured by bench/scale/calibrate.sh
// (psd_calibrate) and kept in a text file of "key value" lines ('#' starts a comment), plus
// "measured SERVERS WORKERS SAMPLES_PER_SEC" lines: real runs to check the simulator against.
#ifndef PSD_BENCH_SCALE_SIM_CALIBRATION_H_
#define PSD_BENCH_SCALE_SIM_CALIBRATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace psd::sim {

struct MeasuredRun {
  int servers = 0, workers = 0;
  double samples_per_sec = 0;  // the best round's
  double spread = 0;           // (best - worst) / best over the rounds, 0 when one round
};

struct Calibration {
  int machine_cores = 2;  // cores of the machine the runs were measured on
  int batch = 64;         // per worker, of the measured runs and compute figure
  std::vector<int> layers = {784, 256, 128, 10};  // the measured model (MLP widths)
  int64_t chunk_bytes = 1 << 20;
  // Worker: data + forward + backward of one step of `layers` at `batch`, one BLAS thread, s.
  double compute_seconds = 0.002;
  // The rate that implies (model FLOPs per step / compute_seconds), for other models.
  double compute_flops_per_second = 1e10;
  // One gRPC message of n bytes costs rpc_cpu_fixed + rpc_cpu_per_byte * n CPU seconds in all
  // (half on the sender, half on the receiver, at the same time), then rpc_latency wall
  // seconds that use no CPU (wake-ups; on a cluster, added to the link's latency).
  double rpc_cpu_fixed = 30e-6;
  double rpc_cpu_per_byte = 0.5e-9;
  double rpc_latency = 20e-6;
  // What a loopback transfer adds beyond CPU and rpc_latency, per byte, as a bandwidth
  // (bytes/s); 0: nothing. Not used on a cluster (its links' bandwidth is).
  double loopback_bytes_per_second = 0;
  double header_bytes = 128;  // request/reply framing beyond the chunk's values
  // Server: CPU seconds per pushed byte to add a worker's gradient into the step's sum, and
  // per chunk byte to apply the optimizer once the step is complete; per chunk and push fixed.
  double apply_accumulate_per_byte = 0.1e-9;
  double apply_update_per_byte = 0.5e-9;
  double apply_fixed = 2e-6;
  std::vector<MeasuredRun> measured;
  std::string source;  // the file it came from, or "defaults"
};

// Reads a calibration file; unknown keys and bad numbers are errors naming the line.
absl::StatusOr<Calibration> LoadCalibration(const std::string& path);
absl::StatusOr<Calibration> ParseCalibration(const std::string& text, const std::string& source);
// The file's text for `c` (what LoadCalibration reads back).
std::string FormatCalibration(const Calibration& c, const std::string& comment);

}  // namespace psd::sim

#endif  // PSD_BENCH_SCALE_SIM_CALIBRATION_H_
