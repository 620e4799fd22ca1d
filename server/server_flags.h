// psd-server's flags for the parameter-server hot path: the gRPC transport
// (common/transport_flags.h) and --work_threads.
#ifndef PSD_SERVER_SERVER_FLAGS_H_
#define PSD_SERVER_SERVER_FLAGS_H_

#include "server/ps_server.h"

namespace psd {

// Sets options->transport and options->work_threads from the flags.
void ApplyServerFlags(PsServerOptions* options);

}  // namespace psd

#endif  // PSD_SERVER_SERVER_FLAGS_H_
