#include "server/shard_store.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "tests/testing.h"

namespace psd {
namespace {

JobSpec SmallJob(Consistency consistency, int staleness = 0) {
  JobSpec spec;
  spec.name = "t";
  spec.model.type = ModelType::kLogreg;
  spec.model.input_dim = 3;
  spec.model.num_classes = 2;  // tensors: weight [3, 2], bias [2]
  spec.training.consistency = consistency;
  spec.training.staleness = staleness;
  spec.training.optimizer.type = OptimizerType::kSgd;
  spec.training.optimizer.learning_rate = 0.5;
  return spec;
}

struct Fixture {
  explicit Fixture(const JobSpec& s, int workers = 3) : spec(s) {
    placement = *Placement::ForJob(spec);
    store = *ShardStore::Create(spec, placement, 0, workers);
  }
  std::vector<float> Params(uint64_t key) {
    std::vector<float> out(placement.chunk(key).length);
    REQUIRE(store->Read(key, absl::MakeSpan(out)).ok());
    return out;
  }
  JobSpec spec;
  Placement placement;
  std::unique_ptr<ShardStore> store;
};

struct Flag {
  bool fired = false;
  absl::Status status;
  ShardStore::ReadyCallback Callback() {
    return [this](absl::Status s) {
      fired = true;
      status = s;
    };
  }
};

TEST_CASE("sync applies the mean of all workers' pushes once", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync));
  const std::vector<float> before = f.Params(1);  // bias, 2 elements
  Flag pull;
  f.store->WhenReadable(1, 0, 1, pull.Callback());
  CHECK_FALSE(pull.fired);
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{1, 2}, 10).ok());
  REQUIRE(f.store->Push(1, 0, 1, std::vector<float>{3, 4}, 10).ok());
  CHECK_FALSE(pull.fired);
  CHECK(f.Params(1) == before);
  REQUIRE(f.store->Push(2, 0, 1, std::vector<float>{5, 6}, 10).ok());
  CHECK(pull.fired);
  CHECK(pull.status.ok());
  const std::vector<float> after = f.Params(1);
  CHECK(after[0] == Approx(before[0] - 0.5f * 3.0f));
  CHECK(after[1] == Approx(before[1] - 0.5f * 4.0f));
  std::vector<float> out(2);
  CHECK(*f.store->Read(1, absl::MakeSpan(out)) == 1);
}

TEST_CASE("a retried push is applied once", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kAsync));
  const std::vector<float> before = f.Params(1);
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{3, 3}, 10).ok());
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{3, 3}, 10).ok());
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.5f * 3 / 3));
  CHECK(f.store->stats().duplicate_pushes == 1);
  CHECK(f.store->stats().pushes == 1);
}

TEST_CASE("async applies every push at once and never makes a pull wait", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kAsync));
  const std::vector<float> before = f.Params(1);
  Flag pull;
  f.store->WhenReadable(1, 2, 50, pull.Callback());
  CHECK(pull.fired);
  // Each push moves the parameters by lr / live workers: a round of 3 pushes is one sync step.
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{3, 0}, 10).ok());
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.5f));
  REQUIRE(f.store->Push(0, 1, 1, std::vector<float>{3, 0}, 10).ok());
  CHECK(f.Params(1)[0] == Approx(before[0] - 1.0f));
  f.store->SetLiveWorkers({0});
  REQUIRE(f.store->Push(0, 2, 1, std::vector<float>{1, 0}, 10).ok());
  CHECK(f.Params(1)[0] == Approx(before[0] - 1.5f));
}

TEST_CASE("staleness-aware async divides the step by the gradient's staleness", "[shard_store]") {
  JobSpec spec = SmallJob(Consistency::kAsync);
  spec.training.staleness_aware_lr = true;
  Fixture f(spec);
  const std::vector<float> before = f.Params(1);
  Flag read;
  f.store->WhenReadable(1, 0, 0, read.Callback());                     // worker 0 reads at update 0
  REQUIRE(f.store->Push(1, 0, 1, std::vector<float>{1, 0}, 10).ok());  // staleness 0 -> 1
  REQUIRE(f.store->Push(2, 0, 1, std::vector<float>{1, 0}, 10).ok());
  const float after_two = f.Params(1)[0];
  CHECK(after_two == Approx(before[0] - 2 * 0.5f));
  // Worker 0's gradient is 2 updates stale: half the step.
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{1, 0}, 10).ok());
  CHECK(f.Params(1)[0] == Approx(after_two - 0.5f / 2));
}

TEST_CASE("ssp makes a pull wait for the slowest worker within the bound", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSsp, 1), 2);
  const std::vector<float> g{0, 0};
  // Worker 0 runs ahead: steps 0 and 1 pushed; worker 1 has pushed nothing.
  for (int s = 0; s < 2; ++s) REQUIRE(f.store->Push(0, s, 1, g, 10).ok());
  Flag at1, at2, at3;
  f.store->WhenReadable(1, 0, 1, at1.Callback());  // needs worker 1 at clock >= 0
  f.store->WhenReadable(1, 0, 2, at2.Callback());  // needs worker 1 at clock >= 1
  CHECK(at1.fired);
  CHECK_FALSE(at2.fired);
  // Step 2 needs the pull of step 2, which waits: a push of it now is beyond the bound.
  CHECK(f.store->Push(0, 2, 1, g, 10).message() ==
        "worker 0 pushed step 2 of chunk 1, more than 1 steps ahead of the slowest worker (at "
        "step 0)");
  REQUIRE(f.store->Push(1, 0, 1, g, 10).ok());
  CHECK(at2.fired);
  REQUIRE(f.store->Push(0, 2, 1, g, 10).ok());
  f.store->WhenReadable(1, 0, 3, at3.Callback());  // needs worker 1 at clock >= 2
  CHECK_FALSE(at3.fired);
  REQUIRE(f.store->Push(1, 1, 1, g, 10).ok());
  CHECK(at3.fired);
  CHECK(f.store->stats().max_staleness == 1);
}

TEST_CASE("dropping a worker completes the step it held up", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync));
  const std::vector<float> before = f.Params(1);
  Flag pull;
  f.store->WhenReadable(1, 0, 1, pull.Callback());
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{2, 2}, 10).ok());
  REQUIRE(f.store->Push(1, 0, 1, std::vector<float>{4, 4}, 10).ok());
  f.store->SetLiveWorkers({0, 1});
  CHECK(pull.fired);
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.5f * 3.0f));
  // The dropped worker's late push is refused with a reason.
  const absl::Status late = f.store->Push(2, 0, 1, std::vector<float>{1, 1}, 10);
  CHECK(late.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(late.message() ==
        "worker 2 pushed step 0 of chunk 1 but the chunk is at step 1 (the worker was dropped "
        "from the job)");
}

TEST_CASE("a worker added from step t: sync steps before t do not wait for it", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync), 2);
  const std::vector<float> before = f.Params(1);
  f.store->SetMembership(3, {0, 1, 2}, {{0, {0, 1}}, {2, {0, 1, 2}}});
  // Steps 0 and 1: workers 0 and 1 only, their mean gradient.
  for (int s = 0; s < 2; ++s) {
    REQUIRE(f.store->Push(0, s, 1, std::vector<float>{2, 0}, 10).ok());
    REQUIRE(f.store->Push(1, s, 1, std::vector<float>{4, 0}, 10).ok());
  }
  CHECK(f.Params(1)[0] == Approx(before[0] - 2 * 0.5f * 3.0f));
  // Rank 2's first step is 2: step 2 waits for it.
  REQUIRE(f.store->Push(0, 2, 1, std::vector<float>{3, 0}, 10).ok());
  REQUIRE(f.store->Push(1, 2, 1, std::vector<float>{3, 0}, 10).ok());
  Flag pull;
  f.store->WhenReadable(1, 0, 3, pull.Callback());
  CHECK_FALSE(pull.fired);
  REQUIRE(f.store->Push(2, 2, 1, std::vector<float>{6, 0}, 10).ok());
  CHECK(pull.fired);
  CHECK(f.Params(1)[0] == Approx(before[0] - 3.0f - 0.5f * 4.0f));
}

TEST_CASE("a worker removed from step t: step t completes without it", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync), 3);
  f.store->SetMembership(3, {0, 1, 2}, {{0, {0, 1, 2}}, {1, {0, 1}}});
  const std::vector<float> g{1, 1};
  for (int w = 0; w < 3; ++w) REQUIRE(f.store->Push(w, 0, 1, g, 10).ok());
  Flag pull;
  f.store->WhenReadable(1, 0, 2, pull.Callback());
  const std::vector<float> before = f.Params(1);
  REQUIRE(f.store->Push(0, 1, 1, std::vector<float>{1, 0}, 10).ok());
  REQUIRE(f.store->Push(1, 1, 1, std::vector<float>{3, 0}, 10).ok());
  CHECK(pull.fired);
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.5f * 2.0f));  // the two workers' mean
  // Then one worker alone.
  f.store->SetMembership(3, {0, 1, 2}, {{0, {0, 1, 2}}, {1, {0, 1}}, {2, {0}}});
  REQUIRE(f.store->Push(0, 2, 1, std::vector<float>{4, 0}, 10).ok());
  CHECK(f.Params(1)[0] == Approx(before[0] - 1.0f - 2.0f));
}

TEST_CASE("async shares the learning rate among the newest segment's workers", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kAsync), 2);
  const std::vector<float> before = f.Params(1);
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{1, 0}, 10).ok());  // 0.5 / 2
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.25f));
  f.store->SetMembership(4, {0, 1, 2, 3}, {{0, {0, 1}}, {5, {0, 1, 2, 3}}});
  REQUIRE(f.store->Push(3, 5, 1, std::vector<float>{1, 0}, 10).ok());  // 0.5 / 4
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.25f - 0.125f));
}

TEST_CASE("close fails waiting pulls", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync));
  Flag pull;
  f.store->WhenReadable(0, 0, 1, pull.Callback());
  f.store->Close(absl::CancelledError("job ended"));
  CHECK(pull.fired);
  CHECK(pull.status.code() == absl::StatusCode::kCancelled);
  CHECK_FALSE(f.store->Push(0, 0, 0, std::vector<float>(6), 10).ok());
}

TEST_CASE("bad pushes get errors naming what is wrong", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync));
  CHECK(f.store->Push(0, 0, 1, std::vector<float>{1, 2, 3}, 10).message() ==
        "chunk 1: gradient has 3 elements, expected 2");
  CHECK(f.store->Push(0, 0, 9, std::vector<float>{1}, 10).message() ==
        "chunk 9 is not on this server");
  CHECK(f.store->Push(7, 0, 1, std::vector<float>{1, 2}, 10).message() ==
        "worker 7 out of range [0, 3)");
  CHECK(f.store->Push(0, 3, 1, std::vector<float>{1, 2}, 10).message() ==
        "worker 0 pushed step 3 of chunk 1 but the chunk is at step 0");
}

TEST_CASE("pushes out of a worker's order are refused", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kAsync), 1);
  CHECK(f.store->Push(0, 1, 1, std::vector<float>{1, 2}, 10).message() ==
        "worker 0 pushed step 1 of chunk 1 but its next step there is 0");
  CHECK(f.store->Push(0, 10, 1, std::vector<float>{1, 2}, 10).message() ==
        "step 10 is outside the job's steps [0, 10)");
  CHECK(f.store->Push(0, 0, 1, std::vector<float>{1, 2}, 0).message() ==
        "total_steps: must be the job's planned steps (> 0), got 0");
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{1, 2}, 10).ok());
  CHECK(f.store->Push(0, 1, 1, std::vector<float>{1, 2}, 11).message() ==
        "total_steps 11 differs from the job's 10");
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{1, 2}, 10).ok());  // a retry
  CHECK(f.store->stats().duplicate_pushes == 1);
  Flag far;
  f.store->WhenReadable(1, 0, 11, far.Callback());
  CHECK(far.status.message() == "pull of step 11 is outside the job's steps [0, 10]");
}

Payload Values(const std::vector<float>& v) { return Payload::F32(v); }

TEST_CASE("a push is applied whole or not at all", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kAsync), 1);
  const std::vector<float> before = f.Params(0);
  const std::vector<float> good(6, 1.0f), bad{1.0f, std::nanf("")};
  const Payload g = Values(good), b = Values(bad);
  const ChunkPush mixed[] = {{0, &g}, {1, &b}};
  const absl::Status s = f.store->Push(0, 0, 10, mixed);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() ==
        "worker 0 step 0: chunk 1 has 1 non-finite value (training.nonfinite_gradients: reject); "
        "nothing applied");
  CHECK(f.Params(0) == before);
  const ChunkPush twice[] = {{0, &g}, {0, &g}};
  CHECK(f.store->Push(0, 0, 10, twice).message() == "chunk 0 appears twice in one push");
  CHECK(f.Params(0) == before);
  CHECK(f.store->stats().nonfinite_rejected == 1);
  CHECK(f.store->stats().pushes == 0);
}

TEST_CASE("skip drops a non-finite chunk and the step goes on", "[shard_store]") {
  JobSpec spec = SmallJob(Consistency::kSync);
  spec.training.nonfinite_gradients = NonfinitePolicy::kSkip;
  Fixture f(spec, 2);
  const std::vector<float> before = f.Params(1);
  const float inf = std::numeric_limits<float>::infinity();
  REQUIRE(f.store->Push(0, 0, 1, std::vector<float>{inf, 0}, 10).ok());
  REQUIRE(f.store->Push(1, 0, 1, std::vector<float>{2, 2}, 10).ok());
  // The mean of what was not dropped.
  CHECK(f.Params(1)[0] == Approx(before[0] - 0.5f * 2.0f));
  // Every worker's push of a step dropped: the step completes without an update.
  REQUIRE(f.store->Push(0, 1, 1, std::vector<float>{std::nanf(""), 0}, 10).ok());
  REQUIRE(f.store->Push(1, 1, 1, std::vector<float>{0, -inf}, 10).ok());
  std::vector<float> now(2);
  CHECK(*f.store->Read(1, absl::MakeSpan(now)) == 2);
  CHECK(now[0] == Approx(before[0] - 0.5f * 2.0f));
  CHECK(std::isfinite(now[1]));
  CHECK(f.store->stats().nonfinite_skipped == 3);
  CHECK(f.store->stats().nonfinite_rejected == 0);
}

TEST_CASE("fail refuses the push and fails the job once", "[shard_store]") {
  JobSpec spec = SmallJob(Consistency::kSync);
  spec.training.nonfinite_gradients = NonfinitePolicy::kFail;
  Fixture f(spec, 2);
  std::vector<std::string> failures;
  f.store->SetFailureHandler([&](const absl::Status& s) { failures.emplace_back(s.message()); });
  Flag pull;
  f.store->WhenReadable(1, 1, 1, pull.Callback());
  const std::vector<float> nan{std::nanf(""), 0};
  CHECK_FALSE(f.store->Push(0, 0, 1, nan, 10).ok());
  CHECK_FALSE(f.store->Push(0, 0, 1, nan, 10).ok());
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] ==
        "worker 0 step 0: chunk 1 has 1 non-finite value (training.nonfinite_gradients: fail); "
        "the job fails");
  CHECK(f.store->failure().message() == failures[0]);
  CHECK(pull.fired);  // waiting pulls learn it
  CHECK(pull.status.code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a pull its client gave up leaves no waiter", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync), 2);
  Flag a, b;
  const uint64_t id = f.store->WhenReadable(1, 0, 1, a.Callback());
  f.store->WhenReadable(0, 0, 1, b.Callback());
  CHECK(id != 0);
  CHECK(f.store->stats().waiting_pulls == 2);
  f.store->CancelWait(1, id, absl::CancelledError("client gave up"));
  CHECK(a.fired);
  CHECK(a.status.code() == absl::StatusCode::kCancelled);
  CHECK(f.store->stats().waiting_pulls == 1);
  f.store->CancelWait(1, id, absl::CancelledError("again"));  // no longer waiting: nothing
  f.store->Close(absl::CancelledError("job ended"));
  CHECK(b.fired);
  CHECK(f.store->stats().waiting_pulls == 0);
}

TEST_CASE("a store that owns no chunk takes a requested checkpoint at once", "[shard_store]") {
  JobSpec spec = SmallJob(Consistency::kSync);
  spec.cluster.servers = 3;  // two tensors, two chunks: server 2 owns none
  const Placement placement = *Placement::ForJob(spec);
  REQUIRE(placement.ServerKeys(2).empty());
  auto store = *ShardStore::Create(spec, placement, 2, 2);
  std::vector<int64_t> steps;
  size_t chunks = 99;
  store->SetSnapshotHandler([&](int64_t step, std::vector<ChunkSnapshot> c) {
    steps.push_back(step);
    chunks = c.size();
  });
  REQUIRE(store->ScheduleCheckpoint(40).ok());
  CHECK(steps == std::vector<int64_t>{40});
  CHECK(chunks == 0);
}

TEST_CASE("concurrent pushes from many threads are all applied", "[shard_store]") {
  Fixture f(SmallJob(Consistency::kSync), 8);
  const std::vector<float> before = f.Params(0);
  for (int step = 0; step < 20; ++step) {
    std::vector<absl::Status> results(8);
    std::vector<std::thread> threads;  // (Catch2's assertions are not thread-safe)
    for (int w = 0; w < 8; ++w) {
      threads.emplace_back(
          [&, w] { results[w] = f.store->Push(w, step, 0, std::vector<float>(6, 1.0f), 100); });
    }
    for (auto& t : threads) t.join();
    for (const absl::Status& s : results) REQUIRE(s.ok());
  }
  std::vector<float> after(6);
  CHECK(*f.store->Read(0, absl::MakeSpan(after)) == 20);
  CHECK(after[0] == Approx(before[0] - 20 * 0.5f));
  CHECK(f.store->stats().pushes == 160);
}

}  // namespace
}  // namespace psd
