#include "coordinator/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace psd {
namespace {

std::string Plural(int n, const char* noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

}  // namespace

bool HasUsableCuda(const NodeInfo& node) {
  for (const Device& d : node.devices()) {
    if (d.kind() == "cuda" && d.detail().empty()) return true;
  }
  return false;
}

std::vector<std::string> AssignRanks(int n, const std::vector<Candidate>& candidates) {
  if (n < 0 || static_cast<int>(candidates.size()) < n) return {};
  std::vector<std::string> ranks(n);
  std::vector<bool> taken(candidates.size(), false);
  for (size_t i = 0; i < candidates.size(); ++i) {
    const int p = candidates[i].preferred_rank;
    if (p >= 0 && p < n && ranks[p].empty()) {
      ranks[p] = candidates[i].node_id;
      taken[i] = true;
    }
  }
  size_t next = 0;
  for (int r = 0; r < n; ++r) {
    if (!ranks[r].empty()) continue;
    while (taken[next]) ++next;
    ranks[r] = candidates[next].node_id;
    taken[next] = true;
  }
  return ranks;
}

Pick PickNodes(const Requirements& need, const NodeCounts& nodes) {
  std::vector<Candidate> workers;
  for (const Candidate& c : nodes.idle_workers) {
    if (!need.workers_need_cuda || c.has_cuda) workers.push_back(c);
  }
  const int have_servers = static_cast<int>(nodes.idle_servers.size());
  const int have_workers = static_cast<int>(workers.size());

  Pick pick;
  if (have_servers >= need.servers && have_workers >= need.workers) {
    pick.ready = true;
    pick.servers = AssignRanks(need.servers, nodes.idle_servers);
    pick.workers = AssignRanks(need.workers, workers);
    return pick;
  }
  std::vector<std::string> short_of, busy;
  if (have_servers < need.servers) {
    short_of.push_back(absl::StrCat(have_servers, " of ", need.servers, " servers"));
    if (nodes.busy_servers > 0) busy.push_back(Plural(nodes.busy_servers, "server"));
  }
  if (have_workers < need.workers) {
    short_of.push_back(absl::StrCat(have_workers, " of ", need.workers, " workers",
                                    need.workers_need_cuda ? " with a usable cuda device" : ""));
    if (nodes.busy_workers > 0) busy.push_back(Plural(nodes.busy_workers, "worker"));
  }
  pick.reason = absl::StrCat("waiting: ", absl::StrJoin(short_of, " and "), " registered");
  if (!busy.empty()) {
    absl::StrAppend(&pick.reason, " (", absl::StrJoin(busy, ", "), " busy with other jobs)");
  }
  return pick;
}

}  // namespace psd
