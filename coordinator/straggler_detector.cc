#include "coordinator/straggler_detector.h"

#include <algorithm>
#include <functional>

namespace psd {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

double ComputeSeconds(const StepPhases& p) {
  return std::max(0.0, p.step() - p.push() - p.wait() - p.pull());
}

bool StragglerDetector::Slower(double mine, double others) const {
  return mine > options_.threshold * others &&
         mine - others > absl::ToDoubleSeconds(options_.min_excess);
}

StragglerDetector::Verdict StragglerDetector::Judge(int rank) const {
  const StepPhases& mine = workers_.at(rank).latest;
  // The others' median of `part`, and mine.
  auto compare = [&](const std::function<double(const StepPhases&)>& part) {
    std::vector<double> others;
    for (const auto& [r, w] : workers_) {
      if (r != rank) others.push_back(part(w.latest));
    }
    return std::make_pair(part(mine), Median(std::move(others)));
  };
  const auto [compute, others_compute] = compare(ComputeSeconds);
  if (Slower(compute, others_compute)) return {"compute", compute, others_compute};
  if (sync_) {
    const auto [push, others_push] = compare([](const StepPhases& p) { return p.push(); });
    if (Slower(push, others_push)) return {"network", push, others_push};
  } else {
    auto exchange = [](const StepPhases& p) { return p.step() - ComputeSeconds(p); };
    const auto [step, others_step] = compare([](const StepPhases& p) { return p.step(); });
    const auto [mine_x, others_x] = compare(exchange);
    if (Slower(step, others_step) && Slower(mine_x, others_x)) {
      return {"network", mine_x, others_x};
    }
  }
  return {};
}

std::optional<StragglerDetector::Change> StragglerDetector::Observe(int rank, int64_t step,
                                                                    const StepPhases& phases) {
  if (phases.steps() <= 0) return std::nullopt;
  Worker& w = workers_[rank];
  w.latest = phases;
  if (workers_.size() < 2) return std::nullopt;
  const Verdict v = Judge(rank);
  if (v.phase.empty()) {
    w.slow_run = 0;
    w.run_phase.clear();
    if (!w.named) return std::nullopt;
    if (++w.normal_run < options_.reports) return std::nullopt;
    Change cleared{false, *w.named};
    w.named.reset();
    w.normal_run = 0;
    return cleared;
  }
  w.normal_run = 0;
  if (v.phase != w.run_phase) {
    w.run_phase = v.phase;
    w.slow_run = 0;
    w.run_start = step - phases.steps();
  }
  ++w.slow_run;
  if (w.slow_run < options_.reports) return std::nullopt;
  Straggler s;
  s.set_rank(rank);
  s.set_phase(v.phase);
  s.set_seconds_per_step(v.seconds);
  s.set_others_seconds_per_step(v.others);
  s.set_since_step(w.run_start);
  const bool is_new = !w.named || w.named->phase() != v.phase;
  w.named = s;
  if (!is_new) return std::nullopt;  // still named: its figures are updated
  return Change{true, s};
}

void StragglerDetector::Forget(int rank) { workers_.erase(rank); }

std::vector<Straggler> StragglerDetector::Current() const {
  std::vector<Straggler> out;
  for (const auto& [rank, w] : workers_) {
    if (w.named) out.push_back(*w.named);
  }
  return out;
}

}  // namespace psd
