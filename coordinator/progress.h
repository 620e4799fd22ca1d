// A job's progress as the coordinator serves it, aggregated from its workers' reports.
#ifndef PSD_COORDINATOR_PROGRESS_H_
#define PSD_COORDINATOR_PROGRESS_H_

#include <map>
#include <vector>

#include "proto/common.pb.h"

namespace psd {

// Aggregates the latest report of each rank in `live` (ranks without a report are skipped):
// step and epoch = min, samples_per_sec = sum, loss and train_accuracy = mean,
// test_accuracy and test_step from worker 0 (-1 when it has none), max_staleness = max,
// total_steps and epochs = max, live_workers = live.size().
Progress AggregateProgress(const std::map<int, Progress>& latest, const std::vector<int>& live);

}  // namespace psd

#endif  // PSD_COORDINATOR_PROGRESS_H_
