// The HTTP endpoint Prometheus scrapes (prometheus-cpp's pull exposer, GET /metrics in the
// text format), and what it serves: registries and scrape-time collectables.
#ifndef PSD_COMMON_METRICS_EXPOSER_H_
#define PSD_COMMON_METRICS_EXPOSER_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace psd {

class MetricsExposer {
 public:
  // Listens on `host`:`port` (port 0: any free port; see port()). Unavailable when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(const std::string& host, int port);
  ~MetricsExposer();

  // The port actually bound.
  int port() const { return port_; }
  // Serves `c` on /metrics from now on; the exposer keeps it alive.
  void Register(std::shared_ptr<prometheus::Collectable> c);

 private:
  MetricsExposer() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<std::shared_ptr<prometheus::Collectable>> kept_;
  int port_ = 0;
};

}  // namespace psd

#endif  // PSD_COMMON_METRICS_EXPOSER_H_
