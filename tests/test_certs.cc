#include "tests/test_certs.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "tests/process.h"

namespace psd::testing {
namespace {

constexpr char kScript[] = "deploy/local/certs.sh";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "test_certs: %s\n", what.c_str());
  std::abort();
}

std::mutex mu;

}  // namespace

const std::string& TestCertDir() {
  static const std::string* const dir = new std::string(MakeTempDir("certs"));
  return *dir;
}

TlsOptions TestTls(const std::string& name, PeerRole role) {
  static std::map<std::string, TlsOptions>* const issued = new std::map<std::string, TlsOptions>;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = absl::StrCat(name, ":", PeerRoleName(role));
  if (auto it = issued->find(key); it != issued->end()) return it->second;
  const std::string& dir = TestCertDir();
  const CommandResult made = RunCommand(
      {std::filesystem::absolute(kScript).string(), "--dir", dir, key}, absl::Seconds(60));
  if (made.exit_code != 0) Die(absl::StrCat("certs.sh ", key, " failed: ", made.out, made.err));
  absl::StatusOr<TlsOptions> tls =
      LoadTls(absl::StrCat(dir, "/ca-bundle.crt"), absl::StrCat(dir, "/", name, ".crt"),
              absl::StrCat(dir, "/", name, ".key"), role);
  if (!tls.ok()) Die(std::string(tls.status().message()));
  return issued->emplace(key, *std::move(tls)).first->second;
}

std::vector<std::string> TestTlsFlags(const std::string& name, PeerRole role) {
  const TlsOptions tls = TestTls(name, role);
  return {absl::StrCat("--tls_ca=", tls.ca_file), absl::StrCat("--tls_cert=", tls.cert_file),
          absl::StrCat("--tls_key=", tls.key_file)};
}

}  // namespace psd::testing
