#include "proto/wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace psd::wire {
namespace {

// Protobuf wire types.
constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;
constexpr int kFixed32 = 5;

// Field numbers (proto/parameter_server.proto).
constexpr int kChunkKey = 1, kChunkDtype = 2, kChunkData = 3;
constexpr int kPushJobId = 1, kPushGeneration = 2, kPushWorker = 3, kPushStep = 4,
              kPushRequestId = 5, kPushPullDtype = 6, kPushTotalSteps = 7, kPushChunks = 15;
constexpr int kPullServerStep = 1, kPullStaleness = 2, kPullServerMicros = 3, kPullChunks = 15;
// SparsePullRequest and SparsePushRequest share fields 1-4 and 6; field 5 is read_only (pull)
// or total_steps (push).
constexpr int kSparseJobId = 1, kSparseGeneration = 2, kSparseWorker = 3, kSparseStep = 4,
              kSparseField5 = 5, kSparseDtype = 6, kSparsePullKeys = 15, kSparsePushKeys = 14,
              kSparsePushGrads = 15;
constexpr int kSparseServerStep = 1, kSparseServerMicros = 2, kSparseDim = 3, kSparseRows = 15;

// Reads a message spread over byte ranges, within a limit (a nested message's length).
class Reader {
 public:
  Reader(absl::Span<const Payload::Piece> pieces, const char* what) : pieces_(pieces), what_(what) {
    for (const auto& p : pieces) end_ += p.size();
    Settle();
  }

  bool done() const { return pos_ >= end_; }
  size_t pos() const { return pos_; }
  size_t end() const { return end_; }
  void set_end(size_t end) { end_ = end; }

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", what_, " at byte ", pos_, ": ", message));
  }

  absl::Status Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) return Error("truncated varint");
      const uint8_t b = pieces_[piece_][offset_];
      Advance(1);
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return absl::OkStatus();
      }
    }
    return Error("varint longer than 10 bytes");
  }

  absl::Status Skip(uint64_t n) {
    if (n > end_ - pos_) return Error("field runs past the end of the message");
    Advance(n);
    return absl::OkStatus();
  }

  // Appends the next n bytes, in place, to `payload`.
  absl::Status Take(uint64_t n, Payload* payload) {
    if (n > end_ - pos_) return Error("field runs past the end of the message");
    while (n > 0) {
      const Payload::Piece& p = pieces_[piece_];
      const size_t take = std::min<uint64_t>(n, p.size() - offset_);
      payload->Append(Payload::Piece(p.data() + offset_, take));
      Advance(take);
      n -= take;
    }
    return absl::OkStatus();
  }

  absl::Status String(uint64_t n, std::string* s) {
    if (n > end_ - pos_) return Error("field runs past the end of the message");
    s->clear();
    s->reserve(n);
    while (n > 0) {
      const Payload::Piece& p = pieces_[piece_];
      const size_t take = std::min<uint64_t>(n, p.size() - offset_);
      s->append(reinterpret_cast<const char*>(p.data() + offset_), take);
      Advance(take);
      n -= take;
    }
    return absl::OkStatus();
  }

  // Skips a field of `wire_type` whose tag was read.
  absl::Status SkipField(int wire_type) {
    uint64_t v = 0;
    switch (wire_type) {
      case kVarint:
        return Varint(&v);
      case kFixed64:
        return Skip(8);
      case kLengthDelimited:
        if (auto s = Varint(&v); !s.ok()) return s;
        return Skip(v);
      case kFixed32:
        return Skip(4);
      default:
        return Error(absl::StrCat("unsupported wire type ", wire_type));
    }
  }

 private:
  void Advance(uint64_t n) {
    pos_ += n;
    offset_ += n;
    Settle();
  }
  // Moves past exhausted pieces.
  void Settle() {
    while (piece_ < pieces_.size() && offset_ >= pieces_[piece_].size()) {
      offset_ -= pieces_[piece_].size();
      ++piece_;
    }
  }

  absl::Span<const Payload::Piece> pieces_;
  const char* what_;
  size_t piece_ = 0;   // current piece
  size_t offset_ = 0;  // within it
  size_t pos_ = 0;     // within the message
  size_t end_ = 0;
};

struct Tag {
  int field;
  int wire_type;
};

absl::Status ReadTag(Reader& r, Tag* tag) {
  uint64_t v = 0;
  if (auto s = r.Varint(&v); !s.ok()) return s;
  tag->field = static_cast<int>(v >> 3);
  tag->wire_type = static_cast<int>(v & 7);
  if (tag->field == 0) return r.Error("field number 0");
  return absl::OkStatus();
}

// Reads a length prefix and narrows the reader to it; returns the outer end to restore.
absl::Status Enter(Reader& r, size_t* outer_end) {
  uint64_t len = 0;
  if (auto s = r.Varint(&len); !s.ok()) return s;
  if (len > r.end() - r.pos()) return r.Error("nested message runs past the end");
  *outer_end = r.end();
  r.set_end(r.pos() + len);
  return absl::OkStatus();
}

absl::Status DecodeChunk(Reader& r, ChunkView* chunk) {
  size_t outer_end = 0;
  if (auto s = Enter(r, &outer_end); !s.ok()) return s;
  Payload data;
  while (!r.done()) {
    Tag tag;
    if (auto s = ReadTag(r, &tag); !s.ok()) return s;
    uint64_t v = 0;
    if (tag.field == kChunkKey && tag.wire_type == kVarint) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      chunk->key = v;
    } else if (tag.field == kChunkDtype && tag.wire_type == kVarint) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      chunk->dtype = static_cast<int32_t>(v);
    } else if (tag.field == kChunkData && tag.wire_type == kLengthDelimited) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      data.Clear();  // the last occurrence wins, as in protobuf
      if (auto s = r.Take(v, &data); !s.ok()) return s;
    } else if (auto s = r.SkipField(tag.wire_type); !s.ok()) {
      return s;
    }
  }
  data.set_type(chunk->dtype == DTYPE_F16 ? WireType::kF16 : WireType::kF32);
  chunk->data = std::move(data);
  r.set_end(outer_end);
  return absl::OkStatus();
}

// Appends `len` bytes of little-endian fixed64 values (a packed repeated field) to `keys`.
absl::Status AppendFixed64s(Reader& r, uint64_t len, std::vector<uint64_t>* keys) {
  if (len % 8 != 0) {
    return r.Error(absl::StrCat("packed fixed64 keys of ", len, " bytes, not a multiple of 8"));
  }
  Payload bytes;
  if (auto s = r.Take(len, &bytes); !s.ok()) return s;
  const size_t base = keys->size();
  keys->resize(base + len / 8);
  auto* to = reinterpret_cast<uint8_t*>(keys->data() + base);
  for (const Payload::Piece& p : bytes.pieces()) {
    std::memcpy(to, p.data(), p.size());
    to += p.size();
  }
  return absl::OkStatus();
}

// Reads a repeated fixed64 field whose tag was read: packed or, as protobuf also accepts, one
// value per tag.
absl::Status ReadKeys(Reader& r, int wire_type, std::vector<uint64_t>* keys) {
  if (wire_type == kFixed64) return AppendFixed64s(r, 8, keys);
  uint64_t len = 0;
  if (auto s = r.Varint(&len); !s.ok()) return s;
  return AppendFixed64s(r, len, keys);
}

bool IsKeys(const Tag& tag, int field) {
  return tag.field == field && (tag.wire_type == kLengthDelimited || tag.wire_type == kFixed64);
}

// Fields 1-4, which PushRequest, SparsePullRequest and SparsePushRequest share.
struct RequestHeaderFields {
  std::string* job_id;
  int64_t* generation;
  int32_t* worker;
  int64_t* step;
};

// Reads the field of `tag` into `h` when it is one of fields 1-4 (*read says whether it was).
absl::Status ReadRequestHeader(Reader& r, const Tag& tag, const RequestHeaderFields& h,
                               bool* read) {
  *read = true;
  uint64_t v = 0;
  static_assert(kPushJobId == kSparseJobId && kPushGeneration == kSparseGeneration &&
                kPushWorker == kSparseWorker && kPushStep == kSparseStep);
  if (tag.field == kSparseJobId && tag.wire_type == kLengthDelimited) {
    if (auto s = r.Varint(&v); !s.ok()) return s;
    return r.String(v, h.job_id);
  }
  if (tag.wire_type != kVarint || tag.field < kSparseGeneration || tag.field > kSparseStep) {
    *read = false;
    return absl::OkStatus();
  }
  if (auto s = r.Varint(&v); !s.ok()) return s;
  if (tag.field == kSparseGeneration) *h.generation = static_cast<int64_t>(v);
  if (tag.field == kSparseWorker) *h.worker = static_cast<int32_t>(v);
  if (tag.field == kSparseStep) *h.step = static_cast<int64_t>(v);
  return absl::OkStatus();
}

// The fields of SparsePullRequest and SparsePushRequest.
struct SparseRequestFields {
  std::string job_id;
  int64_t generation = 0;
  int32_t worker = 0;
  int64_t step = 0;
  uint64_t field5 = 0;
  int dtype = DTYPE_F32;
  std::vector<uint64_t> keys;
  Payload values;
};

absl::Status DecodeSparseRequest(absl::Span<const Payload::Piece> message, const char* what,
                                 int keys_field, int values_field, SparseRequestFields* out) {
  Reader r(message, what);
  const RequestHeaderFields header{&out->job_id, &out->generation, &out->worker, &out->step};
  while (!r.done()) {
    Tag tag;
    if (auto s = ReadTag(r, &tag); !s.ok()) return s;
    bool read = false;
    if (auto s = ReadRequestHeader(r, tag, header, &read); !s.ok()) return s;
    if (read) continue;
    uint64_t v = 0;
    if (tag.wire_type == kVarint && (tag.field == kSparseField5 || tag.field == kSparseDtype)) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      if (tag.field == kSparseField5) {
        out->field5 = v;
      } else {
        out->dtype = static_cast<int32_t>(v);
      }
    } else if (IsKeys(tag, keys_field)) {
      if (auto s = ReadKeys(r, tag.wire_type, &out->keys); !s.ok()) return s;
    } else if (tag.field == values_field && tag.wire_type == kLengthDelimited) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      out->values.Clear();  // the last occurrence wins, as in protobuf
      if (auto s = r.Take(v, &out->values); !s.ok()) return s;
    } else if (auto s = r.SkipField(tag.wire_type); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

WireType PayloadType(int dtype) { return dtype == DTYPE_F16 ? WireType::kF16 : WireType::kF32; }

// ---- Encoding ----

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(std::string* out, int field, int wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

// proto3 scalar fields: omitted when zero. int32 and enums are sign-extended to 64 bits.
void PutInt(std::string* out, int field, int64_t v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, static_cast<uint64_t>(v));
}

void PutUint(std::string* out, int field, uint64_t v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, v);
}

void PutString(std::string* out, int field, const std::string& v) {
  if (v.empty()) return;
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, v.size());
  out->append(v);
}

size_t IntFieldSize(int field, uint64_t v) {
  return v == 0 ? 0 : VarintSize(static_cast<uint64_t>(field) << 3) + VarintSize(v);
}

}  // namespace

class Encoder {
 public:
  explicit Encoder(EncodedMessage* out) : out_(out) {
    out_->written_.clear();
    out_->parts_.clear();
    out_->size_ = 0;
  }
  std::string* bytes() { return &out_->written_; }

  // Closes the written run since the last part.
  void Flush() {
    const size_t end = out_->written_.size();
    if (end > mark_) {
      out_->parts_.push_back({mark_, nullptr, end - mark_, false});
      out_->size_ += end - mark_;
    }
    mark_ = end;
  }
  void External(absl::Span<const uint8_t> data) {
    Flush();
    if (data.empty()) return;
    out_->parts_.push_back({0, data.data(), data.size(), true});
    out_->size_ += data.size();
  }

  // A length-delimited field whose bytes are referenced; omitted when empty, as in proto3.
  void ExternalField(int field, absl::Span<const uint8_t> data) {
    if (data.empty()) return;
    PutTag(bytes(), field, kLengthDelimited);
    PutVarint(bytes(), data.size());
    External(data);
  }

  void Chunks(int field, absl::Span<const ChunkRef> chunks) {
    std::string* b = bytes();
    for (const ChunkRef& c : chunks) {
      const size_t data_field =
          c.data.empty() ? 0
                         : VarintSize(kChunkData << 3) + VarintSize(c.data.size()) + c.data.size();
      const size_t len =
          IntFieldSize(kChunkKey, c.key) +
          IntFieldSize(kChunkDtype, static_cast<uint64_t>(static_cast<int64_t>(c.dtype))) +
          data_field;
      PutTag(b, field, kLengthDelimited);
      PutVarint(b, len);
      PutUint(b, kChunkKey, c.key);
      PutInt(b, kChunkDtype, c.dtype);
      if (!c.data.empty()) {
        PutTag(b, kChunkData, kLengthDelimited);
        PutVarint(b, c.data.size());
        External(c.data);
      }
    }
    Flush();
  }

 private:
  EncodedMessage* out_;
  size_t mark_ = 0;
};

std::vector<EncodedMessage::Segment> EncodedMessage::segments() const {
  std::vector<Segment> s;
  s.reserve(parts_.size());
  for (const Part& p : parts_) {
    if (p.external) {
      s.push_back({p.data, p.size, true});
    } else {
      s.push_back({reinterpret_cast<const uint8_t*>(written_.data()) + p.offset, p.size, false});
    }
  }
  return s;
}

std::string EncodedMessage::Flatten() const {
  std::string out;
  out.reserve(size_);
  for (const Segment& s : segments()) out.append(reinterpret_cast<const char*>(s.data), s.size);
  return out;
}

void EncodePushRequest(const PushRequestHeader& h, absl::Span<const ChunkRef> chunks,
                       EncodedMessage* out) {
  Encoder e(out);
  std::string* b = e.bytes();
  b->reserve(64 + h.job_id.size() + 24 * chunks.size());
  PutString(b, kPushJobId, h.job_id);
  PutInt(b, kPushGeneration, h.generation);
  PutInt(b, kPushWorker, h.worker);
  PutInt(b, kPushStep, h.step);
  PutUint(b, kPushRequestId, h.request_id);
  PutInt(b, kPushPullDtype, h.pull_dtype);
  PutInt(b, kPushTotalSteps, h.total_steps);
  e.Chunks(kPushChunks, chunks);
}

void EncodePullResponse(const PullResponseHeader& h, absl::Span<const ChunkRef> chunks,
                        EncodedMessage* out) {
  Encoder e(out);
  std::string* b = e.bytes();
  b->reserve(24 + 24 * chunks.size());
  PutInt(b, kPullServerStep, h.server_step);
  PutInt(b, kPullStaleness, h.staleness);
  PutInt(b, kPullServerMicros, h.server_micros);
  e.Chunks(kPullChunks, chunks);
}

absl::Status DecodePushRequest(absl::Span<const Payload::Piece> message, PushRequestView* out) {
  *out = PushRequestView();
  Reader r(message, "PushRequest");
  const RequestHeaderFields header{&out->job_id, &out->generation, &out->worker, &out->step};
  while (!r.done()) {
    Tag tag;
    if (auto s = ReadTag(r, &tag); !s.ok()) return s;
    bool read = false;
    if (auto s = ReadRequestHeader(r, tag, header, &read); !s.ok()) return s;
    if (read) continue;
    uint64_t v = 0;
    if (tag.wire_type == kVarint && (tag.field == kPushRequestId || tag.field == kPushPullDtype ||
                                     tag.field == kPushTotalSteps)) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      if (tag.field == kPushRequestId) {
        out->request_id = v;
      } else if (tag.field == kPushPullDtype) {
        out->pull_dtype = static_cast<int32_t>(v);
      } else {
        out->total_steps = static_cast<int64_t>(v);
      }
    } else if (tag.field == kPushChunks && tag.wire_type == kLengthDelimited) {
      out->chunks.emplace_back();
      if (auto s = DecodeChunk(r, &out->chunks.back()); !s.ok()) return s;
    } else if (auto s = r.SkipField(tag.wire_type); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status DecodePullResponse(absl::Span<const Payload::Piece> message, PullResponseView* out) {
  *out = PullResponseView();
  Reader r(message, "PullResponse");
  while (!r.done()) {
    Tag tag;
    if (auto s = ReadTag(r, &tag); !s.ok()) return s;
    uint64_t v = 0;
    if (tag.wire_type == kVarint && (tag.field == kPullServerStep || tag.field == kPullStaleness ||
                                     tag.field == kPullServerMicros)) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      (tag.field == kPullServerStep  ? out->server_step
       : tag.field == kPullStaleness ? out->staleness
                                     : out->server_micros) = static_cast<int64_t>(v);
    } else if (tag.field == kPullChunks && tag.wire_type == kLengthDelimited) {
      out->chunks.emplace_back();
      if (auto s = DecodeChunk(r, &out->chunks.back()); !s.ok()) return s;
    } else if (auto s = r.SkipField(tag.wire_type); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeSparsePullRequest(absl::Span<const Payload::Piece> message,
                                     SparsePullRequestView* out) {
  SparseRequestFields f;
  if (auto s = DecodeSparseRequest(message, "SparsePullRequest", kSparsePullKeys, -1, &f);
      !s.ok()) {
    return s;
  }
  out->job_id = std::move(f.job_id);
  out->generation = f.generation;
  out->worker = f.worker;
  out->step = f.step;
  out->read_only = f.field5 != 0;
  out->dtype = f.dtype;
  out->keys = std::move(f.keys);
  return absl::OkStatus();
}

absl::Status DecodeSparsePushRequest(absl::Span<const Payload::Piece> message,
                                     SparsePushRequestView* out) {
  SparseRequestFields f;
  if (auto s =
          DecodeSparseRequest(message, "SparsePushRequest", kSparsePushKeys, kSparsePushGrads, &f);
      !s.ok()) {
    return s;
  }
  out->job_id = std::move(f.job_id);
  out->generation = f.generation;
  out->worker = f.worker;
  out->step = f.step;
  out->total_steps = static_cast<int64_t>(f.field5);
  out->dtype = f.dtype;
  out->keys = std::move(f.keys);
  f.values.set_type(PayloadType(f.dtype));
  out->grads = std::move(f.values);
  return absl::OkStatus();
}

absl::Status DecodeSparsePullResponse(absl::Span<const Payload::Piece> message, int dtype,
                                      SparsePullResponseView* out) {
  // Field by field: assigning a fresh view trips gcc 12's -Wuninitialized inside InlinedVector.
  out->server_step = 0;
  out->server_micros = 0;
  out->dim = 0;
  out->rows.Clear();
  Reader r(message, "SparsePullResponse");
  while (!r.done()) {
    Tag tag;
    if (auto s = ReadTag(r, &tag); !s.ok()) return s;
    uint64_t v = 0;
    if (tag.wire_type == kVarint && (tag.field == kSparseServerStep ||
                                     tag.field == kSparseServerMicros || tag.field == kSparseDim)) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      if (tag.field == kSparseDim) {
        out->dim = static_cast<int32_t>(v);
      } else {
        (tag.field == kSparseServerStep ? out->server_step : out->server_micros) =
            static_cast<int64_t>(v);
      }
    } else if (tag.field == kSparseRows && tag.wire_type == kLengthDelimited) {
      if (auto s = r.Varint(&v); !s.ok()) return s;
      out->rows.Clear();
      if (auto s = r.Take(v, &out->rows); !s.ok()) return s;
    } else if (auto s = r.SkipField(tag.wire_type); !s.ok()) {
      return s;
    }
  }
  out->rows.set_type(PayloadType(dtype));
  return absl::OkStatus();
}

namespace {

absl::Span<const uint8_t> KeyBytes(absl::Span<const uint64_t> keys) {
  static_assert(ABSL_IS_LITTLE_ENDIAN, "fixed64 keys are referenced in host order");
  return {reinterpret_cast<const uint8_t*>(keys.data()), keys.size() * sizeof(uint64_t)};
}

// Fields 1-4 of a sparse request, in field-number order.
void PutSparseHeader(std::string* b, const SparseRequestHeader& h) {
  PutString(b, kSparseJobId, h.job_id);
  PutInt(b, kSparseGeneration, h.generation);
  PutInt(b, kSparseWorker, h.worker);
  PutInt(b, kSparseStep, h.step);
}

}  // namespace

void EncodeSparsePullRequest(const SparseRequestHeader& h, absl::Span<const uint64_t> keys,
                             EncodedMessage* out) {
  Encoder e(out);
  std::string* b = e.bytes();
  b->reserve(48 + h.job_id.size());
  PutSparseHeader(b, h);
  PutUint(b, kSparseField5, h.read_only ? 1 : 0);
  PutInt(b, kSparseDtype, h.dtype);
  e.ExternalField(kSparsePullKeys, KeyBytes(keys));
  e.Flush();
}

void EncodeSparsePushRequest(const SparseRequestHeader& h, absl::Span<const uint64_t> keys,
                             absl::Span<const uint8_t> grads, EncodedMessage* out) {
  Encoder e(out);
  std::string* b = e.bytes();
  b->reserve(64 + h.job_id.size());
  PutSparseHeader(b, h);
  PutInt(b, kSparseField5, h.total_steps);
  PutInt(b, kSparseDtype, h.dtype);
  e.ExternalField(kSparsePushKeys, KeyBytes(keys));
  e.ExternalField(kSparsePushGrads, grads);
  e.Flush();
}

void EncodeSparsePullResponse(const SparsePullResponseHeader& h, absl::Span<const uint8_t> rows,
                              EncodedMessage* out) {
  Encoder e(out);
  std::string* b = e.bytes();
  PutInt(b, kSparseServerStep, h.server_step);
  PutInt(b, kSparseServerMicros, h.server_micros);
  PutInt(b, kSparseDim, h.dim);
  e.ExternalField(kSparseRows, rows);
  e.Flush();
}

grpc::Slice ReferenceSlice(const uint8_t* data, size_t size, void (*release)(void*), void* arg) {
  // gRPC only reads a slice it sends; the const_cast does not lead to writes.
  return grpc::Slice(const_cast<uint8_t*>(data), size, release, arg);
}

grpc::ByteBuffer ToByteBuffer(
    const EncodedMessage& message,
    absl::FunctionRef<grpc::Slice(const uint8_t* data, size_t size)> external) {
  std::vector<grpc::Slice> slices;
  const auto segments = message.segments();
  slices.reserve(segments.size());
  for (const auto& s : segments) {
    if (s.external) {
      slices.push_back(external(s.data, s.size));
    } else {
      slices.emplace_back(s.data, s.size);  // copied: prefixes of a few bytes
    }
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::ByteBuffer SerializeSmall(const google::protobuf::MessageLite& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

absl::Status ReadPieces(const grpc::ByteBuffer& buffer, std::vector<grpc::Slice>* slices,
                        std::vector<Payload::Piece>* pieces) {
  slices->clear();
  pieces->clear();
  if (!buffer.Valid()) return absl::OkStatus();  // an empty message
  if (grpc::Status s = buffer.Dump(slices); !s.ok()) {
    return absl::InternalError(absl::StrCat("cannot read the message: ", s.error_message()));
  }
  pieces->reserve(slices->size());
  for (const grpc::Slice& s : *slices) {
    if (s.size() > 0) pieces->emplace_back(s.begin(), s.size());
  }
  return absl::OkStatus();
}

int DTypeSize(int dtype) {
  switch (dtype) {
    case DTYPE_F32:
      return 4;
    case DTYPE_F16:
      return 2;
    default:
      return 0;
  }
}

}  // namespace psd::wire
