// The benchmarks' two-mode flags ("--security plaintext,tls", "--metrics off,on"): which modes
// to run, in the order given.
#ifndef PSD_BENCH_MODE_LIST_H_
#define PSD_BENCH_MODE_LIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace psd::bench {

// `value` split at commas, each `off` (false) or `on` (true); InvalidArgument naming `flag`
// and the word otherwise ("--security: expected plaintext, tls or both, got 'tsl'").
absl::StatusOr<std::vector<bool>> ParseModeList(const std::string& flag, const std::string& value,
                                                const std::string& off, const std::string& on);
// The same for a benchmark's main: on an error, prints it and exits with status 2.
std::vector<bool> ModeListOrExit(const std::string& flag, const std::string& value,
                                 const std::string& off, const std::string& on);

}  // namespace psd::bench

#endif  // PSD_BENCH_MODE_LIST_H_
