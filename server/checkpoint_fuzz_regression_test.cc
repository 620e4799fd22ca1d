// Inputs the fuzzers (fuzz/checkpoint_fuzz) found that broke the checkpoint reader, each kept as
// a test: a server resuming from a damaged checkpoint must refuse it with DataLoss, not die.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/checkpoint.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

// checkpoint_fuzz: a manifest with its "psd-checkpoint" line but no "bytes" or no "crc32c"
// line made ReadCheckpoint call std::map::at on a missing key: std::out_of_range, uncaught,
// and the server process ended in std::terminate.
TEST_CASE("a manifest without its bytes or crc32c line is DataLoss, not an exception") {
  ModelSpec model;
  model.type = ModelType::kLogreg;
  model.input_dim = 6;
  model.num_classes = 4;
  const Placement p = *Placement::Build(ModelTensors(model), 4, 1);
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string step_dir = CheckpointStepDir(std::string(tmp ? tmp : "/tmp") + "/m", "j", 3);
  std::vector<ChunkSnapshot> chunks;
  for (uint64_t key : p.ServerKeys(0)) {
    ChunkSnapshot c;
    c.key = key;
    c.params.assign(p.chunk(key).length, 1.0f);
    chunks.push_back(std::move(c));
  }
  REQUIRE(WriteCheckpoint(step_dir, {"j", 3, 1, 0, 1}, p, chunks).ok());
  for (const char* manifest : {"psd-checkpoint 1\n", "psd-checkpoint 1\nbytes 10\n",
                               "psd-checkpoint 1\ncrc32c 5\n", "psd-checkpoint\n\n"}) {
    INFO(manifest);
    std::ofstream(CheckpointManifestFile(step_dir, 0), std::ios::trunc) << manifest;
    absl::StatusOr<std::vector<ChunkSnapshot>> back = ReadCheckpoint(step_dir, 0, p);
    REQUIRE_FALSE(back.ok());
    CHECK(back.status().code() == absl::StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace psd
