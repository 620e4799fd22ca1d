// libFuzzer target: the coordinator's request handling, every unary RPC of psd.Coordinator
// (coordinator/service.h) called directly as gRPC would call it, on a JobManager whose job
// store is an in-memory SQLite database; plus the JobManager call behind WatchAssignments
// (NextAssignment), which is a stream. A fuzz input is a sequence of calls against one
// coordinator, so nodes can register, jobs can be submitted, scheduled, reported on and
// cancelled. Calls are not authorised (as under --insecure): the caller checks are tested by
// the coordinator's own tests; here every request reaches the code that reads it.
//
// Input: calls, each a method byte (mod 15: RegisterNode, Heartbeat, ListNodes, SubmitJob,
// GetJob, ListJobs, CancelJob, CheckpointJob, ReportProgress, ReportTask, Barrier,
// WatchAssignments, ReportTrace, TraceJob, ScaleJob), a 16-bit length and that many bytes of the
// request; requests that protobuf cannot parse are dropped (gRPC refuses them before psd). Node ids
// are the client's to choose (a node re-registers with its id), so seeds name fixed ids; job ids
// are
// "<spec name>-<n>".
//
// Kept from the machine the fuzzer runs on: node addresses become 127.0.0.1:1 (nothing
// listens there; the coordinator dials servers on CheckpointJob), checkpoint directories one
// inside the scratch directory, and barriers and traces wait at most 10 ms.
//
// Beyond not crashing: every error says what was wrong (a non-empty message).
#include <grpc/grpc.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/tls_options.h"
#include "coordinator/job_manager.h"
#include "coordinator/job_store.h"
#include "coordinator/service.h"
#include "fuzz/fuzz_util.h"
#include "proto/coordinator.pb.h"

namespace psd {
namespace {

template <typename Request, typename Response, typename Handler>
void Call(absl::string_view bytes, Handler handler, void (*confine)(Request*) = nullptr) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  if (confine != nullptr) confine(&request);
  grpc::ServerContext ctx;
  Response response;
  const grpc::Status status = handler(&ctx, &request, &response);
  FUZZ_CHECK(status.ok() || !status.error_message().empty(),
             absl::StrCat("status ", status.error_code(), " without a message"));
}

void ConfineRegister(RegisterNodeRequest* r) {
  if (r->has_node()) r->mutable_node()->set_address("127.0.0.1:1");
}
void ConfineTrace(TraceJobRequest* r) {
  r->set_timeout_ms(std::clamp<int64_t>(r->timeout_ms(), 1, 10));  // 0 would be 5 minutes
}

void ConfineSubmit(SubmitJobRequest* r) {
  if (!r->resume_from().empty()) r->set_resume_from(fuzz::ScratchDir() + "/confined");
}
void ConfineBarrier(BarrierRequest* r) {
  r->set_timeout_ms(std::clamp<int64_t>(r->timeout_ms(), 1, 10));
}

}  // namespace
}  // namespace psd

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  grpc_init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psd;  // NOLINT: the request types
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(":memory:");
  FUZZ_CHECK(store.ok(), store.status().ToString());
  CoordinatorOptions options;
  options.server_rpc_timeout = absl::Milliseconds(50);
  options.tls = TlsOptions::Insecure();
  absl::StatusOr<std::unique_ptr<JobManager>> manager =
      JobManager::Create(options, *std::move(store));
  FUZZ_CHECK(manager.ok(), manager.status().ToString());
  CoordinatorService service(manager->get(), /*authorize=*/false);
  CoordinatorService* s = &service;

  fuzz::Input in(data, size);
  for (int calls = 0; !in.empty() && calls < 32; ++calls) {
    const int method = in.Byte() % 15;
    const absl::string_view b = in.Record();
    switch (method) {
      case 0:
        Call<RegisterNodeRequest, RegisterNodeResponse>(
            b, [s](auto... a) { return s->RegisterNode(a...); }, &ConfineRegister);
        break;
      case 1:
        Call<HeartbeatRequest, HeartbeatResponse>(b, [s](auto... a) { return s->Heartbeat(a...); });
        break;
      case 2:
        Call<ListNodesRequest, ListNodesResponse>(b, [s](auto... a) { return s->ListNodes(a...); });
        break;
      case 3:
        Call<SubmitJobRequest, SubmitJobResponse>(
            b, [s](auto... a) { return s->SubmitJob(a...); }, &ConfineSubmit);
        break;
      case 4:
        Call<GetJobRequest, JobInfo>(b, [s](auto... a) { return s->GetJob(a...); });
        break;
      case 5:
        Call<ListJobsRequest, ListJobsResponse>(b, [s](auto... a) { return s->ListJobs(a...); });
        break;
      case 6:
        Call<CancelJobRequest, JobInfo>(b, [s](auto... a) { return s->CancelJob(a...); });
        break;
      case 7:
        Call<CheckpointJobRequest, CheckpointJobResponse>(
            b, [s](auto... a) { return s->CheckpointJob(a...); });
        break;
      case 8:
        Call<ProgressReport, ReportProgressResponse>(
            b, [s](auto... a) { return s->ReportProgress(a...); });
        break;
      case 9:
        Call<TaskReport, ReportTaskResponse>(b, [s](auto... a) { return s->ReportTask(a...); });
        break;
      case 10:
        Call<BarrierRequest, BarrierResponse>(
            b, [s](auto... a) { return s->Barrier(a...); }, &ConfineBarrier);
        break;
      case 11: {
        // The stream's first step: the node's assignment now (no wait).
        WatchAssignmentsRequest request;
        if (!request.ParseFromArray(b.data(), static_cast<int>(b.size()))) break;
        auto next = (*manager)->NextAssignment(request.node_id(), -1, absl::InfinitePast());
        FUZZ_CHECK(next.ok() || !next.status().message().empty(), next.status().ToString());
        break;
      }
      case 12:
        Call<TraceReport, ReportTraceResponse>(b, [s](auto... a) { return s->ReportTrace(a...); });
        break;
      case 13:
        Call<TraceJobRequest, TraceJobResponse>(
            b, [s](auto... a) { return s->TraceJob(a...); }, &ConfineTrace);
        break;
      case 14:
        Call<ScaleJobRequest, JobInfo>(b, [s](auto... a) { return s->ScaleJob(a...); });
        break;
    }
  }
  (*manager)->Shutdown();
  return 0;
}
