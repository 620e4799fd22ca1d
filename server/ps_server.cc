#include "server/ps_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/buffer_pool.h"

namespace psd {

absl::StatusOr<std::unique_ptr<PsServer>> PsServer::Start(const PsServerOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("parameter server: ", credentials.status().message(),
                     " (PsServerOptions::tls: a loaded TlsOptions, or TlsOptions::Insecure())"));
  }
  std::unique_ptr<PsServer> ps(new PsServer(options));
  KeepFreedMemory();  // normally done by InitProcess() already (common/process_init.h)
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, *credentials, &ps->port_);
  TransportOptions transport = options.transport;
  transport.max_message_bytes = options.max_message_bytes;
  ApplyTransportOptions(transport, &builder);
  builder.RegisterService(&ps->service_);
  ps->server_ = builder.BuildAndStart();
  if (ps->server_ == nullptr || ps->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use?)"));
  }
  ps->watchdog_ = std::thread([p = ps.get(), options] { p->Watch(options); });
  return ps;
}

void PsServer::Wake() {
  absl::MutexLock lock(&wake_mu_);
  wake_ = true;
}

void PsServer::Watch(const PsServerOptions& options) {
  const absl::Duration threshold = options.slow_step_log_after;
  const absl::Duration period = std::max(absl::Milliseconds(100), threshold / 2);
  absl::Time next_log = absl::Now() + period;
  while (!stopping_.HasBeenNotified()) {
    {
      absl::MutexLock lock(&wake_mu_);
      wake_mu_.AwaitWithTimeout(absl::Condition(&wake_),
                                std::min(period, options.fault_report_interval));
      wake_ = false;
    }
    if (stopping_.HasBeenNotified()) break;
    ReportFaults(options);
    if (absl::Now() >= next_log) {
      registry_.ForEach([threshold](ServedJob& job) { job.store->LogSlowWaits(threshold); });
      next_log = absl::Now() + period;
    }
  }
}

void PsServer::ReportFaults(const PsServerOptions& options) {
  std::map<std::pair<std::string, int64_t>, Reported> now;
  registry_.ForEach([&](ServedJob& job) {
    const ShardStats stats = job.store->stats();
    const absl::Status failure = job.store->failure();
    const auto key = std::make_pair(job.id, job.generation);
    const auto it = reported_.find(key);
    Reported seen = it == reported_.end() ? Reported() : it->second;
    const bool changed = (!failure.ok() && !seen.failed) ||
                         stats.nonfinite_rejected > seen.rejected ||
                         stats.nonfinite_skipped > seen.skipped;
    if (changed && options.on_job_faults) options.on_job_faults(job, stats, failure);
    now[key] = {!failure.ok(), stats.nonfinite_rejected, stats.nonfinite_skipped};
  });
  reported_ = std::move(now);
}

void PsServer::Shutdown(absl::Duration grace) {
  if (stopping_.HasBeenNotified()) return;
  stopping_.Notify();
  Wake();
  registry_.ForEach(
      [](ServedJob& job) { job.Close(absl::UnavailableError("server is shutting down")); });
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  if (watchdog_.joinable()) watchdog_.join();
}

PsServer::~PsServer() { Shutdown(absl::Seconds(1)); }

}  // namespace psd
