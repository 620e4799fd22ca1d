// libFuzzer target: the parameter server's request handling, every RPC of psd.ParameterServer
// (server/ps_service.h) called directly, as gRPC would call it, with the request bytes a
// client sent: InitJob, Push, Pull, PushPull, Checkpoint, EndJob, GetStats. No transport: the
// handlers run on gRPC's test reactor (grpc::testing::DefaultReactorTestPeer), so a fuzz input
// is a sequence of calls against one server holding one small job. Calls are not authorised
// (PsService::Options::authorize = false, as under --insecure): the caller checks are tested
// by server/ps_service_test; here every request reaches the code that reads it.
//
// Input: byte 0 picks the job the server holds (mod 3: sync with 2 workers, async with 2, ssp
// staleness 1 with 2; logreg 6 -> 4, 4 floats per chunk: 7 chunks); then calls, each a method
// byte (low 3 bits: the method, in the order above; bits 4-5: the request arrives in 1 to 4
// slices; bit 6: the client cancels the call right after sending it) and a 16-bit length and that
// many bytes of request. InitJob, Checkpoint, EndJob and GetStats requests that protobuf cannot
// parse are dropped (gRPC refuses them before psd).
//
// Beyond not crashing: every call is answered, at the latest when the job ends (a pull that
// waits for a step that never comes must not stay queued), and every error says what was
// wrong (a non-empty message).
#include <grpc/grpc.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/test/default_reactor_test_peer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_util.h"
#include "proto/parameter_server.pb.h"
#include "server/job_registry.h"
#include "server/ps_service.h"

namespace psd {
namespace {

std::string Spec(const std::string& training) {
  return absl::StrCat(R"(
name: fuzz
seed: 3
model: {type: logreg, input_dim: 6, num_classes: 4}
data: {train_images: a, train_labels: b, test_images: c, test_labels: d}
training: {max_steps: 10, optimizer: {type: adam}, )",
                      training, R"(}
cluster: {servers: 1, workers: 2, chunk_bytes: 16}
)");
}

const std::string& JobSpecYaml(int which) {
  static const std::string* specs =
      new std::string[3]{Spec("consistency: sync"), Spec("consistency: async"),
                         Spec("consistency: ssp, staleness: 1")};
  return specs[which];
}

enum Method { kInitJob, kPush, kPull, kPushPull, kCheckpoint, kEndJob, kGetStats, kMethods };

// The call gRPC binds a handler's own reactor to (Pull and PushPull return one): it records
// the status the reactor finishes with, and the reactor's OnDone runs at the end of the input,
// as gRPC runs it after the status is sent. (grpc::testing::DefaultReactorTestPeer does the
// same for the handlers that use the context's default reactor.)
class FakeUnaryCall : public grpc::ServerCallbackUnary {
 public:
  explicit FakeUnaryCall(grpc::ServerUnaryReactor* reactor) : reactor_(reactor) {
    BindReactor(reactor);  // replays a Finish the handler already called
  }
  void Finish(grpc::Status s) override {
    status_ = std::move(s);
    finished_ = true;
  }
  void SendInitialMetadata() override { reactor_->OnSendInitialMetadataDone(true); }
  bool finished() const { return finished_; }
  const grpc::Status& status() const { return status_; }
  void Done() { reactor_->OnDone(); }
  void Cancel() { reactor_->OnCancel(); }

 private:
  void CallOnDone() override {}
  grpc::internal::ServerReactor* reactor() override { return reactor_; }

  grpc::ServerUnaryReactor* const reactor_;
  bool finished_ = false;
  grpc::Status status_;
};

// One call in flight: its context (with the test reactor) and buffers live until the end of
// the input, when every job has ended.
struct Call {
  Method method;
  grpc::CallbackServerContext ctx;
  std::unique_ptr<grpc::testing::DefaultReactorTestPeer> peer;
  std::unique_ptr<FakeUnaryCall> own;  // when the handler returned its own reactor
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  InitJobRequest init;
  InitJobResponse init_response;
  CheckpointRequest checkpoint;
  CheckpointResponse checkpoint_response;
  EndJobRequest end;
  EndJobResponse end_response;
  GetStatsRequest stats;
  ServerStats stats_response;
};

grpc::ByteBuffer Slices(absl::string_view bytes, int n) {
  std::vector<grpc::Slice> slices;
  const size_t step = bytes.size() / n;
  size_t start = 0;
  for (int i = 0; i < n; ++i) {
    const size_t end = i == n - 1 ? bytes.size() : start + step;
    slices.emplace_back(bytes.data() + start, end - start);
    start = end;
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// Paths a request names are kept inside the scratch directory: the fuzzer must not write (or
// read) around the machine it runs on. Whether a path is allowed is tested by the server's
// own tests.
void Confine(std::string* path) {
  if (!path->empty()) *path = fuzz::ScratchDir() + "/confined";
}

// Runs the call; with `cancel`, the client cancels it right after (its deadline passed).
void RunCall(PsService& service, Call& call, absl::string_view bytes, int slices, bool cancel) {
  call.peer = std::make_unique<grpc::testing::DefaultReactorTestPeer>(&call.ctx);
  grpc::ServerUnaryReactor* reactor = nullptr;
  switch (call.method) {
    case kInitJob:
      Confine(call.init.mutable_resume_dir());
      reactor = service.InitJob(&call.ctx, &call.init, &call.init_response);
      break;
    case kPush:
      call.request = Slices(bytes, slices);
      reactor = service.Push(&call.ctx, &call.request, &call.response);
      break;
    case kPull:
      call.request = Slices(bytes, slices);
      reactor = service.Pull(&call.ctx, &call.request, &call.response);
      break;
    case kPushPull:
      call.request = Slices(bytes, slices);
      reactor = service.PushPull(&call.ctx, &call.request, &call.response);
      break;
    case kCheckpoint:
      Confine(call.checkpoint.mutable_dir());
      reactor = service.Checkpoint(&call.ctx, &call.checkpoint, &call.checkpoint_response);
      break;
    case kEndJob:
      Confine(call.end.mutable_export_path());
      reactor = service.EndJob(&call.ctx, &call.end, &call.end_response);
      break;
    case kGetStats:
      reactor = service.GetStats(&call.ctx, &call.stats, &call.stats_response);
      break;
    default:
      break;
  }
  if (reactor != nullptr && reactor != call.peer->reactor()) {
    call.own = std::make_unique<FakeUnaryCall>(reactor);
  }
  if (cancel) {
    if (call.own != nullptr) {
      call.own->Cancel();
    } else if (call.peer->reactor() != nullptr) {
      call.peer->reactor()->OnCancel();
    }
  }
}

bool Answered(const Call& call) {
  return call.own != nullptr ? call.own->finished() : call.peer->test_status_set();
}

grpc::Status StatusOf(const Call& call) {
  return call.own != nullptr ? call.own->status() : call.peer->test_status();
}

// Parses the request of a protobuf-typed method; false if gRPC would have refused it.
bool Parse(Call& call, absl::string_view bytes) {
  const int n = static_cast<int>(bytes.size());
  switch (call.method) {
    case kInitJob:
      return call.init.ParseFromArray(bytes.data(), n);
    case kCheckpoint:
      return call.checkpoint.ParseFromArray(bytes.data(), n);
    case kEndJob:
      return call.end.ParseFromArray(bytes.data(), n);
    case kGetStats:
      return call.stats.ParseFromArray(bytes.data(), n);
    default:
      return true;
  }
}

}  // namespace
}  // namespace psd

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  grpc_init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using psd::Call;
  psd::fuzz::Input in(data, size);
  psd::JobRegistry registry;  // no checkpoint writer: nothing is written to disk
  psd::PsService::Options options;
  options.authorize = false;
  psd::PsService service(&registry, options);

  psd::InitJobRequest init;
  init.set_job_id("job");
  init.set_generation(1);
  init.set_spec_yaml(psd::JobSpecYaml(in.Byte() % 3));
  init.set_server_rank(0);
  init.set_num_servers(1);
  init.set_num_workers(2);
  absl::StatusOr<std::shared_ptr<psd::ServedJob>> job = registry.Init(init);
  FUZZ_CHECK(job.ok(), job.status().ToString());
  job->reset();

  std::vector<std::unique_ptr<Call>> calls;
  while (!in.empty() && calls.size() < 32) {
    const uint8_t m = in.Byte();
    const absl::string_view bytes = in.Record();
    auto call = std::make_unique<Call>();
    call->method = static_cast<psd::Method>((m & 7) % psd::kMethods);
    if (!psd::Parse(*call, bytes)) continue;
    psd::RunCall(service, *call, bytes, ((m >> 4) & 3) + 1, (m & 0x40) != 0);
    calls.push_back(std::move(call));
  }

  // The end of every job answers every call still waiting.
  std::vector<std::string> ids;
  registry.ForEach([&ids](psd::ServedJob& j) { ids.push_back(j.id); });
  for (const std::string& id : ids) registry.End(id);
  for (const auto& call : calls) {
    FUZZ_CHECK(psd::Answered(*call), absl::StrCat("method ", call->method, " was never answered"));
    if (call->own != nullptr) call->own->Done();
    const grpc::Status status = psd::StatusOf(*call);
    FUZZ_CHECK(status.ok() || !status.error_message().empty(),
               absl::StrCat("method ", call->method, ": status ", status.error_code(),
                            " without a message"));
  }
  return 0;
}
