#include "worker/step_phases.h"

namespace psd {

void StepPhaseAccumulator::Add(const StepTimes& t) {
  sum_.data += t.data;
  sum_.forward += t.forward;
  sum_.backward += t.backward;
  sum_.push += t.push;
  sum_.wait += t.wait;
  sum_.pull += t.pull;
  sum_.step += t.step;
  ++steps_;
}

StepPhases StepPhaseAccumulator::Mean() const {
  StepPhases m;
  if (steps_ == 0) return m;
  auto mean = [&](absl::Duration d) { return absl::ToDoubleSeconds(d) / steps_; };
  m.set_data(mean(sum_.data));
  m.set_forward(mean(sum_.forward));
  m.set_backward(mean(sum_.backward));
  m.set_push(mean(sum_.push));
  m.set_wait(mean(sum_.wait));
  m.set_pull(mean(sum_.pull));
  m.set_step(mean(sum_.step));
  m.set_steps(steps_);
  return m;
}

}  // namespace psd
