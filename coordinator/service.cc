#include "coordinator/service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace psd {
namespace {

// Watch streams and barriers re-check their call every tick, so a cancelled call or a server
// shutdown never leaves a handler thread blocked for long.
constexpr absl::Duration kTick = absl::Milliseconds(500);
// The longest a barrier waits when the request gives no timeout.
constexpr absl::Duration kMaxBarrierWait = absl::Hours(1);

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

absl::Time Deadline(const grpc::ServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

Role NodeRoleOf(PeerRole role) {
  switch (role) {
    case PeerRole::kServer:
      return ROLE_SERVER;
    case PeerRole::kWorker:
      return ROLE_WORKER;
    default:
      return ROLE_UNSPECIFIED;
  }
}

}  // namespace

absl::StatusOr<std::optional<PeerIdentity>> CoordinatorService::Check(grpc::ServerContext* context,
                                                                      RpcMethod method) {
  return authz_.Check(*context, method);
}

absl::Status CoordinatorService::CheckNode(RpcMethod method,
                                           const std::optional<PeerIdentity>& peer,
                                           const std::string& node_id, bool may_be_unknown) {
  if (!peer.has_value()) return absl::OkStatus();  // --insecure
  absl::StatusOr<std::string> bound = manager_->NodeIdentity(node_id);
  if (!bound.ok() || bound->empty()) {
    // Heartbeats and watches of a node the coordinator does not know (yet) are answered
    // "unknown", and the node registers again; reports wait for that.
    if (may_be_unknown) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat(RuleFor(method).name, ": node '", node_id,
                     "' is not registered with this coordinator (yet); register first"));
  }
  if (*bound != peer->name) {
    return authz_.Deny(method, *peer,
                       absl::StrCat("node '", node_id, "' was registered by certificate '", *bound,
                                    "'; a node speaks only for itself"));
  }
  return absl::OkStatus();
}

grpc::Status CoordinatorService::RegisterNode(grpc::ServerContext* context,
                                              const RegisterNodeRequest* request,
                                              RegisterNodeResponse* response) {
  auto peer = Check(context, RpcMethod::kRegisterNode);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  RegisterNodeRequest bound = *request;
  bound.mutable_node()->clear_identity();  // never taken from the request
  if (peer->has_value()) {
    const PeerIdentity& who = **peer;
    if (request->node().role() != NodeRoleOf(who.role)) {
      return ToGrpcStatus(
          authz_.Deny(RpcMethod::kRegisterNode, who,
                      absl::StrCat("node.role ", Role_Name(request->node().role()),
                                   " is not the certificate's role ", PeerRoleName(who.role))));
    }
    bound.mutable_node()->set_identity(who.name);
  }
  absl::StatusOr<RegisterNodeResponse> registered = manager_->RegisterNode(bound);
  if (!registered.ok() && peer->has_value() &&
      registered.status().code() == absl::StatusCode::kPermissionDenied) {
    return ToGrpcStatus(
        authz_.Deny(RpcMethod::kRegisterNode, **peer, std::string(registered.status().message())));
  }
  return Reply(std::move(registered), response);
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext* context,
                                           const HeartbeatRequest* request,
                                           HeartbeatResponse* response) {
  auto peer = Check(context, RpcMethod::kHeartbeat);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (absl::Status s = CheckNode(RpcMethod::kHeartbeat, *peer, request->node_id(), true); !s.ok()) {
    return ToGrpcStatus(s);
  }
  *response = manager_->Heartbeat(*request);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListNodes(grpc::ServerContext* context, const ListNodesRequest*,
                                           ListNodesResponse* response) {
  auto peer = Check(context, RpcMethod::kListNodes);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  *response = manager_->ListNodes();
  for (const auto& [method, n] : authz_.denials()) (*response->mutable_denied_calls())[method] = n;
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WatchAssignments(grpc::ServerContext* context,
                                                  const WatchAssignmentsRequest* request,
                                                  grpc::ServerWriter<Assignment>* writer) {
  auto peer = Check(context, RpcMethod::kWatchAssignments);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (request->node_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node_id: required");
  }
  if (absl::Status s = CheckNode(RpcMethod::kWatchAssignments, *peer, request->node_id(), true);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  int64_t sent = -1;
  while (!context->IsCancelled()) {
    absl::StatusOr<std::optional<Assignment>> next =
        manager_->NextAssignment(request->node_id(), sent, absl::Now() + kTick);
    if (!next.ok()) return ToGrpcStatus(next.status());
    if (!next->has_value()) continue;
    sent = (*next)->version();
    if (!writer->Write(**next)) break;
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
}

grpc::Status CoordinatorService::SubmitJob(grpc::ServerContext* context,
                                           const SubmitJobRequest* request,
                                           SubmitJobResponse* response) {
  auto peer = Check(context, RpcMethod::kSubmitJob);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  absl::StatusOr<std::string> id = manager_->SubmitJob(*request);
  (id.ok() ? accepted_ : refused_).fetch_add(1, std::memory_order_relaxed);
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_job_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext* context, const GetJobRequest* request,
                                        JobInfo* response) {
  auto peer = Check(context, RpcMethod::kGetJob);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  absl::StatusOr<JobInfo> job = manager_->GetJob(request->job_id());
  if (job.ok()) manager_->AddTableStats(&*job);
  return Reply(std::move(job), response);
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext* context, const ListJobsRequest*,
                                          ListJobsResponse* response) {
  auto peer = Check(context, RpcMethod::kListJobs);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  *response = manager_->ListJobs();
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelJob(grpc::ServerContext* context,
                                           const CancelJobRequest* request, JobInfo* response) {
  auto peer = Check(context, RpcMethod::kCancelJob);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  return Reply(manager_->CancelJob(request->job_id()), response);
}

grpc::Status CoordinatorService::CheckpointJob(grpc::ServerContext* context,
                                               const CheckpointJobRequest* request,
                                               CheckpointJobResponse* response) {
  auto peer = Check(context, RpcMethod::kCheckpointJob);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (peer->has_value() && (*peer)->role == PeerRole::kServer) {
    // A server asks for a checkpoint of a job it serves, before it shuts down.
    absl::StatusOr<JobInfo> job = manager_->GetJob(request->job_id());
    if (!job.ok()) return ToGrpcStatus(job.status());
    bool serves = false;
    for (const std::string& node : job->server_nodes()) {
      absl::StatusOr<std::string> name = manager_->NodeIdentity(node);
      serves |= name.ok() && *name == (*peer)->name;
    }
    if (!serves) {
      return ToGrpcStatus(authz_.Deny(RpcMethod::kCheckpointJob, **peer,
                                      absl::StrCat("it serves no rank of job ", job->job_id())));
    }
  }
  return Reply(manager_->CheckpointJob(request->job_id()), response);
}

grpc::Status CoordinatorService::ScaleJob(grpc::ServerContext* context,
                                          const ScaleJobRequest* request, JobInfo* response) {
  auto peer = Check(context, RpcMethod::kScaleJob);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  return Reply(manager_->ScaleJob(*request), response);
}

grpc::Status CoordinatorService::ReportProgress(grpc::ServerContext* context,
                                                const ProgressReport* request,
                                                ReportProgressResponse* response) {
  auto peer = Check(context, RpcMethod::kReportProgress);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (absl::Status s = CheckNode(RpcMethod::kReportProgress, *peer, request->node_id(), false);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  TraceSteps trace;
  absl::StatusOr<bool> cancelled = manager_->ReportProgress(*request, &trace, response);
  if (!cancelled.ok()) return ToGrpcStatus(cancelled.status());
  response->set_cancelled(*cancelled);
  if (trace.trace_id() > 0) *response->mutable_trace() = trace;
  // The worker measures its clock against this (psdctl trace): stamped as late as possible.
  response->set_coordinator_time_us(absl::ToUnixMicros(absl::Now()));
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ReportTask(grpc::ServerContext* context, const TaskReport* request,
                                            ReportTaskResponse*) {
  auto peer = Check(context, RpcMethod::kReportTask);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (peer->has_value() && request->role() != NodeRoleOf((*peer)->role)) {
    return ToGrpcStatus(authz_.Deny(
        RpcMethod::kReportTask, **peer,
        absl::StrCat("role ", Role_Name(request->role()), " is not the certificate's role")));
  }
  if (absl::Status s = CheckNode(RpcMethod::kReportTask, *peer, request->node_id(), false);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(manager_->ReportTask(*request));
}

grpc::Status CoordinatorService::Barrier(grpc::ServerContext* context,
                                         const BarrierRequest* request, BarrierResponse* response) {
  auto peer = Check(context, RpcMethod::kBarrier);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (absl::Status s = CheckNode(RpcMethod::kBarrier, *peer, request->node_id(), false); !s.ok()) {
    return ToGrpcStatus(s);
  }
  const absl::Duration wait =
      request->timeout_ms() > 0 ? absl::Milliseconds(request->timeout_ms()) : kMaxBarrierWait;
  const absl::Time deadline = std::min(absl::Now() + wait, Deadline(*context));
  absl::StatusOr<bool> complete =
      manager_->Barrier(*request, deadline, [context] { return context->IsCancelled(); });
  if (!complete.ok()) return ToGrpcStatus(complete.status());
  response->set_complete(*complete);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::TraceJob(grpc::ServerContext* context,
                                          const TraceJobRequest* request,
                                          TraceJobResponse* response) {
  auto peer = Check(context, RpcMethod::kTraceJob);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  TraceJobRequest bounded = *request;
  // Never wait past the caller's deadline.
  const absl::Time deadline = Deadline(*context);
  if (deadline != absl::InfiniteFuture()) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now()) - 2000;
    if (bounded.timeout_ms() <= 0 || bounded.timeout_ms() > left_ms) {
      bounded.set_timeout_ms(std::max<int64_t>(1, left_ms));
    }
  }
  return Reply(manager_->TraceJob(bounded, [context] { return context->IsCancelled(); }), response);
}

grpc::Status CoordinatorService::ReportTrace(grpc::ServerContext* context,
                                             const TraceReport* request, ReportTraceResponse*) {
  auto peer = Check(context, RpcMethod::kReportTrace);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  if (absl::Status s = CheckNode(RpcMethod::kReportTrace, *peer, request->node_id(), false);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(manager_->ReportTrace(*request));
}

int MaxRequestBytes(const CoordinatorOptions& options) {
  constexpr int64_t kOtherFields = 64 << 10;  // source name, resume path, framing
  return static_cast<int>(options.max_spec_bytes + kOtherFields);
}

}  // namespace psd
