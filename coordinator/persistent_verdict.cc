#include "coordinator/persistent_verdict.h"

namespace psd {

std::optional<NamingChange> PersistentVerdict::Update(int rank, int64_t interval_start,
                                                      const Verdict& v) {
  if (v.phase.empty()) {
    slow_run_ = 0;
    run_phase_.clear();
    if (!named_) return std::nullopt;
    if (++normal_run_ < reports_) return std::nullopt;
    NamingChange cleared{false, *named_};
    named_.reset();
    normal_run_ = 0;
    return cleared;
  }
  normal_run_ = 0;
  if (v.phase != run_phase_) {
    run_phase_ = v.phase;
    slow_run_ = 0;
    run_start_ = interval_start;
  }
  ++slow_run_;
  if (slow_run_ < reports_) return std::nullopt;
  Straggler s;
  s.set_rank(rank);
  s.set_phase(v.phase);
  s.set_seconds_per_step(v.seconds);
  s.set_others_seconds_per_step(v.others);
  s.set_since_step(run_start_);
  const bool is_new = !named_ || named_->phase() != v.phase;
  named_ = s;
  if (!is_new) return std::nullopt;
  return NamingChange{true, s};
}

}  // namespace psd
