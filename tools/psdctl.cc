// psdctl: the psd command line (validate, submit, status, list, cancel, nodes, wait,
// checkpoint, eval). See docs/psdctl.md.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "proto/coordinator.grpc.pb.h"
#include "tools/model_eval.h"
#include "tools/psdctl_format.h"

namespace psd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

constexpr char kDefaultCoordinator[] = "127.0.0.1:7070";
// How long `wait` keeps trying while the coordinator is unreachable (e.g. restarting).
constexpr absl::Duration kWaitUnreachable = absl::Seconds(60);
constexpr absl::Duration kTerminalRefresh = absl::Milliseconds(500);
constexpr absl::Duration kPlainPoll = absl::Seconds(1);
constexpr absl::Duration kPlainProgressEvery = absl::Seconds(5);

struct Flag {
  const char* name;
  const char* value;  // placeholder of its value in help ("DIR"); nullptr for a switch
  const char* help;
  bool takes_value() const { return value != nullptr; }
};

const Flag kGlobalFlags[] = {
    {"coordinator", "HOST:PORT",
     "the coordinator (default: $PSD_COORDINATOR, else 127.0.0.1:7070)"},
    {"timeout", "DURATION",
     "deadline of each call to the coordinator, e.g. 10s or 500ms (default 10s)"},
};

struct Invocation;
using Handler = int (*)(const Invocation&);

struct Command {
  const char* name;
  const char* args;  // positional arguments, for usage lines
  int num_args;
  const char* summary;
  const char* help;
  std::vector<Flag> flags;
  Handler run;
};

struct Invocation {
  const Command* command = nullptr;
  std::vector<std::string> args;
  std::map<std::string, std::string> flags;  // command flags given; "" for switches
  std::string coordinator;
  absl::Duration timeout = absl::Seconds(10);
  bool help = false;
  bool Has(const std::string& flag) const { return flags.count(flag) > 0; }
};

int RunValidate(const Invocation& inv);
int RunSubmit(const Invocation& inv);
int RunStatus(const Invocation& inv);
int RunList(const Invocation& inv);
int RunCancel(const Invocation& inv);
int RunNodes(const Invocation& inv);
int RunWait(const Invocation& inv);
int RunCheckpoint(const Invocation& inv);
int RunEval(const Invocation& inv);

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"validate",
       "FILE",
       1,
       "check a job file offline",
       "Parses and validates the job file, including that its data files exist and are\n"
       "readable here. Prints \"ok: <name>: <n> servers, <m> workers, <consistency>,\n"
       "<k> parameters\", or the first problem as \"FILE:LINE: field: reason\".\n"
       "Needs no coordinator.",
       {},
       RunValidate},
      {"submit",
       "FILE",
       1,
       "submit a job file",
       "Sends the job file to the coordinator, which validates and queues it, and prints the\n"
       "new job's id. With --wait, follows the job like `psdctl wait` and exits 0 only if it\n"
       "succeeds.",
       {{"wait", nullptr, "follow the job's progress until it ends"},
        {"resume-from", "DIR", "start from this checkpoint directory (CKPT_DIR/<job>/<step>)"}},
       RunSubmit},
      {"status",
       "JOB",
       1,
       "show a job's state, progress and events",
       "Prints the job's state and why, its nodes, its latest progress, its result when it\n"
       "succeeded, and its events.",
       {},
       RunStatus},
      {"list", "", 0, "list every job", "Prints one line per job, oldest first.", {}, RunList},
      {"cancel",
       "JOB",
       1,
       "cancel a queued or running job",
       "A queued job is cancelled at once; a running one is cancelled and its servers and\n"
       "workers are told to stop. Cancelling a cancelled job does nothing; a finished one is\n"
       "an error.",
       {},
       RunCancel},
      {"nodes",
       "",
       0,
       "list registered servers and workers",
       "Prints every node the coordinator knows: role, address, state (idle, busy, dead),\n"
       "job and rank, devices, and the age of its last heartbeat.",
       {},
       RunNodes},
      {"wait",
       "JOB",
       1,
       "follow a job until it ends",
       "On a terminal, redraws one progress line in place (epoch, step, loss, test accuracy,\n"
       "samples/s, ETA); otherwise prints a progress line every few seconds. Ends with one\n"
       "line: \"job <id> succeeded: test_accuracy=<x> wall_s=<y>\", \"job <id> failed: <reason>\"\n"
       "or \"job <id> cancelled: <reason>\". Exits 0 only if the job succeeded. Rides out a\n"
       "coordinator restart of up to a minute.",
       {},
       RunWait},
      {"checkpoint",
       "JOB",
       1,
       "checkpoint a running job now",
       "Asks the coordinator to have the job's servers write a checkpoint of a step they will\n"
       "reach shortly, and prints that step. The job must be running and have a\n"
       "checkpoint.dir; `psdctl status` shows \"checkpoint of step N complete\" once every\n"
       "server has written it.",
       {},
       RunCheckpoint},
      {"eval",
       "MODEL_FILE",
       1,
       "score a model file on a test set",
       "Loads a model file (<checkpoint.dir>/<job>/model.psdm), runs it on this machine's CPU\n"
       "over the test set its job spec names (or the given IDX files) and prints\n"
       "\"model <path>: test_accuracy=<x> test_loss=<y> examples=<n>\". Needs no coordinator.",
       {{"data-images", "FILE", "IDX images to score on instead of the spec's test set"},
        {"data-labels", "FILE", "IDX labels of --data-images"}},
       RunEval},
  };
  return commands;
}

const Command* FindCommand(const std::string& name) {
  for (const Command& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string FlagUsage(const Flag& f) {
  return f.takes_value() ? absl::StrCat("--", f.name, " ", f.value) : absl::StrCat("--", f.name);
}

void PrintGeneralHelp(FILE* out) {
  std::fprintf(out,
               "psdctl: the command line of psd, a parameter-server training cluster\n\n"
               "usage: psdctl [--coordinator HOST:PORT] [--timeout DURATION] COMMAND [ARGS]\n\n"
               "commands:\n");
  for (const Command& c : Commands()) {
    std::string usage = absl::StrCat(c.name, " ", c.args);
    for (const Flag& f : c.flags) absl::StrAppend(&usage, " [", FlagUsage(f), "]");
    std::fprintf(out, "  %-44s %s\n", usage.c_str(), c.summary);
  }
  std::fprintf(out, "  %-44s %s\n\nglobal flags:\n", "help [COMMAND]", "show help");
  for (const Flag& f : kGlobalFlags) {
    std::fprintf(out, "  %-26s %s\n", FlagUsage(f).c_str(), f.help);
  }
  std::fprintf(out,
               "\nexit codes: 0 ok; 1 failed (job failed or cancelled, bad job file, unknown job,\n"
               "request refused); 2 bad usage; 3 coordinator unreachable.\n"
               "`psdctl COMMAND --help` shows a command's help.\n");
}

void PrintCommandHelp(const Command& c) {
  std::string usage = absl::StrCat("usage: psdctl ", c.name, c.args[0] ? " " : "", c.args);
  for (const Flag& f : c.flags) absl::StrAppend(&usage, " [", FlagUsage(f), "]");
  std::printf("%s\n\n%s\n", usage.c_str(), c.help);
  if (!c.flags.empty()) {
    std::printf("\nflags:\n");
    for (const Flag& f : c.flags) std::printf("  %-26s %s\n", FlagUsage(f).c_str(), f.help);
  }
  std::printf("\nglobal flags:\n");
  for (const Flag& f : kGlobalFlags) std::printf("  %-26s %s\n", FlagUsage(f).c_str(), f.help);
}

int UsageError(const std::string& message, const Command* command) {
  std::fprintf(stderr, "psdctl: %s (see psdctl %s--help)\n", message.c_str(),
               command != nullptr ? absl::StrCat(command->name, " ").c_str() : "");
  return kExitUsage;
}

// "10s", "500ms", "2m", or a number of seconds.
bool ParseTimeout(const std::string& text, absl::Duration* out) {
  double seconds;
  if (absl::SimpleAtod(text, &seconds)) {
    *out = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, out)) {
    return false;
  }
  return *out > absl::ZeroDuration();
}

// Parses argv into `inv`; returns an exit code when parsing ends the run, else -1.
int Parse(int argc, char** argv, Invocation& inv) {
  const char* env = std::getenv("PSD_COORDINATOR");
  inv.coordinator = env != nullptr && env[0] != '\0' ? env : kDefaultCoordinator;
  bool help_command = false;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!flags_done && arg == "--") {
      flags_done = true;
      continue;
    }
    if (!flags_done && (arg == "-h" || arg == "--help")) {
      inv.help = true;
      continue;
    }
    if (!flags_done && absl::StartsWith(arg, "--")) {
      std::string name = arg.substr(2), value;
      const size_t eq = name.find('=');
      const bool has_value = eq != std::string::npos;
      if (has_value) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      const Flag* flag = nullptr;
      bool global = false;
      for (const Flag& f : kGlobalFlags) {
        if (name == f.name) flag = &f, global = true;
      }
      if (flag == nullptr && inv.command != nullptr) {
        for (const Flag& f : inv.command->flags) {
          if (name == f.name) flag = &f;
        }
      }
      if (flag == nullptr) {
        return UsageError(
            absl::StrCat("unknown flag --", name,
                         inv.command != nullptr ? absl::StrCat(" for ", inv.command->name) : ""),
            inv.command);
      }
      if (flag->takes_value() && !has_value) {
        if (i + 1 >= argc) {
          return UsageError(absl::StrCat("--", name, " needs a value"), inv.command);
        }
        value = argv[++i];
      } else if (!flag->takes_value() && has_value) {
        return UsageError(absl::StrCat("--", name, " takes no value"), inv.command);
      }
      if (!global) {
        inv.flags[name] = value;
      } else if (name == "coordinator") {
        if (value.empty()) return UsageError("--coordinator: needs HOST:PORT", inv.command);
        inv.coordinator = value;
      } else if (!ParseTimeout(value, &inv.timeout)) {
        return UsageError(
            absl::StrCat("--timeout: expected a duration like 10s or 500ms, got '", value, "'"),
            inv.command);
      }
      continue;
    }
    if (inv.command == nullptr && !help_command) {
      if (arg == "help") {
        help_command = true;
        continue;
      }
      inv.command = FindCommand(arg);
      if (inv.command == nullptr) {
        return UsageError(absl::StrCat("unknown command '", arg, "'"), nullptr);
      }
      continue;
    }
    if (help_command) {
      inv.command = FindCommand(arg);
      if (inv.command == nullptr) {
        return UsageError(absl::StrCat("unknown command '", arg, "'"), nullptr);
      }
      continue;
    }
    inv.args.push_back(arg);
  }
  if (help_command || inv.help) {
    if (inv.command != nullptr) {
      PrintCommandHelp(*inv.command);
    } else {
      PrintGeneralHelp(stdout);
    }
    return kExitOk;
  }
  if (inv.command == nullptr) {
    PrintGeneralHelp(stderr);
    return kExitUsage;
  }
  if (static_cast<int>(inv.args.size()) < inv.command->num_args) {
    return UsageError(absl::StrCat(inv.command->name, ": expected ", inv.command->args),
                      inv.command);
  }
  if (static_cast<int>(inv.args.size()) > inv.command->num_args) {
    return UsageError(absl::StrCat(inv.command->name, ": unexpected argument '",
                                   inv.args[inv.command->num_args], "'"),
                      inv.command);
  }
  for (const std::string& a : inv.args) {
    if (a.empty()) {
      return UsageError(absl::StrCat(inv.command->name, ": empty ", inv.command->args),
                        inv.command);
    }
  }
  return -1;
}

// --- Talking to the coordinator -------------------------------------------------------------

class Client {
 public:
  explicit Client(const Invocation& inv)
      : address_(inv.coordinator),
        timeout_(inv.timeout),
        stub_(Coordinator::NewStub(
            grpc::CreateChannel(inv.coordinator, grpc::InsecureChannelCredentials()))) {}

  // `wait_for_ready`: wait (up to the timeout) for an unreachable coordinator to come back
  // instead of failing at once.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Coordinator::Stub::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
                    const Request& request, Response* response, bool wait_for_ready = false) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    context.set_wait_for_ready(wait_for_ready);
    return (stub_.get()->*method)(&context, request, response);
  }

  static bool Unreachable(const grpc::Status& status) {
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  }

  // Prints the error and returns the exit code for it.
  int Fail(const grpc::Status& status) const {
    if (Unreachable(status)) {
      std::fprintf(stderr, "psdctl: cannot reach coordinator at %s: %s\n", address_.c_str(),
                   status.error_message().c_str());
      return kExitUnreachable;
    }
    std::fprintf(stderr, "psdctl: %s\n", status.error_message().c_str());
    return kExitFailed;
  }

  const std::string& address() const { return address_; }

 private:
  std::string address_;
  absl::Duration timeout_;
  std::unique_ptr<Coordinator::Stub> stub_;
};

int TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

void Sleep(absl::Duration d) { absl::SleepFor(d); }

// What `wait` prints when stdout is not a terminal: a line whenever the state or its reason
// changes, the events added since `wait` started ("resumed from step 200 (lost 50 steps)"), and
// a progress line every few seconds while the job runs.
class PlainReport {
 public:
  explicit PlainReport(std::string job_id) : job_id_(std::move(job_id)) {}

  void Update(const JobInfo& job, absl::Time now) {
    const char* id = job_id_.c_str();
    if (!IsFinished(job.state()) && (job.state() != state_ || job.reason() != reason_)) {
      std::printf("job %s %s: %s\n", id, JobStateName(job.state()), job.reason().c_str());
      state_ = job.state();
      reason_ = job.reason();
    }
    for (int i = std::max(events_seen_, 0); events_seen_ >= 0 && i < job.events_size(); ++i) {
      std::printf("job %s: %s\n", id, job.events(i).c_str());
    }
    events_seen_ = job.events_size();
    if (job.state() == JOB_RUNNING && !IsRecovering(job) &&
        now - last_progress_ >= kPlainProgressEvery && job.progress().timestamp_ms() > 0) {
      std::printf("job %s: %s\n", id, ProgressLine(job.progress()).c_str());
      last_progress_ = now;
    }
    std::fflush(stdout);
  }

 private:
  const std::string job_id_;
  JobState state_ = JOB_STATE_UNSPECIFIED;
  std::string reason_;
  int events_seen_ = -1;  // -1: events already there when `wait` started are not printed
  absl::Time last_progress_ = absl::InfinitePast();
};

// Set before waiting: what a SIGTERM/SIGINT prints before psdctl exits 128+signal. The
// handler matters most as PID 1 of a container, where SIGTERM is otherwise ignored.
char g_interrupted_message[512];

void OnInterrupt(int signal) {
  const ssize_t ignored =
      write(STDERR_FILENO, g_interrupted_message, std::strlen(g_interrupted_message));
  (void)ignored;
  _exit(128 + signal);
}

void ExitOnInterrupt(const std::string& job_id) {
  std::snprintf(g_interrupted_message, sizeof(g_interrupted_message),
                "\npsdctl: interrupted; job %s keeps running (follow it with: psdctl wait %s; "
                "stop it with: psdctl cancel %s)\n",
                job_id.c_str(), job_id.c_str(), job_id.c_str());
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

// Follows the job until it ends; see the `wait` command's help.
int WaitForJob(Client& client, const std::string& job_id) {
  ExitOnInterrupt(job_id);
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  bool bar_shown = false;
  auto clear_bar = [&] {
    if (bar_shown) std::printf("\r\033[K");
    std::fflush(stdout);
    bar_shown = false;
  };
  PlainReport plain(job_id);
  absl::Time unreachable_since = absl::InfiniteFuture();
  GetJobRequest request;
  request.set_job_id(job_id);
  while (true) {
    JobInfo job;
    const grpc::Status status = client.Call(&Coordinator::Stub::GetJob, request, &job,
                                            unreachable_since != absl::InfiniteFuture());
    const absl::Time now = absl::Now();
    if (!status.ok()) {
      if (!Client::Unreachable(status)) {
        clear_bar();
        return client.Fail(status);
      }
      if (unreachable_since == absl::InfiniteFuture()) {
        unreachable_since = now;
        clear_bar();
        std::fprintf(stderr, "psdctl: lost the coordinator at %s (%s); retrying for up to %s\n",
                     client.address().c_str(), status.error_message().c_str(),
                     absl::FormatDuration(kWaitUnreachable).c_str());
      } else if (now - unreachable_since > kWaitUnreachable) {
        return client.Fail(status);
      }
      Sleep(kPlainPoll);
      continue;
    }
    if (unreachable_since != absl::InfiniteFuture()) {
      std::fprintf(stderr, "psdctl: coordinator at %s is back\n", client.address().c_str());
      unreachable_since = absl::InfiniteFuture();
    }
    if (!terminal) plain.Update(job, now);
    if (IsFinished(job.state())) {
      clear_bar();
      std::printf("%s\n", FinalLine(job).c_str());
      std::fflush(stdout);
      return job.state() == JOB_SUCCEEDED ? kExitOk : kExitFailed;
    }
    if (!terminal) {
      Sleep(kPlainPoll);
      continue;
    }
    // A queued or recovering job shows why instead of the progress bar.
    std::string line =
        job.state() == JOB_QUEUED || IsRecovering(job)
            ? absl::StrCat("job ", job_id, " ", JobStateName(job.state()), ": ", job.reason())
            : ProgressBar(job.progress(), TerminalWidth() - 1);
    line.resize(std::min<size_t>(line.size(), TerminalWidth() - 1));
    std::printf("\r%s\033[K", line.c_str());
    std::fflush(stdout);
    bar_shown = true;
    Sleep(kTerminalRefresh);
  }
}

// --- Commands ---------------------------------------------------------------------------------

int RunValidate(const Invocation& inv) {
  ParseOptions options;
  options.check_files = true;
  absl::StatusOr<JobSpec> spec = LoadJobSpecFile(inv.args[0], options);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return kExitFailed;
  }
  int64_t parameters = 0;
  for (const TensorInfo& t : ModelTensors(spec->model)) parameters += t.size;
  std::string consistency(ConsistencyName(spec->training.consistency));
  if (spec->training.consistency == Consistency::kSsp) {
    absl::StrAppend(&consistency, " (staleness ", spec->training.staleness, ")");
  }
  std::printf("ok: %s: %d servers, %d workers, %s, %lld parameters\n", spec->name.c_str(),
              spec->cluster.servers, spec->cluster.workers, consistency.c_str(),
              static_cast<long long>(parameters));
  return kExitOk;
}

int RunSubmit(const Invocation& inv) {
  const std::string& path = inv.args[0];
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "psdctl: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
    return kExitFailed;
  }
  std::stringstream text;
  text << in.rdbuf();
  SubmitJobRequest request;
  request.set_spec_yaml(text.str());
  request.set_source_name(path);
  if (auto it = inv.flags.find("resume-from"); it != inv.flags.end()) {
    if (it->second.empty()) return UsageError("--resume-from: needs a directory", inv.command);
    request.set_resume_from(it->second);
  }
  Client client(inv);
  SubmitJobResponse response;
  const grpc::Status status = client.Call(&Coordinator::Stub::SubmitJob, request, &response);
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
      absl::StartsWith(status.error_message(), path + ":")) {
    std::fprintf(stderr, "%s\n", status.error_message().c_str());  // the parser's line
    return kExitFailed;
  }
  if (!status.ok()) return client.Fail(status);
  if (!inv.Has("wait")) {
    std::printf("%s\n", response.job_id().c_str());
    return kExitOk;
  }
  std::printf("job %s submitted\n", response.job_id().c_str());
  std::fflush(stdout);
  return WaitForJob(client, response.job_id());
}

int RunStatus(const Invocation& inv) {
  Client client(inv);
  GetJobRequest request;
  request.set_job_id(inv.args[0]);
  JobInfo job;
  const grpc::Status status = client.Call(&Coordinator::Stub::GetJob, request, &job);
  if (!status.ok()) return client.Fail(status);
  std::printf("%s", JobStatusText(job, absl::Now()).c_str());
  return kExitOk;
}

int RunList(const Invocation& inv) {
  Client client(inv);
  ListJobsResponse jobs;
  const grpc::Status status = client.Call(&Coordinator::Stub::ListJobs, ListJobsRequest(), &jobs);
  if (!status.ok()) return client.Fail(status);
  std::printf("%s", JobsTable(jobs).c_str());
  return kExitOk;
}

int RunCancel(const Invocation& inv) {
  Client client(inv);
  CancelJobRequest request;
  request.set_job_id(inv.args[0]);
  JobInfo job;
  const grpc::Status status = client.Call(&Coordinator::Stub::CancelJob, request, &job);
  if (!status.ok()) return client.Fail(status);
  std::printf("job %s %s: %s\n", job.job_id().c_str(), JobStateName(job.state()),
              job.reason().c_str());
  return kExitOk;
}

int RunNodes(const Invocation& inv) {
  Client client(inv);
  ListNodesResponse nodes;
  const grpc::Status status =
      client.Call(&Coordinator::Stub::ListNodes, ListNodesRequest(), &nodes);
  if (!status.ok()) return client.Fail(status);
  std::printf("%s", NodesTable(nodes, absl::Now()).c_str());
  return kExitOk;
}

int RunWait(const Invocation& inv) {
  Client client(inv);
  return WaitForJob(client, inv.args[0]);
}

int RunEval(const Invocation& inv) {
  const bool has_images = inv.Has("data-images"), has_labels = inv.Has("data-labels");
  if (has_images != has_labels) {
    return UsageError("eval: --data-images and --data-labels go together", inv.command);
  }
  // The backend logs which device it chose; keep stdout for the result.
  auto logger = spdlog::stderr_color_st("psdctl");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  const std::string& path = inv.args[0];
  absl::StatusOr<EvalResult> result =
      EvaluateModelFile(path, has_images ? inv.flags.at("data-images") : "",
                        has_labels ? inv.flags.at("data-labels") : "");
  if (!result.ok()) {
    std::fprintf(stderr, "psdctl: %s\n", std::string(result.status().message()).c_str());
    return kExitFailed;
  }
  std::printf("%s\n", EvalLine(path, *result).c_str());
  return kExitOk;
}

int RunCheckpoint(const Invocation& inv) {
  Client client(inv);
  CheckpointJobRequest request;
  request.set_job_id(inv.args[0]);
  CheckpointJobResponse response;
  const grpc::Status status = client.Call(&Coordinator::Stub::CheckpointJob, request, &response);
  if (!status.ok()) return client.Fail(status);
  std::printf("job %s: checkpoint of step %lld requested\n", inv.args[0].c_str(),
              static_cast<long long>(response.step()));
  return kExitOk;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::Invocation inv;
  if (const int code = psd::Parse(argc, argv, inv); code >= 0) return code;
  return inv.command->run(inv);
}
