// psd.Coordinator over gRPC: translates requests to JobManager calls and statuses back, after
// checking every caller against common/rpc_policy.h (role from its certificate; a node speaks
// only for the node id its certificate registered).
#ifndef PSD_COORDINATOR_SERVICE_H_
#define PSD_COORDINATOR_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/rpc_policy.h"
#include "coordinator/job_manager.h"
#include "proto/coordinator.grpc.pb.h"

namespace psd {

class CoordinatorService final : public Coordinator::Service {
 public:
  // `manager` must outlive the service. `authorize` false only under --insecure, where
  // there are no identities to check.
  CoordinatorService(JobManager* manager, bool authorize) : manager_(manager), authz_(authorize) {}

  const Authorizer& authorizer() const { return authz_; }
  // SubmitJob calls since start that were authorised: accepted, or refused by the manager
  // (invalid spec, too large, ...).
  struct Submissions {
    int64_t accepted = 0, refused = 0;
  };
  Submissions submissions() const { return {accepted_.load(), refused_.load()}; }

  grpc::Status RegisterNode(grpc::ServerContext* context, const RegisterNodeRequest* request,
                            RegisterNodeResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const HeartbeatRequest* request,
                         HeartbeatResponse* response) override;
  grpc::Status ListNodes(grpc::ServerContext* context, const ListNodesRequest* request,
                         ListNodesResponse* response) override;
  grpc::Status WatchAssignments(grpc::ServerContext* context,
                                const WatchAssignmentsRequest* request,
                                grpc::ServerWriter<Assignment>* writer) override;
  grpc::Status SubmitJob(grpc::ServerContext* context, const SubmitJobRequest* request,
                         SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const GetJobRequest* request,
                      JobInfo* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const ListJobsRequest* request,
                        ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const CancelJobRequest* request,
                         JobInfo* response) override;
  grpc::Status CheckpointJob(grpc::ServerContext* context, const CheckpointJobRequest* request,
                             CheckpointJobResponse* response) override;
  grpc::Status ScaleJob(grpc::ServerContext* context, const ScaleJobRequest* request,
                        JobInfo* response) override;
  grpc::Status ReportProgress(grpc::ServerContext* context, const ProgressReport* request,
                              ReportProgressResponse* response) override;
  grpc::Status ReportTask(grpc::ServerContext* context, const TaskReport* request,
                          ReportTaskResponse* response) override;
  grpc::Status Barrier(grpc::ServerContext* context, const BarrierRequest* request,
                       BarrierResponse* response) override;
  grpc::Status TraceJob(grpc::ServerContext* context, const TraceJobRequest* request,
                        TraceJobResponse* response) override;
  grpc::Status ReportTrace(grpc::ServerContext* context, const TraceReport* request,
                           ReportTraceResponse* response) override;

 private:
  // The caller's identity if it may call `method` (nullopt under --insecure).
  absl::StatusOr<std::optional<PeerIdentity>> Check(grpc::ServerContext* context, RpcMethod method);
  // `node_id` is the node the caller's certificate registered.
  absl::Status CheckNode(RpcMethod method, const std::optional<PeerIdentity>& peer,
                         const std::string& node_id, bool may_be_unknown);

  JobManager* manager_;
  Authorizer authz_;
  std::atomic<int64_t> accepted_{0}, refused_{0};
};

// The largest request message the coordinator's gRPC server accepts: a job spec of
// options.max_spec_bytes and room for the request's other fields. Larger messages are refused
// by gRPC (RESOURCE_EXHAUSTED) before they are parsed.
int MaxRequestBytes(const CoordinatorOptions& options);

}  // namespace psd

#endif  // PSD_COORDINATOR_SERVICE_H_
