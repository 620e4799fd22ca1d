#include "worker/ps_client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstring>
#include <list>
#include <map>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/buffer_pool.h"
#include "common/fp16.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "proto/parameter_server.pb.h"
#include "proto/wire.h"

namespace psd {
namespace {

constexpr char kPushMethod[] = "/psd.ParameterServer/Push";
constexpr char kPullMethod[] = "/psd.ParameterServer/Pull";
constexpr char kPushPullMethod[] = "/psd.ParameterServer/PushPull";

// What outlives the client if gRPC still holds payload slices when it goes (it never should
// for long: only a connection that stopped draining keeps them): the fp16 staging buffers
// and the count of slices gRPC holds.
struct Held {
  absl::Mutex mu;
  int slices ABSL_GUARDED_BY(mu) = 0;
  std::vector<int> per_tensor ABSL_GUARDED_BY(mu);  // slices held per tensor
  // fp16: each tensor's half-precision gradient (the push payload) and rounding residual.
  std::vector<std::vector<uint16_t>> staging;
  std::vector<std::vector<float>> residual;
};

struct SliceRef {
  std::shared_ptr<Held> held;
  uint32_t tensor;
  static void Release(void* arg) {
    auto* r = static_cast<SliceRef*>(arg);
    {
      absl::MutexLock lock(&r->held->mu);
      --r->held->slices;
      --r->held->per_tensor[r->tensor];
    }
    delete r;
  }
};

}  // namespace

class PsClient::Impl {
 public:
  Impl(const Placement* placement, std::vector<std::string> servers, Options options)
      : placement_(placement),
        servers_(std::move(servers)),
        options_(std::move(options)),
        held_(std::make_shared<Held>()) {
    grpc::ChannelArguments args;
    TransportOptions transport = options_.transport;
    transport.max_message_bytes = options_.max_message_bytes;
    ApplyTransportOptions(transport, &args);
    KeepFreedMemory();  // normally done by InitProcess() already (common/process_init.h)
    // Separate subchannel pools keep each channel on its own TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Create() checked that the TLS options are usable.
    const std::shared_ptr<grpc::ChannelCredentials> credentials =
        *MakeChannelCredentials(options_.tls, PeerRole::kServer, &args);
    for (const std::string& address : servers_) {
      std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
      for (int i = 0; i < std::max(1, options_.channels_per_server); ++i) {
        stubs.push_back(std::make_unique<grpc::GenericStub>(
            grpc::CreateCustomChannel(address, credentials, args)));
      }
      stubs_.push_back(std::move(stubs));
    }
    const size_t tensors = placement_->tensors().size();
    {
      absl::MutexLock lock(&held_->mu);
      held_->per_tensor.assign(tensors, 0);
    }
    held_->staging.resize(tensors);
    held_->residual.resize(tensors);
    timings_ = std::vector<TimingSums>(servers_.size() * kSizeClasses);
  }

  ~Impl() {
    Cancel();
    Wait().IgnoreError();
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (retry_thread_.joinable()) retry_thread_.join();
  }

  enum class Kind { kPush, kPull, kPushPull };

  void Start(Kind kind, uint32_t tensor, int64_t step, const float* grad, float* params,
             TensorDone done) {
    const auto keys = placement_->TensorKeys(tensor);
    const uint8_t* payload = reinterpret_cast<const uint8_t*>(grad);
    if (kind != Kind::kPull && options_.fp16_gradients) payload = EncodeHalf(tensor, grad);
    auto remaining = std::make_shared<std::atomic<int>>(static_cast<int>(keys.size()));
    for (uint64_t key : keys) StartChunk(kind, key, step, payload, params, remaining, done);
  }

  absl::Status Wait() {
    absl::Status s;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](int* n) { return *n == 0; }, &in_flight_));
      s = error_;
      error_ = absl::OkStatus();
    }
    // gRPC drops a payload slice once its bytes are on the socket, which may come a moment
    // after the reply: until then the caller's gradient buffer is still being read.
    absl::MutexLock lock(&held_->mu);
    auto none_held = [](Held* h) ABSL_NO_THREAD_SAFETY_ANALYSIS { return h->slices == 0; };
    if (!held_->mu.AwaitWithTimeout(absl::Condition(+none_held, held_.get()),
                                    options_.rpc_timeout) &&
        s.ok()) {
      s = absl::DeadlineExceededError(
          absl::StrCat(held_->slices, " gradient payloads are still queued on a connection"));
    }
    return s;
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    for (grpc::ClientContext* ctx : active_) ctx->TryCancel();
  }

  int64_t max_staleness() const { return max_staleness_.load(); }

  std::vector<ServerTiming> TakeServerTimings() {
    std::vector<ServerTiming> out;
    for (size_t i = 0; i < timings_.size(); ++i) {
      TimingSums& t = timings_[i];
      if (t.calls.load(std::memory_order_relaxed) == 0) continue;
      ServerTiming st;
      st.set_rank(static_cast<int32_t>(i / kSizeClasses));
      st.set_size_class(static_cast<int32_t>(i % kSizeClasses));
      st.set_calls(t.calls.exchange(0, std::memory_order_relaxed));
      st.set_rpc_seconds(t.rpc_micros.exchange(0, std::memory_order_relaxed) * 1e-6);
      st.set_apply_seconds(t.server_micros.exchange(0, std::memory_order_relaxed) * 1e-6);
      st.set_bytes(t.bytes.exchange(0, std::memory_order_relaxed));
      out.push_back(std::move(st));
    }
    return out;
  }

  Counters counters() const {
    Counters c;
    c.pushed_bytes = pushed_bytes_.load();
    c.pulled_bytes = pulled_bytes_.load();
    c.rpcs = rpcs_.load();
    c.retries = retries_.load();
    return c;
  }

 private:
  // One attempt of one chunk's RPC. A retry is a new Call with the same request bytes (the
  // same request id: the server applies the push once).
  struct Call {
    grpc::ClientContext ctx;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    std::list<grpc::ClientContext*>::iterator active;
    Kind kind = Kind::kPush;
    uint64_t key = 0;
    float* params = nullptr;
    std::shared_ptr<std::atomic<int>> remaining;
    TensorDone done;
    absl::Time first_attempt;
    absl::Time sent;  // this attempt's (with metrics)
    int attempt = 1;
    int64_t step = 0;
    int64_t bytes = 0;                              // payload pushed
    absl::Time traced_sent = absl::InfinitePast();  // this attempt's, when its step is traced
  };

  // The metrics of `key`'s server, or null when metrics are off.
  WorkerServerMetrics* ServerMetricsOf(uint64_t key) const {
    if (options_.metrics == nullptr) return nullptr;
    const size_t server = static_cast<size_t>(placement_->chunk(key).server);
    auto& servers = options_.metrics->servers;
    return server < servers.size() ? servers[server].get() : nullptr;
  }

  // fp16 on the wire: the tensor's gradient plus the residual of its last push, rounded to
  // half into the tensor's staging buffer (the push payload); the new rounding error becomes
  // the residual. One pass; the staging buffer is reused every step.
  const uint8_t* EncodeHalf(uint32_t tensor, const float* grad) {
    {
      // A push of this tensor still on the wire reads the staging buffer: let it finish.
      absl::MutexLock lock(&held_->mu);
      auto free_tensor = [this, tensor]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return held_->per_tensor[tensor] == 0;
      };
      held_->mu.Await(absl::Condition(&free_tensor));
    }
    const int64_t n = placement_->tensors()[tensor].size;
    auto& staging = held_->staging[tensor];
    auto& residual = held_->residual[tensor];
    if (static_cast<int64_t>(staging.size()) != n) {
      staging.assign(n, 0);
      residual.assign(n, 0.0f);
    }
    FloatToHalfWithFeedback(grad, residual.data(), staging.data(), n);
    return reinterpret_cast<const uint8_t*>(staging.data());
  }

  void StartChunk(Kind kind, uint64_t key, int64_t step, const uint8_t* payload, float* params,
                  std::shared_ptr<std::atomic<int>> remaining, TensorDone done) {
    const ChunkInfo& chunk = placement_->chunk(key);
    auto call = std::make_shared<Call>();
    const DType pull_dtype = options_.fp16_params ? DTYPE_F16 : DTYPE_F32;
    if (kind == Kind::kPull) {
      PullRequest r;
      r.set_job_id(options_.job_id);
      r.set_generation(options_.generation);
      r.set_worker(options_.worker);
      r.set_step(step);
      r.set_dtype(pull_dtype);
      r.add_keys(key);
      call->request = wire::SerializeSmall(r);
    } else {
      wire::PushRequestHeader h;
      h.job_id = options_.job_id;
      h.generation = options_.generation;
      h.worker = options_.worker;
      h.step = step;
      h.request_id = next_request_id_++;
      h.pull_dtype = pull_dtype;
      h.total_steps = options_.total_steps;
      const size_t size = options_.fp16_gradients ? 2 : 4;
      const wire::ChunkRef c{
          key, options_.fp16_gradients ? DTYPE_F16 : DTYPE_F32,
          absl::Span<const uint8_t>(payload + chunk.offset * size, chunk.length * size)};
      wire::EncodedMessage encoded;
      wire::EncodePushRequest(h, {&c, 1}, &encoded);
      call->request = wire::ToByteBuffer(encoded, [&](const uint8_t* data, size_t n) {
        {
          absl::MutexLock lock(&held_->mu);
          ++held_->slices;
          ++held_->per_tensor[chunk.tensor];
        }
        return wire::ReferenceSlice(data, n, &SliceRef::Release, new SliceRef{held_, chunk.tensor});
      });
      pushed_bytes_.fetch_add(static_cast<int64_t>(chunk.length * size), std::memory_order_relaxed);
      if (WorkerServerMetrics* m = ServerMetricsOf(key); m != nullptr) {
        m->push_bytes.Increment(static_cast<double>(chunk.length * size));
      }
    }
    call->kind = kind;
    call->key = key;
    call->step = step;
    if (kind != Kind::kPull) {
      call->bytes = static_cast<int64_t>(chunk.length * (options_.fp16_gradients ? 2 : 4));
    }
    call->params = params;
    call->remaining = std::move(remaining);
    call->done = std::move(done);
    call->first_attempt = absl::Now();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Impl::HasRoom));
      ++in_flight_;
    }
    Issue(std::move(call));
  }

  // Sends one attempt of `call`; its completion retries, or finishes the chunk.
  void Issue(std::shared_ptr<Call> call) {
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    {
      absl::MutexLock lock(&mu_);
      call->active = active_.insert(active_.end(), &call->ctx);
      if (cancelled_) call->ctx.TryCancel();
    }
    rpcs_.fetch_add(1, std::memory_order_relaxed);
    call->sent = absl::Now();
    if (WorkerServerMetrics* m = ServerMetricsOf(call->key); m != nullptr) m->rpcs.Increment();
    if (options_.trace != nullptr && options_.trace->Wants(call->step)) {
      call->traced_sent = call->sent;
    }
    const int server = placement_->chunk(call->key).server;
    grpc::GenericStub* stub = stubs_[server][call->key % stubs_[server].size()].get();
    grpc::ClientContext* ctx = &call->ctx;
    const grpc::ByteBuffer* request = &call->request;
    grpc::ByteBuffer* response = &call->response;
    const char* method = call->kind == Kind::kPush   ? kPushMethod
                         : call->kind == Kind::kPull ? kPullMethod
                                                     : kPushPullMethod;
    stub->UnaryCall(ctx, method, grpc::StubOptions(), request, response,
                    [this, call = std::move(call)](grpc::Status status) mutable {
                      OnDone(std::move(call), status);
                    });
  }

  void OnDone(std::shared_ptr<Call> call, const grpc::Status& status) {
    const uint64_t key = call->key;
    const int server = placement_->chunk(key).server;
    absl::Status result = FromGrpcStatus(status);
    const absl::Duration rpc = absl::Now() - call->sent;
    WorkerServerMetrics* metrics = ServerMetricsOf(key);
    if (metrics != nullptr) metrics->rpc_seconds.Observe(absl::ToDoubleSeconds(rpc));
    int64_t server_micros = 0;
    if (result.ok() && call->kind != Kind::kPush)
      result = CopyOut(call->response, key, call->params, &server_micros);
    if (call->traced_sent != absl::InfinitePast()) RecordRpc(*call, server, result);
    if (result.ok()) {
      const size_t bytes = call->request.Length() + call->response.Length();
      TimingSums& t = timings_[server * kSizeClasses + SizeClass(bytes)];
      t.calls.fetch_add(1, std::memory_order_relaxed);
      t.rpc_micros.fetch_add(absl::ToInt64Microseconds(rpc), std::memory_order_relaxed);
      t.server_micros.fetch_add(server_micros, std::memory_order_relaxed);
      t.bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
    }
    {
      absl::MutexLock lock(&mu_);
      active_.erase(call->active);  // Cancel() no longer reaches this context
    }
    if (!result.ok()) {
      const std::string what =
          absl::StrCat(call->kind == Kind::kPull ? "pull from" : "push to", " server ", server,
                       " (", servers_[server], "), chunk ", key);
      if (Retryable(result, *call)) return Retry(std::move(call), what, result);
      result = absl::Status(result.code(), absl::StrCat(what, ": ", result.message()));
      if (metrics != nullptr) {
        const size_t code = static_cast<size_t>(result.code());
        metrics->errors[code < metrics->errors.size() ? code : 2].Increment();  // 2: UNKNOWN
      }
    }
    if (result.ok() && call->remaining->fetch_sub(1) == 1 && call->done) {
      call->done(placement_->chunk(key).tensor);
    }
    // The call (its ClientContext holds the channel) goes before Wait() can return: were
    // the client destroyed first, the channel's last reference would drop on this gRPC
    // callback thread, which shuts down the callback queue that runs it (a gRPC 1.51 race:
    // "assertion failed: prior > 0" in grpc_cq_internal_unref).
    call.reset();
    Finish(result);
  }

  // The call's attempt as a step-timeline event: sent to reply (and copied out).
  void RecordRpc(const Call& call, int server, const absl::Status& result) {
    const ChunkInfo& chunk = placement_->chunk(call.key);
    TraceEvent e;
    e.name = call.kind == Kind::kPush ? "Push" : call.kind == Kind::kPull ? "Pull" : "PushPull";
    e.track = absl::StrCat("rpc server ", server);
    e.step = call.step;
    e.start_us = TraceMicros(call.traced_sent);
    e.dur_us = TraceMicros(absl::Now()) - e.start_us;
    const int64_t pulled =
        call.kind == Kind::kPush ? 0 : chunk.length * (options_.fp16_params ? 2 : 4);
    e.args = {{"server", server},
              {"chunk", static_cast<int64_t>(call.key)},
              {"tensor", static_cast<int64_t>(chunk.tensor)},
              {"bytes", call.bytes + pulled},
              {"attempt", call.attempt}};
    if (!result.ok()) e.args.emplace_back("error_code", static_cast<int64_t>(result.code()));
    options_.trace->Record(std::move(e));
  }

  // A server that cannot be reached (restarting, a dropped connection, a lost reply) is
  // tried again until the retry deadline; every other error is final.
  bool Retryable(const absl::Status& s, const Call& call) {
    if (s.code() != absl::StatusCode::kUnavailable) return false;
    absl::MutexLock lock(&mu_);
    return !cancelled_ && absl::Now() - call.first_attempt < options_.retry_deadline;
  }

  // Sends the same request again after an exponential backoff with jitter.
  void Retry(std::shared_ptr<Call> failed, const std::string& what, const absl::Status& error) {
    auto next = std::make_shared<Call>();
    next->request = failed->request;  // shares the slices: the same bytes, the same request id
    next->kind = failed->kind;
    next->key = failed->key;
    next->step = failed->step;
    next->bytes = failed->bytes;
    next->params = failed->params;
    next->remaining = failed->remaining;
    next->done = failed->done;
    next->first_attempt = failed->first_attempt;
    next->attempt = failed->attempt + 1;
    failed.reset();
    const absl::Duration base =
        std::min(options_.retry_max_backoff,
                 options_.retry_initial_backoff * (1 << std::min(next->attempt - 2, 16)));
    const absl::Duration delay = base * absl::Uniform(jitter_, 0.5, 1.5);
    if (next->attempt == 2 || next->attempt % 10 == 0) {
      spdlog::warn("{} failed ({}); retrying in {} (attempt {})", what, error.message(),
                   absl::FormatDuration(delay), next->attempt);
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    if (WorkerServerMetrics* m = ServerMetricsOf(next->key); m != nullptr) m->retries.Increment();
    absl::MutexLock lock(&mu_);
    if (!retry_thread_.joinable()) retry_thread_ = std::thread([this] { RetryLoop(); });
    delayed_.emplace(absl::Now() + delay, std::move(next));
  }

  // Issues delayed retries when they are due; at shutdown, at once (they are cancelled).
  void RetryLoop() {
    absl::MutexLock lock(&mu_);
    for (;;) {
      if (delayed_.empty()) {
        if (stopping_) return;
        mu_.Await(absl::Condition(
            +[](Impl* i)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS { return i->stopping_ || !i->delayed_.empty(); },
            this));
        continue;
      }
      const absl::Time due = delayed_.begin()->first;
      if (!stopping_ && !cancelled_ && absl::Now() < due) {
        mu_.AwaitWithDeadline(absl::Condition(
                                  +[](Impl* i) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return i->stopping_ || i->cancelled_;
                                  },
                                  this),
                              due);
        continue;
      }
      std::shared_ptr<Call> call = std::move(delayed_.begin()->second);
      delayed_.erase(delayed_.begin());
      mu_.Unlock();
      Issue(std::move(call));
      mu_.Lock();
    }
  }

  // Decodes the reply in place and writes the chunk's values into the caller's buffer: the
  // one copy of a pull on this side (a conversion with fp16 parameters).
  absl::Status CopyOut(const grpc::ByteBuffer& response, uint64_t key, float* params,
                       int64_t* server_micros) {
    const ChunkInfo& chunk = placement_->chunk(key);
    std::vector<grpc::Slice> slices;
    std::vector<Payload::Piece> pieces;
    wire::PullResponseView reply;
    absl::Status s = wire::ReadPieces(response, &slices, &pieces);
    if (s.ok()) s = wire::DecodePullResponse(pieces, &reply);
    if (!s.ok()) return absl::DataLossError(s.message());
    if (reply.chunks.size() != 1 || reply.chunks[0].key != key ||
        (reply.chunks[0].dtype != DTYPE_F32 && reply.chunks[0].dtype != DTYPE_F16) ||
        !reply.chunks[0].data.whole() || reply.chunks[0].data.elements() != chunk.length) {
      return absl::DataLossError("reply does not hold the requested chunk");
    }
    reply.chunks[0].data.CopyTo(params + chunk.offset);
    *server_micros = reply.server_micros;
    pulled_bytes_.fetch_add(reply.chunks[0].data.bytes(), std::memory_order_relaxed);
    if (WorkerServerMetrics* m = ServerMetricsOf(key); m != nullptr) {
      m->pull_bytes.Increment(static_cast<double>(reply.chunks[0].data.bytes()));
    }
    int64_t seen = max_staleness_.load();
    while (reply.staleness > seen && !max_staleness_.compare_exchange_weak(seen, reply.staleness)) {
    }
    return absl::OkStatus();
  }

  void Finish(const absl::Status& result) {
    absl::MutexLock lock(&mu_);
    if (!result.ok() && error_.ok()) error_ = result;
    --in_flight_;
  }

  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ < std::max(1, options_.max_in_flight);
  }

  const Placement* placement_;
  const std::vector<std::string> servers_;
  const Options options_;
  std::shared_ptr<Held> held_;
  std::vector<std::vector<std::unique_ptr<grpc::GenericStub>>> stubs_;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<int64_t> max_staleness_{0};
  std::atomic<int64_t> pushed_bytes_{0}, pulled_bytes_{0}, rpcs_{0};
  std::atomic<int64_t> retries_{0};
  // What TakeServerTimings() reports, by server rank: completed calls since the last take.
  // Calls are timed by size class (bytes moved, in powers of 4), so that servers are compared
  // on calls of like size: a server holding the big chunks is not slow for that.
  static constexpr size_t kSizeClasses = 16;
  static size_t SizeClass(size_t bytes) {
    size_t c = 0;
    while (bytes >= 4 && c + 1 < kSizeClasses) {
      bytes /= 4;
      ++c;
    }
    return c;
  }
  struct TimingSums {
    std::atomic<int64_t> calls{0}, rpc_micros{0}, server_micros{0}, bytes{0};
  };
  std::vector<TimingSums> timings_;
  absl::BitGen jitter_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::multimap<absl::Time, std::shared_ptr<Call>> delayed_ ABSL_GUARDED_BY(mu_);
  std::thread retry_thread_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::list<grpc::ClientContext*> active_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Create(const Placement* placement,
                                                           std::vector<std::string> servers,
                                                           Options options) {
  if (static_cast<int>(servers.size()) != placement->num_servers()) {
    return absl::InvalidArgumentError(absl::StrCat("placement has ", placement->num_servers(),
                                                   " servers but ", servers.size(),
                                                   " addresses were given"));
  }
  if (!options.tls.configured()) {
    return absl::InvalidArgumentError(
        "PsClient: tls not configured (a loaded TlsOptions, or TlsOptions::Insecure())");
  }
  return std::unique_ptr<PsClient>(
      new PsClient(std::make_unique<Impl>(placement, std::move(servers), std::move(options))));
}

PsClient::PsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PsClient::~PsClient() = default;

void PsClient::Push(uint32_t tensor, int64_t step, const float* grad) {
  impl_->Start(Impl::Kind::kPush, tensor, step, grad, nullptr, nullptr);
}

void PsClient::Pull(uint32_t tensor, int64_t step, float* params, TensorDone done) {
  impl_->Start(Impl::Kind::kPull, tensor, step, nullptr, params, std::move(done));
}

void PsClient::PushPull(uint32_t tensor, int64_t step, const float* grad, float* params,
                        TensorDone done) {
  impl_->Start(Impl::Kind::kPushPull, tensor, step, grad, params, std::move(done));
}

absl::Status PsClient::Wait() { return impl_->Wait(); }
void PsClient::Cancel() { impl_->Cancel(); }
int64_t PsClient::max_staleness() const { return impl_->max_staleness(); }
PsClient::Counters PsClient::counters() const { return impl_->counters(); }
std::vector<ServerTiming> PsClient::TakeServerTimings() { return impl_->TakeServerTimings(); }

void SetWireOptions(const ClusterSpec& cluster, PsClient::Options* options) {
  options->fp16_gradients = cluster.wire_dtype == WireDType::kF16;
  options->fp16_params = options->fp16_gradients && cluster.wire_fp16_params;
}

}  // namespace psd
