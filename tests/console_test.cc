// The coordinator's web console in a real browser: a local cluster (deploy/local/cluster.sh, its
// console on a free port of 127.0.0.1) trains a Fashion-MNIST job while headless Chromium
// (Debian's chromium, driven by tests/console/check_console.mjs through puppeteer-core) checks
// that the charts draw the job's progress and the nodes table lists every node; then the test
// kills a worker and the page must show it dead and the job's events its loss. A coordinator
// without uPlot serves a page that says so. Screenshots (console-running.png, console-dead.png,
// console-no-uplot.png) go to $TEST_UNDECLARED_OUTPUTS_DIR.
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
#include <vector>

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

// What the browser check needs, found (or the test fails naming the install step), and a
// directory with the script beside its packages (node resolves them from its own directory).
struct Browser {
  Browser() {
    chromium = Env("PSD_CHROMIUM", "/usr/bin/chromium");
    const std::string packages =
        Env("PSD_TEST_DEPS", "/var/cache/psd/test-deps") + "/npm/console-test";
    const std::string uplot =
        Env("PSD_CONSOLE_DEPS", "/var/cache/psd/console") + "/uplot/node_modules/uplot/dist";
    const std::string missing = MissingDeps(chromium, packages, uplot);
    INFO(missing << ": " << kInstallHint);
    REQUIRE(missing.empty());
    out = Env("TEST_UNDECLARED_OUTPUTS_DIR", testing::MakeTempDir("console-out"));
    fs::create_directories(out);
    work = testing::MakeTempDir("console-check");
    fs::copy_file("tests/console/check_console.mjs", work + "/check_console.mjs");
    fs::create_symlink(packages + "/node_modules", work + "/node_modules");
    std::ofstream(work + "/package.json") << "{\"type\": \"module\"}\n";
  }
  // Starts check_console.mjs with `args` after the common ones; its output goes to log().
  absl::StatusOr<ChildProcess> Start(const std::string& url, std::vector<std::string> args) {
    testing::SpawnOptions spawn;
    spawn.stdout_path = log();
    spawn.stderr_path = log();
    spawn.append = true;
    spawn.env = {"HOME=" + work};
    std::vector<std::string> argv = {"/bin/sh",
                                     "-c",
                                     "exec timeout 150 node \"$@\"",
                                     "node",
                                     work + "/check_console.mjs",
                                     "--url",
                                     url,
                                     "--out",
                                     out,
                                     "--profile",
                                     work + "/profile",
                                     "--chromium",
                                     chromium,
                                     "--timeout-s",
                                     "140"};
    argv.insert(argv.end(), args.begin(), args.end());
    return ChildProcess::Spawn(argv, spawn);
  }
  std::string log() const { return work + "/check.log"; }
  std::string chromium, out, work;
};

std::string ConsoleUrl(const LocalCluster& c) {
  const std::string port =
      std::string(absl::StripAsciiWhitespace(testing::ReadFile(c.run_dir() + "/console.port")));
  return port.empty() ? "" : absl::StrCat("http://127.0.0.1:", port, "/");
}

TEST_CASE("the console in a browser: live charts of a running job, a killed worker shown dead",
          "[console][e2e]") {
  Browser browser;
  auto cluster = LocalCluster::Start(1, 2, {"--heartbeat-timeout-ms", "2000"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string url = ConsoleUrl(c);
  REQUIRE(!url.empty());
  CHECK_THAT(c.Log("coordinator"), Catch::Contains("web console on " + url));
  CHECK_THAT(c.Log("coordinator"), !Catch::Contains("uPlot is not installed"));

  // Long enough to outlast the check (it is cancelled at the end); evaluated every 20 steps.
  testing::JobOptions job_options(
      "console", "max_steps: 100000\nlog_every: 5\neval_every: 20\non_worker_failure: continue");
  job_options.servers = 1;
  job_options.workers = 2;
  const std::string job = testing::SubmitJob(c, "console", testing::FashionJob(job_options));
  REQUIRE(testing::WaitForStep(c, job, 10, absl::Seconds(60)));

  const std::string go = browser.work + "/go";
  const std::string log = browser.log();
  auto check = browser.Start(absl::StrCat(url, "#job=", job),
                             {"--mode", "live", "--go", go, "--dead", "worker-1", "--nodes", "3"});
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
  std::printf("check_console.mjs:\n%s\nscreenshots in %s\n", said.c_str(), browser.out.c_str());
  INFO("check_console.mjs:\n" << said);
  CHECK(status == 0);
  CHECK_THAT(said, Catch::Contains("PASS charts drawn with"));
  CHECK_THAT(said, Catch::Contains("PASS worker-1 shows dead"));
  CHECK(fs::exists(browser.out + "/console-running.png"));
  CHECK(fs::exists(browser.out + "/console-dead.png"));
  CHECK(c.Psdctl({"cancel", job}).exit_code == 0);
}

TEST_CASE("the console without uPlot says so plainly, and serves the rest", "[console][e2e]") {
  Browser browser;
  // cluster.sh points the coordinator at $PSD_CONSOLE_DEPS: an empty directory here.
  const std::string empty = testing::MakeTempDir("no-console-deps");
  const char* had = std::getenv("PSD_CONSOLE_DEPS");
  const std::string saved = had != nullptr ? had : "";
  setenv("PSD_CONSOLE_DEPS", empty.c_str(), 1);
  auto cluster = LocalCluster::Start(1, 1);
  if (had != nullptr) {
    setenv("PSD_CONSOLE_DEPS", saved.c_str(), 1);
  } else {
    unsetenv("PSD_CONSOLE_DEPS");
  }
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  CHECK_THAT(c.Log("coordinator"), Catch::Contains("console: uPlot is not installed"));
  const std::string url = ConsoleUrl(c);
  REQUIRE(!url.empty());
  auto check = browser.Start(url, {"--mode", "no-charts", "--nodes", "2"});
  REQUIRE(check.ok());
  const std::optional<int> status = check->Wait(absl::Seconds(100));
  const std::string said = testing::ReadFile(browser.log());
  std::printf("check_console.mjs --mode no-charts:\n%s\n", said.c_str());
  INFO("check_console.mjs:\n" << said);
  CHECK(status == 0);
  CHECK_THAT(said, Catch::Contains("PASS without uPlot the page says so"));
  CHECK(fs::exists(browser.out + "/console-no-uplot.png"));
}

}  // namespace
}  // namespace psd
