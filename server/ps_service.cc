#include "server/ps_service.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace psd {
namespace {

// Note: CallbackServerContext::DefaultReactor() constructs a fresh reactor on every call, so
// each handler calls it exactly once.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status ApplyPush(ServedJob& job, const PushRequest& request) {
  for (const Chunk& chunk : request.chunks()) {
    if (chunk.dtype() != DTYPE_F32) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", chunk.key(), ": dtype ",
                                                     DType_Name(chunk.dtype()),
                                                     " is not supported on this path"));
    }
    if (chunk.data().size() % sizeof(float) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", chunk.key(), ": payload of ",
                                                     chunk.data().size(),
                                                     " bytes is not whole floats"));
    }
    const absl::Span<const float> grad(reinterpret_cast<const float*>(chunk.data().data()),
                                       chunk.data().size() / sizeof(float));
    PSD_RETURN_IF_ERROR(job.store->Push(request.worker(), request.step(), chunk.key(), grad,
                                        request.total_steps()));
  }
  return absl::OkStatus();
}

// One pull in flight: completes when every requested chunk is readable.
class PendingPull : public std::enable_shared_from_this<PendingPull> {
 public:
  PendingPull(std::shared_ptr<ServedJob> job, grpc::ServerUnaryReactor* reactor,
              std::vector<uint64_t> keys, PullResponse* response)
      : job_(std::move(job)),
        reactor_(reactor),
        keys_(std::move(keys)),
        response_(response),
        remaining_(static_cast<int>(keys_.size())) {}

  void Start(int worker, int64_t step) {
    if (keys_.empty()) return Complete();
    auto self = shared_from_this();
    for (uint64_t key : keys_) {
      job_->store->WhenReadable(key, worker, step, [self](absl::Status s) { self->Done(s); });
    }
  }

 private:
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
    if (error.ok()) error = Fill();
    reactor_->Finish(ToGrpcStatus(error));
  }

  absl::Status Fill() {
    int64_t clock = INT64_MAX;
    for (uint64_t key : keys_) {
      Chunk* out = response_->add_chunks();
      out->set_key(key);
      out->set_dtype(DTYPE_F32);
      const int64_t n = job_->placement.chunk(key).length;
      std::string* data = out->mutable_data();
      data->resize(n * sizeof(float));
      PSD_ASSIGN_OR_RETURN(
          int64_t c,
          job_->store->Read(key, absl::MakeSpan(reinterpret_cast<float*>(data->data()), n)));
      clock = std::min(clock, c);
    }
    response_->set_server_step(keys_.empty() ? 0 : clock);
    response_->set_staleness(job_->store->stats().max_staleness);
    return absl::OkStatus();
  }

  std::shared_ptr<ServedJob> job_;
  grpc::ServerUnaryReactor* reactor_;
  std::vector<uint64_t> keys_;
  PullResponse* response_;
  std::atomic<int> remaining_;
  absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

void StartPull(std::shared_ptr<ServedJob> job, grpc::ServerUnaryReactor* reactor,
               std::vector<uint64_t> keys, int worker, int64_t step, PullResponse* response) {
  for (uint64_t key : keys) {
    if (!job->store->Owns(key)) {
      reactor->Finish(ToGrpcStatus(absl::NotFoundError(
          absl::StrCat("chunk ", key, " of job ", job->id, " is not on server ", job->rank))));
      return;
    }
  }
  auto pending = std::make_shared<PendingPull>(std::move(job), reactor, std::move(keys), response);
  pending->Start(worker, step);
}

}  // namespace

grpc::ServerUnaryReactor* PsService::InitJob(grpc::CallbackServerContext* ctx,
                                             const InitJobRequest* request,
                                             InitJobResponse* response) {
  auto job = registry_->Init(*request);
  if (!job.ok()) return Finish(ctx, job.status());
  response->set_num_chunks(static_cast<int64_t>((*job)->store->keys().size()));
  response->set_num_bytes((*job)->store->num_bytes());
  response->set_step((*job)->store->stats().min_step);
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PsService::Push(grpc::CallbackServerContext* ctx,
                                          const PushRequest* request, PushResponse* response) {
  auto job = registry_->Get(request->job_id(), request->generation());
  if (!job.ok()) return Finish(ctx, job.status());
  absl::Status status = ApplyPush(**job, *request);
  response->set_server_step((*job)->store->stats().min_step);
  return Finish(ctx, status);
}

grpc::ServerUnaryReactor* PsService::Pull(grpc::CallbackServerContext* ctx,
                                          const PullRequest* request, PullResponse* response) {
  auto job = registry_->Get(request->job_id(), request->generation());
  if (!job.ok()) return Finish(ctx, job.status());
  if (request->dtype() != DTYPE_F32) {
    return Finish(ctx, absl::InvalidArgumentError("pull: only f32 is supported on this path"));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  StartPull(*std::move(job), reactor, {request->keys().begin(), request->keys().end()},
            request->worker(), request->step(), response);
  return reactor;
}

grpc::ServerUnaryReactor* PsService::PushPull(grpc::CallbackServerContext* ctx,
                                              const PushRequest* request, PullResponse* response) {
  auto job = registry_->Get(request->job_id(), request->generation());
  if (!job.ok()) return Finish(ctx, job.status());
  absl::Status status = ApplyPush(**job, *request);
  if (!status.ok()) return Finish(ctx, status);
  std::vector<uint64_t> keys;
  keys.reserve(request->chunks_size());
  for (const Chunk& c : request->chunks()) keys.push_back(c.key());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  StartPull(*std::move(job), reactor, std::move(keys), request->worker(), request->step() + 1,
            response);
  return reactor;
}

grpc::ServerUnaryReactor* PsService::EndJob(grpc::CallbackServerContext* ctx,
                                            const EndJobRequest* request, EndJobResponse*) {
  registry_->End(request->job_id());
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PsService::GetStats(grpc::CallbackServerContext* ctx,
                                              const GetStatsRequest* request,
                                              ServerStats* response) {
  auto job = registry_->Get(request->job_id(), 0);
  if (!job.ok()) return Finish(ctx, job.status());
  const ShardStats s = (*job)->store->stats();
  response->set_pushes(s.pushes);
  response->set_pulls(s.pulls);
  response->set_duplicate_pushes(s.duplicate_pushes);
  response->set_step(s.min_step);
  response->set_max_staleness(s.max_staleness);
  return Finish(ctx, absl::OkStatus());
}

}  // namespace psd
