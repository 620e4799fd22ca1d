// Certificates for tests, made once per test process by deploy/local/certs.sh (as users make
// theirs) in a directory under $TEST_TMPDIR: TestTls("worker-1", PeerRole::kWorker).
#ifndef PSD_TESTS_TEST_CERTS_H_
#define PSD_TESTS_TEST_CERTS_H_

#include <string>
#include <vector>

#include "common/tls_options.h"

namespace psd::testing {

// The directory of the CA and every certificate issued so far (ca-bundle.crt, NAME.crt...).
const std::string& TestCertDir();

// The certificate `name` of `role`, issued on first use; aborts the test on failure.
TlsOptions TestTls(const std::string& name, PeerRole role);

// Daemon flags that use TestTls(name, role): --tls_ca=... --tls_cert=... --tls_key=...
std::vector<std::string> TestTlsFlags(const std::string& name, PeerRole role);

}  // namespace psd::testing

#endif  // PSD_TESTS_TEST_CERTS_H_
