#include "worker/sparse_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/fp16.h"
#include "common/grpc_status.h"
#include "common/placement.h"
#include "common/status_macros.h"
#include "common/tls_options.h"
#include "common/transport_options.h"

namespace psd {

absl::StatusOr<std::unique_ptr<SparseClient>> SparseClient::Create(std::vector<std::string> servers,
                                                                   PsClient::Options options) {
  if (servers.empty()) return absl::InvalidArgumentError("sparse client: no servers");
  grpc::ChannelArguments args;
  TransportOptions transport = options.transport;
  transport.max_message_bytes = options.max_message_bytes;
  ApplyTransportOptions(transport, &args);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  PSD_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                       MakeChannelCredentials(options.tls, PeerRole::kServer, &args));
  std::vector<std::unique_ptr<ParameterServer::Stub>> stubs;
  for (const std::string& address : servers) {
    stubs.push_back(
        ParameterServer::NewStub(grpc::CreateCustomChannel(address, credentials, args)));
  }
  return std::unique_ptr<SparseClient>(new SparseClient(std::move(stubs), std::move(options)));
}

SparseClient::SparseClient(std::vector<std::unique_ptr<ParameterServer::Stub>> stubs,
                           PsClient::Options options)
    : stubs_(std::move(stubs)), options_(std::move(options)), positions_(stubs_.size()) {}

void SparseClient::Split(absl::Span<const uint64_t> keys) {
  const int n = static_cast<int>(stubs_.size());
  for (auto& p : positions_) p.clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    positions_[SparseOwner(keys[i], n)].push_back(static_cast<uint32_t>(i));
  }
}

template <typename Request, typename Response, typename Start>
absl::Status SparseClient::CallAll(const char* what, std::vector<Request>& requests,
                                   std::vector<Response>& responses, Start start) {
  const size_t n = stubs_.size();
  std::vector<size_t> todo(n);
  for (size_t s = 0; s < n; ++s) todo[s] = s;
  const absl::Time first = absl::Now();
  absl::Duration backoff = options_.retry_initial_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::Mutex mu;
    size_t remaining = todo.size();
    std::vector<grpc::Status> results(n);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
    for (size_t s : todo) {
      contexts[s] = std::make_unique<grpc::ClientContext>();
      contexts[s]->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
      responses[s].Clear();
      rpcs_.fetch_add(1, std::memory_order_relaxed);
      start(stubs_[s].get(), contexts[s].get(), &requests[s], &responses[s],
            [&mu, &remaining, &results, s](grpc::Status st) {
              absl::MutexLock lock(&mu);
              results[s] = std::move(st);
              --remaining;
            });
    }
    {
      absl::MutexLock lock(&mu);
      while (!mu.AwaitWithTimeout(absl::Condition(
                                      +[](size_t* r) { return *r == 0; }, &remaining),
                                  absl::Milliseconds(50))) {
        if (cancelled_.load()) {
          for (size_t s : todo) contexts[s]->TryCancel();
        }
      }
    }
    std::vector<size_t> again;
    for (size_t s : todo) {
      if (results[s].ok()) continue;
      const absl::Status st = FromGrpcStatus(results[s]);
      if (st.code() == absl::StatusCode::kUnavailable && !cancelled_.load() &&
          absl::Now() - first < options_.retry_deadline) {
        again.push_back(s);
        continue;
      }
      if (cancelled_.load()) return absl::CancelledError(absl::StrCat(what, ": cancelled"));
      return absl::Status(st.code(), absl::StrCat(what, " to server ", s, " (attempt ", attempt,
                                                  "): ", st.message()));
    }
    if (again.empty()) return absl::OkStatus();
    retries_.fetch_add(static_cast<int64_t>(again.size()), std::memory_order_relaxed);
    absl::SleepFor(backoff);
    backoff = std::min(options_.retry_max_backoff, backoff * 2);
    todo = std::move(again);
  }
}

namespace {

// The fields every sparse request names: the job, the worker, the step.
template <typename Request>
void SetHeader(const PsClient::Options& o, int64_t step, Request* r) {
  r->set_job_id(o.job_id);
  r->set_generation(o.generation);
  r->set_worker(o.worker);
  r->set_step(step);
}

}  // namespace

absl::Status SparseClient::Pull(absl::Span<const uint64_t> keys, int64_t step, int dim,
                                bool read_only, absl::Span<float> out) {
  if (out.size() != keys.size() * static_cast<size_t>(dim)) {
    return absl::InternalError(absl::StrCat("sparse pull: room for ", out.size(),
                                            " floats, not keys x dim = ", keys.size() * dim));
  }
  Split(keys);
  const size_t n = stubs_.size();
  std::vector<SparsePullRequest> requests(n);
  std::vector<SparsePullResponse> responses(n);
  for (size_t s = 0; s < n; ++s) {
    SparsePullRequest& r = requests[s];
    SetHeader(options_, step, &r);
    r.set_read_only(read_only);
    if (options_.fp16_params) r.set_dtype(DTYPE_F16);
    r.mutable_keys()->Reserve(static_cast<int>(positions_[s].size()));
    for (uint32_t i : positions_[s]) r.add_keys(keys[i]);
  }
  PSD_RETURN_IF_ERROR(CallAll(
      "sparse pull", requests, responses,
      [](ParameterServer::Stub* stub, grpc::ClientContext* ctx, const SparsePullRequest* req,
         SparsePullResponse* resp, std::function<void(grpc::Status)> done) {
        stub->async()->SparsePull(ctx, req, resp, std::move(done));
      }));
  const size_t width = options_.fp16_params ? sizeof(uint16_t) : sizeof(float);
  for (size_t s = 0; s < n; ++s) {
    const SparsePullResponse& r = responses[s];
    const size_t want = positions_[s].size() * static_cast<size_t>(dim) * width;
    if (r.rows().size() != want || (r.dim() != dim && !positions_[s].empty())) {
      return absl::DataLossError(absl::StrCat("sparse pull: server ", s, " sent ", r.rows().size(),
                                              " bytes of rows ", r.dim(), " wide, want ", want,
                                              " bytes of rows ", dim, " wide"));
    }
    const char* rows = r.rows().data();
    for (size_t j = 0; j < positions_[s].size(); ++j) {
      float* row = out.data() + static_cast<size_t>(positions_[s][j]) * dim;
      if (width == sizeof(float)) {
        std::memcpy(row, rows + j * dim * width, dim * sizeof(float));
      } else {
        HalfToFloat(reinterpret_cast<const uint8_t*>(rows + j * dim * width), row, dim);
      }
    }
    bytes_.fetch_add(static_cast<int64_t>(want), std::memory_order_relaxed);
  }
  pulled_rows_.fetch_add(static_cast<int64_t>(keys.size()), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status SparseClient::Push(absl::Span<const uint64_t> keys, absl::Span<const float> grads,
                                int dim, int64_t step) {
  if (grads.size() != keys.size() * static_cast<size_t>(dim)) {
    return absl::InternalError(absl::StrCat("sparse push: ", grads.size(),
                                            " floats, not keys x dim = ", keys.size() * dim));
  }
  Split(keys);
  const size_t n = stubs_.size();
  std::vector<SparsePushRequest> requests(n);
  std::vector<SparsePushResponse> responses(n);
  for (size_t s = 0; s < n; ++s) {
    SparsePushRequest& r = requests[s];
    SetHeader(options_, step, &r);
    r.set_total_steps(options_.total_steps);
    const bool half = options_.fp16_gradients;
    if (half) r.set_dtype(DTYPE_F16);
    const size_t width = half ? sizeof(uint16_t) : sizeof(float);
    r.mutable_keys()->Reserve(static_cast<int>(positions_[s].size()));
    std::string* g = r.mutable_grads();
    g->resize(positions_[s].size() * dim * width);
    for (size_t j = 0; j < positions_[s].size(); ++j) {
      const uint32_t i = positions_[s][j];
      r.add_keys(keys[i]);
      const float* from = grads.data() + static_cast<size_t>(i) * dim;
      if (half) {
        FloatToHalf(from, reinterpret_cast<uint16_t*>(&(*g)[j * dim * width]), dim);
      } else {
        std::memcpy(&(*g)[j * dim * width], from, dim * sizeof(float));
      }
    }
    bytes_.fetch_add(static_cast<int64_t>(g->size()), std::memory_order_relaxed);
  }
  PSD_RETURN_IF_ERROR(CallAll(
      "sparse push", requests, responses,
      [](ParameterServer::Stub* stub, grpc::ClientContext* ctx, const SparsePushRequest* req,
         SparsePushResponse* resp, std::function<void(grpc::Status)> done) {
        stub->async()->SparsePush(ctx, req, resp, std::move(done));
      }));
  pushed_rows_.fetch_add(static_cast<int64_t>(keys.size()), std::memory_order_relaxed);
  return absl::OkStatus();
}

void SparseClient::Cancel() { cancelled_.store(true); }

SparseClient::Counters SparseClient::counters() const {
  Counters c;
  c.pulled_rows = pulled_rows_.load();
  c.pushed_rows = pushed_rows_.load();
  c.bytes = bytes_.load();
  c.rpcs = rpcs_.load();
  c.retries = retries_.load();
  return c;
}

}  // namespace psd
