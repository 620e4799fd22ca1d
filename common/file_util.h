// Files that are either complete or absent: written to a temporary name, fsynced, renamed.
#ifndef PSD_COMMON_FILE_UTIL_H_
#define PSD_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace psd {

// Writes `contents` to `path` atomically and durably: a temporary file beside it, fsync,
// rename over `path`, fsync of the directory. Creates missing parent directories.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The whole file; NotFound naming the path if it cannot be opened.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace psd

#endif  // PSD_COMMON_FILE_UTIL_H_
