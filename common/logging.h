// Logging setup shared by every psd process (spdlog; level and pattern from flags).
#ifndef PSD_COMMON_LOGGING_H_
#define PSD_COMMON_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace psd {

// Configures the default spdlog logger from --log_level and --log_pattern; `role` prefixes
// every line (e.g. "server-0"). Returns InvalidArgument for an unknown level.
absl::Status InitLogging(absl::string_view role);

}  // namespace psd

#endif  // PSD_COMMON_LOGGING_H_
