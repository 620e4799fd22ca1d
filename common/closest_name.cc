#include "common/closest_name.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"

namespace psd {

int EditDistance(absl::string_view a_in, absl::string_view b_in) {
  const std::string a = absl::AsciiStrToLower(a_in);
  const std::string b = absl::AsciiStrToLower(b_in);
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::optional<std::string> ClosestName(absl::string_view word,
                                       absl::Span<const std::string> candidates) {
  constexpr int kMaxEdits = 3;
  constexpr int kCharactersPerEdit = 4;
  int best = std::numeric_limits<int>::max();
  std::vector<const std::string*> best_names;
  for (const std::string& candidate : candidates) {
    const int limit = std::min(kMaxEdits, static_cast<int>(candidate.size()) / kCharactersPerEdit);
    const int distance = EditDistance(word, candidate);
    if (distance > limit || distance > best) continue;
    if (distance < best) best_names.clear();
    best = distance;
    // The same name twice (a flag of two commands) is still one suggestion.
    if (std::none_of(best_names.begin(), best_names.end(),
                     [&](const std::string* name) { return *name == candidate; })) {
      best_names.push_back(&candidate);
    }
  }
  if (best_names.size() != 1) return std::nullopt;
  return *best_names[0];
}

}  // namespace psd
