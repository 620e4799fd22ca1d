#include "common/metrics_flags.h"

#include "absl/flags/flag.h"
#include "common/log.h"
#include "common/process_metrics.h"

ABSL_FLAG(int, metrics_port, 0,
          "Serve Prometheus metrics on this port (GET /metrics); 0: off. See "
          "docs/observability.md.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "Address the metrics port listens on (0.0.0.0 for every interface, e.g. in a pod).");

namespace psd {

bool MetricsEnabledFromFlags() { return absl::GetFlag(FLAGS_metrics_port) != 0; }

absl::StatusOr<std::unique_ptr<MetricsExposer>> StartMetricsFromFlags(const std::string& role) {
  const int port = absl::GetFlag(FLAGS_metrics_port);
  if (port == 0) return nullptr;
  const std::string host = absl::GetFlag(FLAGS_metrics_address);
  auto exposer = MetricsExposer::Start(host, port);
  if (!exposer.ok()) return exposer.status();
  (*exposer)->Register(ProcessMetrics(role));
  spdlog::info("metrics on http://{}:{}/metrics", host, (*exposer)->port());
  return exposer;
}

}  // namespace psd
