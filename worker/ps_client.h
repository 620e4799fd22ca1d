// The worker's parameter-server client: splits each tensor into its chunks and sends every
// chunk to the server that owns it, many in flight at once (bounded by a window).
//
// The hot path copies nothing it can avoid (proto/wire.h): a push's payload slice points at
// the caller's gradient buffer (or, with fp16 on the wire, at this client's half-precision
// staging of it), and a pull's reply is decoded from gRPC's receive buffers straight into the
// caller's parameter buffer (the one copy a pull needs on this side).
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
#include "common/job_spec.h"
#include "common/placement.h"
#include "common/tls_options.h"
#include "common/trace_recorder.h"
#include "common/transport_options.h"
#include "proto/common.pb.h"
#include "worker/worker_metrics.h"

namespace psd {

class PsClient {
 public:
  struct Options {
    std::string job_id;
    int64_t generation = 0;
    int worker = 0;
    int64_t total_steps = 0;  // for the servers' learning-rate schedule
    absl::Duration rpc_timeout = absl::Minutes(10);
    // A server that cannot be reached (UNAVAILABLE) is retried with exponential backoff and
    // jitter until this long after the first attempt; pushes are applied once however often
    // they are sent.
    absl::Duration retry_deadline = absl::Seconds(60);
    absl::Duration retry_initial_backoff = absl::Milliseconds(50);
    absl::Duration retry_max_backoff = absl::Seconds(2);
    int max_in_flight = 64;  // chunk RPCs outstanding at once
    // HTTP/2 connections to each server: each is one TCP stream that one gRPC thread at a
    // time reads and writes; two keep both cores busy (+15-20% push+pull on 2 cores).
    int channels_per_server = 2;
    int64_t max_message_bytes = 256 << 20;  // overrides transport.max_message_bytes
    TransportOptions transport;             // HTTP/2 windows, frame and buffer sizes
    // The worker's certificate (the servers accept rank `worker` only from the one the
    // coordinator assigned it), or TlsOptions::Insecure(); must be set.
    TlsOptions tls;
    // cluster.wire_dtype: fp16 — gradients go as IEEE half with error feedback (what one
    // step rounds away is added to the next step's gradient of the same tensor).
    bool fp16_gradients = false;
    // cluster.wire_fp16_params — parameters come back as IEEE half too.
    bool fp16_params = false;
    // Per-server bytes, RPC counts and latencies (worker/worker_metrics.h); null: none kept.
    std::shared_ptr<WorkerJobMetrics> metrics;
    // Step timelines (psdctl trace): each chunk RPC of an armed step, send to completion, on
    // track "rpc server <rank>"; null: none recorded.
    std::shared_ptr<TraceRecorder> trace;
  };
  // Called when every chunk of `tensor` has arrived.
  using TensorDone = std::function<void(uint32_t tensor)>;

  // Payload bytes moved so far (what the wire carried for tensors, not headers).
  struct Counters {
    int64_t pushed_bytes = 0;
    int64_t pulled_bytes = 0;
    int64_t rpcs = 0;  // attempts, retries included
    int64_t retries = 0;
  };

  // `placement` must outlive the client; `servers` are addresses indexed by server rank.
  static absl::StatusOr<std::unique_ptr<PsClient>> Create(const Placement* placement,
                                                          std::vector<std::string> servers,
                                                          Options options);
  ~PsClient();

  // Each call starts the chunk RPCs of one tensor and returns; buffers must stay valid until
  // Wait() returns. `grad` is the tensor's gradient at `step`; `params` receives the tensor.
  // A tensor is pushed at most once between two Wait() calls (with fp16 a second push of the
  // same tensor waits until the first one's payload is on the wire).
  void Push(uint32_t tensor, int64_t step, const float* grad);
  // Parameters for computing `step` (waiting as the consistency model requires).
  void Pull(uint32_t tensor, int64_t step, float* params, TensorDone done = nullptr);
  // Push for `step`, then the parameters for `step + 1`, in one round trip per chunk.
  void PushPull(uint32_t tensor, int64_t step, const float* grad, float* params,
                TensorDone done = nullptr);

  // Waits for every RPC started so far, and until gRPC has let go of every gradient buffer
  // it was given; returns the first error (naming server and chunk).
  absl::Status Wait();
  // Cancels the RPCs in flight; Wait() then returns Cancelled.
  void Cancel();
  // The largest staleness the servers reported so far.
  int64_t max_staleness() const;
  Counters counters() const;
  // Each server's completed calls since the last take (progress reports: proto ServerTiming).
  std::vector<ServerTiming> TakeServerTimings();

 private:
  class Impl;
  explicit PsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets the options that follow from a job's cluster section (wire_dtype, wire_fp16_params).
void SetWireOptions(const ClusterSpec& cluster, PsClient::Options* options);

}  // namespace psd

#endif  // PSD_WORKER_PS_CLIENT_H_
