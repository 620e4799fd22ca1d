// Mutual TLS for every psd channel and server: the CA bundle, certificate and key a process
// presents, checked once at start (readable, the key matches, signed by the CA, one psd role),
// and the gRPC credentials built from them. Servers require and verify a client certificate;
// clients verify that the server's certificate carries the role they expect (its SAN DNS
// name RoleHostName(role), e.g. server.psd.internal), whatever address they dial.
//
// A default TlsOptions is not usable (no certificate): a caller sets a loaded one, or
// TlsOptions::Insecure() for plaintext, explicitly.
#ifndef PSD_COMMON_TLS_OPTIONS_H_
#define PSD_COMMON_TLS_OPTIONS_H_

#include <grpcpp/support/channel_arguments.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/peer_identity.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace psd {

struct TlsOptions {
  // Plaintext, no authentication, no authorisation (--insecure).
  bool insecure = false;
  std::string ca_pem, cert_pem, key_pem;
  std::string ca_file, cert_file, key_file;  // where they were read from
  PeerIdentity self;                         // what the certificate says
  int64_t expires_unix = 0;                  // the certificate's notAfter

  static TlsOptions Insecure();
  // False for a default-constructed TlsOptions (neither insecure nor loaded).
  bool configured() const { return insecure || !cert_pem.empty(); }
};

// How errors name the three files (flags of the daemons by default; psdctl has its own).
struct TlsFileLabels {
  const char* ca = "--tls_ca";
  const char* cert = "--tls_cert";
  const char* key = "--tls_key";
};

// Reads and checks the files. With `expect`, the certificate must have that role.
absl::StatusOr<TlsOptions> LoadTls(const std::string& ca_file, const std::string& cert_file,
                                   const std::string& key_file,
                                   std::optional<PeerRole> expect = std::nullopt,
                                   const TlsFileLabels& labels = {});

// "mutual TLS as server 'server-0' (certificate /x, expires 2027-01-01)" or "INSECURE: ...".
std::string DescribeTls(const TlsOptions& tls);

// Server side: requires and verifies a client certificate signed by the CA bundle.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& tls);
// Client side, to a daemon of `server_role`; sets the expected server name on `args`.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsOptions& tls, PeerRole server_role, grpc::ChannelArguments* args);
// A channel to `address`, a daemon of `server_role`.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           PeerRole server_role,
                                                           const TlsOptions& tls,
                                                           grpc::ChannelArguments args);

}  // namespace psd

#endif  // PSD_COMMON_TLS_OPTIONS_H_
