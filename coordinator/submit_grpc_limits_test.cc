// The job spec limits through the coordinator's gRPC server: a spec just over the limit gets
// INVALID_ARGUMENT naming it, a much larger message is refused by gRPC before it is read, and
// after a run of both the coordinator serves a normal submit.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/service.h"
#include "coordinator/test_util.h"
#include "proto/coordinator.grpc.pb.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

grpc::Status Submit(Coordinator::Stub& stub, const std::string& yaml) {
  SubmitJobRequest request;
  request.set_spec_yaml(yaml);
  request.set_source_name("job.yaml");
  SubmitJobResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub.SubmitJob(&context, request, &response);
}

TEST_CASE("oversized submits over gRPC are refused and the coordinator keeps serving") {
  auto c = testing::InProcessCoordinator::Start(testing::MakeTempDir("grpc-limits"),
                                                CoordinatorOptions());
  REQUIRE(c.ok());
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = MakeChannel((*c)->address(), PeerRole::kCoordinator,
                             testing::TestTls("admin", PeerRole::kAdmin), args);
  REQUIRE(channel.ok());
  std::unique_ptr<Coordinator::Stub> stub = Coordinator::NewStub(*channel);

  std::string just_over = testing::JobYaml({});
  just_over += std::string(kDefaultMaxSpecBytes + 1 - just_over.size(), '\n');
  // 2 MiB: under gRPC's default limit (4 MiB), over the coordinator's.
  const std::string huge = testing::JobYaml({}) + std::string(2 << 20, '\n');
  for (int i = 0; i < 20; ++i) {
    grpc::Status s = Submit(*stub, just_over);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() == absl::StrCat("job.yaml: ", just_over.size(),
                                            " bytes, more than the limit of ", kDefaultMaxSpecBytes,
                                            " bytes for a job spec"));
    s = Submit(*stub, huge);
    CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK_FALSE(s.error_message().empty());
  }
  CHECK(Submit(*stub, testing::JobYaml({})).ok());
}

}  // namespace
}  // namespace psd
