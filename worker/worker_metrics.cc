#include "worker/worker_metrics.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace psd {

const char* PhaseName(StepPhase p) {
  switch (p) {
    case StepPhase::kData:
      return "data";
    case StepPhase::kForward:
      return "forward";
    case StepPhase::kBackward:
      return "backward";
    case StepPhase::kPush:
      return "push";
    case StepPhase::kWait:
      return "wait";
    case StepPhase::kPull:
      return "pull";
    case StepPhase::kCount:
      break;
  }
  return "?";
}

WorkerServerMetrics::WorkerServerMetrics() : rpc_seconds(LatencyBuckets()) {}

namespace {
template <size_t... I>
std::array<prometheus::Histogram, sizeof...(I)> Histograms(std::index_sequence<I...>) {
  return {((void)I, prometheus::Histogram(LatencyBuckets()))...};
}
}  // namespace

WorkerJobMetrics::WorkerJobMetrics(std::string job_id, int worker_rank, int num_servers)
    : job(std::move(job_id)),
      rank(worker_rank),
      step_seconds(LatencyBuckets()),
      phase_seconds(
          Histograms(std::make_index_sequence<static_cast<size_t>(StepPhase::kCount)>())) {
  for (int s = 0; s < num_servers; ++s) servers.push_back(std::make_unique<WorkerServerMetrics>());
}

std::shared_ptr<WorkerJobMetrics> WorkerMetrics::StartJob(const std::string& job, int rank,
                                                          int servers) {
  auto m = std::make_shared<WorkerJobMetrics>(job, rank, servers);
  absl::MutexLock lock(&mu_);
  jobs_.push_back(m);
  return m;
}

std::vector<prometheus::MetricFamily> WorkerMetrics::Collect() const {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  std::vector<std::shared_ptr<WorkerJobMetrics>> jobs;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::weak_ptr<WorkerJobMetrics>> alive;
    for (auto& w : jobs_) {
      if (auto j = w.lock()) {
        jobs.push_back(std::move(j));
        alive.push_back(w);
      }
    }
    jobs_ = std::move(alive);
  }
  std::vector<MetricFamily> out;
  std::map<std::string, size_t> index;
  auto add = [&](const char* name, const char* help, MetricType type,
                 std::vector<ClientMetric::Label> labels, ClientMetric m) {
    auto [it, added] = index.emplace(name, out.size());
    if (added) out.push_back({name, help, type, {}});
    m.label = std::move(labels);
    out[it->second].metric.push_back(std::move(m));
  };
  const auto C = MetricType::Counter;
  const auto H = MetricType::Histogram;
  for (const auto& j : jobs) {
    const std::vector<ClientMetric::Label> labels = {
        {"job", j->job}, {"role", "worker"}, {"worker", absl::StrCat(j->rank)}};
    add("psd_worker_steps_total", "Training steps completed.", C, labels, j->steps.Collect());
    add("psd_worker_samples_total", "Training examples processed.", C, labels,
        j->samples.Collect());
    add("psd_worker_max_staleness",
        "Largest staleness (steps) of the parameters this worker pulled (async, ssp).",
        MetricType::Gauge, labels, j->max_staleness.Collect());
    add("psd_worker_step_seconds", "Time of one training step, all phases.", H, labels,
        j->step_seconds.Collect());
    for (size_t p = 0; p < j->phase_seconds.size(); ++p) {
      auto l = labels;
      l.push_back({"phase", PhaseName(static_cast<StepPhase>(p))});
      add("psd_worker_step_phase_seconds",
          "Time of one phase of a training step (data, forward, backward, push, wait, pull).", H,
          std::move(l), j->phase_seconds[p].Collect());
    }
    for (size_t s = 0; s < j->servers.size(); ++s) {
      auto l = labels;
      l.push_back({"server", absl::StrCat(s)});
      const WorkerServerMetrics& m = *j->servers[s];
      add("psd_worker_push_bytes_total", "Gradient payload bytes sent to the server.", C, l,
          m.push_bytes.Collect());
      add("psd_worker_pull_bytes_total", "Parameter payload bytes received from the server.", C, l,
          m.pull_bytes.Collect());
      add("psd_worker_rpcs_total", "Chunk RPC attempts to the server, retries included.", C, l,
          m.rpcs.Collect());
      add("psd_worker_rpc_retries_total", "Chunk RPCs retried (server unavailable).", C, l,
          m.retries.Collect());
      for (size_t code = 0; code < m.errors.size(); ++code) {
        if (m.errors[code].Value() == 0) continue;
        auto lc = l;
        lc.push_back({"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))});
        add("psd_worker_rpc_errors_total", "Chunk RPCs that failed for good, by status code.", C,
            std::move(lc), m.errors[code].Collect());
      }
      add("psd_worker_rpc_seconds",
          "Latency of one chunk RPC attempt (push, pull or push+pull), sent to completion.", H, l,
          m.rpc_seconds.Collect());
    }
  }
  return out;
}

}  // namespace psd
