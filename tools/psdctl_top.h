// `psdctl top`: one screen of the cluster — its nodes by role and state, the running and queued
// jobs with their progress, the latest finished ones — rendered from what the coordinator
// answered. Pure; psdctl.cc fetches, redraws on a terminal, or prints plain frames.
#ifndef PSD_TOOLS_PSDCTL_TOP_H_
#define PSD_TOOLS_PSDCTL_TOP_H_

#include <string>

#include "absl/time/time.h"
#include "proto/coordinator.pb.h"

namespace psd {

struct TopView {
  std::string coordinator;  // its address, for the title line
  ListNodesResponse nodes;
  ListJobsResponse jobs;
  // Why the last refresh failed ("" when it did not); the figures are then the previous ones.
  std::string error;
};

// How many finished jobs a frame lists (the most recently submitted).
inline constexpr int kTopFinishedJobs = 5;

// The frame at `now`. `width` > 0 cuts every line to that many columns (a terminal's width);
// 0 leaves lines whole.
std::string TopFrame(const TopView& view, absl::Time now, int width);

}  // namespace psd

#endif  // PSD_TOOLS_PSDCTL_TOP_H_
