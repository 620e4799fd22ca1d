#include "coordinator/slow_server_detector.h"

#include <algorithm>
#include <functional>

namespace psd {
namespace {

// A slow server is named "apply" when its own time is at least this share of its excess.
constexpr double kApplyShare = 1.0 / 3;

double NetworkSeconds(const ServerLoad& s) {
  return std::max(0.0, s.rpc_seconds() - s.apply_seconds());
}

}  // namespace

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
    if (auto change = it->second.Update(load.rank(), interval_start, Judge(load))) {
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

Verdict SlowServerDetector::Judge(const ServerLoad& mine) const {
  if (mine.calls() == 0) return {};
  auto others_median = [&](const std::function<double(const ServerLoad&)>& part) {
    std::vector<double> v;
    for (const ServerLoad& s : loads_) {
      if (s.rank() != mine.rank() && s.calls() > 0) v.push_back(part(s));
    }
    return v.empty() ? -1.0 : Median(std::move(v));
  };
  const double others_rpc = others_median([](const ServerLoad& s) { return s.rpc_seconds(); });
  if (others_rpc < 0) return {};
  if (!Slower(options_, mine.rpc_seconds(), others_rpc, step_seconds_)) return {};
  const double others_apply = others_median([](const ServerLoad& s) { return s.apply_seconds(); });
  const double others_network = others_median(NetworkSeconds);
  // Calls that wait for a busy server's threads before gRPC hands them over count in the
  // round trip only: an overloaded server shows part of its excess as network.
  if (mine.apply_seconds() - others_apply >= kApplyShare * (mine.rpc_seconds() - others_rpc)) {
    return {"apply", mine.apply_seconds(), others_apply};
  }
  return {"network", NetworkSeconds(mine), others_network};
}

std::vector<Straggler> SlowServerDetector::Current() const {
  std::vector<Straggler> out;
  for (const auto& [rank, naming] : servers_) {
    if (naming.named()) out.push_back(*naming.named());
  }
  return out;
}

}  // namespace psd
