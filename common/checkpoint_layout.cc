#include "common/checkpoint_layout.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace psd {

std::string CheckpointJobDir(absl::string_view checkpoint_dir, absl::string_view job_id) {
  return absl::StrCat(checkpoint_dir, "/", job_id);
}

std::string CheckpointStepDir(absl::string_view checkpoint_dir, absl::string_view job_id,
                              int64_t step) {
  return absl::StrCat(CheckpointJobDir(checkpoint_dir, job_id), "/", step);
}

std::string CheckpointDataFile(absl::string_view step_dir, int rank) {
  return absl::StrCat(step_dir, "/server-", rank);
}

std::string CheckpointManifestFile(absl::string_view step_dir, int rank) {
  return absl::StrCat(CheckpointDataFile(step_dir, rank), ".manifest");
}

std::string ExportedModelPath(absl::string_view checkpoint_dir, absl::string_view job_id) {
  return absl::StrCat(CheckpointJobDir(checkpoint_dir, job_id), "/model.psdm");
}

std::optional<int64_t> ParseCheckpointStep(absl::string_view step_dir) {
  while (step_dir.size() > 1 && step_dir.back() == '/') step_dir.remove_suffix(1);
  const size_t slash = step_dir.rfind('/');
  if (slash != absl::string_view::npos) step_dir.remove_prefix(slash + 1);
  if (step_dir.empty() || !std::all_of(step_dir.begin(), step_dir.end(), absl::ascii_isdigit)) {
    return std::nullopt;
  }
  int64_t step = 0;
  if (!absl::SimpleAtoi(step_dir, &step) || step <= 0) return std::nullopt;
  return step;
}

std::vector<int64_t> ListCheckpointSteps(absl::string_view job_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(job_dir), ec)) {
    const std::optional<int64_t> step = ParseCheckpointStep(entry.path().filename().string());
    if (step.has_value() && entry.is_directory(ec)) steps.push_back(*step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

}  // namespace psd
