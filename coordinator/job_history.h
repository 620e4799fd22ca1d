// A bounded history of each job's progress for the web console's charts: at most
// `max_points` points per job (when full, every other point is dropped, so the history still
// spans the whole job at half the resolution) and at most `max_jobs` jobs (the one updated
// least recently goes first). Thread-safe.
#ifndef PSD_COORDINATOR_JOB_HISTORY_H_
#define PSD_COORDINATOR_JOB_HISTORY_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace psd {

struct HistoryPoint {
  int64_t step = 0;
  double loss = 0;
  double test_accuracy = -1;  // negative: none yet
  double samples_per_sec = 0;
  double wall_seconds = 0;  // since the job started
};

class JobHistory {
 public:
  explicit JobHistory(size_t max_points = 2048, size_t max_jobs = 64);

  // Appends `point`; a point at the last point's step replaces it, and one at an earlier step
  // (a recovery rolled the job back) first drops the points after it.
  void Add(const std::string& job_id, const HistoryPoint& point) ABSL_LOCKS_EXCLUDED(mu_);
  // The job's points after `since_step`, oldest first, at most `limit` (the oldest of them);
  // empty for an unknown job.
  std::vector<HistoryPoint> Since(const std::string& job_id, int64_t since_step, size_t limit) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Series {
    std::vector<HistoryPoint> points;
    int64_t touched = 0;  // the value of `clock_` at the last Add
  };
  const size_t max_points_, max_jobs_;
  mutable absl::Mutex mu_;
  std::map<std::string, Series> jobs_ ABSL_GUARDED_BY(mu_);
  int64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_JOB_HISTORY_H_
