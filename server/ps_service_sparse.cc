// The sparse-model RPCs of PsService: pulls of embedding rows (which may wait for the
// table's clock) and pushes of row gradients (server/sparse_store.h).
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/fp16.h"
#include "common/grpc_status.h"
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

}  // namespace

grpc::ServerUnaryReactor* PsService::SparsePull(grpc::CallbackServerContext* ctx,
                                                const SparsePullRequest* request,
                                                SparsePullResponse* response) {
  const absl::Time received = absl::Now();
  auto peer = authz_.Check(*ctx, RpcMethod::kSparsePull);
  if (!peer.ok()) return FinishNow(ctx, peer.status());
  auto job = SparseJob(registry_, request->job_id(), request->generation());
  if (!job.ok()) return FinishNow(ctx, job.status());
  if (absl::Status s = CheckWorker(RpcMethod::kSparsePull, *peer, **job, request->worker());
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  auto* reactor = new SparsePullReactor(*job);
  std::shared_ptr<ServedJob> served = *job;
  std::shared_ptr<Counters> counters = counters_;
  const uint64_t id = served->sparse->WhenReadable(
      request->worker(), request->step(),
      [this, reactor, served, counters, request, response, received](absl::Status ready) {
        if (!ready.ok()) return reactor->Finish(ToGrpcStatus(ready));
        DispatchWork([reactor, served, counters, request, response, received] {
          const int dim = served->sparse->dim();
          const size_t n = static_cast<size_t>(request->keys_size());
          const size_t values = n * static_cast<size_t>(dim);
          const auto keys = absl::MakeConstSpan(request->keys().data(), n);
          std::string* rows = response->mutable_rows();
          absl::Status s;
          if (request->dtype() == DTYPE_F16) {
            std::vector<float> staged(values);
            s = served->sparse->Lookup(keys, request->step(), request->read_only(),
                                       absl::MakeSpan(staged));
            rows->resize(values * sizeof(uint16_t));
            FloatToHalf(staged.data(), reinterpret_cast<uint16_t*>(rows->data()),
                        static_cast<int64_t>(values));
          } else if (request->dtype() == DTYPE_F32) {
            rows->resize(values * sizeof(float));
            s = served->sparse->Lookup(
                keys, request->step(), request->read_only(),
                absl::Span<float>(reinterpret_cast<float*>(rows->data()), values));
          } else {
            s = absl::InvalidArgumentError(
                absl::StrCat("sparse pull: dtype ", request->dtype(), " is not supported"));
          }
          response->set_dim(dim);
          response->set_server_step(served->sparse->step());
          response->set_server_micros(absl::ToInt64Microseconds(absl::Now() - received));
          counters->pull_rpcs.fetch_add(1, std::memory_order_relaxed);
          counters->pull_bytes.fetch_add(static_cast<int64_t>(rows->size()),
                                         std::memory_order_relaxed);
          reactor->Finish(ToGrpcStatus(s));
        });
      });
  reactor->Waiting(id);
  return reactor;
}

grpc::ServerUnaryReactor* PsService::SparsePush(grpc::CallbackServerContext* ctx,
                                                const SparsePushRequest* request,
                                                SparsePushResponse* response) {
  auto peer = authz_.Check(*ctx, RpcMethod::kSparsePush);
  if (!peer.ok()) return FinishNow(ctx, peer.status());
  auto job = SparseJob(registry_, request->job_id(), request->generation());
  if (!job.ok()) return FinishNow(ctx, job.status());
  if (absl::Status s = CheckWorker(RpcMethod::kSparsePush, *peer, **job, request->worker());
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::shared_ptr<ServedJob> served = *job;
  std::shared_ptr<Counters> counters = counters_;
  DispatchWork([reactor, served, counters, request, response] {
    const std::string& grads = request->grads();
    const bool half = request->dtype() == DTYPE_F16;
    const size_t width = half ? sizeof(uint16_t) : sizeof(float);
    const auto keys =
        absl::MakeConstSpan(request->keys().data(), static_cast<size_t>(request->keys_size()));
    absl::Status s;
    if (request->dtype() != DTYPE_F32 && !half) {
      s = absl::InvalidArgumentError(
          absl::StrCat("sparse push: dtype ", request->dtype(), " is not supported"));
    } else if (grads.size() % width != 0) {
      s = absl::InvalidArgumentError(absl::StrCat("sparse push: grads holds ", grads.size(),
                                                  " bytes, not a whole number of ",
                                                  half ? "halves" : "floats"));
    } else if (half) {
      std::vector<float> decoded(grads.size() / width);
      HalfToFloat(reinterpret_cast<const uint8_t*>(grads.data()), decoded.data(),
                  static_cast<int64_t>(decoded.size()));
      s = served->sparse->Push(request->worker(), request->step(), request->total_steps(), keys,
                               decoded);
    } else {
      s = served->sparse->Push(request->worker(), request->step(), request->total_steps(), keys,
                               absl::MakeConstSpan(reinterpret_cast<const float*>(grads.data()),
                                                   grads.size() / sizeof(float)));
    }
    counters->push_rpcs.fetch_add(1, std::memory_order_relaxed);
    counters->push_bytes.fetch_add(static_cast<int64_t>(grads.size()), std::memory_order_relaxed);
    response->set_server_step(served->sparse->step());
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

}  // namespace psd
