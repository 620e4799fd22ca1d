#include "bench/mode_list.h"

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

}  // namespace psd::bench
