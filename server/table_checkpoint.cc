#include "server/table_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_layout.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "server/checkpoint_bytes.h"

namespace psd {
namespace {

constexpr char kMagic[8] = {'P', 'S', 'D', 'T', 'A', 'B', 'L', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kFull = 0, kIncremental = 1;
constexpr uint32_t kBlockRows = 4096;  // rows (or deleted keys) per checksummed block
constexpr int kMaxDim = 4096;
// magic, version, kind, step, base, rank, servers, dim, slots, rows, deleted, block rows, id size
constexpr size_t kFixedHeader = 8 + 4 + 4 + 8 + 8 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 4;
constexpr size_t kMaxHeader = kFixedHeader + kMaxJobIdLength + 4;

using checkpoint_bytes::Put;
using checkpoint_bytes::PutFloats;
using checkpoint_bytes::Reader;

std::string HeaderBytes(const TableFileHeader& h) {
  std::string out(kMagic, sizeof(kMagic));
  Put<uint32_t>(out, kVersion);
  Put<uint32_t>(out, h.full ? kFull : kIncremental);
  Put<int64_t>(out, h.step);
  Put<int64_t>(out, h.full ? 0 : h.base_step);
  Put<uint32_t>(out, static_cast<uint32_t>(h.rank));
  Put<uint32_t>(out, static_cast<uint32_t>(h.num_servers));
  Put<uint32_t>(out, static_cast<uint32_t>(h.dim));
  Put<uint32_t>(out, static_cast<uint32_t>(h.slots));
  Put<uint64_t>(out, h.rows);
  Put<uint64_t>(out, h.deleted);
  Put<uint32_t>(out, kBlockRows);
  Put<uint32_t>(out, static_cast<uint32_t>(h.job_id.size()));
  out += h.job_id;
  Put<uint32_t>(out, Crc32c(out.data(), out.size()));
  return out;
}

// Parses and checks a header; `block_rows` gets the file's block size.
absl::StatusOr<TableFileHeader> ParseHeader(Reader& r, uint32_t* block_rows) {
  TableFileHeader h;
  PSD_ASSIGN_OR_RETURN(absl::string_view magic, r.Bytes(sizeof(kMagic), "the magic"));
  if (magic != absl::string_view(kMagic, sizeof(kMagic))) {
    return r.Error("not a psd table checkpoint");
  }
  PSD_ASSIGN_OR_RETURN(uint32_t version, r.Get<uint32_t>("the version"));
  if (version != kVersion) return r.Error(absl::StrCat("unsupported version ", version));
  PSD_ASSIGN_OR_RETURN(uint32_t kind, r.Get<uint32_t>("the kind"));
  PSD_ASSIGN_OR_RETURN(h.step, r.Get<int64_t>("the step"));
  PSD_ASSIGN_OR_RETURN(h.base_step, r.Get<int64_t>("the base step"));
  PSD_ASSIGN_OR_RETURN(uint32_t rank, r.Get<uint32_t>("the rank"));
  PSD_ASSIGN_OR_RETURN(uint32_t servers, r.Get<uint32_t>("the server count"));
  PSD_ASSIGN_OR_RETURN(uint32_t dim, r.Get<uint32_t>("the dim"));
  PSD_ASSIGN_OR_RETURN(uint32_t slots, r.Get<uint32_t>("the slots"));
  PSD_ASSIGN_OR_RETURN(h.rows, r.Get<uint64_t>("the row count"));
  PSD_ASSIGN_OR_RETURN(h.deleted, r.Get<uint64_t>("the deleted count"));
  PSD_ASSIGN_OR_RETURN(*block_rows, r.Get<uint32_t>("the block size"));
  PSD_ASSIGN_OR_RETURN(uint32_t id_size, r.Get<uint32_t>("the job id"));
  if (id_size > kMaxJobIdLength) return r.Error(absl::StrCat("job id of ", id_size, " bytes"));
  PSD_ASSIGN_OR_RETURN(absl::string_view id, r.Bytes(id_size, "the job id"));
  const size_t header_end = r.pos();
  PSD_ASSIGN_OR_RETURN(uint32_t crc, r.Get<uint32_t>("the header checksum"));
  if (Crc32c(r.data().data(), header_end) != crc) return r.Error("header checksum mismatch");
  if (kind != kFull && kind != kIncremental) return r.Error(absl::StrCat("unknown kind ", kind));
  h.full = kind == kFull;
  h.job_id = std::string(id);
  h.rank = static_cast<int>(rank);
  h.num_servers = static_cast<int>(servers);
  h.dim = static_cast<int>(dim);
  h.slots = static_cast<int>(slots);
  if (dim < 1 || dim > kMaxDim || slots > 4 * dim || *block_rows == 0 || h.step <= 0 ||
      rank >= servers || (h.full && h.base_step != 0) ||
      (!h.full && (h.base_step <= 0 || h.base_step >= h.step))) {
    return r.Error("malformed header");
  }
  return h;
}

size_t RecordBytes(const TableFileHeader& h) {
  return 8 + 4 * static_cast<size_t>(h.dim + h.slots) + 4;
}

std::string StepFile(const std::string& job_dir, int rank, int64_t step) {
  return CheckpointTableFile(absl::StrCat(job_dir, "/", step), rank);
}

}  // namespace

absl::StatusOr<TableFileInfo> WriteTableFile(const std::string& path,
                                             const TableSnapshot& snapshot) {
  TableFileHeader h = snapshot.header;
  const size_t n = snapshot.keys.size();
  const size_t dim = static_cast<size_t>(h.dim), slots = static_cast<size_t>(h.slots);
  if (h.dim < 1 || h.dim > kMaxDim || h.slots < 0 || snapshot.values.size() != n * dim ||
      snapshot.slots.size() != n * slots || snapshot.updates.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", n, " rows with ", snapshot.values.size(), " values, ",
                     snapshot.slots.size(), " slots and ", snapshot.updates.size(),
                     " update counts do not match dim ", h.dim, " and slots ", h.slots));
  }
  PSD_RETURN_IF_ERROR(ValidateJobId(h.job_id));
  h.rows = n;
  h.deleted = snapshot.deleted.size();
  PSD_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(path));
  std::string block = HeaderBytes(h);
  uint32_t crc = Crc32c(block.data(), block.size());
  PSD_RETURN_IF_ERROR(writer.Append(block));
  for (size_t begin = 0; begin < n; begin += kBlockRows) {
    const size_t end = std::min(n, begin + kBlockRows);
    block.clear();
    Put<uint32_t>(block, static_cast<uint32_t>(end - begin));
    for (size_t i = begin; i < end; ++i) {
      Put<uint64_t>(block, snapshot.keys[i]);
      PutFloats(block, snapshot.values.data() + i * dim, dim);
      PutFloats(block, snapshot.slots.data() + i * slots, slots);
      Put<uint32_t>(block, snapshot.updates[i]);
    }
    Put<uint32_t>(block, Crc32c(block.data(), block.size()));
    crc = Crc32c(block.data(), block.size(), crc);
    PSD_RETURN_IF_ERROR(writer.Append(block));
  }
  for (size_t begin = 0; begin < h.deleted; begin += kBlockRows) {
    const size_t end = std::min<size_t>(h.deleted, begin + kBlockRows);
    block.clear();
    Put<uint32_t>(block, static_cast<uint32_t>(end - begin));
    for (size_t i = begin; i < end; ++i) Put<uint64_t>(block, snapshot.deleted[i]);
    Put<uint32_t>(block, Crc32c(block.data(), block.size()));
    crc = Crc32c(block.data(), block.size(), crc);
    PSD_RETURN_IF_ERROR(writer.Append(block));
  }
  TableFileInfo info{writer.bytes_written(), crc};
  PSD_RETURN_IF_ERROR(writer.Commit());
  return info;
}

absl::StatusOr<TableFileHeader> ReadTableFileHeader(const std::string& path) {
  absl::StatusOr<RegularFile> file = OpenRegularFile(path);
  if (absl::IsInvalidArgument(file.status())) return absl::DataLossError(file.status().message());
  PSD_RETURN_IF_ERROR(file.status());
  std::string bytes(kMaxHeader, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = read(file->fd.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return absl::DataLossError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  Reader r(path, bytes);
  uint32_t block_rows = 0;
  return ParseHeader(r, &block_rows);
}

absl::StatusOr<TableSnapshot> ReadTableFile(const std::string& path) {
  absl::StatusOr<std::string> read = ReadFileToString(path);
  if (absl::IsInvalidArgument(read.status())) return absl::DataLossError(read.status().message());
  PSD_RETURN_IF_ERROR(read.status());
  const std::string data = *std::move(read);
  Reader r(path, data);
  TableSnapshot s;
  uint32_t block_rows = 0;
  PSD_ASSIGN_OR_RETURN(s.header, ParseHeader(r, &block_rows));
  const TableFileHeader& h = s.header;
  // Never allocate for more rows than the file can hold.
  const size_t left = data.size() - r.pos();
  if (h.rows > left / RecordBytes(h) || h.deleted > left / 8) {
    return r.Error(absl::StrCat("header says ", h.rows, " rows and ", h.deleted,
                                " deleted keys, more than its ", data.size(), " bytes hold"));
  }
  s.keys.reserve(h.rows);
  s.values.reserve(h.rows * h.dim);
  s.slots.reserve(h.rows * h.slots);
  s.updates.reserve(h.rows);
  s.deleted.reserve(h.deleted);
  for (int part = 0; part < 2; ++part) {
    const uint64_t total = part == 0 ? h.rows : h.deleted;
    const char* what = part == 0 ? "a row block" : "a deleted-key block";
    for (uint64_t done = 0; done < total;) {
      const size_t start = r.pos();
      PSD_ASSIGN_OR_RETURN(uint32_t n, r.Get<uint32_t>(what));
      if (n == 0 || n > block_rows || n > total - done) {
        return r.Error(absl::StrCat(what, " at byte ", start, " is malformed"));
      }
      const size_t record = part == 0 ? RecordBytes(h) : 8;
      PSD_ASSIGN_OR_RETURN(absl::string_view bytes, r.Bytes(record * n, what));
      const char* p = bytes.data();
      if (part == 0) {
        const size_t dim = static_cast<size_t>(h.dim), nslots = static_cast<size_t>(h.slots);
        const size_t at = s.keys.size();
        s.keys.resize(at + n);
        s.values.resize((at + n) * dim);
        s.slots.resize((at + n) * nslots);
        s.updates.resize(at + n);
        for (uint32_t i = 0; i < n; ++i, p += record) {
          std::memcpy(&s.keys[at + i], p, 8);
          std::memcpy(s.values.data() + (at + i) * dim, p + 8, 4 * dim);
          if (nslots > 0)
            std::memcpy(s.slots.data() + (at + i) * nslots, p + 8 + 4 * dim, 4 * nslots);
          std::memcpy(&s.updates[at + i], p + 8 + 4 * (dim + nslots), 4);
        }
      } else {
        const size_t at = s.deleted.size();
        s.deleted.resize(at + n);
        std::memcpy(s.deleted.data() + at, p, 8 * static_cast<size_t>(n));
      }
      const size_t end = r.pos();
      PSD_ASSIGN_OR_RETURN(uint32_t crc, r.Get<uint32_t>(what));
      if (Crc32c(data.data() + start, end - start) != crc) {
        return r.Error(absl::StrCat(what, " at byte ", start, ": checksum mismatch"));
      }
      done += n;
    }
  }
  if (r.pos() != data.size()) {
    return r.Error(absl::StrCat(data.size() - r.pos(), " bytes after the last block"));
  }
  return s;
}

absl::StatusOr<std::vector<int64_t>> TableChain(const std::string& job_dir, int rank,
                                                int64_t step) {
  std::vector<int64_t> chain;
  for (int64_t at = step;;) {
    const std::string file = StepFile(job_dir, rank, at);
    absl::StatusOr<TableFileHeader> h = ReadTableFileHeader(file);
    if (absl::IsNotFound(h.status())) {
      return absl::NotFoundError(
          chain.empty() ? absl::StrCat(file, ": missing: the checkpoint has no table")
                        : absl::StrCat(file, ": missing: the incremental table checkpoint of step ",
                                       chain.back(), " applies on it"));
    }
    PSD_RETURN_IF_ERROR(h.status());
    if (h->step != at || h->rank != rank) {
      return absl::DataLossError(absl::StrCat(file, ": holds step ", h->step, " of server ",
                                              h->rank, ", expected step ", at, " of server ",
                                              rank));
    }
    chain.push_back(at);
    if (h->full) break;
    at = h->base_step;  // < at: the header check guarantees the chain goes back
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

absl::StatusOr<TableSnapshot> ReadTableChain(const std::string& job_dir, int64_t step,
                                             const TableExpectation& expect) {
  PSD_ASSIGN_OR_RETURN(std::vector<int64_t> chain, TableChain(job_dir, expect.rank, step));
  const size_t dim = static_cast<size_t>(expect.dim), nslots = static_cast<size_t>(expect.slots);
  // key -> the row's index in `merged`; deleted rows leave holes that are skipped.
  absl::flat_hash_map<uint64_t, size_t> index;
  TableSnapshot merged;
  std::vector<bool> alive;
  for (size_t c = 0; c < chain.size(); ++c) {
    const std::string file = StepFile(job_dir, expect.rank, chain[c]);
    PSD_ASSIGN_OR_RETURN(TableSnapshot s, ReadTableFile(file));
    const TableFileHeader& h = s.header;
    if (h.job_id != expect.job_id || h.num_servers != expect.num_servers || h.dim != expect.dim ||
        h.slots != expect.slots) {
      return absl::DataLossError(absl::StrCat(
          file, ": written for job ", h.job_id, " on ", h.num_servers, " servers with dim ", h.dim,
          " and ", h.slots, " optimizer slots per row; this is job ", expect.job_id, " on ",
          expect.num_servers, " servers with dim ", expect.dim, " and ", expect.slots));
    }
    if (c == 0) {  // the full one: its rows as they are (keys are unique in a table)
      merged = std::move(s);
      alive.assign(merged.keys.size(), true);
      if (chain.size() > 1) {
        index.reserve(merged.keys.size());
        for (size_t j = 0; j < merged.keys.size(); ++j) index.emplace(merged.keys[j], j);
      }
      continue;
    }
    // Deleted keys first: a row stored again after its eviction is in the rows too.
    for (uint64_t key : s.deleted) {
      auto it = index.find(key);
      if (it == index.end()) continue;
      alive[it->second] = false;
      index.erase(it);
    }
    for (size_t i = 0; i < s.keys.size(); ++i) {
      auto [it, inserted] = index.emplace(s.keys[i], merged.keys.size());
      if (inserted) {
        merged.keys.push_back(s.keys[i]);
        merged.values.resize(merged.values.size() + dim);
        merged.slots.resize(merged.slots.size() + nslots);
        merged.updates.push_back(0);
        alive.push_back(true);
      }
      const size_t j = it->second;
      std::copy_n(s.values.data() + i * dim, dim, merged.values.data() + j * dim);
      if (nslots > 0)
        std::copy_n(s.slots.data() + i * nslots, nslots, merged.slots.data() + j * nslots);
      merged.updates[j] = s.updates[i];
    }
  }
  // Compact the live rows, sorted by key.
  std::vector<std::pair<uint64_t, size_t>> order;
  order.reserve(index.size());
  for (size_t j = 0; j < merged.keys.size(); ++j) {
    if (alive[j]) order.emplace_back(merged.keys[j], j);
  }
  index = {};
  std::sort(order.begin(), order.end());
  TableSnapshot out;
  out.header.job_id = expect.job_id;
  out.header.step = step;
  out.header.rank = expect.rank;
  out.header.num_servers = expect.num_servers;
  out.header.dim = expect.dim;
  out.header.slots = expect.slots;
  out.header.full = true;
  out.header.rows = order.size();
  out.keys.resize(order.size());
  out.values.resize(order.size() * dim);
  out.slots.resize(order.size() * nslots);
  out.updates.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const size_t j = order[i].second;
    out.keys[i] = order[i].first;
    std::copy_n(merged.values.data() + j * dim, dim, out.values.data() + i * dim);
    if (nslots > 0) {
      std::copy_n(merged.slots.data() + j * nslots, nslots, out.slots.data() + i * nslots);
    }
    out.updates[i] = merged.updates[j];
  }
  return out;
}

}  // namespace psd
