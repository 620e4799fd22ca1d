// Flags and start-up shared by the daemons that join a cluster (psd-server, psd-worker).
#ifndef PSD_NODE_NODE_FLAGS_H_
#define PSD_NODE_NODE_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "node/node_agent.h"
#include "proto/common.pb.h"

namespace psd {

// "--bind:--port", the address the daemon's gRPC server listens on.
std::string ListenAddressFromFlags();
// --bind alone (for the plaintext health port, common/health_port.h).
std::string BindHostFromFlags();

// Writes the port the daemon is bound to into --port_file, when that is set.
absl::Status PublishPort(int bound_port);

// Agent options from --coordinator, --advertise_host, --node_id_file and --preferred_rank,
// for a daemon of `role` whose gRPC server is bound to `bound_port`. The advertised address is
// --advertise_host (default: this host's name) with the bound port.
absl::StatusOr<NodeAgentOptions> AgentOptionsFromFlags(Role role, int bound_port,
                                                       std::vector<Device> devices);

}  // namespace psd

#endif  // PSD_NODE_NODE_FLAGS_H_
