#include "coordinator/service.h"

#include <algorithm>
#include <utility>

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

}  // namespace

grpc::Status CoordinatorService::RegisterNode(grpc::ServerContext*,
                                              const RegisterNodeRequest* request,
                                              RegisterNodeResponse* response) {
  return Reply(manager_->RegisterNode(*request), response);
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext*, const HeartbeatRequest* request,
                                           HeartbeatResponse* response) {
  *response = manager_->Heartbeat(*request);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListNodes(grpc::ServerContext*, const ListNodesRequest*,
                                           ListNodesResponse* response) {
  *response = manager_->ListNodes();
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WatchAssignments(grpc::ServerContext* context,
                                                  const WatchAssignmentsRequest* request,
                                                  grpc::ServerWriter<Assignment>* writer) {
  if (request->node_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node_id: required");
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

grpc::Status CoordinatorService::SubmitJob(grpc::ServerContext*, const SubmitJobRequest* request,
                                           SubmitJobResponse* response) {
  absl::StatusOr<std::string> id = manager_->SubmitJob(*request);
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_job_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext*, const GetJobRequest* request,
                                        JobInfo* response) {
  return Reply(manager_->GetJob(request->job_id()), response);
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext*, const ListJobsRequest*,
                                          ListJobsResponse* response) {
  *response = manager_->ListJobs();
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelJob(grpc::ServerContext*, const CancelJobRequest* request,
                                           JobInfo* response) {
  return Reply(manager_->CancelJob(request->job_id()), response);
}

grpc::Status CoordinatorService::CheckpointJob(grpc::ServerContext*,
                                               const CheckpointJobRequest* request,
                                               CheckpointJobResponse* response) {
  return Reply(manager_->CheckpointJob(request->job_id()), response);
}

grpc::Status CoordinatorService::ReportProgress(grpc::ServerContext*, const ProgressReport* request,
                                                ReportProgressResponse* response) {
  absl::StatusOr<bool> cancelled = manager_->ReportProgress(*request);
  if (!cancelled.ok()) return ToGrpcStatus(cancelled.status());
  response->set_cancelled(*cancelled);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ReportTask(grpc::ServerContext*, const TaskReport* request,
                                            ReportTaskResponse*) {
  return ToGrpcStatus(manager_->ReportTask(*request));
}

grpc::Status CoordinatorService::Barrier(grpc::ServerContext* context,
                                         const BarrierRequest* request, BarrierResponse* response) {
  const absl::Duration wait =
      request->timeout_ms() > 0 ? absl::Milliseconds(request->timeout_ms()) : kMaxBarrierWait;
  const absl::Time deadline = std::min(absl::Now() + wait, Deadline(*context));
  absl::StatusOr<bool> complete =
      manager_->Barrier(*request, deadline, [context] { return context->IsCancelled(); });
  if (!complete.ok()) return ToGrpcStatus(complete.status());
  response->set_complete(*complete);
  return grpc::Status::OK;
}

}  // namespace psd
