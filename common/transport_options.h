// gRPC transport settings of the parameter-server hot path (HTTP/2 windows, frame and write
// buffer sizes, TCP read sizes, message limits), shared by psd-server and the worker's client
// so that both ends are tuned from one place (flags on the daemons, options in benches).
#ifndef PSD_COMMON_TRANSPORT_OPTIONS_H_
#define PSD_COMMON_TRANSPORT_OPTIONS_H_

#include <cstdint>

namespace grpc {
class ChannelArguments;
class ServerBuilder;
}  // namespace grpc

namespace psd {

struct TransportOptions {
  // Largest message sent or received (a PushRequest or PullResponse of one RPC).
  int64_t max_message_bytes = 256 << 20;
  // HTTP/2 stream and connection flow-control window (grpc.http2.lookahead_bytes). gRPC
  // starts at 64 KiB and grows it with BDP probes; 0 keeps gRPC's default.
  int64_t stream_window_bytes = 16 << 20;
  // BDP probing (grpc.http2.bdp_probe): off when the window is set above.
  bool bdp_probe = false;
  // Largest HTTP/2 DATA frame the receiver accepts (grpc.http2.max_frame_size); 0: default.
  int64_t max_frame_bytes = 0;
  // Bytes gRPC buffers before a write when the call allows it; 0: default.
  int64_t write_buffer_bytes = 0;
  // TCP read sizes (grpc.experimental.tcp_*_read_chunk_size); 0: default.
  int64_t read_chunk_bytes = 0;
  int64_t min_read_chunk_bytes = 0;
  int64_t max_read_chunk_bytes = 0;
};

// Sets `options` on a channel's arguments (client side).
void ApplyTransportOptions(const TransportOptions& options, grpc::ChannelArguments* args);
// Sets `options` on a server (every listening port).
void ApplyTransportOptions(const TransportOptions& options, grpc::ServerBuilder* builder);

}  // namespace psd

#endif  // PSD_COMMON_TRANSPORT_OPTIONS_H_
