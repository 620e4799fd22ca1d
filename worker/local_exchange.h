// A ParamExchange in this process: whole tensors and the server-side optimizer, exactly what
// sync training does with every worker's batch in one (the equivalence baseline, and
// bench/train's no-PS run).
#ifndef PSD_WORKER_LOCAL_EXCHANGE_H_
#define PSD_WORKER_LOCAL_EXCHANGE_H_

#include <cstdint>
#include <vector>

#include "common/job_spec.h"
#include "common/placement.h"
#include "optim/optimizer.h"
#include "worker/param_exchange.h"

namespace psd {

class LocalExchange : public ParamExchange {
 public:
  LocalExchange(const JobSpec& spec, const std::vector<TensorInfo>& tensors, int64_t total_steps);
  void Pull(uint32_t t, int64_t step, absl::Span<float> out) override;
  void PushPull(uint32_t t, int64_t step, absl::Span<const float> grad,
                absl::Span<float> out) override;
  absl::Status Wait() override { return absl::OkStatus(); }
  const std::vector<float>& params(uint32_t t) const { return params_[t]; }

 private:
  const JobSpec spec_;
  const int64_t total_steps_;
  std::vector<std::vector<float>> params_;
  std::vector<OptimizerState> state_;
};

}  // namespace psd

#endif  // PSD_WORKER_LOCAL_EXCHANGE_H_
