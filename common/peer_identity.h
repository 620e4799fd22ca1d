// Who is calling: the role and name a peer's certificate carries (deploy/local/certs.sh makes
// them). The role is the certificate's one SAN URI psd://role/<role>; the name is its Subject
// CN. A peer without a certificate (plaintext, --insecure) has no identity.
#ifndef PSD_COMMON_PEER_IDENTITY_H_
#define PSD_COMMON_PEER_IDENTITY_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class AuthContext;
class ServerContextBase;
}  // namespace grpc

namespace psd {

enum class PeerRole { kCoordinator, kServer, kWorker, kAdmin, kViewer };

// "coordinator", "server", "worker", "admin", "viewer".
const char* PeerRoleName(PeerRole role);
std::optional<PeerRole> ParsePeerRole(absl::string_view name);

// The SAN URI that carries a role ("psd://role/server"), and the SAN DNS name a daemon of that
// role presents to the clients that dial it ("server.psd.internal").
std::string RoleUri(PeerRole role);
std::string RoleHostName(PeerRole role);

struct PeerIdentity {
  PeerRole role = PeerRole::kViewer;
  std::string name;  // certificate CN, e.g. "worker-1"
};

// "worker 'worker-1'".
std::string Describe(const PeerIdentity& peer);

// The identity in a TLS peer's auth context. Unauthenticated when the call is not TLS, or the
// certificate has no CN or not exactly one psd role URI (naming what is missing).
absl::StatusOr<PeerIdentity> IdentityFromAuthContext(const grpc::AuthContext& auth);
absl::StatusOr<PeerIdentity> IdentityOf(const grpc::ServerContextBase& context);

}  // namespace psd

#endif  // PSD_COMMON_PEER_IDENTITY_H_
