// Consistency models under stragglers and dying workers: real processes through
// deploy/local/cluster.sh, bounded in time.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::CommandResult;
using testing::JobOptions;
using testing::LastLine;
using testing::LocalCluster;

JobOptions Job(const std::string& name, const std::string& training) {
  JobOptions job{name, absl::StrCat("log_every: 10\n"
                                    "optimizer: {type: momentum, learning_rate: 0.02, "
                                    "momentum: 0.9}\n",
                                    training)};
  job.workers = 3;
  job.hidden = "[64]";
  job.chunk_bytes = "32KiB";
  return job;
}

TEST_CASE("ssp with a straggler never exceeds its staleness bound", "[consistency][e2e]") {
  auto cluster = LocalCluster::Start(2, 3, {"--slow-worker", "2:4"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  for (int s : {1, 3}) {
    SECTION(absl::StrCat("staleness ", s)) {
      const std::string name = absl::StrCat("ssp", s);
      const std::string verdict = testing::RunJob(
          **cluster, name,
          testing::FashionJob(
              Job(name, absl::StrCat("max_steps: 120\nconsistency: ssp\nstaleness: ", s))));
      const std::string status = (*cluster)->Psdctl({"status", testing::JobId(verdict)}).out;
      INFO(status);
      const int64_t observed = testing::Field(status, "max_staleness");
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
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;

  SECTION("continue") {
    const std::string job =
        testing::SubmitJob(c, "cont",
                           testing::FashionJob(Job("cont",
                                                   "max_steps: 600\nconsistency: sync\n"
                                                   "on_worker_failure: continue")));
    REQUIRE(testing::WaitForStep(c, job, 30, absl::Seconds(60)));
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
    const std::string job =
        testing::SubmitJob(c, "fail",
                           testing::FashionJob(Job("fail",
                                                   "max_steps: 100000\nconsistency: sync\n"
                                                   "on_worker_failure: fail")));
    REQUIRE(testing::WaitForStep(c, job, 30, absl::Seconds(60)));
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
