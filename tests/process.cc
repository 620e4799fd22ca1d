#include "tests/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace psd::testing {
namespace {

int StatusCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& x : extra) replaced |= x.substr(0, x.find('=')) == name;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                                 const SpawnOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("Spawn: ", argv[0], " is not executable: ", std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args = argv;
  std::vector<std::string> env = Environment(options.env);
  std::vector<char*> arg_ptrs = Pointers(args);
  std::vector<char*> env_ptrs = Pointers(env);
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.append ? O_APPEND : O_TRUNC);
  const char* out_path = options.stdout_path.empty() ? nullptr : options.stdout_path.c_str();
  const char* err_path = options.stderr_path.empty() ? nullptr : options.stderr_path.c_str();
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (out_path != nullptr) {
      const int fd = open(out_path, flags, 0644);
      if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
    }
    if (err_path != nullptr) {
      const int fd = open(err_path, flags, 0644);
      if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
    }
    execve(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    _exit(127);
  }
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_status_(other.exit_status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (Running()) Kill();
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = other.exit_status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (Running()) Kill();
}

bool ChildProcess::Reap(bool block) {
  if (pid_ <= 0 || exit_status_.has_value()) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_status_ = StatusCode(status);
    return true;
  }
  if (r < 0) {  // not our child any more (already reaped elsewhere)
    exit_status_ = -1;
    return true;
  }
  return false;
}

bool ChildProcess::Running() { return pid_ > 0 && !Reap(false); }

void ChildProcess::Signal(int signal) const {
  if (pid_ > 0 && !exit_status_.has_value()) kill(pid_, signal);
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return exit_status_;
}

int ChildProcess::Stop(absl::Duration grace) {
  Signal(SIGTERM);
  if (std::optional<int> status = Wait(grace)) return *status;
  return Kill();
}

int ChildProcess::Kill() {
  Signal(SIGKILL);
  Reap(true);
  return exit_status_.value_or(-1);
}

CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                         const SpawnOptions& options) {
  CommandResult result;
  const std::string dir = MakeTempDir("command");
  SpawnOptions spawn = options;
  spawn.stdout_path = dir + "/stdout";
  spawn.stderr_path = dir + "/stderr";
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv, spawn);
  if (!child.ok()) {
    result.err = std::string(child.status().message());
    return result;
  }
  if (std::optional<int> status = child->Wait(timeout)) {
    result.exit_code = *status;
  } else {
    child->Kill();
    result.timed_out = true;
  }
  result.out = ReadFile(spawn.stdout_path);
  result.err = ReadFile(spawn.stderr_path);
  return result;
}

std::optional<int> WaitForPortFile(const std::string& path, absl::Duration timeout,
                                   ChildProcess* process) {
  std::optional<int> port;
  WaitUntil(
      [&] {
        int value = 0;
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &value) && value > 0) {
          port = value;
          return true;
        }
        return process != nullptr && !process->Running();
      },
      timeout);
  return port;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout,
               absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(poll);
  }
  return true;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ =
      absl::StrCat(base != nullptr && base[0] != '\0' ? base : "/tmp", "/", prefix, ".XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) return "";
  return templ;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace psd::testing
