#include "proto/wire.h"

#include <cstring>
#include <random>

#include "proto/parameter_server.pb.h"
#include "tests/testing.h"

namespace psd::wire {
namespace {

std::vector<uint8_t> RandomBytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> b(n);
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  return b;
}

// `bytes` split at random points into pieces (copied to storage, which must outlive them).
std::vector<Payload::Piece> SplitRandomly(const std::string& bytes, std::mt19937& rng,
                                          int max_piece, std::string* storage) {
  *storage = bytes;
  std::vector<Payload::Piece> pieces;
  std::uniform_int_distribution<int> len(1, max_piece);
  size_t at = 0;
  while (at < storage->size()) {
    const size_t n = std::min<size_t>(len(rng), storage->size() - at);
    pieces.emplace_back(reinterpret_cast<const uint8_t*>(storage->data()) + at, n);
    at += n;
  }
  return pieces;
}

std::string Bytes(const Payload& p) {
  std::string s;
  for (const auto& piece : p.pieces())
    s.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  return s;
}

TEST_CASE("encoded PushRequest is protobuf's encoding of the same message", "[wire]") {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    PushRequestHeader h;
    h.job_id = trial % 5 == 0 ? "" : "job-" + std::to_string(trial);
    h.generation = trial % 3 == 0 ? 0 : static_cast<int64_t>(rng()) << (trial % 30);
    h.worker = trial % 7 == 0 ? -3 : trial % 4;
    h.step = trial * 1000003LL;
    h.request_id = trial % 2 ? 0 : ~0ull - trial;
    h.pull_dtype = trial % 2 ? DTYPE_F16 : DTYPE_F32;
    h.total_steps = trial % 3 ? -1 : 12345;
    std::vector<std::vector<uint8_t>> data;
    std::vector<ChunkRef> chunks;
    const int n = trial % 4;
    for (int c = 0; c < n; ++c) {
      data.push_back(RandomBytes(rng, c == 1 ? 0 : rng() % 3000));
      chunks.push_back({static_cast<uint64_t>(trial * c), c % 2 ? DTYPE_F16 : DTYPE_F32,
                        absl::MakeConstSpan(data.back())});
    }
    EncodedMessage encoded;
    EncodePushRequest(h, chunks, &encoded);

    PushRequest expect;
    expect.set_job_id(h.job_id);
    expect.set_generation(h.generation);
    expect.set_worker(h.worker);
    expect.set_step(h.step);
    expect.set_request_id(h.request_id);
    expect.set_pull_dtype(h.pull_dtype);
    expect.set_total_steps(h.total_steps);
    for (const ChunkRef& c : chunks) {
      Chunk* pc = expect.add_chunks();
      pc->set_key(c.key);
      pc->set_dtype(c.dtype);
      pc->set_data(std::string(reinterpret_cast<const char*>(c.data.data()), c.data.size()));
    }
    REQUIRE(encoded.Flatten() == expect.SerializeAsString());
    REQUIRE(encoded.size() == expect.ByteSizeLong());
    // Payload segments point at the caller's buffers: nothing was copied.
    int external = 0;
    for (const auto& s : encoded.segments()) {
      if (!s.external) continue;
      bool found = false;
      for (const ChunkRef& c : chunks) found |= s.data == c.data.data() && s.size == c.data.size();
      REQUIRE(found);
      ++external;
    }
    int nonempty = 0;
    for (const ChunkRef& c : chunks) nonempty += c.data.empty() ? 0 : 1;
    REQUIRE(external == nonempty);

    // And it decodes back, from pieces split anywhere.
    std::string storage;
    const auto pieces = SplitRandomly(encoded.Flatten(), rng, 1 + trial * 37, &storage);
    PushRequestView view;
    REQUIRE(DecodePushRequest(pieces, &view).ok());
    CHECK(view.job_id == h.job_id);
    CHECK(view.generation == h.generation);
    CHECK(view.worker == h.worker);
    CHECK(view.step == h.step);
    CHECK(view.request_id == h.request_id);
    CHECK(view.pull_dtype == h.pull_dtype);
    CHECK(view.total_steps == h.total_steps);
    REQUIRE(view.chunks.size() == chunks.size());
    for (size_t c = 0; c < chunks.size(); ++c) {
      CHECK(view.chunks[c].key == chunks[c].key);
      CHECK(view.chunks[c].dtype == chunks[c].dtype);
      CHECK(
          Bytes(view.chunks[c].data) ==
          std::string(reinterpret_cast<const char*>(chunks[c].data.data()), chunks[c].data.size()));
    }
  }
}

TEST_CASE("protobuf's PullResponse decodes in place, and ours encodes the same", "[wire]") {
  std::mt19937 rng(2);
  for (int trial = 0; trial < 50; ++trial) {
    PullResponse m;
    m.set_server_step(trial * 7);
    m.set_staleness(trial % 3);
    m.set_server_micros(trial % 4 == 0 ? 0 : trial * 1234567);
    std::vector<std::string> data;
    for (int c = 0; c < trial % 5; ++c) {
      Chunk* pc = m.add_chunks();
      pc->set_key(rng() % 100000);
      pc->set_dtype(c % 2 ? DTYPE_F16 : DTYPE_F32);
      auto b = RandomBytes(rng, 4 * (rng() % 2000));
      pc->set_data(std::string(b.begin(), b.end()));
    }
    std::string storage;
    const auto pieces = SplitRandomly(m.SerializeAsString(), rng, 1 + trial * 101, &storage);
    PullResponseView view;
    REQUIRE(DecodePullResponse(pieces, &view).ok());
    CHECK(view.server_step == m.server_step());
    CHECK(view.staleness == m.staleness());
    CHECK(view.server_micros == m.server_micros());
    REQUIRE(view.chunks.size() == static_cast<size_t>(m.chunks_size()));
    std::vector<ChunkRef> refs;
    for (int c = 0; c < m.chunks_size(); ++c) {
      CHECK(view.chunks[c].key == m.chunks(c).key());
      CHECK(view.chunks[c].dtype == m.chunks(c).dtype());
      CHECK(view.chunks[c].data.type() ==
            (m.chunks(c).dtype() == DTYPE_F16 ? WireType::kF16 : WireType::kF32));
      REQUIRE(Bytes(view.chunks[c].data) == m.chunks(c).data());
      // In place: every piece lies inside the received bytes.
      for (const auto& p : view.chunks[c].data.pieces()) {
        const auto* base = reinterpret_cast<const uint8_t*>(storage.data());
        REQUIRE(p.data() >= base);
        REQUIRE(p.data() + p.size() <= base + storage.size());
      }
      refs.push_back(
          {m.chunks(c).key(), m.chunks(c).dtype(),
           absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(m.chunks(c).data().data()),
                                     m.chunks(c).data().size())});
    }
    EncodedMessage encoded;
    EncodePullResponse({m.server_step(), m.staleness(), m.server_micros()}, refs, &encoded);
    REQUIRE(encoded.Flatten() == m.SerializeAsString());
  }
}

TEST_CASE("fields in any order, unknown fields and repeated data are read like protobuf",
          "[wire]") {
  // chunk {data: "abcd", key: 5, unknown fixed32, dtype: f16, data: "wxyz"} then job_id.
  std::string chunk;
  chunk += std::string(
      "\x1a\x04"
      "abcd",
      6);
  chunk += std::string("\x08\x05", 2);
  chunk += std::string("\x25\x01\x02\x03\x04", 5);  // field 4, fixed32
  chunk += std::string("\x10\x01", 2);
  chunk += std::string(
      "\x1a\x04"
      "wxyz",
      6);
  std::string msg;
  msg += "\x7a";
  msg += static_cast<char>(chunk.size());
  msg += chunk;
  msg += std::string("\x0a\x01j", 3);
  msg += std::string("\x49\x01\x02\x03\x04\x05\x06\x07\x08", 9);  // field 9, fixed64
  PushRequest parsed;
  REQUIRE(parsed.ParseFromString(msg));
  PushRequestView view;
  const Payload::Piece piece(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  REQUIRE(DecodePushRequest({&piece, 1}, &view).ok());
  CHECK(view.job_id == parsed.job_id());
  REQUIRE(view.chunks.size() == 1);
  CHECK(view.chunks[0].key == parsed.chunks(0).key());
  CHECK(view.chunks[0].dtype == DTYPE_F16);
  CHECK(Bytes(view.chunks[0].data) == parsed.chunks(0).data());
  CHECK(view.chunks[0].data.type() == WireType::kF16);
}

TEST_CASE("malformed messages get errors naming the problem", "[wire]") {
  PushRequestView view;
  auto decode = [&](const std::string& s) {
    const Payload::Piece piece(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    return DecodePushRequest({&piece, 1}, &view);
  };
  CHECK(decode("").ok());
  absl::Status s = decode(std::string("\x7a\x10\x08\x01", 4));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() == "malformed PushRequest at byte 2: nested message runs past the end");
  s = decode(std::string("\x20\xff\xff", 3));
  CHECK(s.message() == "malformed PushRequest at byte 3: truncated varint");
  s = decode(std::string("\x7a\x03\x1a\x05x", 5));
  CHECK(s.message() == "malformed PushRequest at byte 4: field runs past the end of the message");
  s = decode(std::string("\x0b", 1));
  CHECK(s.message() == "malformed PushRequest at byte 1: unsupported wire type 3");
}

// The bytes of `v` as a string (packed keys, row values).
template <typename T>
std::string AsBytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Every segment of `e` the encoder did not write lies inside one of `buffers`.
template <typename... Buffers>
bool ExternalInside(const EncodedMessage& e, const Buffers&... buffers) {
  for (const auto& seg : e.segments()) {
    if (!seg.external) continue;
    bool inside = false;
    auto check = [&](const auto& b) {
      const auto* base = reinterpret_cast<const uint8_t*>(b.data());
      inside |= seg.data >= base && seg.data + seg.size <= base + b.size() * sizeof(b[0]);
    };
    (check(buffers), ...);
    if (!inside) return false;
  }
  return true;
}

TEST_CASE("sparse messages are protobuf's encoding, keys and rows referenced in place",
          "[wire][sparse]") {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 40; ++trial) {
    SparseRequestHeader h;
    h.job_id = trial % 6 == 0 ? "" : "ctr-" + std::to_string(trial);
    h.generation = trial % 3 == 0 ? 0 : static_cast<int64_t>(rng()) << (trial % 30);
    h.worker = trial % 5;
    h.step = trial % 4 == 0 ? 0 : trial * 99991LL;
    h.dtype = trial % 2 ? DTYPE_F16 : DTYPE_F32;
    h.read_only = trial % 3 == 1;
    h.total_steps = trial % 3 == 2 ? 0 : 5000 + trial;
    std::vector<uint64_t> keys(trial % 7 == 0 ? 0 : rng() % 500);
    for (auto& k : keys) k = (static_cast<uint64_t>(rng()) << 32) | rng();
    const int dim = 1 + trial % 17;
    std::vector<uint8_t> values =
        RandomBytes(rng, keys.size() * dim * (h.dtype == DTYPE_F16 ? 2 : 4));

    // SparsePullRequest.
    EncodedMessage pull;
    EncodeSparsePullRequest(h, keys, &pull);
    SparsePullRequest pull_pb;
    pull_pb.set_job_id(h.job_id);
    pull_pb.set_generation(h.generation);
    pull_pb.set_worker(h.worker);
    pull_pb.set_step(h.step);
    pull_pb.set_read_only(h.read_only);
    pull_pb.set_dtype(h.dtype);
    for (uint64_t k : keys) pull_pb.add_keys(k);
    REQUIRE(pull.Flatten() == pull_pb.SerializeAsString());
    CHECK(ExternalInside(pull, keys));
    std::string storage;
    SparsePullRequestView pull_view;
    REQUIRE(DecodeSparsePullRequest(SplitRandomly(pull.Flatten(), rng, 1 + trial * 13, &storage),
                                    &pull_view)
                .ok());
    CHECK(pull_view.job_id == h.job_id);
    CHECK(pull_view.generation == h.generation);
    CHECK(pull_view.worker == h.worker);
    CHECK(pull_view.step == h.step);
    CHECK(pull_view.read_only == h.read_only);
    CHECK(pull_view.dtype == h.dtype);
    CHECK(pull_view.keys == keys);

    // SparsePushRequest.
    EncodedMessage push;
    EncodeSparsePushRequest(h, keys, values, &push);
    SparsePushRequest push_pb;
    push_pb.set_job_id(h.job_id);
    push_pb.set_generation(h.generation);
    push_pb.set_worker(h.worker);
    push_pb.set_step(h.step);
    push_pb.set_total_steps(h.total_steps);
    push_pb.set_dtype(h.dtype);
    for (uint64_t k : keys) push_pb.add_keys(k);
    push_pb.set_grads(AsBytes(values));
    REQUIRE(push.Flatten() == push_pb.SerializeAsString());
    CHECK(ExternalInside(push, keys, values));
    SparsePushRequestView push_view;
    REQUIRE(DecodeSparsePushRequest(SplitRandomly(push.Flatten(), rng, 1 + trial * 29, &storage),
                                    &push_view)
                .ok());
    CHECK(push_view.job_id == h.job_id);
    CHECK(push_view.total_steps == h.total_steps);
    CHECK(push_view.dtype == h.dtype);
    CHECK(push_view.keys == keys);
    CHECK(Bytes(push_view.grads) == AsBytes(values));
    CHECK(push_view.grads.type() == (h.dtype == DTYPE_F16 ? WireType::kF16 : WireType::kF32));
    for (const auto& piece : push_view.grads.pieces()) {  // in place
      const auto* base = reinterpret_cast<const uint8_t*>(storage.data());
      REQUIRE(piece.data() >= base);
      REQUIRE(piece.data() + piece.size() <= base + storage.size());
    }

    // SparsePullResponse, both ways.
    SparsePullResponse reply_pb;
    reply_pb.set_server_step(h.step);
    reply_pb.set_server_micros(trial * 31);
    reply_pb.set_dim(keys.empty() ? 0 : dim);
    reply_pb.set_rows(AsBytes(values));
    EncodedMessage reply;
    EncodeSparsePullResponse({reply_pb.server_step(), reply_pb.server_micros(), reply_pb.dim()},
                             values, &reply);
    REQUIRE(reply.Flatten() == reply_pb.SerializeAsString());
    CHECK(ExternalInside(reply, values));
    SparsePullResponseView reply_view;
    REQUIRE(DecodeSparsePullResponse(
                SplitRandomly(reply_pb.SerializeAsString(), rng, 1 + trial * 41, &storage), h.dtype,
                &reply_view)
                .ok());
    CHECK(reply_view.server_step == reply_pb.server_step());
    CHECK(reply_view.server_micros == reply_pb.server_micros());
    CHECK(reply_view.dim == reply_pb.dim());
    CHECK(Bytes(reply_view.rows) == reply_pb.rows());
    CHECK(reply_view.rows.type() == (h.dtype == DTYPE_F16 ? WireType::kF16 : WireType::kF32));
  }
}

TEST_CASE("sparse keys are read packed or one per tag, in any order; bad keys are named",
          "[wire][sparse]") {
  // keys 7 (unpacked, fixed64), then packed {1, 2}, job_id after them, an unknown varint.
  std::string msg;
  msg += std::string("\x79\x07\x00\x00\x00\x00\x00\x00\x00", 9);
  msg += "\x7a\x10";
  msg += std::string("\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00", 16);
  msg += std::string("\x0a\x01j", 3);
  msg += std::string("\x98\x01\x05", 3);  // field 19, varint
  SparsePullRequest parsed;
  REQUIRE(parsed.ParseFromString(msg));
  SparsePullRequestView view;
  const Payload::Piece piece(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  REQUIRE(DecodeSparsePullRequest({&piece, 1}, &view).ok());
  CHECK(view.job_id == parsed.job_id());
  CHECK(view.keys == std::vector<uint64_t>(parsed.keys().begin(), parsed.keys().end()));
  CHECK(view.keys == std::vector<uint64_t>{7, 1, 2});

  const std::string bad("\x72\x03\x01\x02\x03", 5);  // SparsePushRequest keys of 3 bytes
  const Payload::Piece bad_piece(reinterpret_cast<const uint8_t*>(bad.data()), bad.size());
  SparsePushRequestView push;
  const absl::Status s = DecodeSparsePushRequest({&bad_piece, 1}, &push);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() ==
        "malformed SparsePushRequest at byte 2: packed fixed64 keys of 3 bytes, not a multiple "
        "of 8");
}

TEST_CASE("byte buffers reference the payload and release it once", "[wire]") {
  std::vector<uint8_t> payload(100000, 7);
  PushRequestHeader h;
  h.job_id = "j";
  const ChunkRef chunk{3, DTYPE_F32, absl::MakeConstSpan(payload)};
  EncodedMessage encoded;
  EncodePushRequest(h, {&chunk, 1}, &encoded);
  int released = 0;
  {
    grpc::ByteBuffer buffer = ToByteBuffer(encoded, [&](const uint8_t* data, size_t size) {
      return ReferenceSlice(
          data, size, [](void* arg) { ++*static_cast<int*>(arg); }, &released);
    });
    CHECK(buffer.Length() == encoded.size());
    std::vector<grpc::Slice> slices;
    std::vector<Payload::Piece> pieces;
    REQUIRE(ReadPieces(buffer, &slices, &pieces).ok());
    PushRequestView view;
    REQUIRE(DecodePushRequest(pieces, &view).ok());
    REQUIRE(view.chunks.size() == 1);
    REQUIRE(view.chunks[0].data.pieces().size() == 1);
    CHECK(view.chunks[0].data.pieces()[0].data() == payload.data());  // zero copy
    CHECK(released == 0);
  }
  CHECK(released == 1);
}

}  // namespace
}  // namespace psd::wire
