// Bad input on the ParameterServer RPCs, over gRPC on 127.0.0.1: every request is checked
// whole before anything is applied, and is refused with a status naming what was wrong.
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "proto/parameter_server.grpc.pb.h"
#include "server/ps_server.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

std::string Yaml(const std::string& consistency, int workers, const std::string& extra = "") {
  return absl::StrCat(
      R"(
name: input
seed: 3
model: {type: logreg, input_dim: 6, num_classes: 4}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training:
  consistency: )",
      consistency, R"(
  max_steps: 10
  optimizer: {type: sgd, learning_rate: 0.5}
)",
      extra, absl::StrCat("\ncluster: {servers: 1, workers: ", workers, ", chunk_bytes: 16}\n"));
}

struct Server {
  explicit Server(const std::string& yaml, PsServerOptions options = {}) {
    parsed = *ParseJobSpec(yaml, "test");
    options.tls = TlsOptions::Insecure();  // the RPCs' semantics; tests/authz_test.cc: who may
    auto server = PsServer::Start(options);
    REQUIRE(server.ok());
    ps = *std::move(server);
    InitJobRequest init;
    init.set_job_id("job");
    init.set_generation(1);
    init.set_spec_yaml(yaml);
    init.set_server_rank(0);
    init.set_num_servers(1);
    init.set_num_workers(spec().cluster.workers);
    auto job = ps->jobs().Init(init);
    INFO(job.status().ToString());
    REQUIRE(job.ok());
    served = *job;
    stub = ParameterServer::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", ps->port()),
                                                        grpc::InsecureChannelCredentials()));
  }
  const JobSpec& spec() const { return served != nullptr ? served->spec : parsed; }
  const Placement& placement() const { return served->placement; }
  std::vector<float> Params(uint64_t key) const {
    std::vector<float> out(placement().chunk(key).length);
    REQUIRE(served->store->Read(key, absl::MakeSpan(out)).ok());
    return out;
  }
  PushRequest Push(int worker, int64_t step, const std::vector<uint64_t>& keys,
                   float value = 1.0f) const {
    PushRequest req;
    req.set_job_id("job");
    req.set_generation(1);
    req.set_worker(worker);
    req.set_step(step);
    req.set_total_steps(10);
    for (uint64_t key : keys) {
      std::vector<float> g(placement().chunk(key).length, value);
      Chunk* c = req.add_chunks();
      c->set_key(key);
      c->set_data(std::string(reinterpret_cast<const char*>(g.data()), g.size() * 4));
    }
    return req;
  }
  grpc::Status Send(const PushRequest& req) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    PushResponse resp;
    return stub->Push(&ctx, req, &resp);
  }

  JobSpec parsed;
  std::unique_ptr<PsServer> ps;
  std::shared_ptr<ServedJob> served;
  std::unique_ptr<ParameterServer::Stub> stub;
};

void SetValue(PushRequest& req, int chunk, int64_t index, float v) {
  std::memcpy(req.mutable_chunks(chunk)->mutable_data()->data() + 4 * index, &v, 4);
}

TEST_CASE("a push of non-finite gradients is refused whole (reject, the default)", "[ps_input]") {
  Server s(Yaml("sync", 1));
  const uint64_t a = s.placement().ServerKeys(0)[0], b = s.placement().ServerKeys(0)[1];
  const std::vector<float> before_a = s.Params(a), before_b = s.Params(b);
  PushRequest req = s.Push(0, 0, {a, b});
  SetValue(req, 1, 0, std::numeric_limits<float>::quiet_NaN());
  SetValue(req, 1, 1, std::numeric_limits<float>::infinity());
  const grpc::Status st = s.Send(req);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message() ==
        absl::StrCat("job job worker 0 step 0: chunk ", b,
                     " has 2 non-finite values (training.nonfinite_gradients: reject); "
                     "nothing applied"));
  CHECK(s.Params(a) == before_a);
  CHECK(s.Params(b) == before_b);
  // The refused push left no trace: the worker's real push of step 0 applies.
  REQUIRE(s.Send(s.Push(0, 0, {a, b})).ok());
  CHECK(s.Params(a) != before_a);
}

TEST_CASE("a push with one valid and one invalid chunk applies nothing", "[ps_input]") {
  Server s(Yaml("async", 1));
  const uint64_t a = s.placement().ServerKeys(0)[0], b = s.placement().ServerKeys(0)[1];
  const std::vector<float> before = s.Params(a);
  PushRequest req = s.Push(0, 0, {a, b});
  req.mutable_chunks(1)->mutable_data()->resize(8);  // the wrong length
  const grpc::Status st = s.Send(req);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.Params(a) == before);
  REQUIRE(s.Send(s.Push(0, 0, {a, b})).ok());  // not taken for a duplicate
  CHECK(s.Params(a) != before);
}

TEST_CASE("a push with a step out of range is refused and poisons nothing", "[ps_input]") {
  for (const std::string consistency : {"async", "ssp", "sync"}) {
    INFO(consistency);
    Server s(Yaml(consistency, 1, consistency == "ssp" ? "  staleness: 1\n" : ""));
    const uint64_t a = s.placement().ServerKeys(0)[0];
    const std::vector<float> before = s.Params(a);
    for (int64_t step : {int64_t{1000000000000}, int64_t{10}, int64_t{-1}, int64_t{3}}) {
      INFO(step);
      const grpc::Status st = s.Send(s.Push(0, step, {a}));
      CHECK_FALSE(st.ok());
      CHECK_THAT(st.error_message(), Catch::Contains(absl::StrCat("step ", step)));
    }
    CHECK(s.Params(a) == before);
    REQUIRE(s.Send(s.Push(0, 0, {a})).ok());
    CHECK(s.Params(a) != before);  // applied, not dropped as a duplicate
    CHECK(s.served->store->stats().duplicate_pushes == 0);
  }
}

TEST_CASE("a push whose total_steps differs from the job's is refused", "[ps_input]") {
  Server s(Yaml("async", 1));
  const uint64_t a = s.placement().ServerKeys(0)[0];
  PushRequest req = s.Push(0, 0, {a});
  req.set_total_steps(int64_t{1} << 40);  // would stretch the learning-rate schedule
  const grpc::Status st = s.Send(req);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("total_steps"));
}

TEST_CASE("generation 0 is no wildcard: every RPC names the exact generation", "[ps_input]") {
  Server s(Yaml("async", 1));
  const uint64_t a = s.placement().ServerKeys(0)[0];
  PushRequest push = s.Push(0, 0, {a});
  push.set_generation(0);
  grpc::Status st = s.Send(push);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("generation"));
  {
    grpc::ClientContext ctx;
    PullRequest req;
    req.set_job_id("job");
    req.add_keys(a);
    PullResponse resp;
    st = s.stub->Pull(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    CheckpointRequest req;
    req.set_job_id("job");
    req.set_step(5);
    CheckpointResponse resp;
    st = s.stub->Checkpoint(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    EndJobRequest req;
    req.set_job_id("job");
    EndJobResponse resp;
    st = s.stub->EndJob(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    int served = 0;
    s.ps->jobs().ForEach([&](ServedJob&) { ++served; });
    CHECK(served == 1);
  }
  {
    grpc::ClientContext ctx;
    GetStatsRequest req;
    req.set_job_id("job");
    ServerStats resp;
    st = s.stub->GetStats(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    InitJobRequest req;
    req.set_job_id("other");
    req.set_spec_yaml(Yaml("async", 1));
    req.set_num_servers(1);
    req.set_num_workers(1);
    InitJobResponse resp;
    st = s.stub->InitJob(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_CASE("InitJob refuses job ids that would leave the checkpoint directory", "[ps_input]") {
  const std::string root = testing::MakeTempDir("ps-input-ids");
  const std::string dir = absl::StrCat(root, "/ckpt/a/b");
  const std::string yaml =
      Yaml("async", 1, absl::StrCat("checkpoint: {dir: ", dir, ", every_steps: 1}\n"));
  Server s(yaml);
  const std::vector<std::string> ids = {
      "../../x", "..", ".hidden", "a/b", "", std::string(129, 'j'), std::string("nul\0x", 5)};
  for (const std::string& id : ids) {
    INFO(id);
    grpc::ClientContext ctx;
    InitJobRequest req;
    req.set_job_id(id);
    req.set_generation(1);
    req.set_spec_yaml(yaml);
    req.set_num_servers(1);
    req.set_num_workers(1);
    InitJobResponse resp;
    const grpc::Status st = s.stub->InitJob(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(st.error_message(), Catch::Contains("job id"));
    if (st.ok()) {  // what an accepted id would do: its first checkpoint lands outside
      PushRequest push = s.Push(0, 0, s.placement().ServerKeys(0));
      push.set_job_id(id);
      s.Send(push);
    }
  }
  absl::SleepFor(absl::Milliseconds(300));  // the checkpoint writer's thread
  CHECK_FALSE(std::filesystem::exists(absl::StrCat(root, "/ckpt/x")));
}

ServerStats Stats(const Server& s) {
  grpc::ClientContext ctx;
  GetStatsRequest req;
  req.set_job_id("job");
  req.set_generation(1);
  ServerStats stats;
  REQUIRE(s.stub->GetStats(&ctx, req, &stats).ok());
  return stats;
}

grpc::Status PullWithin(const Server& s, int worker, int64_t step, uint64_t key,
                        absl::Duration deadline) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  PullRequest req;
  req.set_job_id("job");
  req.set_generation(1);
  req.set_worker(worker);
  req.set_step(step);
  req.add_keys(key);
  PullResponse resp;
  return s.stub->Pull(&ctx, req, &resp);
}

// Waits up to 5 s for `done`.
template <typename Fn>
bool Eventually(Fn done) {
  for (const absl::Time end = absl::Now() + absl::Seconds(5); absl::Now() < end;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

TEST_CASE("pulls whose clients gave up leave no waiter behind", "[ps_input]") {
  Server s(Yaml("sync", 2));
  const uint64_t a = s.placement().ServerKeys(0)[0];
  std::vector<grpc::StatusCode> codes(40);
  std::vector<std::thread> clients;  // (Catch2's assertions are not thread-safe)
  for (size_t i = 0; i < codes.size(); ++i) {
    clients.emplace_back([&, i] {
      // Step 1 waits for both workers' step 0, which never comes.
      codes[i] = PullWithin(s, 0, 1, a, absl::Milliseconds(300)).error_code();
    });
  }
  for (auto& t : clients) t.join();
  for (grpc::StatusCode code : codes) CHECK(code == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(Eventually([&] { return Stats(s).waiting_pulls() == 0; }));
  CHECK(s.served->store->stats().waiting_pulls == 0);
}

TEST_CASE("EndJob names the generation, fails waiting pulls and frees the job", "[ps_input]") {
  Server s(Yaml("sync", 2));
  const uint64_t a = s.placement().ServerKeys(0)[0];
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::thread waiting([&] { code = PullWithin(s, 0, 1, a, absl::Seconds(20)).error_code(); });
  CHECK(Eventually([&] { return Stats(s).waiting_pulls() == 1; }));
  std::weak_ptr<ServedJob> weak = s.served;
  s.served.reset();
  {
    grpc::ClientContext ctx;
    EndJobRequest req;
    req.set_job_id("job");
    req.set_generation(2);
    EndJobResponse resp;
    CHECK(s.stub->EndJob(&ctx, req, &resp).error_code() == grpc::StatusCode::ABORTED);
  }
  {
    grpc::ClientContext ctx;
    EndJobRequest req;
    req.set_job_id("job");
    req.set_generation(1);
    EndJobResponse resp;
    REQUIRE(s.stub->EndJob(&ctx, req, &resp).ok());
  }
  waiting.join();
  CHECK(code == grpc::StatusCode::CANCELLED);
  CHECK(s.ps->jobs().Find("job") == nullptr);
  CHECK(Eventually([&] { return weak.expired(); }));  // nothing holds the job's state
}

TEST_CASE("InitJob of a model beyond the memory budget is refused with the sizes", "[ps_input]") {
  PsServerOptions options;
  options.memory_budget_bytes = int64_t{2} << 30;
  Server s(Yaml("async", 1), options);
  const std::string huge = R"(
name: huge
model: {type: mlp, input_dim: 784, hidden: [32768, 30000], num_classes: 10}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training: {optimizer: {type: momentum}}
cluster: {servers: 2, workers: 1}
)";
  grpc::ClientContext ctx;
  InitJobRequest req;
  req.set_job_id("huge-1");
  req.set_generation(1);
  req.set_spec_yaml(huge);
  req.set_num_servers(2);
  req.set_num_workers(1);
  InitJobResponse resp;
  const grpc::Status st = s.stub->InitJob(&ctx, req, &resp);
  CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_THAT(st.error_message(),
             Catch::StartsWith(
                 "job huge-1: model needs 5.6 GiB per server (params 1.9 GiB + momentum 1.9 GiB + "
                 "accumulator 1.9 GiB + chunk records 1.3 MiB) with 2 servers; the budget is 2.0 "
                 "GiB, "));  // less what the small job uses
  CHECK(s.ps->jobs().Find("huge-1") == nullptr);
  CHECK(Stats(s).pushes() == 0);  // the server serves on
}

TEST_CASE("skip drops non-finite chunks, counted", "[ps_input]") {
  Server s(Yaml("sync", 1, "  nonfinite_gradients: skip\n"));
  const uint64_t a = s.placement().ServerKeys(0)[0], b = s.placement().ServerKeys(0)[1];
  const std::vector<float> before_b = s.Params(b);
  PushRequest req = s.Push(0, 0, {a, b});
  SetValue(req, 1, 2, std::numeric_limits<float>::infinity());
  REQUIRE(s.Send(req).ok());
  CHECK(s.Params(b) == before_b);
  CHECK(Stats(s).nonfinite_chunks_skipped() == 1);
  std::vector<float> now(s.placement().chunk(b).length);
  CHECK(*s.served->store->Read(b, absl::MakeSpan(now)) == 1);  // the step went on
  REQUIRE(s.Send(s.Push(0, 1, {a, b})).ok());
  CHECK(s.Params(b) != before_b);
}

TEST_CASE("fail refuses the push, fails the job and says so", "[ps_input]") {
  absl::Mutex mu;
  std::vector<std::string> failures;
  PsServerOptions options;
  options.on_job_faults = [&](const ServedJob& job, const ShardStats&, const absl::Status& why) {
    absl::MutexLock lock(&mu);
    if (!why.ok()) failures.push_back(absl::StrCat(job.id, ": ", why.message()));
  };
  Server s(Yaml("async", 1, "  nonfinite_gradients: fail\n"), options);
  const uint64_t a = s.placement().ServerKeys(0)[0];
  PushRequest req = s.Push(0, 0, {a});
  SetValue(req, 0, 0, std::numeric_limits<float>::quiet_NaN());
  const grpc::Status st = s.Send(req);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("the job fails"));
  CHECK(Eventually([&] {
    absl::MutexLock lock(&mu);
    return failures.size() == 1;
  }));
  {
    absl::MutexLock lock(&mu);
    CHECK(failures[0] == absl::StrCat("job: job job worker 0 step 0: chunk ", a,
                                      " has 1 non-finite value (training.nonfinite_gradients: "
                                      "fail); the job fails"));
  }
  CHECK_FALSE(s.Send(s.Push(0, 0, {a})).ok());  // nothing more is applied
  CHECK(Stats(s).nonfinite_pushes_rejected() == 1);
}

TEST_CASE("a checkpoint that cannot be written is reported, not only logged", "[ps_input]") {
  const std::string root = testing::MakeTempDir("ps-input-ckpt");
  const std::string file = absl::StrCat(root, "/a-file");
  { std::ofstream(file) << "x"; }
  absl::Mutex mu;
  std::vector<absl::Status> written;
  PsServerOptions options;
  options.on_checkpoint = [&](const CheckpointMeta&, const absl::Status& status) {
    absl::MutexLock lock(&mu);
    written.push_back(status);
  };
  Server s(Yaml("async", 1, absl::StrCat("checkpoint: {dir: ", file, ", every_steps: 1}\n")),
           options);
  REQUIRE(s.Send(s.Push(0, 0, s.placement().ServerKeys(0))).ok());
  REQUIRE(Eventually([&] {
    absl::MutexLock lock(&mu);
    return !written.empty();
  }));
  absl::MutexLock lock(&mu);
  CHECK_FALSE(written[0].ok());
}

}  // namespace
}  // namespace psd
