// The HTTP endpoint Prometheus scrapes (GET /metrics, the text exposition format written by
// prometheus-cpp's TextSerializer), and what it serves: registries and scrape-time
// collectables.
//
// Not prometheus-cpp's own Exposer (civetweb; see common/http_server.h for why): one thread of
// an HttpServer serves one scrape at a time (Prometheus scrapes each target serially).
#ifndef PSD_COMMON_METRICS_EXPOSER_H_
#define PSD_COMMON_METRICS_EXPOSER_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/http_server.h"

namespace psd {

class MetricsExposer {
 public:
  // Listens on `host`:`port` (an IPv4 or IPv6 literal, or a name; port 0: any free port, see
  // port()). Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(const std::string& host, int port);
  // Stops serving; a scrape in progress finishes first.
  ~MetricsExposer();

  // The port actually bound.
  int port() const { return port_; }
  // Serves `c` on /metrics from now on; the exposer keeps it alive.
  void Register(std::shared_ptr<prometheus::Collectable> c);
  // The text /metrics serves now (what a scrape would get).
  std::string Render() const;

 private:
  MetricsExposer() = default;

  int port_ = 0;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> http_;  // last: stopped before the collectables go
};

}  // namespace psd

#endif  // PSD_COMMON_METRICS_EXPOSER_H_
