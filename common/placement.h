// Parameter tensors of a model, their chunks, and the placement of chunks on servers.
//
// Every node computes the same map from (model, chunk size, number of servers), so the map
// itself never travels. Keys are dense: chunk k of the job has key k, in tensor order.
#ifndef PSD_COMMON_PLACEMENT_H_
#define PSD_COMMON_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/job_spec.h"

namespace psd {

struct TensorInfo {
  std::string name;            // "layer0.weight", "layer0.bias", ...
  uint32_t id = 0;             // index in the model's tensor list
  std::vector<int64_t> shape;  // weights are [in, out] row-major; biases [out]
  int64_t size = 0;            // elements
  int64_t fan_in = 0;          // inputs of the layer the tensor belongs to
};

// The dense tensors of a model, layer by layer: weight then bias ("layer0.weight", ...); sparse
// logreg and fm have "dense.weight" [dense features, 1] (when there are any) and "bias" [1].
std::vector<TensorInfo> ModelTensors(const ModelSpec& model);

struct ChunkInfo {
  uint64_t key = 0;
  uint32_t tensor = 0;
  int64_t offset = 0;  // first element within the tensor
  int64_t length = 0;  // elements
  int server = 0;
};

class Placement {
 public:
  // Splits every tensor into chunks of at most `chunk_elems` elements and assigns each chunk
  // to a server so that the servers' byte counts differ by at most one chunk. Stable under a
  // change of server count: from n to m servers only the chunks of ranks >= min(n, m) move.
  static absl::StatusOr<Placement> Build(std::vector<TensorInfo> tensors, int64_t chunk_elems,
                                         int num_servers);
  // Placement of a job: its model's tensors, cluster.chunk_bytes, cluster.servers.
  static absl::StatusOr<Placement> ForJob(const JobSpec& spec);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::vector<ChunkInfo>& chunks() const { return chunks_; }
  const ChunkInfo& chunk(uint64_t key) const { return chunks_[key]; }
  int num_servers() const { return num_servers_; }
  int64_t total_elements() const { return total_elements_; }
  // Keys of one tensor's chunks, in offset order.
  absl::Span<const uint64_t> TensorKeys(uint32_t tensor) const { return tensor_keys_[tensor]; }
  // Keys owned by `server`, ascending.
  const std::vector<uint64_t>& ServerKeys(int server) const { return server_keys_[server]; }
  int64_t ServerBytes(int server) const;

 private:
  std::vector<TensorInfo> tensors_;
  std::vector<ChunkInfo> chunks_;
  std::vector<std::vector<uint64_t>> tensor_keys_;
  std::vector<std::vector<uint64_t>> server_keys_;
  int num_servers_ = 0;
  int64_t total_elements_ = 0;
};

// Deterministic initial value of elements [offset, offset + out.size()) of `tensor`: depends
// only on (seed, tensor id, element index), never on chunking or the number of servers.
// Weights and biases are uniform in ±1/sqrt(fan_in) (PyTorch's nn.Linear default).
void InitTensorSlice(uint64_t seed, const TensorInfo& tensor, int64_t offset,
                     absl::Span<float> out);

// Sparse models: the server rank that owns embedding row `key` among `num_servers`, a mix of
// the key (murmur3's finaliser), so that rows balance whatever the keys' structure (Criteo
// keys carry their field in the top byte), then jump consistent hashing, so that a change from
// n to m servers moves only |m - n| / max(n, m) of the rows. Rows themselves never depend on it.
int SparseOwner(uint64_t key, int num_servers);

// Bytes of the chunks whose server differs between two placements of the same chunks.
int64_t MovedBytes(const Placement& from, const Placement& to);

}  // namespace psd

#endif  // PSD_COMMON_PLACEMENT_H_
