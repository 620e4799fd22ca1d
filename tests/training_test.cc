// End to end: real psd processes on 127.0.0.1 through deploy/local/cluster.sh and psdctl,
// training on Fashion-MNIST (Debian's dataset-fashion-mnist).
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/model_file.h"
#include "kernels/select.h"
#include "tests/local_cluster.h"
#include "tests/testing.h"
#include "worker/trainer.h"

namespace psd {
namespace {

using testing::LastLine;
using testing::LocalCluster;

constexpr char kJob[] = R"(name: NAME
seed: 7
model: {type: mlp, input_dim: 784, hidden: [64, 32], num_classes: 10}
data:
  train_images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
  train_labels: /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
  test_images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
  test_labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
training:
  batch_size: 32
  TRAINING
cluster: {servers: SERVERS, workers: WORKERS, device: cpu, chunk_bytes: 16KiB}
checkpoint: {dir: DIR}
)";

std::string Job(const std::string& name, const std::string& training, int servers, int workers,
                const std::string& dir) {
  return absl::StrReplaceAll(kJob, {{"NAME", name},
                                    {"TRAINING", training},
                                    {"SERVERS", absl::StrCat(servers)},
                                    {"WORKERS", absl::StrCat(workers)},
                                    {"DIR", dir}});
}

// The job's parameters trained in this process with the workers' batches as one global batch
// and the servers' optimizer applied locally: what sync training must equal.
std::vector<std::vector<float>> TrainInOneProcess(JobSpec spec) {
  spec.training.batch_size *= spec.cluster.workers;
  spec.cluster.workers = 1;
  auto data = LoadIdxDataset(spec.data.train_images, spec.data.train_labels);
  REQUIRE(data.ok());
  auto backend = kernels::CreateBackend(DeviceKind::kCpu, 1);
  REQUIRE(backend.ok());
  auto model = Model::Create(spec.model, backend->get(), spec.training.batch_size);
  REQUIRE(model.ok());
  LocalExchange exchange(spec, (*model)->tensors(), PlannedSteps(spec, data->count, 1));
  Trainer trainer(spec, 0, 1, *data, nullptr, model->get(), &exchange);
  std::atomic<bool> stop{false};
  auto result = trainer.Run(stop, nullptr);
  REQUIRE(result.ok());
  return trainer.params();
}

double MaxAbsDiff(const ModelFile& got, const std::vector<std::vector<float>>& want) {
  double worst = 0;
  REQUIRE(got.values.size() == want.size());
  for (size_t t = 0; t < want.size(); ++t) {
    REQUIRE(got.values[t].size() == want[t].size());
    for (size_t i = 0; i < want[t].size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(got.values[t][i]) - want[t][i]));
    }
  }
  return worst;
}

// Submits `yaml` with --wait; returns psdctl's verdict line after checking it succeeded.
std::string RunJob(const LocalCluster& cluster, const std::string& name, const std::string& yaml) {
  const std::string file = cluster.WriteJobFile(name, yaml);
  const testing::CommandResult r = cluster.Psdctl({"submit", file, "--wait"}, absl::Minutes(4));
  INFO("psdctl: " << r.out << r.err << "\nworker-0 log:\n" << cluster.Log("worker-0"));
  REQUIRE(r.exit_code == 0);
  return LastLine(r.out);
}

void CheckSyncEqualsOneProcess(const LocalCluster& cluster, const std::string& name,
                               const std::string& training, int servers, int workers) {
  const std::string yaml = Job(name, training, servers, workers, cluster.run_dir() + "/models");
  const std::string verdict = RunJob(cluster, name, yaml);
  CHECK(verdict.find("succeeded") != std::string::npos);
  auto spec = ParseJobSpec(yaml, name);
  REQUIRE(spec.ok());
  // Job ids are "<name>-<n>"; the model lands in <checkpoint.dir>/<job id>/model.psdm.
  const std::string id = verdict.substr(4, verdict.find(' ', 4) - 4);
  auto model = ReadModelFile(cluster.run_dir() + "/models/" + id + "/model.psdm");
  REQUIRE(model.ok());
  const double diff = MaxAbsDiff(*model, TrainInOneProcess(*spec));
  std::printf("%s: max |servers - one process| = %.3g\n", name.c_str(), diff);
  CHECK(diff <= 1e-4);
}

TEST_CASE("sync on 2 servers x 2 workers equals SGD with the global batch in one process",
          "[training][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  REQUIRE(cluster.ok());
  const std::string optimizer =
      "\n  optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}"
      "\n  lr_schedule: {type: cosine}";
  SECTION("sync") {
    CheckSyncEqualsOneProcess(**cluster, "sync-equivalence",
                              "max_steps: 20\n  consistency: sync" + optimizer, 2, 2);
  }
  SECTION("ssp with staleness 0 is sync") {
    CheckSyncEqualsOneProcess(**cluster, "ssp0-equivalence",
                              "max_steps: 20\n  consistency: ssp\n  staleness: 0" + optimizer, 2,
                              2);
  }
}

TEST_CASE("sync equals one process for every optimizer on 2 servers x 3 workers",
          "[training][e2e][optimizers]") {
  auto cluster = LocalCluster::Start(2, 3);
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
      CheckSyncEqualsOneProcess(
          **cluster, "sync-" + name,
          absl::StrCat("max_steps: 20\n  consistency: sync\n  optimizer: ", optimizer,
                       "\n  lr_schedule: {type: step, warmup_steps: 5, step_size: 10, gamma: 0.5}"),
          2, 3);
    }
  }
}

TEST_CASE("one epoch of Fashion-MNIST in sync mode reaches test accuracy >= 0.80",
          "[training][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  REQUIRE(cluster.ok());
  std::string yaml = absl::StrReplaceAll(
      Job("one-epoch", "epochs: 1\n  consistency: sync\n"
                       "  optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}",
          2, 2, (*cluster)->run_dir() + "/models"),
      {{"hidden: [64, 32]", "hidden: [256, 128]"}, {"batch_size: 32", "batch_size: 64"}});
  const std::string verdict = RunJob(**cluster, "one-epoch", yaml);
  std::printf("%s\n", verdict.c_str());
  const size_t at = verdict.find("test_accuracy=");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(verdict.substr(at + 14)) >= 0.80);
}

TEST_CASE("async training on 2 servers x 2 workers learns", "[training][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  REQUIRE(cluster.ok());
  const std::string verdict = RunJob(
      **cluster, "async",
      Job("async", "max_steps: 300\n  consistency: async\n"
                   "  optimizer: {type: momentum, learning_rate: 0.02, momentum: 0.9}",
          2, 2, (*cluster)->run_dir() + "/models"));
  std::printf("%s\n", verdict.c_str());
  const size_t at = verdict.find("test_accuracy=");
  REQUIRE(at != std::string::npos);
  // An untrained 10-class model scores about 0.1.
  CHECK(std::stod(verdict.substr(at + 14)) >= 0.70);
}

}  // namespace
}  // namespace psd
