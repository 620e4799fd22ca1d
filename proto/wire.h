// The hot-path messages of proto/parameter_server.proto (PushRequest, PullResponse, and the
// sparse rows' SparsePullRequest, SparsePullResponse, SparsePushRequest) written and read by
// hand, so that chunk payloads, row values and row keys never pass through a protobuf `bytes`
// string or repeated field.
//
// The bytes are the protobuf encoding of the same message (fields in field-number order,
// proto3 defaults omitted, exactly what protobuf's serialiser writes), so any protobuf client
// or server still talks to psd. Encoding writes the header fields and each chunk's key,
// dtype and length prefix, and refers to the payloads where they are (the worker's gradient
// buffer, the server's pooled response buffer): a gRPC ByteBuffer is then a list of slices,
// small copied ones for the prefixes and zero-copy ones for the payloads. Decoding reads a
// message spread over the slices gRPC received and leaves each payload where it is (a
// Payload of byte ranges, possibly straddling slices), so the server adds gradients into its
// accumulator and the worker copies parameters into its model straight from the network
// buffers. Unknown fields are skipped and fields may come in any order, as protobuf allows.
#ifndef PSD_PROTO_WIRE_H_
#define PSD_PROTO_WIRE_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/payload.h"
#include "google/protobuf/message_lite.h"
#include "proto/common.pb.h"

namespace psd::wire {

// ---- Decoding ----

// One chunk of a decoded message; `data` points into the message's buffers.
struct ChunkView {
  uint64_t key = 0;
  int dtype = DTYPE_F32;  // a DType; other values are kept for the caller to reject
  Payload data;           // typed by dtype when it is DTYPE_F32 or DTYPE_F16
};

struct PushRequestView {
  std::string job_id;
  int64_t generation = 0;
  int32_t worker = 0;
  int64_t step = 0;
  uint64_t request_id = 0;
  int pull_dtype = DTYPE_F32;
  int64_t total_steps = 0;
  std::vector<ChunkView> chunks;
};

struct PullResponseView {
  int64_t server_step = 0;
  int64_t staleness = 0;
  int64_t server_micros = 0;
  std::vector<ChunkView> chunks;
};

// Sparse rows (docs/sparse.md). Keys are copied out (8 bytes a row, aligned for the table's
// lookups); row values stay where they arrived.
struct SparsePullRequestView {
  std::string job_id;
  int64_t generation = 0;
  int32_t worker = 0;
  int64_t step = 0;
  bool read_only = false;
  int dtype = DTYPE_F32;
  std::vector<uint64_t> keys;
};

struct SparsePullResponseView {
  int64_t server_step = 0;
  int64_t server_micros = 0;
  int32_t dim = 0;
  Payload rows;  // typed by the dtype the request asked for
};

struct SparsePushRequestView {
  std::string job_id;
  int64_t generation = 0;
  int32_t worker = 0;
  int64_t step = 0;
  int64_t total_steps = 0;
  int dtype = DTYPE_F32;
  std::vector<uint64_t> keys;
  Payload grads;  // typed by dtype when it is DTYPE_F32 or DTYPE_F16
};

// Decode a message given as consecutive byte ranges. Errors name what is malformed.
absl::Status DecodePushRequest(absl::Span<const Payload::Piece> message, PushRequestView* out);
absl::Status DecodePullResponse(absl::Span<const Payload::Piece> message, PullResponseView* out);
absl::Status DecodeSparsePullRequest(absl::Span<const Payload::Piece> message,
                                     SparsePullRequestView* out);
// `dtype`: the one the pull asked for (the reply does not repeat it).
absl::Status DecodeSparsePullResponse(absl::Span<const Payload::Piece> message, int dtype,
                                      SparsePullResponseView* out);
absl::Status DecodeSparsePushRequest(absl::Span<const Payload::Piece> message,
                                     SparsePushRequestView* out);

// ---- Encoding ----

// A chunk to encode: its payload bytes are referenced, not copied.
struct ChunkRef {
  uint64_t key = 0;
  DType dtype = DTYPE_F32;
  absl::Span<const uint8_t> data;
};

struct PushRequestHeader {
  std::string job_id;
  int64_t generation = 0;
  int32_t worker = 0;
  int64_t step = 0;
  uint64_t request_id = 0;
  DType pull_dtype = DTYPE_F32;
  int64_t total_steps = 0;
};

struct PullResponseHeader {
  int64_t server_step = 0;
  int64_t staleness = 0;
  int64_t server_micros = 0;
};

// An encoded message: segments in order, either bytes the encoder wrote (prefixes, held
// here) or a chunk's payload (external, referenced).
class EncodedMessage {
 public:
  struct Segment {
    const uint8_t* data;
    size_t size;
    bool external;
  };
  std::vector<Segment> segments() const;
  size_t size() const { return size_; }
  // The whole message in one string (tests, small messages).
  std::string Flatten() const;

 private:
  friend class Encoder;
  struct Part {
    size_t offset;        // into written_ (when !external)
    const uint8_t* data;  // when external
    size_t size;
    bool external;
  };
  std::string written_;
  std::vector<Part> parts_;
  size_t size_ = 0;
};

void EncodePushRequest(const PushRequestHeader& header, absl::Span<const ChunkRef> chunks,
                       EncodedMessage* out);
void EncodePullResponse(const PullResponseHeader& header, absl::Span<const ChunkRef> chunks,
                        EncodedMessage* out);

// The fields of a sparse request but its keys and values.
struct SparseRequestHeader {
  std::string job_id;
  int64_t generation = 0;
  int32_t worker = 0;
  int64_t step = 0;
  DType dtype = DTYPE_F32;
  bool read_only = false;   // pulls only
  int64_t total_steps = 0;  // pushes only
};

struct SparsePullResponseHeader {
  int64_t server_step = 0;
  int64_t server_micros = 0;
  int32_t dim = 0;
};

// `keys` (host order is the wire's little-endian order) and `values` are referenced, not copied.
void EncodeSparsePullRequest(const SparseRequestHeader& header, absl::Span<const uint64_t> keys,
                             EncodedMessage* out);
void EncodeSparsePullResponse(const SparsePullResponseHeader& header,
                              absl::Span<const uint8_t> rows, EncodedMessage* out);
void EncodeSparsePushRequest(const SparseRequestHeader& header, absl::Span<const uint64_t> keys,
                             absl::Span<const uint8_t> grads, EncodedMessage* out);

// ---- gRPC buffers ----

// A ByteBuffer of `message`: written bytes are copied into small slices (a few bytes each);
// each external payload becomes the slice `external(data, size)` returns, typically one that
// points at the payload and whose destroy callback runs once gRPC drops its last reference
// (after the bytes are on the socket, or the call failed). The payload must stay valid and
// unchanged until then.
grpc::ByteBuffer ToByteBuffer(
    const EncodedMessage& message,
    absl::FunctionRef<grpc::Slice(const uint8_t* data, size_t size)> external);
// A slice that points at `data` (no copy) and calls release(arg) when gRPC is done with it.
grpc::Slice ReferenceSlice(const uint8_t* data, size_t size, void (*release)(void*), void* arg);

// A small protobuf message (a reply or request of a few fields) as a one-slice ByteBuffer.
grpc::ByteBuffer SerializeSmall(const google::protobuf::MessageLite& message);

// The byte ranges of a received buffer, in place: `slices` holds references that keep them
// valid. Fails only on a buffer gRPC could not read.
absl::Status ReadPieces(const grpc::ByteBuffer& buffer, std::vector<grpc::Slice>* slices,
                        std::vector<Payload::Piece>* pieces);

// Payload bytes per element of a wire dtype (0 for an unknown one).
int DTypeSize(int dtype);

}  // namespace psd::wire

#endif  // PSD_PROTO_WIRE_H_
