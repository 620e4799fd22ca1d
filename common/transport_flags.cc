#include "common/transport_flags.h"

#include "absl/flags/flag.h"

namespace {
const psd::TransportOptions kDefaults;
}  // namespace

ABSL_FLAG(int64_t, grpc_window_bytes, kDefaults.stream_window_bytes,
          "HTTP/2 flow-control window for parameter-server traffic; 0: gRPC's default (64 KiB, "
          "grown by BDP probes).");
ABSL_FLAG(bool, grpc_bdp_probe, kDefaults.bdp_probe, "HTTP/2 BDP probing.");
ABSL_FLAG(int64_t, grpc_max_frame_bytes, kDefaults.max_frame_bytes,
          "Largest HTTP/2 DATA frame this end accepts; 0: gRPC's default (16 KiB).");
ABSL_FLAG(int64_t, grpc_write_buffer_bytes, kDefaults.write_buffer_bytes,
          "HTTP/2 write buffer size; 0: gRPC's default.");
ABSL_FLAG(int64_t, grpc_read_chunk_bytes, kDefaults.read_chunk_bytes,
          "TCP read size gRPC starts with; 0: gRPC's default.");
ABSL_FLAG(int64_t, grpc_min_read_chunk_bytes, kDefaults.min_read_chunk_bytes,
          "Smallest TCP read gRPC makes; 0: gRPC's default.");
ABSL_FLAG(int64_t, grpc_max_read_chunk_bytes, kDefaults.max_read_chunk_bytes,
          "Largest TCP read gRPC makes; 0: gRPC's default.");

namespace psd {

TransportOptions TransportOptionsFromFlags() {
  TransportOptions o;
  o.stream_window_bytes = absl::GetFlag(FLAGS_grpc_window_bytes);
  o.bdp_probe = absl::GetFlag(FLAGS_grpc_bdp_probe);
  o.max_frame_bytes = absl::GetFlag(FLAGS_grpc_max_frame_bytes);
  o.write_buffer_bytes = absl::GetFlag(FLAGS_grpc_write_buffer_bytes);
  o.read_chunk_bytes = absl::GetFlag(FLAGS_grpc_read_chunk_bytes);
  o.min_read_chunk_bytes = absl::GetFlag(FLAGS_grpc_min_read_chunk_bytes);
  o.max_read_chunk_bytes = absl::GetFlag(FLAGS_grpc_max_read_chunk_bytes);
  return o;
}

}  // namespace psd
