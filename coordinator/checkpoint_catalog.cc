#include "coordinator/checkpoint_catalog.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "common/checkpoint_layout.h"

namespace psd {

CheckpointCatalog::CheckpointCatalog(int num_servers, int keep, std::string resume_from)
    : num_servers_(num_servers),
      keep_(std::max(1, keep)),
      resume_from_(std::move(resume_from)),
      submitted_step_(ParseCheckpointStep(resume_from_).value_or(0)),
      resume_{submitted_step_, resume_from_} {}

CheckpointCatalog CheckpointCatalog::Restore(const JobRecord& rec, int keep) {
  CheckpointCatalog c(static_cast<int>(rec.servers.size()), keep, rec.resume_from);
  c.written_ = rec.checkpoints;
  c.unusable_ = rec.unusable_steps;
  // A running job saved before schema 2 has no resume point: it keeps the submitted start.
  const bool before_schema_2 = rec.info.state() == JOB_RUNNING && rec.info.generation() <= 1 &&
                               rec.resume_step == 0 && rec.resume_dir.empty() &&
                               !rec.resume_from.empty();
  if (!before_schema_2) c.resume_ = {rec.resume_step, rec.resume_dir};
  return c;
}

void CheckpointCatalog::SaveTo(JobRecord& rec) const {
  rec.checkpoints = written_;
  rec.unusable_steps = unusable_;
  rec.resume_step = resume_.step;
  rec.resume_dir = resume_.dir;
}

int CheckpointCatalog::AddWritten(int64_t step, int rank) {
  std::set<int>& ranks = written_[step];
  if (!ranks.insert(rank).second) return 0;
  unusable_.erase(step);
  const int count = static_cast<int>(ranks.size());
  if (count == num_servers_) Prune();
  return count;
}

bool CheckpointCatalog::IsComplete(int64_t step) const {
  auto it = written_.find(step);
  return it != written_.end() && static_cast<int>(it->second.size()) == num_servers_;
}

void CheckpointCatalog::MarkUnusable(int64_t step) { unusable_.insert(step); }

std::optional<ResumePoint> CheckpointCatalog::PickResumePoint() const {
  std::optional<ResumePoint> start;
  if (unusable_.count(submitted_step_) == 0) start = ResumePoint{submitted_step_, resume_from_};
  for (auto it = written_.rbegin(); it != written_.rend(); ++it) {
    if (!IsComplete(it->first) || unusable_.count(it->first) > 0) continue;
    if (start.has_value() && it->first < start->step) break;
    return ResumePoint{it->first, ""};
  }
  return start;
}

void CheckpointCatalog::ResumeFrom(const ResumePoint& point) {
  resume_ = point;
  written_.erase(written_.upper_bound(point.step), written_.end());
}

void CheckpointCatalog::Prune() {
  int complete = 0;
  int64_t oldest_kept = 0;
  for (auto it = written_.rbegin(); it != written_.rend(); ++it) {
    if (IsComplete(it->first) && ++complete == keep_) {
      oldest_kept = it->first;
      break;
    }
  }
  if (complete < keep_) return;
  // Older complete ones are deleted by the servers; older partial ones never complete.
  written_.erase(written_.begin(), written_.lower_bound(oldest_kept));
  // An unusable submitted start stays marked, or PickResumePoint would fall back to it.
  for (auto it = unusable_.begin(); it != unusable_.end();) {
    it = *it < oldest_kept && *it != submitted_step_ ? unusable_.erase(it) : std::next(it);
  }
}

}  // namespace psd
