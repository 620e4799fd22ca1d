#include "server/ps_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/buffer_pool.h"

namespace psd {

absl::StatusOr<std::unique_ptr<PsServer>> PsServer::Start(const PsServerOptions& options) {
  std::unique_ptr<PsServer> ps(new PsServer(options));
  KeepFreedMemory();  // normally done by InitProcess() already (common/process_init.h)
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(), &ps->port_);
  TransportOptions transport = options.transport;
  transport.max_message_bytes = options.max_message_bytes;
  ApplyTransportOptions(transport, &builder);
  builder.RegisterService(&ps->service_);
  ps->server_ = builder.BuildAndStart();
  if (ps->server_ == nullptr || ps->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use?)"));
  }
  ps->watchdog_ =
      std::thread([p = ps.get(), t = options.slow_step_log_after] { p->WatchSlowSteps(t); });
  return ps;
}

void PsServer::WatchSlowSteps(absl::Duration threshold) {
  const absl::Duration period = std::max(absl::Milliseconds(100), threshold / 2);
  while (!stopping_.WaitForNotificationWithTimeout(period)) {
    registry_.ForEach([threshold](ServedJob& job) { job.store->LogSlowWaits(threshold); });
  }
}

void PsServer::Shutdown(absl::Duration grace) {
  if (stopping_.HasBeenNotified()) return;
  stopping_.Notify();
  registry_.ForEach(
      [](ServedJob& job) { job.store->Close(absl::UnavailableError("server is shutting down")); });
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  if (watchdog_.joinable()) watchdog_.join();
}

PsServer::~PsServer() { Shutdown(absl::Seconds(1)); }

}  // namespace psd
