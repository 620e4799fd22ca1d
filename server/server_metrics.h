// What a parameter server reports at a scrape (docs/observability.md, "Servers"): for each job
// served now, its hot-path figures (server/job_metrics.h) and its store's statistics
// (staleness, non-finite gradients, waiting pulls, step), labelled job and server (the rank).
#ifndef PSD_SERVER_SERVER_METRICS_H_
#define PSD_SERVER_SERVER_METRICS_H_

#include <prometheus/collectable.h>

#include <memory>

namespace psd {

class JobRegistry;

// `registry` must outlive every scrape (stop the exposer first).
std::shared_ptr<prometheus::Collectable> ServerMetrics(const JobRegistry* registry);

}  // namespace psd

#endif  // PSD_SERVER_SERVER_METRICS_H_
