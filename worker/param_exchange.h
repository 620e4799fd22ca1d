// Where a worker's gradients go and its parameters come from. Implementations: the parameter
// servers (worker/remote_exchange.h) and one process (worker/local_exchange.h).
#ifndef PSD_WORKER_PARAM_EXCHANGE_H_
#define PSD_WORKER_PARAM_EXCHANGE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "proto/common.pb.h"

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
  // Makes the calls in flight fail fast, so that Wait() returns Cancelled; callable from any
  // thread.
  virtual void Cancel() {}
  // Largest staleness observed so far (0 where there is none).
  virtual int64_t max_staleness() const { return 0; }
  // Each server's calls since the last take, by rank (none where there are no servers).
  virtual std::vector<ServerTiming> TakeServerTimings() { return {}; }
};

}  // namespace psd

#endif  // PSD_WORKER_PARAM_EXCHANGE_H_
