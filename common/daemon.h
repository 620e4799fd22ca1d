// What every psd daemon does around its service: wait for SIGTERM/SIGINT, publish its port.
#ifndef PSD_COMMON_DAEMON_H_
#define PSD_COMMON_DAEMON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace psd {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and every thread it starts later;
// call first thing in main(), before any thread exists.
void BlockShutdownSignals();

// Waits until one of those signals arrives (or `timeout` passes) and returns its number,
// or 0 on timeout.
int WaitForShutdownSignal(absl::Duration timeout = absl::InfiniteDuration());

// Writes `port` to `path` atomically (temporary file, fsync, rename), for scripts and tests
// that start a daemon on port 0. An empty path does nothing.
absl::Status WritePortFile(const std::string& path, int port);

// This machine's host name, for addresses other nodes dial when none is configured.
std::string HostName();

}  // namespace psd

#endif  // PSD_COMMON_DAEMON_H_
