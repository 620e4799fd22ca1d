// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/), made with psd's own
// writers so that every seed is a valid input the target's code accepts: mutations start
// from there. Run by fuzz/make_corpus.sh; the output is checked in (a few KB per target).
// Usage: make_corpus <corpus dir>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "common/placement.h"
#include "proto/coordinator.pb.h"
#include "proto/parameter_server.pb.h"
#include "proto/wire.h"
#include "server/checkpoint.h"
#include "tests/idx_writer.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

std::string g_root;

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = g_root + "/" + target;
  fs::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string U16(size_t n) {
  return std::string{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff)};
}

// A record of the RPC fuzzers: method byte, 16-bit length, bytes.
std::string CallRecord(int method, const std::string& bytes) {
  return static_cast<char>(method) + U16(bytes.size()) + bytes;
}

// ---- jobspec_fuzz ----

void JobSpecSeeds() {
  Seed("jobspec_fuzz", "logreg.yaml", R"(name: logreg
model: {type: logreg, input_dim: 784, num_classes: 10}
data:
  train_images: /data/train-images-idx3-ubyte.gz
  train_labels: /data/train-labels-idx1-ubyte.gz
  test_images: /data/t10k-images-idx3-ubyte.gz
  test_labels: /data/t10k-labels-idx1-ubyte.gz
training: {epochs: 1, batch_size: 64, optimizer: {type: sgd, learning_rate: 0.1}}
cluster: {servers: 1, workers: 1}
)");
  Seed("jobspec_fuzz", "mlp_full.yaml", R"(name: mlp
seed: 7
model:
  type: mlp
  input_dim: 784
  hidden: [256, 128]
  num_classes: 10
  activation: tanh
data:
  format: idx
  train_images: a
  train_labels: b
  test_images: c
  test_labels: d
  normalize: true
training:
  epochs: 2
  max_steps: 100
  batch_size: 32
  consistency: ssp
  staleness: 2
  on_worker_failure: continue
  staleness_aware_lr: true
  eval_every: 50
  log_every: 10
  optimizer: {type: adamw, learning_rate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1.0e-8, weight_decay: 0.01}
  lr_schedule: {type: cosine, warmup_steps: 10, min_lr: 0.0001}
cluster:
  servers: 2
  workers: 4
  device: cpu
  chunk_bytes: 65536
  wire_dtype: fp16
  wire_fp16_params: true
checkpoint: {dir: /tmp/ckpt, every_steps: 20, keep: 2}
)");
  Seed("jobspec_fuzz", "step_schedule.yaml", R"(name: s
model: {type: mlp, hidden: [], activation: sigmoid}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training:
  consistency: async
  optimizer: {type: nesterov, momentum: 0.5}
  lr_schedule: {type: step, step_size: 10, gamma: 0.5}
)");
  Seed("jobspec_fuzz", "bad_field.yaml", "name: x\nmodel: {type: mlp, hiden: [3]}\n");
  Seed("jobspec_fuzz", "anchors.yaml",
       "base: &b {type: adagrad, initial_accumulator: 0.1}\nname: a\n"
       "training: {optimizer: *b}\n# comment\n");
}

// ---- wire_fuzz ----

void WireSeeds() {
  const std::vector<float> f32 = {1.0f, -2.5f, 0.0f, 3.25f};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff};
  const auto bytes = [](const auto& v) {
    return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()),
                                     v.size() * sizeof(v[0]));
  };
  wire::PushRequestHeader h{"job", 3, 1, 42, 99, DTYPE_F16, 1000};
  const std::vector<wire::ChunkRef> chunks = {{0, DTYPE_F32, bytes(f32)},
                                              {7, DTYPE_F16, bytes(f16)}};
  wire::EncodedMessage push;
  wire::EncodePushRequest(h, chunks, &push);
  // Mode byte: bit 0 push/pull, bits 1-3 cuts; then the cut bytes.
  Seed("wire_fuzz", "push_whole", std::string(1, '\0') + push.Flatten());
  Seed("wire_fuzz", "push_3_pieces", std::string{'\x04', '\x30', '\x90'} + push.Flatten());
  wire::EncodedMessage pull;
  wire::EncodePullResponse({43, 2}, chunks, &pull);
  Seed("wire_fuzz", "pull_whole", std::string(1, '\x01') + pull.Flatten());
  Seed("wire_fuzz", "pull_2_pieces", std::string{'\x03', '\x55'} + pull.Flatten());
  // The sparse messages (mode bits 4-5: 1 pull request/reply, 2 push).
  const std::vector<uint64_t> keys = {3, (uint64_t{7} << 56) | 12345, ~uint64_t{0}};
  wire::SparseRequestHeader sh{"ctr", 2, 1, 9, DTYPE_F32, true};
  wire::EncodedMessage sparse_pull;
  wire::EncodeSparsePullRequest(sh, keys, &sparse_pull);
  Seed("wire_fuzz", "sparse_pull_request", std::string{'\x12', '\x40'} + sparse_pull.Flatten());
  wire::EncodedMessage sparse_reply;
  wire::EncodeSparsePullResponse({9, 120, 2}, bytes(f16), &sparse_reply);
  Seed("wire_fuzz", "sparse_pull_reply", std::string{'\x13', '\x80'} + sparse_reply.Flatten());
  sh.read_only = false;
  sh.total_steps = 100;
  wire::EncodedMessage sparse_push;
  wire::EncodeSparsePushRequest(sh, absl::MakeConstSpan(keys).subspan(0, 2), bytes(f32),
                                &sparse_push);
  Seed("wire_fuzz", "sparse_push", std::string{'\x24', '\x20', '\xa0'} + sparse_push.Flatten());
  // What protobuf writes (fields in another order and a packed unknown field are legal).
  PushRequest proto;
  proto.set_job_id("j");
  proto.set_step(5);
  Chunk* c = proto.add_chunks();
  c->set_key(3);
  c->set_data(std::string(16, '\x01'));
  Seed("wire_fuzz", "push_protobuf", std::string(1, '\0') + proto.SerializeAsString());
}

// ---- idx_fuzz ----

void IdxSeeds() {
  const std::string images = testing::IdxBytes({3, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const std::string labels = testing::IdxBytes({3}, {0, 1, 2});
  Seed("idx_fuzz", "images_plain", std::string(1, '\0') + images);
  Seed("idx_fuzz", "images_gzip", std::string(1, '\x01') + images);
  Seed("idx_fuzz", "dataset", std::string(1, '\x02') + U16(images.size()) + images + labels);
  const std::string tmp = g_root + "/.idx.gz";
  testing::WriteGzip(tmp, images);
  Seed("idx_fuzz", "images_gzip_file", std::string(1, '\0') + ReadAll(tmp));
  fs::remove(tmp);
}

// ---- ctr_fuzz ----

void CtrSeeds() {
  std::string criteo = "1";
  for (int j = 0; j < 13; ++j) criteo += j == 3 ? "\t" : absl::StrCat("\t", j * 7);
  for (int j = 0; j < 26; ++j) criteo += j == 5 ? "\t" : absl::StrCat("\t", absl::Hex(j * 977 + 1));
  const std::string bad_criteo = "0\t1\t2\tzz\n\n2\t\t\t\t\t\n";
  Seed("ctr_fuzz", "criteo_lines", std::string(1, '\0') + criteo + "\n" + bad_criteo);
  Seed("ctr_fuzz", "libsvm_lines",
       std::string(1, '\x01') + "+1 3:0.5 7:1e-3\n-1\n0 1:x\n1 2:3 4\n");
  const std::string small = "1\t5\t\tabc\t\t7f\n0\t\t-3\t\t1\tff\r\nbad\n1\t1\t1\t1\t1\t1";
  Seed("ctr_fuzz", "criteo_file", std::string("\x02\x07\x02\x00", 4) + small);
  Seed("ctr_fuzz", "libsvm_file", std::string("\x02\x03\x01\x01", 4) + "1 1:1\n0 2:2 3:3\nx\n");
  Seed("ctr_fuzz", "criteo_gzip", std::string("\x03\x10\x00\x00", 4) + small);
  const std::string tmp = g_root + "/.ctr.gz";
  testing::WriteGzip(tmp, small);
  Seed("ctr_fuzz", "criteo_gzip_file", std::string("\x02\x05\x01\x00", 4) + ReadAll(tmp));
  fs::remove(tmp);
}

// ---- checkpoint_fuzz ----

constexpr char kCheckpointSpec[] = R"(
name: fuzz
model: {type: logreg, input_dim: 6, num_classes: 4}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training: {consistency: sync, max_steps: 10, optimizer: {type: adam}}
cluster: {servers: 2, workers: 1, chunk_bytes: 16}
)";

void CheckpointSeeds() {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kCheckpointSpec, "checkpoint");
  absl::StatusOr<Placement> placement = Placement::ForJob(*spec);
  if (!spec.ok() || !placement.ok()) std::abort();
  const std::string dir = g_root + "/.checkpoint";
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<ChunkSnapshot> chunks;
    for (uint64_t key : placement->ServerKeys(rank)) {
      ChunkSnapshot c;
      c.key = key;
      c.clock = 7;
      c.params.assign(placement->chunk(key).length, 0.5f);
      c.opt.slot0.assign(c.params.size(), 0.25f);
      c.opt.slot1.assign(c.params.size(), 0.125f);
      c.opt.updates = 7;
      chunks.push_back(std::move(c));
    }
    const std::string step_dir = CheckpointStepDir(dir, "fuzz", 7);
    fs::create_directories(step_dir);
    CheckpointMeta meta{"fuzz", 7, 1, rank, 2};
    if (!WriteCheckpoint(step_dir, meta, *placement, chunks).ok()) std::abort();
    const std::string data = ReadAll(CheckpointDataFile(step_dir, rank));
    const std::string manifest = ReadAll(CheckpointManifestFile(step_dir, rank));
    Seed("checkpoint_fuzz", absl::StrCat("rank", rank, "_derived_manifest"),
         std::string(1, static_cast<char>(rank)) + data);
    Seed("checkpoint_fuzz", absl::StrCat("rank", rank, "_given_manifest"),
         std::string(1, static_cast<char>(rank | 2)) + U16(manifest.size()) + manifest + data);
  }
  fs::remove_all(dir);
}

// ---- model_file_fuzz ----

void ModelFileSeeds() {
  ModelFile m;
  m.spec_yaml = "name: m\nmodel: {type: logreg, input_dim: 3, num_classes: 2}\n";
  m.tensors = ModelTensors(ParseJobSpec(absl::StrCat(m.spec_yaml,
                                                     "data: {train_images: a, train_labels: b, "
                                                     "test_images: c, test_labels: d}\n"),
                                        "m")
                               ->model);
  for (const TensorInfo& t : m.tensors) m.values.emplace_back(t.size, 0.5f);
  const std::string path = g_root + "/.model.psdm";
  if (!WriteModelFile(path, m).ok()) std::abort();
  Seed("model_file_fuzz", "logreg", ReadAll(path));
  fs::remove(path);
}

// ---- ps_request_fuzz ----
// Methods: 0 InitJob, 1 Push, 2 Pull, 3 PushPull, 4 Checkpoint, 5 EndJob, 6 GetStats; bits 4-5
// of the method byte: slices - 1.

void PsRequestSeeds() {
  // The job of the harness: logreg 6 -> 4, 4 floats per chunk: keys 0-6, all on server 0.
  const int kChunks = 7;
  const std::vector<float> grad(4, 0.1f);
  const auto push = [&](int worker, int64_t step, uint64_t request_id) {
    std::vector<wire::ChunkRef> chunks;
    for (uint64_t k = 0; k < kChunks; ++k) {
      chunks.push_back({k, DTYPE_F32,
                        absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(grad.data()),
                                                  grad.size() * 4)});
    }
    wire::EncodedMessage m;
    wire::EncodePushRequest({"job", 1, worker, step, request_id, DTYPE_F32, 10}, chunks, &m);
    return m.Flatten();
  };
  const auto pull = [&](int worker, int64_t step, DType dtype) {
    PullRequest r;
    r.set_job_id("job");
    r.set_generation(1);
    r.set_worker(worker);
    r.set_step(step);
    r.set_dtype(dtype);
    for (uint64_t k = 0; k < kChunks; ++k) r.add_keys(k);
    return r.SerializeAsString();
  };
  GetStatsRequest stats;
  stats.set_job_id("job");
  stats.set_generation(1);
  CheckpointRequest checkpoint;
  checkpoint.set_job_id("job");
  checkpoint.set_generation(1);
  checkpoint.set_step(2);
  EndJobRequest end;
  end.set_job_id("job");
  end.set_generation(1);
  for (char preset = 0; preset < 3; ++preset) {
    // Both workers push step 0, pull step 1, push-pull step 1, in 1 to 3 slices.
    Seed("ps_request_fuzz", absl::StrCat("round_", int{preset}),
         std::string(1, preset) + CallRecord(1, push(0, 0, 1)) + CallRecord(0x11, push(1, 0, 2)) +
             CallRecord(2, pull(0, 1, DTYPE_F32)) + CallRecord(2, pull(1, 1, DTYPE_F16)) +
             CallRecord(0x23, push(0, 1, 3)) + CallRecord(3, push(1, 1, 4)) +
             CallRecord(6, stats.SerializeAsString()));
  }
  // A pull that waits (sync, step 2 before anyone pushed), a retried push, the job's end.
  Seed("ps_request_fuzz", "waiting_pull_then_end",
       std::string(1, '\0') + CallRecord(2, pull(0, 2, DTYPE_F32)) + CallRecord(1, push(0, 0, 1)) +
           CallRecord(1, push(0, 0, 1)) + CallRecord(4, checkpoint.SerializeAsString()) +
           CallRecord(5, end.SerializeAsString()));
  // A second job of the server's own.
  InitJobRequest init;
  init.set_job_id("other");
  init.set_generation(2);
  init.set_spec_yaml(
      "name: o\nmodel: {type: mlp, input_dim: 4, hidden: [3], num_classes: 2}\n"
      "data: {train_images: a, train_labels: b, test_images: c, test_labels: d}\n"
      "training: {consistency: async}\ncluster: {servers: 1, workers: 1, chunk_bytes: 8}\n");
  init.set_server_rank(0);
  init.set_num_servers(1);
  init.set_num_workers(1);
  GetStatsRequest other_stats;
  other_stats.set_job_id("other");
  Seed("ps_request_fuzz", "init_other_job",
       std::string(1, '\x01') + CallRecord(0, init.SerializeAsString()) +
           CallRecord(6, other_stats.SerializeAsString()) + CallRecord(6, ""));
}

// ---- coordinator_request_fuzz ----
// Methods: 0 RegisterNode, 1 Heartbeat, 2 ListNodes, 3 SubmitJob, 4 GetJob, 5 ListJobs,
// 6 CancelJob, 7 CheckpointJob, 8 ReportProgress, 9 ReportTask, 10 Barrier, 11 Watch.

void CoordinatorSeeds() {
  const auto reg = [](const std::string& id, Role role) {
    RegisterNodeRequest r;
    r.mutable_node()->set_node_id(id);
    r.mutable_node()->set_role(role);
    r.mutable_node()->set_address("127.0.0.1:1");
    r.mutable_node()->set_preferred_rank(-1);
    return CallRecord(0, r.SerializeAsString());
  };
  SubmitJobRequest submit;
  submit.set_spec_yaml(
      "name: fuzz\nmodel: {type: logreg, input_dim: 6, num_classes: 4}\n"
      "data: {train_images: a, train_labels: b, test_images: c, test_labels: d}\n"
      "training: {max_steps: 4}\ncluster: {servers: 1, workers: 1, chunk_bytes: 16}\n"
      "checkpoint: {dir: /tmp/x}\n");
  submit.set_source_name("job.yaml");
  const auto task = [](const std::string& node, Role role, TaskReport::Kind kind, int64_t step) {
    TaskReport t;
    t.set_job_id("fuzz-1");
    t.set_node_id(node);
    t.set_role(role);
    t.set_rank(0);
    t.set_kind(kind);
    t.set_step(step);
    t.set_generation(1);
    t.set_message("m");
    return CallRecord(9, t.SerializeAsString());
  };
  ProgressReport progress;
  progress.set_job_id("fuzz-1");
  progress.set_node_id("worker-a");
  progress.set_generation(1);
  progress.mutable_progress()->set_step(2);
  progress.mutable_progress()->set_total_steps(4);
  progress.mutable_progress()->set_loss(0.5);
  HeartbeatRequest hb;
  hb.set_node_id("server-a");
  hb.set_job_id("fuzz-1");
  hb.set_generation(1);
  GetJobRequest get;
  get.set_job_id("fuzz-1");
  CancelJobRequest cancel;
  cancel.set_job_id("fuzz-1");
  CheckpointJobRequest ckpt;
  ckpt.set_job_id("fuzz-1");
  BarrierRequest barrier;
  barrier.set_job_id("fuzz-1");
  barrier.set_name("start");
  barrier.set_node_id("worker-a");
  barrier.set_timeout_ms(5);
  WatchAssignmentsRequest watch;
  watch.set_node_id("worker-a");
  const std::string start = reg("server-a", ROLE_SERVER) + reg("worker-a", ROLE_WORKER) +
                            CallRecord(3, submit.SerializeAsString()) +
                            task("server-a", ROLE_SERVER, TaskReport::KIND_READY, 0);
  Seed("coordinator_request_fuzz", "job_succeeds",
       start + CallRecord(11, watch.SerializeAsString()) +
           CallRecord(8, progress.SerializeAsString()) + CallRecord(1, hb.SerializeAsString()) +
           CallRecord(10, barrier.SerializeAsString()) +
           task("server-a", ROLE_SERVER, TaskReport::KIND_CHECKPOINTED, 2) +
           task("worker-a", ROLE_WORKER, TaskReport::KIND_SUCCEEDED, 4) +
           CallRecord(4, get.SerializeAsString()) + CallRecord(5, ""));
  Seed("coordinator_request_fuzz", "job_cancelled",
       start + CallRecord(7, ckpt.SerializeAsString()) + CallRecord(6, cancel.SerializeAsString()) +
           CallRecord(2, ""));
  Seed("coordinator_request_fuzz", "server_lost",
       start + task("server-a", ROLE_SERVER, TaskReport::KIND_LEAVING, 0) +
           task("server-a", ROLE_SERVER, TaskReport::KIND_CHECKPOINT_UNUSABLE, 2) +
           task("worker-a", ROLE_WORKER, TaskReport::KIND_FAILED, 1) +
           CallRecord(4, get.SerializeAsString()));
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus <corpus dir>\n");
    return 2;
  }
  psd::g_root = argv[1];
  psd::JobSpecSeeds();
  psd::WireSeeds();
  psd::IdxSeeds();
  psd::CtrSeeds();
  psd::CheckpointSeeds();
  psd::ModelFileSeeds();
  psd::PsRequestSeeds();
  psd::CoordinatorSeeds();
  return 0;
}
