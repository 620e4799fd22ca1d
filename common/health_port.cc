#include "common/health_port.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

ABSL_FLAG(int, health_port, 0,
          "Also serve grpc.health.v1.Health, and nothing else, in plaintext on this port (for "
          "Kubernetes gRPC probes, which cannot do mutual TLS); 0: no such port.");

namespace psd {

absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthPortFromFlags(const std::string& bind) {
  const int port = absl::GetFlag(FLAGS_health_port);
  if (port == 0) return std::unique_ptr<grpc::Server>();
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--health_port: 1..65535, got ", port));
  }
  // A generic service that answers every method but the health check with UNIMPLEMENTED.
  static grpc::CallbackGenericService* const unimplemented = new grpc::CallbackGenericService;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(unimplemented);
  const std::string address = absl::StrCat(bind, ":", port);
  int bound = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound == 0) {
    return absl::UnavailableError(absl::StrCat("--health_port: cannot listen on ", address));
  }
  spdlog::info("health checks (grpc.health.v1 only, plaintext) on {}", address);
  return server;
}

}  // namespace psd
