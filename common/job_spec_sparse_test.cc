// The job spec of sparse models: logreg, fm and dlrm on Criteo or libsvm rows.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "tests/testing.h"

namespace psd {
namespace {

// Lines 1-4.
constexpr char kCriteo[] =
    "name: ctr\n"
    "data:\n"
    "  format: criteo\n"
    "  train_files: [/d/train.txt]\n";
// The same with a model (lines 1-6).
constexpr char kCriteoLogreg[] =
    "name: ctr\n"
    "data:\n"
    "  format: criteo\n"
    "  train_files: [/d/train.txt]\n"
    "model:\n"
    "  type: logreg\n";

std::string Criteo(const std::string& extra) { return std::string(kCriteo) + extra; }

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml");
  if (spec.ok()) return "(parsed)";
  return std::string(spec.status().message());
}

JobSpec MustParse(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  return *spec;
}

TEST_CASE("a criteo dlrm job: sizes follow from the data section", "[job_spec]") {
  const JobSpec spec =
      MustParse(Criteo("  test_files: [/d/test.txt]\n"
                       "  dense_features: 13\n"
                       "  categorical_fields: 26\n"
                       "  bad_rows: skip\n"
                       "  shard: files\n"
                       "model:\n"
                       "  type: dlrm\n"
                       "  hidden: [64, 32]\n"
                       "  embedding:\n"
                       "    dim: 16\n"
                       "    pooling: mean\n"
                       "    init_scale: 0.05\n"
                       "    optimizer: {type: lazy_adam, learning_rate: 0.001, beta1: 0.8}\n"
                       "    memory_budget: 1GiB\n"
                       "    eviction: ttl\n"
                       "    ttl_steps: 100\n"
                       "    admit_min_count: 2\n"));
  CHECK(spec.model.sparse());
  CHECK(spec.model.sparse_fields == 26);
  CHECK(spec.model.input_dim == 13);
  CHECK(spec.model.RowDim() == 16);
  CHECK(spec.model.LayerSizes() == std::vector<int>{13 + 26 * 16, 64, 32, 1});
  CHECK(spec.data.test_files == std::vector<std::string>{"/d/test.txt"});
  CHECK(spec.data.bad_rows == BadRowsPolicy::kSkip);
  CHECK(spec.data.shard == ShardRule::kFiles);
  const EmbeddingSpec& e = spec.model.embedding;
  CHECK(e.pooling == Pooling::kMean);
  CHECK(e.init_scale == 0.05);
  CHECK(e.optimizer.type == TableOptimizerType::kLazyAdam);
  CHECK(e.optimizer.learning_rate == 0.001);
  CHECK(e.optimizer.beta1 == 0.8);
  CHECK(e.memory_budget_bytes == int64_t{1} << 30);
  CHECK(e.eviction == EvictionPolicyType::kTtl);
  CHECK(e.ttl_steps == 100);
  CHECK(e.admit_min_count == 2);
  const std::vector<TensorInfo> tensors = ModelTensors(spec.model);
  REQUIRE(tensors.size() == 6);
  CHECK(tensors[0].shape == std::vector<int64_t>{13 + 26 * 16, 64});
  CHECK(tensors[5].shape == std::vector<int64_t>{1});
}

TEST_CASE("sparse logreg and fm: a linear part over the dense features and a bias", "[job_spec]") {
  const JobSpec fm = MustParse(Criteo("model:\n  type: fm\n  embedding: {dim: 8}\n"));
  CHECK(fm.model.RowDim() == 9);
  CHECK(fm.model.hidden.empty());
  std::vector<TensorInfo> tensors = ModelTensors(fm.model);
  REQUIRE(tensors.size() == 2);
  CHECK(tensors[0].name == "dense.weight");
  CHECK(tensors[0].shape == std::vector<int64_t>{13, 1});
  CHECK(tensors[1].name == "bias");
  CHECK(tensors[1].id == 1);

  const JobSpec libsvm = MustParse(
      "name: l\ndata:\n  format: libsvm\n  train_files: [a.svm]\nmodel:\n  type: logreg\n");
  CHECK(libsvm.model.sparse_fields == 1);
  CHECK(libsvm.model.input_dim == 0);
  CHECK(libsvm.model.RowDim() == 1);
  tensors = ModelTensors(libsvm.model);
  REQUIRE(tensors.size() == 1);  // no dense features: only the bias
  CHECK(tensors[0].name == "bias");
  CHECK(tensors[0].id == 0);
}

TEST_CASE("sparse jobs split a worker's batch over its devices", "[job_spec]") {
  for (const char* type : {"logreg", "fm", "dlrm"}) {
    INFO(type);
    const JobSpec spec = MustParse(Criteo(std::string("model:\n  type: ") + type +
                                          "\ntraining:\n  batch_size: 10\n"
                                          "cluster:\n  devices_per_worker: 3\n"));
    CHECK(spec.cluster.devices_per_worker == 3);
  }
  // Every device still needs a row of the batch.
  CHECK(ErrorOf(Criteo("model:\n  type: fm\ntraining:\n  batch_size: 2\n"
                       "cluster:\n  devices_per_worker: 3\n")) ==
        "job.yaml:10: cluster.devices_per_worker: must not exceed training.batch_size (2): every "
        "device needs at least one row of the batch, got 3");
}

TEST_CASE("sparse job specs: errors name the field and line", "[job_spec]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Criteo("model:\n  type: mlp\n"),
       "job.yaml:6: model.type: mlp is an image model (data.format idx); with data.format criteo "
       "use logreg, fm or dlrm"},
      {Criteo(""),
       "job.yaml:3: model.type: required field is missing with data.format criteo (logreg, fm "
       "or dlrm)"},
      {"name: x\ndata:\n  format: criteo\nmodel: {type: fm}\n",
       "job.yaml:2: data.train_files: required field is missing (with data.format criteo)"},
      {"name: x\ndata:\n  format: criteo\n  train_files: []\nmodel: {type: fm}\n",
       "job.yaml:4: data.train_files: must not be empty (with data.format criteo)"},
      {Criteo("  train_images: a\nmodel: {type: fm}\n"),
       "job.yaml:5: data.train_images: not allowed with data.format criteo (the data's columns "
       "set the model's inputs, and the model predicts one click probability)"},
      {Criteo("model:\n  type: logreg\n  hidden: [4]\n"),
       "job.yaml:7: model.hidden: not allowed with model type logreg (it has no hidden layers)"},
      {Criteo("model:\n  type: logreg\n  embedding: {dim: 4}\n"),
       "job.yaml:7: model.embedding.dim: not allowed with model type logreg (its rows are one "
       "weight wide)"},
      {Criteo("model:\n  type: fm\n  embedding: {pooling: mean}\n"),
       "job.yaml:7: model.embedding.pooling: not allowed with model type fm (only dlrm pools "
       "bags)"},
      {Criteo("model:\n  type: dlrm\n  embedding: {eviction: ttl}\n"),
       "job.yaml:7: model.embedding.ttl_steps: must be at least 1 with eviction ttl, got 0"},
      {Criteo("model:\n  type: dlrm\n  embedding: {ttl_steps: 5}\n"),
       "job.yaml:7: model.embedding.ttl_steps: not allowed with eviction lfu (only with ttl)"},
      {Criteo("model:\n  type: dlrm\n  embedding: {optimizer: {type: adam}}\n"),
       "job.yaml:7: model.embedding.optimizer.type: must be one of sgd, adagrad, lazy_adam, "
       "ftrl, got adam"},
      {"name: x\ndata:\n  format: libsvm\n  train_files: [a]\n  dense_features: 3\nmodel: {type: "
       "fm}\n",
       "job.yaml:5: data.dense_features: not allowed with data.format libsvm (it has no columns: "
       "only idx:val)"},
      {std::string("name: x\ndata:\n  train_images: a\n  train_labels: b\n  test_images: c\n"
                   "  test_labels: d\nmodel:\n  type: fm\n"),
       "job.yaml:8: model.type: fm needs sparse features: data.format criteo or libsvm, got idx"},
      {std::string("name: x\ndata:\n  train_images: a\n  train_labels: b\n  test_images: c\n"
                   "  test_labels: d\n  train_files: [e]\n"),
       "job.yaml:7: data.train_files: not allowed with data.format idx (it is for criteo and "
       "libsvm data)"},
      {Criteo("  test_files: [a, [b]]\nmodel: {type: fm}\n"),
       "job.yaml:5: data.test_files[1]: must be a string, got a list"},
  };
  for (const auto& [yaml, error] : cases) {
    INFO("yaml:\n" << yaml);
    CHECK(ErrorOf(yaml) == error);
  }
}

TEST_CASE("check_files: CTR data files must exist", "[job_spec]") {
  ParseOptions options;
  options.check_files = true;
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kCriteoLogreg, "job.yaml", options);
  REQUIRE_FALSE(spec.ok());
  CHECK(std::string(spec.status().message()) ==
        "job.yaml:4: data.train_files[0]: /d/train.txt: No such file or directory");
}

TEST_CASE("checkpoint.full_every: how often a table checkpoint is full", "[job_spec]") {
  CHECK(MustParse(kCriteoLogreg).checkpoint.full_every == 10);
  CHECK(MustParse(std::string(kCriteoLogreg) + "checkpoint: {dir: /c, full_every: 3}\n")
            .checkpoint.full_every == 3);
  CHECK(ErrorOf(std::string(kCriteoLogreg) + "checkpoint: {dir: /c, full_every: 0}\n") ==
        "job.yaml:7: checkpoint.full_every: must be between 1 and 1048576, got 0");
}

}  // namespace
}  // namespace psd
