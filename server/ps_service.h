// The ParameterServer gRPC service (callback API): pulls that must wait for other workers
// park without holding a thread and complete from the push that makes them readable.
#ifndef PSD_SERVER_PS_SERVICE_H_
#define PSD_SERVER_PS_SERVICE_H_

#include "proto/parameter_server.grpc.pb.h"
#include "server/job_registry.h"

namespace psd {

class PsService final : public ParameterServer::CallbackService {
 public:
  explicit PsService(JobRegistry* registry) : registry_(registry) {}

  grpc::ServerUnaryReactor* InitJob(grpc::CallbackServerContext* ctx, const InitJobRequest* request,
                                    InitJobResponse* response) override;
  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* ctx, const PushRequest* request,
                                 PushResponse* response) override;
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx, const PullRequest* request,
                                 PullResponse* response) override;
  grpc::ServerUnaryReactor* PushPull(grpc::CallbackServerContext* ctx, const PushRequest* request,
                                     PullResponse* response) override;
  grpc::ServerUnaryReactor* EndJob(grpc::CallbackServerContext* ctx, const EndJobRequest* request,
                                   EndJobResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* ctx,
                                     const GetStatsRequest* request,
                                     ServerStats* response) override;

 private:
  JobRegistry* registry_;
};

}  // namespace psd

#endif  // PSD_SERVER_PS_SERVICE_H_
