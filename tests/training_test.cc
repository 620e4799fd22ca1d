// End to end: real psd processes on 127.0.0.1 through deploy/local/cluster.sh and psdctl,
// training on Fashion-MNIST (Debian's dataset-fashion-mnist).
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tests/e2e.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::JobOptions;
using testing::LocalCluster;

// Runs a sync job and checks the servers' final parameters (the exported model) against the
// same training done in this process with the global batch.
void CheckSyncEqualsOneProcess(const LocalCluster& cluster, JobOptions job) {
  const std::string dir = cluster.run_dir() + "/models";
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  const std::string yaml = testing::FashionJob(job);
  const std::string verdict = testing::RunJob(cluster, job.name, yaml);
  CHECK(verdict.find("succeeded") != std::string::npos);
  auto spec = ParseJobSpec(yaml, job.name);
  REQUIRE(spec.ok());
  auto model = ReadModelFile(dir + "/" + testing::JobId(verdict) + "/model.psdm");
  REQUIRE(model.ok());
  const double diff = testing::MaxAbsDiff(*model, testing::TrainInOneProcess(*spec));
  std::printf("%s: max |servers - one process| = %.3g\n", job.name.c_str(), diff);
  CHECK(diff <= 1e-4);
  if (job.devices_per_worker == 2) {  // psdctl status names the devices each worker trained on
    const std::string status = cluster.Psdctl({"status", testing::JobId(verdict)}).out;
    INFO(status);
    CHECK(status.find("\ndevices     worker 0 cpu:0,cpu:1; worker 1 cpu:0,cpu:1\n") !=
          std::string::npos);
  }
}

constexpr char kMomentumCosine[] =
    "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}\n"
    "lr_schedule: {type: cosine}";

TEST_CASE("sync on 2 servers x 2 workers equals SGD with the global batch in one process",
          "[training][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  SECTION("sync") {
    CheckSyncEqualsOneProcess(
        **cluster,
        {"sync-equivalence", absl::StrCat("max_steps: 20\nconsistency: sync\n", kMomentumCosine)});
  }
  SECTION("sync with 2 CPU devices per worker") {
    JobOptions job{"sync-devices",
                   absl::StrCat("max_steps: 20\nconsistency: sync\n", kMomentumCosine)};
    job.batch_size = 33;  // shards of 17 and 16 rows
    job.devices_per_worker = 2;
    CheckSyncEqualsOneProcess(**cluster, job);
  }
  SECTION("ssp with staleness 0 is sync") {
    CheckSyncEqualsOneProcess(**cluster,
                              {"ssp0-equivalence", absl::StrCat("max_steps: 20\nconsistency: ssp\n"
                                                                "staleness: 0\n",
                                                                kMomentumCosine)});
  }
}

TEST_CASE("sync equals one process for every optimizer on 2 servers x 3 workers",
          "[training][e2e][optimizers]") {
  auto cluster = LocalCluster::Start(2, 3);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  const std::vector<std::pair<std::string, std::string>> optimizers = {
      {"sgd", "{type: sgd, learning_rate: 0.1, weight_decay: 0.001}"},
      {"momentum", "{type: momentum, learning_rate: 0.05, momentum: 0.9}"},
      {"nesterov", "{type: nesterov, learning_rate: 0.05, momentum: 0.9, weight_decay: 0.0005}"},
      {"adagrad", "{type: adagrad, learning_rate: 0.05, initial_accumulator: 0.1}"},
      {"adam", "{type: adam, learning_rate: 0.002}"},
      {"adamw", "{type: adamw, learning_rate: 0.002, weight_decay: 0.01}"},
  };
  for (const auto& [name, optimizer] : optimizers) {
    SECTION(name) {
      JobOptions job{"sync-" + name,
                     absl::StrCat("max_steps: 20\nconsistency: sync\noptimizer: ", optimizer,
                                  "\nlr_schedule: {type: step, warmup_steps: 5, step_size: 10, "
                                  "gamma: 0.5}")};
      job.workers = 3;
      CheckSyncEqualsOneProcess(**cluster, job);
    }
  }
}

TEST_CASE("one epoch of Fashion-MNIST in sync mode reaches test accuracy >= 0.80",
          "[training][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  JobOptions job{"one-epoch",
                 "epochs: 1\nconsistency: sync\n"
                 "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}"};
  job.hidden = "[256, 128]";
  job.batch_size = 64;
  const std::string verdict = testing::RunJob(**cluster, job.name, testing::FashionJob(job));
  std::printf("%s\n", verdict.c_str());
  CHECK(testing::TestAccuracy(verdict) >= 0.80);
}

TEST_CASE("async training on 2 servers x 2 workers learns", "[training][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  JobOptions job{"async",
                 "max_steps: 300\nconsistency: async\n"
                 "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}"};
  const std::string verdict = testing::RunJob(**cluster, job.name, testing::FashionJob(job));
  std::printf("%s\n", verdict.c_str());
  // An untrained 10-class model scores about 0.1.
  CHECK(testing::TestAccuracy(verdict) >= 0.70);
}

}  // namespace
}  // namespace psd
