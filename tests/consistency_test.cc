// Consistency models under stragglers and dying workers: real processes through
// deploy/local/cluster.sh, bounded in time.
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "tests/local_cluster.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::CommandResult;
using testing::LastLine;
using testing::LocalCluster;

constexpr char kJob[] = R"(name: NAME
seed: 11
model: {type: mlp, input_dim: 784, hidden: [64], num_classes: 10}
data:
  train_images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
  train_labels: /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
  test_images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
  test_labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
training:
  batch_size: 32
  log_every: 10
  optimizer: {type: momentum, learning_rate: 0.02, momentum: 0.9}
  TRAINING
cluster: {servers: 2, workers: 3, device: cpu, chunk_bytes: 32KiB}
)";

std::string Job(const std::string& name, const std::string& training) {
  return absl::StrReplaceAll(kJob, {{"NAME", name}, {"TRAINING", training}});
}

// The job id psdctl submit printed ("job <id> submitted" or just the id).
std::string JobId(const std::string& submit_output) {
  std::smatch m;
  if (std::regex_search(submit_output, m, std::regex(R"(job (\S+) submitted)"))) return m[1];
  return LastLine(submit_output);
}

// Polls `psdctl status` until the job has reached `step`; false after `timeout`.
bool WaitForStep(const LocalCluster& cluster, const std::string& job, int64_t step,
                 absl::Duration timeout) {
  return testing::WaitUntil(
      [&] {
        const CommandResult r = cluster.Psdctl({"status", job});
        std::smatch m;
        return std::regex_search(r.out, m, std::regex(R"(step (\d+)/)")) &&
               std::stoll(m[1]) >= step;
      },
      timeout, absl::Milliseconds(200));
}

int64_t Field(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(name + R"(=(\d+))"))) return -1;
  return std::stoll(m[1]);
}

TEST_CASE("ssp with a straggler never exceeds its staleness bound", "[consistency][e2e]") {
  auto cluster = LocalCluster::Start(2, 3, {"--slow-worker", "2:4"});
  REQUIRE(cluster.ok());
  for (int s : {1, 3}) {
    SECTION(absl::StrCat("staleness ", s)) {
      const std::string name = absl::StrCat("ssp", s);
      const CommandResult r = (*cluster)->Psdctl(
          {"submit",
           (*cluster)->WriteJobFile(
               name, Job(name, absl::StrCat("max_steps: 120\n  consistency: ssp\n  staleness: ",
                                            s))),
           "--wait"},
          absl::Minutes(3));
      INFO(r.out << r.err);
      REQUIRE(r.exit_code == 0);
      const std::string status = (*cluster)->Psdctl({"status", JobId(r.out)}).out;
      INFO(status);
      const int64_t observed = Field(status, "max_staleness");
      std::printf("ssp staleness %d with a 4x straggler: largest observed staleness %ld\n", s,
                  static_cast<long>(observed));
      CHECK(observed >= 1);  // the straggler really held the others back
      CHECK(observed <= s);
    }
  }
}

TEST_CASE("a killed worker: the job continues or fails as on_worker_failure says",
          "[consistency][e2e]") {
  auto cluster = LocalCluster::Start(2, 3, {"--heartbeat-timeout-ms", "2000"});
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;

  SECTION("continue") {
    const CommandResult submit = c.Psdctl(
        {"submit", c.WriteJobFile("cont", Job("cont", "max_steps: 600\n  consistency: sync\n"
                                                      "  on_worker_failure: continue"))});
    REQUIRE(submit.exit_code == 0);
    const std::string job = JobId(submit.out);
    REQUIRE(WaitForStep(c, job, 30, absl::Seconds(60)));
    REQUIRE(c.Script({"kill", "worker", "2"}).exit_code == 0);
    const CommandResult wait = c.Psdctl({"wait", job}, absl::Minutes(3));
    INFO(wait.out << wait.err);
    CHECK(wait.exit_code == 0);
    CHECK(LastLine(wait.out).find("succeeded") != std::string::npos);
    const std::string status = c.Psdctl({"status", job}).out;
    INFO(status);
    CHECK(status.find("worker 2") != std::string::npos);
  }

  SECTION("fail") {
    const CommandResult submit = c.Psdctl(
        {"submit", c.WriteJobFile("fail", Job("fail", "max_steps: 100000\n  consistency: sync\n"
                                                      "  on_worker_failure: fail"))});
    REQUIRE(submit.exit_code == 0);
    const std::string job = JobId(submit.out);
    REQUIRE(WaitForStep(c, job, 30, absl::Seconds(60)));
    const absl::Time killed = absl::Now();
    REQUIRE(c.Script({"kill", "worker", "1"}).exit_code == 0);
    const CommandResult wait = c.Psdctl({"wait", job}, absl::Seconds(30));
    const double seconds = absl::ToDoubleSeconds(absl::Now() - killed);
    const std::string verdict = LastLine(wait.out);
    std::printf("worker killed; job ended %.1f s later: %s\n", seconds, verdict.c_str());
    INFO(wait.out << wait.err);
    CHECK(wait.exit_code == 1);
    CHECK(verdict.find("failed") != std::string::npos);
    CHECK(verdict.find("worker 1") != std::string::npos);
    CHECK(seconds <= 2.0 + 5.0);
  }
}

}  // namespace
}  // namespace psd
