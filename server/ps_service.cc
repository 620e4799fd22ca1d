#include "server/ps_service.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/buffer_pool.h"
#include "common/fp16.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "common/trace_proto.h"
#include "proto/wire.h"

namespace psd {

// A fixed set of threads running queued work in order of arrival.
class WorkPool {
 public:
  explicit WorkPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~WorkPool() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (auto& t : threads_) t.join();
  }
  void Run(absl::AnyInvocable<void()> fn) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(fn));
  }

 private:
  void Loop() {
    for (;;) {
      absl::AnyInvocable<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](WorkPool* p)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS { return p->stopping_ || !p->queue_.empty(); },
            this));
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

namespace {

// Note: CallbackServerContext::DefaultReactor() constructs a fresh reactor on every call, so
// each handler calls it exactly once.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// The store checks the whole push (every chunk) before it applies any of it.
absl::Status ApplyPush(ServedJob& job, const wire::PushRequestView& request) {
  absl::InlinedVector<ChunkPush, 4> chunks;
  chunks.reserve(request.chunks.size());
  for (const wire::ChunkView& chunk : request.chunks) {
    if (chunk.dtype != DTYPE_F32 && chunk.dtype != DTYPE_F16) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", chunk.key, ": dtype ",
                       DType_IsValid(chunk.dtype) ? DType_Name(static_cast<DType>(chunk.dtype))
                                                  : absl::StrCat(chunk.dtype),
                       " is not supported on this path"));
    }
    chunks.push_back({chunk.key, &chunk.data});
  }
  return job.store->Push(request.worker, request.step, request.total_steps, chunks);
}

absl::Status CheckPullDtype(int dtype) {
  if (dtype == DTYPE_F32 || dtype == DTYPE_F16) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("pull: dtype ", dtype, " is not supported"));
}

// A traced request (psdctl trace): what its events say. `recorder` null: not traced.
struct RequestTrace {
  std::shared_ptr<TraceRecorder> recorder;
  const char* name = "";  // "Push", "Pull", "PushPull"
  int64_t step = 0;       // the request's step (a pull's: the step it reads for)
  int worker = 0;
  int64_t received_us = 0;
  int64_t push_bytes = 0;
};

void RecordRequest(const RequestTrace& t, const char* name, const char* track, int64_t start_us,
                   int64_t end_us, int64_t chunks, uint64_t first_key, int64_t bytes) {
  TraceEvent e;
  e.name = name;
  e.track = track;
  e.step = t.step;
  e.start_us = start_us;
  e.dur_us = end_us - start_us;
  e.args = {{"worker", t.worker},
            {"chunks", chunks},
            {"chunk", static_cast<int64_t>(first_key)},
            {"bytes", bytes}};
  t.recorder->Record(std::move(e));
}

// One pull in flight: completes when every requested chunk is readable.
class PendingPull : public std::enable_shared_from_this<PendingPull> {
 public:
  PendingPull(std::shared_ptr<ServedJob> job, grpc::ServerUnaryReactor* reactor,
              std::vector<uint64_t> keys, int dtype, grpc::ByteBuffer* response,
              std::atomic<int64_t>* pull_bytes, absl::Time received, RequestTrace trace)
      : job_(std::move(job)),
        reactor_(reactor),
        keys_(std::move(keys)),
        dtype_(dtype),
        response_(response),
        pull_bytes_(pull_bytes),
        remaining_(static_cast<int>(keys_.size())),
        start_(job_->metrics != nullptr || trace.recorder != nullptr ? absl::Now()
                                                                     : absl::InfinitePast()),
        received_(received),
        trace_(std::move(trace)) {}

  void Start(int worker, int64_t step) {
    if (keys_.empty()) return Complete();
    auto self = shared_from_this();
    for (uint64_t key : keys_) {
      const uint64_t id =
          job_->store->WhenReadable(key, worker, step, [self](absl::Status s) { self->Done(s); });
      if (id == 0) continue;
      bool cancelled;
      {
        absl::MutexLock lock(&wait_mu_);
        cancelled = cancelled_;
        if (!cancelled) waiting_.push_back({key, id});
      }
      if (cancelled) job_->store->CancelWait(key, id, Gone());
    }
  }

  // The client gave up: leave every chunk's waiting list now (the reply is CANCELLED).
  void Cancel() {
    std::vector<std::pair<uint64_t, uint64_t>> waiting;
    {
      absl::MutexLock lock(&wait_mu_);
      cancelled_ = true;
      waiting.swap(waiting_);
    }
    for (const auto& [key, id] : waiting) job_->store->CancelWait(key, id, Gone());
  }

 private:
  static absl::Status Gone() {
    return absl::CancelledError("the pull was cancelled or its deadline passed");
  }

  void Done(const absl::Status& status) {
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      if (error_.ok()) error_ = status;
    }
    if (remaining_.fetch_sub(1) == 1) Complete();
  }

  void Complete() {
    absl::Status error;
    {
      absl::MutexLock lock(&mu_);
      error = error_;
    }
    ServerJobMetrics* m = job_->metrics.get();
    const absl::Time readable = trace_.recorder != nullptr ? absl::Now() : absl::InfinitePast();
    if (m != nullptr) m->pull_wait_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    if (error.ok()) error = Fill();
    if (m != nullptr) {
      m->pull_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start_));
      if (!error.ok()) m->pull_errors.Increment();
    }
    if (trace_.recorder != nullptr) {
      const int64_t done = TraceMicros(absl::Now());
      const int64_t chunks = static_cast<int64_t>(keys_.size());
      const uint64_t key = keys_.empty() ? 0 : keys_[0];
      // The time the pull waited for the chunks to become readable (sync: the other
      // workers' pushes of the step before; ssp: the slowest worker).
      if (readable - start_ > absl::Microseconds(1)) {
        RecordRequest(trace_, "wait for pushes", "waits", TraceMicros(start_),
                      TraceMicros(readable), chunks, key, 0);
      }
      RecordRequest(trace_, trace_.name, "requests", trace_.received_us, done, chunks, key,
                    trace_.push_bytes + pulled_bytes_);
    }
    reactor_->Finish(ToGrpcStatus(error));
  }

  // Encodes the chunks' parameters straight from the store into pooled buffers (the one
  // copy of a pull on this side), referenced by the reply's slices.
  absl::Status Fill() {
    const bool half = dtype_ == DTYPE_F16;
    const size_t size = half ? 2 : 4;
    std::vector<wire::ChunkRef> chunks;
    std::vector<PooledBuffer*> buffers;
    chunks.reserve(keys_.size());
    buffers.reserve(keys_.size());
    auto release_all = [&buffers] {
      for (PooledBuffer* b : buffers) PooledBuffer::Release(b);
    };
    int64_t clock = INT64_MAX;
    int64_t bytes = 0;
    for (uint64_t key : keys_) {
      const int64_t n = job_->placement.chunk(key).length;
      PooledBuffer* b = PooledBuffer::New(n * size);
      buffers.push_back(b);
      auto c = job_->store->ReadWith(key, [&](absl::Span<const float> params) {
        const int64_t m = std::min<int64_t>(n, static_cast<int64_t>(params.size()));
        if (half) {
          FloatToHalf(params.data(), reinterpret_cast<uint16_t*>(b->data), m);
        } else {
          std::memcpy(b->data, params.data(), m * sizeof(float));
        }
      });
      if (!c.ok()) {
        release_all();
        return c.status();
      }
      clock = std::min(clock, *c);
      chunks.push_back(
          {key, static_cast<DType>(dtype_), absl::Span<const uint8_t>(b->data, n * size)});
      bytes += n * static_cast<int64_t>(size);
    }
    wire::EncodedMessage encoded;
    const int64_t server_micros = absl::ToInt64Microseconds(absl::Now() - received_);
    wire::EncodePullResponse(
        {keys_.empty() ? 0 : clock, job_->store->max_staleness(), server_micros}, chunks, &encoded);
    size_t next = 0;
    *response_ = wire::ToByteBuffer(encoded, [&](const uint8_t* data, size_t n) {
      return wire::ReferenceSlice(data, n, &PooledBuffer::Release, buffers[next++]);
    });
    pull_bytes_->fetch_add(bytes, std::memory_order_relaxed);
    pulled_bytes_ = bytes;
    if (job_->metrics != nullptr) job_->metrics->pull_bytes.Increment(static_cast<double>(bytes));
    return absl::OkStatus();
  }

  std::shared_ptr<ServedJob> job_;
  grpc::ServerUnaryReactor* reactor_;
  std::vector<uint64_t> keys_;
  const int dtype_;
  grpc::ByteBuffer* response_;
  std::atomic<int64_t>* pull_bytes_;
  std::atomic<int> remaining_;
  const absl::Time start_;     // when metrics are on or the request is traced
  const absl::Time received_;  // the call, by gRPC's thread (the reply's server_micros)
  const RequestTrace trace_;
  int64_t pulled_bytes_ = 0;  // set by Fill()
  absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  absl::Mutex wait_mu_;
  bool cancelled_ ABSL_GUARDED_BY(wait_mu_) = false;
  // (key, waiter id) of the chunks this pull may still wait for.
  std::vector<std::pair<uint64_t, uint64_t>> waiting_ ABSL_GUARDED_BY(wait_mu_);
};

// The reactor of Pull and PushPull: when the client cancels or its deadline passes, the pull
// leaves the chunks' waiting lists at once instead of staying queued until its step comes.
class PullReactor : public grpc::ServerUnaryReactor {
 public:
  void Attach(std::shared_ptr<PendingPull> pull) {
    bool cancelled;
    {
      absl::MutexLock lock(&mu_);
      cancelled = cancelled_;
      pull_ = pull;
    }
    if (cancelled) pull->Cancel();
  }
  void OnCancel() override {
    std::shared_ptr<PendingPull> pull;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      pull = pull_;
    }
    if (pull != nullptr) pull->Cancel();
  }
  void OnDone() override { delete this; }

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<PendingPull> pull_ ABSL_GUARDED_BY(mu_);
};

void StartPull(std::shared_ptr<ServedJob> job, grpc::ServerUnaryReactor* reactor,
               std::vector<uint64_t> keys, int worker, int64_t step, int dtype,
               grpc::ByteBuffer* response, std::atomic<int64_t>* pull_bytes, absl::Time received,
               RequestTrace trace) {
  if (job->metrics != nullptr) job->metrics->pull_requests.Increment();
  for (uint64_t key : keys) {
    if (!job->store->Owns(key)) {
      if (job->metrics != nullptr) job->metrics->pull_errors.Increment();
      reactor->Finish(ToGrpcStatus(absl::NotFoundError(
          absl::StrCat("chunk ", key, " of job ", job->id, " is not on server ", job->rank))));
      return;
    }
  }
  auto pending = std::make_shared<PendingPull>(std::move(job), reactor, std::move(keys), dtype,
                                               response, pull_bytes, received, std::move(trace));
  // Pull and PushPull calls (the only ones that get here) run on a PullReactor.
  static_cast<PullReactor*>(reactor)->Attach(pending);
  pending->Start(worker, step);
}

}  // namespace

PsService::PsService(JobRegistry* registry, Options options)
    : registry_(registry),
      authz_(options.authorize),
      drop_push_replies_(options.drop_push_replies),
      push_delay_(options.push_delay),
      counters_(std::make_shared<Counters>()),
      trace_(std::make_shared<TraceRecorder>()) {
  if (options.work_threads > 0) pool_ = std::make_unique<WorkPool>(options.work_threads);
}

PsService::~PsService() = default;

template <typename Fn>
void PsService::Dispatch(Fn fn) {
  if (pool_ == nullptr) return fn();
  pool_->Run(std::move(fn));
}

void PsService::DispatchWork(absl::AnyInvocable<void()> fn) { Dispatch(std::move(fn)); }

WireCounters PsService::counters() const {
  WireCounters c;
  c.push_payload_bytes = counters_->push_bytes.load();
  c.pull_payload_bytes = counters_->pull_bytes.load();
  c.push_rpcs = counters_->push_rpcs.load();
  c.pull_rpcs = counters_->pull_rpcs.load();
  c.push_payloads = counters_->payloads.load();
  c.push_payload_pieces = counters_->pieces.load();
  return c;
}

grpc::ServerUnaryReactor* PsService::InitJob(grpc::CallbackServerContext* ctx,
                                             const InitJobRequest* request,
                                             InitJobResponse* response) {
  if (auto peer = authz_.Check(*ctx, RpcMethod::kInitJob); !peer.ok()) {
    return Finish(ctx, peer.status());
  }
  auto job = registry_->Init(*request);
  if (!job.ok()) return Finish(ctx, job.status());
  response->set_num_chunks(static_cast<int64_t>((*job)->store->keys().size()));
  response->set_num_bytes((*job)->store->num_bytes());
  response->set_step((*job)->store->stats().min_step);
  return Finish(ctx, absl::OkStatus());
}

absl::Status PsService::CheckWorker(RpcMethod method, const std::optional<PeerIdentity>& peer,
                                    const ServedJob& job, int worker) {
  if (!peer.has_value()) return absl::OkStatus();  // --insecure: no identities
  const std::string name = job.WorkerIdentity(worker);
  if (name.empty()) {
    return authz_.Deny(method, *peer,
                       absl::StrCat("the coordinator named no certificate for worker rank ", worker,
                                    " of job ", job.id));
  }
  if (name != peer->name) {
    return authz_.Deny(
        method, *peer,
        absl::StrCat("worker rank ", worker, " of job ", job.id, " is assigned to '", name, "'"));
  }
  return absl::OkStatus();
}

void PsService::HandlePush(grpc::ServerUnaryReactor* reactor, const grpc::ByteBuffer* request,
                           grpc::ByteBuffer* response, bool then_pull,
                           const std::optional<PeerIdentity>& peer, absl::Time received) {
  const bool tracing = trace_->armed();  // the one check when no trace runs
  const absl::Time start = registry_->metrics() || tracing ? absl::Now() : absl::InfinitePast();
  std::vector<grpc::Slice> slices;
  std::vector<Payload::Piece> pieces;
  wire::PushRequestView req;
  absl::Status status = wire::ReadPieces(*request, &slices, &pieces);
  if (status.ok()) status = wire::DecodePushRequest(pieces, &req);
  if (!status.ok()) return reactor->Finish(ToGrpcStatus(status));
  auto job = registry_->Get(req.job_id, req.generation);
  if (!job.ok()) return reactor->Finish(ToGrpcStatus(job.status()));
  status =
      CheckWorker(then_pull ? RpcMethod::kPushPull : RpcMethod::kPush, peer, **job, req.worker);
  if (!status.ok()) return reactor->Finish(ToGrpcStatus(status));
  if (then_pull) status = CheckPullDtype(req.pull_dtype);
  RequestTrace trace;
  if (tracing && trace_->Wants(req.job_id, req.step)) {
    trace.recorder = trace_;
    trace.name = then_pull ? "PushPull" : "Push";
    trace.step = req.step;
    trace.worker = req.worker;
    trace.received_us = TraceMicros(start);
  }
  if (status.ok() && push_delay_ > absl::ZeroDuration()) absl::SleepFor(push_delay_);
  const absl::Time apply_start = trace.recorder != nullptr ? absl::Now() : absl::InfinitePast();
  if (status.ok()) status = ApplyPush(**job, req);
  counters_->push_rpcs.fetch_add(1, std::memory_order_relaxed);
  int64_t bytes = 0, pieces_seen = 0;
  for (const auto& c : req.chunks) {
    bytes += c.data.bytes();
    pieces_seen += static_cast<int64_t>(c.data.pieces().size());
  }
  const uint64_t first_key = req.chunks.empty() ? 0 : req.chunks[0].key;
  const int64_t num_chunks = static_cast<int64_t>(req.chunks.size());
  if (trace.recorder != nullptr) {
    trace.push_bytes = bytes;
    RecordRequest(trace, "apply", "apply", TraceMicros(apply_start), TraceMicros(absl::Now()),
                  num_chunks, first_key, bytes);
  }
  counters_->push_bytes.fetch_add(bytes, std::memory_order_relaxed);
  counters_->payloads.fetch_add(static_cast<int64_t>(req.chunks.size()), std::memory_order_relaxed);
  counters_->pieces.fetch_add(pieces_seen, std::memory_order_relaxed);
  if (ServerJobMetrics* m = (*job)->metrics.get(); m != nullptr) {
    m->push_requests.Increment();
    m->push_bytes.Increment(static_cast<double>(bytes));
    if (!status.ok()) m->push_errors.Increment();
    m->push_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  if (!status.ok()) return reactor->Finish(ToGrpcStatus(status));
  if (drop_push_replies_ > 0 && pushes_seen_.fetch_add(1) % drop_push_replies_ == 0) {
    return reactor->Finish(ToGrpcStatus(absl::UnavailableError(
        "injected fault: push applied, reply dropped (--debug_drop_push_replies)")));
  }
  if (!then_pull) {
    PushResponse r;
    r.set_server_step((*job)->store->stats().min_step);
    *response = wire::SerializeSmall(r);
    if (trace.recorder != nullptr) {
      RecordRequest(trace, trace.name, "requests", trace.received_us, TraceMicros(absl::Now()),
                    num_chunks, first_key, bytes);
    }
    return reactor->Finish(grpc::Status::OK);
  }
  std::vector<uint64_t> keys;
  keys.reserve(req.chunks.size());
  for (const auto& c : req.chunks) keys.push_back(c.key);
  counters_->pull_rpcs.fetch_add(1, std::memory_order_relaxed);
  StartPull(*std::move(job), reactor, std::move(keys), req.worker, req.step + 1, req.pull_dtype,
            response, &counters_->pull_bytes, received, std::move(trace));
}

void PsService::HandlePull(grpc::ServerUnaryReactor* reactor, const grpc::ByteBuffer* request,
                           grpc::ByteBuffer* response, const std::optional<PeerIdentity>& peer,
                           absl::Time received) {
  const bool tracing = trace_->armed();  // the one check when no trace runs
  PullRequest req;
  {
    grpc::ByteBuffer copy(*request);  // references the slices
    grpc::ProtoBufferReader reader(&copy);
    if (!req.ParseFromZeroCopyStream(&reader)) {
      return reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError("malformed PullRequest")));
    }
  }
  auto job = registry_->Get(req.job_id(), req.generation());
  if (!job.ok()) return reactor->Finish(ToGrpcStatus(job.status()));
  if (absl::Status s = CheckWorker(RpcMethod::kPull, peer, **job, req.worker()); !s.ok()) {
    return reactor->Finish(ToGrpcStatus(s));
  }
  if (absl::Status s = CheckPullDtype(req.dtype()); !s.ok()) {
    return reactor->Finish(ToGrpcStatus(s));
  }
  counters_->pull_rpcs.fetch_add(1, std::memory_order_relaxed);
  RequestTrace trace;
  if (tracing && trace_->Wants(req.job_id(), req.step())) {
    trace.recorder = trace_;
    trace.name = "Pull";
    trace.step = req.step();
    trace.worker = req.worker();
    trace.received_us = TraceMicros(received);
  }
  StartPull(*std::move(job), reactor, {req.keys().begin(), req.keys().end()}, req.worker(),
            req.step(), req.dtype(), response, &counters_->pull_bytes, received, std::move(trace));
}

grpc::ServerUnaryReactor* PsService::Push(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) {
  auto peer = authz_.Check(*ctx, RpcMethod::kPush);
  if (!peer.ok()) return Finish(ctx, peer.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Dispatch([this, reactor, request, response, peer = *std::move(peer), received = absl::Now()] {
    HandlePush(reactor, request, response, false, peer, received);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PsService::Pull(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) {
  auto peer = authz_.Check(*ctx, RpcMethod::kPull);
  if (!peer.ok()) return Finish(ctx, peer.status());
  grpc::ServerUnaryReactor* reactor = new PullReactor;
  Dispatch([this, reactor, request, response, peer = *std::move(peer), received = absl::Now()] {
    HandlePull(reactor, request, response, peer, received);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PsService::PushPull(grpc::CallbackServerContext* ctx,
                                              const grpc::ByteBuffer* request,
                                              grpc::ByteBuffer* response) {
  auto peer = authz_.Check(*ctx, RpcMethod::kPushPull);
  if (!peer.ok()) return Finish(ctx, peer.status());
  grpc::ServerUnaryReactor* reactor = new PullReactor;
  Dispatch([this, reactor, request, response, peer = *std::move(peer), received = absl::Now()] {
    HandlePush(reactor, request, response, true, peer, received);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PsService::Checkpoint(grpc::CallbackServerContext* ctx,
                                                const CheckpointRequest* request,
                                                CheckpointResponse* response) {
  if (auto peer = authz_.Check(*ctx, RpcMethod::kCheckpoint); !peer.ok()) {
    return Finish(ctx, peer.status());
  }
  auto job = registry_->Get(request->job_id(), request->generation());
  if (!job.ok()) {
    // A request for another generation refers to a state this server no longer serves.
    const absl::Status s = job.status();
    return Finish(ctx, s.code() == absl::StatusCode::kAborted
                           ? absl::FailedPreconditionError(s.message())
                           : s);
  }
  if ((*job)->spec.checkpoint.dir.empty()) {
    return Finish(ctx, absl::FailedPreconditionError(
                           absl::StrCat("job ", request->job_id(), " has no checkpoint.dir")));
  }
  if (absl::Status s = (*job)->ScheduleCheckpoint(request->step()); !s.ok()) {
    return Finish(ctx, s);
  }
  response->set_step(request->step());
  response->set_path(CheckpointStepDir((*job)->spec.checkpoint.dir, (*job)->id, request->step()));
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PsService::EndJob(grpc::CallbackServerContext* ctx,
                                            const EndJobRequest* request, EndJobResponse*) {
  if (auto peer = authz_.Check(*ctx, RpcMethod::kEndJob); !peer.ok()) {
    return Finish(ctx, peer.status());
  }
  return Finish(ctx, registry_->End(request->job_id(), request->generation()));
}

grpc::ServerUnaryReactor* PsService::GetStats(grpc::CallbackServerContext* ctx,
                                              const GetStatsRequest* request,
                                              ServerStats* response) {
  if (auto peer = authz_.Check(*ctx, RpcMethod::kGetStats); !peer.ok()) {
    return Finish(ctx, peer.status());
  }
  for (const auto& [method, n] : authz_.denials()) (*response->mutable_denied_calls())[method] = n;
  const WireCounters w = counters();
  if (request->job_id().empty()) {  // the server's own figures only
    response->set_bytes_in(w.push_payload_bytes);
    response->set_bytes_out(w.pull_payload_bytes);
    return Finish(ctx, absl::OkStatus());
  }
  auto job = registry_->Get(request->job_id(), request->generation());
  if (!job.ok()) return Finish(ctx, job.status());
  const ShardStats s = (*job)->store->stats();
  response->set_waiting_pulls(s.waiting_pulls);
  response->set_nonfinite_pushes_rejected(s.nonfinite_rejected);
  response->set_nonfinite_chunks_skipped(s.nonfinite_skipped);
  response->set_pushes(s.pushes);
  response->set_pulls(s.pulls);
  response->set_duplicate_pushes(s.duplicate_pushes);
  response->set_step(s.min_step);
  response->set_max_staleness(s.max_staleness);
  if ((*job)->sparse != nullptr) {
    const TableStats t = (*job)->sparse->stats();
    SparseTableStats* out = response->mutable_table();
    out->set_rows(t.rows);
    out->set_memory_bytes(t.memory_bytes);
    out->set_raw_row_bytes((*job)->sparse->table().raw_row_bytes());
    out->set_evictions(t.evictions);
    out->set_not_admitted_updates(t.not_admitted_updates);
    out->set_lookups(t.lookups);
    out->set_updates(t.updates);
    out->set_sparse_pulls((*job)->sparse->pulls());
    out->set_sparse_pushes((*job)->sparse->pushes());
    out->set_step((*job)->sparse->step());
    out->set_rank((*job)->rank);
  }
  // Payload bytes through this server (every job it served).
  response->set_bytes_in(w.push_payload_bytes);
  response->set_bytes_out(w.pull_payload_bytes);
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PsService::Trace(grpc::CallbackServerContext* ctx,
                                           const TraceRequest* request, TraceResponse* response) {
  if (auto peer = authz_.Check(*ctx, RpcMethod::kTrace); !peer.ok()) {
    return Finish(ctx, peer.status());
  }
  response->set_server_time_us(TraceMicros(absl::Now()));
  if (request->action() == TraceRequest::ACTION_PING) return Finish(ctx, absl::OkStatus());
  auto job = registry_->Get(request->job_id(), request->generation());
  if (!job.ok()) return Finish(ctx, job.status());
  response->set_step((*job)->store->stats().min_step);
  switch (request->action()) {
    case TraceRequest::ACTION_ARM: {
      const TraceSteps& steps = request->steps();
      if (steps.first_step() < 0 || steps.last_step() < steps.first_step() ||
          steps.last_step() - steps.first_step() + 1 > kMaxTraceSteps) {
        return Finish(ctx, absl::InvalidArgumentError(absl::StrCat(
                               "steps: want 0 <= first <= last, at most ", kMaxTraceSteps,
                               " steps; got ", steps.first_step(), "-", steps.last_step())));
      }
      trace_->Arm(request->job_id(), steps.first_step(), steps.last_step());
      spdlog::info("job {}: tracing steps {}-{}", request->job_id(), steps.first_step(),
                   steps.last_step());
      return Finish(ctx, absl::OkStatus());
    }
    case TraceRequest::ACTION_COLLECT: {
      const TraceRecorder::Window window = trace_->window();
      if (window.job_id != request->job_id()) {
        return Finish(
            ctx, absl::FailedPreconditionError(absl::StrCat("no trace of job ", request->job_id(),
                                                            " on server ", (*job)->rank)));
      }
      trace_->Disarm();
      TraceRecorder::Taken taken = trace_->Take();
      response->mutable_events()->Reserve(static_cast<int>(taken.events.size()));
      for (const TraceEvent& e : taken.events) ToProto(e, response->add_events());
      response->set_dropped(taken.dropped);
      return Finish(ctx, absl::OkStatus());
    }
    default:
      return Finish(
          ctx, absl::InvalidArgumentError(absl::StrCat("action: want ACTION_PING, ACTION_ARM or "
                                                       "ACTION_COLLECT, got ",
                                                       static_cast<int>(request->action()))));
  }
}

}  // namespace psd
