// The worker's parameter-server client: splits each tensor into its chunks and sends every
// chunk to the server that owns it, many in flight at once (bounded by a window).
#ifndef PSD_WORKER_PS_CLIENT_H_
#define PSD_WORKER_PS_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/placement.h"

namespace psd {

class PsClient {
 public:
  struct Options {
    std::string job_id;
    int64_t generation = 0;
    int worker = 0;
    int64_t total_steps = 0;  // for the servers' learning-rate schedule
    absl::Duration rpc_timeout = absl::Minutes(10);
    int max_in_flight = 64;       // chunk RPCs outstanding at once
    int channels_per_server = 1;  // HTTP/2 connections to each server
    int64_t max_message_bytes = 256 << 20;
  };
  // Called when every chunk of `tensor` has arrived.
  using TensorDone = std::function<void(uint32_t tensor)>;

  // `placement` must outlive the client; `servers` are addresses indexed by server rank.
  static absl::StatusOr<std::unique_ptr<PsClient>> Create(const Placement* placement,
                                                          std::vector<std::string> servers,
                                                          Options options);
  ~PsClient();

  // Each call starts the chunk RPCs of one tensor and returns; buffers must stay valid until
  // Wait() returns. `grad` is the tensor's gradient at `step`; `params` receives the tensor.
  void Push(uint32_t tensor, int64_t step, const float* grad);
  // Parameters for computing `step` (waiting as the consistency model requires).
  void Pull(uint32_t tensor, int64_t step, float* params, TensorDone done = nullptr);
  // Push for `step`, then the parameters for `step + 1`, in one round trip per chunk.
  void PushPull(uint32_t tensor, int64_t step, const float* grad, float* params,
                TensorDone done = nullptr);

  // Waits for every RPC started so far; returns the first error (naming server and chunk).
  absl::Status Wait();
  // Cancels the RPCs in flight; Wait() then returns Cancelled.
  void Cancel();
  // The largest staleness the servers reported so far.
  int64_t max_staleness() const;

 private:
  class Impl;
  explicit PsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace psd

#endif  // PSD_WORKER_PS_CLIENT_H_
