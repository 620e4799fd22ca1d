#include "server/job_metrics.h"

#include "common/metrics.h"

namespace psd {

const prometheus::Histogram::BucketBoundaries& StalenessBuckets() {
  static const auto* b =
      new prometheus::Histogram::BucketBoundaries{0, 1, 2, 4, 8, 16, 32, 64, 128, 256};
  return *b;
}

ServerJobMetrics::ServerJobMetrics()
    : push_seconds(LatencyBuckets()),
      pull_seconds(LatencyBuckets()),
      pull_wait_seconds(LatencyBuckets()),
      apply_seconds(LatencyBuckets()),
      staleness(StalenessBuckets()),
      checkpoint_seconds(LatencyBuckets()) {}

}  // namespace psd
