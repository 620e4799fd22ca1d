#include "server/server_flags.h"

#include "absl/flags/flag.h"
#include "common/transport_flags.h"

ABSL_FLAG(int, work_threads, 0,
          "Threads that run push/pull work (accumulate, optimizer, reply encoding) off gRPC's "
          "threads; 0 runs it on the gRPC thread that received the call.");

namespace psd {

void ApplyServerFlags(PsServerOptions* options) {
  const int64_t max_message_bytes = options->max_message_bytes;
  options->transport = TransportOptionsFromFlags();
  options->transport.max_message_bytes = max_message_bytes;
  options->work_threads = absl::GetFlag(FLAGS_work_threads);
}

}  // namespace psd
