// Durability and recovery with real processes: servers and the coordinator killed with
// SIGKILL mid-job, damaged checkpoints, lost push replies, and SIGTERM on every daemon.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/e2e.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::CommandResult;
using testing::JobOptions;
using testing::LastLine;
using testing::LocalCluster;

// A sync job of 2 epochs of the 784-256-128-10 MLP that checkpoints into `dir`.
JobOptions CheckpointedJob(const std::string& name, const std::string& dir, int every_steps,
                           int keep = 3) {
  JobOptions job(name,
                 "epochs: 2\nconsistency: sync\nlog_every: 10\n"
                 "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}\n"
                 "lr_schedule: {type: cosine}");
  job.hidden = "[256, 128]";
  job.batch_size = 64;
  job.chunk_bytes = "64KiB";
  job.checkpoint =
      absl::StrCat("{dir: ", dir, ", every_steps: ", every_steps, ", keep: ", keep, "}");
  return job;
}

// The events of `psdctl status`, and the steps lost in the last "resumed from step S (lost L
// steps)" event (-1 if there is none).
int64_t StepsLost(const std::string& status, int64_t* resumed_from = nullptr) {
  std::smatch m;
  int64_t lost = -1;
  std::string rest = status;
  while (
      std::regex_search(rest, m, std::regex(R"(resumed from step (\d+) \(lost (\d+) steps?\))"))) {
    if (resumed_from != nullptr) *resumed_from = std::stoll(m[1]);
    lost = std::stoll(m[2]);
    rest = m.suffix();
  }
  return lost;
}

bool WaitForReason(const LocalCluster& cluster, const std::string& job, const std::string& text) {
  return testing::WaitUntil(
      [&] {
        return cluster.Psdctl({"status", job}).out.find(text) != std::string::npos;
      },
      absl::Seconds(30), absl::Milliseconds(100));
}

// Steps under <dir>/<job> whose checkpoint every one of `servers` ranks completed, newest first.
std::vector<int64_t> CompleteCheckpoints(const std::string& dir, const std::string& job,
                                         int servers) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / job, ec)) {
    int64_t step = 0;
    if (!absl::SimpleAtoi(e.path().filename().string(), &step)) continue;
    bool complete = true;
    for (int r = 0; r < servers; ++r) {
      complete &= fs::exists(e.path() / absl::StrCat("server-", r, ".manifest"));
    }
    if (complete) steps.push_back(step);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

TEST_CASE("a server killed mid-job and restarted: the job completes as if undisturbed",
          "[recovery][e2e]") {
  auto cluster = LocalCluster::Start(2, 2, {"--heartbeat-timeout-ms", "2000"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string dir = c.run_dir() + "/checkpoints";
  constexpr int kEvery = 100;

  const std::string calm =
      testing::RunJob(c, "calm", testing::FashionJob(CheckpointedJob("calm", dir, kEvery)));
  const double undisturbed = testing::TestAccuracy(calm);

  const std::string job =
      testing::SubmitJob(c, "killed", testing::FashionJob(CheckpointedJob("killed", dir, kEvery)));
  REQUIRE(testing::WaitForStep(c, job, 350, absl::Seconds(120)));
  REQUIRE(c.Script({"kill", "server", "1"}).exit_code == 0);
  REQUIRE(WaitForReason(c, job, "recovering"));
  REQUIRE(c.Script({"restart", "server", "1"}).exit_code == 0);
  const CommandResult wait = c.Psdctl({"wait", job}, absl::Minutes(3));
  const std::string status = c.Psdctl({"status", job}).out;
  INFO(wait.out << wait.err << status);
  REQUIRE(wait.exit_code == 0);
  const double recovered = testing::TestAccuracy(LastLine(wait.out));
  const int64_t lost = StepsLost(status);
  std::printf(
      "server 1 killed at step >= 350 and restarted: %s\n  undisturbed: %s\n  steps lost: %ld "
      "(checkpoint every %d)\n",
      LastLine(wait.out).c_str(), calm.c_str(), static_cast<long>(lost), kEvery);
  CHECK(lost >= 0);
  CHECK(lost <= kEvery);
  CHECK(std::abs(recovered - undisturbed) <= 0.005);
}

TEST_CASE("damaged checkpoints are skipped for the previous complete one", "[recovery][e2e]") {
  auto cluster = LocalCluster::Start(2, 2, {"--heartbeat-timeout-ms", "2000"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string dir = c.run_dir() + "/checkpoints";
  const std::string job = testing::SubmitJob(
      c, "damaged", testing::FashionJob(CheckpointedJob("damaged", dir, 40, 10)));
  REQUIRE(testing::WaitForStep(c, job, 250, absl::Seconds(120)));
  REQUIRE(c.Script({"kill", "server", "1"}).exit_code == 0);
  REQUIRE(WaitForReason(c, job, "recovering"));

  const std::vector<int64_t> steps = CompleteCheckpoints(dir, job, 2);
  REQUIRE(steps.size() >= 3);
  const std::string newest = absl::StrCat(dir, "/", job, "/", steps[0]);
  const std::string second = absl::StrCat(dir, "/", job, "/", steps[1]);
  {  // A flipped byte in the newest one's data...
    std::fstream f(newest + "/server-1", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-64, std::ios::end);
    char byte = 0;
    f.read(&byte, 1);
    byte ^= 0x10;
    f.seekp(-64, std::ios::end);
    f.write(&byte, 1);
  }
  fs::remove(second + "/server-0.manifest");  // ...and the one before lost its manifest.

  REQUIRE(c.Script({"restart", "server", "1"}).exit_code == 0);
  const CommandResult wait = c.Psdctl({"wait", job}, absl::Minutes(3));
  const std::string status = c.Psdctl({"status", job}).out;
  INFO(wait.out << wait.err << status);
  CHECK(wait.exit_code == 0);
  CHECK(status.find(absl::StrCat("checkpoint of step ", steps[0], " unusable")) !=
        std::string::npos);
  CHECK(status.find("checksum mismatch") != std::string::npos);
  CHECK(status.find(absl::StrCat("checkpoint of step ", steps[1], " unusable")) !=
        std::string::npos);
  CHECK(status.find("the checkpoint is incomplete") != std::string::npos);
  int64_t resumed = -1;
  StepsLost(status, &resumed);
  std::printf(
      "newest checkpoints %ld (flipped byte) and %ld (no manifest) skipped; resumed from %ld\n",
      static_cast<long>(steps[0]), static_cast<long>(steps[1]), static_cast<long>(resumed));
  CHECK(resumed == steps[2]);
}

TEST_CASE("a push whose reply is lost is retried and applied exactly once", "[recovery][e2e]") {
  auto cluster = LocalCluster::Start(2, 2, {"--server-flag", "--debug_drop_push_replies=5"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string dir = c.run_dir() + "/models";
  JobOptions job("dropped",
                 "max_steps: 30\nconsistency: sync\n"
                 "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}");
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  const std::string yaml = testing::FashionJob(job);
  const std::string verdict = testing::RunJob(c, job.name, yaml);
  auto model = ReadModelFile(dir + "/" + testing::JobId(verdict) + "/model.psdm");
  REQUIRE(model.ok());
  auto spec = ParseJobSpec(yaml, job.name);
  REQUIRE(spec.ok());
  const double diff = testing::MaxAbsDiff(*model, testing::TrainInOneProcess(*spec));
  std::printf("every 5th push reply dropped: max |servers - one process| = %.3g\n", diff);
  CHECK(diff <= 1e-4);
  // The replies really were dropped, and the pushes retried.
  CHECK(c.Log("worker-0").find("injected fault") != std::string::npos);
}

TEST_CASE("the coordinator killed mid-job and restarted: the job finishes and is listed once",
          "[recovery][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  JobOptions options("orphan",
                     "epochs: 1\nconsistency: sync\nlog_every: 10\n"
                     "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}");
  options.hidden = "[256, 128]";
  options.batch_size = 64;
  const std::string job = testing::SubmitJob(c, "orphan", testing::FashionJob(options));
  REQUIRE(testing::WaitForStep(c, job, 100, absl::Seconds(60)));
  REQUIRE(c.Script({"kill", "coordinator"}).exit_code == 0);
  absl::SleepFor(absl::Seconds(1));
  REQUIRE(c.Script({"restart", "coordinator"}).exit_code == 0);
  const CommandResult wait = c.Psdctl({"wait", job}, absl::Minutes(3));
  INFO(wait.out << wait.err);
  CHECK(wait.exit_code == 0);
  const std::string list = c.Psdctl({"list"}).out;
  INFO(list);
  size_t count = 0;
  for (size_t at = list.find(job + " "); at != std::string::npos;
       at = list.find(job + " ", at + 1)) {
    ++count;
  }
  CHECK(count == 1);
  std::printf("coordinator killed at step >= 100 and restarted: %s\n", LastLine(wait.out).c_str());
}

// Daemons started directly (not through cluster.sh), so that their exit status is known.
class Daemons {
 public:
  explicit Daemons(std::string dir) : dir_(std::move(dir)) {}

  ChildProcess& Start(const std::string& name, std::vector<std::string> argv) {
    const std::string port_file = dir_ + "/" + name + ".port";
    argv.insert(argv.end(), {"--bind=127.0.0.1", "--port=0", "--port_file=" + port_file});
    if (name != "coordinator") {
      argv.insert(argv.end(), {"--coordinator=" + coordinator_, "--advertise_host=127.0.0.1"});
    }
    if (name.rfind("server", 0) == 0) argv.push_back("--shutdown_grace_ms=6000");
    const PeerRole role = name == "coordinator"          ? PeerRole::kCoordinator
                          : name.rfind("server", 0) == 0 ? PeerRole::kServer
                                                         : PeerRole::kWorker;
    for (std::string& flag : testing::TestTlsFlags(name, role)) argv.push_back(std::move(flag));
    testing::SpawnOptions options;
    options.stderr_path = dir_ + "/" + name + ".log";
    auto child = ChildProcess::Spawn(argv, options);
    REQUIRE(child.ok());
    ChildProcess& p = processes_[name] = *std::move(child);
    const auto port = testing::WaitForPortFile(port_file, absl::Seconds(20), &p);
    INFO(Log(name));
    REQUIRE(port.has_value());
    if (name == "coordinator") coordinator_ = absl::StrCat("127.0.0.1:", *port);
    return p;
  }

  // SIGTERM, then the exit status (nullopt if it did not exit within `within`).
  std::optional<int> Terminate(const std::string& name, absl::Duration within) {
    ChildProcess& p = processes_.at(name);
    p.Signal(SIGTERM);
    return p.Wait(within);
  }

  CommandResult Psdctl(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(30)) {
    const TlsOptions admin = testing::TestTls("admin", PeerRole::kAdmin);
    args.insert(args.begin(),
                {"tools/psdctl", "--coordinator", coordinator_, "--tls-ca=" + admin.ca_file,
                 "--tls-cert=" + admin.cert_file, "--tls-key=" + admin.key_file});
    return testing::RunCommand(args, timeout);
  }

  std::string Log(const std::string& name) const {
    return testing::ReadFile(dir_ + "/" + name + ".log");
  }

 private:
  std::string dir_, coordinator_;
  std::map<std::string, ChildProcess> processes_;
};

TEST_CASE("SIGTERM: every daemon hands off its work and exits 0 within its grace period",
          "[recovery][e2e]") {
  const std::string dir = testing::MakeTempDir("sigterm");
  const std::string checkpoints = dir + "/checkpoints";
  Daemons d(dir);
  d.Start("coordinator", {"coordinator/psd-coordinator", "--state_dir=" + dir + "/state",
                          "--heartbeat_timeout_ms=2000"});
  for (int s = 0; s < 2; ++s) {
    d.Start(absl::StrCat("server-", s),
            {"server/psd-server", absl::StrCat("--preferred_rank=", s)});
  }
  for (int w = 0; w < 3; ++w) {
    d.Start(absl::StrCat("worker-", w), {"worker/psd-worker", "--threads=1"});
  }
  JobOptions options("graceful",
                     "epochs: 2\nconsistency: sync\nlog_every: 10\n"
                     "on_worker_failure: continue\n"
                     "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}");
  options.workers = 3;
  options.hidden = "[256, 128]";
  options.checkpoint = absl::StrCat("{dir: ", checkpoints, "}");  // no periodic checkpoints
  const std::string file = dir + "/job.yaml";
  std::ofstream(file) << testing::FashionJob(options);
  const CommandResult submit = d.Psdctl({"submit", file});
  REQUIRE(submit.exit_code == 0);
  const std::string job = testing::JobId(submit.out);
  auto step = [&] {
    std::smatch m;
    const std::string status = d.Psdctl({"status", job}).out;
    return std::regex_search(status, m, std::regex(R"(step (\d+)/)")) ? std::stoll(m[1]) : 0;
  };
  REQUIRE(testing::WaitUntil([&] { return step() >= 100; }, absl::Seconds(90),
                             absl::Milliseconds(200)));

  // A server checkpoints the job, leaves, and a new server takes its place.
  std::optional<int> code = d.Terminate("server-1", absl::Seconds(7));
  INFO(d.Log("server-1"));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(d.Log("server-1").find("written before leaving") != std::string::npos);
  d.Start("server-2", {"server/psd-server"});
  REQUIRE(testing::WaitUntil(
      [&] {
        return d.Psdctl({"status", job}).out.find("resumed from step") != std::string::npos;
      },
      absl::Seconds(60), absl::Milliseconds(200)));
  const std::string status = d.Psdctl({"status", job}).out;
  int64_t resumed = -1;
  const int64_t lost = StepsLost(status, &resumed);
  INFO("coordinator:\n" << d.Log("coordinator"));
  std::smatch handed;
  const std::string server_log = d.Log("server-1");
  REQUIRE(std::regex_search(server_log, handed,
                            std::regex(R"(checkpoint of step (\d+) written before leaving)")));
  std::printf(
      "server SIGTERMed mid-job: exit %d, replaced, handed off at step %s, resumed from "
      "%ld, steps lost %ld\n",
      *code, handed[1].str().c_str(), static_cast<long>(resumed), static_cast<long>(lost));
  // The job resumes from the hand-off checkpoint itself. The steps the workers took while it
  // was being written (more on a loaded machine) are redone, so `lost` is reported, not bound.
  CHECK(resumed == std::stoll(handed[1]));

  // A worker leaves; the job goes on with the others.
  code = d.Terminate("worker-2", absl::Seconds(7));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  const CommandResult wait = d.Psdctl({"wait", job}, absl::Minutes(3));
  INFO(wait.out << wait.err);
  CHECK(wait.exit_code == 0);

  // Then everyone else, the coordinator last.
  for (const char* name : {"worker-0", "worker-1", "server-0", "server-2", "coordinator"}) {
    code = d.Terminate(name, absl::Seconds(7));
    INFO(name << "\n" << d.Log(name));
    REQUIRE(code.has_value());
    CHECK(*code == 0);
  }
  // Nothing half-written is left behind.
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    INFO(e.path());
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
}

}  // namespace
}  // namespace psd
