// The calls an Authorizer (common/rpc_policy.h) refused, by method, as a Prometheus counter
// read at scrape time: psd_rpc_denied_total{role, method}.
#ifndef PSD_COMMON_RPC_METRICS_H_
#define PSD_COMMON_RPC_METRICS_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>

#include "common/rpc_policy.h"

namespace psd {

// `authz` must outlive every scrape of the result (stop the exposer first).
std::shared_ptr<prometheus::Collectable> DenialMetrics(const Authorizer* authz,
                                                       const std::string& role);

}  // namespace psd

#endif  // PSD_COMMON_RPC_METRICS_H_
