#include "common/tls_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA certificate(s) this process trusts (deploy/local/certs.sh writes "
          "ca-bundle.crt).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM file of this process's certificate (its role is the SAN URI psd://role/<role>).");
ABSL_FLAG(std::string, tls_key, "", "PEM file of this process's private key (mode 0600).");
ABSL_FLAG(bool, insecure, false,
          "Plaintext gRPC, for development only: gives up authentication AND authorisation "
          "(anyone who reaches a port may call every method). Logged as a warning at start.");

namespace psd {

const char* InsecureWarning() {
  return "--insecure: TLS is OFF. Every call is plaintext and unauthenticated, and role checks "
         "are skipped: anyone who can reach this port can submit or cancel jobs, push "
         "gradients into any job, read parameters, and forge node reports. Use only on a "
         "trusted development machine.";
}

absl::StatusOr<TlsOptions> TlsOptionsFromFlags(std::optional<PeerRole> role) {
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  if (absl::GetFlag(FLAGS_insecure)) {
    if (!ca.empty() || !cert.empty() || !key.empty()) {
      return absl::InvalidArgumentError(
          "--insecure and --tls_ca/--tls_cert/--tls_key exclude each other: drop one");
    }
    spdlog::warn("{}", InsecureWarning());
    return TlsOptions::Insecure();
  }
  std::vector<std::string> missing;
  if (ca.empty()) missing.push_back("--tls_ca");
  if (cert.empty()) missing.push_back("--tls_cert");
  if (key.empty()) missing.push_back("--tls_key");
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS is on by default and ", absl::StrJoin(missing, ", "),
        missing.size() == 1 ? " is" : " are",
        " missing: give --tls_ca, --tls_cert and --tls_key (deploy/local/certs.sh makes them), "
        "or --insecure for a plaintext development cluster without authentication"));
  }
  absl::StatusOr<TlsOptions> tls = LoadTls(ca, cert, key, role);
  if (!tls.ok()) return tls.status();
  spdlog::info("TLS: {}", DescribeTls(*tls));
  return tls;
}

}  // namespace psd
