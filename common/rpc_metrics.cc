#include "common/rpc_metrics.h"

#include <vector>

#include "common/metrics.h"

namespace psd {

std::shared_ptr<prometheus::Collectable> DenialMetrics(const Authorizer* authz,
                                                       const std::string& role) {
  return std::make_shared<CallbackCollectable>([authz, role]() {
    FamilyBuilder f("psd_rpc_denied_total",
                    "Calls refused by authorisation (docs/security.md), by method.",
                    prometheus::MetricType::Counter);
    for (const auto& [method, n] : authz->denials()) {
      f.Add({{"role", role}, {"method", method}}, static_cast<double>(n));
    }
    std::vector<prometheus::MetricFamily> out;
    out.push_back(std::move(f).Build());
    return out;
  });
}

}  // namespace psd
