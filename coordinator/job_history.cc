#include "coordinator/job_history.h"

#include <algorithm>

namespace psd {

JobHistory::JobHistory(size_t max_points, size_t max_jobs)
    : max_points_(std::max<size_t>(max_points, 2)), max_jobs_(std::max<size_t>(max_jobs, 1)) {}

void JobHistory::Add(const std::string& job_id, const HistoryPoint& point) {
  absl::MutexLock lock(&mu_);
  if (jobs_.find(job_id) == jobs_.end() && jobs_.size() >= max_jobs_) {
    auto oldest = std::min_element(jobs_.begin(), jobs_.end(), [](const auto& a, const auto& b) {
      return a.second.touched < b.second.touched;
    });
    jobs_.erase(oldest);
  }
  Series& series = jobs_[job_id];
  series.touched = ++clock_;
  std::vector<HistoryPoint>& p = series.points;
  while (!p.empty() && p.back().step >= point.step) p.pop_back();
  p.push_back(point);
  if (p.size() > max_points_) {
    // Keep the even positions and the newest point.
    size_t kept = 0;
    for (size_t i = 0; i + 1 < p.size(); i += 2) p[kept++] = p[i];
    p[kept++] = p.back();
    p.resize(kept);
  }
}

std::vector<HistoryPoint> JobHistory::Since(const std::string& job_id, int64_t since_step,
                                            size_t limit) const {
  absl::MutexLock lock(&mu_);
  std::vector<HistoryPoint> out;
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return out;
  const std::vector<HistoryPoint>& p = it->second.points;
  auto first = std::upper_bound(p.begin(), p.end(), since_step,
                                [](int64_t step, const HistoryPoint& h) { return step < h.step; });
  for (; first != p.end() && out.size() < limit; ++first) out.push_back(*first);
  return out;
}

}  // namespace psd
