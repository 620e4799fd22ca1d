#include "common/checkpoint_layout.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace psd {

absl::Status ValidateJobId(absl::string_view job_id) {
  const bool ok = !job_id.empty() && job_id.size() <= kMaxJobIdLength && job_id[0] != '.' &&
                  std::all_of(job_id.begin(), job_id.end(), [](char c) {
                    return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("job id \"", absl::Utf8SafeCEscape(job_id.substr(0, kMaxJobIdLength + 1)),
                   "\" must match [A-Za-z0-9._-]{1,", kMaxJobIdLength, "} and not start with '.'"));
}

absl::Status ValidateStepDir(absl::string_view step_dir, int64_t step) {
  const std::vector<absl::string_view> parts = absl::StrSplit(step_dir, '/', absl::SkipEmpty());
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint dir \"", absl::Utf8SafeCEscape(step_dir), "\": ", why));
  };
  for (absl::string_view part : parts) {
    if (part == "." || part == "..") return error("must not contain '.' or '..'");
  }
  if (parts.size() < 2) return error("expected .../<job>/<step>");
  if (ParseCheckpointStep(step_dir) != step) {
    return error(absl::StrCat("is not the checkpoint of step ", step));
  }
  if (absl::Status s = ValidateJobId(parts[parts.size() - 2]); !s.ok()) return error(s.message());
  return absl::OkStatus();
}

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

std::string CheckpointTableFile(absl::string_view step_dir, int rank) {
  return absl::StrCat(CheckpointDataFile(step_dir, rank), ".table");
}

std::string ExportedTablePath(absl::string_view checkpoint_dir, absl::string_view job_id, int rank,
                              int num_servers) {
  return absl::StrCat(ExportedModelPath(checkpoint_dir, job_id), ".table-", rank, "-of-",
                      num_servers);
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
