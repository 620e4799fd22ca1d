// Where a worker's gradients go and its parameters come from: the parameter servers, or
// (for the single-process baseline) an optimizer applied in this process.
#ifndef PSD_WORKER_PARAM_EXCHANGE_H_
#define PSD_WORKER_PARAM_EXCHANGE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "server/optimizer.h"
#include "worker/ps_client.h"

namespace psd {

class ParamExchange {
 public:
  virtual ~ParamExchange() = default;
  // Starts fetching tensor `t`'s parameters for computing `step` into `out`.
  virtual void Pull(uint32_t t, int64_t step, absl::Span<float> out) = 0;
  // Starts sending tensor `t`'s gradient of `step`; its parameters for step + 1 land in `out`.
  // `grad` and `out` must stay valid until Wait() returns.
  virtual void PushPull(uint32_t t, int64_t step, absl::Span<const float> grad,
                        absl::Span<float> out) = 0;
  // Waits for everything started; returns the first error.
  virtual absl::Status Wait() = 0;
  // Largest staleness observed so far (0 where there is none).
  virtual int64_t max_staleness() const { return 0; }
};

// The parameter servers, through a PsClient.
class RemoteExchange : public ParamExchange {
 public:
  explicit RemoteExchange(PsClient* client) : client_(client) {}
  void Pull(uint32_t t, int64_t step, absl::Span<float> out) override;
  void PushPull(uint32_t t, int64_t step, absl::Span<const float> grad,
                absl::Span<float> out) override;
  absl::Status Wait() override { return client_->Wait(); }
  int64_t max_staleness() const override { return client_->max_staleness(); }

 private:
  PsClient* client_;
};

// Whole tensors and the server-side optimizer, in this process: exactly what sync training
// does with every worker's batch in one (the equivalence baseline, and bench/train's no-PS run).
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

#endif  // PSD_WORKER_PARAM_EXCHANGE_H_
