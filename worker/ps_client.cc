#include "worker/ps_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstring>
#include <list>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "proto/parameter_server.grpc.pb.h"

namespace psd {

class PsClient::Impl {
 public:
  Impl(const Placement* placement, std::vector<std::string> servers, Options options)
      : placement_(placement), servers_(std::move(servers)), options_(std::move(options)) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
    args.SetMaxSendMessageSize(static_cast<int>(options_.max_message_bytes));
    // Separate subchannel pools keep each channel on its own TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    for (const std::string& address : servers_) {
      std::vector<std::unique_ptr<ParameterServer::Stub>> stubs;
      for (int i = 0; i < std::max(1, options_.channels_per_server); ++i) {
        stubs.push_back(ParameterServer::NewStub(
            grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
      }
      stubs_.push_back(std::move(stubs));
    }
  }

  ~Impl() {
    Cancel();
    Wait().IgnoreError();
  }

  enum class Kind { kPush, kPull, kPushPull };

  void Start(Kind kind, uint32_t tensor, int64_t step, const float* grad, float* params,
             TensorDone done) {
    const auto keys = placement_->TensorKeys(tensor);
    auto remaining = std::make_shared<std::atomic<int>>(static_cast<int>(keys.size()));
    for (uint64_t key : keys) StartChunk(kind, key, step, grad, params, remaining, done);
  }

  absl::Status Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &in_flight_));
    absl::Status s = error_;
    error_ = absl::OkStatus();
    return s;
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    for (grpc::ClientContext* ctx : active_) ctx->TryCancel();
  }

  int64_t max_staleness() const { return max_staleness_.load(); }

 private:
  struct Call {
    grpc::ClientContext ctx;
    PushRequest push;
    PullRequest pull;
    PushResponse push_response;
    PullResponse pull_response;
    std::list<grpc::ClientContext*>::iterator active;
  };

  void StartChunk(Kind kind, uint64_t key, int64_t step, const float* grad, float* params,
                  std::shared_ptr<std::atomic<int>> remaining, TensorDone done) {
    const ChunkInfo& chunk = placement_->chunk(key);
    auto call = std::make_shared<Call>();
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    if (kind == Kind::kPull) {
      PullRequest& r = call->pull;
      r.set_job_id(options_.job_id);
      r.set_generation(options_.generation);
      r.set_worker(options_.worker);
      r.set_step(step);
      r.add_keys(key);
    } else {
      PushRequest& r = call->push;
      r.set_job_id(options_.job_id);
      r.set_generation(options_.generation);
      r.set_worker(options_.worker);
      r.set_step(step);
      r.set_request_id(next_request_id_++);
      r.set_total_steps(options_.total_steps);
      Chunk* c = r.add_chunks();
      c->set_key(key);
      c->set_dtype(DTYPE_F32);
      c->set_data(grad + chunk.offset, chunk.length * sizeof(float));
    }
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Impl::HasRoom));
      ++in_flight_;
      call->active = active_.insert(active_.end(), &call->ctx);
      if (cancelled_) call->ctx.TryCancel();
    }
    const int server = chunk.server;
    ParameterServer::Stub* stub = stubs_[server][key % stubs_[server].size()].get();
    auto on_done = [this, call, kind, key, server, params, remaining, done](grpc::Status status) {
      absl::Status result = FromGrpcStatus(status);
      if (result.ok() && kind != Kind::kPush) result = CopyOut(call->pull_response, key, params);
      if (!result.ok()) {
        result =
            absl::Status(result.code(), absl::StrCat(kind == Kind::kPull ? "pull from" : "push to",
                                                     " server ", server, " (", servers_[server],
                                                     "), chunk ", key, ": ", result.message()));
      }
      if (result.ok() && remaining->fetch_sub(1) == 1 && done) done(placement_->chunk(key).tensor);
      Finish(call.get(), result);
    };
    switch (kind) {
      case Kind::kPush:
        stub->async()->Push(&call->ctx, &call->push, &call->push_response, std::move(on_done));
        break;
      case Kind::kPull:
        stub->async()->Pull(&call->ctx, &call->pull, &call->pull_response, std::move(on_done));
        break;
      case Kind::kPushPull:
        stub->async()->PushPull(&call->ctx, &call->push, &call->pull_response, std::move(on_done));
        break;
    }
  }

  absl::Status CopyOut(const PullResponse& response, uint64_t key, float* params) {
    const ChunkInfo& chunk = placement_->chunk(key);
    if (response.chunks_size() != 1 || response.chunks(0).key() != key ||
        response.chunks(0).data().size() != chunk.length * sizeof(float)) {
      return absl::DataLossError("reply does not hold the requested chunk");
    }
    std::memcpy(params + chunk.offset, response.chunks(0).data().data(),
                chunk.length * sizeof(float));
    int64_t seen = max_staleness_.load();
    while (response.staleness() > seen &&
           !max_staleness_.compare_exchange_weak(seen, response.staleness())) {
    }
    return absl::OkStatus();
  }

  void Finish(Call* call, const absl::Status& result) {
    absl::MutexLock lock(&mu_);
    active_.erase(call->active);
    if (!result.ok() && error_.ok()) error_ = result;
    --in_flight_;
  }

  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ < std::max(1, options_.max_in_flight);
  }

  const Placement* placement_;
  const std::vector<std::string> servers_;
  const Options options_;
  std::vector<std::vector<std::unique_ptr<ParameterServer::Stub>>> stubs_;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<int64_t> max_staleness_{0};
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
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

}  // namespace psd
