#include "bench/mode_list.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace psd::bench {

absl::StatusOr<std::vector<bool>> ParseModeList(const std::string& flag, const std::string& value,
                                                const std::string& off, const std::string& on) {
  std::vector<bool> modes;
  for (absl::string_view m : absl::StrSplit(value, ',')) {
    if (m != off && m != on) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": expected ", off, ", ", on, " or both, got '", m, "'"));
    }
    modes.push_back(m == on);
  }
  return modes;
}

std::vector<bool> ModeListOrExit(const std::string& flag, const std::string& value,
                                 const std::string& off, const std::string& on) {
  absl::StatusOr<std::vector<bool>> modes = ParseModeList(flag, value, off, on);
  if (!modes.ok()) {
    std::fprintf(stderr, "%s\n", std::string(modes.status().message()).c_str());
    std::exit(2);
  }
  return *std::move(modes);
}

}  // namespace psd::bench
