#include "common/tls_options.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"

namespace psd {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

void FreeNames(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, FreeNames>>;

absl::StatusOr<std::string> ReadWhole(const char* label, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(label, ": required"));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(label, " ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(label, " ", path, ": not a regular file"));
  }
  if (st.st_size > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, " ", path, ": ", st.st_size, " bytes is too large for PEM"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    return absl::PermissionDeniedError(absl::StrCat(label, " ", path, ": cannot read"));
  }
  return text.str();
}

BioPtr Bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = Bio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the read that ends the loop leaves "no start line"
  return out;
}

std::string CommonName(X509* cert) {
  char buf[256];
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return n > 0 ? std::string(buf, n) : std::string();
}

std::vector<std::string> RoleUris(X509* cert) {
  std::vector<std::string> out;
  NamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      ASN1_STRING_length(uri));
    if (absl::StartsWith(value, "psd://role/")) out.push_back(value);
  }
  return out;
}

int64_t NotAfter(X509* cert) {
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert)) != 1) return 0;
  return absl::ToUnixSeconds(absl::Now()) + int64_t{days} * 86400 + seconds;
}

}  // namespace

TlsOptions TlsOptions::Insecure() {
  TlsOptions o;
  o.insecure = true;
  return o;
}

absl::StatusOr<TlsOptions> LoadTls(const std::string& ca_file, const std::string& cert_file,
                                   const std::string& key_file, std::optional<PeerRole> expect,
                                   const TlsFileLabels& labels) {
  TlsOptions tls;
  tls.ca_file = ca_file;
  tls.cert_file = cert_file;
  tls.key_file = key_file;
  {
    absl::StatusOr<std::string> ca = ReadWhole(labels.ca, ca_file);
    if (!ca.ok()) return ca.status();
    absl::StatusOr<std::string> cert = ReadWhole(labels.cert, cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadWhole(labels.key, key_file);
    if (!key.ok()) return key.status();
    tls.ca_pem = *std::move(ca);
    tls.cert_pem = *std::move(cert);
    tls.key_pem = *std::move(key);
  }
  std::vector<X509Ptr> cas = ReadCertificates(tls.ca_pem);
  if (cas.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.ca, " ", ca_file, ": no PEM certificate in it"));
  }
  std::vector<X509Ptr> chain = ReadCertificates(tls.cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.cert, " ", cert_file, ": no PEM certificate in it"));
  }
  X509* cert = chain[0].get();
  KeyPtr key;
  {
    BioPtr bio = Bio(tls.key_pem);
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
  }
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.key, " ", key_file, ": not an unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(labels.key, " ", key_file, " is not the key of ",
                                                   labels.cert, " ", cert_file));
  }
  StorePtr store(X509_STORE_new());
  for (const X509Ptr& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  StoreCtxPtr verify(X509_STORE_CTX_new());
  X509_STORE_CTX_init(verify.get(), store.get(), cert, nullptr);
  if (X509_verify_cert(verify.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(verify.get());
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(labels.cert, " ", cert_file, " does not verify against ", labels.ca, " ",
                     ca_file, ": ", X509_verify_cert_error_string(error)));
  }
  const std::vector<std::string> roles = RoleUris(cert);
  if (roles.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels.cert, " ", cert_file, " has ", roles.size(),
        " psd roles; it needs exactly one SAN URI psd://role/<role> (deploy/local/certs.sh)"));
  }
  const std::optional<PeerRole> role = ParsePeerRole(roles[0].substr(strlen("psd://role/")));
  if (!role.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.cert, " ", cert_file, ": unknown role ", roles[0]));
  }
  tls.self.role = *role;
  tls.self.name = CommonName(cert);
  if (tls.self.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.cert, " ", cert_file, " has no subject CN (the peer's name)"));
  }
  if (expect.has_value() && *expect != *role) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels.cert, " ", cert_file, " is the certificate of ", Describe(tls.self), "; a ",
        PeerRoleName(*expect), " needs a certificate of role ", PeerRoleName(*expect)));
  }
  tls.expires_unix = NotAfter(cert);
  const absl::Duration left = absl::FromUnixSeconds(tls.expires_unix) - absl::Now();
  if (left < absl::Hours(24 * 30)) {
    spdlog::warn("TLS: {} {} expires in {} days: issue a new one (docs/security.md, rotation)",
                 labels.cert, cert_file, static_cast<int64_t>(left / absl::Hours(24)));
  }
  struct stat st;
  if (stat(key_file.c_str(), &st) == 0 && (st.st_mode & 0007) != 0) {
    spdlog::warn("TLS: {} {} is open to every user (mode {:o}); chmod 600 it", labels.key, key_file,
                 st.st_mode & 0777);
  }
  return tls;
}

std::string DescribeTls(const TlsOptions& tls) {
  if (tls.insecure) return "INSECURE (plaintext: no authentication, no authorisation)";
  if (!tls.configured()) return "TLS not configured";
  return absl::StrCat(
      "mutual TLS as ", Describe(tls.self), " (certificate ", tls.cert_file, ", expires ",
      absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(tls.expires_unix), absl::UTCTimeZone()),
      "; CA ", tls.ca_file, ")");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& tls) {
  if (tls.insecure) return grpc::InsecureServerCredentials();
  if (!tls.configured()) {
    return absl::FailedPreconditionError(
        "TLS is not configured: give --tls_ca, --tls_cert and --tls_key, or --insecure");
  }
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.ca_pem;
  options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsOptions& tls, PeerRole server_role, grpc::ChannelArguments* args) {
  if (tls.insecure) return grpc::InsecureChannelCredentials();
  if (!tls.configured()) {
    return absl::FailedPreconditionError(
        "TLS is not configured: give --tls_ca, --tls_cert and --tls_key, or --insecure");
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca_pem;
  options.pem_private_key = tls.key_pem;
  options.pem_cert_chain = tls.cert_pem;
  // The server is checked by role, not by the host name or address dialled.
  args->SetSslTargetNameOverride(RoleHostName(server_role));
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           PeerRole server_role,
                                                           const TlsOptions& tls,
                                                           grpc::ChannelArguments args) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeChannelCredentials(tls, server_role, &args);
  if (!creds.ok()) return creds.status();
  return grpc::CreateCustomChannel(address, *creds, args);
}

}  // namespace psd
