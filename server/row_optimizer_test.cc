#include "server/row_optimizer.h"

#include <cmath>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

using Catch::Matchers::WithinAbs;

struct Row {
  explicit Row(const RowOptimizerOptions& o, std::vector<float> w)
      : opt(o), value(std::move(w)), slots(RowOptimizerSlots(o.type) * value.size()) {
    InitialSlots(opt, absl::MakeSpan(slots));
  }
  void Update(std::vector<float> g, double lr_scale = 1.0) {
    ApplyRowUpdate(opt, lr_scale, g, absl::MakeSpan(value), absl::MakeSpan(slots), &updates);
  }
  RowOptimizerOptions opt;
  std::vector<float> value, slots;
  uint32_t updates = 0;
};

TEST_CASE("slots per element and the update count", "[row_optimizer]") {
  CHECK(RowOptimizerSlots(RowOptimizerType::kSgd) == 0);
  CHECK(RowOptimizerSlots(RowOptimizerType::kAdagrad) == 1);
  CHECK(RowOptimizerSlots(RowOptimizerType::kLazyAdam) == 2);
  CHECK(RowOptimizerSlots(RowOptimizerType::kFtrl) == 2);
  CHECK(RowOptimizerKeepsUpdates(RowOptimizerType::kLazyAdam));
  CHECK_FALSE(RowOptimizerKeepsUpdates(RowOptimizerType::kAdagrad));
}

TEST_CASE("sgd steps by learning_rate * lr_scale", "[row_optimizer]") {
  RowOptimizerOptions o;
  o.type = RowOptimizerType::kSgd;
  o.learning_rate = 0.1;
  Row r(o, {1.0f, -2.0f});
  r.Update({0.4f, -1.0f}, 0.5);
  CHECK_THAT(r.value[0], WithinAbs(0.98, 1e-6));
  CHECK_THAT(r.value[1], WithinAbs(-1.95, 1e-6));
  CHECK(r.updates == 1);
}

TEST_CASE("adagrad accumulates squares from initial_accumulator", "[row_optimizer]") {
  RowOptimizerOptions o;
  o.type = RowOptimizerType::kAdagrad;
  o.learning_rate = 0.1;
  o.initial_accumulator = 0.1;
  Row r(o, {1.0f});
  CHECK(r.slots[0] == 0.1f);
  r.Update({0.3f});
  CHECK_THAT(r.slots[0], WithinAbs(0.19, 1e-6));
  CHECK_THAT(r.value[0], WithinAbs(0.9311752814177788, 1e-6));
  r.Update({-0.2f});
  CHECK_THAT(r.slots[0], WithinAbs(0.23, 1e-6));
  CHECK_THAT(r.value[0], WithinAbs(0.9728781633596286, 1e-6));
}

TEST_CASE("lazy adam corrects bias by the row's own update count", "[row_optimizer]") {
  RowOptimizerOptions o;
  o.type = RowOptimizerType::kLazyAdam;
  o.learning_rate = 0.01;
  Row r(o, {1.0f});
  r.Update({0.5f});
  CHECK(r.updates == 1);
  CHECK_THAT(r.value[0], WithinAbs(0.9900000002, 1e-6));
  CHECK_THAT(r.slots[0], WithinAbs(0.05, 1e-7));     // m
  CHECK_THAT(r.slots[1], WithinAbs(0.00025, 1e-7));  // v
  r.Update({-1.0f});
  CHECK(r.updates == 2);
  CHECK_THAT(r.value[0], WithinAbs(0.9936610354240566, 1e-6));
  CHECK_THAT(r.slots[0], WithinAbs(-0.055, 1e-7));
  CHECK_THAT(r.slots[1], WithinAbs(0.00124975, 1e-7));

  // A row first updated late still gets t = 1's correction: its first step is about lr.
  Row late(o, {0.0f});
  late.Update({3.0f});
  CHECK_THAT(late.value[0], WithinAbs(-0.01, 1e-6));
  // While a row whose count says 1000 updates gets almost none.
  Row counted(o, {0.0f});
  counted.updates = 999;
  counted.Update({3.0f});
  CHECK(counted.updates == 1000);
  const double m = 0.3, v = 0.009;
  const double want =
      -0.01 * (m / (1 - std::pow(0.9, 1000))) / (std::sqrt(v / (1 - std::pow(0.999, 1000))) + 1e-8);
  CHECK_THAT(counted.value[0], WithinAbs(want, 1e-6));
}

TEST_CASE("ftrl-proximal per coordinate, l1 gives exact zeros", "[row_optimizer]") {
  RowOptimizerOptions o;
  o.type = RowOptimizerType::kFtrl;
  o.learning_rate = 0.1;  // alpha
  o.ftrl_beta = 1.0;
  o.l1 = 0.5;
  o.l2 = 1.0;
  Row r(o, {0.0f, 0.0f});
  r.Update({2.0f, 0.3f});
  CHECK_THAT(r.value[0], WithinAbs(-0.04838709677419355, 1e-7));
  CHECK(r.value[1] == 0.0f);                     // |z| = 0.3 <= l1
  CHECK_THAT(r.slots[0], WithinAbs(2.0, 1e-6));  // z of element 0
  CHECK_THAT(r.slots[1], WithinAbs(0.3, 1e-6));  // z of element 1
  CHECK_THAT(r.slots[2], WithinAbs(4.0, 1e-6));  // n of element 0
  r.Update({-1.0f, 0.1f});
  CHECK_THAT(r.value[0], WithinAbs(-0.01841168839689039, 1e-7));
  CHECK_THAT(r.slots[0], WithinAbs(1.1142264407257048, 1e-6));
  CHECK(r.value[1] == 0.0f);  // z = 0.4
  // lr_scale 0 takes no step (alpha 0 would divide by 0).
  const std::vector<float> before = r.value, slots = r.slots;
  r.Update({1.0f, 1.0f}, 0.0);
  CHECK(r.value == before);
  CHECK(r.slots == slots);
}

TEST_CASE("bad optimizer options name the field", "[row_optimizer]") {
  RowOptimizerOptions o;
  CHECK(ValidateRowOptimizer(o).ok());
  o.learning_rate = 0;
  absl::Status s = ValidateRowOptimizer(o);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(s.message().find("learning_rate") != absl::string_view::npos);
  o = {};
  o.beta2 = 1.0;
  CHECK(ValidateRowOptimizer(o).message().find("beta2") != absl::string_view::npos);
  o = {};
  o.l1 = -1;
  CHECK(ValidateRowOptimizer(o).message().find("l1") != absl::string_view::npos);
}

}  // namespace
}  // namespace psd
