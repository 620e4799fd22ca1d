// Command-line flags for TlsOptions (common/tls_options.h), shared by the daemons, the
// health-check tool and the benches: --tls_ca, --tls_cert, --tls_key, --insecure.
//
// TLS is on by default: without the three files and without --insecure a daemon refuses to
// start, naming what is missing. --insecure is logged at start as a warning that says what it
// gives up (docs/security.md).
#ifndef PSD_COMMON_TLS_FLAGS_H_
#define PSD_COMMON_TLS_FLAGS_H_

#include <optional>

#include "absl/status/statusor.h"
#include "common/tls_options.h"

namespace psd {

// TlsOptions from the flags; `role`: what this process's certificate must say.
absl::StatusOr<TlsOptions> TlsOptionsFromFlags(std::optional<PeerRole> role);

// The warning --insecure logs at start (one line).
const char* InsecureWarning();

}  // namespace psd

#endif  // PSD_COMMON_TLS_FLAGS_H_
