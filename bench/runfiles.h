// Benchmarks that start psd's daemons name them, and the scripts, relative to the runfiles root
// of the binary Bazel built (as the tests do).
#ifndef PSD_BENCH_RUNFILES_H_
#define PSD_BENCH_RUNFILES_H_

#include <string>

#include "absl/status/status.h"

namespace psd::bench {

// Makes the runfiles root of this binary the working directory (found beside /proc/self/exe,
// or under $RUNFILES_DIR); NotFound naming `target` (what to build) when there is none.
absl::Status EnterRunfiles(const std::string& target);

}  // namespace psd::bench

#endif  // PSD_BENCH_RUNFILES_H_
