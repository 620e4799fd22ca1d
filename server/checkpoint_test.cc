#include "server/checkpoint.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

Placement TwoServers(int64_t chunk_elems = 100) {
  ModelSpec model;
  model.hidden = {20};
  model.input_dim = 30;
  return *Placement::Build(ModelTensors(model), chunk_elems, 2);
}

std::vector<ChunkSnapshot> Snapshots(const Placement& p, int rank) {
  std::vector<ChunkSnapshot> out;
  OptimizerSpec adam;
  adam.type = OptimizerType::kAdam;
  for (uint64_t key : p.ServerKeys(rank)) {
    ChunkSnapshot c;
    c.key = key;
    c.clock = 40;
    c.params.resize(p.chunk(key).length);
    for (size_t i = 0; i < c.params.size(); ++i) c.params[i] = 0.5f * i + key;
    c.opt = NewOptimizerState(adam, p.chunk(key).length);
    c.opt.slot1[0] = 7;
    c.opt.updates = 40;
    out.push_back(std::move(c));
  }
  return out;
}

CheckpointMeta Meta(int rank) { return {"job-1", 40, 2, rank, 2}; }

TEST_CASE("a checkpoint round-trips", "[checkpoint]") {
  const Placement p = TwoServers();
  const std::string step_dir = CheckpointStepDir(testing::MakeTempDir("ckpt"), "job-1", 40);
  const auto chunks = Snapshots(p, 1);
  REQUIRE(WriteCheckpoint(step_dir, Meta(1), p, chunks).ok());
  CheckpointMeta meta;
  auto back = ReadCheckpoint(step_dir, 1, p, &meta);
  REQUIRE(back.ok());
  CHECK(meta.step == 40);
  CHECK(meta.generation == 2);
  CHECK(meta.job_id == "job-1");
  REQUIRE(back->size() == chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    CHECK((*back)[i].key == chunks[i].key);
    CHECK((*back)[i].clock == 40);
    CHECK((*back)[i].params == chunks[i].params);
    CHECK((*back)[i].opt.slot0 == chunks[i].opt.slot0);
    CHECK((*back)[i].opt.slot1 == chunks[i].opt.slot1);
    CHECK((*back)[i].opt.updates == 40);
  }
  // Nothing but the data file and its manifest is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(step_dir)) {
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("a damaged or partial checkpoint is rejected with the reason", "[checkpoint]") {
  const Placement p = TwoServers();
  const std::string step_dir = CheckpointStepDir(testing::MakeTempDir("bad"), "job-1", 40);
  REQUIRE(WriteCheckpoint(step_dir, Meta(0), p, Snapshots(p, 0)).ok());
  const std::string data_file = step_dir + "/server-0";
  std::string bytes = *ReadFileToString(data_file);

  SECTION("a flipped byte") {
    bytes[bytes.size() - 10] ^= 0x01;
    REQUIRE(WriteFileAtomically(data_file, bytes).ok());
    const absl::Status s = ReadCheckpoint(step_dir, 0, p).status();
    INFO(s);
    CHECK(s.code() == absl::StatusCode::kDataLoss);
    CHECK(s.message().find(": checksum mismatch") != std::string::npos);
    CHECK(s.message().find(data_file + ": chunk ") == 0);
  }
  SECTION("no manifest") {
    fs::remove(data_file + ".manifest");
    const absl::Status s = ReadCheckpoint(step_dir, 0, p).status();
    CHECK(s.code() == absl::StatusCode::kNotFound);
    CHECK(s.message() == data_file + ".manifest: missing: the checkpoint is incomplete");
  }
  SECTION("truncated data") {
    REQUIRE(WriteFileAtomically(data_file, bytes.substr(0, bytes.size() / 2)).ok());
    CHECK(ReadCheckpoint(step_dir, 0, p).status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("another placement") {
    const absl::Status s = ReadCheckpoint(step_dir, 0, TwoServers(64)).status();
    CHECK(s.message().find("written for a different placement") != std::string::npos);
  }
  SECTION("another rank's file") {
    CHECK(ReadCheckpoint(step_dir, 1, p).status().code() == absl::StatusCode::kNotFound);
  }
}

TEST_CASE("ReadCheckpointChunks reads only the wanted chunks and checks what it reads",
          "[checkpoint]") {
  const Placement p = TwoServers();
  const std::string step_dir = CheckpointStepDir(testing::MakeTempDir("some"), "job-1", 40);
  const auto chunks = Snapshots(p, 0);
  REQUIRE(chunks.size() >= 3);
  REQUIRE(WriteCheckpoint(step_dir, Meta(0), p, chunks).ok());
  const uint64_t first = chunks.front().key, last = chunks.back().key;
  auto ends = [&](uint64_t key) { return key == first || key == last; };
  auto back = ReadCheckpointChunks(step_dir, 0, p, ends);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].key == first);
  CHECK((*back)[1].key == last);
  CHECK((*back)[1].params == chunks.back().params);
  CHECK((*back)[1].opt.slot1 == chunks.back().opt.slot1);
  CHECK((*back)[1].opt.updates == 40);
  auto all = ReadCheckpointChunks(step_dir, 0, p, [](uint64_t) { return true; });
  REQUIRE(all.ok());
  CHECK(all->size() == chunks.size());

  const std::string data_file = step_dir + "/server-0";
  std::string bytes = *ReadFileToString(data_file);
  SECTION("a flipped byte in a wanted chunk names it") {
    bytes[bytes.size() - 10] ^= 0x01;  // inside the last chunk's record
    REQUIRE(WriteFileAtomically(data_file, bytes).ok());
    const absl::Status s = ReadCheckpointChunks(step_dir, 0, p, ends).status();
    INFO(s);
    CHECK(s.code() == absl::StatusCode::kDataLoss);
    CHECK(s.message() == absl::StrCat(data_file, ": chunk ", last, ": checksum mismatch"));
    // A chunk not read is not checked: the others still load.
    CHECK(ReadCheckpointChunks(step_dir, 0, p, [&](uint64_t k) { return k == first; }).ok());
  }
  SECTION("a file of another size than its manifest says") {
    REQUIRE(WriteFileAtomically(data_file, bytes.substr(0, bytes.size() - 1)).ok());
    const absl::Status s = ReadCheckpointChunks(step_dir, 0, p, ends).status();
    CHECK(s.code() == absl::StatusCode::kDataLoss);
    CHECK(s.message().find("do not match the manifest") != std::string::npos);
  }
  SECTION("another placement, a missing manifest") {
    CHECK(ReadCheckpointChunks(step_dir, 0, TwoServers(64), ends)
              .status()
              .message()
              .find("written for a different placement") != std::string::npos);
    fs::remove(data_file + ".manifest");
    CHECK(ReadCheckpointChunks(step_dir, 0, p, ends).status().code() ==
          absl::StatusCode::kNotFound);
  }
}

TEST_CASE("pruning keeps the newest complete checkpoints", "[checkpoint]") {
  const Placement p = TwoServers();
  const std::string dir = testing::MakeTempDir("prune");
  for (int64_t step : {10, 20, 30, 40}) {
    CheckpointMeta meta = Meta(0);
    meta.step = step;
    REQUIRE(WriteCheckpoint(CheckpointStepDir(dir, "job-1", step), meta, p, Snapshots(p, 0)).ok());
  }
  fs::remove(CheckpointStepDir(dir, "job-1", 40) + "/server-0.manifest");  // incomplete
  PruneCheckpoints(dir, "job-1", 0, 2);
  CHECK_FALSE(fs::exists(CheckpointStepDir(dir, "job-1", 10)));
  CHECK(ReadCheckpoint(CheckpointStepDir(dir, "job-1", 20), 0, p).ok());
  CHECK(ReadCheckpoint(CheckpointStepDir(dir, "job-1", 30), 0, p).ok());
}

TEST_CASE("a data file larger than the placement allows is refused unread", "[checkpoint]") {
  const Placement p = TwoServers();
  const std::string step_dir = CheckpointStepDir(testing::MakeTempDir("ckpt-big"), "job-1", 40);
  REQUIRE(WriteCheckpoint(step_dir, Meta(0), p, Snapshots(p, 0)).ok());
  {
    std::ofstream grow(CheckpointDataFile(step_dir, 0), std::ios::app | std::ios::binary);
    grow << std::string(1 << 20, 'x');
  }
  const auto back = ReadCheckpoint(step_dir, 0, p);
  CHECK(back.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(back.status().message()), Catch::Contains("more than the limit"));
}

TEST_CASE("checkpoints of job ids that could leave the dir are refused", "[checkpoint]") {
  const Placement p = TwoServers();
  const std::string dir = testing::MakeTempDir("ckpt-ids");
  CheckpointMeta meta = Meta(0);
  meta.job_id = "../../x";
  const absl::Status s =
      WriteCheckpoint(CheckpointStepDir(dir, meta.job_id, 40), meta, p, Snapshots(p, 0));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(fs::exists(CheckpointStepDir(dir, meta.job_id, 40)));
}

}  // namespace
}  // namespace psd
