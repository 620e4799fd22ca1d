// An optional plaintext port that serves only grpc.health.v1.Health (--health_port), for
// probes that cannot speak mutual TLS: Kubernetes' gRPC probes, load balancers. Every other
// method there answers UNIMPLEMENTED, so it gives away nothing but "serving"; all of psd's RPCs
// stay on the TLS port (docs/security.md).
#ifndef PSD_COMMON_HEALTH_PORT_H_
#define PSD_COMMON_HEALTH_PORT_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace psd {

// The health server on `bind`:--health_port, or nullptr when the flag is 0 (the default).
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthPortFromFlags(const std::string& bind);

}  // namespace psd

#endif  // PSD_COMMON_HEALTH_PORT_H_
