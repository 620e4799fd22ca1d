#include "coordinator/slow_server_detector.h"

#include <algorithm>

namespace psd {
namespace {}  // namespace

std::vector<NamingChange> SlowServerDetector::Observe(int rank, const Progress& progress,
                                                      int workers) {
  if (progress.servers().empty()) return {};
  Report& r = workers_[rank];
  r.servers.assign(progress.servers().begin(), progress.servers().end());
  r.steps = progress.phases().steps();
  r.interval_seconds = r.steps * progress.phases().step();
  // One judgment per interval: once every worker has reported since the last one (or one
  // reported twice, when another is late).
  const bool again = !fresh_.insert(rank).second;
  if (!again && static_cast<int>(fresh_.size()) < workers) return {};
  fresh_.clear();
  Aggregate();
  std::vector<NamingChange> changes;
  if (loads_.size() < 2) return changes;
  const int64_t interval_start = progress.step() - progress.phases().steps();
  for (const ServerLoad& load : loads_) {
    auto it = servers_.try_emplace(load.rank(), options_.reports).first;
    if (auto change = it->second.Update(load.rank(), interval_start, Judge(load.rank()))) {
      changes.push_back(*std::move(change));
    }
  }
  return changes;
}

void SlowServerDetector::Forget(int rank) {
  workers_.erase(rank);
  fresh_.erase(rank);
  Aggregate();
}

void SlowServerDetector::Aggregate() {
  std::map<int, ServerLoad> by_rank;
  classes_.clear();
  for (const auto& [worker, report] : workers_) {
    for (const ServerTiming& t : report.servers) {
      ServerLoad& load = by_rank[t.rank()];
      load.set_rank(t.rank());
      load.set_calls(load.calls() + t.calls());
      // Sums for now; divided by the calls below.
      load.set_rpc_seconds(load.rpc_seconds() + t.rpc_seconds());
      load.set_apply_seconds(load.apply_seconds() + t.apply_seconds());
      if (report.interval_seconds > 0) {
        load.set_bytes_per_second(load.bytes_per_second() + t.bytes() / report.interval_seconds);
      }
      Sums& c = classes_[t.size_class()][t.rank()];
      c.calls += t.calls();
      c.rpc += t.rpc_seconds();
      c.apply += t.apply_seconds();
    }
  }
  std::vector<double> steps;
  for (const auto& [worker, report] : workers_) {
    if (report.steps > 0) steps.push_back(report.interval_seconds / report.steps);
  }
  step_seconds_ = steps.empty() ? 0 : Median(std::move(steps));
  loads_.clear();
  for (auto& [rank, load] : by_rank) {
    const double calls = static_cast<double>(std::max<int64_t>(1, load.calls()));
    load.set_rpc_seconds(load.rpc_seconds() / calls);
    load.set_apply_seconds(load.apply_seconds() / calls);
    loads_.push_back(std::move(load));
  }
}

Verdict SlowServerDetector::Judge(int rank) const {
  // Each size class of this server's calls against the other servers' median of that class;
  // summed over the classes some other server also has: mine, and what the others would take.
  Sums mine, others;
  for (const auto& [size_class, servers] : classes_) {
    auto found = servers.find(rank);
    if (found == servers.end() || found->second.calls == 0) continue;
    const Sums& c = found->second;
    std::vector<double> rpc, apply;
    for (const auto& [other, o] : servers) {
      if (other == rank || o.calls == 0) continue;
      rpc.push_back(o.rpc / o.calls);
      apply.push_back(o.apply / o.calls);
    }
    if (rpc.empty()) continue;
    mine.calls += c.calls;
    mine.rpc += c.rpc;
    mine.apply += c.apply;
    others.calls += c.calls;
    others.rpc += c.calls * Median(std::move(rpc));
    others.apply += c.calls * Median(std::move(apply));
  }
  if (mine.calls == 0) return {};
  const double n = static_cast<double>(mine.calls);
  const double my_rpc = mine.rpc / n, others_rpc = others.rpc / n;
  const double my_apply = mine.apply / n, others_apply = others.apply / n;
  if (!Slower(options_, my_rpc, others_rpc, step_seconds_)) return {};
  // The server's own time is slower too: the server is (calls that wait for a busy server's
  // threads before gRPC hands them over count in the round trip only, so an overloaded server
  // shows much of its excess as network; its own time still stands out).
  if (my_apply > options_.threshold * others_apply &&
      my_apply - others_apply > absl::ToDoubleSeconds(options_.min_excess)) {
    return {"apply", my_apply, others_apply};
  }
  return {"network", std::max(0.0, my_rpc - my_apply), std::max(0.0, others_rpc - others_apply)};
}

std::vector<Straggler> SlowServerDetector::Current() const {
  std::vector<Straggler> out;
  for (const auto& [rank, naming] : servers_) {
    if (naming.named()) out.push_back(*naming.named());
  }
  return out;
}

}  // namespace psd
