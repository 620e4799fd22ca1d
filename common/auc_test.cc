#include "common/auc.h"

#include <cmath>
#include <vector>

#include "tests/testing.h"

namespace psd {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("ExactAuc of hand-computed cases") {
  // Perfect ranking, reversed ranking.
  CHECK(*ExactAuc(std::vector<double>{0.1, 0.2, 0.8, 0.9}, std::vector<float>{0, 0, 1, 1}) == 1.0);
  CHECK(*ExactAuc(std::vector<double>{0.9, 0.8, 0.2, 0.1}, std::vector<float>{0, 0, 1, 1}) == 0.0);
  // Scores 0.1(-) 0.3(+) 0.35(-) 0.8(+): of the 4 (pos, neg) pairs, 3 are ordered right.
  CHECK(*ExactAuc(std::vector<double>{0.1, 0.3, 0.35, 0.8}, std::vector<float>{0, 1, 0, 1}) ==
        0.75);
  // Order of rows does not matter.
  CHECK(*ExactAuc(std::vector<double>{0.8, 0.35, 0.3, 0.1}, std::vector<float>{1, 0, 1, 0}) ==
        0.75);
  // Float scores too.
  CHECK(*ExactAuc(std::vector<float>{0.1f, 0.3f, 0.35f, 0.8f}, std::vector<float>{0, 1, 0, 1}) ==
        0.75);
}

TEST_CASE("ExactAuc counts a tie as one half") {
  // Every score equal: every pair a tie.
  CHECK(*ExactAuc(std::vector<double>{0.5, 0.5, 0.5}, std::vector<float>{0, 1, 1}) == 0.5);
  // pos {0.5, 0.9}, neg {0.5, 0.1}: pairs (0.5,0.5)=1/2, (0.5,0.1)=1, (0.9,0.5)=1, (0.9,0.1)=1.
  CHECK(*ExactAuc(std::vector<double>{0.5, 0.9, 0.5, 0.1}, std::vector<float>{1, 1, 0, 0}) ==
        3.5 / 4);
  // pos {1, 2, 2}, neg {2, 3}: pairs vs 2: 0 + .5 + .5; vs 3: 0. U = 1 of 6.
  CHECK(*ExactAuc(std::vector<double>{1, 2, 2, 2, 3}, std::vector<float>{1, 1, 1, 0, 0}) ==
        1.0 / 6);
}

TEST_CASE("ExactAuc rejects bad input") {
  auto one_class = ExactAuc(std::vector<double>{0.1, 0.2}, std::vector<float>{1, 1});
  REQUIRE(!one_class.ok());
  CHECK(one_class.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(one_class.status().message()),
             Contains("AUC is undefined: all 2 labels are 1 (no negatives)"));
  auto no_pos = ExactAuc(std::vector<double>{0.1}, std::vector<float>{0});
  CHECK_THAT(std::string(no_pos.status().message()), Contains("are 0 (no positives)"));
  auto sizes = ExactAuc(std::vector<double>{0.1, 0.2}, std::vector<float>{1});
  CHECK_THAT(std::string(sizes.status().message()), Contains("2 scores but 1 labels"));
  CHECK(!ExactAuc(std::vector<double>{}, std::vector<float>{}).ok());
  auto label = ExactAuc(std::vector<double>{0.1, 0.2}, std::vector<float>{1, -1});
  CHECK_THAT(std::string(label.status().message()), Contains("label of row 1 is -1, not 0 or 1"));
  auto nan = ExactAuc(std::vector<double>{0.1, std::nan("")}, std::vector<float>{1, 0});
  CHECK_THAT(std::string(nan.status().message()), Contains("score of row 1 is NaN"));
}

TEST_CASE("LogLoss of hand-computed cases, clamped") {
  CHECK(*LogLoss(std::vector<double>{0.5, 0.5}, std::vector<float>{0, 1}) == Approx(std::log(2.0)));
  // -(log 0.8 + log(1 - 0.4)) / 2
  CHECK(*LogLoss(std::vector<double>{0.8, 0.4}, std::vector<float>{1, 0}) ==
        Approx(-(std::log(0.8) + std::log(0.6)) / 2));
  CHECK(*LogLoss(std::vector<float>{0.8f, 0.4f}, std::vector<float>{1, 0}) ==
        Approx(-(std::log(0.8) + std::log(0.6)) / 2).epsilon(1e-6));
  // A certain mistake costs -log(epsilon), not infinity; a certain hit costs ~0.
  CHECK(*LogLoss(std::vector<double>{0.0}, std::vector<float>{1}) == Approx(-std::log(1e-15)));
  CHECK(*LogLoss(std::vector<double>{1.0}, std::vector<float>{0}, 1e-7) == Approx(-std::log(1e-7)));
  CHECK(*LogLoss(std::vector<double>{1.0}, std::vector<float>{1}) < 1e-12);
}

TEST_CASE("LogLoss rejects bad input") {
  auto p = LogLoss(std::vector<double>{0.5, 1.5}, std::vector<float>{0, 1});
  CHECK_THAT(std::string(p.status().message()),
             Contains("probability of row 1 is 1.5, not in [0, 1]"));
  CHECK(!LogLoss(std::vector<double>{std::nan("")}, std::vector<float>{1}).ok());
  CHECK(!LogLoss(std::vector<double>{0.5}, std::vector<float>{2}).ok());
  CHECK(!LogLoss(std::vector<double>{}, std::vector<float>{}).ok());
  CHECK(!LogLoss(std::vector<double>{0.5}, std::vector<float>{1}, 0.0).ok());
}

}  // namespace
}  // namespace psd
