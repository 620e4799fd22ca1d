#include "common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, log_level, "info", "Log level: trace, debug, info, warn, error, off.");
ABSL_FLAG(std::string, log_pattern, "%Y-%m-%d %H:%M:%S.%e %^%L%$ [%n] %v",
          "spdlog pattern of each log line.");

namespace psd {

absl::Status InitLogging(absl::string_view role) {
  const std::string level_name = absl::GetFlag(FLAGS_log_level);
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level: unknown level '", level_name,
                     "' (expected trace, debug, info, warn, error or off)"));
  }
  auto logger = std::make_shared<spdlog::logger>(std::string(role),
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(level);
  logger->set_pattern(absl::GetFlag(FLAGS_log_pattern));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace psd
