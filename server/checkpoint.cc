#include "server/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/checkpoint_bytes.h"
#include "server/table_checkpoint.h"

namespace psd {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'P', 'S', 'D', 'C', 'K', 'P', 'T', '1'};
constexpr uint32_t kVersion = 1;

using checkpoint_bytes::Put;
using checkpoint_bytes::PutFloats;
using checkpoint_bytes::Reader;

std::string Header(const CheckpointMeta& meta, const Placement& placement) {
  std::string out(kMagic, sizeof(kMagic));
  Put<uint32_t>(out, kVersion);
  Put<uint32_t>(out, static_cast<uint32_t>(meta.rank));
  Put<uint32_t>(out, static_cast<uint32_t>(meta.num_servers));
  Put<int64_t>(out, meta.step);
  Put<int64_t>(out, meta.generation);
  Put<uint32_t>(out, static_cast<uint32_t>(meta.job_id.size()));
  out += meta.job_id;
  Put<uint64_t>(out, placement.chunks().size());
  for (const ChunkInfo& c : placement.chunks()) {
    Put<uint64_t>(out, c.key);
    Put<uint32_t>(out, c.tensor);
    Put<int64_t>(out, c.offset);
    Put<int64_t>(out, c.length);
    Put<uint32_t>(out, static_cast<uint32_t>(c.server));
  }
  Put<uint32_t>(out, Crc32c(out.data(), out.size()));
  return out;
}

std::string ChunkRecord(const ChunkSnapshot& c) {
  std::string out;
  Put<uint64_t>(out, c.key);
  Put<int64_t>(out, c.clock);
  Put<int64_t>(out, c.opt.updates);
  Put<int64_t>(out, static_cast<int64_t>(c.params.size()));
  Put<uint32_t>(out, static_cast<uint32_t>(c.opt.slot0.size()));
  Put<uint32_t>(out, static_cast<uint32_t>(c.opt.slot1.size()));
  PutFloats(out, c.params.data(), c.params.size());
  PutFloats(out, c.opt.slot0.data(), c.opt.slot0.size());
  PutFloats(out, c.opt.slot1.data(), c.opt.slot1.size());
  Put<uint32_t>(out, Crc32c(out.data(), out.size()));
  return out;
}

// The manifest: "key value" lines.
std::map<std::string, std::string> ParseManifest(absl::string_view text) {
  std::map<std::string, std::string> fields;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    fields[kv.first] = kv.second;
  }
  return fields;
}

absl::Status CheckHeader(Reader& r, int rank, const Placement& placement, CheckpointMeta* meta) {
  PSD_ASSIGN_OR_RETURN(absl::string_view magic, r.Bytes(sizeof(kMagic), "the magic"));
  if (magic != absl::string_view(kMagic, sizeof(kMagic))) return r.Error("not a psd checkpoint");
  PSD_ASSIGN_OR_RETURN(uint32_t version, r.Get<uint32_t>("the version"));
  if (version != kVersion) return r.Error(absl::StrCat("unsupported version ", version));
  PSD_ASSIGN_OR_RETURN(uint32_t file_rank, r.Get<uint32_t>("the rank"));
  PSD_ASSIGN_OR_RETURN(uint32_t servers, r.Get<uint32_t>("the server count"));
  PSD_ASSIGN_OR_RETURN(meta->step, r.Get<int64_t>("the step"));
  PSD_ASSIGN_OR_RETURN(meta->generation, r.Get<int64_t>("the generation"));
  PSD_ASSIGN_OR_RETURN(uint32_t id_size, r.Get<uint32_t>("the job id"));
  PSD_ASSIGN_OR_RETURN(absl::string_view id, r.Bytes(id_size, "the job id"));
  meta->job_id = std::string(id);
  meta->rank = static_cast<int>(file_rank);
  meta->num_servers = static_cast<int>(servers);
  if (meta->rank != rank)
    return r.Error(absl::StrCat("written by server ", file_rank, ", not ", rank));
  PSD_ASSIGN_OR_RETURN(uint64_t count, r.Get<uint64_t>("the placement"));
  bool same =
      count == placement.chunks().size() && static_cast<int>(servers) == placement.num_servers();
  for (uint64_t i = 0; i < count; ++i) {
    PSD_ASSIGN_OR_RETURN(uint64_t key, r.Get<uint64_t>("the placement"));
    PSD_ASSIGN_OR_RETURN(uint32_t tensor, r.Get<uint32_t>("the placement"));
    PSD_ASSIGN_OR_RETURN(int64_t offset, r.Get<int64_t>("the placement"));
    PSD_ASSIGN_OR_RETURN(int64_t length, r.Get<int64_t>("the placement"));
    PSD_ASSIGN_OR_RETURN(uint32_t server, r.Get<uint32_t>("the placement"));
    if (same) {
      const ChunkInfo& c = placement.chunk(i);
      same = key == c.key && tensor == c.tensor && offset == c.offset && length == c.length &&
             static_cast<int>(server) == c.server;
    }
  }
  const size_t header_end = r.pos();
  PSD_ASSIGN_OR_RETURN(uint32_t crc, r.Get<uint32_t>("the header checksum"));
  if (Crc32c(r.data().data(), header_end) != crc) return r.Error("header checksum mismatch");
  if (!same) {
    return r.Error(absl::StrCat("written for a different placement (", count, " chunks on ",
                                servers, " servers; this job has ", placement.chunks().size(),
                                " on ", placement.num_servers(),
                                "): model, cluster.servers and cluster.chunk_bytes must match"));
  }
  return absl::OkStatus();
}

// The chunk count after the header: as many as `placement` gives `rank`, else DataLoss.
absl::StatusOr<uint64_t> ReadChunkCount(Reader& r, int rank, const Placement& placement) {
  PSD_ASSIGN_OR_RETURN(uint64_t count, r.Get<uint64_t>("the chunk count"));
  const size_t expected = placement.ServerKeys(rank).size();
  if (count != expected) {
    return r.Error(absl::StrCat("holds ", count, " chunks, server ", rank, " owns ", expected));
  }
  return count;
}

absl::StatusOr<ChunkSnapshot> ReadChunk(Reader& r, const Placement& placement) {
  const size_t start = r.pos();
  ChunkSnapshot c;
  PSD_ASSIGN_OR_RETURN(c.key, r.Get<uint64_t>("a chunk"));
  PSD_ASSIGN_OR_RETURN(c.clock, r.Get<int64_t>("a chunk"));
  PSD_ASSIGN_OR_RETURN(c.opt.updates, r.Get<int64_t>("a chunk"));
  PSD_ASSIGN_OR_RETURN(int64_t length, r.Get<int64_t>("a chunk"));
  PSD_ASSIGN_OR_RETURN(uint32_t slot0, r.Get<uint32_t>("a chunk"));
  PSD_ASSIGN_OR_RETURN(uint32_t slot1, r.Get<uint32_t>("a chunk"));
  if (c.key >= placement.chunks().size() || length != placement.chunk(c.key).length ||
      (slot0 != 0 && slot0 != length) || (slot1 != 0 && slot1 != length)) {
    return r.Error(absl::StrCat("chunk record at byte ", start, " is malformed"));
  }
  const std::string what = absl::StrCat("chunk ", c.key);
  PSD_RETURN_IF_ERROR(r.Floats(c.params, length, what));
  PSD_RETURN_IF_ERROR(r.Floats(c.opt.slot0, slot0, what));
  PSD_RETURN_IF_ERROR(r.Floats(c.opt.slot1, slot1, what));
  const size_t end = r.pos();
  PSD_ASSIGN_OR_RETURN(uint32_t crc, r.Get<uint32_t>(what));
  if (Crc32c(r.data().data() + start, end - start) != crc) {
    return r.Error(absl::StrCat("chunk ", c.key, ": checksum mismatch"));
  }
  return c;
}

// The most bytes server `rank`'s data file can hold for `placement` (every chunk with two
// optimizer slots, the longest job id), so that a damaged file is never read whole.
int64_t MaxDataBytes(const Placement& placement, int rank) {
  int64_t bytes = 8 + 3 * 4 + 2 * 8 + 4 + static_cast<int64_t>(kMaxJobIdLength) + 8 +
                  static_cast<int64_t>(placement.chunks().size()) * 32 + 4 + 8;
  for (uint64_t key : placement.ServerKeys(rank)) {
    bytes += 6 * 8 + 3 * 4 * placement.chunk(key).length;
  }
  return bytes;
}

constexpr int64_t kMaxManifestBytes = 64 << 10;

// The manifest of a checkpoint as its "key value" fields: NotFound when missing, DataLoss when
// it is not a regular file or too large.
absl::StatusOr<std::map<std::string, std::string>> LoadManifest(const std::string& manifest_file) {
  absl::StatusOr<std::string> text = ReadRegularFile(manifest_file, kMaxManifestBytes);
  if (absl::IsInvalidArgument(text.status())) return absl::DataLossError(text.status().message());
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat(manifest_file, ": missing: the checkpoint is incomplete"));
  }
  return ParseManifest(*text);
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& step_dir, const CheckpointMeta& meta,
                             const Placement& placement, absl::Span<const ChunkSnapshot> chunks,
                             const ManifestTable* table) {
  PSD_RETURN_IF_ERROR(ValidateJobId(meta.job_id));
  const std::string data_file = CheckpointDataFile(step_dir, meta.rank);
  PSD_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(data_file));
  const std::string header = Header(meta, placement);
  uint32_t crc = Crc32c(header.data(), header.size());
  PSD_RETURN_IF_ERROR(writer.Append(header));
  std::string count;
  Put<uint64_t>(count, chunks.size());
  crc = Crc32c(count.data(), count.size(), crc);
  PSD_RETURN_IF_ERROR(writer.Append(count));
  for (const ChunkSnapshot& c : chunks) {
    const std::string record = ChunkRecord(c);
    crc = Crc32c(record.data(), record.size(), crc);
    PSD_RETURN_IF_ERROR(writer.Append(record));
  }
  const int64_t bytes = writer.bytes_written();
  PSD_RETURN_IF_ERROR(writer.Commit());
  return WriteFileAtomically(
      CheckpointManifestFile(step_dir, meta.rank),
      absl::StrCat("psd-checkpoint 1\njob ", meta.job_id, "\nstep ", meta.step, "\ngeneration ",
                   meta.generation, "\nrank ", meta.rank, "\nservers ", meta.num_servers,
                   "\nchunks ", chunks.size(), "\nbytes ", bytes, "\ncrc32c ", crc, "\n",
                   table == nullptr
                       ? std::string()
                       : absl::StrCat("table_kind ", table->full ? "full" : "incremental",
                                      "\ntable_base ", table->base_step, "\ntable_bytes ",
                                      table->bytes, "\ntable_crc32c ", table->crc32c, "\n")));
}

absl::StatusOr<int> ReadCheckpointServers(const std::string& step_dir, int rank) {
  std::string manifest_file = CheckpointManifestFile(step_dir, rank);
  absl::StatusOr<std::string> text = ReadRegularFile(manifest_file, kMaxManifestBytes);
  if (!text.ok() && !absl::IsInvalidArgument(text.status()) && rank != 0) {
    // A rank the checkpoint's servers did not have: rank 0's manifest says how many it had.
    const std::string first = CheckpointManifestFile(step_dir, 0);
    if (absl::StatusOr<std::string> t = ReadRegularFile(first, kMaxManifestBytes); t.ok()) {
      manifest_file = first;
      text = std::move(t);
    }
  }
  if (absl::IsInvalidArgument(text.status())) return absl::DataLossError(text.status().message());
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat(manifest_file, ": missing: the checkpoint is incomplete"));
  }
  const std::map<std::string, std::string> manifest = ParseManifest(*text);
  auto it = manifest.find("servers");
  int servers = 0;
  if (it == manifest.end() || !absl::SimpleAtoi(it->second, &servers) || servers < 1 ||
      servers > kMaxServers) {
    return absl::DataLossError(absl::StrCat(manifest_file, ": malformed server count"));
  }
  return servers;
}

absl::StatusOr<ManifestTable> ReadManifestTable(const std::string& step_dir, int rank) {
  const std::string manifest_file = CheckpointManifestFile(step_dir, rank);
  PSD_ASSIGN_OR_RETURN(const auto manifest, LoadManifest(manifest_file));
  auto kind = manifest.find("table_kind");
  if (kind == manifest.end()) {
    return absl::NotFoundError(absl::StrCat(manifest_file, ": records no embedding table"));
  }
  ManifestTable t;
  auto field = [&manifest](const char* key) {
    auto it = manifest.find(key);
    return it == manifest.end() ? absl::string_view() : absl::string_view(it->second);
  };
  t.full = kind->second == "full";
  if ((!t.full && kind->second != "incremental") ||
      !absl::SimpleAtoi(field("table_base"), &t.base_step) ||
      !absl::SimpleAtoi(field("table_bytes"), &t.bytes) ||
      !absl::SimpleAtoi(field("table_crc32c"), &t.crc32c)) {
    return absl::DataLossError(absl::StrCat(manifest_file, ": malformed table entry"));
  }
  return t;
}

absl::StatusOr<std::vector<ChunkSnapshot>> ReadCheckpoint(const std::string& step_dir, int rank,
                                                          const Placement& placement,
                                                          CheckpointMeta* meta_out) {
  const std::string data_file = CheckpointDataFile(step_dir, rank);
  const std::string manifest_file = CheckpointManifestFile(step_dir, rank);
  PSD_ASSIGN_OR_RETURN(const auto manifest, LoadManifest(manifest_file));
  int64_t bytes = -1;
  uint32_t crc = 0;
  auto field = [&manifest](const char* key) {
    auto it = manifest.find(key);
    return it == manifest.end() ? absl::string_view() : absl::string_view(it->second);
  };
  if (manifest.count("psd-checkpoint") == 0 || !absl::SimpleAtoi(field("bytes"), &bytes) ||
      !absl::SimpleAtoi(field("crc32c"), &crc)) {
    return absl::DataLossError(absl::StrCat(manifest_file, ": malformed manifest"));
  }
  absl::StatusOr<std::string> read = ReadRegularFile(data_file, MaxDataBytes(placement, rank));
  if (absl::IsInvalidArgument(read.status())) return absl::DataLossError(read.status().message());
  PSD_RETURN_IF_ERROR(read.status());
  std::string data = *std::move(read);
  if (static_cast<int64_t>(data.size()) != bytes || Crc32c(data.data(), data.size()) != crc) {
    // Find the damaged part for the message; if none is found the file as a whole differs.
    Reader probe(data_file, data);
    CheckpointMeta ignored;
    absl::Status s = CheckHeader(probe, rank, placement, &ignored);
    absl::StatusOr<uint64_t> count = s.ok() ? probe.Get<uint64_t>("the chunk count") : 0;
    for (uint64_t i = 0; s.ok() && count.ok() && i < *count; ++i) {
      s = ReadChunk(probe, placement).status();
    }
    if (s.ok()) {
      s = absl::DataLossError(absl::StrCat(data_file, ": ", data.size(),
                                           " bytes do not match the manifest (", bytes,
                                           " bytes, crc32c ", crc, ")"));
    }
    return s;
  }
  Reader r(data_file, data);
  CheckpointMeta meta;
  PSD_RETURN_IF_ERROR(CheckHeader(r, rank, placement, &meta));
  PSD_ASSIGN_OR_RETURN(const uint64_t count, ReadChunkCount(r, rank, placement));
  std::vector<ChunkSnapshot> chunks;
  for (uint64_t i = 0; i < count; ++i) {
    PSD_ASSIGN_OR_RETURN(ChunkSnapshot c, ReadChunk(r, placement));
    if (placement.chunk(c.key).server != rank) {
      return r.Error(
          absl::StrCat("chunk ", c.key, " belongs to server ", placement.chunk(c.key).server));
    }
    chunks.push_back(std::move(c));
  }
  if (meta_out != nullptr) *meta_out = meta;
  return chunks;
}

namespace {

// Reads `n` bytes at `offset` of `file` (`path`) into `out`.
absl::Status ReadAt(const RegularFile& file, const std::string& path, int64_t offset, int64_t n,
                    std::string& out) {
  if (n < 0 || offset + n > file.size) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated: ", n, " bytes at byte ", offset, " of ", file.size));
  }
  out.resize(static_cast<size_t>(n));
  for (int64_t done = 0; done < n;) {
    const ssize_t got = ::pread(file.fd.get(), out.data() + done, static_cast<size_t>(n - done),
                                static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return absl::DataLossError(absl::StrCat(path, ": read at byte ", offset + done, ": ",
                                              got < 0 ? std::strerror(errno) : "end of file"));
    }
    done += got;
  }
  return absl::OkStatus();
}

// A chunk record's fixed part: key, clock, updates, length, and the two slots' lengths.
constexpr int64_t kRecordPrefix = 3 * 8 + 8 + 2 * 4;

}  // namespace

absl::StatusOr<std::vector<ChunkSnapshot>> ReadCheckpointChunks(
    const std::string& step_dir, int rank, const Placement& placement,
    const std::function<bool(uint64_t key)>& wanted) {
  const std::string data_file = CheckpointDataFile(step_dir, rank);
  const std::string manifest_file = CheckpointManifestFile(step_dir, rank);
  PSD_ASSIGN_OR_RETURN(const auto manifest, LoadManifest(manifest_file));
  int64_t bytes = -1, step = -1;
  auto it = manifest.find("bytes");
  auto step_it = manifest.find("step");
  if (manifest.count("psd-checkpoint") == 0 || it == manifest.end() ||
      !absl::SimpleAtoi(it->second, &bytes) || step_it == manifest.end() ||
      !absl::SimpleAtoi(step_it->second, &step)) {
    return absl::DataLossError(absl::StrCat(manifest_file, ": malformed manifest"));
  }
  absl::StatusOr<RegularFile> opened = OpenRegularFile(data_file);
  if (absl::IsInvalidArgument(opened.status())) {  // not a regular file
    return absl::DataLossError(opened.status().message());
  }
  PSD_RETURN_IF_ERROR(opened.status());
  const RegularFile& file = *opened;
  if (file.size != bytes || bytes > MaxDataBytes(placement, rank)) {
    return absl::DataLossError(absl::StrCat(
        data_file, ": ", file.size, " bytes do not match the manifest (", bytes, " bytes)"));
  }
  // The header: magic, version, rank, servers, step, generation, the job id, the placement.
  std::string buf;
  constexpr int64_t kFixed = sizeof(kMagic) + 3 * 4 + 2 * 8 + 4;
  PSD_RETURN_IF_ERROR(ReadAt(file, data_file, 0, kFixed, buf));
  uint32_t id_size = 0;
  std::memcpy(&id_size, buf.data() + kFixed - 4, sizeof(id_size));
  const int64_t header =
      kFixed + int64_t{id_size} + 8 + 32 * static_cast<int64_t>(placement.chunks().size()) + 4 + 8;
  PSD_RETURN_IF_ERROR(ReadAt(file, data_file, 0, std::min(header, file.size), buf));
  Reader r(data_file, buf);
  CheckpointMeta meta;
  PSD_RETURN_IF_ERROR(CheckHeader(r, rank, placement, &meta));
  if (meta.step != step) {
    return r.Error(absl::StrCat("holds step ", meta.step, "; its manifest says ", step));
  }
  PSD_ASSIGN_OR_RETURN(const uint64_t count, ReadChunkCount(r, rank, placement));
  std::vector<ChunkSnapshot> chunks;
  int64_t at = static_cast<int64_t>(r.pos());
  for (uint64_t i = 0; i < count; ++i) {
    PSD_RETURN_IF_ERROR(ReadAt(file, data_file, at, kRecordPrefix, buf));
    uint64_t key = 0;
    int64_t length = 0;
    uint32_t slot0 = 0, slot1 = 0;
    std::memcpy(&key, buf.data(), 8);
    std::memcpy(&length, buf.data() + 24, 8);
    std::memcpy(&slot0, buf.data() + 32, 4);
    std::memcpy(&slot1, buf.data() + 36, 4);
    if (key >= placement.chunks().size() || length != placement.chunk(key).length ||
        (slot0 != 0 && slot0 != length) || (slot1 != 0 && slot1 != length)) {
      return absl::DataLossError(
          absl::StrCat(data_file, ": chunk record at byte ", at, " is malformed"));
    }
    if (placement.chunk(key).server != rank) {
      return absl::DataLossError(absl::StrCat(data_file, ": chunk ", key, " belongs to server ",
                                              placement.chunk(key).server));
    }
    const int64_t record = kRecordPrefix + 4 * (length + slot0 + slot1) + 4;
    if (wanted(key)) {
      PSD_RETURN_IF_ERROR(ReadAt(file, data_file, at, record, buf));
      Reader rec(data_file, buf);
      PSD_ASSIGN_OR_RETURN(ChunkSnapshot c, ReadChunk(rec, placement));
      chunks.push_back(std::move(c));
    }
    at += record;
  }
  if (at != file.size) {
    return absl::DataLossError(
        absl::StrCat(data_file, ": ", file.size - at, " bytes after the last chunk record"));
  }
  return chunks;
}

void PruneCheckpoints(const std::string& dir, const std::string& job_id, int rank, int keep) {
  if (!ValidateJobId(job_id).ok()) return;
  std::error_code ec;
  const std::string job_dir = CheckpointJobDir(dir, job_id);
  const std::vector<int64_t> steps = ListCheckpointSteps(job_dir);
  std::vector<int64_t> complete;
  for (int64_t step : steps) {
    if (fs::exists(CheckpointManifestFile(CheckpointStepDir(dir, job_id, step), rank), ec)) {
      complete.push_back(step);
    }
  }
  std::sort(complete.rbegin(), complete.rend());
  const size_t kept = std::min<size_t>(std::max(0, keep), complete.size());
  // The table files the kept checkpoints' chains need (sparse models).
  std::set<int64_t> needed;
  for (size_t i = 0; i < kept; ++i) {
    if (!fs::exists(CheckpointTableFile(CheckpointStepDir(dir, job_id, complete[i]), rank), ec)) {
      continue;
    }
    absl::StatusOr<std::vector<int64_t>> chain = TableChain(job_dir, rank, complete[i]);
    if (!chain.ok()) {
      // Keep every older table file: a broken chain is for an operator to look at.
      spdlog::warn("job {}: the table chain of step {} (server {}): {}", job_id, complete[i], rank,
                   chain.status());
      for (int64_t step : steps) {
        if (step <= complete[i]) needed.insert(step);
      }
      continue;
    }
    needed.insert(chain->begin(), chain->end());
  }
  for (size_t i = kept; i < complete.size(); ++i) {
    const std::string step_dir = CheckpointStepDir(dir, job_id, complete[i]);
    // The manifest goes first, so a crash in between leaves an incomplete (ignored) checkpoint.
    fs::remove(CheckpointManifestFile(step_dir, rank), ec);
    fs::remove(CheckpointDataFile(step_dir, rank), ec);
    spdlog::info("job {}: removed checkpoint of step {} (server {}; keeping {})", job_id,
                 complete[i], rank, keep);
  }
  // Table files no kept chain needs, older than the newest kept checkpoint (a newer step dir
  // may be one being written).
  if (kept == 0) return;
  for (int64_t step : steps) {
    if (step >= complete[0] || needed.count(step) > 0) continue;
    const std::string step_dir = CheckpointStepDir(dir, job_id, step);
    if (fs::remove(CheckpointTableFile(step_dir, rank), ec)) {
      spdlog::info("job {}: removed the table file of step {} (server {}): no kept chain needs it",
                   job_id, step, rank);
    }
    if (fs::is_empty(step_dir, ec)) fs::remove(step_dir, ec);
  }
  for (size_t i = kept; i < complete.size(); ++i) {
    const std::string step_dir = CheckpointStepDir(dir, job_id, complete[i]);
    if (fs::is_empty(step_dir, ec)) fs::remove(step_dir, ec);
  }
}

}  // namespace psd
