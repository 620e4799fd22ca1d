// One served job's hot-path figures (docs/observability.md, "Servers"): created with the job
// when metrics are on and held by its ServedJob, so the push and pull handlers update them
// through the job they already hold, with no lookup and no lock beyond prometheus-cpp's
// atomics; they go away with the job. server/server_metrics.h reports them at a scrape.
#ifndef PSD_SERVER_JOB_METRICS_H_
#define PSD_SERVER_JOB_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

namespace psd {

struct ServerJobMetrics {
  ServerJobMetrics();

  prometheus::Counter push_requests, pull_requests;  // Pull and PushPull replies
  prometheus::Counter push_errors, pull_errors;      // answered with an error
  prometheus::Counter push_bytes, pull_bytes;        // payload bytes
  prometheus::Histogram push_seconds;                // a push's handling: decode, checks, apply
  prometheus::Histogram pull_seconds;                // a pull from its start to its reply
  prometheus::Histogram pull_wait_seconds;  // of that, waiting for the step (sync/ssp barrier)
  prometheus::Histogram apply_seconds;      // one optimizer update of one chunk
  prometheus::Histogram staleness;          // staleness (steps) a pull was served at
  prometheus::Histogram checkpoint_seconds;
  prometheus::Counter checkpoint_bytes;  // bytes written to disk
  prometheus::Counter checkpoints, checkpoints_failed;
};

// Staleness buckets in steps: 0, 1, 2, 4, ... 256.
const prometheus::Histogram::BucketBoundaries& StalenessBuckets();

}  // namespace psd

#endif  // PSD_SERVER_JOB_METRICS_H_
