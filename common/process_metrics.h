// The process's own figures, read from /proc/self at scrape time: resident memory, CPU
// seconds, threads (docs/observability.md, "Every daemon").
#ifndef PSD_COMMON_PROCESS_METRICS_H_
#define PSD_COMMON_PROCESS_METRICS_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace psd {

struct ProcessFigures {
  double resident_bytes = 0;
  double cpu_seconds = 0;  // user + system
  double threads = 0;
};

// This process's figures now; Unavailable where /proc cannot be read.
absl::StatusOr<ProcessFigures> ReadProcessFigures();

// psd_process_resident_memory_bytes, psd_process_cpu_seconds_total and psd_process_threads,
// each labelled role=`role` ("server", "worker", "coordinator").
std::shared_ptr<prometheus::Collectable> ProcessMetrics(const std::string& role);

}  // namespace psd

#endif  // PSD_COMMON_PROCESS_METRICS_H_
