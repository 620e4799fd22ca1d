// The coordinator's web console in a real browser: a local cluster (deploy/local/cluster.sh, its
// console on a free port of 127.0.0.1) trains a Fashion-MNIST job while headless Chromium
// (Debian's chromium, driven by tests/console/check_console.mjs through puppeteer-core) checks
// that the charts draw the job's progress and the nodes table lists every node; then the test
// kills a worker and the page must show it dead and the job's events its loss. Screenshots
// (console-running.png, console-dead.png) go to $TEST_UNDECLARED_OUTPUTS_DIR.
//
// Needs what deploy/local/install_deps.sh --tests installs (tests/run.sh runs it): chromium,
// node, uPlot ($PSD_CONSOLE_DEPS, default /var/cache/psd/console) and puppeteer-core from
// tests/console/package-lock.json ($PSD_TEST_DEPS, default /var/cache/psd/test-deps), read
// offline; without them the test fails and names that command.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::CommandResult;
using testing::LocalCluster;

constexpr char kInstallHint[] = "run deploy/local/install_deps.sh --tests (tests/run.sh does)";

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// The sha256 of the files' concatenation, as install_deps.sh stamps it.
std::string Sha256(const std::string& a, const std::string& b) {
  const CommandResult r =
      testing::RunCommand({"/bin/sh", "-c", "cat \"$0\" \"$1\" | sha256sum | cut -d' ' -f1", a, b});
  return std::string(absl::StripAsciiWhitespace(r.out));
}

// Empty when everything the browser check needs is installed, else what is missing.
std::string MissingDeps(const std::string& chromium, const std::string& packages,
                        const std::string& uplot) {
  if (!fs::exists(chromium)) return absl::StrCat("no ", chromium, " (Debian's chromium)");
  if (testing::RunCommand({"/bin/sh", "-c", "command -v node"}).exit_code != 0) {
    return "node not found";
  }
  if (!fs::exists(packages + "/node_modules/puppeteer-core")) {
    return absl::StrCat("puppeteer-core is not installed in ", packages);
  }
  const std::string want = Sha256("tests/console/package.json", "tests/console/package-lock.json");
  const std::string have =
      std::string(absl::StripAsciiWhitespace(testing::ReadFile(packages + "/installed.sha256")));
  if (want != have) return absl::StrCat(packages, " holds packages of another package-lock.json");
  if (!fs::exists(uplot + "/uPlot.iife.min.js")) {
    return absl::StrCat("uPlot is not installed in ", uplot);
  }
  return "";
}

TEST_CASE("the console in a browser: live charts of a running job, a killed worker shown dead",
          "[console][e2e]") {
  const std::string chromium = Env("PSD_CHROMIUM", "/usr/bin/chromium");
  const std::string packages =
      Env("PSD_TEST_DEPS", "/var/cache/psd/test-deps") + "/npm/console-test";
  const std::string uplot =
      Env("PSD_CONSOLE_DEPS", "/var/cache/psd/console") + "/uplot/node_modules/uplot/dist";
  const std::string missing = MissingDeps(chromium, packages, uplot);
  INFO(missing << ": " << kInstallHint);
  REQUIRE(missing.empty());

  const std::string out = Env("TEST_UNDECLARED_OUTPUTS_DIR", testing::MakeTempDir("console-out"));
  fs::create_directories(out);
  // The script beside the packages it imports (node resolves them from its own directory).
  const std::string work = testing::MakeTempDir("console-check");
  fs::copy_file("tests/console/check_console.mjs", work + "/check_console.mjs");
  fs::create_symlink(packages + "/node_modules", work + "/node_modules");
  std::ofstream(work + "/package.json") << "{\"type\": \"module\"}\n";

  auto cluster = LocalCluster::Start(1, 2, {"--heartbeat-timeout-ms", "2000"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string port =
      std::string(absl::StripAsciiWhitespace(testing::ReadFile(c.run_dir() + "/console.port")));
  REQUIRE(!port.empty());
  CHECK_THAT(c.Log("coordinator"), Catch::Contains("web console on http://127.0.0.1:" + port));
  CHECK_THAT(c.Log("coordinator"), !Catch::Contains("uPlot is not installed"));

  // Long enough to outlast the check (it is cancelled at the end); evaluated every 20 steps.
  testing::JobOptions job_options(
      "console", "max_steps: 100000\nlog_every: 5\neval_every: 20\non_worker_failure: continue");
  job_options.servers = 1;
  job_options.workers = 2;
  const std::string job = testing::SubmitJob(c, "console", testing::FashionJob(job_options));
  REQUIRE(testing::WaitForStep(c, job, 10, absl::Seconds(60)));

  const std::string go = work + "/go";
  const std::string log = work + "/check.log";
  testing::SpawnOptions spawn;
  spawn.stdout_path = log;
  spawn.stderr_path = log;
  spawn.append = true;
  spawn.env = {"HOME=" + work};
  auto check = ChildProcess::Spawn({"/bin/sh",
                                    "-c",
                                    "exec timeout 150 node \"$@\"",
                                    "node",
                                    work + "/check_console.mjs",
                                    "--url",
                                    absl::StrCat("http://127.0.0.1:", port, "/#job=", job),
                                    "--out",
                                    out,
                                    "--profile",
                                    work + "/profile",
                                    "--go",
                                    go,
                                    "--dead",
                                    "worker-1",
                                    "--nodes",
                                    "3",
                                    "--chromium",
                                    chromium,
                                    "--timeout-s",
                                    "140"},
                                   spawn);
  REQUIRE(check.ok());
  const bool ready = testing::WaitUntil(
      [&] {
        return absl::StrContains(testing::ReadFile(log), "\nREADY\n") ||
               absl::StartsWith(testing::ReadFile(log), "READY\n") || !check->Running();
      },
      absl::Seconds(120), absl::Milliseconds(250));
  INFO("check_console.mjs:\n" << testing::ReadFile(log));
  REQUIRE(ready);
  REQUIRE(absl::StrContains(testing::ReadFile(log), "READY"));

  REQUIRE(c.Script({"kill", "worker", "1"}).exit_code == 0);
  std::ofstream(go) << "go\n";
  const std::optional<int> status = check->Wait(absl::Seconds(100));
  const std::string said = testing::ReadFile(log);
  std::printf("check_console.mjs:\n%s\nscreenshots in %s\n", said.c_str(), out.c_str());
  INFO("check_console.mjs:\n" << said);
  CHECK(status == 0);
  CHECK_THAT(said, Catch::Contains("PASS charts drawn with"));
  CHECK_THAT(said, Catch::Contains("PASS worker-1 shows dead"));
  CHECK(fs::exists(out + "/console-running.png"));
  CHECK(fs::exists(out + "/console-dead.png"));
  CHECK(c.Psdctl({"cancel", job}).exit_code == 0);
}

}  // namespace
}  // namespace psd
