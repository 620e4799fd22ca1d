// What a daemon's job logic says to the coordinator while it runs a task. NodeAgent is the
// real link; tests give a daemon's node logic a fake one.
#ifndef PSD_NODE_COORDINATOR_LINK_H_
#define PSD_NODE_COORDINATOR_LINK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"

namespace psd {

class CoordinatorLink {
 public:
  virtual ~CoordinatorLink() = default;
  // Sends a worker's progress once (node_id is filled in). True: the job no longer runs.
  virtual absl::StatusOr<bool> ReportProgress(ProgressReport report) = 0;
  // ReportProgress with the coordinator's whole answer: a trace to record, its clock. The
  // default answers only whether the job was cancelled.
  virtual absl::StatusOr<ReportProgressResponse> ReportProgressFully(ProgressReport report) {
    absl::StatusOr<bool> cancelled = ReportProgress(std::move(report));
    if (!cancelled.ok()) return cancelled.status();
    ReportProgressResponse response;
    response.set_cancelled(*cancelled);
    return response;
  }
  // Sends one part of a worker's step timeline (node_id is filled in).
  virtual absl::Status ReportTrace(TraceReport /*report*/) {
    return absl::UnimplementedError("this coordinator link does not send traces");
  }
  // Sends a task report (node_id is filled in), retrying while the coordinator is
  // unreachable, until `deadline` passes.
  virtual absl::Status ReportTask(TaskReport report, absl::Duration deadline) = 0;
  // Asks the coordinator to checkpoint the job on every server; returns the step it chose.
  virtual absl::StatusOr<int64_t> RequestCheckpoint(const std::string& job_id) = 0;
  // Waits at the job's barrier `name`; true when every live member (of `role`, unless
  // ROLE_UNSPECIFIED) arrived in time; false on timeout or when the job stopped.
  virtual absl::StatusOr<bool> Barrier(const std::string& job_id, const std::string& name,
                                       absl::Duration timeout, Role role) = 0;
};

}  // namespace psd

#endif  // PSD_NODE_COORDINATOR_LINK_H_
