#include "server/checkpoint_writer.h"

#include <new>

#include "absl/time/clock.h"
#include "common/log.h"

namespace psd {

CheckpointWriter::CheckpointWriter(DoneFn done)
    : done_(std::move(done)), thread_([this] { Loop(); }) {}

CheckpointWriter::~CheckpointWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void CheckpointWriter::Enqueue(Task task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

void CheckpointWriter::Loop() {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CheckpointWriter* w)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return w->stopping_ || !w->queue_.empty(); },
          this));
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    const absl::Time start = absl::Now();
    const std::string step_dir = CheckpointStepDir(task.dir, task.meta.job_id, task.meta.step);
    absl::Status status;
    try {
      status = WriteCheckpoint(step_dir, task.meta, *task.placement, task.chunks);
    } catch (const std::bad_alloc&) {
      status = absl::ResourceExhaustedError("out of memory while writing the checkpoint");
    }
    if (status.ok()) {
      spdlog::info("job {}: checkpoint of step {} written to {}/server-{} in {:.0f} ms",
                   task.meta.job_id, task.meta.step, step_dir, task.meta.rank,
                   absl::ToDoubleMilliseconds(absl::Now() - start));
      PruneCheckpoints(task.dir, task.meta.job_id, task.meta.rank, task.keep);
    } else {
      spdlog::error("job {}: checkpoint of step {} failed: {}", task.meta.job_id, task.meta.step,
                    status);
    }
    if (done_) done_(task.meta, status);
  }
}

}  // namespace psd
