// Where a sparse model's embedding rows come from and their gradients go. Implementations:
// the parameter servers (worker/sparse_client.h); tests plug in one process's table.
#ifndef PSD_WORKER_ROW_EXCHANGE_H_
#define PSD_WORKER_ROW_EXCHANGE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace psd {

class RowExchange {
 public:
  virtual ~RowExchange() = default;
  // Rows of `keys` (unique) for computing `step` into out[i * dim ..), waiting as the job's
  // consistency model requires; `read_only` (evaluation) creates no rows.
  virtual absl::Status Pull(absl::Span<const uint64_t> keys, int64_t step, int dim, bool read_only,
                            absl::Span<float> out) = 0;
  // The batch-mean row gradients of `keys` (unique) computed at `step`.
  virtual absl::Status Push(absl::Span<const uint64_t> keys, absl::Span<const float> grads, int dim,
                            int64_t step) = 0;
  // Makes calls in flight fail fast; callable from any thread.
  virtual void Cancel() {}
};

}  // namespace psd

#endif  // PSD_WORKER_ROW_EXCHANGE_H_
