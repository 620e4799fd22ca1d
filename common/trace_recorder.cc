#include "common/trace_recorder.h"

namespace psd {

void TraceRecorder::Arm(absl::string_view job_id, int64_t first, int64_t last) {
  absl::MutexLock lock(&mu_);
  armed_.store(false, std::memory_order_relaxed);
  job_id_ = std::string(job_id);
  events_.clear();
  dropped_ = 0;
  first_.store(first, std::memory_order_relaxed);
  last_.store(last, std::memory_order_relaxed);
  armed_.store(true, std::memory_order_release);
}

void TraceRecorder::Disarm() {
  absl::MutexLock lock(&mu_);
  armed_.store(false, std::memory_order_relaxed);
}

bool TraceRecorder::Wants(absl::string_view job_id, int64_t step) const {
  if (!Wants(step)) return false;
  absl::MutexLock lock(&mu_);
  return job_id == job_id_;
}

void TraceRecorder::Record(TraceEvent event) {
  absl::MutexLock lock(&mu_);
  // Checked again under the lock: a Disarm() or Arm() of another window may have come between.
  if (!Wants(event.step)) return;
  if (static_cast<int64_t>(events_.size()) >= max_events_) {
    ++dropped_;
    return;
  }
  events_.push_back(std::move(event));
}

TraceRecorder::Window TraceRecorder::window() const {
  absl::MutexLock lock(&mu_);
  return {job_id_, first_.load(std::memory_order_relaxed), last_.load(std::memory_order_relaxed),
          armed_.load(std::memory_order_relaxed)};
}

TraceRecorder::Taken TraceRecorder::Take() {
  absl::MutexLock lock(&mu_);
  Taken taken;
  taken.events.swap(events_);
  taken.dropped = dropped_;
  dropped_ = 0;
  return taken;
}

}  // namespace psd
