// "Did you mean ...?" for a misspelled name: the one candidate within a typo's reach.
#ifndef PSD_COMMON_CLOSEST_NAME_H_
#define PSD_COMMON_CLOSEST_NAME_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace psd {

// Optimal string alignment distance between `a` and `b`, ignoring case: insertions,
// deletions, substitutions and transpositions of neighbours count one edit each.
int EditDistance(absl::string_view a, absl::string_view b);

// The candidate closest to `word` if exactly one is closest and it is within a typo of it
// (at most one edit per four characters of the candidate, and at most three); else nullopt.
std::optional<std::string> ClosestName(absl::string_view word,
                                       absl::Span<const std::string> candidates);

}  // namespace psd

#endif  // PSD_COMMON_CLOSEST_NAME_H_
