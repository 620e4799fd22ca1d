// End to end: sparse models (logreg, fm, dlrm) on generated Criteo-layout data, trained by real
// psd processes on 127.0.0.1 (deploy/local/cluster.sh, psdctl), and sync checked against one
// process that trains the global batch with the servers' update rules applied locally.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/model_file.h"
#include "kernels/select.h"
#include "server/embedding_table.h"
#include "server/sparse_store.h"
#include "tests/e2e.h"
#include "tests/process.h"
#include "tests/testing.h"
#include "tools/datagen_ctr.h"
#include "worker/ctr_device_group.h"
#include "worker/ctr_trainer.h"
#include "worker/local_exchange.h"
#include "worker/row_exchange.h"

namespace psd {
namespace {

using testing::LocalCluster;

// Small generated data: 8 fields of 200 values, 4 integer features; the planted model's AUC
// on the test rows is the ceiling.
struct CtrData {
  std::string train, test;
  double bayes_auc = 0;
};

const CtrData& Data() {
  static const CtrData* data = [] {
    datagen::CtrSpec spec;
    spec.out_dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/ctr-data");
    spec.train_rows = 24000;
    spec.test_rows = 4000;
    spec.fields = 8;
    spec.dense = 4;
    spec.cardinality = {200};
    spec.interactions = 4;
    spec.weight_scale = 0.8;
    spec.seed = 3;
    spec.threads = 1;
    REQUIRE(datagen::ValidateCtrSpec(&spec).ok());
    absl::StatusOr<datagen::CtrGroundTruth> truth = datagen::GenerateCtr(spec);
    REQUIRE(truth.ok());
    auto* d = new CtrData;
    d->train = spec.out_dir + "/" + truth->train_files[0];
    d->test = spec.out_dir + "/" + truth->test_file;
    d->bayes_auc = truth->bayes_auc.value_or(0);
    return d;
  }();
  return *data;
}

struct CtrJob {
  CtrJob(std::string name, std::string model, std::string training)
      : name(std::move(name)), model(std::move(model)), training(std::move(training)) {}
  std::string name;
  std::string model;  // the model section's fields
  std::string training;
  int servers = 2, workers = 2;
  std::string checkpoint;
  std::string cluster;  // more cluster fields, e.g. ", wire_dtype: fp16"
};

std::string CtrJobYaml(const CtrJob& j) {
  const CtrData& d = Data();
  return absl::StrCat("name: ", j.name, "\nseed: 5\nmodel: ", j.model,
                      "\ndata:\n  format: criteo\n  train_files: [", d.train, "]\n  test_files: [",
                      d.test,
                      "]\n  dense_features: 4\n  categorical_fields: 8\ntraining: ", j.training,
                      "\ncluster: {servers: ", j.servers, ", workers: ", j.workers,
                      ", device: cpu, chunk_bytes: 4KiB", j.cluster, "}\n",
                      j.checkpoint.empty() ? "" : absl::StrCat("checkpoint: ", j.checkpoint, "\n"));
}

double AucOf(const std::string& verdict) {
  std::smatch m;
  if (!std::regex_search(verdict, m, std::regex(R"(test_auc=([0-9.]+))"))) return -1;
  return std::stod(m[1]);
}

// One process's rows: the table a server holds, with the sync store's update rule (the mean
// row gradient of the step, applied once per touched row).
class LocalRows : public RowExchange {
 public:
  explicit LocalRows(const JobSpec& spec)
      : table_(*EmbeddingTable::Create(TableOptionsFor(spec))) {}
  absl::Status Pull(absl::Span<const uint64_t> keys, int64_t step, int, bool read_only,
                    absl::Span<float> out) override {
    if (read_only) {
      table_->ReadOrInitial(keys, out);
    } else {
      table_->Lookup(keys, step, out);
    }
    return absl::OkStatus();
  }
  absl::Status Push(absl::Span<const uint64_t> keys, absl::Span<const float> grads, int,
                    int64_t step) override {
    table_->Apply(keys, grads, 1.0, step);
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<EmbeddingTable> table_;
};

struct OneProcess {
  std::vector<std::vector<float>> dense;
  double auc = 0;
};

// The job trained in this process with every worker's batch as one global batch.
OneProcess TrainInOneProcess(JobSpec spec) {
  spec.training.batch_size *= spec.cluster.workers;
  spec.cluster.workers = 1;
  spec.cluster.devices_per_worker = 1;
  auto backends = kernels::CreateBackends(kernels::DeviceKind::kCpu, 1, 1);
  REQUIRE(backends.ok());
  auto model = CtrModel::Create(CtrConfigFor(spec), (*backends)[0].get());
  REQUIRE(model.ok());
  auto steps = CtrPlannedSteps(spec, 1);
  REQUIRE(steps.ok());
  LocalExchange dense(spec, ModelTensors(spec.model), *steps);
  LocalRows rows(spec);
  auto test = LoadCtrTestSet(spec);
  REQUIRE(test.ok());
  CtrDeviceGroup device(model->get());
  CtrTrainer trainer(spec, 0, 1, *steps, &device, &dense, &rows, &*test);
  std::atomic<bool> stop{false};
  auto result = trainer.Run(stop, nullptr);
  INFO(result.status());
  REQUIRE(result.ok());
  return {trainer.DenseParams(), result->test_auc()};
}

// Runs `job` to its end (with `during`, given the job's id, between submit and wait) and
// checks it against one process with the global batch.
void CheckSyncEqualsOneProcess(const LocalCluster& cluster, CtrJob job,
                               const std::function<void(const std::string&)>& during = nullptr) {
  const std::string dir = cluster.run_dir() + "/models";
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  const std::string yaml = CtrJobYaml(job);
  std::string verdict;
  if (during == nullptr) {
    verdict = testing::RunJob(cluster, job.name, yaml);
  } else {
    const std::string id = testing::SubmitJob(cluster, job.name, yaml);
    during(id);
    const testing::CommandResult wait = cluster.Psdctl({"wait", id}, absl::Minutes(4));
    INFO(wait.out << wait.err << "\ncoordinator log:\n" << cluster.Log("coordinator"));
    REQUIRE(wait.exit_code == 0);
    verdict = testing::LastLine(wait.out);
  }
  std::printf("%s: %s\n", job.name.c_str(), verdict.c_str());
  REQUIRE(verdict.find("succeeded") != std::string::npos);
  auto spec = ParseJobSpec(yaml, job.name);
  REQUIRE(spec.ok());
  auto exported = ReadModelFile(dir + "/" + testing::JobId(verdict) + "/model.psdm");
  REQUIRE(exported.ok());
  const OneProcess one = TrainInOneProcess(*spec);
  const double diff = testing::MaxAbsDiff(*exported, one.dense);
  std::printf("%s: max |servers - one process| = %.3g (dense), test auc %.6f vs %.6f\n",
              job.name.c_str(), diff, AucOf(verdict), one.auc);
  CHECK(diff <= 1e-4);
  CHECK(std::abs(AucOf(verdict) - one.auc) <= 1e-3);
  // psdctl eval scores the exported model (dense tensors + the servers' rows) as the job did.
  const std::string model = dir + "/" + testing::JobId(verdict) + "/model.psdm";
  const testing::CommandResult eval = cluster.Psdctl({"eval", model});
  INFO(eval.out << eval.err);
  REQUIRE(eval.exit_code == 0);
  std::printf("%s", eval.out.c_str());
  CHECK(std::abs(AucOf(eval.out) - AucOf(verdict)) <= 1e-4);
}

TEST_CASE("sparse models train on 2 servers x 2 workers", "[ctr][e2e]") {
  const CtrData& data = Data();
  std::printf("bayes-optimal test auc %.4f\n", data.bayes_auc);
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  const std::string adagrad = "optimizer: {type: adagrad, learning_rate: 0.1}";
  SECTION("sync dlrm equals one process with the global batch") {
    CheckSyncEqualsOneProcess(
        **cluster,
        {"ctr-dlrm-sync",
         absl::StrCat("{type: dlrm, hidden: [16], embedding: {dim: 4, ", adagrad, "}}"),
         absl::StrCat("{batch_size: 64, max_steps: 25, consistency: sync, ", adagrad, "}")});
  }
  SECTION("sync dlrm on 2 devices per worker equals one process with the global batch") {
    // Batch 33 per worker: device slices of 17 and 16 rows; the one process takes 66 rows on
    // one device.
    CtrJob job{"ctr-dlrm-sync-2dev",
               absl::StrCat("{type: dlrm, hidden: [16], embedding: {dim: 4, ", adagrad, "}}"),
               absl::StrCat("{batch_size: 33, max_steps: 25, consistency: sync, ", adagrad, "}")};
    job.cluster = ", devices_per_worker: 2";
    CheckSyncEqualsOneProcess(**cluster, job);
  }
  SECTION("sync fm equals one process with the global batch") {
    CheckSyncEqualsOneProcess(
        **cluster,
        {"ctr-fm-sync", absl::StrCat("{type: fm, embedding: {dim: 4, ", adagrad, "}}"),
         absl::StrCat("{batch_size: 64, max_steps: 25, consistency: sync, ", adagrad, "}")});
  }
  SECTION("rows and gradients in fp16 on the wire: sync dlrm still learns") {
    CtrJob job{"ctr-dlrm-fp16",
               absl::StrCat("{type: dlrm, hidden: [16], embedding: {dim: 4, ", adagrad, "}}"),
               absl::StrCat("{batch_size: 64, max_steps: 100, consistency: sync, ", adagrad, "}")};
    job.cluster = ", wire_dtype: fp16, wire_fp16_params: true";
    const std::string verdict = testing::RunJob(**cluster, job.name, CtrJobYaml(job));
    std::printf("%s: %s\n", job.name.c_str(), verdict.c_str());
    CHECK(AucOf(verdict) >= 0.7);
  }
  SECTION("async logreg learns: its test auc approaches the planted model's") {
    const std::string verdict = testing::RunJob(
        **cluster, "ctr-logreg-async",
        CtrJobYaml(
            {"ctr-logreg-async", absl::StrCat("{type: logreg, embedding: {", adagrad, "}}"),
             absl::StrCat("{batch_size: 128, epochs: 2, consistency: async, ", adagrad, "}")}));
    std::printf("ctr-logreg-async: %s\n", verdict.c_str());
    CHECK(AucOf(verdict) >= 0.6);
    CHECK(AucOf(verdict) <= data.bayes_auc + 0.01);
  }
}

TEST_CASE("elastic servers: a sparse sync job moved onto 3 servers and onto 1 equals one process",
          "[ctr][elastic][e2e]") {
  auto cluster = LocalCluster::Start(3, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string adagrad = "optimizer: {type: adagrad, learning_rate: 0.1}";
  CtrJob job{"ctr-moved",
             absl::StrCat("{type: dlrm, hidden: [16], embedding: {dim: 4, ", adagrad, "}}"),
             absl::StrCat("{batch_size: 64, max_steps: 3000, log_every: 5, consistency: sync, ",
                          adagrad, "}")};
  job.cluster = ", elastic: true";
  // The "servers N -> M at step t: ..." event of the job, or "".
  auto moved = [&](const std::string& id, const std::string& what) {
    std::string event;
    testing::WaitUntil(
        [&] {
          const std::string status = c.Psdctl({"status", id}).out;
          const size_t at = status.find(what);
          if (at == std::string::npos) return false;
          event = status.substr(at, status.find('\n', at) - at);
          return true;
        },
        absl::Minutes(2), absl::Milliseconds(100));
    return event;
  };
  CheckSyncEqualsOneProcess(c, job, [&](const std::string& id) {
    REQUIRE(testing::WaitForStep(c, id, 20, absl::Minutes(2)));
    // A sparse job's workers are fixed: refused, saying so.
    const testing::CommandResult workers = c.Psdctl({"scale", id, "--workers", "3"});
    CHECK(workers.exit_code != 0);
    CHECK(workers.err.find("its workers are fixed") != std::string::npos);
    REQUIRE(c.Psdctl({"scale", id, "--servers", "3"}).exit_code == 0);
    const std::string grown = moved(id, "servers 2 -> 3 at step");
    std::printf("ctr-moved: %s\n", grown.c_str());
    REQUIRE(!grown.empty());
    CHECK(grown.find(": 0.00 of") == std::string::npos);  // rows moved to the new server
    REQUIRE(c.Psdctl({"scale", id, "--servers", "1"}).exit_code == 0);
    const std::string shrunk = moved(id, "servers 3 -> 1 at step");
    std::printf("ctr-moved: %s\n", shrunk.c_str());
    INFO(c.Psdctl({"status", id}).out);
    REQUIRE(!shrunk.empty());
  });
}

TEST_CASE("a server killed mid-job: a sparse sync job resumes from its table checkpoints",
          "[ctr][recovery][e2e]") {
  auto cluster = LocalCluster::Start(2, 2, {"--heartbeat-timeout-ms", "2000"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string adagrad = "optimizer: {type: adagrad, learning_rate: 0.1}";
  auto job = [&](const std::string& name) {
    CtrJob j{name, absl::StrCat("{type: fm, embedding: {dim: 4, ", adagrad, "}}"),
             absl::StrCat("{batch_size: 64, max_steps: 1500, log_every: 10, consistency: sync, ",
                          adagrad, "}")};
    j.checkpoint =
        absl::StrCat("{dir: ", c.run_dir(), "/checkpoints, every_steps: 100, ", "full_every: 3}");
    return CtrJobYaml(j);
  };
  const std::string calm = testing::RunJob(c, "ctr-calm", job("ctr-calm"));
  const std::string id = testing::SubmitJob(c, "ctr-killed", job("ctr-killed"));
  REQUIRE(testing::WaitForStep(c, id, 350, absl::Seconds(120)));
  REQUIRE(c.Script({"kill", "server", "1"}).exit_code == 0);
  REQUIRE(testing::WaitUntil(
      [&] {
        return c.Psdctl({"status", id}).out.find("recovering") != std::string::npos;
      },
      absl::Seconds(30), absl::Milliseconds(100)));
  REQUIRE(c.Script({"restart", "server", "1"}).exit_code == 0);
  const testing::CommandResult wait = c.Psdctl({"wait", id}, absl::Minutes(3));
  const std::string status = c.Psdctl({"status", id}).out;
  INFO(wait.out << wait.err << status);
  REQUIRE(wait.exit_code == 0);
  const std::string recovered = testing::LastLine(wait.out);
  std::printf("server 1 killed at step >= 350 and restarted: %s\n  undisturbed: %s\n",
              recovered.c_str(), calm.c_str());
  CHECK(status.find("resumed from step") != std::string::npos);
  // Sync replays the lost steps exactly: the rows and the dense tensors come back as they were.
  CHECK(std::abs(AucOf(recovered) - AucOf(calm)) <= 1e-3);
}

}  // namespace
}  // namespace psd
