// psdctl (as a process) against an in-process coordinator: while a job recovers from a lost
// server, `wait` follows the job through the recovery, `status` shows it, `checkpoint` answers;
// `submit --resume-from` errors.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/test_util.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::InProcessCoordinator;

constexpr char kPsdctl[] = "tools/psdctl";

// psdctl as the admin, against `c`, and then `args`.
std::vector<std::string> PsdctlArgv(const InProcessCoordinator& c,
                                    const std::vector<std::string>& args) {
  const TlsOptions admin = testing::TestTls("admin", PeerRole::kAdmin);
  std::vector<std::string> argv = {kPsdctl,
                                   "--coordinator",
                                   c.address(),
                                   "--tls-ca=" + admin.ca_file,
                                   "--tls-cert=" + admin.cert_file,
                                   "--tls-key=" + admin.key_file};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

testing::CommandResult Psdctl(const InProcessCoordinator& c, std::vector<std::string> args) {
  return testing::RunCommand(PsdctlArgv(c, args));
}

std::optional<Assignment> WaitForAction(FakeNode& node, const std::string& job,
                                        Assignment::Action action, int64_t generation) {
  return node.WaitFor([&](const Assignment& a) {
    return a.job_id() == job && a.action() == action && a.generation() == generation;
  });
}

TEST_CASE("psdctl wait follows a job through a recovery; status shows it") {
  CoordinatorOptions options;
  options.heartbeat_interval = absl::Milliseconds(100);
  options.heartbeat_timeout = absl::Milliseconds(1500);
  auto started = InProcessCoordinator::Start(testing::MakeTempDir("psdctl-recovery"), options);
  REQUIRE(started.ok());
  InProcessCoordinator& c = **started;

  FakeNode s0(c.address(), ROLE_SERVER, 0), s1(c.address(), ROLE_SERVER, 1);
  FakeNode worker(c.address(), ROLE_WORKER, 0);
  for (FakeNode* node : {&s0, &s1, &worker}) REQUIRE(node->Start().ok());
  testing::JobYamlOptions yaml;
  yaml.servers = 2;
  yaml.checkpoint_dir = testing::MakeTempDir("ckpt");
  SubmitJobRequest request;
  request.set_spec_yaml(testing::JobYaml(yaml));
  absl::StatusOr<std::string> submitted = c.manager().SubmitJob(request);
  REQUIRE(submitted.ok());
  const std::string id = *submitted;
  for (FakeNode* s : {&s0, &s1}) {
    auto run = s->WaitForRun(id);
    REQUIRE(run.has_value());
    REQUIRE(s->ReportReady(*run).ok());
  }
  REQUIRE(worker.WaitForRun(id).has_value());

  const std::string dir = testing::MakeTempDir("wait");
  testing::SpawnOptions spawn;
  spawn.stdout_path = dir + "/out";
  spawn.stderr_path = dir + "/err";
  auto wait = testing::ChildProcess::Spawn(PsdctlArgv(c, {"wait", id}), spawn);
  REQUIRE(wait.ok());
  REQUIRE(testing::WaitUntil(
      [&] {
        return testing::ReadFile(spawn.stdout_path).find("running: running") != std::string::npos;
      },
      absl::Seconds(10)));

  s1.Stop();
  REQUIRE(WaitForAction(worker, id, Assignment::ACTION_PAUSE, 1).has_value());
  const testing::CommandResult status = Psdctl(c, {"status", id});
  CHECK_THAT(status.out,
             Catch::Contains("\nstate       running: recovering: waiting for a server to replace "
                             "server 1\n"));
  CHECK_THAT(status.out, Catch::Contains("\nprogress    paused: "));
  CHECK_THAT(status.out, Catch::Contains("\n  server 1 lost at step 0; pausing\n"));
  const testing::CommandResult refused = Psdctl(c, {"checkpoint", id});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err == absl::StrCat("psdctl: job ", id,
                                    " is recovering: waiting for a server to replace server 1; "
                                    "checkpoint it once it runs again\n"));

  FakeNode spare(c.address(), ROLE_SERVER, 2);
  REQUIRE(spare.Start().ok());
  for (FakeNode* s : {&s0, &spare}) {
    auto run = WaitForAction(*s, id, Assignment::ACTION_RUN, 2);
    REQUIRE(run.has_value());
    REQUIRE(s->ReportReady(*run).ok());
  }
  auto resumed = WaitForAction(worker, id, Assignment::ACTION_RUN, 2);
  REQUIRE(resumed.has_value());
  JobResult result;
  result.set_test_accuracy(0.5);
  result.set_wall_seconds(2);
  REQUIRE(worker.ReportSucceeded(*resumed, result).ok());

  const std::optional<int> code = wait->Wait(absl::Seconds(10));
  const std::string out = testing::ReadFile(spawn.stdout_path);
  INFO(out << testing::ReadFile(spawn.stderr_path));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  // What `wait` promises: every event the job gets while it waits (they are kept, so none is
  // missed between two polls), in order, then the final line. The state lines in between
  // ("running: recovering: ...") are what one poll happened to see: a recovery that ends
  // between two polls shows none, so they are not asserted here.
  const std::string prefix = absl::StrCat("job ", id);
  const size_t paused = out.find(prefix + ": server 1 lost at step 0; pausing\n");
  const size_t resumed_at = out.find(prefix + ": resumed from step 0 (lost 0 steps)\n");
  const size_t succeeded = out.find(prefix + " succeeded: ");
  CHECK(paused != std::string::npos);
  CHECK(resumed_at != std::string::npos);
  REQUIRE(succeeded != std::string::npos);
  CHECK(paused < resumed_at);
  CHECK(resumed_at < succeeded);
  // The final line is the last; wall_s is the job's start-to-end time, the recovery included.
  CHECK_THAT(out.substr(succeeded),
             Catch::Matches(prefix + " succeeded: test_accuracy=0\\.5000 wall_s=[0-9]+\\.[0-9]\n"));
}

TEST_CASE("psdctl submit --resume-from: a bad directory is one psdctl error line") {
  auto started = InProcessCoordinator::Start(testing::MakeTempDir("psdctl-resume"), {});
  REQUIRE(started.ok());
  const std::string file = testing::MakeTempDir("job") + "/job.yaml";
  std::ofstream(file) << testing::JobYaml(testing::JobYamlOptions());
  const testing::CommandResult r =
      Psdctl(**started, {"submit", file, "--resume-from", "/ckpt/old-1"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "psdctl: --resume-from: expected .../<job>/<step>, got /ckpt/old-1\n");
  const testing::CommandResult ok =
      Psdctl(**started, {"submit", file, "--resume-from", "/ckpt/old-1/300"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out == "test-1\n");
}

}  // namespace
}  // namespace psd
