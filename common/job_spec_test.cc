#include "common/job_spec.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/testing.h"

namespace psd {
namespace {

// The smallest valid spec; tests append fields to it. Lines 1-6.
constexpr char kMinimal[] =
    "name: job\n"
    "data:\n"
    "  train_images: /d/train-images\n"
    "  train_labels: /d/train-labels\n"
    "  test_images: /d/test-images\n"
    "  test_labels: /d/test-labels\n";

std::string Minimal(const std::string& extra) { return std::string(kMinimal) + extra; }

std::string ErrorOf(const std::string& yaml, const ParseOptions& options = {}) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml", options);
  if (spec.ok()) return "(parsed)";
  CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

JobSpec MustParse(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, "job.yaml");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  return *spec;
}

struct BadCase {
  std::string yaml;
  std::string error;
};

void ExpectErrors(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    INFO("yaml:\n" << c.yaml);
    CHECK(ErrorOf(c.yaml) == c.error);
  }
}

TEST_CASE("the example job files parse", "[job_spec]") {
  absl::StatusOr<JobSpec> mlp = LoadJobSpecFile("examples/fashion_mnist_mlp.yaml");
  INFO(mlp.status().ToString());
  REQUIRE(mlp.ok());
  CHECK(mlp->name == "fashion-mnist-mlp");
  CHECK(mlp->model.LayerSizes() == std::vector<int>{784, 256, 128, 10});
  CHECK(mlp->model.activation == Activation::kRelu);
  CHECK(mlp->data.train_images == "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  CHECK(mlp->data.test_labels == "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
  CHECK(mlp->training.batch_size == 64);
  CHECK(mlp->training.epochs == 10);
  CHECK(mlp->training.eval_every == 500);
  CHECK(mlp->training.consistency == Consistency::kSync);
  CHECK(mlp->training.optimizer.type == OptimizerType::kMomentum);
  CHECK(mlp->training.optimizer.learning_rate == 0.05);
  CHECK(mlp->training.optimizer.momentum == 0.9);
  CHECK(mlp->training.lr_schedule.type == LrScheduleType::kCosine);
  CHECK(mlp->cluster.servers == 2);
  CHECK(mlp->cluster.workers == 2);
  CHECK(mlp->cluster.device == DeviceKind::kAuto);
  CHECK(mlp->cluster.chunk_bytes == 1 << 20);
  CHECK(mlp->checkpoint.dir == "/tmp/psd-checkpoints");
  CHECK(mlp->checkpoint.every_steps == 500);

  absl::StatusOr<JobSpec> async = LoadJobSpecFile("examples/fashion_mnist_mlp_async.yaml");
  INFO(async.status().ToString());
  REQUIRE(async.ok());
  CHECK(async->training.consistency == Consistency::kAsync);
  CHECK(async->model.LayerSizes() == mlp->model.LayerSizes());
  CHECK(async->training.optimizer.learning_rate == mlp->training.optimizer.learning_rate);
  CHECK(async->cluster.workers == mlp->cluster.workers);

  absl::StatusOr<JobSpec> logreg = LoadJobSpecFile("examples/fashion_mnist_logreg.yaml");
  INFO(logreg.status().ToString());
  REQUIRE(logreg.ok());
  CHECK(logreg->model.type == ModelType::kLogreg);
  CHECK(logreg->model.hidden.empty());
  CHECK(logreg->model.LayerSizes() == std::vector<int>{784, 10});
  CHECK(logreg->training.optimizer.type == OptimizerType::kSgd);
  CHECK(logreg->training.lr_schedule.type == LrScheduleType::kStep);
}

TEST_CASE("omitted fields take the header's defaults", "[job_spec]") {
  const JobSpec spec = MustParse(kMinimal);
  const JobSpec def;
  CHECK(spec.name == "job");
  CHECK(spec.seed == def.seed);
  CHECK(spec.model.type == def.model.type);
  CHECK(spec.model.input_dim == def.model.input_dim);
  CHECK(spec.model.hidden == def.model.hidden);
  CHECK(spec.model.num_classes == def.model.num_classes);
  CHECK(spec.model.activation == def.model.activation);
  CHECK(spec.data.format == "idx");
  CHECK(spec.data.train_images == "/d/train-images");
  CHECK(spec.data.normalize == def.data.normalize);
  const TrainingSpec& t = spec.training;
  CHECK(t.epochs == def.training.epochs);
  CHECK(t.max_steps == def.training.max_steps);
  CHECK(t.batch_size == def.training.batch_size);
  CHECK(t.consistency == def.training.consistency);
  CHECK(t.staleness == def.training.staleness);
  CHECK(t.on_worker_failure == def.training.on_worker_failure);
  CHECK(t.staleness_aware_lr == def.training.staleness_aware_lr);
  CHECK(t.nonfinite_gradients == NonfinitePolicy::kReject);
  CHECK(spec.checkpoint.on_failure == CheckpointFailurePolicy::kContinue);
  CHECK(t.eval_every == def.training.eval_every);
  CHECK(t.log_every == def.training.log_every);
  const OptimizerSpec& o = t.optimizer;
  CHECK(o.type == def.training.optimizer.type);
  CHECK(o.learning_rate == def.training.optimizer.learning_rate);
  CHECK(o.momentum == def.training.optimizer.momentum);
  CHECK(o.weight_decay == def.training.optimizer.weight_decay);
  CHECK(o.beta1 == def.training.optimizer.beta1);
  CHECK(o.beta2 == def.training.optimizer.beta2);
  CHECK(o.epsilon == def.training.optimizer.epsilon);
  CHECK(o.initial_accumulator == def.training.optimizer.initial_accumulator);
  const LrScheduleSpec& s = t.lr_schedule;
  CHECK(s.type == def.training.lr_schedule.type);
  CHECK(s.warmup_steps == def.training.lr_schedule.warmup_steps);
  CHECK(s.step_size == def.training.lr_schedule.step_size);
  CHECK(s.gamma == def.training.lr_schedule.gamma);
  CHECK(s.min_lr == def.training.lr_schedule.min_lr);
  CHECK(spec.cluster.servers == def.cluster.servers);
  CHECK(spec.cluster.workers == def.cluster.workers);
  CHECK(spec.cluster.device == def.cluster.device);
  CHECK(spec.cluster.devices_per_worker == 1);
  CHECK(def.cluster.devices_per_worker == 1);
  CHECK(spec.cluster.chunk_bytes == def.cluster.chunk_bytes);
  CHECK(spec.cluster.wire_dtype == def.cluster.wire_dtype);
  CHECK(spec.cluster.wire_fp16_params == def.cluster.wire_fp16_params);
  CHECK(spec.checkpoint.dir.empty());
  CHECK(spec.checkpoint.every_steps == def.checkpoint.every_steps);
  CHECK(spec.checkpoint.keep == def.checkpoint.keep);
}

TEST_CASE("every field is read into its struct member", "[job_spec]") {
  const JobSpec spec = MustParse(Minimal(
      "  format: idx\n"
      "  normalize: false\n"
      "seed: 18446744073709551615\n"
      "model: {type: mlp, input_dim: 100, hidden: [3, 4, 5], num_classes: 2, activation: tanh}\n"
      "training:\n"
      "  epochs: 3\n"
      "  max_steps: 1000\n"
      "  batch_size: 1048576\n"
      "  consistency: ssp\n"
      "  staleness: 4\n"
      "  on_worker_failure: continue\n"
      "  staleness_aware_lr: true\n"
      "  optimizer: {type: adamw, learning_rate: 1e-3, momentum: 0, weight_decay: 0.01,\n"
      "              beta1: 0.8, beta2: 0.99, epsilon: 1.0e-6, initial_accumulator: 0.1}\n"
      "  lr_schedule: {type: step, warmup_steps: 10, step_size: 20, gamma: 1, min_lr: 0.0001}\n"
      "  eval_every: 7\n"
      "  log_every: 1\n"
      "cluster:\n"
      "  servers: 1024\n"
      "  workers: 4096\n"
      "  device: cuda\n"
      "  devices_per_worker: 64\n"
      "  chunk_bytes: 4096\n"
      "  wire_dtype: fp16\n"
      "  wire_fp16_params: true\n"
      "checkpoint: {dir: /ckpt, every_steps: 9, keep: 1}\n"));
  CHECK(spec.data.normalize == false);
  CHECK(spec.seed == 18446744073709551615u);
  CHECK(spec.model.LayerSizes() == std::vector<int>{100, 3, 4, 5, 2});
  CHECK(spec.model.activation == Activation::kTanh);
  const TrainingSpec& t = spec.training;
  CHECK(t.epochs == 3);
  CHECK(t.max_steps == 1000);
  CHECK(t.batch_size == 1048576);
  CHECK(t.consistency == Consistency::kSsp);
  CHECK(t.staleness == 4);
  CHECK(t.on_worker_failure == WorkerFailurePolicy::kContinue);
  CHECK(t.staleness_aware_lr);
  CHECK(t.optimizer.type == OptimizerType::kAdamW);
  CHECK(t.optimizer.learning_rate == 1e-3);
  CHECK(t.optimizer.momentum == 0);
  CHECK(t.optimizer.weight_decay == 0.01);
  CHECK(t.optimizer.beta1 == 0.8);
  CHECK(t.optimizer.beta2 == 0.99);
  CHECK(t.optimizer.epsilon == 1e-6);
  CHECK(t.optimizer.initial_accumulator == 0.1);
  CHECK(t.lr_schedule.type == LrScheduleType::kStep);
  CHECK(t.lr_schedule.warmup_steps == 10);
  CHECK(t.lr_schedule.step_size == 20);
  CHECK(t.lr_schedule.gamma == 1);
  CHECK(t.lr_schedule.min_lr == 0.0001);
  CHECK(t.eval_every == 7);
  CHECK(t.log_every == 1);
  CHECK(spec.cluster.servers == 1024);
  CHECK(spec.cluster.workers == 4096);
  CHECK(spec.cluster.device == DeviceKind::kCuda);
  CHECK(spec.cluster.devices_per_worker == 64);
  CHECK(spec.cluster.chunk_bytes == 4096);
  CHECK(spec.cluster.wire_dtype == WireDType::kF16);
  CHECK(spec.cluster.wire_fp16_params);
  CHECK(spec.checkpoint.dir == "/ckpt");
  CHECK(spec.checkpoint.every_steps == 9);
  CHECK(spec.checkpoint.keep == 1);
}

TEST_CASE("every enum value is accepted", "[job_spec]") {
  struct EnumCase {
    std::string yaml;
    bool (*check)(const JobSpec&);
  };
  const std::vector<EnumCase> cases = {
      {"model: {type: mlp}", [](const JobSpec& s) { return s.model.type == ModelType::kMlp; }},
      {"model: {type: logreg}",
       [](const JobSpec& s) { return s.model.type == ModelType::kLogreg; }},
      {"model: {activation: relu}",
       [](const JobSpec& s) { return s.model.activation == Activation::kRelu; }},
      {"model: {activation: tanh}",
       [](const JobSpec& s) { return s.model.activation == Activation::kTanh; }},
      {"model: {activation: sigmoid}",
       [](const JobSpec& s) { return s.model.activation == Activation::kSigmoid; }},
      {"training: {consistency: sync}",
       [](const JobSpec& s) { return s.training.consistency == Consistency::kSync; }},
      {"training: {consistency: async}",
       [](const JobSpec& s) { return s.training.consistency == Consistency::kAsync; }},
      {"training: {consistency: ssp}",
       [](const JobSpec& s) { return s.training.consistency == Consistency::kSsp; }},
      {"training: {on_worker_failure: continue}",
       [](const JobSpec& s) {
         return s.training.on_worker_failure == WorkerFailurePolicy::kContinue;
       }},
      {"training: {on_worker_failure: fail}",
       [](const JobSpec& s) { return s.training.on_worker_failure == WorkerFailurePolicy::kFail; }},
      {"training: {nonfinite_gradients: reject}",
       [](const JobSpec& s) { return s.training.nonfinite_gradients == NonfinitePolicy::kReject; }},
      {"training: {nonfinite_gradients: skip}",
       [](const JobSpec& s) { return s.training.nonfinite_gradients == NonfinitePolicy::kSkip; }},
      {"training: {nonfinite_gradients: fail}",
       [](const JobSpec& s) { return s.training.nonfinite_gradients == NonfinitePolicy::kFail; }},
      {"checkpoint: {on_failure: continue}",
       [](const JobSpec& s) {
         return s.checkpoint.on_failure == CheckpointFailurePolicy::kContinue;
       }},
      {"checkpoint: {dir: /c, on_failure: fail}",
       [](const JobSpec& s) { return s.checkpoint.on_failure == CheckpointFailurePolicy::kFail; }},
      {"training: {optimizer: {type: sgd}}",
       [](const JobSpec& s) { return s.training.optimizer.type == OptimizerType::kSgd; }},
      {"training: {optimizer: {type: momentum}}",
       [](const JobSpec& s) { return s.training.optimizer.type == OptimizerType::kMomentum; }},
      {"training: {optimizer: {type: nesterov}}",
       [](const JobSpec& s) { return s.training.optimizer.type == OptimizerType::kNesterov; }},
      {"training: {optimizer: {type: adagrad}}",
       [](const JobSpec& s) { return s.training.optimizer.type == OptimizerType::kAdagrad; }},
      {"training: {optimizer: {type: adam}}",
       [](const JobSpec& s) { return s.training.optimizer.type == OptimizerType::kAdam; }},
      {"training: {optimizer: {type: adamw}}",
       [](const JobSpec& s) { return s.training.optimizer.type == OptimizerType::kAdamW; }},
      {"training: {lr_schedule: {type: constant}}",
       [](const JobSpec& s) { return s.training.lr_schedule.type == LrScheduleType::kConstant; }},
      {"training: {lr_schedule: {type: step}}",
       [](const JobSpec& s) { return s.training.lr_schedule.type == LrScheduleType::kStep; }},
      {"training: {lr_schedule: {type: cosine}}",
       [](const JobSpec& s) { return s.training.lr_schedule.type == LrScheduleType::kCosine; }},
      {"cluster: {device: auto}",
       [](const JobSpec& s) { return s.cluster.device == DeviceKind::kAuto; }},
      {"cluster: {device: cpu}",
       [](const JobSpec& s) { return s.cluster.device == DeviceKind::kCpu; }},
      {"cluster: {device: cuda}",
       [](const JobSpec& s) { return s.cluster.device == DeviceKind::kCuda; }},
      {"cluster: {wire_dtype: fp32}",
       [](const JobSpec& s) { return s.cluster.wire_dtype == WireDType::kF32; }},
      {"cluster: {wire_dtype: fp16}",
       [](const JobSpec& s) { return s.cluster.wire_dtype == WireDType::kF16; }},
      {"data: {format: idx, train_images: a, train_labels: b, test_images: c, test_labels: d}",
       [](const JobSpec& s) { return s.data.format == "idx"; }},
  };
  for (const EnumCase& c : cases) {
    INFO(c.yaml);
    const std::string yaml =
        c.yaml.rfind("data:", 0) == 0 ? "name: n\n" + c.yaml + "\n" : Minimal(c.yaml + "\n");
    CHECK(c.check(MustParse(yaml)));
  }
}

TEST_CASE("enum names round-trip through the name functions", "[job_spec]") {
  CHECK(ConsistencyName(Consistency::kSync) == "sync");
  CHECK(ConsistencyName(Consistency::kAsync) == "async");
  CHECK(ConsistencyName(Consistency::kSsp) == "ssp");
  CHECK(OptimizerName(OptimizerType::kSgd) == "sgd");
  CHECK(OptimizerName(OptimizerType::kMomentum) == "momentum");
  CHECK(OptimizerName(OptimizerType::kNesterov) == "nesterov");
  CHECK(OptimizerName(OptimizerType::kAdagrad) == "adagrad");
  CHECK(OptimizerName(OptimizerType::kAdam) == "adam");
  CHECK(OptimizerName(OptimizerType::kAdamW) == "adamw");
  CHECK(DeviceKindName(DeviceKind::kAuto) == "auto");
  CHECK(DeviceKindName(DeviceKind::kCpu) == "cpu");
  CHECK(DeviceKindName(DeviceKind::kCuda) == "cuda");
  CHECK(NonfinitePolicyName(NonfinitePolicy::kReject) == "reject");
  CHECK(NonfinitePolicyName(NonfinitePolicy::kSkip) == "skip");
  CHECK(NonfinitePolicyName(NonfinitePolicy::kFail) == "fail");
}

TEST_CASE("chunk_bytes takes a byte count or a size string", "[job_spec]") {
  const std::vector<std::pair<std::string, int64_t>> sizes = {
      {"4", 4},           {"1024", 1024},        {"256KiB", 256 << 10}, {"1MiB", 1 << 20},
      {"1 MiB", 1 << 20}, {"\"2MiB\"", 2 << 20}, {"64MiB", 64 << 20},   {"4096B", 4096},
  };
  for (const auto& [text, bytes] : sizes) {
    INFO(text);
    CHECK(MustParse(Minimal("cluster:\n  chunk_bytes: " + text + "\n")).cluster.chunk_bytes ==
          bytes);
  }
}

TEST_CASE("accepted edge cases", "[job_spec]") {
  // ssp with staleness 0 behaves like sync but is allowed.
  CHECK(MustParse(Minimal("training: {consistency: ssp, staleness: 0}\n")).training.staleness == 0);
  // An empty section means all defaults.
  CHECK(MustParse(Minimal("checkpoint:\ntraining:\n")).training.batch_size == 64);
  // Floats may be written as integers; min_lr may equal the learning rate.
  const JobSpec lr = MustParse(
      Minimal("training:\n  optimizer: {learning_rate: 1}\n  lr_schedule: {min_lr: 1}\n"));
  CHECK(lr.training.optimizer.learning_rate == 1.0);
  CHECK(lr.training.lr_schedule.min_lr == 1.0);
  // Quoted strings and names at the length limit.
  const std::string name64(64, 'a');
  CHECK(MustParse("name: \"" + name64 + "\"\n" + std::string(kMinimal).substr(10)).name == name64);
  CHECK(MustParse(Minimal("checkpoint: {dir: /c, every_steps: 1}\n")).checkpoint.every_steps == 1);
  // Batches need not divide evenly over a worker's devices; a device may get a single row.
  CHECK(MustParse(Minimal("training: {batch_size: 10}\ncluster: {devices_per_worker: 4}\n"))
            .cluster.devices_per_worker == 4);
  CHECK(MustParse(Minimal("training: {batch_size: 4}\ncluster: {devices_per_worker: 4}\n"))
            .cluster.devices_per_worker == 4);
  // Comments and a document start marker are fine.
  CHECK(MustParse("# a job\n---\n" + std::string(kMinimal)).name == "job");
}

TEST_CASE("wrong types are rejected with the field and line", "[job_spec]") {
  ExpectErrors({
      {Minimal("training:\n  epochs: ten\n"),
       "job.yaml:8: training.epochs: must be an integer, got ten"},
      {Minimal("training:\n  batch_size: 64.0\n"),
       "job.yaml:8: training.batch_size: must be an integer, got 64.0"},
      {Minimal("training:\n  optimizer:\n    learning_rate: \"0.1\"\n"),
       "job.yaml:9: training.optimizer.learning_rate: must be a number, got \"0.1\""},
      {Minimal("training:\n  optimizer:\n    learning_rate: .inf\n"),
       "job.yaml:9: training.optimizer.learning_rate: must be a number, got .inf"},
      {Minimal("  normalize: yes\n"), "job.yaml:7: data.normalize: must be true or false, got yes"},
      {Minimal("model:\n  hidden: 256\n"),
       "job.yaml:8: model.hidden: must be a list of integers, got 256"},
      {Minimal("model:\n  hidden: [256, x]\n"),
       "job.yaml:8: model.hidden[1]: must be an integer, got x"},
      {Minimal("training: fast\n"), "job.yaml:7: training: must be a map, got fast"},
      {Minimal("training:\n  optimizer: [sgd]\n"),
       "job.yaml:8: training.optimizer: must be a map, got a list"},
      {"name: [a, b]\n", "job.yaml:1: name: must be a string, got a list"},
      {Minimal("checkpoint:\n  keep:\n"),
       "job.yaml:8: checkpoint.keep: must be an integer, got an empty value"},
      {Minimal("seed: -1\n"),
       "job.yaml:7: seed: must be between 0 and 18446744073709551615, got -1"},
  });
}

TEST_CASE("out-of-range values are rejected", "[job_spec]") {
  ExpectErrors({
      {Minimal("training:\n  batch_size: 0\n"),
       "job.yaml:8: training.batch_size: must be between 1 and 1048576, got 0"},
      {Minimal("training:\n  epochs: 100001\n"),
       "job.yaml:8: training.epochs: must be between 1 and 100000, got 100001"},
      {Minimal("training:\n  epochs: 99999999999999999999\n"),
       "job.yaml:8: training.epochs: must be between 1 and 100000, got 99999999999999999999"},
      {Minimal("training:\n  max_steps: -1\n"),
       "job.yaml:8: training.max_steps: must be at least 0, got -1"},
      {Minimal("training:\n  log_every: 0\n"),
       "job.yaml:8: training.log_every: must be at least 1, got 0"},
      {Minimal("training:\n  eval_every: -5\n"),
       "job.yaml:8: training.eval_every: must be at least 0, got -5"},
      {Minimal("training:\n  staleness: 1001\n  consistency: ssp\n"),
       "job.yaml:8: training.staleness: must be between 0 and 1000, got 1001"},
      {Minimal("training:\n  optimizer:\n    learning_rate: 0\n"),
       "job.yaml:9: training.optimizer.learning_rate: must be greater than 0, got 0"},
      {Minimal("training:\n  optimizer:\n    momentum: 1.0\n"),
       "job.yaml:9: training.optimizer.momentum: must be in [0, 1), got 1.0"},
      {Minimal("training:\n  optimizer:\n    beta2: 1\n"),
       "job.yaml:9: training.optimizer.beta2: must be in [0, 1), got 1"},
      {Minimal("training:\n  optimizer:\n    epsilon: 0.0\n"),
       "job.yaml:9: training.optimizer.epsilon: must be greater than 0, got 0.0"},
      {Minimal("training:\n  optimizer:\n    weight_decay: -0.1\n"),
       "job.yaml:9: training.optimizer.weight_decay: must be at least 0, got -0.1"},
      {Minimal("training:\n  lr_schedule:\n    gamma: 0\n"),
       "job.yaml:9: training.lr_schedule.gamma: must be in (0, 1], got 0"},
      {Minimal("training:\n  lr_schedule:\n    step_size: 0\n"),
       "job.yaml:9: training.lr_schedule.step_size: must be at least 1, got 0"},
      {Minimal("cluster:\n  servers: 0\n"),
       "job.yaml:8: cluster.servers: must be between 1 and 1024, got 0"},
      {Minimal("cluster:\n  workers: 5000\n"),
       "job.yaml:8: cluster.workers: must be between 1 and 4096, got 5000"},
      {Minimal("cluster:\n  devices_per_worker: 0\n"),
       "job.yaml:8: cluster.devices_per_worker: must be between 1 and 64, got 0"},
      {Minimal("cluster:\n  devices_per_worker: 65\n"),
       "job.yaml:8: cluster.devices_per_worker: must be between 1 and 64, got 65"},
      {Minimal("model:\n  num_classes: 1\n"),
       "job.yaml:8: model.num_classes: must be between 2 and 65536, got 1"},
      {Minimal("model:\n  hidden:\n    - 256\n    - 0\n"),
       "job.yaml:10: model.hidden[1]: must be between 1 and 65536, got 0"},
      {Minimal("checkpoint:\n  keep: 0\n"),
       "job.yaml:8: checkpoint.keep: must be at least 1, got 0"},
  });
}

TEST_CASE("chunk_bytes must be a multiple of 4 between 4 bytes and 64 MiB", "[job_spec]") {
  ExpectErrors({
      {Minimal("cluster:\n  chunk_bytes: 1001\n"),
       "job.yaml:8: cluster.chunk_bytes: must be a multiple of 4 bytes, got 1001"},
      {Minimal("cluster:\n  chunk_bytes: 128MiB\n"),
       "job.yaml:8: cluster.chunk_bytes: must be between 4 bytes and 64MiB, got 128MiB"},
      {Minimal("cluster:\n  chunk_bytes: 0\n"),
       "job.yaml:8: cluster.chunk_bytes: must be between 4 bytes and 64MiB, got 0"},
      {Minimal("cluster:\n  chunk_bytes: 1MB\n"),
       "job.yaml:8: cluster.chunk_bytes: must be a byte count or a size like 256KiB or 1MiB, got "
       "1MB"},
  });
}

TEST_CASE("strings and enums are checked", "[job_spec]") {
  ExpectErrors({
      {"name: my job\n" + std::string(kMinimal).substr(10),
       "job.yaml:1: name: must match [A-Za-z0-9._-]{1,64}, got \"my job\""},
      {"name: " + std::string(65, 'a') + "\n" + std::string(kMinimal).substr(10),
       "job.yaml:1: name: must match [A-Za-z0-9._-]{1,64}, got \"" + std::string(65, 'a') + "\""},
      {Minimal("cluster:\n  device: gpu\n"),
       "job.yaml:8: cluster.device: must be one of auto, cpu, cuda, got gpu"},
      {Minimal("training:\n  consistency: Sync\n"),
       "job.yaml:8: training.consistency: must be one of sync, async, ssp, got Sync; did you mean "
       "'sync'?"},
      {Minimal("training:\n  optimizer: {type: adma}\n"),
       "job.yaml:8: training.optimizer.type: must be one of sgd, momentum, nesterov, adagrad, "
       "adam, adamw, got adma; did you mean 'adam'?"},
      {Minimal("  format: csv\n"),
       "job.yaml:7: data.format: must be one of idx, criteo, libsvm, got \"csv\""},
      {"name: job\ndata:\n  train_images: \"\"\n",
       "job.yaml:3: data.train_images: must not be empty"},
      {Minimal("training:\n  nonfinite_gradients: drop\n"),
       "job.yaml:8: training.nonfinite_gradients: must be one of reject, skip, fail, got drop"},
      {Minimal("checkpoint:\n  on_failure: ignore\n"),
       "job.yaml:8: checkpoint.on_failure: must be one of continue, fail, got ignore"},
  });
}

TEST_CASE("unknown, duplicate and missing fields are reported", "[job_spec]") {
  ExpectErrors({
      {Minimal("training:\n  batch_sise: 32\n"),
       "job.yaml:8: training.batch_sise: unknown field; did you mean 'batch_size'?"},
      {Minimal("training:\n  learning_rate: 0.1\n"),
       "job.yaml:8: training.learning_rate: unknown field; did you mean "
       "'model.embedding.optimizer.learning_rate' or 'training.optimizer.learning_rate'?"},
      {Minimal("cluster:\n  gpus: 2\n"),
       "job.yaml:8: cluster.gpus: unknown field; expected one of servers, workers, device, "
       "devices_per_worker, chunk_bytes, wire_dtype, wire_fp16_params, elastic"},
      {Minimal("Name: x\n"), "job.yaml:7: Name: unknown field; did you mean 'name'?"},
      {Minimal("training:\n  epochs: 2\n  epochs: 3\n"),
       "job.yaml:9: training.epochs: duplicate field (first set on line 8)"},
      {Minimal("name: again\n"), "job.yaml:7: name: duplicate field (first set on line 1)"},
      {std::string(kMinimal).substr(10), "job.yaml:1: name: required field is missing"},
      {"name: job\nmodel: {}\n", "job.yaml:1: data: required field is missing"},
      {"name: job\ndata:\n  train_images: a\n  train_labels: b\n  test_images: c\n",
       "job.yaml:2: data.test_labels: required field is missing"},
      {Minimal("? [a, b]\n: 1\n"), "job.yaml:7: job spec: field names must be strings, got a list"},
  });
}

TEST_CASE("fields that depend on other fields", "[job_spec]") {
  ExpectErrors({
      {Minimal("training:\n  staleness: 3\n"),
       "job.yaml:8: training.staleness: only allowed with consistency ssp, got consistency sync"},
      {Minimal("training:\n  consistency: async\n  staleness: 0\n"),
       "job.yaml:9: training.staleness: only allowed with consistency ssp, got consistency async"},
      {Minimal("model:\n  type: logreg\n  hidden: [10]\n"),
       "job.yaml:9: model.hidden: not allowed with model type logreg (it has no hidden layers)"},
      {Minimal("model:\n  hidden: []\n"),
       "job.yaml:8: model.hidden: must not be empty for model type mlp"},
      {Minimal("training:\n  optimizer: {learning_rate: 0.01}\n  lr_schedule: {min_lr: 0.1}\n"),
       "job.yaml:9: training.lr_schedule.min_lr: must not exceed "
       "training.optimizer.learning_rate (0.01), got 0.1"},
      {Minimal("checkpoint:\n  every_steps: 500\n"),
       "job.yaml:8: checkpoint.every_steps: must be 0 when checkpoint.dir is not set, got 500"},
      {Minimal("training:\n  batch_size: 3\ncluster:\n  devices_per_worker: 4\n"),
       "job.yaml:10: cluster.devices_per_worker: must not exceed training.batch_size (3): every "
       "device needs at least one row of the batch, got 4"},
      {Minimal("cluster:\n  devices_per_worker: 65\n  workers: 2\n"),
       "job.yaml:8: cluster.devices_per_worker: must be between 1 and 64, got 65"},
  });
}

TEST_CASE("malformed documents are rejected without throwing", "[job_spec]") {
  ExpectErrors({
      {"name: job\nmodel: {hidden: [1, 2}\n", "job.yaml:2: yaml: illegal flow end"},
      {"name: job\n  data: 1\n", "job.yaml:2: yaml: illegal map value"},
      {"name: *nowhere\n", "job.yaml:1: yaml: the referenced anchor is not defined"},
      {"", "job.yaml:1: job spec: the document is empty; expected a map of fields"},
      {"# nothing but a comment\n",
       "job.yaml:1: job spec: the document is empty; expected a map of fields"},
      {"- name: job\n", "job.yaml:1: job spec: must be a map of fields, got a list"},
      {"just text\n", "job.yaml:1: job spec: must be a map of fields, got just text"},
      {std::string(kMinimal) + "---\nname: second\n",
       "job.yaml:8: job spec: expected one YAML document, got 2"},
      {std::string(2000, '[') + std::string(2000, ']'),
       "job.yaml:1: yaml: lists and maps are nested too deeply"},
  });
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path) << text;
  return path;
}

TEST_CASE("LoadJobSpecFile names the file in every error", "[job_spec]") {
  const std::string missing = TempPath("no-such-job.yaml");
  absl::StatusOr<JobSpec> spec = LoadJobSpecFile(missing);
  CHECK(spec.status().code() == absl::StatusCode::kNotFound);
  CHECK(spec.status().message() == "cannot load job spec: file not found: " + missing);

  const std::string bad = WriteFile("bad.yaml", Minimal("training:\n  batch_size: 0\n"));
  spec = LoadJobSpecFile(bad);
  CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(spec.status().message() ==
        bad + ":8: training.batch_size: must be between 1 and 1048576, got 0");
}

}  // namespace
}  // namespace psd
