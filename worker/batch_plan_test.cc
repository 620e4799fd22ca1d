#include "worker/batch_plan.h"

#include <set>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

std::vector<int64_t> Examples(BatchPlan& plan, int64_t step, const std::vector<int>& ranks) {
  std::vector<int64_t> all;
  for (int r : ranks) {
    absl::Span<const int64_t> b = plan.Batch(step, r);
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

TEST_CASE("one segment visits each epoch's global batches as before") {
  BatchPlan two(100, 4, 2, 7);  // G = 8: 12 steps per epoch, 4 examples skipped
  BatchPlan one(100, 8, 1, 7);  // one process with the global batch
  CHECK(two.steps_per_epoch() == 12);
  for (int64_t step = 0; step < 30; ++step) {
    CHECK(Examples(two, step, {0, 1}) == Examples(one, step, {0}));
    CHECK(two.EpochOf(step) == step / 12);
  }
}

TEST_CASE("a worker added at step t: the workers' batches are one process's whose batch grows") {
  const int64_t t = 10;
  BatchPlan elastic(100, 4, 2, 3);
  REQUIRE(elastic.SetMembership({{0, {0, 1}}, {t, {0, 1, 2}}}).ok());
  // The reference: one process, batch 8 until t, then 12, drawing from the same permutations.
  BatchPlan before(100, 8, 1, 3), after(100, 12, 1, 3);
  REQUIRE(after.SetMembership({{0, {0}}}).ok());
  for (int64_t step = 0; step < t; ++step) {
    CHECK(Examples(elastic, step, {0, 1}) == Examples(before, step, {0}));
    CHECK(elastic.Batch(step, 2).empty());  // rank 2 is not in yet
  }
  // Step 10 starts at position 80 of epoch 0: 12 examples fit up to 92, the next 12 do not, so
  // step 11 opens epoch 1.
  const std::vector<int64_t> at_t = Examples(elastic, t, {0, 1, 2});
  REQUIRE(at_t.size() == 12);
  const std::vector<int64_t> epoch0 = Examples(before, 0, {0});  // positions 0..7 of epoch 0
  CHECK(elastic.EpochOf(t) == 0);
  CHECK(elastic.EpochOf(t + 1) == 1);
  // Epoch 1 of the elastic plan is epoch 1's permutation from its start, 12 at a time.
  BatchPlan epoch1(100, 12, 1, 3);
  CHECK(Examples(elastic, t + 1, {0, 1, 2}) == Examples(epoch1, 8, {0}));  // 8 steps/epoch
  // Within one epoch no example repeats.
  std::set<int64_t> seen;
  for (int64_t step = 0; step <= t; ++step) {
    for (int64_t e : Examples(elastic, step, {0, 1, 2})) CHECK(seen.insert(e).second);
  }
  CHECK(seen.size() == 92);
}

TEST_CASE("a worker removed at step t takes no batch from then on") {
  BatchPlan plan(64, 2, 3, 5);
  REQUIRE(plan.SetMembership({{0, {0, 1, 2}}, {4, {0, 2}}}).ok());
  CHECK(plan.Batch(3, 1).size() == 2);
  CHECK(plan.Batch(4, 1).empty());
  // Rank 2 takes the second slice from step 4: positions 24 + 2..3 of epoch 0.
  BatchPlan one(64, 2, 1, 5);
  const std::vector<int64_t> ref = Examples(one, 13, {0});  // positions 26, 27
  CHECK(Examples(plan, 4, {2}) == ref);
  CHECK(plan.SegmentAt(100).ranks == std::vector<int>{0, 2});
}

TEST_CASE("a membership that cannot be followed is refused and the plan kept") {
  BatchPlan plan(16, 4, 2, 1);
  CHECK(plan.SetMembership({{5, {0}}}).message() ==
        "membership: the first segment must start at step 0");
  CHECK(plan.SetMembership({{0, {0, 1}}, {3, {}}}).message() ==
        "membership segment 1 (from step 3): no ranks");
  CHECK(plan.SetMembership({{0, {0, 1}}, {3, {0, 1, 2, 3, 4}}}).message() ==
        "membership segment 1 (from step 3): a global batch of 20 is larger than the 16 "
        "training examples");
  CHECK(plan.SetMembership({{0, {0, 1}}, {3, {0}}, {3, {1}}}).message() ==
        "membership segment 2: from_step 3 is not after the previous segment's 3");
  CHECK(plan.membership().size() == 1);
}

}  // namespace
}  // namespace psd
