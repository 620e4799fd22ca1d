#include "common/metrics_exposer.h"

#include <prometheus/text_serializer.h>

#include <utility>

namespace psd {

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(const std::string& host,
                                                                      int port) {
  std::unique_ptr<MetricsExposer> e(new MetricsExposer);
  HttpServerOptions options;
  options.name = "metrics";
  options.not_found = "psd serves /metrics";
  options.routes["/metrics"] = [p = e.get()](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = p->Render();
    return r;
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(host, port, std::move(options));
  if (!http.ok()) return http.status();
  e->http_ = *std::move(http);
  e->port_ = e->http_->port();
  return e;
}

MetricsExposer::~MetricsExposer() { http_.reset(); }

void MetricsExposer::Register(std::shared_ptr<prometheus::Collectable> c) {
  absl::MutexLock lock(&mu_);
  collectables_.push_back(std::move(c));
}

std::string MetricsExposer::Render() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> all;
  {
    absl::MutexLock lock(&mu_);
    all = collectables_;
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : all) {
    for (auto& f : c->Collect()) families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace psd
