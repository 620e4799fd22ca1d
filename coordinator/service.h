// psd.Coordinator over gRPC: translates requests to JobManager calls and statuses back.
#ifndef PSD_COORDINATOR_SERVICE_H_
#define PSD_COORDINATOR_SERVICE_H_

#include "absl/time/time.h"
#include "coordinator/job_manager.h"
#include "proto/coordinator.grpc.pb.h"

namespace psd {

class CoordinatorService final : public Coordinator::Service {
 public:
  // `manager` must outlive the service.
  explicit CoordinatorService(JobManager* manager) : manager_(manager) {}

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
  grpc::Status ReportProgress(grpc::ServerContext* context, const ProgressReport* request,
                              ReportProgressResponse* response) override;
  grpc::Status ReportTask(grpc::ServerContext* context, const TaskReport* request,
                          ReportTaskResponse* response) override;
  grpc::Status Barrier(grpc::ServerContext* context, const BarrierRequest* request,
                       BarrierResponse* response) override;

 private:
  JobManager* manager_;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_SERVICE_H_
