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
#include "common/payload.h"
#include "common/placement.h"
#include "common/status_macros.h"
#include "common/tls_options.h"
#include "common/transport_options.h"

namespace psd {

namespace {

constexpr char kSparsePullMethod[] = "/psd.ParameterServer/SparsePull";
constexpr char kSparsePushMethod[] = "/psd.ParameterServer/SparsePush";

}  // namespace

// What gRPC may still reference after a call's reply: the count of slices it holds, and the
// staging buffers (per server) they may point into.
struct SparseClient::Held {
  absl::Mutex mu;
  int slices ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::vector<uint64_t>> keys;  // gathered keys
  std::vector<std::vector<uint8_t>> grads;  // gathered or converted gradients
};

namespace {

struct SliceRef {
  std::shared_ptr<void> held;
  int* slices;
  absl::Mutex* mu;
  static void Release(void* arg) {
    auto* r = static_cast<SliceRef*>(arg);
    {
      absl::MutexLock lock(r->mu);
      --*r->slices;
    }
    delete r;
  }
};

}  // namespace

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
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (const std::string& address : servers) {
    stubs.push_back(
        std::make_unique<grpc::GenericStub>(grpc::CreateCustomChannel(address, credentials, args)));
  }
  return std::unique_ptr<SparseClient>(new SparseClient(std::move(stubs), std::move(options)));
}

SparseClient::SparseClient(std::vector<std::unique_ptr<grpc::GenericStub>> stubs,
                           PsClient::Options options)
    : stubs_(std::move(stubs)),
      options_(std::move(options)),
      held_(std::make_shared<Held>()),
      positions_(stubs_.size()),
      contiguous_(stubs_.size()) {
  held_->keys.resize(stubs_.size());
  held_->grads.resize(stubs_.size());
}

void SparseClient::Split(absl::Span<const uint64_t> keys) {
  const int n = static_cast<int>(stubs_.size());
  for (auto& p : positions_) p.clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    positions_[SparseOwner(keys[i], n)].push_back(static_cast<uint32_t>(i));
  }
  for (size_t s = 0; s < positions_.size(); ++s) {
    const auto& p = positions_[s];
    contiguous_[s] = p.empty() || p.back() - p.front() + 1 == p.size();
  }
}

absl::Span<const uint64_t> SparseClient::KeysOf(size_t s, absl::Span<const uint64_t> keys) {
  const auto& p = positions_[s];
  if (contiguous_[s])
    return p.empty() ? absl::Span<const uint64_t>() : keys.subspan(p[0], p.size());
  std::vector<uint64_t>& staged = held_->keys[s];
  staged.resize(p.size());
  for (size_t j = 0; j < p.size(); ++j) staged[j] = keys[p[j]];
  return staged;
}

grpc::ByteBuffer SparseClient::Referencing(const wire::EncodedMessage& encoded) {
  return wire::ToByteBuffer(encoded, [this](const uint8_t* data, size_t size) {
    {
      absl::MutexLock lock(&held_->mu);
      ++held_->slices;
    }
    return wire::ReferenceSlice(data, size, &SliceRef::Release,
                                new SliceRef{held_, &held_->slices, &held_->mu});
  });
}

absl::Status SparseClient::CallAll(const char* what, const char* method,
                                   std::vector<grpc::ByteBuffer>& requests,
                                   std::vector<grpc::ByteBuffer>& responses) {
  const size_t n = stubs_.size();
  auto attempts = [&]() -> absl::Status {
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
        stubs_[s]->UnaryCall(contexts[s].get(), method, grpc::StubOptions(), &requests[s],
                             &responses[s], [&mu, &remaining, &results, s](grpc::Status st) {
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
  };
  absl::Status result = attempts();
  requests.clear();
  // gRPC drops a request's slices once its bytes are on the socket, which may come a moment
  // after the reply: until then the caller's buffers are still being read.
  absl::MutexLock lock(&held_->mu);
  auto none_held = [](Held* h) ABSL_NO_THREAD_SAFETY_ANALYSIS { return h->slices == 0; };
  if (!held_->mu.AwaitWithTimeout(absl::Condition(+none_held, held_.get()), options_.rpc_timeout) &&
      result.ok()) {
    result = absl::DeadlineExceededError(absl::StrCat(
        what, ": ", held_->slices, " request buffers are still queued on a connection"));
  }
  return result;
}

namespace {

// The fields every sparse request names: the job, the worker, the step, the dtype.
wire::SparseRequestHeader Header(const PsClient::Options& o, int64_t step, bool half) {
  wire::SparseRequestHeader h;
  h.job_id = o.job_id;
  h.generation = o.generation;
  h.worker = o.worker;
  h.step = step;
  h.dtype = half ? DTYPE_F16 : DTYPE_F32;
  return h;
}

// Row values 0..rows of `values` (dim each) to out[positions[j] * dim ..).
void Scatter(const Payload& values, absl::Span<const uint32_t> positions, int dim, float* out) {
  values.ForEachRun([&](int64_t offset, const float* v, int64_t n) {
    for (int64_t k = 0; k < n;) {
      const int64_t e = offset + k, row = e / dim, col = e % dim;
      const int64_t take = std::min<int64_t>(n - k, dim - col);
      std::memcpy(out + static_cast<size_t>(positions[row]) * dim + col, v + k,
                  static_cast<size_t>(take) * sizeof(float));
      k += take;
    }
  });
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
  wire::SparseRequestHeader h = Header(options_, step, options_.fp16_params);
  h.read_only = read_only;
  std::vector<grpc::ByteBuffer> requests(n), responses(n);
  for (size_t s = 0; s < n; ++s) {
    wire::EncodedMessage encoded;
    wire::EncodeSparsePullRequest(h, KeysOf(s, keys), &encoded);
    requests[s] = Referencing(encoded);
  }
  PSD_RETURN_IF_ERROR(CallAll("sparse pull", kSparsePullMethod, requests, responses));
  const size_t width = wire::DTypeSize(h.dtype);
  std::vector<grpc::Slice> slices;
  std::vector<Payload::Piece> pieces;
  for (size_t s = 0; s < n; ++s) {
    const auto& p = positions_[s];
    wire::SparsePullResponseView r;
    absl::Status decoded = wire::ReadPieces(responses[s], &slices, &pieces);
    if (decoded.ok()) decoded = wire::DecodeSparsePullResponse(pieces, h.dtype, &r);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat("sparse pull: server ", s, ": ", decoded.message()));
    }
    const size_t want = p.size() * static_cast<size_t>(dim) * width;
    if (static_cast<size_t>(r.rows.bytes()) != want || (r.dim != dim && !p.empty())) {
      return absl::DataLossError(absl::StrCat("sparse pull: server ", s, " sent ", r.rows.bytes(),
                                              " bytes of rows ", r.dim, " wide, want ", want,
                                              " bytes of rows ", dim, " wide"));
    }
    if (p.empty()) continue;
    if (contiguous_[s]) {
      r.rows.CopyTo(out.data() + static_cast<size_t>(p[0]) * dim);
    } else {
      Scatter(r.rows, p, dim, out.data());
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
  const bool half = options_.fp16_gradients;
  wire::SparseRequestHeader h = Header(options_, step, half);
  h.total_steps = options_.total_steps;
  const size_t width = wire::DTypeSize(h.dtype);
  std::vector<grpc::ByteBuffer> requests(n), responses(n);
  for (size_t s = 0; s < n; ++s) {
    const auto& p = positions_[s];
    const size_t values = p.size() * static_cast<size_t>(dim);
    absl::Span<const uint8_t> bytes;
    if (contiguous_[s] && !half) {
      if (!p.empty()) {
        bytes = {reinterpret_cast<const uint8_t*>(grads.data() + static_cast<size_t>(p[0]) * dim),
                 values * sizeof(float)};
      }
    } else {
      std::vector<uint8_t>& staged = held_->grads[s];
      staged.resize(values * width);
      for (size_t j = 0; j < p.size(); ++j) {
        const float* from = grads.data() + static_cast<size_t>(p[j]) * dim;
        uint8_t* to = staged.data() + j * dim * width;
        if (half) {
          FloatToHalf(from, reinterpret_cast<uint16_t*>(to), dim);
        } else {
          std::memcpy(to, from, dim * sizeof(float));
        }
      }
      bytes = staged;
    }
    wire::EncodedMessage encoded;
    wire::EncodeSparsePushRequest(h, KeysOf(s, keys), bytes, &encoded);
    requests[s] = Referencing(encoded);
    bytes_.fetch_add(static_cast<int64_t>(bytes.size()), std::memory_order_relaxed);
  }
  PSD_RETURN_IF_ERROR(CallAll("sparse push", kSparsePushMethod, requests, responses));
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
