// libFuzzer target: a server's checkpoint files as the server loads them to resume a job:
// ReadCheckpoint (server/checkpoint.h) and then ShardStore::Create restoring from what it read,
// for a fixed small job (logreg 6 -> 4, 4 floats per chunk, 2 servers). Whatever the files
// hold, the server resumes from them or refuses them with an error.
//
// Input: byte 0: bit 0 picks the server rank (0 or 1); bit 1 set: a 16-bit length and that many
// bytes of manifest follow, then the data file; bit 1 clear: the rest is the data file and the
// harness writes the manifest that matches it (its size and CRC-32C), so that mutations get
// past the manifest check to the data itself.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "common/crc32c.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "fuzz/fuzz_util.h"
#include "server/checkpoint.h"
#include "server/shard_store.h"

namespace {

constexpr char kSpec[] = R"(
name: fuzz
model: {type: logreg, input_dim: 6, num_classes: 4}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training: {consistency: sync, max_steps: 10, optimizer: {type: adam}}
cluster: {servers: 2, workers: 1, chunk_bytes: 16}
)";

struct Job {
  psd::JobSpec spec;
  psd::Placement placement;
};

const Job& TheJob() {
  static const Job* job = [] {
    absl::StatusOr<psd::JobSpec> spec = psd::ParseJobSpec(kSpec, "checkpoint_fuzz");
    FUZZ_CHECK(spec.ok(), spec.status().ToString());
    absl::StatusOr<psd::Placement> placement = psd::Placement::ForJob(*spec);
    FUZZ_CHECK(placement.ok(), placement.status().ToString());
    return new Job{*spec, *placement};
  }();
  return *job;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Job& job = TheJob();
  psd::fuzz::Input in(data, size);
  const uint8_t mode = in.Byte();
  const int rank = mode & 1;
  const std::string step_dir = psd::CheckpointStepDir(psd::fuzz::ScratchDir(), "fuzz", 7);
  std::filesystem::create_directories(step_dir);
  std::string manifest;
  absl::string_view bytes;
  if (mode & 2) {
    manifest = std::string(in.Record());
    bytes = in.Rest();
  } else {
    bytes = in.Rest();
    manifest =
        absl::StrCat("psd-checkpoint 1\njob fuzz\nstep 7\ngeneration 1\nrank ", rank,
                     "\nservers 2\nchunks ", job.placement.ServerKeys(rank).size(), "\nbytes ",
                     bytes.size(), "\ncrc32c ", psd::Crc32c(bytes.data(), bytes.size()), "\n");
  }
  psd::fuzz::WriteFileOrDie(psd::CheckpointDataFile(step_dir, rank), bytes);
  psd::fuzz::WriteFileOrDie(psd::CheckpointManifestFile(step_dir, rank), manifest);

  psd::CheckpointMeta meta;
  absl::StatusOr<std::vector<psd::ChunkSnapshot>> chunks =
      psd::ReadCheckpoint(step_dir, rank, job.placement, &meta);
  if (!chunks.ok()) {
    FUZZ_CHECK(!chunks.status().message().empty());
    return 0;
  }
  // What ReadCheckpoint promises: this server's chunks, of their placement's lengths.
  FUZZ_CHECK(meta.rank == rank);
  FUZZ_CHECK(chunks->size() == job.placement.ServerKeys(rank).size());
  for (const psd::ChunkSnapshot& c : *chunks) {
    FUZZ_CHECK(c.key < job.placement.chunks().size());
    const psd::ChunkInfo& info = job.placement.chunk(c.key);
    FUZZ_CHECK(info.server == rank);
    FUZZ_CHECK(static_cast<int64_t>(c.params.size()) == info.length);
    FUZZ_CHECK(c.opt.slot0.empty() || static_cast<int64_t>(c.opt.slot0.size()) == info.length);
    FUZZ_CHECK(c.opt.slot1.empty() || static_cast<int64_t>(c.opt.slot1.size()) == info.length);
  }
  // What the server then does with it.
  absl::StatusOr<std::unique_ptr<psd::ShardStore>> store =
      psd::ShardStore::Create(job.spec, job.placement, rank, 1, &*chunks, meta.step, "fuzz");
  if (store.ok()) {
    std::vector<float> out;
    for (uint64_t key : (*store)->keys()) {
      out.resize(job.placement.chunk(key).length);
      FUZZ_CHECK((*store)->Read(key, absl::MakeSpan(out)).ok());
    }
    (*store)->Close(absl::CancelledError("fuzz"));
  }
  return 0;
}
