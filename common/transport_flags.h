// Command-line flags for TransportOptions (common/transport_options.h), shared by the
// daemons: --grpc_window_bytes, --grpc_bdp_probe, --grpc_max_frame_bytes,
// --grpc_write_buffer_bytes, --grpc_read_chunk_bytes, --grpc_min_read_chunk_bytes,
// --grpc_max_read_chunk_bytes.
#ifndef PSD_COMMON_TRANSPORT_FLAGS_H_
#define PSD_COMMON_TRANSPORT_FLAGS_H_

#include "common/transport_options.h"

namespace psd {

// TransportOptions from the flags (defaults: TransportOptions' defaults).
TransportOptions TransportOptionsFromFlags();

}  // namespace psd

#endif  // PSD_COMMON_TRANSPORT_FLAGS_H_
