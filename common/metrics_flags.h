// --metrics_port and --metrics_address, shared by the daemons: the Prometheus endpoint
// (common/metrics_exposer.h), off by default.
#ifndef PSD_COMMON_METRICS_FLAGS_H_
#define PSD_COMMON_METRICS_FLAGS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics_exposer.h"

namespace psd {

// The exposer on --metrics_address:--metrics_port serving this process's figures
// (common/process_metrics.h, labelled role=`role`), with the bound port logged; nullptr when
// --metrics_port is 0 (the default).
absl::StatusOr<std::unique_ptr<MetricsExposer>> StartMetricsFromFlags(const std::string& role);

// Whether --metrics_port asks for metrics (components record their figures only then).
bool MetricsEnabledFromFlags();

}  // namespace psd

#endif  // PSD_COMMON_METRICS_FLAGS_H_
