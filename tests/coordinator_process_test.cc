// psd-coordinator and psdctl as real processes: restarts (SIGKILL) on the same state
// directory, graceful shutdown, and psdctl's errors.
#include <signal.h>

#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::ChildProcess;
using testing::CommandResult;
using testing::FakeNode;

constexpr char kCoordinator[] = "coordinator/psd-coordinator";
constexpr char kPsdctl[] = "tools/psdctl";

// psdctl's TLS flags as the admin.
std::vector<std::string> AdminFlags() {
  const TlsOptions admin = testing::TestTls("admin", PeerRole::kAdmin);
  return {"--tls-ca=" + admin.ca_file, "--tls-cert=" + admin.cert_file,
          "--tls-key=" + admin.key_file};
}

// `argv` with psdctl's admin flags after the program.
std::vector<std::string> AsAdmin(std::vector<std::string> argv) {
  const std::vector<std::string> flags = AdminFlags();
  argv.insert(argv.begin() + 1, flags.begin(), flags.end());
  return argv;
}

std::vector<std::string> CoordinatorTls() {
  return testing::TestTlsFlags("coordinator", PeerRole::kCoordinator);
}

// A psd-coordinator process on 127.0.0.1 with short heartbeat timeouts.
class Coordinator {
 public:
  explicit Coordinator(std::string dir) : dir_(std::move(dir)) {}

  // Starts on `port` (0: any; the port is kept for restarts).
  void Start(int port = 0, int restart_grace_ms = 5000) {
    const std::string port_file = dir_ + "/port";
    std::remove(port_file.c_str());
    testing::SpawnOptions options;
    options.stderr_path = dir_ + "/coordinator.log";
    options.append = true;
    std::vector<std::string> argv = {kCoordinator,
                                     "--bind=127.0.0.1",
                                     absl::StrCat("--port=", port),
                                     "--port_file=" + port_file,
                                     "--state_dir=" + dir_ + "/state",
                                     "--heartbeat_interval_ms=100",
                                     "--heartbeat_timeout_ms=2000",
                                     absl::StrCat("--restart_grace_ms=", restart_grace_ms)};
    for (const std::string& flag : CoordinatorTls()) argv.push_back(flag);
    auto child = ChildProcess::Spawn(argv, options);
    REQUIRE(child.ok());
    process_ = *std::move(child);
    std::optional<int> bound = testing::WaitForPortFile(port_file, absl::Seconds(20), &process_);
    INFO(testing::ReadFile(dir_ + "/coordinator.log"));
    REQUIRE(bound.has_value());
    port_ = *bound;
  }

  ChildProcess& process() { return process_; }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string log() const { return testing::ReadFile(dir_ + "/coordinator.log"); }

  CommandResult Psdctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {kPsdctl, "--coordinator", address()});
    return testing::RunCommand(AsAdmin(args), absl::Seconds(30));
  }

 private:
  std::string dir_;
  ChildProcess process_;
  int port_ = 0;
};

std::string WriteJobFile(const std::string& dir, const testing::JobYamlOptions& options) {
  const std::string path = absl::StrCat(dir, "/", options.name, ".yaml");
  std::ofstream(path) << testing::JobYaml(options);
  return path;
}

std::string SubmitWithPsdctl(const Coordinator& c, const std::string& file) {
  CommandResult r = c.Psdctl({"submit", file});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return std::string(absl::StripAsciiWhitespace(r.out));
}

std::string StatusText(const Coordinator& c, const std::string& job) {
  return c.Psdctl({"status", job}).out;
}

bool WaitForStatus(const Coordinator& c, const std::string& job, const std::string& text,
                   absl::Duration timeout = absl::Seconds(15)) {
  return testing::WaitUntil([&] { return StatusText(c, job).find(text) != std::string::npos; },
                            timeout, absl::Milliseconds(100));
}

// The line of `table` that starts with `key`, or "".
std::string LineOf(const std::string& table, const std::string& key) {
  size_t at = table.find("\n" + key + " ");
  if (at == std::string::npos) return "";
  ++at;
  return table.substr(at, table.find('\n', at) - at);
}

int CountRuns(const FakeNode& node, const std::string& job) {
  int runs = 0;
  for (const Assignment& a : node.received()) {
    runs += a.job_id() == job && a.action() == Assignment::ACTION_RUN;
  }
  return runs;
}

TEST_CASE(
    "a coordinator killed with SIGKILL comes back with every job and its running job's "
    "nodes") {
  const std::string dir = testing::MakeTempDir("restart");
  Coordinator c(dir);
  c.Start();

  FakeNode server(c.address(), ROLE_SERVER, 0);
  FakeNode worker(c.address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());

  testing::JobYamlOptions small;
  small.name = "small";
  const std::string running = SubmitWithPsdctl(c, WriteJobFile(dir, small));
  auto server_run = server.WaitForRun(running);
  REQUIRE(server_run.has_value());
  REQUIRE(server.ReportReady(*server_run).ok());
  auto worker_run = worker.WaitForRun(running);
  REQUIRE(worker_run.has_value());

  testing::JobYamlOptions big;
  big.name = "big";
  big.workers = 3;
  const std::string queued = SubmitWithPsdctl(c, WriteJobFile(dir, big));
  const std::string cancelled = SubmitWithPsdctl(c, WriteJobFile(dir, small));
  REQUIRE(c.Psdctl({"cancel", cancelled}).exit_code == 0);

  CHECK(c.process().Kill() == 128 + SIGKILL);
  c.Start(c.port());

  // Queued and finished jobs are listed with their states.
  CommandResult list = c.Psdctl({"list"});
  REQUIRE(list.exit_code == 0);
  CHECK_THAT(LineOf(list.out, queued), Catch::Contains(" queued "));
  CHECK_THAT(LineOf(list.out, cancelled), Catch::Contains(" cancelled "));
  CHECK_THAT(StatusText(c, cancelled), Catch::Contains("cancelled: cancelled by user"));
  CommandResult top = c.Psdctl({"top", "--once"});
  CHECK(top.exit_code == 0);
  CHECK_THAT(top.out, Catch::StartsWith("psd top  coordinator " + c.address() + "  "));
  CHECK_THAT(top.out, Catch::Contains("\njobs: 1 running, 1 queued, 1 finished\n"));
  CHECK_THAT(LineOf(top.out, queued), Catch::Contains(" queued "));
  CHECK_THAT(LineOf(top.out, cancelled), Catch::Contains(" cancelled "));
  CHECK_THAT(LineOf(StatusText(c, queued), "state"),
             Catch::EndsWith(" queued: waiting: 0 of 1 servers and 0 of 3 workers registered (1 "
                             "server, 1 worker busy with other jobs)"));

  // The running job's nodes re-register and keep their assignment: no second RUN.
  CHECK(WaitForStatus(c, running, "running: running"));
  const bool both_back = testing::WaitUntil(
      [&] {
        CommandResult nodes = c.Psdctl({"nodes"});
        int busy = 0;
        for (const std::string& id : {server.node_id(), worker.node_id()}) {
          const std::string line = LineOf(nodes.out, id);
          busy += line.find(" busy ") != std::string::npos &&
                  line.find(" " + running + " ") != std::string::npos &&
                  line.find(" ago") != std::string::npos;
        }
        return busy == 2;
      },
      absl::Seconds(15), absl::Milliseconds(100));
  INFO(c.log());
  CHECK(both_back);
  CHECK(CountRuns(server, running) == 1);
  CHECK(CountRuns(worker, running) == 1);
  CHECK_THAT(c.log(), Catch::Contains("node " + worker.node_id() + " resumes job " + running));

  // The job finishes after the restart, and its final state survives the next restart.
  JobResult result;
  result.set_test_accuracy(0.875);
  result.set_steps(20);
  result.set_wall_seconds(3.5);
  REQUIRE(worker.ReportSucceeded(*worker_run, result).ok());
  CommandResult wait = c.Psdctl({"wait", running});
  CHECK(wait.exit_code == 0);
  // wall_s is the coordinator's start-to-end time, not the worker's figure.
  CHECK_THAT(wait.out,
             Catch::Matches("job " + running +
                            " succeeded: test_accuracy=0\\.8750 wall_s=[0-9]+\\.[0-9]\n"));
  CHECK(server.WaitForStop(running).has_value());

  CHECK(c.process().Kill() == 128 + SIGKILL);
  c.Start(c.port());
  CHECK_THAT(StatusText(c, running), Catch::Contains("succeeded: finished 20 steps"));
  CHECK_THAT(LineOf(c.Psdctl({"list"}).out, queued), Catch::Contains(" queued "));
  CHECK(c.process().Stop() == 0);
}

TEST_CASE("a running job's node that does not come back after a restart is lost") {
  const std::string dir = testing::MakeTempDir("grace");
  Coordinator c(dir);
  c.Start(0, 3000);
  FakeNode server(c.address(), ROLE_SERVER, 0);
  FakeNode worker(c.address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());
  const std::string job = SubmitWithPsdctl(c, WriteJobFile(dir, testing::JobYamlOptions()));
  auto run = server.WaitForRun(job);
  REQUIRE(run.has_value());
  REQUIRE(server.ReportReady(*run).ok());
  REQUIRE(worker.WaitForRun(job).has_value());

  c.process().Kill();
  worker.Stop();
  c.Start(c.port(), 3000);
  INFO(c.log());
  CHECK(WaitForStatus(c, job, "failed: worker 0 (" + worker.node_id()));
  CHECK_THAT(StatusText(c, job),
             Catch::Contains("lost: did not re-register within 3.0 s of the coordinator restart"));
  CHECK(server.WaitForStop(job).has_value());
}

TEST_CASE("SIGTERM stops the coordinator promptly with exit 0, streams open") {
  const std::string dir = testing::MakeTempDir("sigterm");
  Coordinator c(dir);
  c.Start();
  FakeNode node(c.address(), ROLE_WORKER, 0);  // holds a WatchAssignments stream open
  REQUIRE(node.Start().ok());
  c.process().Signal(SIGTERM);
  std::optional<int> status = c.process().Wait(absl::Seconds(10));
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK_THAT(c.log(), Catch::Contains("shutting down"));
}

TEST_CASE("a second coordinator on the same state directory is refused") {
  const std::string dir = testing::MakeTempDir("lock");
  Coordinator first(dir);
  first.Start();
  std::vector<std::string> argv = {kCoordinator, "--port=0", "--state_dir=" + dir + "/state"};
  for (const std::string& flag : CoordinatorTls()) argv.push_back(flag);
  CommandResult second = testing::RunCommand(argv, absl::Seconds(20));
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("is in use by another psd-coordinator"));
}

TEST_CASE("every daemon answers --help with its own flags and exit 0") {
  const std::vector<std::pair<std::string, std::string>> daemons = {
      {kCoordinator, "--state_dir"},
      {"server/psd-server", "--coordinator"},
      {"worker/psd-worker", "--coordinator"}};
  for (const auto& [binary, flag] : daemons) {
    for (const char* help : {"--help", "-h"}) {
      CommandResult r = testing::RunCommand({binary, help});
      INFO(binary << " " << help << ": " << r.out << r.err);
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.out, Catch::Contains("Flags:") && Catch::Contains("  " + flag + " (default: ") &&
                            Catch::Contains("  --log_level (default: info)"));
      CHECK_THAT(r.out, !Catch::Contains("--flagfile"));
    }
  }
  CommandResult bad = testing::RunCommand({"server/psd-server", "--no_such_flag=1"});
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains("no_such_flag"));
}

TEST_CASE("a daemon without certificates refuses to start; --insecure starts with a warning") {
  const std::string dir = testing::MakeTempDir("notls");
  for (const std::string binary : {kCoordinator, "server/psd-server", "worker/psd-worker"}) {
    INFO(binary);
    // The one flag each daemon needs besides TLS.
    const std::string needed =
        binary == kCoordinator ? "--state_dir=" + dir + "/state" : "--coordinator=127.0.0.1:1";
    CommandResult r = testing::RunCommand({binary, "--port=0", needed}, absl::Seconds(20));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("TLS is on by default and --tls_ca, --tls_cert, --tls_key "
                                      "are missing") &&
                          Catch::Contains("--insecure"));
    const TlsOptions admin = testing::TestTls("admin", PeerRole::kAdmin);
    CommandResult missing =
        testing::RunCommand({binary, "--port=0", needed, "--tls_ca=" + admin.ca_file,
                             "--tls_cert=" + dir + "/nope.crt", "--tls_key=" + admin.key_file},
                            absl::Seconds(20));
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("--tls_cert " + dir + "/nope.crt: No such file"));
    CommandResult wrong =
        testing::RunCommand({binary, "--port=0", needed, "--tls_ca=" + admin.ca_file,
                             "--tls_cert=" + admin.cert_file, "--tls_key=" + admin.key_file},
                            absl::Seconds(20));
    CHECK(wrong.exit_code == 2);
    CHECK_THAT(wrong.err, Catch::Contains("is the certificate of admin 'admin'"));
  }
  // --insecure: the coordinator starts and says loudly what it gives up.
  testing::SpawnOptions options;
  options.stderr_path = dir + "/insecure.log";
  auto child = ChildProcess::Spawn(
      {kCoordinator, "--bind=127.0.0.1", "--port=0", "--port_file=" + dir + "/insecure.port",
       "--state_dir=" + dir + "/insecure", "--insecure"},
      options);
  REQUIRE(child.ok());
  const std::optional<int> port =
      testing::WaitForPortFile(dir + "/insecure.port", absl::Seconds(20), &*child);
  REQUIRE(port.has_value());
  CHECK_THAT(testing::ReadFile(dir + "/insecure.log"),
             Catch::Contains(" W ") && Catch::Contains("--insecure: TLS is OFF") &&
                 Catch::Contains("role checks are skipped"));
  CommandResult list = testing::RunCommand(
      {kPsdctl, "--coordinator", absl::StrCat("127.0.0.1:", *port), "--insecure", "list"});
  CHECK(list.exit_code == 0);
  // A TLS psdctl cannot talk to it, nor a plaintext one to a TLS coordinator.
  CommandResult tls = testing::RunCommand(
      AsAdmin({kPsdctl, "--coordinator", absl::StrCat("127.0.0.1:", *port), "list"}));
  CHECK(tls.exit_code == 3);
  CHECK(child->Stop() == 0);
}

TEST_CASE("psdctl explains a coordinator that is down") {
  // A port that was just free: nothing listens there.
  const std::string dir = testing::MakeTempDir("down");
  Coordinator c(dir);
  c.Start();
  const std::string address = c.address();
  REQUIRE(c.process().Stop() == 0);
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"list"}, {"status", "x-1"}, {"nodes"}, {"top", "--once"}}) {
    args.insert(args.begin(), {kPsdctl, "--coordinator", address});
    CommandResult r = testing::RunCommand(AsAdmin(args));
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Catch::StartsWith("psdctl: cannot reach coordinator at " + address + ": "));
    CHECK(r.err.find('\n') == r.err.size() - 1);  // one line
  }
  // The address also comes from $PSD_COORDINATOR.
  testing::SpawnOptions env;
  // ... and the certificate from $PSD_TLS_*.
  const TlsOptions admin = testing::TestTls("admin", PeerRole::kAdmin);
  env.env = {"PSD_COORDINATOR=" + address, "PSD_TLS_CA=" + admin.ca_file,
             "PSD_TLS_CERT=" + admin.cert_file, "PSD_TLS_KEY=" + admin.key_file};
  CommandResult r = testing::RunCommand({kPsdctl, "list"}, absl::Seconds(30), env);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains(address));
}

TEST_CASE("psdctl reports bad files, unknown jobs and bad usage") {
  const std::string dir = testing::MakeTempDir("psdctl");
  Coordinator c(dir);
  c.Start();
  const std::string bad = dir + "/bad.yaml";
  std::ofstream(bad) << "name: bad\ntraining:\n  batch_size: 0\n";

  CommandResult submit = c.Psdctl({"submit", bad});
  CHECK(submit.exit_code == 1);
  CHECK_THAT(submit.err, Catch::StartsWith(bad + ":3: training.batch_size: "));
  CommandResult validate = testing::RunCommand({kPsdctl, "validate", bad});
  CHECK(validate.exit_code == 1);
  CHECK_THAT(validate.err, Catch::StartsWith(bad + ":3: training.batch_size: "));
  CommandResult missing = c.Psdctl({"submit", dir + "/missing.yaml"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err == "psdctl: file not found: " + dir + "/missing.yaml\n");

  for (const char* command : {"status", "cancel", "wait", "checkpoint"}) {
    CommandResult r = c.Psdctl({command, "nope"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "psdctl: no job 'nope'\n");
  }

  CommandResult usage = c.Psdctl({"status"});
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.err, Catch::Contains("expected JOB"));
  CHECK(c.Psdctl({"frobnicate"}).exit_code == 2);
  CHECK(c.Psdctl({"submit", bad, "--bogus"}).exit_code == 2);
  CHECK(c.Psdctl({"list", "--timeout", "soon"}).exit_code == 2);
  CommandResult help = c.Psdctl({"submit", "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::StartsWith("usage: psdctl submit FILE [--wait] [--resume-from DIR]"));
  CHECK(c.Psdctl({"help", "submit"}).out == help.out);

  // The coordinator keeps serving after all that.
  const std::string good = WriteJobFile(dir, testing::JobYamlOptions());
  const std::string id = SubmitWithPsdctl(c, good);
  CHECK(id == "test-1");
  CHECK_THAT(StatusText(c, id),
             Catch::Contains("queued: waiting: 0 of 1 servers and 0 of 1 workers registered"));
}

TEST_CASE("psdctl submit --wait follows the job to its end") {
  const std::string dir = testing::MakeTempDir("wait");
  Coordinator c(dir);
  c.Start();
  FakeNode server(c.address(), ROLE_SERVER, 0);
  FakeNode worker(c.address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());
  testing::SpawnOptions out;
  out.stdout_path = dir + "/wait.out";
  auto waiting =
      ChildProcess::Spawn(AsAdmin({kPsdctl, "--coordinator", c.address(), "submit", "--wait",
                                   WriteJobFile(dir, testing::JobYamlOptions())}),
                          out);
  REQUIRE(waiting.ok());
  auto run = server.WaitForRun("test-1");
  REQUIRE(run.has_value());
  REQUIRE(server.ReportFailed(*run, "cannot allocate 4 GiB").ok());
  std::optional<int> status = waiting->Wait(absl::Seconds(20));
  REQUIRE(status.has_value());
  CHECK(*status == 1);
  const std::string text = testing::ReadFile(dir + "/wait.out");
  CHECK_THAT(text, Catch::StartsWith("job test-1 submitted\n"));
  CHECK_THAT(text, Catch::EndsWith("\njob test-1 failed: server 0: cannot allocate 4 GiB\n"));
}

TEST_CASE("psdctl wait stops on SIGTERM, also as a container's PID 1, and says the job goes on") {
  const std::string dir = testing::MakeTempDir("interrupt");
  Coordinator c(dir);
  c.Start();
  const std::string id = SubmitWithPsdctl(c, WriteJobFile(dir, testing::JobYamlOptions()));
  testing::SpawnOptions options;
  options.stdout_path = dir + "/wait.out";
  options.stderr_path = dir + "/wait.err";
  auto waiting =
      ChildProcess::Spawn(AsAdmin({kPsdctl, "--coordinator", c.address(), "wait", id}), options);
  REQUIRE(waiting.ok());
  REQUIRE(testing::WaitUntil(
      [&] { return testing::ReadFile(dir + "/wait.out").find("job " + id) != std::string::npos; },
      absl::Seconds(15), absl::Milliseconds(50)));
  waiting->Signal(SIGTERM);
  std::optional<int> status = waiting->Wait(absl::Seconds(10));
  REQUIRE(status.has_value());
  CHECK(*status == 128 + SIGTERM);
  CHECK_THAT(testing::ReadFile(dir + "/wait.err"),
             Catch::Contains("psdctl: interrupted; job " + id +
                             " keeps running (follow it with: "
                             "psdctl wait " +
                             id));
  CHECK_THAT(StatusText(c, id), Catch::Contains("queued"));
}

}  // namespace
}  // namespace psd
