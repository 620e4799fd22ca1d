// Where checkpoints and exported models live on disk; the one place that knows the layout:
//
//   <checkpoint.dir>/<job id>/              the job dir
//   <checkpoint.dir>/<job id>/<step>/       a step dir (step > 0, in decimal)
//     server-<rank>                         a server's data file
//     server-<rank>.manifest                written after the data, marks it complete
//     server-<rank>.table                   sparse models: the server's embedding table
//                                           (full or incremental, server/table_checkpoint.h)
//   <checkpoint.dir>/<job id>/model.psdm    the model the job exported
//   <checkpoint.dir>/<job id>/model.psdm.table-<rank>-of-<n>   sparse models: server rank's
//                                           final table
//
// A job id becomes a path component: every id that reaches these functions must have passed
// ValidateJobId, so that no id names a path outside <checkpoint.dir>.
#ifndef PSD_COMMON_CHECKPOINT_LAYOUT_H_
#define PSD_COMMON_CHECKPOINT_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace psd {

inline constexpr size_t kMaxJobIdLength = 128;

// OK when `job_id` matches [A-Za-z0-9._-]{1,128} and does not start with '.'; else
// InvalidArgument naming the id and the rule.
absl::Status ValidateJobId(absl::string_view job_id);

// OK when `step_dir` names the step dir of `step` of some job: ".../<job id>/<step>" with a
// valid job id, and no "." or ".." component; else InvalidArgument saying what is wrong.
absl::Status ValidateStepDir(absl::string_view step_dir, int64_t step);

// <checkpoint_dir>/<job_id>
std::string CheckpointJobDir(absl::string_view checkpoint_dir, absl::string_view job_id);

// <checkpoint_dir>/<job_id>/<step>
std::string CheckpointStepDir(absl::string_view checkpoint_dir, absl::string_view job_id,
                              int64_t step);

// Server `rank`'s data file in `step_dir`.
std::string CheckpointDataFile(absl::string_view step_dir, int rank);

// Server `rank`'s manifest in `step_dir`; its presence marks that server's checkpoint complete.
std::string CheckpointManifestFile(absl::string_view step_dir, int rank);

// Server `rank`'s table file in `step_dir` (sparse models).
std::string CheckpointTableFile(absl::string_view step_dir, int rank);

// The model file a job exports: <checkpoint_dir>/<job_id>/model.psdm
std::string ExportedModelPath(absl::string_view checkpoint_dir, absl::string_view job_id);

// The final table server `rank` of `num_servers` exports for a sparse model:
// <ExportedModelPath>.table-<rank>-of-<num_servers>
std::string ExportedTablePath(absl::string_view checkpoint_dir, absl::string_view job_id, int rank,
                              int num_servers);

// The step a step dir stands for: its last path component (trailing slashes ignored) when that
// is a decimal number > 0; nullopt otherwise.
std::optional<int64_t> ParseCheckpointStep(absl::string_view step_dir);

// The steps of the step dirs in `job_dir`, ascending; empty when it does not exist.
std::vector<int64_t> ListCheckpointSteps(absl::string_view job_dir);

}  // namespace psd

#endif  // PSD_COMMON_CHECKPOINT_LAYOUT_H_
