// The worker's client for embedding rows (sparse models): a batch's unique keys are split by
// the server that owns each (common/placement.h, SparseOwner), and every server is called at
// once; a server that cannot be reached is retried (with backoff) until the retry deadline,
// and a retried push is applied once (the servers count a worker's pushes by step).
//
// The messages go on proto/wire.h's codec. When the keys come grouped by owner
// (UniqueKeys::Build with GroupByOwner), each server's keys and f32 gradients are sent from the
// caller's buffers as they are, and its rows are copied once, from the network buffers into
// `out`; otherwise (or with fp16) they are gathered or converted once into staging buffers.
#ifndef PSD_WORKER_SPARSE_CLIENT_H_
#define PSD_WORKER_SPARSE_CLIENT_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/wire.h"
#include "worker/ps_client.h"
#include "worker/row_exchange.h"

namespace psd {

class SparseClient : public RowExchange {
 public:
  // Rows and bytes moved so far.
  struct Counters {
    int64_t pulled_rows = 0;
    int64_t pushed_rows = 0;
    int64_t bytes = 0;
    int64_t rpcs = 0;
    int64_t retries = 0;
  };

  // `servers` by rank; the options' job, generation, worker, total_steps, timeouts, TLS and
  // transport settings are PsClient's (the fp16 and window settings do not apply).
  static absl::StatusOr<std::unique_ptr<SparseClient>> Create(std::vector<std::string> servers,
                                                              PsClient::Options options);

  // Rows of `keys` (unique) for computing `step` into out[i * dim ..); waits as the job's
  // consistency model requires. `read_only` (evaluation): absent rows are not created.
  absl::Status Pull(absl::Span<const uint64_t> keys, int64_t step, int dim, bool read_only,
                    absl::Span<float> out) override;
  // The row gradients of `keys` (unique) at `step` to their servers; every server gets a
  // push, empty where none of the keys is its.
  absl::Status Push(absl::Span<const uint64_t> keys, absl::Span<const float> grads, int dim,
                    int64_t step) override;
  void Cancel() override;
  Counters counters() const;

 private:
  struct Held;
  SparseClient(std::vector<std::unique_ptr<grpc::GenericStub>> stubs, PsClient::Options options);
  // Splits `keys` by owner: positions_[s] are the indices of server s's keys; contiguous_[s]
  // says they are one run starting at positions_[s][0].
  void Split(absl::Span<const uint64_t> keys);
  // Server s's keys: in place when contiguous, else gathered into staging.
  absl::Span<const uint64_t> KeysOf(size_t s, absl::Span<const uint64_t> keys);
  // Runs one call of `method` per server at once, retrying the unavailable ones; then drops
  // `requests` and waits until gRPC has let go of every slice that references the caller's or
  // the staging buffers.
  absl::Status CallAll(const char* what, const char* method,
                       std::vector<grpc::ByteBuffer>& requests,
                       std::vector<grpc::ByteBuffer>& responses);
  // A request's ByteBuffer whose external bytes are referenced and counted until released.
  grpc::ByteBuffer Referencing(const wire::EncodedMessage& encoded);

  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  const PsClient::Options options_;
  std::shared_ptr<Held> held_;
  std::vector<std::vector<uint32_t>> positions_;
  std::vector<bool> contiguous_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> pulled_rows_{0}, pushed_rows_{0}, bytes_{0}, rpcs_{0}, retries_{0};
};

}  // namespace psd

#endif  // PSD_WORKER_SPARSE_CLIENT_H_
