#include "coordinator/server_calls.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "proto/parameter_server.grpc.pb.h"

namespace psd {
namespace {

absl::Status CallCheckpoint(int rank, const std::string& address, const CheckpointRequest& request,
                            absl::Duration timeout, const TlsOptions& tls) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(address, PeerRole::kServer, tls, grpc::ChannelArguments());
  if (!channel.ok()) return channel.status();
  std::unique_ptr<ParameterServer::Stub> stub = ParameterServer::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  CheckpointResponse response;
  const grpc::Status status = stub->Checkpoint(&context, request, &response);
  if (status.ok()) return absl::OkStatus();
  const std::string who = absl::StrCat("server ", rank, " at ", address);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::AbortedError(absl::StrCat(who, " did not answer the checkpoint request within ",
                                           absl::FormatDuration(timeout), ": ",
                                           status.error_message()));
  }
  const absl::Status refused = FromGrpcStatus(status);
  return absl::Status(refused.code(), absl::StrCat(who, ": ", refused.message()));
}

}  // namespace

absl::StatusOr<TraceResponse> CallTrace(int rank, const std::string& address,
                                        const TraceRequest& request, absl::Duration timeout,
                                        const TlsOptions& tls, ClockSample* sample) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a collected trace may be tens of MiB
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(address, PeerRole::kServer, tls, args);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<ParameterServer::Stub> stub = ParameterServer::NewStub(*channel);
  // Connect first, so that the timed round trip is one request, not a TCP and TLS handshake.
  (*channel)->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  TraceResponse response;
  const absl::Time t0 = absl::Now();
  const grpc::Status status = stub->Trace(&context, request, &response);
  const absl::Time t1 = absl::Now();
  const std::string who = absl::StrCat("server ", rank, " at ", address);
  if (!status.ok()) {
    const absl::Status refused = FromGrpcStatus(status);
    return absl::Status(status.error_code() == grpc::StatusCode::UNAVAILABLE
                            ? absl::StatusCode::kAborted
                            : refused.code(),
                        absl::StrCat(who, ": ", refused.message()));
  }
  if (sample != nullptr) {
    *sample = {absl::ToUnixMicros(t0), response.server_time_us(), absl::ToUnixMicros(t1)};
  }
  return response;
}

absl::Status RequestCheckpoint(const std::vector<std::string>& addresses,
                               const CheckpointRequest& request, absl::Duration timeout,
                               const TlsOptions& tls) {
  std::vector<absl::Status> results(addresses.size());
  std::vector<std::thread> calls;
  calls.reserve(addresses.size());
  for (size_t rank = 0; rank < addresses.size(); ++rank) {
    calls.emplace_back([&, rank] {
      results[rank] =
          CallCheckpoint(static_cast<int>(rank), addresses[rank], request, timeout, tls);
    });
  }
  for (std::thread& t : calls) t.join();
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<absl::StatusOr<ServerStats>> CollectStats(const std::vector<std::string>& addresses,
                                                      const GetStatsRequest& request,
                                                      absl::Duration timeout,
                                                      const TlsOptions& tls) {
  std::vector<absl::StatusOr<ServerStats>> results(addresses.size());
  std::vector<std::thread> calls;
  calls.reserve(addresses.size());
  for (size_t rank = 0; rank < addresses.size(); ++rank) {
    calls.emplace_back([&, rank] {
      const std::string who = absl::StrCat("server ", rank, " at ", addresses[rank]);
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
          MakeChannel(addresses[rank], PeerRole::kServer, tls, grpc::ChannelArguments());
      if (!channel.ok()) {
        results[rank] = channel.status();
        return;
      }
      std::unique_ptr<ParameterServer::Stub> stub = ParameterServer::NewStub(*channel);
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
      ServerStats stats;
      const grpc::Status status = stub->GetStats(&context, request, &stats);
      if (status.ok()) {
        results[rank] = std::move(stats);
      } else {
        const absl::Status s = FromGrpcStatus(status);
        results[rank] = absl::Status(s.code(), absl::StrCat(who, ": ", s.message()));
      }
    });
  }
  for (std::thread& t : calls) t.join();
  return results;
}

}  // namespace psd
