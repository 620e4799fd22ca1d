#include "common/peer_identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace psd {
namespace {

constexpr absl::string_view kRoleUriPrefix = "psd://role/";

std::vector<std::string> Values(const grpc::AuthContext& auth, const char* property) {
  std::vector<std::string> out;
  for (const grpc::string_ref& v : auth.FindPropertyValues(property)) {
    out.emplace_back(v.data(), v.size());
  }
  return out;
}

}  // namespace

const char* PeerRoleName(PeerRole role) {
  switch (role) {
    case PeerRole::kCoordinator:
      return "coordinator";
    case PeerRole::kServer:
      return "server";
    case PeerRole::kWorker:
      return "worker";
    case PeerRole::kAdmin:
      return "admin";
    case PeerRole::kViewer:
      return "viewer";
  }
  return "?";
}

std::optional<PeerRole> ParsePeerRole(absl::string_view name) {
  for (PeerRole r : {PeerRole::kCoordinator, PeerRole::kServer, PeerRole::kWorker, PeerRole::kAdmin,
                     PeerRole::kViewer}) {
    if (name == PeerRoleName(r)) return r;
  }
  return std::nullopt;
}

std::string RoleUri(PeerRole role) { return absl::StrCat(kRoleUriPrefix, PeerRoleName(role)); }

std::string RoleHostName(PeerRole role) {
  return absl::StrCat(PeerRoleName(role), ".psd.internal");
}

std::string Describe(const PeerIdentity& peer) {
  return absl::StrCat(PeerRoleName(peer.role), " '", peer.name, "'");
}

absl::StatusOr<PeerIdentity> IdentityFromAuthContext(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        "no client certificate (plaintext or anonymous TLS); psd requires mutual TLS");
  }
  const std::vector<std::string> cn = Values(auth, GRPC_X509_CN_PROPERTY_NAME);
  std::vector<std::string> roles;
  for (const std::string& uri : Values(auth, GRPC_PEER_URI_PROPERTY_NAME)) {
    if (absl::StartsWith(uri, kRoleUriPrefix)) roles.push_back(uri);
  }
  if (roles.size() != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the client certificate", cn.empty() ? "" : absl::StrCat(" of '", cn[0], "'"), " has ",
        roles.empty() ? "no psd role (a SAN URI psd://role/<role>)"
                      : absl::StrCat(roles.size(), " psd roles (", absl::StrJoin(roles, ", "),
                                     "); it must have exactly one")));
  }
  const std::optional<PeerRole> role = ParsePeerRole(roles[0].substr(kRoleUriPrefix.size()));
  if (!role.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the client certificate names an unknown role ", roles[0],
                     " (coordinator, server, worker, admin, viewer)"));
  }
  if (cn.size() != 1 || cn[0].empty()) {
    return absl::UnauthenticatedError("the client certificate has no subject CN (its name)");
  }
  return PeerIdentity{*role, cn[0]};
}

absl::StatusOr<PeerIdentity> IdentityOf(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no TLS peer");
  return IdentityFromAuthContext(*auth);
}

}  // namespace psd
