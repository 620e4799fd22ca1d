#include "server/checkpoint_writer.h"

#include <filesystem>
#include <new>
#include <system_error>

#include "absl/time/clock.h"
#include "common/checkpoint_layout.h"
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

namespace {

// Duration and bytes on disk (data file and manifest) of one server's checkpoint.
void RecordCheckpoint(const std::string& step_dir, int rank, absl::Time start,
                      const absl::Status& status, ServerJobMetrics& m) {
  if (!status.ok()) {
    m.checkpoints_failed.Increment();
    return;
  }
  m.checkpoint_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
  m.checkpoints.Increment();
  for (const std::string& f :
       {CheckpointDataFile(step_dir, rank), CheckpointManifestFile(step_dir, rank),
        CheckpointTableFile(step_dir, rank)}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(f, ec);
    if (!ec) m.checkpoint_bytes.Increment(static_cast<double>(size));
  }
}

}  // namespace

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
      if (task.table == nullptr) {
        status = WriteCheckpoint(step_dir, task.meta, *task.placement, task.chunks);
      } else {
        // The table first: the manifest, written last, records it.
        absl::StatusOr<TableFileInfo> info =
            WriteTableFile(CheckpointTableFile(step_dir, task.meta.rank), *task.table);
        status = info.status();
        if (info.ok()) {
          const ManifestTable entry{info->bytes, info->crc32c, task.table->header.full,
                                    task.table->header.base_step};
          status = WriteCheckpoint(step_dir, task.meta, *task.placement, task.chunks, &entry);
        }
      }
    } catch (const std::bad_alloc&) {
      status = absl::ResourceExhaustedError("out of memory while writing the checkpoint");
    }
    if (task.metrics != nullptr)
      RecordCheckpoint(step_dir, task.meta.rank, start, status, *task.metrics);
    if (status.ok()) {
      spdlog::info("job {}: checkpoint of step {} written to {}/server-{} in {:.0f} ms",
                   task.meta.job_id, task.meta.step, step_dir, task.meta.rank,
                   absl::ToDoubleMilliseconds(absl::Now() - start));
      PruneCheckpoints(task.dir, task.meta.job_id, task.meta.rank, task.keep);
    } else {
      spdlog::error("job {}: checkpoint of step {} failed: {}", task.meta.job_id, task.meta.step,
                    status);
    }
    if (task.table_written) task.table_written(status);
    if (done_) done_(task.meta, status);
  }
}

}  // namespace psd
