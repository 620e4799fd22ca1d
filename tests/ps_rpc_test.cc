// The parameter server over real gRPC on 127.0.0.1: PsServer + PsClient in one process.
#include <grpcpp/grpcpp.h>

#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "proto/parameter_server.grpc.pb.h"
#include "server/optimizer.h"
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
  explicit Cluster(const std::string& consistency) : yaml(Spec(consistency)) {
    spec = *ParseJobSpec(yaml, "test");
    placement = *Placement::ForJob(spec);
    for (int s = 0; s < 2; ++s) {
      auto server = PsServer::Start({});
      REQUIRE(server.ok());
      InitJobRequest init;
      init.set_job_id("job");
      init.set_generation(1);
      init.set_spec_yaml(yaml);
      init.set_server_rank(s);
      init.set_num_servers(2);
      init.set_num_workers(3);
      REQUIRE((*server)->jobs().Init(init).ok());
      addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
      servers.push_back(*std::move(server));
    }
  }

  std::unique_ptr<PsClient> Client(int worker) {
    PsClient::Options o;
    o.job_id = "job";
    o.generation = 1;
    o.worker = worker;
    o.total_steps = 100;
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

TEST_CASE("sync push-pull over gRPC equals the mean-gradient update", "[ps_rpc]") {
  Cluster cluster("sync");
  const auto& tensors = cluster.placement.tensors();
  // Reference: the same optimizer on whole tensors with the mean of the workers' gradients.
  std::vector<std::vector<float>> ref;
  std::vector<OptimizerState> state;
  for (const TensorInfo& t : tensors) {
    ref.emplace_back(t.size);
    InitTensorSlice(cluster.spec.seed, t, 0, absl::MakeSpan(ref.back()));
    state.push_back(NewOptimizerState(cluster.spec.training.optimizer, t.size));
  }
  constexpr int kSteps = 5;
  std::vector<std::vector<std::vector<float>>> got(3);
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      auto client = cluster.Client(w);
      auto& params = got[w];
      for (const TensorInfo& t : tensors) params.emplace_back(t.size);
      for (uint32_t t = 0; t < tensors.size(); ++t) client->Pull(t, 0, params[t].data());
      REQUIRE(client->Wait().ok());
      std::vector<std::vector<float>> grads(tensors.size());
      for (int64_t step = 0; step < kSteps; ++step) {
        for (uint32_t t = 0; t < tensors.size(); ++t) {
          grads[t] = Gradient(w, step * 10 + t, tensors[t].size);
          client->PushPull(t, step, grads[t].data(), params[t].data());
        }
        REQUIRE(client->Wait().ok());
      }
    });
  }
  for (auto& t : workers) t.join();
  for (int64_t step = 0; step < kSteps; ++step) {
    for (uint32_t t = 0; t < tensors.size(); ++t) {
      std::vector<float> mean(tensors[t].size, 0.0f);
      for (int w = 0; w < 3; ++w) {
        const auto g = Gradient(w, step * 10 + t, tensors[t].size);
        for (size_t i = 0; i < g.size(); ++i) mean[i] += g[i];
      }
      for (float& v : mean) v /= 3;
      ApplyUpdate(cluster.spec.training.optimizer,
                  static_cast<float>(LearningRate(cluster.spec.training, step, 100)), mean,
                  absl::MakeSpan(ref[t]), state[t]);
    }
  }
  for (int w = 0; w < 3; ++w) {
    for (uint32_t t = 0; t < tensors.size(); ++t) {
      for (int64_t i = 0; i < tensors[t].size; ++i) {
        REQUIRE(got[w][t][i] == Approx(ref[t][i]).margin(1e-5));
      }
    }
  }
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
    Chunk* c = req.add_chunks();
    c->set_key(cluster.placement.ServerKeys(0)[0]);
    c->set_data("abc");
    PushResponse resp;
    const grpc::Status s = stub->Push(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("payload of 3 bytes is not whole floats") != std::string::npos);
  }
}

}  // namespace
}  // namespace psd
