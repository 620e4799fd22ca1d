#include "worker/trace_uploader.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/trace_proto.h"

namespace psd {

void TraceUploader::OnProgress(absl::Time t0, absl::Time t1, const ReportProgressResponse& response,
                               int64_t steps_done) {
  const TraceSteps& asked = response.trace();
  if (asked.trace_id() > 0 && asked.trace_id() != steps_.trace_id() &&
      asked.trace_id() != last_done_id_) {
    steps_ = asked;
    offset_ = ClockOffset();
    armed_step_ = std::max(steps_done, asked.first_step());
    recorder_->Arm(job_id_, asked.first_step(), asked.last_step());
    spdlog::info("job {}: tracing steps {}-{}{}", job_id_, asked.first_step(), asked.last_step(),
                 steps_done > asked.first_step()
                     ? absl::StrCat(" (from step ", steps_done, ": the earlier ones have run)")
                     : "");
  }
  if (steps_.trace_id() == 0) return;
  if (response.coordinator_time_us() > 0) {
    const ClockSample sample{TraceMicros(t0), response.coordinator_time_us(), TraceMicros(t1)};
    offset_ = BetterClockOffset(offset_, EstimateClockOffset({&sample, 1}));
  }
  // steps_done counts steps, so step last_step is done once steps_done passes it.
  if (steps_done > steps_.last_step()) Upload();
}

void TraceUploader::Upload() {
  recorder_->Disarm();
  TraceRecorder::Taken taken = recorder_->Take();
  TraceReport part;
  part.set_job_id(job_id_);
  part.set_worker_rank(rank_);
  part.set_generation(generation_);
  part.set_trace_id(steps_.trace_id());
  part.set_dropped(taken.dropped);
  // The worker's clock less the coordinator's.
  part.set_clock_offset_us(-offset_.offset_us);
  part.set_clock_error_us(offset_.valid ? offset_.error_us : -1);
  part.set_armed_step(armed_step_);
  const TraceReport header = part;
  size_t parts = 0;
  int64_t bytes = 0;
  auto send = [&](bool last) {
    part.set_last(last);
    ++parts;
    if (absl::Status s = link_->ReportTrace(part); !s.ok()) {
      spdlog::warn("job {}: trace of steps {}-{} not delivered: {}", job_id_, steps_.first_step(),
                   steps_.last_step(), std::string(s.message()));
    }
    part = header;
    bytes = 0;
  };
  for (const TraceEvent& e : taken.events) {
    TimelineEvent* out = part.add_events();
    ToProto(e, out);
    bytes += static_cast<int64_t>(out->ByteSizeLong()) + 4;
    if (bytes >= kMaxPartBytes) send(false);
  }
  send(true);
  spdlog::info("job {}: trace of steps {}-{} sent: {} events in {} parts ({} dropped)", job_id_,
               steps_.first_step(), steps_.last_step(), taken.events.size(), parts, taken.dropped);
  last_done_id_ = steps_.trace_id();
  steps_ = TraceSteps();
}

}  // namespace psd
