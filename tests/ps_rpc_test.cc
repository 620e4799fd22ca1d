// The parameter server over real gRPC on 127.0.0.1: PsServer + PsClient in one process.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fp16.h"
#include "proto/parameter_server.grpc.pb.h"
#include "optim/optimizer.h"
#include "server/ps_server.h"
#include "tests/testing.h"
#include "worker/ps_client.h"

namespace psd {
namespace {

constexpr char kSpec[] = R"(
name: rpc
seed: 3
model: {type: mlp, input_dim: 20, hidden: [16], num_classes: 5}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training:
  consistency: CONSISTENCY
  optimizer: {type: momentum, learning_rate: 0.1, momentum: 0.9}
cluster: {servers: 2, workers: 3, chunk_bytes: 256}
)";

std::string Spec(const std::string& consistency) {
  std::string s = kSpec;
  s.replace(s.find("CONSISTENCY"), 11, consistency);
  return s;
}

struct Cluster {
  explicit Cluster(const std::string& consistency, const std::string& yaml_text = "")
      : yaml(yaml_text.empty() ? Spec(consistency) : yaml_text) {
    auto parsed = ParseJobSpec(yaml, "test");
    REQUIRE(parsed.ok());
    spec = *parsed;
    placement = *Placement::ForJob(spec);
    // Plaintext: these tests are about the RPCs' semantics; tests/authz_test.cc checks who
    // may call them over mutual TLS.
    PsServerOptions options;
    options.tls = TlsOptions::Insecure();
    for (int s = 0; s < spec.cluster.servers; ++s) {
      auto server = PsServer::Start(options);
      REQUIRE(server.ok());
      InitJobRequest init;
      init.set_job_id("job");
      init.set_generation(1);
      init.set_spec_yaml(yaml);
      init.set_server_rank(s);
      init.set_num_servers(spec.cluster.servers);
      init.set_num_workers(spec.cluster.workers);
      REQUIRE((*server)->jobs().Init(init).ok());
      addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
      servers.push_back(*std::move(server));
    }
  }

  std::unique_ptr<PsClient> Client(int worker, int max_in_flight = 64, int channels = 1) {
    PsClient::Options o;
    o.job_id = "job";
    o.generation = 1;
    o.worker = worker;
    o.total_steps = 100;
    o.max_in_flight = max_in_flight;
    o.channels_per_server = channels;
    o.tls = TlsOptions::Insecure();
    SetWireOptions(spec.cluster, &o);
    auto c = PsClient::Create(&placement, addresses, o);
    REQUIRE(c.ok());
    return *std::move(c);
  }

  std::string yaml;
  JobSpec spec;
  Placement placement;
  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
};

std::vector<float> Gradient(int worker, int64_t step, int64_t n) {
  std::mt19937 rng(static_cast<uint32_t>(worker * 1000 + step));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> g(n);
  for (float& v : g) v = u(rng);
  return g;
}

// Runs `steps` sync steps of push-pull on every worker (threads) and checks every worker's
// parameters against the optimizer on whole tensors with the mean of what the workers sent:
// the gradients, or with fp16 on the wire their half-precision roundings with error feedback
// (what each step rounds away is sent with the next). With fp16 parameters the workers get
// the half-precision rounding of the server's values.
void CheckSyncAgainstReference(Cluster& cluster, int steps, int max_in_flight = 64,
                               int channels = 1) {
  const auto& tensors = cluster.placement.tensors();
  const int workers = cluster.spec.cluster.workers;
  const bool fp16 = cluster.spec.cluster.wire_dtype == WireDType::kF16;
  const bool fp16_params = fp16 && cluster.spec.cluster.wire_fp16_params;
  std::vector<std::vector<float>> ref;
  std::vector<OptimizerState> state;
  for (const TensorInfo& t : tensors) {
    ref.emplace_back(t.size);
    InitTensorSlice(cluster.spec.seed, t, 0, absl::MakeSpan(ref.back()));
    state.push_back(NewOptimizerState(cluster.spec.training.optimizer, t.size));
  }
  std::vector<std::vector<std::vector<float>>> got(workers);
  // Catch2's assertions are not thread-safe (concurrent INFOs corrupted its heap): the worker
  // threads only record their status.
  std::vector<std::unique_ptr<PsClient>> clients;
  for (int w = 0; w < workers; ++w) clients.push_back(cluster.Client(w, max_in_flight, channels));
  std::vector<absl::Status> results(workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      PsClient& client = *clients[w];
      auto& params = got[w];
      for (const TensorInfo& t : tensors) params.emplace_back(t.size);
      for (uint32_t t = 0; t < tensors.size(); ++t) client.Pull(t, 0, params[t].data());
      results[w] = client.Wait();
      std::vector<std::vector<float>> grads(tensors.size());
      for (int64_t step = 0; step < steps && results[w].ok(); ++step) {
        for (uint32_t t = 0; t < tensors.size(); ++t) {
          grads[t] = Gradient(w, step * 10 + t, tensors[t].size);
          client.PushPull(t, step, grads[t].data(), params[t].data());
        }
        results[w] = client.Wait();
      }
    });
  }
  for (auto& t : threads) t.join();
  clients.clear();
  for (const absl::Status& s : results) {
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  // residual[w][t]: the worker's error-feedback state in the reference.
  std::vector<std::vector<std::vector<float>>> residual(workers);
  for (int w = 0; w < workers; ++w) {
    for (const TensorInfo& t : tensors) residual[w].emplace_back(t.size, 0.0f);
  }
  for (int64_t step = 0; step < steps; ++step) {
    for (uint32_t t = 0; t < tensors.size(); ++t) {
      std::vector<float> mean(tensors[t].size, 0.0f);
      for (int w = 0; w < workers; ++w) {
        auto g = Gradient(w, step * 10 + t, tensors[t].size);
        if (fp16) {
          std::vector<uint16_t> h(g.size());
          FloatToHalfWithFeedback(g.data(), residual[w][t].data(), h.data(),
                                  static_cast<int64_t>(g.size()));
          for (size_t i = 0; i < g.size(); ++i) g[i] = HalfToFloat(h[i]);
        }
        for (size_t i = 0; i < g.size(); ++i) mean[i] += g[i];
      }
      for (float& v : mean) v /= static_cast<float>(workers);
      ApplyUpdate(cluster.spec.training.optimizer,
                  static_cast<float>(LearningRate(cluster.spec.training, step, 100)), mean,
                  absl::MakeSpan(ref[t]), state[t]);
    }
  }
  for (int w = 0; w < workers; ++w) {
    for (uint32_t t = 0; t < tensors.size(); ++t) {
      for (int64_t i = 0; i < tensors[t].size; ++i) {
        if (fp16_params) {
          REQUIRE(got[w][t][i] == Approx(ref[t][i]).epsilon(1e-3).margin(1e-5));
        } else {
          REQUIRE(got[w][t][i] == Approx(ref[t][i]).margin(1e-5));
        }
      }
    }
  }
}

TEST_CASE("sync push-pull over gRPC equals the mean-gradient update", "[ps_rpc]") {
  Cluster cluster("sync");
  CheckSyncAgainstReference(cluster, 5);
}

TEST_CASE("fp16 gradients with error feedback equal the update of what was sent", "[ps_rpc]") {
  std::string yaml = Spec("sync");
  yaml.replace(yaml.find("chunk_bytes: 256}"), 17, "chunk_bytes: 256, wire_dtype: fp16}");
  Cluster cluster("sync", yaml);
  REQUIRE(cluster.spec.cluster.wire_dtype == WireDType::kF16);
  CheckSyncAgainstReference(cluster, 6);
}

TEST_CASE("fp16 gradients and parameters", "[ps_rpc]") {
  std::string yaml = Spec("sync");
  yaml.replace(yaml.find("chunk_bytes: 256}"), 17,
               "chunk_bytes: 256, wire_dtype: fp16, wire_fp16_params: true}");
  Cluster cluster("sync", yaml);
  CheckSyncAgainstReference(cluster, 4);
}

// A 4 MB weight in 3 MiB chunks: every payload spans many received network buffers, values
// straddle their boundaries, and the server reads them in place.
constexpr char kBigSpec[] = R"(
name: rpc
seed: 5
model: {type: mlp, input_dim: 1001, hidden: [999], num_classes: 3}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training:
  consistency: sync
  optimizer: {type: adam, learning_rate: 0.01}
cluster: {servers: 2, workers: 2, chunk_bytes: 3MiB WIRE}
)";

std::string BigSpec(const std::string& wire) {
  std::string s = kBigSpec;
  s.replace(s.find(" WIRE"), 5, wire);
  return s;
}

TEST_CASE("payloads larger than one slice, straddling slice boundaries", "[ps_rpc]") {
  for (const std::string wire : {"", ", wire_dtype: fp16"}) {
    Cluster cluster("sync", BigSpec(wire));
    REQUIRE(cluster.placement.chunks()[0].length * 4 > (3 << 20) - 4);
    CheckSyncAgainstReference(cluster, 3);
    int64_t payloads = 0, pieces = 0;
    for (const auto& server : cluster.servers) {
      payloads += server->service().counters().push_payloads;
      pieces += server->service().counters().push_payload_pieces;
    }
    INFO("payloads " << payloads << ", pieces " << pieces);
    CHECK(pieces > payloads);  // the server did read payloads spread over several buffers
  }
}

TEST_CASE("async pushes are applied in place from the received buffers", "[ps_rpc]") {
  std::string yaml = BigSpec(", wire_dtype: fp16");
  yaml.replace(yaml.find("consistency: sync"), 17, "consistency: async");
  yaml.replace(yaml.find("workers: 2"), 10, "workers: 1");
  Cluster cluster("async", yaml);
  auto client = cluster.Client(0);
  const auto& tensors = cluster.placement.tensors();
  std::vector<std::vector<float>> ref, got, residual;
  std::vector<OptimizerState> state;
  for (const TensorInfo& t : tensors) {
    ref.emplace_back(t.size);
    InitTensorSlice(cluster.spec.seed, t, 0, absl::MakeSpan(ref.back()));
    state.push_back(NewOptimizerState(cluster.spec.training.optimizer, t.size));
    got.emplace_back(t.size);
    residual.emplace_back(t.size, 0.0f);
  }
  for (int64_t step = 0; step < 3; ++step) {
    std::vector<std::vector<float>> grads;
    for (uint32_t t = 0; t < tensors.size(); ++t) {
      grads.push_back(Gradient(0, step * 10 + t, tensors[t].size));
      client->PushPull(t, step, grads[t].data(), got[t].data());
    }
    REQUIRE(client->Wait().ok());
    for (uint32_t t = 0; t < tensors.size(); ++t) {
      std::vector<uint16_t> h(tensors[t].size);
      FloatToHalfWithFeedback(grads[t].data(), residual[t].data(), h.data(), tensors[t].size);
      std::vector<float> sent(tensors[t].size);
      for (size_t i = 0; i < h.size(); ++i) sent[i] = HalfToFloat(h[i]);
      ApplyUpdate(cluster.spec.training.optimizer,
                  static_cast<float>(LearningRate(cluster.spec.training, step, 100)), sent,
                  absl::MakeSpan(ref[t]), state[t]);
    }
  }
  for (uint32_t t = 0; t < tensors.size(); ++t) {
    for (int64_t i = 0; i < tensors[t].size; ++i) REQUIRE(got[t][i] == ref[t][i]);  // bit for bit
  }
}

TEST_CASE("many chunks in flight through a small window and several channels", "[ps_rpc]") {
  std::string yaml = Spec("sync");
  yaml.replace(yaml.find("chunk_bytes: 256}"), 17, "chunk_bytes: 12}");  // 3 floats a chunk
  Cluster cluster("sync", yaml);
  REQUIRE(cluster.placement.chunks().size() > 100);
  CheckSyncAgainstReference(cluster, 3, /*max_in_flight=*/5, /*channels=*/3);
}

TEST_CASE("async pulls never wait for other workers", "[ps_rpc]") {
  Cluster cluster("async");
  auto client = cluster.Client(0);
  const auto& tensors = cluster.placement.tensors();
  std::vector<float> params(tensors[0].size);
  // Worker 0 runs 50 steps while workers 1 and 2 do nothing.
  for (int64_t step = 0; step < 50; ++step) {
    auto g = Gradient(0, step, tensors[0].size);
    client->PushPull(0, step, g.data(), params.data());
    REQUIRE(client->Wait().ok());
  }
  ServerStats stats;
  grpc::ClientContext ctx;
  GetStatsRequest req;
  req.set_job_id("job");
  req.set_generation(1);
  auto stub = ParameterServer::NewStub(
      grpc::CreateChannel(cluster.addresses[0], grpc::InsecureChannelCredentials()));
  REQUIRE(stub->GetStats(&ctx, req, &stats).ok());
  CHECK(stats.pushes() > 0);
}

TEST_CASE("bad requests get errors naming the problem", "[ps_rpc]") {
  Cluster cluster("sync");
  auto stub = ParameterServer::NewStub(
      grpc::CreateChannel(cluster.addresses[0], grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    PullRequest req;
    req.set_job_id("nope");
    req.set_generation(1);
    PullResponse resp;
    const grpc::Status s = stub->Pull(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(s.error_message() == "job 'nope' is not served here");
  }
  {
    grpc::ClientContext ctx;
    PushRequest req;
    req.set_job_id("job");
    req.set_generation(7);
    PushResponse resp;
    const grpc::Status s = stub->Push(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::ABORTED);
    CHECK(s.error_message() == "job job is at generation 1, request has 7");
  }
  {
    grpc::ClientContext ctx;
    PushRequest req;
    req.set_job_id("job");
    req.set_generation(1);
    req.set_total_steps(100);
    Chunk* c = req.add_chunks();
    c->set_key(cluster.placement.ServerKeys(0)[0]);
    c->set_data("abc");
    PushResponse resp;
    const grpc::Status s = stub->Push(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("payload of 3 bytes is not whole floats") != std::string::npos);
  }
  const uint64_t key = cluster.placement.ServerKeys(0)[0];
  const int64_t length = cluster.placement.chunk(key).length;
  auto push = [&](DType dtype, const std::string& data, int raw_dtype = -1) {
    grpc::ClientContext ctx;
    PushRequest req;
    req.set_job_id("job");
    req.set_generation(1);
    req.set_total_steps(100);
    Chunk* c = req.add_chunks();
    c->set_key(key);
    c->set_dtype(dtype);
    if (raw_dtype >= 0) c->set_dtype(static_cast<DType>(raw_dtype));
    c->set_data(data);
    PushResponse resp;
    return stub->Push(&ctx, req, &resp);
  };
  {
    const grpc::Status s = push(DTYPE_F16, "abc");
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() ==
          absl::StrCat("chunk ", key, ": payload of 3 bytes is not whole halves"));
  }
  {
    const grpc::Status s = push(DTYPE_F32, std::string(8, '\0'));
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() ==
          absl::StrCat("chunk ", key, ": gradient has 2 elements, expected ", length));
  }
  {
    const grpc::Status s = push(DTYPE_F32, std::string(4 * length, '\0'), 7);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() ==
          absl::StrCat("chunk ", key, ": dtype 7 is not supported on this path"));
  }
  {
    // Bytes that are no PushRequest, through the generic API.
    auto channel = grpc::CreateChannel(cluster.addresses[0], grpc::InsecureChannelCredentials());
    grpc::GenericStub generic(channel);
    grpc::ClientContext ctx;
    grpc::Slice slice(std::string("\x7a\x10\x08\x01", 4));
    grpc::ByteBuffer request(&slice, 1);
    std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>> call;
    grpc::CompletionQueue cq;
    call = generic.PrepareUnaryCall(&ctx, "/psd.ParameterServer/PushPull", request, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status s;
    call->Finish(&response, &s, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    REQUIRE(cq.Next(&tag, &ok));
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() == "malformed PushRequest at byte 2: nested message runs past the end");
  }
  {
    grpc::ClientContext ctx;
    PullRequest req;
    req.set_job_id("job");
    req.set_generation(1);
    req.set_dtype(static_cast<DType>(9));
    req.add_keys(key);
    PullResponse resp;
    const grpc::Status s = stub->Pull(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() == "pull: dtype 9 is not supported");
  }
}

TEST_CASE("a protobuf client still talks to the hand-written hot path", "[ps_rpc]") {
  std::string yaml = Spec("async");
  Cluster cluster("async", yaml);
  auto stub = ParameterServer::NewStub(
      grpc::CreateChannel(cluster.addresses[1], grpc::InsecureChannelCredentials()));
  const uint64_t key = cluster.placement.ServerKeys(1)[0];
  const ChunkInfo& info = cluster.placement.chunk(key);
  std::vector<float> init(info.length);
  InitTensorSlice(cluster.spec.seed, cluster.placement.tensors()[info.tensor], info.offset,
                  absl::MakeSpan(init));
  for (DType dtype : {DTYPE_F32, DTYPE_F16}) {
    grpc::ClientContext ctx;
    PushRequest req;
    req.set_job_id("job");
    req.set_generation(1);
    req.set_worker(1);
    req.set_step(dtype == DTYPE_F32 ? 0 : 1);
    req.set_total_steps(100);
    req.set_pull_dtype(dtype);
    Chunk* c = req.add_chunks();
    c->set_key(key);
    c->set_dtype(DTYPE_F32);
    c->set_data(std::string(4 * info.length, '\0'));  // a zero gradient: momentum keeps p
    PullResponse resp;
    const grpc::Status s = stub->PushPull(&ctx, req, &resp);
    REQUIRE(s.ok());
    REQUIRE(resp.chunks_size() == 1);
    CHECK(resp.chunks(0).key() == key);
    CHECK(resp.chunks(0).dtype() == dtype);
    const std::string& data = resp.chunks(0).data();
    REQUIRE(static_cast<int64_t>(data.size()) == info.length * (dtype == DTYPE_F32 ? 4 : 2));
    for (int64_t i = 0; i < info.length; ++i) {
      float v;
      if (dtype == DTYPE_F32) {
        std::memcpy(&v, data.data() + 4 * i, 4);
        CHECK(v == init[i]);
      } else {
        uint16_t h;
        std::memcpy(&h, data.data() + 2 * i, 2);
        CHECK(h == FloatToHalf(init[i]));
      }
    }
  }
}

}  // namespace
}  // namespace psd
