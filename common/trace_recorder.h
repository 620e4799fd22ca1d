// A step timeline recorder: complete events (name, track, start, duration, numeric args) of a
// job's steps in an armed window [first, last], kept in memory for `psdctl trace`
// (docs/observability.md, "Step timelines").
//
//   if (recorder->Wants(step)) recorder->Record({...});
//
// Off (not armed), Wants() is one relaxed atomic load: the hot path pays nothing else. Armed,
// events of steps outside the window are not kept, and beyond `max_events` they are dropped and
// counted. Thread-safe.
#ifndef PSD_COMMON_TRACE_RECORDER_H_
#define PSD_COMMON_TRACE_RECORDER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace psd {

// Events one node keeps for one trace at most (beyond it they are dropped and counted).
inline constexpr int64_t kDefaultMaxTraceEvents = 200000;
// The widest window `psdctl trace` accepts, in steps.
inline constexpr int64_t kMaxTraceSteps = 1000;

// One complete event ("ph":"X") on this node's clock.
struct TraceEvent {
  std::string name;   // "forward", "push", "PushPull"
  std::string track;  // "phases", "rpc server 1", "requests"
  int64_t step = 0;
  int64_t start_us = 0;  // microseconds since the Unix epoch, on the recording node's clock
  int64_t dur_us = 0;
  std::vector<std::pair<std::string, int64_t>> args;  // ("server", 1), ("bytes", 4096)
};

// Microseconds since the Unix epoch of `t` (the stamp every recorder uses).
inline int64_t TraceMicros(absl::Time t) { return absl::ToUnixMicros(t); }

class TraceRecorder {
 public:
  explicit TraceRecorder(int64_t max_events = kDefaultMaxTraceEvents) : max_events_(max_events) {}
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  // Records `job_id`'s steps first..last from now on; drops what an earlier window kept.
  void Arm(absl::string_view job_id, int64_t first, int64_t last);
  // Stops recording (what was kept stays until Take()).
  void Disarm();

  // True while armed; one relaxed load.
  bool armed() const { return armed_.load(std::memory_order_relaxed); }
  // Whether an event of `step` would be kept: one relaxed load when not armed.
  bool Wants(int64_t step) const {
    return armed_.load(std::memory_order_relaxed) &&
           step >= first_.load(std::memory_order_relaxed) &&
           step <= last_.load(std::memory_order_relaxed);
  }
  // Wants(step), for `job_id` (a server serves one job at a time, but a late request of an
  // ended job must not land in the next one's trace).
  bool Wants(absl::string_view job_id, int64_t step) const;

  // Keeps `event` if Wants(event.step), up to the cap.
  void Record(TraceEvent event);

  struct Window {
    std::string job_id;
    int64_t first = 0, last = -1;
    bool armed = false;
  };
  Window window() const;

  struct Taken {
    std::vector<TraceEvent> events;
    int64_t dropped = 0;  // events beyond the cap
  };
  // Everything kept so far (and the count dropped); the recorder keeps nothing after it.
  Taken Take();

 private:
  const int64_t max_events_;
  std::atomic<bool> armed_{false};
  std::atomic<int64_t> first_{0}, last_{-1};
  mutable absl::Mutex mu_;
  std::string job_id_ ABSL_GUARDED_BY(mu_);
  std::vector<TraceEvent> events_ ABSL_GUARDED_BY(mu_);
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace psd

#endif  // PSD_COMMON_TRACE_RECORDER_H_
