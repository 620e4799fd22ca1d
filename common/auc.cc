#include "common/auc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace psd {
namespace {

absl::Status CheckInputs(const char* what, size_t scores, absl::Span<const float> labels) {
  if (scores != labels.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", scores, " scores but ", labels.size(), " labels"));
  }
  if (labels.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no rows"));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0.0f && labels[i] != 1.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": label of row ", i, " is ", labels[i], ", not 0 or 1"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<double> AucImpl(absl::Span<const T> scores, absl::Span<const float> labels) {
  if (absl::Status s = CheckInputs("AUC", scores.size(), labels); !s.ok()) return s;
  const size_t n = scores.size();
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(scores[i])) {
      return absl::InvalidArgumentError(absl::StrCat("AUC: score of row ", i, " is NaN"));
    }
  }
  // Pairs (score, label) sorted by score; labels break no ties (ties are grouped below).
  std::vector<std::pair<T, bool>> rows(n);
  uint64_t positives = 0;
  for (size_t i = 0; i < n; ++i) {
    rows[i] = {scores[i], labels[i] == 1.0f};
    positives += rows[i].second ? 1 : 0;
  }
  const uint64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("AUC is undefined: all ", n, " labels are ",
                     positives == 0 ? "0 (no positives)" : "1 (no negatives)"));
  }
  std::sort(rows.begin(), rows.end(), [](const std::pair<T, bool>& a, const std::pair<T, bool>& b) {
    return a.first < b.first;
  });
  // 2U as an exact integer: each positive scores 2 per negative below it, 1 per tied negative.
  uint64_t twice_u = 0;
  uint64_t negatives_below = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    uint64_t pos = 0, neg = 0;
    while (j < n && rows[j].first == rows[i].first) {
      (rows[j].second ? pos : neg) += 1;
      ++j;
    }
    twice_u += pos * (2 * negatives_below + neg);
    negatives_below += neg;
    i = j;
  }
  return static_cast<double>(twice_u) /
         (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
}

template <typename T>
absl::StatusOr<double> LogLossImpl(absl::Span<const T> probs, absl::Span<const float> labels,
                                   double epsilon) {
  if (absl::Status s = CheckInputs("log loss", probs.size(), labels); !s.ok()) return s;
  if (!(epsilon > 0.0 && epsilon < 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("log loss: epsilon ", epsilon, " is not in (0, 0.5)"));
  }
  double sum = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double p = probs[i];
    if (!(p >= 0.0 && p <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("log loss: probability of row ", i, " is ", p, ", not in [0, 1]"));
    }
    const double q = std::min(std::max(p, epsilon), 1.0 - epsilon);
    sum -= labels[i] == 1.0f ? std::log(q) : std::log1p(-q);
  }
  return sum / static_cast<double>(probs.size());
}

}  // namespace

absl::StatusOr<double> ExactAuc(absl::Span<const double> scores, absl::Span<const float> labels) {
  return AucImpl(scores, labels);
}
absl::StatusOr<double> ExactAuc(absl::Span<const float> scores, absl::Span<const float> labels) {
  return AucImpl(scores, labels);
}
absl::StatusOr<double> LogLoss(absl::Span<const double> probs, absl::Span<const float> labels,
                               double epsilon) {
  return LogLossImpl(probs, labels, epsilon);
}
absl::StatusOr<double> LogLoss(absl::Span<const float> probs, absl::Span<const float> labels,
                               double epsilon) {
  return LogLossImpl(probs, labels, epsilon);
}

}  // namespace psd
