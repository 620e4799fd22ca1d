// Writes checkpoints on a thread of its own, so that pushes never wait for the disk.
#ifndef PSD_SERVER_CHECKPOINT_WRITER_H_
#define PSD_SERVER_CHECKPOINT_WRITER_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/placement.h"
#include "server/checkpoint.h"
#include "server/job_metrics.h"
#include "server/table_checkpoint.h"

namespace psd {

class CheckpointWriter {
 public:
  struct Task {
    std::string dir;  // checkpoint.dir
    int keep = 3;     // complete checkpoints kept per job and rank
    CheckpointMeta meta;
    std::shared_ptr<const Placement> placement;
    std::vector<ChunkSnapshot> chunks;
    std::shared_ptr<ServerJobMetrics> metrics;  // the job's, when metrics are on
    // Sparse models: the table's rows at meta.step, written before the manifest, and a call
    // (on the writer's thread) with how the write went.
    std::shared_ptr<const TableSnapshot> table;
    std::function<void(const absl::Status&)> table_written;
  };
  // Called on the writer's thread after each write (or failure to write).
  using DoneFn = std::function<void(const CheckpointMeta& meta, const absl::Status& status)>;

  explicit CheckpointWriter(DoneFn done);
  // Writes what is queued, then stops.
  ~CheckpointWriter();

  void Enqueue(Task task);

 private:
  void Loop();

  DoneFn done_;
  absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace psd

#endif  // PSD_SERVER_CHECKPOINT_WRITER_H_
