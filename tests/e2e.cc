#include "tests/e2e.h"

#include <atomic>
#include <cmath>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/testing.h"
#include "worker/idx_reader.h"
#include "worker/training_session.h"

namespace psd::testing {

std::string FashionJob(const JobOptions& o) {
  constexpr char kData[] = "/usr/share/datasets/fashion-mnist/";
  std::string training = absl::StrReplaceAll(o.training, {{"\n", "\n  "}});
  return absl::StrCat(
      "name: ", o.name, "\nseed: 7\n", "model: {type: mlp, input_dim: 784, hidden: ", o.hidden,
      ", num_classes: 10}\n", "data:\n", "  train_images: ", kData, "train-images-idx3-ubyte.gz\n",
      "  train_labels: ", kData, "train-labels-idx1-ubyte.gz\n", "  test_images: ", kData,
      "t10k-images-idx3-ubyte.gz\n", "  test_labels: ", kData, "t10k-labels-idx1-ubyte.gz\n",
      "training:\n  batch_size: ", o.batch_size, "\n  ", training, "\n",
      "cluster: {servers: ", o.servers, ", workers: ", o.workers,
      ", device: cpu, chunk_bytes: ", o.chunk_bytes,
      o.devices_per_worker == 1 ? "" : absl::StrCat(", devices_per_worker: ", o.devices_per_worker),
      "}\n", o.checkpoint.empty() ? "" : absl::StrCat("checkpoint: ", o.checkpoint, "\n"));
}

std::string RunJob(const LocalCluster& cluster, const std::string& name, const std::string& yaml) {
  const std::string file = cluster.WriteJobFile(name, yaml);
  const CommandResult r = cluster.Psdctl({"submit", file, "--wait"}, absl::Minutes(4));
  INFO("psdctl: " << r.out << r.err << "\nworker-0 log:\n" << cluster.Log("worker-0"));
  REQUIRE(r.exit_code == 0);
  return LastLine(r.out);
}

std::string SubmitJob(const LocalCluster& cluster, const std::string& name,
                      const std::string& yaml) {
  const CommandResult r = cluster.Psdctl({"submit", cluster.WriteJobFile(name, yaml)});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return JobId(r.out);
}

std::string JobId(const std::string& output) {
  std::smatch m;
  if (std::regex_search(output, m, std::regex(R"(job (\S+) (submitted|succeeded|failed))"))) {
    return m[1];
  }
  return LastLine(output);
}

bool WaitForStep(const LocalCluster& cluster, const std::string& job, int64_t step,
                 absl::Duration timeout) {
  return WaitUntil(
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

double TestAccuracy(const std::string& text) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(R"(test_accuracy=([0-9.]+))"))) return -1;
  return std::stod(m[1]);
}

std::vector<std::vector<float>> TrainInOneProcess(JobSpec spec) {
  spec.training.batch_size *= spec.cluster.workers;
  spec.cluster.workers = 1;
  spec.cluster.devices_per_worker = 1;
  auto data = LoadIdxDataset(spec.data.train_images, spec.data.train_labels);
  REQUIRE(data.ok());
  spec.cluster.device = DeviceKind::kCpu;
  SessionOptions options;
  options.cpu_threads = 1;
  auto session = TrainingSession::Create(spec, *data, nullptr, std::move(options));
  REQUIRE(session.ok());
  std::atomic<bool> stop{false};
  auto result = (*session)->trainer().Run(stop, nullptr);
  REQUIRE(result.ok());
  return (*session)->trainer().params();
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

}  // namespace psd::testing
