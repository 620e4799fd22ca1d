#include "common/metrics_exposer.h"

#include <prometheus/exposer.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace psd {

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(const std::string& host,
                                                                      int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics port ", port, " is out of range"));
  }
  // An IPv6 literal goes in brackets for civetweb's listening_ports.
  const std::string address = host.find(':') != std::string::npos
                                  ? absl::StrCat("[", host, "]:", port)
                                  : absl::StrCat(host, ":", port);
  std::unique_ptr<MetricsExposer> e(new MetricsExposer);
  // prometheus-cpp reports a failed bind by throwing (from CivetServer); it stops here.
  try {
    e->exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& ex) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", address, ": ", ex.what()));
  }
  const std::vector<int> ports = e->exposer_->GetListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics: no port bound for ", address));
  }
  e->port_ = ports[0];
  return e;
}

MetricsExposer::~MetricsExposer() = default;

void MetricsExposer::Register(std::shared_ptr<prometheus::Collectable> c) {
  exposer_->RegisterCollectable(c);
  kept_.push_back(std::move(c));
}

}  // namespace psd
