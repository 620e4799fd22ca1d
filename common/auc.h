// Test metrics of binary classifiers: the exact area under the ROC curve and the log loss.
#ifndef PSD_COMMON_AUC_H_
#define PSD_COMMON_AUC_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace psd {

// The exact AUC of `scores` against `labels` (each 0 or 1): the Mann-Whitney U statistic over
// (positives x negatives), a pair of equal scores counting one half. Sort-based, O(n log n)
// time and O(n) extra memory. Errors (InvalidArgument): sizes differ, no rows, a label that is
// not 0 or 1, a NaN score; FailedPrecondition when every label is the same class (the AUC is
// undefined there, not 0.5).
absl::StatusOr<double> ExactAuc(absl::Span<const double> scores, absl::Span<const float> labels);
absl::StatusOr<double> ExactAuc(absl::Span<const float> scores, absl::Span<const float> labels);

// The mean log loss -[y log p + (1 - y) log(1 - p)] of probabilities `probs` against `labels`
// (each 0 or 1), p clamped to [epsilon, 1 - epsilon] so that a confident mistake costs a finite
// -log(epsilon). Errors (InvalidArgument): sizes differ, no rows, a label that is not 0 or 1,
// a probability that is NaN or outside [0, 1], epsilon outside (0, 0.5).
inline constexpr double kLogLossEpsilon = 1e-15;
absl::StatusOr<double> LogLoss(absl::Span<const double> probs, absl::Span<const float> labels,
                               double epsilon = kLogLossEpsilon);
absl::StatusOr<double> LogLoss(absl::Span<const float> probs, absl::Span<const float> labels,
                               double epsilon = kLogLossEpsilon);

}  // namespace psd

#endif  // PSD_COMMON_AUC_H_
