// libFuzzer target: the hand-written codec of the hot messages (proto/wire.h), which reads
// every push a server receives and every pull reply a worker receives, spread over the slices
// gRPC received.
//
// Input: byte 0 picks the message (bits 4-5 and 0: 0 PushRequest, 1 PullResponse, 2
// SparsePullRequest, 3 SparsePullResponse, else SparsePushRequest) and how many pieces it
// arrives in (bits 1-3: 1 to 8); the next pieces-1 bytes place the cuts; the rest is the
// message. Beyond not crashing:
//   - a decoded chunk's payload lies within the message, and reads (CopyTo, ForEachRun) whole;
//   - wire.h promises protobuf's encoding: whatever protobuf parses, the codec decodes to the
//     same fields (and the codec never silently differs from protobuf). One known difference is
//     left out: unknown fields of the deprecated group wire types (3, 4), which protobuf skips
//     and the codec refuses (no proto3 writer produces them; reported with issue 14);
//   - what the codec decoded, it encodes again to bytes that decode to the same fields.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_util.h"
#include "google/protobuf/unknown_field_set.h"
#include "proto/parameter_server.pb.h"
#include "proto/wire.h"

namespace psd {
namespace {

using fuzz::Input;

// The message cut into pieces at the positions `cuts` picks.
std::vector<Payload::Piece> Cut(absl::string_view message, absl::string_view cuts) {
  std::vector<size_t> at;
  for (unsigned char c : cuts) at.push_back(message.empty() ? 0 : c * message.size() / 256);
  std::sort(at.begin(), at.end());
  std::vector<Payload::Piece> pieces;
  size_t start = 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(message.data());
  for (size_t end : at) {
    pieces.emplace_back(bytes + start, end - start);  // empty pieces too: gRPC may hand them
    start = end;
  }
  pieces.emplace_back(bytes + start, message.size() - start);
  return pieces;
}

bool Within(const Payload::Piece& p, absl::string_view message) {
  const auto* begin = reinterpret_cast<const uint8_t*>(message.data());
  return p.empty() || (p.data() >= begin && p.data() + p.size() <= begin + message.size());
}

std::string Bytes(const Payload& p) {
  std::string out;
  for (const Payload::Piece& piece : p.pieces()) {
    out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }
  return out;
}

void CheckChunks(const std::vector<wire::ChunkView>& chunks, absl::string_view message) {
  int64_t total = 0;
  for (const wire::ChunkView& c : chunks) {
    for (const Payload::Piece& p : c.data.pieces()) FUZZ_CHECK(Within(p, message));
    total += c.data.bytes();
    FUZZ_CHECK(total <= static_cast<int64_t>(message.size()));
    if ((c.dtype == DTYPE_F32 || c.dtype == DTYPE_F16) && c.data.whole()) {
      Payload typed = c.data;
      typed.set_type(c.dtype == DTYPE_F16 ? WireType::kF16 : WireType::kF32);
      std::vector<float> out(typed.elements());
      typed.CopyTo(out.data());
      int64_t next = 0;
      typed.ForEachRun([&](int64_t offset, const float* values, int64_t n) {
        FUZZ_CHECK(offset == next && n >= 0 && offset + n <= typed.elements());
        for (int64_t i = 0; i < n; ++i) {
          FUZZ_CHECK(std::isnan(values[i]) ? std::isnan(out[offset + i])
                                           : values[i] == out[offset + i]);
        }
        next = offset + n;
      });
      FUZZ_CHECK(next == typed.elements());
    }
  }
}

// Whether protobuf kept an unknown group field in `m` or its chunks (see the top).
bool HasGroup(const google::protobuf::UnknownFieldSet& set) {
  for (int i = 0; i < set.field_count(); ++i) {
    if (set.field(i).type() == google::protobuf::UnknownField::TYPE_GROUP) return true;
  }
  return false;
}

template <typename M>
bool HasUnknownGroup(const M& m) {
  if (HasGroup(m.GetReflection()->GetUnknownFields(m))) return true;
  for (const Chunk& c : m.chunks()) {
    if (HasGroup(c.GetReflection()->GetUnknownFields(c))) return true;
  }
  return false;
}

// protobuf's chunks and the codec's are the same.
void CheckSameChunks(const google::protobuf::RepeatedPtrField<Chunk>& proto,
                     const std::vector<wire::ChunkView>& view) {
  FUZZ_CHECK(proto.size() == static_cast<int>(view.size()),
             absl::StrCat("protobuf has ", proto.size(), " chunks, the codec ", view.size()));
  for (int i = 0; i < proto.size(); ++i) {
    FUZZ_CHECK(proto[i].key() == view[i].key, absl::StrCat("chunk ", i, " key"));
    FUZZ_CHECK(proto[i].dtype() == view[i].dtype, absl::StrCat("chunk ", i, " dtype"));
    FUZZ_CHECK(proto[i].data() == Bytes(view[i].data), absl::StrCat("chunk ", i, " data"));
  }
}

// The chunks as ChunkRefs over flat copies of their payloads (kept in `storage`); false if a
// dtype cannot be encoded.
bool Refs(const std::vector<wire::ChunkView>& chunks, std::vector<std::string>* storage,
          std::vector<wire::ChunkRef>* refs) {
  storage->clear();
  storage->reserve(chunks.size());
  for (const wire::ChunkView& c : chunks) {
    if (!DType_IsValid(c.dtype)) return false;
    storage->push_back(Bytes(c.data));
    const std::string& s = storage->back();
    refs->push_back(
        {c.key, static_cast<DType>(c.dtype),
         absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size())});
  }
  return true;
}

void FuzzPush(absl::string_view message, const std::vector<Payload::Piece>& pieces) {
  wire::PushRequestView view;
  const absl::Status status = wire::DecodePushRequest(pieces, &view);
  PushRequest proto;
  const bool parsed = proto.ParseFromArray(message.data(), static_cast<int>(message.size())) &&
                      !HasUnknownGroup(proto);
  if (parsed) {
    FUZZ_CHECK(status.ok(), absl::StrCat("protobuf parses it, the codec says ", status.ToString()));
  }
  if (!status.ok()) return;
  CheckChunks(view.chunks, message);
  if (parsed) {
    FUZZ_CHECK(proto.job_id() == view.job_id, "job_id");
    FUZZ_CHECK(proto.generation() == view.generation, "generation");
    FUZZ_CHECK(proto.worker() == view.worker, "worker");
    FUZZ_CHECK(proto.step() == view.step, "step");
    FUZZ_CHECK(proto.request_id() == view.request_id, "request_id");
    FUZZ_CHECK(proto.pull_dtype() == view.pull_dtype, "pull_dtype");
    FUZZ_CHECK(proto.total_steps() == view.total_steps, "total_steps");
    CheckSameChunks(proto.chunks(), view.chunks);
  }
  // Encode what was decoded; it decodes to the same.
  std::vector<std::string> storage;
  std::vector<wire::ChunkRef> refs;
  if (!DType_IsValid(view.pull_dtype) || !Refs(view.chunks, &storage, &refs)) return;
  wire::PushRequestHeader header{view.job_id,     view.generation,
                                 view.worker,     view.step,
                                 view.request_id, static_cast<DType>(view.pull_dtype),
                                 view.total_steps};
  wire::EncodedMessage encoded;
  wire::EncodePushRequest(header, refs, &encoded);
  const std::string flat = encoded.Flatten();
  FUZZ_CHECK(flat.size() == encoded.size());
  wire::PushRequestView again;
  const Payload::Piece whole(reinterpret_cast<const uint8_t*>(flat.data()), flat.size());
  const absl::Status s = wire::DecodePushRequest({&whole, 1}, &again);
  FUZZ_CHECK(s.ok(), s.ToString());
  FUZZ_CHECK(again.job_id == view.job_id && again.generation == view.generation &&
             again.worker == view.worker && again.step == view.step &&
             again.request_id == view.request_id && again.pull_dtype == view.pull_dtype &&
             again.total_steps == view.total_steps && again.chunks.size() == view.chunks.size());
  for (size_t i = 0; i < view.chunks.size(); ++i) {
    FUZZ_CHECK(again.chunks[i].key == view.chunks[i].key &&
               again.chunks[i].dtype == view.chunks[i].dtype &&
               Bytes(again.chunks[i].data) == storage[i]);
  }
}

void FuzzPull(absl::string_view message, const std::vector<Payload::Piece>& pieces) {
  wire::PullResponseView view;
  const absl::Status status = wire::DecodePullResponse(pieces, &view);
  PullResponse proto;
  const bool parsed = proto.ParseFromArray(message.data(), static_cast<int>(message.size())) &&
                      !HasUnknownGroup(proto);
  if (parsed) {
    FUZZ_CHECK(status.ok(), absl::StrCat("protobuf parses it, the codec says ", status.ToString()));
  }
  if (!status.ok()) return;
  CheckChunks(view.chunks, message);
  if (parsed) {
    FUZZ_CHECK(proto.server_step() == view.server_step, "server_step");
    FUZZ_CHECK(proto.staleness() == view.staleness, "staleness");
    CheckSameChunks(proto.chunks(), view.chunks);
  }
  std::vector<std::string> storage;
  std::vector<wire::ChunkRef> refs;
  if (!Refs(view.chunks, &storage, &refs)) return;
  wire::EncodedMessage encoded;
  wire::EncodePullResponse({view.server_step, view.staleness}, refs, &encoded);
  const std::string flat = encoded.Flatten();
  wire::PullResponseView again;
  const Payload::Piece whole(reinterpret_cast<const uint8_t*>(flat.data()), flat.size());
  const absl::Status s = wire::DecodePullResponse({&whole, 1}, &again);
  FUZZ_CHECK(s.ok(), s.ToString());
  FUZZ_CHECK(again.server_step == view.server_step && again.staleness == view.staleness &&
             again.chunks.size() == view.chunks.size());
  for (size_t i = 0; i < view.chunks.size(); ++i) {
    FUZZ_CHECK(again.chunks[i].key == view.chunks[i].key &&
               again.chunks[i].dtype == view.chunks[i].dtype &&
               Bytes(again.chunks[i].data) == storage[i]);
  }
}

// The sparse messages: against protobuf's parse, in place, and encoded again.
void CheckInPlace(const Payload& values, absl::string_view message) {
  for (const Payload::Piece& p : values.pieces()) FUZZ_CHECK(Within(p, message));
  FUZZ_CHECK(values.bytes() <= static_cast<int64_t>(message.size()));
}

std::vector<uint64_t> Keys(const google::protobuf::RepeatedField<uint64_t>& keys) {
  return {keys.begin(), keys.end()};
}

template <typename Proto>
bool Parses(absl::string_view message, Proto* proto) {
  return proto->ParseFromArray(message.data(), static_cast<int>(message.size())) &&
         !HasGroup(proto->GetReflection()->GetUnknownFields(*proto));
}

void FuzzSparsePullRequest(absl::string_view message, const std::vector<Payload::Piece>& pieces) {
  wire::SparsePullRequestView view;
  const absl::Status status = wire::DecodeSparsePullRequest(pieces, &view);
  SparsePullRequest proto;
  const bool parsed = Parses(message, &proto);
  if (parsed) FUZZ_CHECK(status.ok(), absl::StrCat("protobuf parses it: ", status.ToString()));
  if (!status.ok()) return;
  if (parsed) {
    FUZZ_CHECK(proto.job_id() == view.job_id && proto.generation() == view.generation &&
                   proto.worker() == view.worker && proto.step() == view.step &&
                   proto.read_only() == view.read_only && proto.dtype() == view.dtype &&
                   Keys(proto.keys()) == view.keys,
               "SparsePullRequest fields");
  }
  if (!DType_IsValid(view.dtype)) return;
  wire::SparseRequestHeader h{
      view.job_id,   view.generation, view.worker, view.step, static_cast<DType>(view.dtype),
      view.read_only};
  wire::EncodedMessage encoded;
  wire::EncodeSparsePullRequest(h, view.keys, &encoded);
  const std::string flat = encoded.Flatten();
  const Payload::Piece whole(reinterpret_cast<const uint8_t*>(flat.data()), flat.size());
  wire::SparsePullRequestView again;
  FUZZ_CHECK(wire::DecodeSparsePullRequest({&whole, 1}, &again).ok());
  FUZZ_CHECK(again.job_id == view.job_id && again.step == view.step && again.keys == view.keys &&
             again.read_only == view.read_only && again.dtype == view.dtype);
}

void FuzzSparsePush(absl::string_view message, const std::vector<Payload::Piece>& pieces) {
  wire::SparsePushRequestView view;
  const absl::Status status = wire::DecodeSparsePushRequest(pieces, &view);
  SparsePushRequest proto;
  const bool parsed = Parses(message, &proto);
  if (parsed) FUZZ_CHECK(status.ok(), absl::StrCat("protobuf parses it: ", status.ToString()));
  if (!status.ok()) return;
  CheckInPlace(view.grads, message);
  if (parsed) {
    FUZZ_CHECK(proto.job_id() == view.job_id && proto.generation() == view.generation &&
                   proto.worker() == view.worker && proto.step() == view.step &&
                   proto.total_steps() == view.total_steps && proto.dtype() == view.dtype &&
                   Keys(proto.keys()) == view.keys && proto.grads() == Bytes(view.grads),
               "SparsePushRequest fields");
  }
  if (!DType_IsValid(view.dtype)) return;
  const std::string grads = Bytes(view.grads);
  wire::SparseRequestHeader h{view.job_id, view.generation, view.worker, view.step,
                              static_cast<DType>(view.dtype)};
  h.total_steps = view.total_steps;
  wire::EncodedMessage encoded;
  wire::EncodeSparsePushRequest(
      h, view.keys,
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(grads.data()), grads.size()),
      &encoded);
  const std::string flat = encoded.Flatten();
  const Payload::Piece whole(reinterpret_cast<const uint8_t*>(flat.data()), flat.size());
  wire::SparsePushRequestView again;
  FUZZ_CHECK(wire::DecodeSparsePushRequest({&whole, 1}, &again).ok());
  FUZZ_CHECK(again.job_id == view.job_id && again.total_steps == view.total_steps &&
             again.keys == view.keys && Bytes(again.grads) == grads);
}

void FuzzSparsePullResponse(absl::string_view message, const std::vector<Payload::Piece>& pieces) {
  wire::SparsePullResponseView view;
  const absl::Status status = wire::DecodeSparsePullResponse(pieces, DTYPE_F16, &view);
  SparsePullResponse proto;
  const bool parsed = Parses(message, &proto);
  if (parsed) FUZZ_CHECK(status.ok(), absl::StrCat("protobuf parses it: ", status.ToString()));
  if (!status.ok()) return;
  CheckInPlace(view.rows, message);
  if (view.rows.whole()) {
    std::vector<float> out(static_cast<size_t>(view.rows.elements()));
    view.rows.CopyTo(out.data());
  }
  if (parsed) {
    FUZZ_CHECK(proto.server_step() == view.server_step &&
                   proto.server_micros() == view.server_micros && proto.dim() == view.dim &&
                   proto.rows() == Bytes(view.rows),
               "SparsePullResponse fields");
  }
  const std::string rows = Bytes(view.rows);
  wire::EncodedMessage encoded;
  wire::EncodeSparsePullResponse(
      {view.server_step, view.server_micros, view.dim},
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(rows.data()), rows.size()),
      &encoded);
  const std::string flat = encoded.Flatten();
  const Payload::Piece whole(reinterpret_cast<const uint8_t*>(flat.data()), flat.size());
  wire::SparsePullResponseView again;
  FUZZ_CHECK(wire::DecodeSparsePullResponse({&whole, 1}, DTYPE_F16, &again).ok());
  FUZZ_CHECK(again.server_step == view.server_step && again.server_micros == view.server_micros &&
             again.dim == view.dim && Bytes(again.rows) == rows);
}

}  // namespace
}  // namespace psd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  psd::fuzz::Input in(data, size);
  const uint8_t mode = in.Byte();
  const absl::string_view cuts = in.Bytes((mode >> 1) & 7);
  const absl::string_view message = in.Rest();
  // `message` ends where libFuzzer's buffer ends, so ASan catches a read one byte past it.
  const std::vector<psd::Payload::Piece> pieces = psd::Cut(message, cuts);
  switch (((mode >> 4) & 3) * 2 + (mode & 1)) {
    case 0:
      psd::FuzzPush(message, pieces);
      break;
    case 1:
      psd::FuzzPull(message, pieces);
      break;
    case 2:
      psd::FuzzSparsePullRequest(message, pieces);
      break;
    case 3:
      psd::FuzzSparsePullResponse(message, pieces);
      break;
    default:
      psd::FuzzSparsePush(message, pieces);
  }
  return 0;
}
