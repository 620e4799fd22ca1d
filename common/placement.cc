#include "common/placement.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace psd {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<TensorInfo> ModelTensors(const ModelSpec& model) {
  const std::vector<int> sizes = model.LayerSizes();
  std::vector<TensorInfo> tensors;
  if (model.sparse() && model.type != ModelType::kDlrm) {
    // The linear part over the dense features (none for libsvm data), and the bias.
    const int64_t in = sizes[0];
    if (in > 0) tensors.push_back({"dense.weight", 0, {in, 1}, in, in});
    tensors.push_back(
        {"bias", static_cast<uint32_t>(tensors.size()), {1}, 1, std::max<int64_t>(1, in)});
    return tensors;
  }
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const int64_t in = sizes[l], out = sizes[l + 1];
    const uint32_t id = static_cast<uint32_t>(tensors.size());
    tensors.push_back({absl::StrCat("layer", l, ".weight"), id, {in, out}, in * out, in});
    tensors.push_back({absl::StrCat("layer", l, ".bias"), id + 1, {out}, out, in});
  }
  return tensors;
}

absl::StatusOr<Placement> Placement::Build(std::vector<TensorInfo> tensors, int64_t chunk_elems,
                                           int num_servers) {
  if (num_servers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("placement: need at least 1 server, got ", num_servers));
  }
  if (chunk_elems < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("placement: chunk size must be at least 1 element, got ", chunk_elems));
  }
  Placement p;
  p.num_servers_ = num_servers;
  p.tensors_ = std::move(tensors);
  p.tensor_keys_.resize(p.tensors_.size());
  for (uint32_t t = 0; t < p.tensors_.size(); ++t) {
    const int64_t size = p.tensors_[t].size;
    if (size < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("placement: tensor '", p.tensors_[t].name, "' has no elements"));
    }
    p.tensors_[t].id = t;
    for (int64_t off = 0; off < size; off += chunk_elems) {
      const uint64_t key = p.chunks_.size();
      p.chunks_.push_back({key, t, off, std::min(chunk_elems, size - off), 0});
      p.tensor_keys_[t].push_back(key);
    }
    p.total_elements_ += size;
  }
  // Server by server: all chunks start on server 0; each added server n takes chunks from the
  // most loaded one (the longest that narrows their gap) until no move narrows it. Build(n + 1)
  // moves chunks only onto server n, so going from n to m servers moves only what ranks
  // [min(n, m), max(n, m)) hold (docs/operations.md, "Elastic servers").
  std::vector<int64_t> load(num_servers, 0);
  std::vector<std::set<std::pair<int64_t, uint64_t>>> held(num_servers);  // (length, key)
  for (const ChunkInfo& c : p.chunks_) {
    held[0].insert({c.length, c.key});
    load[0] += c.length;
  }
  for (int n = 1; n < num_servers; ++n) {
    while (true) {
      const int s =
          static_cast<int>(std::max_element(load.begin(), load.begin() + n) - load.begin());
      const int64_t gap = load[s] - load[n];
      auto it = held[s].lower_bound({gap, 0});
      if (it == held[s].begin()) break;
      --it;
      const auto [length, key] = *it;
      held[s].erase(it);
      held[n].insert({length, key});
      load[s] -= length;
      load[n] += length;
      p.chunks_[key].server = n;
    }
  }
  p.server_keys_.resize(num_servers);
  for (const ChunkInfo& c : p.chunks_) p.server_keys_[c.server].push_back(c.key);
  return p;
}

absl::StatusOr<Placement> Placement::ForJob(const JobSpec& spec) {
  return Build(ModelTensors(spec.model), std::max<int64_t>(1, spec.cluster.chunk_bytes / 4),
               spec.cluster.servers);
}

int64_t Placement::ServerBytes(int server) const {
  int64_t elems = 0;
  for (uint64_t key : server_keys_[server]) elems += chunks_[key].length;
  return elems * static_cast<int64_t>(sizeof(float));
}

void InitTensorSlice(uint64_t seed, const TensorInfo& tensor, int64_t offset,
                     absl::Span<float> out) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(1, tensor.fan_in)));
  const uint64_t stream = SplitMix64(seed ^ SplitMix64(tensor.id + 0x51ed270b27ULL));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint64_t bits = SplitMix64(stream + static_cast<uint64_t>(offset) + i);
    const double unit = static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, 1)
    out[i] = static_cast<float>((2.0 * unit - 1.0) * bound);
  }
}

int SparseOwner(uint64_t key, int num_servers) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ULL;
  key ^= key >> 33;
  // Jump consistent hashing (Lamping and Veach, 2014): from n to n + 1 servers only the rows
  // that go to server n move, 1 / (n + 1) of them.
  int64_t bucket = -1, next = 0;
  while (next < num_servers) {
    bucket = next;
    key = key * 2862933555777941757ULL + 1;
    next = static_cast<int64_t>(
        static_cast<double>(bucket + 1) *
        (static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int>(bucket);
}

int64_t MovedBytes(const Placement& from, const Placement& to) {
  int64_t elems = 0;
  for (const ChunkInfo& c : to.chunks()) {
    if (c.key < from.chunks().size() && from.chunk(c.key).server != c.server) elems += c.length;
  }
  return elems * static_cast<int64_t>(sizeof(float));
}

}  // namespace psd
