// The job spec: a YAML file that describes one training job (docs/job-spec.md).
#ifndef PSD_COMMON_JOB_SPEC_H_
#define PSD_COMMON_JOB_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/idx_header.h"

namespace psd {

enum class ModelType { kMlp, kLogreg, kFm, kDlrm };
// How a dlrm model pools the embedding rows of one field of a row (its bag).
enum class Pooling { kSum, kMean };
// The per-row optimizer of the embedding table (docs/sparse.md).
enum class TableOptimizerType { kSgd, kAdagrad, kLazyAdam, kFtrl };
// What leaves a server's embedding table when it is over its memory budget.
enum class EvictionPolicyType { kNone, kLfu, kTtl };
// A bad row of a Criteo or libsvm file: stop with an error naming it, or skip and count it.
enum class BadRowsPolicy { kError, kSkip };
// How CTR files are split among workers: line i to worker i mod W, or file k to worker k mod W.
enum class ShardRule { kLines, kFiles };
enum class Activation { kRelu, kTanh, kSigmoid };
enum class Consistency { kSync, kAsync, kSsp };
enum class OptimizerType { kSgd, kMomentum, kNesterov, kAdagrad, kAdam, kAdamW };
enum class LrScheduleType { kConstant, kStep, kCosine };
enum class DeviceKind { kAuto, kCpu, kCuda };
enum class WorkerFailurePolicy { kContinue, kFail };
// What a server does with a push that carries NaN or infinite gradients.
enum class NonfinitePolicy { kReject, kSkip, kFail };
enum class CheckpointFailurePolicy { kContinue, kFail };
enum class WireDType { kF32, kF16 };

struct TableOptimizerSpec {
  TableOptimizerType type = TableOptimizerType::kAdagrad;
  double learning_rate = 0.05;                 // ftrl: alpha
  double epsilon = 1e-8;                       // adagrad, lazy_adam
  double initial_accumulator = 0.0;            // adagrad
  double beta1 = 0.9, beta2 = 0.999;           // lazy_adam
  double ftrl_beta = 1.0, l1 = 0.0, l2 = 0.0;  // ftrl
};

// The embedding table of a sparse model (logreg, fm, dlrm on Criteo or libsvm data): one row
// per feature key, on the server a hash of the key picks.
struct EmbeddingSpec {
  int dim = 16;  // fm: the factor width; dlrm: the embedding width (logreg rows are 1 wide)
  Pooling pooling = Pooling::kSum;  // dlrm
  double init_scale = 0.01;         // a new row is uniform in [-init_scale, init_scale)
  TableOptimizerSpec optimizer;
  int64_t memory_budget_bytes = 0;  // per server; 0: unlimited
  EvictionPolicyType eviction = EvictionPolicyType::kLfu;
  int64_t ttl_steps = 0;    // eviction ttl: rows untouched this many steps go first
  int admit_min_count = 0;  // a key gets a row once seen this many times (0, 1: at once)
};

struct ModelSpec {
  ModelType type = ModelType::kMlp;
  // Image models: pixels per example. Sparse models: the dense features per row (set from
  // the data section: data.dense_features for criteo, 0 for libsvm).
  int input_dim = 784;
  std::vector<int> hidden = {256, 128};  // mlp, dlrm; logreg and fm have none
  int num_classes = 10;                  // image models; sparse models predict one click logit
  Activation activation = Activation::kRelu;
  EmbeddingSpec embedding;  // sparse models
  // Sparse models: categorical fields per row (data.categorical_fields for criteo, 1 for
  // libsvm); 0 for image models. Set by the parser from the data section.
  int sparse_fields = 0;
  bool sparse() const { return sparse_fields > 0; }
  // Floats per embedding row: logreg 1 (w), fm 1 + dim (w, then the factors), dlrm dim.
  int RowDim() const;
  // Layer widths from input to output: image models {input_dim, hidden..., num_classes};
  // dlrm {input_dim + sparse_fields * dim, hidden..., 1}; sparse logreg and fm {input_dim, 1}.
  std::vector<int> LayerSizes() const;
};

struct DataSpec {
  std::string format = "idx";  // idx (images), criteo or libsvm (click-through-rate rows)
  std::string train_images, train_labels, test_images, test_labels;  // idx
  bool normalize = true;                                             // idx: scale pixels to [0, 1]
  // criteo, libsvm: plain or gzip files, read as one stream in this order.
  std::vector<std::string> train_files, test_files;
  int dense_features = 13;      // criteo: integer columns after the label
  int categorical_fields = 26;  // criteo: hex-hash columns after those
  BadRowsPolicy bad_rows = BadRowsPolicy::kError;
  ShardRule shard = ShardRule::kLines;
  // CTR formats only.
  bool ctr() const { return format == "criteo" || format == "libsvm"; }
};

struct OptimizerSpec {
  OptimizerType type = OptimizerType::kMomentum;
  double learning_rate = 0.05;
  double momentum = 0.9;      // momentum, nesterov
  double weight_decay = 0.0;  // L2 added to the gradient; decoupled for adamw
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // adam, adamw (epsilon: adagrad too)
  double initial_accumulator = 0.0;                   // adagrad
};

struct LrScheduleSpec {
  LrScheduleType type = LrScheduleType::kConstant;
  int64_t warmup_steps =
      0;  // linear warm-up: step s < warmup_steps gets base * (s + 1) / warmup_steps
  int64_t step_size = 1000;  // step: multiply by gamma every step_size steps
  double gamma = 0.1;
  double min_lr = 0.0;  // cosine: the floor, reached just after the last step
};

struct TrainingSpec {
  int epochs = 1;
  int64_t max_steps = 0;  // 0: epochs decide; else stop after this many steps per worker
  int batch_size = 64;    // per worker
  Consistency consistency = Consistency::kSync;
  int staleness = 0;  // ssp only
  WorkerFailurePolicy on_worker_failure = WorkerFailurePolicy::kFail;
  bool staleness_aware_lr = false;  // async/ssp: divide a stale gradient's step by its staleness
  NonfinitePolicy nonfinite_gradients = NonfinitePolicy::kReject;
  OptimizerSpec optimizer;
  LrScheduleSpec lr_schedule;
  int64_t eval_every = 0;  // steps; 0: only at the end
  int64_t log_every = 50;  // steps between progress reports
};

struct ClusterSpec {
  int servers = 1;
  int workers = 1;
  DeviceKind device = DeviceKind::kAuto;
  // Local devices each worker splits its batch over (1 .. kMaxDevicesPerWorker, at most
  // training.batch_size): shards of the batch differ by at most one row, their gradients are
  // summed on the worker and pushed once.
  int devices_per_worker = 1;
  int64_t chunk_bytes = 1 << 20;           // the unit of placement, transfer and checkpoint
  WireDType wire_dtype = WireDType::kF32;  // gradients on the wire
  bool wire_fp16_params = false;           // also send parameters as fp16 when wire_dtype is fp16
  // Workers may join and leave while the job runs (psdctl scale; docs/operations.md).
  bool elastic = false;
};

struct CheckpointSpec {
  std::string dir;          // empty: no checkpoints
  int64_t every_steps = 0;  // 0: only on request and at shutdown
  int keep = 3;             // complete checkpoints kept
  int full_every = 10;      // sparse models: every Nth table checkpoint is full, the rest
                            // incremental (the first is always full)
  CheckpointFailurePolicy on_failure = CheckpointFailurePolicy::kContinue;  // a write that fails
};

struct JobSpec {
  std::string name;
  uint64_t seed = 1;
  ModelSpec model;
  DataSpec data;
  TrainingSpec training;
  ClusterSpec cluster;
  CheckpointSpec checkpoint;
};

// Limits on a job spec's text, checked before any YAML node is built (docs/job-spec.md,
// "Limits").
inline constexpr int64_t kDefaultMaxSpecBytes = int64_t{1} << 20;  // 1 MiB
// YAML nodes (each scalar, list and map) in one spec; one that sets every field has about 70.
inline constexpr int64_t kMaxSpecNodes = 10000;
// Entries of data.train_files, data.test_files.
inline constexpr int kMaxDataFiles = 4096;
// model.embedding.dim.
inline constexpr int kMaxEmbeddingDim = 1024;
// Entries of model.hidden.
inline constexpr int kMaxHiddenLayers = 1024;
// cluster.devices_per_worker.
inline constexpr int kMaxDevicesPerWorker = 64;
// The most servers a job may have (cluster.servers, psdctl scale --servers).
inline constexpr int kMaxServers = 1024;
// Bytes of a path (data files, checkpoint.dir): Linux's PATH_MAX.
inline constexpr size_t kMaxPathBytes = 4096;

struct ParseOptions {
  // Also check the data files: regular IDX files whose headers agree with each other and with
  // the model (psdctl validate, workers). Reads the headers, and label files of at most
  // kMaxCheckedLabels labels.
  bool check_files = false;
  // The longest spec text accepted (the coordinator's --max_spec_bytes may lower it).
  int64_t max_spec_bytes = kDefaultMaxSpecBytes;
  // With check_files: the most data bytes an IDX file may declare (psd-worker
  // --max_data_file_bytes).
  int64_t max_data_bytes = kDefaultMaxIdxDataBytes;
};

// check_files reads label files of at most this many labels to check them against the classes.
inline constexpr int64_t kMaxCheckedLabels = int64_t{1} << 20;

// Parses and validates a job spec. `source` names the text in errors: on failure the
// message is one line "source:line: field: reason", e.g.
// "job.yaml:12: training.batch_size: must be between 1 and 1048576, got 0".
absl::StatusOr<JobSpec> ParseJobSpec(absl::string_view yaml, absl::string_view source,
                                     const ParseOptions& options = {});

// Reads `path` (a regular file of at most options.max_spec_bytes) and parses it with
// ParseJobSpec.
absl::StatusOr<JobSpec> LoadJobSpecFile(const std::string& path, const ParseOptions& options = {});

// Names used in the YAML file, for messages and status output.
absl::string_view ConsistencyName(Consistency c);
absl::string_view OptimizerName(OptimizerType t);
absl::string_view DeviceKindName(DeviceKind d);
absl::string_view NonfinitePolicyName(NonfinitePolicy p);
absl::string_view ModelTypeName(ModelType t);
absl::string_view TableOptimizerName(TableOptimizerType t);
absl::string_view EvictionPolicyName(EvictionPolicyType e);

}  // namespace psd

#endif  // PSD_COMMON_JOB_SPEC_H_
