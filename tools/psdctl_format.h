// What psdctl prints: progress lines and bars, job status, tables. Pure functions.
#ifndef PSD_TOOLS_PSDCTL_FORMAT_H_
#define PSD_TOOLS_PSDCTL_FORMAT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"
#include "proto/names.h"

namespace psd {

// The line psdctl prints for a call that failed with gRPC status `code` and `message`:
// "psdctl: MESSAGE", or, when the status carries no message, a line that names the code and the
// coordinator at `address`; never an empty "psdctl: ".
std::string FailureLine(int code, absl::string_view message, absl::string_view address);

// Rows of cells as columns padded to their widest cell, two spaces apart; the last column is
// not padded.
std::string Table(const std::vector<std::vector<std::string>>& rows);
// "2530/9380" (or "2530" when the total is unknown).
std::string StepText(const Progress& progress);
// Whether any progress report has arrived.
bool HasProgress(const Progress& progress);
const char* NodeStateName(NodeState state);
// "45s", "3m12s", "1h02m".
std::string ShortDuration(double seconds);
// "epoch 3/10  step 2530/9380  loss 0.4321  test_acc 0.8712  12345 samples/s  ETA 1m23s";
// "waiting for the first progress report" before there is one.
std::string ProgressLine(const Progress& progress);
// A bar and the progress line, cut to `width` columns: "[=====>    ]  27%  epoch ...".
std::string ProgressBar(const Progress& progress, int width);
// The last line of `psdctl wait`: "job <id> succeeded: test_accuracy=0.8812 wall_s=123.4",
// "job <id> failed: <reason>" or "job <id> cancelled: <reason>".
std::string FinalLine(const JobInfo& job);
bool IsFinished(JobState state);
// A running job paused while it recovers from a lost server (its reason says how far).
bool IsRecovering(const JobInfo& job);
// "2 checkpoints failed to write; 5 pushes refused for non-finite gradients"; "" for none.
std::string FaultsText(const JobFaults& faults);
// "worker 1 (worker-ab12): compute 41.2 ms per step, the others 13.0 ms (3.2x), since step 20";
// `role` "server": a slow server, its figures per chunk RPC ("... apply 21.0 ms per call ...").
std::string StragglerText(const Straggler& straggler, const char* role);
// The job's workers, a line each: step, samples/s, ms per step by phase, straggler phase.
std::string WorkersTable(const JobInfo& job);
// The job's servers, a line each: calls, ms per call (all, the server's, the network's), MB/s,
// slow phase.
std::string ServersTable(const JobInfo& job);
// The devices each worker trains on, as it reported them: "worker 0 cpu:0,cpu:1; worker 1
// cuda:0,cuda:1"; "" before any worker reported.
std::string WorkerDevicesText(const JobInfo& job);
// Everything about one job, several lines.
std::string JobStatusText(const JobInfo& job, absl::Time now);
// One line per job, with a header.
std::string JobsTable(const ListJobsResponse& jobs);
// One line per node, with a header.
std::string NodesTable(const ListNodesResponse& nodes, absl::Time now);

}  // namespace psd

#endif  // PSD_TOOLS_PSDCTL_FORMAT_H_
