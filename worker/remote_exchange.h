// A ParamExchange with the parameter servers, through a PsClient.
#ifndef PSD_WORKER_REMOTE_EXCHANGE_H_
#define PSD_WORKER_REMOTE_EXCHANGE_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "worker/param_exchange.h"
#include "worker/ps_client.h"

namespace psd {

class RemoteExchange : public ParamExchange {
 public:
  explicit RemoteExchange(std::unique_ptr<PsClient> client) : client_(std::move(client)) {}
  void Pull(uint32_t t, int64_t step, absl::Span<float> out) override {
    client_->Pull(t, step, out.data());
  }
  void PushPull(uint32_t t, int64_t step, absl::Span<const float> grad,
                absl::Span<float> out) override {
    client_->PushPull(t, step, grad.data(), out.data());
  }
  absl::Status Wait() override { return client_->Wait(); }
  void Cancel() override { client_->Cancel(); }
  int64_t max_staleness() const override { return client_->max_staleness(); }
  std::vector<ServerTiming> TakeServerTimings() override { return client_->TakeServerTimings(); }

 private:
  std::unique_ptr<PsClient> client_;
};

}  // namespace psd

#endif  // PSD_WORKER_REMOTE_EXCHANGE_H_
