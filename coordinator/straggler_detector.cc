#include "coordinator/straggler_detector.h"

#include <algorithm>
#include <optional>

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

namespace {

double Exchange(const StepPhases& p) { return p.step() - ComputeSeconds(p); }

// The median of sorted `a` without one element equal to `drop` (when given and present).
double MedianWithout(const std::vector<double>& a, std::optional<double> drop) {
  const size_t n = a.size();
  size_t skip = n;
  if (drop.has_value()) {
    skip = static_cast<size_t>(std::lower_bound(a.begin(), a.end(), *drop) - a.begin());
    if (skip < n && a[skip] != *drop) skip = n;
  }
  const size_t m = skip < n ? n - 1 : n;
  auto at = [&](size_t i) { return i >= skip ? a[i + 1] : a[i]; };
  return m % 2 == 1 ? at(m / 2) : (at(m / 2 - 1) + at(m / 2)) / 2;
}

}  // namespace

void StragglerDetector::Refresh() {
  sorted_ = Snapshot();
  for (auto& [rank, w] : workers_) {
    const StepPhases& p = w.latest;
    sorted_.step.push_back(p.step());
    sorted_.compute.push_back(ComputeSeconds(p));
    sorted_.push.push_back(p.push());
    sorted_.exchange.push_back(Exchange(p));
    w.in_snapshot = p;
  }
  for (auto* v : {&sorted_.step, &sorted_.compute, &sorted_.push, &sorted_.exchange}) {
    std::sort(v->begin(), v->end());
  }
  reports_since_refresh_ = 0;
  stale_ = false;
}

Verdict StragglerDetector::Judge(int rank) const {
  const Worker& w = workers_.at(rank);
  const StepPhases& mine = w.latest;
  // Mine, and the others' median of `part`.
  auto compare = [&](double (*part)(const StepPhases&), const std::vector<double>& sorted) {
    std::optional<double> drop;
    if (w.in_snapshot.has_value()) drop = part(*w.in_snapshot);
    return std::make_pair(part(mine), MedianWithout(sorted, drop));
  };
  const auto [step, others_step] = compare(
      +[](const StepPhases& p) { return p.step(); }, sorted_.step);
  auto slower = [&, others_step = others_step](double mine, double others) {
    return Slower(options_, mine, others, others_step);
  };
  const auto [compute, others_compute] = compare(ComputeSeconds, sorted_.compute);
  if (slower(compute, others_compute)) return {"compute", compute, others_compute};
  if (sync_) {
    const auto [push, others_push] = compare(
        +[](const StepPhases& p) { return p.push(); }, sorted_.push);
    if (slower(push, others_push)) return {"network", push, others_push};
  } else {
    const auto [mine_x, others_x] = compare(Exchange, sorted_.exchange);
    if (slower(step, others_step) && slower(mine_x, others_x)) {
      return {"network", mine_x, others_x};
    }
  }
  return {};
}

std::optional<StragglerDetector::Change> StragglerDetector::Observe(int rank, int64_t step,
                                                                    const StepPhases& phases) {
  if (phases.steps() <= 0) return std::nullopt;
  auto [it, joined] = workers_.try_emplace(rank, options_.reports);
  Worker& w = it->second;
  w.latest = phases;
  if (joined) stale_ = true;
  if (workers_.size() < 2) return std::nullopt;
  if (stale_ || ++reports_since_refresh_ >= workers_.size()) Refresh();
  return w.naming.Update(rank, step - phases.steps(), Judge(rank));
}

void StragglerDetector::Forget(int rank) {
  workers_.erase(rank);
  stale_ = true;
}

std::vector<Straggler> StragglerDetector::Current() const {
  std::vector<Straggler> out;
  for (const auto& [rank, w] : workers_) {
    if (w.naming.named()) out.push_back(*w.naming.named());
  }
  return out;
}

}  // namespace psd
