// What the coordinator reports at a scrape (docs/observability.md, "Coordinator"): jobs by
// state, nodes by role and state, job submissions accepted and refused, read from the job
// manager and the service when Prometheus asks.
#ifndef PSD_COORDINATOR_COORDINATOR_METRICS_H_
#define PSD_COORDINATOR_COORDINATOR_METRICS_H_

#include <prometheus/collectable.h>

#include <memory>

#include "coordinator/job_manager.h"
#include "coordinator/service.h"

namespace psd {

// Both must outlive every scrape (stop the exposer first).
std::shared_ptr<prometheus::Collectable> CoordinatorMetrics(JobManager* manager,
                                                            const CoordinatorService* service);

}  // namespace psd

#endif  // PSD_COORDINATOR_COORDINATOR_METRICS_H_
