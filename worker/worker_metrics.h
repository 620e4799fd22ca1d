// A worker's Prometheus metrics (docs/observability.md, "Workers").
//
// Each job a worker trains owns its figures (WorkerJobMetrics, created with its session when
// metrics are on): the trainer and the parameter-server client update them through the
// pointer they were given, with no lookup and no lock beyond prometheus-cpp's atomics.
// WorkerMetrics reports at a scrape the jobs whose figures are still alive.
#ifndef PSD_WORKER_WORKER_METRICS_H_
#define PSD_WORKER_WORKER_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace psd {

// The phases of a training step (worker/trainer.cc).
enum class StepPhase {
  kData,      // the mini-batch read and normalised
  kForward,   // forward pass and loss, up to the first gradient (last layer's)
  kBackward,  // the rest of the backward pass, less the time spent starting pushes
  kPush,      // starting each tensor's push+pull RPCs (encoding, the client's window)
  kWait,      // waiting for every push+pull of the step to complete
  kPull,      // the pulled parameters loaded into the model
  kCount,
};
const char* PhaseName(StepPhase p);

struct WorkerServerMetrics {
  WorkerServerMetrics();
  prometheus::Counter push_bytes, pull_bytes;
  prometheus::Counter rpcs, retries;
  // RPCs that failed for good, by absl::StatusCode (0..16); reported where not 0.
  std::array<prometheus::Counter, 17> errors;
  prometheus::Histogram rpc_seconds;  // one chunk RPC attempt, sent to completion
};

struct WorkerJobMetrics {
  WorkerJobMetrics(std::string job, int rank, int servers);

  const std::string job;
  const int rank;
  prometheus::Counter steps, samples;
  prometheus::Gauge max_staleness;  // largest staleness the servers reported (steps)
  prometheus::Histogram step_seconds;
  std::array<prometheus::Histogram, static_cast<size_t>(StepPhase::kCount)> phase_seconds;
  std::vector<std::unique_ptr<WorkerServerMetrics>> servers;  // by server rank

  prometheus::Histogram& phase(StepPhase p) { return phase_seconds[static_cast<size_t>(p)]; }
};

// The worker daemon's: the jobs it trains now. Thread-safe.
class WorkerMetrics : public prometheus::Collectable {
 public:
  // A new job's figures, reported while the caller keeps them.
  std::shared_ptr<WorkerJobMetrics> StartJob(const std::string& job, int rank, int servers);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<std::weak_ptr<WorkerJobMetrics>> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace psd

#endif  // PSD_WORKER_WORKER_METRICS_H_
