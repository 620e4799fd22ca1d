// The worker's client for embedding rows (sparse models): a batch's unique keys are split by
// the server that owns each (common/placement.h, SparseOwner), and every server is called at
// once; a server that cannot be reached is retried (with backoff) until the retry deadline,
// and a retried push is applied once (the servers count a worker's pushes by step).
#ifndef PSD_WORKER_SPARSE_CLIENT_H_
#define PSD_WORKER_SPARSE_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/parameter_server.grpc.pb.h"
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
  SparseClient(std::vector<std::unique_ptr<ParameterServer::Stub>> stubs,
               PsClient::Options options);
  // Splits `keys` by owner: positions_[s] are the indices of server s's keys.
  void Split(absl::Span<const uint64_t> keys);
  // Runs one call per server (those in `todo`) at once, retrying the unavailable ones.
  template <typename Request, typename Response, typename Start>
  absl::Status CallAll(const char* what, std::vector<Request>& requests,
                       std::vector<Response>& responses, Start start);

  std::vector<std::unique_ptr<ParameterServer::Stub>> stubs_;
  const PsClient::Options options_;
  std::vector<std::vector<uint32_t>> positions_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> pulled_rows_{0}, pushed_rows_{0}, bytes_{0}, rpcs_{0}, retries_{0};
};

}  // namespace psd

#endif  // PSD_WORKER_SPARSE_CLIENT_H_
