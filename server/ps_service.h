// The ParameterServer gRPC service (callback API): pulls that must wait for other workers
// park without holding a thread and complete from the push that makes them readable.
//
// Push, Pull, PushPull, SparsePull and SparsePush are raw methods (gRPC ByteBuffers) handled
// by proto/wire.h: a push's chunk payloads are read in place from the slices gRPC received
// and added straight into the chunk's accumulator or optimizer; a pull's reply is encoded from
// the chunk's parameters (under its lock) into a pooled buffer that the reply's slice
// references. The bytes on the wire are the .proto messages, so protobuf clients work unchanged.
#ifndef PSD_SERVER_PS_SERVICE_H_
#define PSD_SERVER_PS_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "common/rpc_policy.h"
#include "common/trace_recorder.h"
#include "proto/parameter_server.grpc.pb.h"
#include "server/job_registry.h"

namespace psd {

class WorkPool;

// Bytes through the hot path since the service started (all jobs).
struct WireCounters {
  int64_t push_payload_bytes = 0;  // gradient payload bytes received
  int64_t pull_payload_bytes = 0;  // parameter payload bytes sent
  int64_t push_rpcs = 0;
  int64_t pull_rpcs = 0;  // Pull and PushPull replies
  // Received chunk payloads, and the byte ranges (network buffers) they were spread over:
  // payloads were read in place across slice boundaries when pieces > payloads.
  int64_t push_payloads = 0;
  int64_t push_payload_pieces = 0;
};

class PsService final : public ParameterServer::WithRawCallbackMethod_Push<
                            ParameterServer::WithRawCallbackMethod_Pull<
                                ParameterServer::WithRawCallbackMethod_PushPull<
                                    ParameterServer::WithRawCallbackMethod_SparsePull<
                                        ParameterServer::WithRawCallbackMethod_SparsePush<
                                            ParameterServer::CallbackService>>>>> {
 public:
  struct Options {
    // Threads that run the push and pull work (accumulate, optimizer, encoding) off gRPC's
    // threads; 0 runs it on the gRPC thread that received the call.
    int work_threads = 0;
    // Tests only: answer every Nth push with UNAVAILABLE after applying it, as if the reply
    // were lost, so that the client retries (0: never).
    int drop_push_replies = 0;
    // Drills only: every push waits this long on a work thread before it is applied, as on an
    // overloaded server (the coordinator names it slow: coordinator/slow_server_detector.h).
    absl::Duration push_delay = absl::ZeroDuration();
    // Check every caller against common/rpc_policy.h (mutual TLS); false only under
    // --insecure, where there are no identities to check.
    bool authorize = true;
  };

  explicit PsService(JobRegistry* registry) : PsService(registry, Options()) {}
  PsService(JobRegistry* registry, Options options);
  ~PsService() override;

  grpc::ServerUnaryReactor* InitJob(grpc::CallbackServerContext* ctx, const InitJobRequest* request,
                                    InitJobResponse* response) override;
  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PushPull(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Checkpoint(grpc::CallbackServerContext* ctx,
                                       const CheckpointRequest* request,
                                       CheckpointResponse* response) override;
  grpc::ServerUnaryReactor* EndJob(grpc::CallbackServerContext* ctx, const EndJobRequest* request,
                                   EndJobResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* ctx,
                                     const GetStatsRequest* request,
                                     ServerStats* response) override;
  // Step timelines: arm the job's window, or collect what it recorded (psdctl trace).
  grpc::ServerUnaryReactor* Trace(grpc::CallbackServerContext* ctx, const TraceRequest* request,
                                  TraceResponse* response) override;

  // Sparse models (server/ps_service_sparse.cc): rows of the job's embedding table, raw
  // SparsePullRequest/SparsePushRequest in, raw SparsePullResponse/SparsePushResponse out.
  grpc::ServerUnaryReactor* SparsePull(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SparsePush(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

  WireCounters counters() const;
  // What this server records for `psdctl trace` (each request, apply and sync wait).
  TraceRecorder& trace() { return *trace_; }
  const Authorizer& authorizer() const { return authz_; }

 private:
  struct Counters {
    std::atomic<int64_t> push_bytes{0}, pull_bytes{0}, push_rpcs{0}, pull_rpcs{0};
    std::atomic<int64_t> payloads{0}, pieces{0};
  };
  void HandlePush(grpc::ServerUnaryReactor* reactor, const grpc::ByteBuffer* request,
                  grpc::ByteBuffer* response, bool then_pull,
                  const std::optional<PeerIdentity>& peer, absl::Time received);
  void HandlePull(grpc::ServerUnaryReactor* reactor, const grpc::ByteBuffer* request,
                  grpc::ByteBuffer* response, const std::optional<PeerIdentity>& peer,
                  absl::Time received);
  // A worker pushes and pulls only as the rank the coordinator assigned its certificate.
  absl::Status CheckWorker(RpcMethod method, const std::optional<PeerIdentity>& peer,
                           const ServedJob& job, int worker);
  // Runs `fn` on the work pool, or here when there is none.
  template <typename Fn>
  void Dispatch(Fn fn);
  void DispatchWork(absl::AnyInvocable<void()> fn);

  JobRegistry* registry_;
  Authorizer authz_;
  const int drop_push_replies_;
  const absl::Duration push_delay_;
  std::atomic<int64_t> pushes_seen_{0};
  std::unique_ptr<WorkPool> pool_;
  std::shared_ptr<Counters> counters_;
  // Shared with pulls in flight, which record when they complete.
  std::shared_ptr<TraceRecorder> trace_;
};

}  // namespace psd

#endif  // PSD_SERVER_PS_SERVICE_H_
