#include "common/memory_estimate.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "common/placement.h"
#include "tests/testing.h"

namespace psd {
namespace {

JobSpec Spec(int input_dim, std::vector<int> hidden, int servers, int64_t chunk_bytes) {
  JobSpec spec;
  spec.model.input_dim = input_dim;
  spec.model.hidden = std::move(hidden);
  spec.cluster.servers = servers;
  spec.cluster.chunk_bytes = chunk_bytes;
  return spec;
}

// The estimate balances chunks by size without building the placement (it must stay cheap for
// huge models); Placement places them server by server so that a change of server count moves
// few. Both keep the servers within one chunk of each other, so they agree within one chunk.
TEST_CASE("the estimate's busiest server is within one chunk of Placement's", "[memory_estimate]") {
  const std::vector<JobSpec> specs = {
      Spec(784, {256, 128}, 1, 1 << 20),
      Spec(784, {256, 128}, 3, 1 << 20),
      Spec(784, {256, 128}, 2, 4096),
      Spec(20, {16}, 2, 256),
      Spec(1001, {999}, 2, 3 << 20),
      Spec(100, {7, 300, 2}, 5, 12),
      Spec(3, {}, 4, 4),
  };
  for (const JobSpec& spec : specs) {
    const Placement placement = *Placement::ForJob(spec);
    int64_t most = 0;
    for (int s = 0; s < spec.cluster.servers; ++s) most = std::max(most, placement.ServerBytes(s));
    INFO(spec.model.input_dim << " servers " << spec.cluster.servers);
    const int64_t chunk =
        std::min<int64_t>(spec.cluster.chunk_bytes, placement.total_elements() * 4);
    CHECK(std::abs(EstimateServerMemory(spec).params - most) <= chunk);
  }
}

TEST_CASE("the estimate counts what the shard store keeps", "[memory_estimate]") {
  JobSpec spec = Spec(1000, {1000}, 1, 1 << 20);  // 1,011,010 parameters
  spec.model.num_classes = 10;
  spec.training.optimizer.type = OptimizerType::kAdam;
  MemoryEstimate e = EstimateServerMemory(spec);
  CHECK(e.params == 1011010 * 4);
  CHECK(e.optimizer == 2 * e.params);
  CHECK(e.optimizer_name == "adam moments");
  CHECK(e.accumulator == e.params);  // sync is the default
  CHECK(e.checkpoint == 0);
  CHECK(e.bookkeeping > 0);
  CHECK(e.total() == e.params + e.optimizer + e.accumulator + e.bookkeeping);
  spec.training.consistency = Consistency::kAsync;
  spec.training.optimizer.type = OptimizerType::kSgd;
  spec.checkpoint.dir = "/ckpt";
  e = EstimateServerMemory(spec);
  CHECK(e.optimizer == 0);
  CHECK(e.accumulator == 0);
  CHECK(e.checkpoint == e.params);
}

TEST_CASE("a 10^9-parameter model is refused with the sizes", "[memory_estimate]") {
  JobSpec spec = Spec(784, {32768, 30000}, 2, 1 << 20);
  spec.training.optimizer.type = OptimizerType::kMomentum;
  int64_t parameters = 0;
  for (const TensorInfo& t : ModelTensors(spec.model)) parameters += t.size;
  REQUIRE(parameters == 1009092890);
  const MemoryEstimate e = EstimateServerMemory(spec);
  CHECK(e.params >= parameters * 4 / 2);
  CHECK(e.params <= parameters * 4 / 2 + (1 << 20));
  const absl::Status s = CheckMemoryBudget(e, int64_t{2} << 30);
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK(s.message() ==
        "model needs 5.6 GiB per server (params 1.9 GiB + momentum 1.9 GiB + accumulator 1.9 GiB "
        "+ chunk records 1.3 MiB) with 2 servers; the budget is 2.0 GiB");
  CHECK(CheckMemoryBudget(e, int64_t{8} << 30).ok());
  CHECK(CheckMemoryBudget(e, 0).ok());  // no limit
  CHECK_THAT(std::string(CheckMemoryBudget(e, int64_t{8} << 30, int64_t{3} << 30).message()),
             Catch::EndsWith("the budget is 8.0 GiB, 3.0 GiB of it used by other jobs"));
}

TEST_CASE("tiny chunks cost their records", "[memory_estimate]") {
  JobSpec spec = Spec(1 << 20, {65536}, 1, 4);  // 2^36 one-element chunks
  spec.cluster.workers = 64;
  const MemoryEstimate e = EstimateServerMemory(spec);
  CHECK(e.bookkeeping > (int64_t{1} << 36) * (kChunkRecordBytes + 2 * 8 * 64));
  CHECK_FALSE(CheckMemoryBudget(e, int64_t{1} << 40).ok());
}

TEST_CASE("memory sizes format and parse", "[memory_estimate]") {
  CHECK(FormatMemory(17) == "17 B");
  CHECK(FormatMemory(3 << 10) == "3.0 KiB");
  CHECK(FormatMemory((25 << 20) / 2) == "12.5 MiB");
  CHECK(FormatMemory(int64_t{4} << 30) == "4.0 GiB");
  CHECK(ParseMemorySize("1073741824") == int64_t{1} << 30);
  CHECK(ParseMemorySize("16GiB") == int64_t{16} << 30);
  CHECK(ParseMemorySize(" 512 MiB ") == int64_t{512} << 20);
  CHECK(ParseMemorySize("7B") == 7);
  CHECK_FALSE(ParseMemorySize("").has_value());
  CHECK_FALSE(ParseMemorySize("-1GiB").has_value());
  CHECK_FALSE(ParseMemorySize("1.5GiB").has_value());
  CHECK_FALSE(ParseMemorySize("16GB").has_value());
  CHECK_FALSE(ParseMemorySize("99999999999TiB").has_value());
  CHECK(MachineMemoryBytes() > 0);
  CHECK(DefaultMemoryBudget() < MachineMemoryBytes());
}

}  // namespace
}  // namespace psd

namespace psd {
namespace {

TEST_CASE("a sparse job's table budget counts toward the server's memory", "[memory_estimate]") {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(
      "name: ctr\ndata: {format: criteo, train_files: [t]}\n"
      "model: {type: dlrm, hidden: [8], embedding: {dim: 4, memory_budget: 3GiB}}\n",
      "job.yaml");
  REQUIRE(spec.ok());
  const MemoryEstimate e = EstimateServerMemory(*spec);
  CHECK(e.table == int64_t{3} << 30);
  CHECK(e.total() > e.table);
  const absl::Status s = CheckMemoryBudget(e, int64_t{2} << 30);
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(s.message()), Catch::Contains("embedding table 3.0 GiB"));
}

}  // namespace
}  // namespace psd
