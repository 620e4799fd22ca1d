// Child processes for tests that run psd's binaries: spawn with arguments, wait for a port
// file, signal, reap. A ChildProcess that goes out of scope kills (SIGKILL) and reaps its
// process, and every child also gets SIGKILL when the thread that spawned it exits (so a test
// killed by a timeout leaves nothing running).
#ifndef PSD_TESTS_PROCESS_H_
#define PSD_TESTS_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace psd::testing {

struct SpawnOptions {
  std::string stdout_path;       // empty: inherit the test's stdout
  std::string stderr_path;       // empty: inherit the test's stderr
  bool append = false;           // append to those files instead of truncating them
  std::vector<std::string> env;  // "NAME=value" entries added to (or replacing in) the environment
};

class ChildProcess {
 public:
  // Starts the program argv[0] (a path, e.g. "coordinator/psd-coordinator") with argv[1..].
  static absl::StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                            const SpawnOptions& options = {});

  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // False once the process has exited (and was reaped) or was never started.
  bool Running();
  void Signal(int signal) const;
  // The exit status once the process ends within `timeout`: the exit code, or 128 + the
  // signal that killed it; nullopt if it still runs.
  std::optional<int> Wait(absl::Duration timeout);
  // SIGTERM, then SIGKILL if it has not exited after `grace`; returns the exit status.
  int Stop(absl::Duration grace = absl::Seconds(5));
  // SIGKILL; returns the exit status.
  int Kill();
  // The exit status of a process that ended (see Wait), or nullopt.
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  bool Reap(bool block);

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

struct CommandResult {
  int exit_code = -1;  // as ChildProcess::Wait; -1 if it could not start or timed out
  bool timed_out = false;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a program to completion (killed after `timeout`) and captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(30),
                         const SpawnOptions& options = {});

// Polls `path` until it holds a port number. nullopt after `timeout`, or as soon as `process`
// (if given) exits.
std::optional<int> WaitForPortFile(const std::string& path, absl::Duration timeout,
                                   ChildProcess* process = nullptr);

// Polls `condition` every `poll` until it is true (returns true) or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout,
               absl::Duration poll = absl::Milliseconds(20));

// A new empty directory under $TEST_TMPDIR (else /tmp).
std::string MakeTempDir(const std::string& prefix);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed), for a
// program that takes its port as a flag.
int FreeLoopbackPort();
// The contents of a file; empty if it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace psd::testing

#endif  // PSD_TESTS_PROCESS_H_
