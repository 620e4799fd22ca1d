#include "coordinator/straggler_detector.h"

#include <algorithm>
#include <functional>

namespace psd {
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double ComputeSeconds(const StepPhases& p) {
  return std::max(0.0, p.step() - p.push() - p.wait() - p.pull());
}

bool Slower(const StragglerOptions& options, double mine, double others, double step) {
  return mine > options.threshold * others &&
         mine - others > absl::ToDoubleSeconds(options.min_excess) &&
         mine - others > options.min_step_share * step;
}

Verdict StragglerDetector::Judge(int rank) const {
  const StepPhases& mine = workers_.at(rank).latest;
  // The others' median of `part`, and mine.
  auto compare = [&](const std::function<double(const StepPhases&)>& part) {
    std::vector<double> others;
    for (const auto& [r, w] : workers_) {
      if (r != rank) others.push_back(part(w.latest));
    }
    return std::make_pair(part(mine), Median(std::move(others)));
  };
  const auto [step, others_step] = compare([](const StepPhases& p) { return p.step(); });
  auto slower = [&, others_step = others_step](double mine, double others) {
    return Slower(options_, mine, others, others_step);
  };
  const auto [compute, others_compute] = compare(ComputeSeconds);
  if (slower(compute, others_compute)) return {"compute", compute, others_compute};
  if (sync_) {
    const auto [push, others_push] = compare([](const StepPhases& p) { return p.push(); });
    if (slower(push, others_push)) return {"network", push, others_push};
  } else {
    auto exchange = [](const StepPhases& p) { return p.step() - ComputeSeconds(p); };
    const auto [mine_x, others_x] = compare(exchange);
    if (slower(step, others_step) && slower(mine_x, others_x)) {
      return {"network", mine_x, others_x};
    }
  }
  return {};
}

std::optional<StragglerDetector::Change> StragglerDetector::Observe(int rank, int64_t step,
                                                                    const StepPhases& phases) {
  if (phases.steps() <= 0) return std::nullopt;
  Worker& w = workers_.try_emplace(rank, options_.reports).first->second;
  w.latest = phases;
  if (workers_.size() < 2) return std::nullopt;
  return w.naming.Update(rank, step - phases.steps(), Judge(rank));
}

void StragglerDetector::Forget(int rank) { workers_.erase(rank); }

std::vector<Straggler> StragglerDetector::Current() const {
  std::vector<Straggler> out;
  for (const auto& [rank, w] : workers_) {
    if (w.naming.named()) out.push_back(*w.naming.named());
  }
  return out;
}

}  // namespace psd
