// A CoordinatorLink for tests of a daemon's node logic: records what the node says, and
// answers barriers at once and checkpoint requests as told.
#ifndef PSD_NODE_FAKE_COORDINATOR_LINK_H_
#define PSD_NODE_FAKE_COORDINATOR_LINK_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "node/coordinator_link.h"

namespace psd::testing {

class FakeCoordinatorLink : public CoordinatorLink {
 public:
  absl::StatusOr<bool> ReportProgress(ProgressReport report) override {
    absl::MutexLock lock(&mu_);
    progress_.push_back(std::move(report));
    return false;
  }
  absl::Status ReportTask(TaskReport report, absl::Duration) override {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(report));
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> RequestCheckpoint(const std::string& job_id) override {
    absl::MutexLock lock(&mu_);
    checkpoint_requests_.push_back(job_id);
    return checkpoint_step_;
  }
  absl::StatusOr<bool> Barrier(const std::string&, const std::string& name, absl::Duration,
                               Role) override {
    absl::MutexLock lock(&mu_);
    barriers_.push_back(name);
    return true;
  }

  // The first task report of `kind`, waiting up to `timeout` for it.
  std::optional<TaskReport> WaitFor(TaskReport::Kind kind, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return Find(kind) != nullptr; };
    mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
    const TaskReport* r = Find(kind);
    return r == nullptr ? std::nullopt : std::optional<TaskReport>(*r);
  }
  std::vector<TaskReport> tasks() {
    absl::MutexLock lock(&mu_);
    return tasks_;
  }
  size_t progress_reports() {
    absl::MutexLock lock(&mu_);
    return progress_.size();
  }
  std::vector<int64_t> progress_steps() {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> steps;
    for (const ProgressReport& r : progress_) steps.push_back(r.progress().step());
    return steps;
  }
  // What RequestCheckpoint answers (the step the coordinator picks, or an error).
  void set_checkpoint_step(absl::StatusOr<int64_t> step) {
    absl::MutexLock lock(&mu_);
    checkpoint_step_ = std::move(step);
  }
  std::vector<std::string> checkpoint_requests() {
    absl::MutexLock lock(&mu_);
    return checkpoint_requests_;
  }
  std::vector<std::string> barriers() {
    absl::MutexLock lock(&mu_);
    return barriers_;
  }

 private:
  const TaskReport* Find(TaskReport::Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const TaskReport& r : tasks_) {
      if (r.kind() == kind) return &r;
    }
    return nullptr;
  }
  absl::Mutex mu_;
  std::vector<TaskReport> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<ProgressReport> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> barriers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> checkpoint_requests_ ABSL_GUARDED_BY(mu_);
  absl::StatusOr<int64_t> checkpoint_step_ ABSL_GUARDED_BY(mu_) = int64_t{0};
};

}  // namespace psd::testing

#endif  // PSD_NODE_FAKE_COORDINATOR_LINK_H_
