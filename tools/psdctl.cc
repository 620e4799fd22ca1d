// psdctl: the psd command line (validate, submit, status, list, cancel, nodes, top, wait,
// checkpoint, eval). main() parses argv with tools/psdctl_args.h against the table in
// tools/psdctl_commands.h and runs the command's implementation below. See docs/psdctl.md.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "common/job_spec.h"
#include "common/memory_estimate.h"
#include "common/placement.h"
#include "common/tls_options.h"
#include "common/trace_recorder.h"
#include "common/utf8.h"
#include "proto/coordinator.grpc.pb.h"
#include "tools/model_eval.h"
#include "tools/psdctl_args.h"
#include "tools/psdctl_commands.h"
#include "tools/psdctl_format.h"
#include "tools/psdctl_help.h"
#include "tools/psdctl_top.h"

namespace psd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

using psdctl::CommandId;
using psdctl::Invocation;

constexpr char kDefaultCoordinator[] = "127.0.0.1:7070";
constexpr absl::Duration kDefaultTimeout = absl::Seconds(10);
// How long `wait` keeps trying while the coordinator is unreachable (e.g. restarting).
constexpr absl::Duration kWaitUnreachable = absl::Seconds(60);
constexpr absl::Duration kTerminalRefresh = absl::Milliseconds(500);
constexpr absl::Duration kPlainPoll = absl::Seconds(1);
constexpr absl::Duration kTopRefresh = absl::Seconds(2);
constexpr absl::Duration kPlainProgressEvery = absl::Seconds(5);

// --- Talking to the coordinator -------------------------------------------------------------

// --coordinator, else $PSD_COORDINATOR, else the default.
std::string CoordinatorAddress(const Invocation& inv) {
  if (std::optional<std::string> flag = inv.String("coordinator")) return *flag;
  const char* env = std::getenv("PSD_COORDINATOR");
  return env != nullptr && env[0] != '\0' ? env : kDefaultCoordinator;
}

// The flag, else the environment variable, else `fallback` if that file exists.
std::string TlsFile(const Invocation& inv, const char* flag, const char* env,
                    const std::string& fallback) {
  if (std::optional<std::string> value = inv.String(flag)) return *value;
  const char* from_env = std::getenv(env);
  if (from_env != nullptr && from_env[0] != '\0') return from_env;
  return access(fallback.c_str(), F_OK) == 0 ? fallback : "";
}

// --tls-ca/--tls-cert/--tls-key, else $PSD_TLS_CA/CERT/KEY, else the admin certificate of the
// local cluster in $PSD_RUN_DIR (default .run/cluster)/certs; --insecure or $PSD_INSECURE=1
// for plaintext.
absl::StatusOr<TlsOptions> ClientTls(const Invocation& inv) {
  const char* insecure_env = std::getenv("PSD_INSECURE");
  if (inv.Has("insecure") || (insecure_env != nullptr && std::string(insecure_env) == "1")) {
    return TlsOptions::Insecure();
  }
  const char* run_env = std::getenv("PSD_RUN_DIR");
  const std::string certs =
      absl::StrCat(run_env != nullptr && run_env[0] != '\0' ? run_env : ".run/cluster", "/certs/");
  const std::string ca = TlsFile(inv, "tls-ca", "PSD_TLS_CA", certs + "ca-bundle.crt");
  const std::string cert = TlsFile(inv, "tls-cert", "PSD_TLS_CERT", certs + "admin.crt");
  const std::string key = TlsFile(inv, "tls-key", "PSD_TLS_KEY", certs + "admin.key");
  if (ca.empty() || cert.empty() || key.empty()) {
    return absl::FailedPreconditionError(
        "no TLS certificate: give --tls-ca, --tls-cert and --tls-key (or set PSD_TLS_CA, "
        "PSD_TLS_CERT and PSD_TLS_KEY; `cluster.sh up` prints them), or --insecure for a "
        "cluster started with --insecure");
  }
  return LoadTls(ca, cert, key, std::nullopt, {"--tls-ca", "--tls-cert", "--tls-key"});
}

// A trace (psdctl trace) comes back in one reply of up to tens of MiB.
grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(512 << 20);
  return args;
}

class Client {
 public:
  explicit Client(const Invocation& inv)
      : address_(CoordinatorAddress(inv)),
        timeout_(inv.Duration("timeout").value_or(kDefaultTimeout)) {
    absl::StatusOr<TlsOptions> tls = ClientTls(inv);
    if (!tls.ok()) {
      setup_ = tls.status();
      return;
    }
    insecure_ = tls->insecure;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeChannel(address_, PeerRole::kCoordinator, *tls, ChannelArgs());
    if (!channel.ok()) {
      setup_ = channel.status();
      return;
    }
    stub_ = Coordinator::NewStub(*channel);
  }

  // The deadline of each call from now on (psdctl trace waits longer than --timeout).
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }

  // `wait_for_ready`: wait (up to the timeout) for an unreachable coordinator to come back
  // instead of failing at once.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Coordinator::Stub::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
                    const Request& request, Response* response, bool wait_for_ready = false) {
    if (!setup_.ok()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(setup_.message()));
    }
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
      const std::string why =
          status.error_message().empty()
              ? (status.error_code() == grpc::StatusCode::UNAVAILABLE ? "unavailable"
                                                                      : "deadline exceeded")
              : status.error_message();
      std::fprintf(
          stderr, "psdctl: cannot reach coordinator at %s: %s%s\n", address_.c_str(), why.c_str(),
          insecure_ ? " (--insecure talks plaintext: does the coordinator run with TLS?)" : "");
      return kExitUnreachable;
    }
    std::fprintf(stderr, "%s\n",
                 FailureLine(status.error_code(), status.error_message(), address_).c_str());
    return kExitFailed;
  }

  const std::string& address() const { return address_; }

 private:
  std::string address_;
  absl::Duration timeout_;
  absl::Status setup_;  // why there is no stub
  bool insecure_ = false;
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
  int64_t budget = DefaultMemoryBudget();
  if (std::optional<std::string> flag = inv.String("server-memory")) {
    std::optional<int64_t> bytes = ParseMemorySize(*flag);
    if (!bytes.has_value()) {
      std::fprintf(stderr, "psdctl: --server-memory: expected a size like 16GiB, got '%s'\n",
                   flag->c_str());
      return kExitUsage;
    }
    budget = *bytes;
  }
  const MemoryEstimate memory = EstimateServerMemory(*spec);
  if (absl::Status fits = CheckMemoryBudget(memory, budget); !fits.ok()) {
    std::fprintf(stderr, "%s: %s\n", inv.args[0].c_str(), std::string(fits.message()).c_str());
    return kExitFailed;
  }
  int64_t parameters = 0;
  for (const TensorInfo& t : ModelTensors(spec->model)) parameters += t.size;
  std::string consistency(ConsistencyName(spec->training.consistency));
  if (spec->training.consistency == Consistency::kSsp) {
    absl::StrAppend(&consistency, " (staleness ", spec->training.staleness, ")");
  }
  std::printf("ok: %s: %d servers, %d workers, %s, %lld parameters, %s per server\n",
              spec->name.c_str(), spec->cluster.servers, spec->cluster.workers, consistency.c_str(),
              static_cast<long long>(parameters), FormatMemory(memory.total()).c_str());
  if (absl::StatusOr<Placement> placement = Placement::ForJob(*spec);
      placement.ok() && !spec->model.sparse() &&
      static_cast<int>(placement->chunks().size()) < spec->cluster.servers) {
    const int idle = spec->cluster.servers - static_cast<int>(placement->chunks().size());
    std::fprintf(stderr,
                 "%s: warning: the model has %zu chunks of cluster.chunk_bytes, so %d of the %d "
                 "servers hold no parameters%s\n",
                 inv.args[0].c_str(), placement->chunks().size(), idle, spec->cluster.servers,
                 spec->checkpoint.every_steps > 0
                     ? " and its periodic checkpoints never complete (docs/operations.md)"
                     : "");
  }
  return kExitOk;
}

int RunSubmit(const Invocation& inv) {
  // The coordinator checks the spec (its encoding too: spec_yaml is bytes on the wire); the
  // other fields are proto strings, which must be UTF-8 or gRPC refuses the whole request.
  const std::string path = Utf8Escape(inv.args[0]);
  absl::StatusOr<std::string> text = ReadRegularFile(inv.args[0], kDefaultMaxSpecBytes);
  if (!text.ok()) {
    std::fprintf(stderr, "psdctl: %s\n", Utf8Escape(text.status().message()).c_str());
    return kExitFailed;
  }
  SubmitJobRequest request;
  request.set_spec_yaml(*std::move(text));
  request.set_source_name(path);
  if (std::optional<std::string> dir = inv.String("resume-from")) {
    if (FirstInvalidUtf8(*dir) != absl::string_view::npos) {
      std::fprintf(stderr, "psdctl: --resume-from: not valid UTF-8: %s\n",
                   Utf8Escape(*dir).c_str());
      return kExitFailed;
    }
    request.set_resume_from(*dir);
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

int RunTop(const Invocation& inv) {
  Client client(inv);
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  const absl::Duration every = inv.Duration("interval").value_or(kTopRefresh);
  TopView view;
  view.coordinator = client.address();
  for (bool first = true;; first = false) {
    ListNodesResponse nodes;
    ListJobsResponse jobs;
    grpc::Status status = client.Call(&Coordinator::Stub::ListNodes, ListNodesRequest(), &nodes);
    if (status.ok()) status = client.Call(&Coordinator::Stub::ListJobs, ListJobsRequest(), &jobs);
    if (status.ok()) {
      view.nodes = std::move(nodes);
      view.jobs = std::move(jobs);
      view.error.clear();
    } else if (inv.Has("once") || (first && !Client::Unreachable(status))) {
      return client.Fail(status);  // nothing to show, or a refusal that will not go away
    } else {
      view.error = FailureLine(status.error_code(), status.error_message(), client.address());
    }
    const std::string frame = TopFrame(view, absl::Now(), terminal ? TerminalWidth() : 0);
    if (terminal) {
      std::printf("\x1b[H\x1b[2J%s", frame.c_str());  // home, clear, redraw
    } else {
      std::printf("%s%s", first ? "" : "\n", frame.c_str());
    }
    std::fflush(stdout);
    if (inv.Has("once")) return kExitOk;
    Sleep(every);
  }
}

int RunWait(const Invocation& inv) {
  Client client(inv);
  return WaitForJob(client, inv.args[0]);
}

int RunEval(const Invocation& inv) {
  // The backend logs which device it chose; keep stdout for the result.
  auto logger = spdlog::stderr_color_st("psdctl");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  const std::string& path = inv.args[0];
  absl::StatusOr<EvalResult> result = EvaluateModelFile(
      path, inv.String("data-images").value_or(""), inv.String("data-labels").value_or(""));
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

// --workers and --servers of psdctl scale: 0 when absent; -1 (after a message) when bad.
int ScaleCount(const Invocation& inv, const char* flag, const char* what) {
  const std::optional<std::string> text = inv.String(flag);
  if (!text) return 0;
  int n = 0;
  if (!absl::SimpleAtoi(*text, &n) || n < 1) {
    std::fprintf(stderr, "psdctl scale: --%s: expected a number of %s >= 1, got '%s'\n", flag, what,
                 text->c_str());
    return -1;
  }
  return n;
}

int RunScale(const Invocation& inv) {
  const int workers = ScaleCount(inv, "workers", "workers");
  const int servers = ScaleCount(inv, "servers", "servers");
  if (workers < 0 || servers < 0) return kExitUsage;
  if (workers == 0 && servers == 0) {
    std::fprintf(stderr, "psdctl scale: give --workers N, --servers N or both\n");
    return kExitUsage;
  }
  Client client(inv);
  ScaleJobRequest request;
  request.set_job_id(inv.args[0]);
  request.set_workers(workers);
  request.set_servers(servers);
  JobInfo info;
  const grpc::Status status = client.Call(&Coordinator::Stub::ScaleJob, request, &info);
  if (!status.ok()) return client.Fail(status);
  if (info.scale_target() > 0 || info.server_scale_target() > 0) {
    std::string wanted;
    if (info.scale_target() > 0) wanted = absl::StrCat(info.scale_target(), " workers");
    if (info.server_scale_target() > 0) {
      absl::StrAppend(&wanted, wanted.empty() ? "" : " and ", info.server_scale_target(),
                      " servers");
    }
    std::printf("job %s: scaling to %s: %s\n", inv.args[0].c_str(), wanted.c_str(),
                info.reason().c_str());
  } else {
    std::printf("job %s: %s\n", inv.args[0].c_str(),
                info.events_size() > 0 ? info.events(info.events_size() - 1).c_str() : "scaled");
  }
  return kExitOk;
}

// How long `psdctl trace` waits for the job to pass the window when --timeout is not given.
constexpr absl::Duration kDefaultTraceWait = absl::Minutes(5);

int RunTrace(const Invocation& inv) {
  const std::optional<psdctl::StepRange> steps = inv.Steps("steps");
  const std::optional<std::string> output = inv.String("output");
  if (!steps.has_value() || !output.has_value()) {
    std::fprintf(stderr,
                 "psdctl: trace: --steps A-B and -o FILE are required (see psdctl trace "
                 "--help)\n");
    return kExitUsage;
  }
  if (steps->last - steps->first + 1 > kMaxTraceSteps) {
    std::fprintf(stderr, "psdctl: --steps: at most %lld steps per trace, got %lld ('%lld-%lld')\n",
                 static_cast<long long>(kMaxTraceSteps),
                 static_cast<long long>(steps->last - steps->first + 1),
                 static_cast<long long>(steps->first), static_cast<long long>(steps->last));
    return kExitUsage;
  }
  const absl::Duration wait = inv.Duration("timeout").value_or(kDefaultTraceWait);
  Client client(inv);
  // The coordinator gives up at `wait` and says who did not report; the call waits a little
  // longer for that answer (collecting from the servers and merging).
  client.set_timeout(wait + absl::Seconds(30));
  TraceJobRequest request;
  request.set_job_id(inv.args[0]);
  request.set_first_step(steps->first);
  request.set_last_step(steps->last);
  request.set_timeout_ms(absl::ToInt64Milliseconds(wait));
  std::fprintf(stderr, "job %s: tracing steps %lld-%lld (waiting up to %s)...\n",
               inv.args[0].c_str(), static_cast<long long>(steps->first),
               static_cast<long long>(steps->last), absl::FormatDuration(wait).c_str());
  TraceJobResponse response;
  const grpc::Status status = client.Call(&Coordinator::Stub::TraceJob, request, &response);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
        !status.error_message().empty() && status.error_message() != "Deadline Exceeded") {
      // The coordinator's own answer: the trace did not complete (it names who).
      std::fprintf(stderr, "psdctl: %s\n", status.error_message().c_str());
      return kExitFailed;
    }
    return client.Fail(status);
  }
  if (absl::Status s = WriteFileAtomically(*output, response.trace_json()); !s.ok()) {
    std::fprintf(stderr, "psdctl: cannot write %s: %s\n", output->c_str(),
                 std::string(s.message()).c_str());
    return kExitFailed;
  }
  for (const std::string& note : response.notes()) {
    std::fprintf(stderr, "note: %s\n", note.c_str());
  }
  std::printf("job %s: trace of steps %lld-%lld: %lld events from %d nodes written to %s\n",
              inv.args[0].c_str(), static_cast<long long>(steps->first),
              static_cast<long long>(steps->last), static_cast<long long>(response.events()),
              response.nodes(), output->c_str());
  return kExitOk;
}

// Runs the command line's command; see Invocation for what else a command line can ask.
int Main(int argc, char** argv) {
  const psdctl::CommandTable& table = psdctl::PsdctlCommands();
  const std::vector<std::string> args(argv + 1, argv + argc);
  const absl::StatusOr<Invocation> inv = psdctl::ParseArgs(table, args);
  if (!inv.ok()) {
    std::fprintf(stderr, "%s\n", std::string(inv.status().message()).c_str());
    return kExitUsage;
  }
  if (inv->help) {
    const std::string help = inv->command != nullptr ? psdctl::CommandHelp(table, *inv->command)
                                                     : psdctl::GeneralHelp(table);
    std::printf("%s", help.c_str());
    return kExitOk;
  }
  if (inv->command == nullptr) {
    std::fprintf(stderr, "%s", psdctl::GeneralHelp(table).c_str());
    return kExitUsage;
  }
  // Job ids travel in proto strings, and gRPC refuses a request whose strings are not UTF-8.
  const CommandId id = inv->command->id;
  if (id == CommandId::kStatus || id == CommandId::kCancel || id == CommandId::kWait ||
      id == CommandId::kCheckpoint || id == CommandId::kScale || id == CommandId::kTrace) {
    for (const std::string& arg : inv->args) {
      if (FirstInvalidUtf8(arg) != absl::string_view::npos) {
        std::fprintf(stderr, "psdctl: job id \"%s\" is not valid UTF-8\n", Utf8Escape(arg).c_str());
        return kExitUsage;
      }
    }
  }
  switch (id) {
    case CommandId::kValidate:
      return RunValidate(*inv);
    case CommandId::kSubmit:
      return RunSubmit(*inv);
    case CommandId::kStatus:
      return RunStatus(*inv);
    case CommandId::kList:
      return RunList(*inv);
    case CommandId::kCancel:
      return RunCancel(*inv);
    case CommandId::kNodes:
      return RunNodes(*inv);
    case CommandId::kTop:
      return RunTop(*inv);
    case CommandId::kWait:
      return RunWait(*inv);
    case CommandId::kCheckpoint:
      return RunCheckpoint(*inv);
    case CommandId::kScale:
      return RunScale(*inv);
    case CommandId::kTrace:
      return RunTrace(*inv);
    case CommandId::kEval:
      return RunEval(*inv);
    case CommandId::kHelp:  // ParseArgs answers `help` with Invocation::help
      break;
  }
  std::fprintf(stderr, "%s", psdctl::GeneralHelp(table).c_str());
  return kExitUsage;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) { return psd::Main(argc, argv); }
