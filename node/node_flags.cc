#include "node/node_flags.h"

#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/daemon.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070", "The coordinator's host:port.");
ABSL_FLAG(std::string, bind, "0.0.0.0", "Address this daemon listens on.");
ABSL_FLAG(int, port, 0, "Port this daemon listens on; 0 picks a free one (see --port_file).");
ABSL_FLAG(std::string, port_file, "", "Write the bound port to this file once listening.");
ABSL_FLAG(std::string, advertise_host, "",
          "Host name or address other nodes dial to reach this daemon (default: the host name; "
          "in Kubernetes, the pod's DNS name).");
ABSL_FLAG(std::string, node_id_file, "", "Keeps this daemon's node id across restarts (optional).");
ABSL_FLAG(int, preferred_rank, -1,
          "Rank this daemon asks for in its next job; a restarted daemon takes its old place.");

namespace psd {

std::string ListenAddressFromFlags() {
  return absl::StrCat(absl::GetFlag(FLAGS_bind), ":", absl::GetFlag(FLAGS_port));
}

std::string BindHostFromFlags() { return absl::GetFlag(FLAGS_bind); }

absl::Status PublishPort(int bound_port) {
  return WritePortFile(absl::GetFlag(FLAGS_port_file), bound_port);
}

absl::StatusOr<NodeAgentOptions> AgentOptionsFromFlags(Role role, int bound_port,
                                                       std::vector<Device> devices) {
  NodeAgentOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  if (options.coordinator.empty()) return absl::InvalidArgumentError("--coordinator: required");
  std::string host = absl::GetFlag(FLAGS_advertise_host);
  if (host.empty()) host = HostName();
  options.self.set_role(role);
  options.self.set_address(absl::StrCat(host, ":", bound_port));
  options.self.set_hostname(HostName());
  options.self.set_pid(getpid());
  options.self.set_preferred_rank(absl::GetFlag(FLAGS_preferred_rank));
  for (Device& d : devices) *options.self.add_devices() = std::move(d);
  options.node_id_file = absl::GetFlag(FLAGS_node_id_file);
  return options;
}

}  // namespace psd
