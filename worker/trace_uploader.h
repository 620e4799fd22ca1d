// A worker's side of `psdctl trace`: a progress report's answer may ask for steps A-B; the
// uploader arms the worker's TraceRecorder, estimates the worker's clock offset from each
// report's round trip, and once the worker has passed step B sends the events to the
// coordinator (ReportTrace, in parts that fit its request limit).
#ifndef PSD_WORKER_TRACE_UPLOADER_H_
#define PSD_WORKER_TRACE_UPLOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/clock_offset.h"
#include "common/trace_recorder.h"
#include "node/coordinator_link.h"
#include "proto/coordinator.pb.h"

namespace psd {

class TraceUploader {
 public:
  // One job run: `link` and `recorder` must outlive it.
  TraceUploader(CoordinatorLink* link, std::shared_ptr<TraceRecorder> recorder, std::string job_id,
                int rank, int64_t generation)
      : link_(link),
        recorder_(std::move(recorder)),
        job_id_(std::move(job_id)),
        rank_(rank),
        generation_(generation) {}
  ~TraceUploader() { recorder_->Disarm(); }

  // After each progress report: sent at `t0`, answered at `t1`, `steps_done` steps completed.
  void OnProgress(absl::Time t0, absl::Time t1, const ReportProgressResponse& response,
                  int64_t steps_done);

  // The largest ReportTrace part, in bytes of events (the coordinator takes requests of a
  // little over 1 MiB).
  static constexpr int64_t kMaxPartBytes = 512 << 10;

 private:
  void Upload();

  CoordinatorLink* const link_;
  const std::shared_ptr<TraceRecorder> recorder_;
  const std::string job_id_;
  const int rank_;
  const int64_t generation_;
  TraceSteps steps_;          // trace_id 0: none running here
  int64_t last_done_id_ = 0;  // the trace uploaded last: never armed again
  int64_t armed_step_ = 0;
  ClockOffset offset_;  // coordinator clock - worker clock
};

}  // namespace psd

#endif  // PSD_WORKER_TRACE_UPLOADER_H_
