#include "common/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace psd {
namespace {

constexpr int64_t kFloat = sizeof(float);

// a * b, saturated at the int64 maximum (both >= 0).
int64_t Mul(int64_t a, int64_t b) {
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) {
    return std::numeric_limits<int64_t>::max();
  }
  return a * b;
}

int64_t Add(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max() : a + b;
}

// Elements and chunks of each server, as Placement::Build assigns them (longest chunk first
// onto the least-loaded server, ties to the lower key and rank), without listing the chunks:
// every full chunk has the same length, so they go round-robin; then the tails of the tensors
// not a whole number of chunks, longest first.
struct ServerLoad {
  int64_t elements = 0;
  int64_t chunks = 0;
};

std::vector<ServerLoad> PlaceLoads(const JobSpec& spec, int64_t* total_chunks) {
  const int servers = std::max(1, spec.cluster.servers);
  const int64_t chunk = std::max<int64_t>(1, spec.cluster.chunk_bytes / kFloat);
  const std::vector<int> sizes = spec.model.LayerSizes();
  int64_t full = 0;
  std::vector<int64_t> tails;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    for (const int64_t n : {Mul(sizes[l], sizes[l + 1]), int64_t{sizes[l + 1]}}) {
      full = Add(full, n / chunk);
      if (n % chunk != 0) tails.push_back(n % chunk);
    }
  }
  std::stable_sort(tails.begin(), tails.end(), [](int64_t a, int64_t b) { return a > b; });
  std::vector<ServerLoad> loads(servers);
  for (int s = 0; s < servers; ++s) {
    loads[s].chunks = full / servers + (s < full % servers ? 1 : 0);
    loads[s].elements = Mul(loads[s].chunks, chunk);
  }
  for (int64_t t : tails) {
    auto least = std::min_element(
        loads.begin(), loads.end(),
        [](const ServerLoad& a, const ServerLoad& b) { return a.elements < b.elements; });
    least->elements += t;
    ++least->chunks;
  }
  *total_chunks = Add(full, static_cast<int64_t>(tails.size()));
  return loads;
}

const char* OptimizerStateName(OptimizerType type) {
  switch (type) {
    case OptimizerType::kSgd:
      return "";
    case OptimizerType::kMomentum:
    case OptimizerType::kNesterov:
      return "momentum";
    case OptimizerType::kAdagrad:
      return "adagrad sums";
    case OptimizerType::kAdam:
    case OptimizerType::kAdamW:
      return "adam moments";
  }
  return "optimizer state";
}

std::optional<int64_t> ReadLimit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v <= 0) return std::nullopt;  // "max": none
  return v;
}

}  // namespace

int OptimizerSlots(OptimizerType type) {
  switch (type) {
    case OptimizerType::kSgd:
      return 0;
    case OptimizerType::kMomentum:
    case OptimizerType::kNesterov:
    case OptimizerType::kAdagrad:
      return 1;
    case OptimizerType::kAdam:
    case OptimizerType::kAdamW:
      return 2;
  }
  return 2;
}

int64_t MemoryEstimate::total() const {
  return Add(Add(Add(params, optimizer), Add(accumulator, checkpoint)), Add(bookkeeping, table));
}

MemoryEstimate EstimateServerMemory(const JobSpec& spec) {
  MemoryEstimate e;
  e.servers = spec.cluster.servers;
  int64_t total_chunks = 0;
  const std::vector<ServerLoad> loads = PlaceLoads(spec, &total_chunks);
  const ServerLoad& worst =
      *std::max_element(loads.begin(), loads.end(), [](const ServerLoad& a, const ServerLoad& b) {
        return a.elements < b.elements || (a.elements == b.elements && a.chunks < b.chunks);
      });
  const TrainingSpec& t = spec.training;
  const bool aggregate = t.consistency == Consistency::kSync ||
                         (t.consistency == Consistency::kSsp && t.staleness == 0);
  e.params = Mul(worst.elements, kFloat);
  e.optimizer = Mul(e.params, OptimizerSlots(t.optimizer.type));
  e.optimizer_name = OptimizerStateName(t.optimizer.type);
  e.accumulator = aggregate ? e.params : 0;
  e.checkpoint = spec.checkpoint.dir.empty() ? 0 : Add(e.params, e.optimizer);
  // Per owned chunk: its record and two clocks per worker; per chunk of the job: the map.
  const int64_t per_chunk = Add(kChunkRecordBytes, Mul(2 * 8, spec.cluster.workers));
  e.bookkeeping = Add(Mul(worst.chunks, per_chunk), Mul(total_chunks, kChunkMapBytes));
  if (spec.model.sparse()) e.table = spec.model.embedding.memory_budget_bytes;
  return e;
}

absl::Status CheckMemoryBudget(const MemoryEstimate& e, int64_t budget_bytes, int64_t in_use) {
  if (budget_bytes <= 0 || Add(e.total(), in_use) <= budget_bytes) return absl::OkStatus();
  std::vector<std::string> parts = {absl::StrCat("params ", FormatMemory(e.params))};
  if (e.optimizer > 0) {
    parts.push_back(absl::StrCat(e.optimizer_name, " ", FormatMemory(e.optimizer)));
  }
  if (e.accumulator > 0) parts.push_back(absl::StrCat("accumulator ", FormatMemory(e.accumulator)));
  if (e.checkpoint > 0) {
    parts.push_back(absl::StrCat("checkpoint copy ", FormatMemory(e.checkpoint)));
  }
  if (e.bookkeeping > 0) {
    parts.push_back(absl::StrCat("chunk records ", FormatMemory(e.bookkeeping)));
  }
  if (e.table > 0) parts.push_back(absl::StrCat("embedding table ", FormatMemory(e.table)));
  return absl::ResourceExhaustedError(absl::StrCat(
      "model needs ", FormatMemory(e.total()), " per server (", absl::StrJoin(parts, " + "),
      ") with ", e.servers, e.servers == 1 ? " server" : " servers", "; the budget is ",
      FormatMemory(budget_bytes),
      in_use > 0 ? absl::StrCat(", ", FormatMemory(in_use), " of it used by other jobs") : ""));
}

std::string FormatMemory(int64_t bytes) {
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {int64_t{1} << 40, "TiB"}, {int64_t{1} << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}};
  for (const auto& [unit, name] : kUnits) {
    if (bytes >= unit) {
      return absl::StrFormat("%.1f %s", static_cast<double>(bytes) / static_cast<double>(unit),
                             name);
    }
  }
  return absl::StrCat(bytes, " B");
}

std::optional<int64_t> ParseMemorySize(absl::string_view text) {
  static constexpr std::pair<absl::string_view, int64_t> kUnits[] = {{"TiB", int64_t{1} << 40},
                                                                     {"GiB", int64_t{1} << 30},
                                                                     {"MiB", int64_t{1} << 20},
                                                                     {"KiB", int64_t{1} << 10},
                                                                     {"B", 1}};
  text = absl::StripAsciiWhitespace(text);
  int64_t unit = 1;
  for (const auto& [suffix, bytes] : kUnits) {
    if (absl::EndsWith(text, suffix)) {
      text = absl::StripTrailingAsciiWhitespace(text.substr(0, text.size() - suffix.size()));
      unit = bytes;
      break;
    }
  }
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    return std::nullopt;
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n > std::numeric_limits<int64_t>::max() / unit) {
    return std::nullopt;
  }
  return n * unit;
}

int64_t MachineMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  int64_t bytes = pages > 0 && page > 0 ? Mul(pages, page) : 0;
  for (const char* limit : {"/sys/fs/cgroup/memory.max",                       // cgroup v2
                            "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {  // v1
    if (std::optional<int64_t> v = ReadLimit(limit); v.has_value() && (bytes == 0 || *v < bytes)) {
      bytes = *v;
    }
  }
  return bytes;
}

int64_t DefaultMemoryBudget() {
  return static_cast<int64_t>(static_cast<double>(MachineMemoryBytes()) *
                              kDefaultMemoryBudgetFraction);
}

}  // namespace psd
