// The sparse-model RPCs of PsService: pulls of embedding rows (which may wait for the
// table's clock) and pushes of row gradients (server/sparse_store.h). Both are raw methods on
// proto/wire.h's codec: a push's row gradients are read where gRPC received them (converted
// from f16 or gathered across slices in the one pass that stages them for the table), and a
// pull's rows are looked up straight into a pooled buffer that the reply's slice references.
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/buffer_pool.h"
#include "common/fp16.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "proto/wire.h"
#include "server/ps_service.h"

namespace psd {
namespace {

absl::StatusOr<std::shared_ptr<ServedJob>> SparseJob(JobRegistry* registry,
                                                     const std::string& job_id,
                                                     int64_t generation) {
  absl::StatusOr<std::shared_ptr<ServedJob>> job = registry->Get(job_id, generation);
  if (job.ok() && (*job)->sparse == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has no embedding table (its model is not sparse)"));
  }
  return job;
}

// A sparse pull that may wait: leaves the table's waiting list when its client gives up.
class SparsePullReactor : public grpc::ServerUnaryReactor {
 public:
  explicit SparsePullReactor(std::shared_ptr<ServedJob> job) : job_(std::move(job)) {}
  // The pull waits as `id` (0: it did not wait).
  void Waiting(uint64_t id) {
    bool cancelled;
    {
      absl::MutexLock lock(&mu_);
      cancelled = cancelled_;
      id_ = id;
    }
    if (cancelled && id != 0) job_->sparse->CancelWait(id, Gone());
  }
  void OnCancel() override {
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      id = id_;
    }
    if (id != 0) job_->sparse->CancelWait(id, Gone());
  }
  void OnDone() override { delete this; }

 private:
  static absl::Status Gone() {
    return absl::CancelledError("the sparse pull was cancelled or its deadline passed");
  }
  std::shared_ptr<ServedJob> job_;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t id_ ABSL_GUARDED_BY(mu_) = 0;
};

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

// The rows of a pull (`values` floats) looked up into a pooled buffer of the request's dtype.
absl::StatusOr<PooledBuffer*> LookupRows(SparseStore& store,
                                         const wire::SparsePullRequestView& request,
                                         size_t values) {
  PooledBuffer* b = PooledBuffer::New(values * wire::DTypeSize(request.dtype));
  absl::Status s;
  if (request.dtype == DTYPE_F16) {
    std::vector<float> staged(values);
    s = store.Lookup(request.keys, request.step, request.read_only, absl::MakeSpan(staged));
    FloatToHalf(staged.data(), reinterpret_cast<uint16_t*>(b->data), static_cast<int64_t>(values));
  } else {
    s = store.Lookup(request.keys, request.step, request.read_only,
                     absl::Span<float>(reinterpret_cast<float*>(b->data), values));
  }
  if (!s.ok()) {
    PooledBuffer::Release(b);
    return s;
  }
  return b;
}

// The push's row gradients as floats: in place when they arrived as one aligned f32 range,
// else converted or gathered into `staging`.
absl::Span<const float> GradValues(const Payload& grads, std::vector<float>* staging) {
  const auto& pieces = grads.pieces();
  if (grads.type() == WireType::kF32 && pieces.size() == 1 &&
      reinterpret_cast<uintptr_t>(pieces[0].data()) % alignof(float) == 0) {
    return {reinterpret_cast<const float*>(pieces[0].data()),
            static_cast<size_t>(grads.elements())};
  }
  staging->resize(static_cast<size_t>(grads.elements()));
  grads.CopyTo(staging->data());
  return *staging;
}

// Decodes a raw request with `decode`; the slices stay referenced in `slices`.
template <typename View, typename Decode>
absl::Status ReadRequest(const grpc::ByteBuffer& request, Decode decode,
                         std::vector<grpc::Slice>* slices, View* view) {
  std::vector<Payload::Piece> pieces;
  PSD_RETURN_IF_ERROR(wire::ReadPieces(request, slices, &pieces));
  return decode(pieces, view);
}

}  // namespace

grpc::ServerUnaryReactor* PsService::SparsePull(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* raw,
                                                grpc::ByteBuffer* response) {
  const absl::Time received = absl::Now();
  auto peer = authz_.Check(*ctx, RpcMethod::kSparsePull);
  if (!peer.ok()) return FinishNow(ctx, peer.status());
  auto request = std::make_shared<wire::SparsePullRequestView>();
  {
    std::vector<grpc::Slice> slices;
    if (absl::Status s = ReadRequest(*raw, wire::DecodeSparsePullRequest, &slices, request.get());
        !s.ok()) {
      return FinishNow(ctx, s);
    }
  }
  if (wire::DTypeSize(request->dtype) == 0) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                              "sparse pull: dtype ", request->dtype, " is not supported")));
  }
  auto job = SparseJob(registry_, request->job_id, request->generation);
  if (!job.ok()) return FinishNow(ctx, job.status());
  if (absl::Status s = CheckWorker(RpcMethod::kSparsePull, *peer, **job, request->worker);
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  auto* reactor = new SparsePullReactor(*job);
  std::shared_ptr<ServedJob> served = *job;
  std::shared_ptr<Counters> counters = counters_;
  const uint64_t id = served->sparse->WhenReadable(
      request->worker, request->step,
      [this, reactor, served, counters, request, response, received](absl::Status ready) {
        if (!ready.ok()) return reactor->Finish(ToGrpcStatus(ready));
        DispatchWork([reactor, served, counters, request, response, received] {
          const size_t values = request->keys.size() * static_cast<size_t>(served->sparse->dim());
          const size_t bytes = values * wire::DTypeSize(request->dtype);
          absl::StatusOr<PooledBuffer*> rows = LookupRows(*served->sparse, *request, values);
          if (!rows.ok()) return reactor->Finish(ToGrpcStatus(rows.status()));
          wire::EncodedMessage encoded;
          wire::EncodeSparsePullResponse(
              {served->sparse->step(), absl::ToInt64Microseconds(absl::Now() - received),
               served->sparse->dim()},
              absl::MakeConstSpan((*rows)->data, bytes), &encoded);
          PooledBuffer* owner = *rows;
          *response = wire::ToByteBuffer(encoded, [&](const uint8_t* data, size_t n) {
            return wire::ReferenceSlice(data, n, &PooledBuffer::Release, owner);
          });
          if (bytes == 0) PooledBuffer::Release(owner);  // no slice references it
          counters->pull_rpcs.fetch_add(1, std::memory_order_relaxed);
          counters->pull_bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
          reactor->Finish(grpc::Status::OK);
        });
      });
  reactor->Waiting(id);
  return reactor;
}

grpc::ServerUnaryReactor* PsService::SparsePush(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* raw,
                                                grpc::ByteBuffer* response) {
  auto peer = authz_.Check(*ctx, RpcMethod::kSparsePush);
  if (!peer.ok()) return FinishNow(ctx, peer.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::shared_ptr<Counters> counters = counters_;
  DispatchWork([this, reactor, raw, response, counters, peer = *std::move(peer)] {
    std::vector<grpc::Slice> slices;  // the request's bytes, read in place until applied
    wire::SparsePushRequestView request;
    absl::Status s = ReadRequest(*raw, wire::DecodeSparsePushRequest, &slices, &request);
    if (!s.ok()) return reactor->Finish(ToGrpcStatus(s));
    auto job = SparseJob(registry_, request.job_id, request.generation);
    if (!job.ok()) return reactor->Finish(ToGrpcStatus(job.status()));
    s = CheckWorker(RpcMethod::kSparsePush, peer, **job, request.worker);
    if (!s.ok()) return reactor->Finish(ToGrpcStatus(s));
    if (request.dtype != DTYPE_F32 && request.dtype != DTYPE_F16) {
      s = absl::InvalidArgumentError(
          absl::StrCat("sparse push: dtype ", request.dtype, " is not supported"));
    } else if (!request.grads.whole()) {
      s = absl::InvalidArgumentError(absl::StrCat(
          "sparse push: grads holds ", request.grads.bytes(), " bytes, not a whole number of ",
          request.dtype == DTYPE_F16 ? "halves" : "floats"));
    } else {
      thread_local std::vector<float> staging;
      s = (*job)->sparse->Push(request.worker, request.step, request.total_steps, request.keys,
                               GradValues(request.grads, &staging));
    }
    counters->push_rpcs.fetch_add(1, std::memory_order_relaxed);
    counters->push_bytes.fetch_add(request.grads.bytes(), std::memory_order_relaxed);
    if (!s.ok()) return reactor->Finish(ToGrpcStatus(s));
    SparsePushResponse r;
    r.set_server_step((*job)->sparse->step());
    *response = wire::SerializeSmall(r);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace psd
