#include "server/sparse_store.h"

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "common/placement.h"
#include "tests/testing.h"

namespace psd {
namespace {

JobSpec SparseSpec(Consistency c, int staleness = 0) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(
      "name: s\ndata: {format: criteo, train_files: [t]}\n"
      "model: {type: dlrm, hidden: [4], embedding: {dim: 2, optimizer: {type: sgd, "
      "learning_rate: 1}}}\n",
      "job.yaml");
  REQUIRE(spec.ok());
  spec->training.consistency = c;
  spec->training.staleness = staleness;
  return *spec;
}

std::unique_ptr<SparseStore> Store(const JobSpec& spec, int workers, int servers = 1) {
  auto store = SparseStore::Create(spec, 0, servers, workers, "job");
  REQUIRE(store.ok());
  return *std::move(store);
}

// Keys server 0 of `servers` owns.
std::vector<uint64_t> OwnedKeys(int n, int servers) {
  std::vector<uint64_t> keys;
  for (uint64_t k = 1; static_cast<int>(keys.size()) < n; ++k) {
    if (SparseOwner(k, servers) == 0) keys.push_back(k);
  }
  return keys;
}

std::vector<float> Rows(SparseStore& s, const std::vector<uint64_t>& keys, int64_t step) {
  std::vector<float> out(keys.size() * s.dim());
  REQUIRE(s.Lookup(keys, step, false, absl::MakeSpan(out)).ok());
  return out;
}

TEST_CASE("sync: the mean of the live workers' row gradients, applied once per step") {
  auto store = Store(SparseSpec(Consistency::kSync), 2);
  const std::vector<uint64_t> keys = OwnedKeys(2, 1);
  const std::vector<float> before = Rows(*store, keys, 0);
  // Worker 0 touches both keys, worker 1 only the first: sgd with lr 1 moves each row by the
  // summed gradient over the 2 workers.
  REQUIRE(store->Push(0, 0, 10, keys, {1, 1, 1, 1}).ok());
  std::atomic<bool> ready{false};
  CHECK(store->WhenReadable(1, 1, [&](absl::Status s) { ready = s.ok(); }) != 0);
  CHECK_FALSE(ready.load());
  CHECK(store->step() == 0);
  REQUIRE(store->Push(1, 0, 10, {keys[0]}, {3, 3}).ok());
  CHECK(ready.load());
  CHECK(store->step() == 1);
  const std::vector<float> after = Rows(*store, keys, 1);
  CHECK(after[0] == Approx(before[0] - 2.0f));  // (1 + 3) / 2
  CHECK(after[2] == Approx(before[2] - 0.5f));  // (1 + 0) / 2
  // A retried push of step 0 is acknowledged, not applied.
  REQUIRE(store->Push(1, 0, 10, {keys[0]}, {3, 3}).ok());
  CHECK(Rows(*store, keys, 1) == after);
  // Ahead of the table: refused.
  const absl::Status ahead = store->Push(0, 2, 10, keys, {1, 1, 1, 1});
  CHECK(ahead.code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("sync: a lost worker no longer holds the step") {
  auto store = Store(SparseSpec(Consistency::kSync), 3);
  const std::vector<uint64_t> keys = OwnedKeys(1, 1);
  REQUIRE(store->Push(0, 0, 0, keys, {1, 1}).ok());
  REQUIRE(store->Push(1, 0, 0, keys, {1, 1}).ok());
  CHECK(store->step() == 0);
  store->SetLiveWorkers({0, 1});
  CHECK(store->step() == 1);
}

TEST_CASE("async applies at once; ssp makes a pull wait for the slowest worker") {
  auto async = Store(SparseSpec(Consistency::kAsync), 2);
  const std::vector<uint64_t> keys = OwnedKeys(1, 1);
  const std::vector<float> before = Rows(*async, keys, 0);
  REQUIRE(async->Push(0, 0, 0, keys, {2, 2}).ok());
  CHECK(Rows(*async, keys, 1)[0] == Approx(before[0] - 1.0f));  // lr divided by 2 workers
  bool now = false;
  CHECK(async->WhenReadable(0, 50, [&](absl::Status s) { now = s.ok(); }) == 0);
  CHECK(now);

  auto ssp = Store(SparseSpec(Consistency::kSsp, 1), 2);
  for (int64_t step = 0; step < 3; ++step) REQUIRE(ssp->Push(0, step, 0, keys, {0, 0}).ok());
  bool woke = false;
  // Worker 0 reads for step 3: worker 1 must have pushed step 3 - 1 - 1 = 1.
  CHECK(ssp->WhenReadable(0, 3, [&](absl::Status s) { woke = s.ok(); }) != 0);
  REQUIRE(ssp->Push(1, 0, 0, keys, {0, 0}).ok());
  CHECK_FALSE(woke);
  REQUIRE(ssp->Push(1, 1, 0, keys, {0, 0}).ok());
  CHECK(woke);
}

TEST_CASE("a bad push is refused whole, naming what is wrong") {
  auto store = Store(SparseSpec(Consistency::kAsync), 2, 2);
  const std::vector<uint64_t> mine = OwnedKeys(2, 2);
  uint64_t other = 1;
  while (SparseOwner(other, 2) == 0) ++other;
  const std::vector<float> before = Rows(*store, mine, 0);
  auto message = [](const absl::Status& s) { return std::string(s.message()); };
  CHECK_THAT(message(store->Push(0, 0, 0, {mine[0], other}, {1, 1, 1, 1})),
             Catch::Contains("belongs to server 1, not to server 0"));
  CHECK_THAT(message(store->Push(0, 0, 0, {mine[0], mine[0]}, {1, 1, 1, 1})),
             Catch::Contains("appears twice"));
  CHECK_THAT(message(store->Push(0, 0, 0, mine, {1, 1, 1})), Catch::Contains("not keys x dim"));
  CHECK_THAT(message(store->Push(0, 0, 0, mine, {1, NAN, 1, 1})), Catch::Contains("is not finite"));
  CHECK_THAT(message(store->Push(5, 0, 0, mine, {1, 1, 1, 1})),
             Catch::Contains("worker 5 is not a rank"));
  CHECK_THAT(message(store->Push(0, 7, 5, mine, {1, 1, 1, 1})),
             Catch::Contains("outside the job's steps"));
  CHECK(Rows(*store, mine, 0) == before);
  // The refused pushes left the worker's clock alone: step 0 is still next.
  REQUIRE(store->Push(0, 0, 0, mine, {1, 1, 1, 1}).ok());
}

TEST_CASE("read-only lookups create no rows; Close fails waiting pulls") {
  auto store = Store(SparseSpec(Consistency::kSync), 2);
  const std::vector<uint64_t> keys = OwnedKeys(3, 1);
  std::vector<float> out(keys.size() * store->dim());
  REQUIRE(store->Lookup(keys, 0, true, absl::MakeSpan(out)).ok());
  CHECK(store->stats().rows == 0);
  std::vector<float> initial(store->dim());
  InitialRow(TableOptionsFor(SparseSpec(Consistency::kSync)), keys[1], absl::MakeSpan(initial));
  CHECK(out[2] == initial[0]);
  CHECK(out[3] == initial[1]);
  absl::Status got;
  CHECK(store->WhenReadable(0, 1, [&](absl::Status s) { got = s; }) != 0);
  store->Close(absl::CancelledError("job ended"));
  CHECK(got.code() == absl::StatusCode::kCancelled);
}

TEST_CASE("concurrent sync pushes of many workers complete every step") {
  constexpr int kWorkers = 4, kSteps = 50;
  auto store = Store(SparseSpec(Consistency::kSync), kWorkers);
  const std::vector<uint64_t> keys = OwnedKeys(16, 1);
  std::vector<std::thread> threads;
  // Catch's CHECK is not thread-safe: each thread keeps its first error, checked after.
  std::vector<absl::Status> errors(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<float> grads(keys.size() * 2, 0.01f * (w + 1));
      for (int64_t step = 0; step < kSteps; ++step) {
        absl::Notification readable;
        store->WhenReadable(w, step, [&](absl::Status) { readable.Notify(); });
        readable.WaitForNotification();
        absl::Status pushed = store->Push(w, step, kSteps, keys, grads);
        if (!pushed.ok() && errors[w].ok()) errors[w] = pushed;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& e : errors) CHECK(e.ok());
  CHECK(store->step() == kSteps);
}

}  // namespace
}  // namespace psd
