// Elastic servers end to end (docs/operations.md, "Elastic servers"): real psd processes on
// 127.0.0.1 through deploy/local/cluster.sh, `psdctl scale --servers` while a job trains on
// Fashion-MNIST. A sync job moved onto another number of servers must equal the one-process
// run (nothing acknowledged lost, nothing applied twice), also when a server is killed during
// the move; an async one must still converge.
#include <cstdio>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::JobOptions;
using testing::LocalCluster;

std::string ElasticJob(const JobOptions& job) {
  return absl::StrReplaceAll(testing::FashionJob(job),
                             {{"cluster: {", "cluster: {elastic: true, "}});
}

// The job's "servers N -> M at step t: ..." event, or "" if none.
std::string MoveEvent(const LocalCluster& cluster, const std::string& id) {
  const std::string status = cluster.Psdctl({"status", id}).out;
  std::smatch m;
  const std::regex moved(R"(servers \d+ -> \d+ at step \d+: [^\n]*)");
  return std::regex_search(status, m, moved) ? m.str() : std::string();
}

// Waits for the job, checks it against the one-process run and prints the move.
void CheckEqualsOneProcess(const LocalCluster& cluster, const std::string& id,
                           const std::string& yaml, const std::string& dir,
                           const std::string& what) {
  const testing::CommandResult wait = cluster.Psdctl({"wait", id}, absl::Minutes(4));
  INFO(wait.out << wait.err << "\ncoordinator log:\n"
                << cluster.Log("coordinator") << "\nserver-2 log:\n"
                << cluster.Log("server-2"));
  REQUIRE(wait.exit_code == 0);
  const std::string status = cluster.Psdctl({"status", id}).out;
  INFO(status);
  const std::string event = MoveEvent(cluster, id);
  CHECK(!event.empty());
  auto spec = ParseJobSpec(yaml, id);
  REQUIRE(spec.ok());
  auto model = ReadModelFile(dir + "/" + id + "/model.psdm");
  REQUIRE(model.ok());
  const double diff = testing::MaxAbsDiff(*model, testing::TrainInOneProcess(*spec));
  std::printf("%s: %s; max |servers - one process| = %.3g\n", what.c_str(), event.c_str(), diff);
  CHECK(diff <= 1e-5);
}

JobOptions SyncJob(const std::string& name, int servers, const std::string& dir) {
  JobOptions job(name,
                 "max_steps: 1500\nlog_every: 10\nconsistency: sync\n"
                 "optimizer: {type: adam, learning_rate: 0.002}");
  job.servers = servers;
  job.workers = 1;
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  return job;
}

TEST_CASE("sync moved onto more and onto fewer servers equals one process", "[elastic][e2e]") {
  auto cluster = LocalCluster::Start(3, 1);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  const std::string dir = (*cluster)->run_dir() + "/models";
  for (const auto& [from, to] : {std::pair<int, int>{2, 3}, std::pair<int, int>{3, 1}}) {
    const JobOptions job = SyncJob(absl::StrCat("move-", from, "-", to), from, dir);
    const std::string yaml = ElasticJob(job);
    const std::string id = testing::SubmitJob(**cluster, job.name, yaml);
    REQUIRE(testing::WaitForStep(**cluster, id, 20, absl::Minutes(2)));
    const testing::CommandResult scaled =
        (*cluster)->Psdctl({"scale", id, "--servers", std::to_string(to)});
    INFO(scaled.out << scaled.err);
    REQUIRE(scaled.exit_code == 0);
    CheckEqualsOneProcess(**cluster, id, yaml, dir, absl::StrCat("sync ", from, " -> ", to));
    CHECK(MoveEvent(**cluster, id).find(absl::StrCat("servers ", from, " -> ", to)) == 0);
  }
}

TEST_CASE("a server killed during a move: the job recovers and still equals one process",
          "[elastic][recovery][e2e]") {
  auto cluster = LocalCluster::Start(3, 1);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  const std::string dir = (*cluster)->run_dir() + "/models";
  const JobOptions job = SyncJob("move-killed", 2, dir);
  const std::string yaml = ElasticJob(job);
  const std::string id = testing::SubmitJob(**cluster, job.name, yaml);
  REQUIRE(testing::WaitForStep(**cluster, id, 20, absl::Minutes(2)));
  REQUIRE((*cluster)->Psdctl({"scale", id, "--servers", "3"}).exit_code == 0);
  // Server 1 dies while the servers checkpoint the change's step or load it: either the change
  // is abandoned and tried again after the recovery, or the recovery reloads the new layout.
  REQUIRE((*cluster)->Script({"kill", "server", "1"}).exit_code == 0);
  REQUIRE((*cluster)->Script({"restart", "server", "1"}).exit_code == 0);
  CheckEqualsOneProcess(**cluster, id, yaml, dir, "sync 2 -> 3, server 1 killed");
}

TEST_CASE("async moved onto another server still converges; refusals name the reason",
          "[elastic][e2e]") {
  auto cluster = LocalCluster::Start(2, 1);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  const std::string dir = (*cluster)->run_dir() + "/models";
  JobOptions job("move-async",
                 "max_steps: 1500\nlog_every: 10\nconsistency: async\n"
                 "optimizer: {type: sgd, learning_rate: 0.1}");
  job.servers = 1;
  job.workers = 1;
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  const std::string id = testing::SubmitJob(**cluster, job.name, ElasticJob(job));
  REQUIRE(testing::WaitForStep(**cluster, id, 20, absl::Minutes(2)));
  REQUIRE((*cluster)->Psdctl({"scale", id, "--servers", "2"}).exit_code == 0);
  const testing::CommandResult wait = (*cluster)->Psdctl({"wait", id}, absl::Minutes(4));
  INFO(wait.out << wait.err << "\ncoordinator log:\n" << (*cluster)->Log("coordinator"));
  REQUIRE(wait.exit_code == 0);
  CHECK(testing::TestAccuracy(wait.out) > 0.7);
  const std::string event = MoveEvent(**cluster, id);
  std::printf("async 1 -> 2: %s\n", event.c_str());
  CHECK(event.find("servers 1 -> 2") == 0);

  // No checkpoint.dir: refused, saying why.
  JobOptions bare("no-dir", "max_steps: 100000\nlog_every: 10");
  bare.servers = 1;
  bare.workers = 1;
  const std::string other = testing::SubmitJob(**cluster, bare.name, ElasticJob(bare));
  REQUIRE(testing::WaitForStep(**cluster, other, 10, absl::Minutes(2)));
  const testing::CommandResult refused = (*cluster)->Psdctl({"scale", other, "--servers", "2"});
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("has no checkpoint.dir") != std::string::npos);
  const testing::CommandResult bad = (*cluster)->Psdctl({"scale", other, "--servers", "0"});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("--servers") != std::string::npos);
  CHECK((*cluster)->Psdctl({"cancel", other}).exit_code == 0);
}

}  // namespace
}  // namespace psd
