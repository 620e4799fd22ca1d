#include "common/transport_options.h"

#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <climits>

namespace psd {
namespace {

int Clamp(int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, 0, INT_MAX)); }

template <typename SetInt>
void Apply(const TransportOptions& o, SetInt set) {
  set(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, Clamp(o.max_message_bytes));
  set(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, Clamp(o.max_message_bytes));
  if (o.stream_window_bytes > 0) {
    set(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, Clamp(o.stream_window_bytes));
  }
  set(GRPC_ARG_HTTP2_BDP_PROBE, o.bdp_probe ? 1 : 0);
  if (o.max_frame_bytes > 0) set(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, Clamp(o.max_frame_bytes));
  if (o.write_buffer_bytes > 0) {
    set(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, Clamp(o.write_buffer_bytes));
  }
  if (o.read_chunk_bytes > 0) set(GRPC_ARG_TCP_READ_CHUNK_SIZE, Clamp(o.read_chunk_bytes));
  if (o.min_read_chunk_bytes > 0) {
    set(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, Clamp(o.min_read_chunk_bytes));
  }
  if (o.max_read_chunk_bytes > 0) {
    set(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, Clamp(o.max_read_chunk_bytes));
  }
}

}  // namespace

void ApplyTransportOptions(const TransportOptions& options, grpc::ChannelArguments* args) {
  Apply(options, [args](const char* name, int value) { args->SetInt(name, value); });
}

void ApplyTransportOptions(const TransportOptions& options, grpc::ServerBuilder* builder) {
  Apply(options,
        [builder](const char* name, int value) { builder->AddChannelArgument(name, value); });
}

}  // namespace psd
