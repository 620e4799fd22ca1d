// TlsOptions, peer identities and the RPC policy, over real mutual TLS on 127.0.0.1 with
// certificates from deploy/local/certs.sh.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/peer_identity.h"
#include "common/rpc_policy.h"
#include "common/tls_options.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::TestCertDir;
using testing::TestTls;

// A server whose every method answers OK and records who called.
class EchoServer {
 public:
  explicit EchoServer(const TlsOptions& tls) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *MakeServerCredentials(tls), &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~EchoServer() { server_->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  absl::StatusOr<PeerIdentity> last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  class Service : public grpc::CallbackGenericService {
   public:
    explicit Service(EchoServer* owner) : owner_(owner) {}
    grpc::ServerGenericBidiReactor* CreateReactor(
        grpc::GenericCallbackServerContext* ctx) override {
      {
        absl::MutexLock lock(&owner_->mu_);
        owner_->last_ = IdentityOf(*ctx);
      }
      class Done : public grpc::ServerGenericBidiReactor {
       public:
        Done() { Finish(grpc::Status::OK); }
        void OnDone() override { delete this; }
      };
      return new Done;
    }

   private:
    EchoServer* owner_;
  };

  Service service_{this};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  absl::StatusOr<PeerIdentity> last_ = absl::UnknownError("no call yet");
};

grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  absl::Mutex mu;
  bool done = false;
  grpc::Status result;
  stub.UnaryCall(&context, "/psd.Test/Echo", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   absl::MutexLock lock(&mu);
                   result = s;
                   done = true;
                 });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  return result;
}

TEST_CASE("a TLS peer's role and name come from its certificate") {
  EchoServer server(TestTls("server-0", PeerRole::kServer));
  auto channel =
      MakeChannel(server.address(), PeerRole::kServer, TestTls("worker-3", PeerRole::kWorker), {});
  REQUIRE(channel.ok());
  REQUIRE(Call(*channel).ok());
  absl::StatusOr<PeerIdentity> peer = server.last();
  REQUIRE(peer.ok());
  CHECK(peer->role == PeerRole::kWorker);
  CHECK(peer->name == "worker-3");
}

TEST_CASE("a plaintext client cannot call a TLS server") {
  EchoServer server(TestTls("server-0", PeerRole::kServer));
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  const grpc::Status s = Call(channel);
  CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("a client refuses a server whose certificate has another role") {
  // A worker's certificate does not say server.psd.internal: a client that dials a parameter
  // server does not accept it, whatever address it dialled.
  EchoServer server(TestTls("worker-0", PeerRole::kWorker));
  auto channel = MakeChannel(server.address(), PeerRole::kServer,
                             TestTls("coordinator", PeerRole::kCoordinator), {});
  REQUIRE(channel.ok());
  CHECK(Call(*channel).error_code() == grpc::StatusCode::UNAVAILABLE);
  auto right = MakeChannel(server.address(), PeerRole::kWorker,
                           TestTls("coordinator", PeerRole::kCoordinator), {});
  CHECK(Call(*right).ok());
}

TEST_CASE("LoadTls names the flag and the file that is wrong") {
  const TlsOptions good = TestTls("admin", PeerRole::kAdmin);
  SECTION("missing file") {
    auto tls = LoadTls(good.ca_file, "/nonexistent/x.crt", good.key_file);
    REQUIRE_FALSE(tls.ok());
    CHECK_THAT(std::string(tls.status().message()),
               Catch::Contains("--tls_cert /nonexistent/x.crt"));
  }
  SECTION("key of another certificate") {
    const TlsOptions other = TestTls("viewer", PeerRole::kViewer);
    auto tls = LoadTls(good.ca_file, good.cert_file, other.key_file);
    REQUIRE_FALSE(tls.ok());
    CHECK_THAT(std::string(tls.status().message()), Catch::Contains("is not the key of"));
  }
  SECTION("another CA") {
    const std::string dir = testing::MakeTempDir("otherca");
    const testing::CommandResult made = testing::RunCommand(
        {std::filesystem::absolute("deploy/local/certs.sh").string(), "--dir", dir, "x:admin"});
    REQUIRE(made.exit_code == 0);
    auto tls = LoadTls(good.ca_file, dir + "/x.crt", dir + "/x.key");
    REQUIRE_FALSE(tls.ok());
    CHECK_THAT(std::string(tls.status().message()), Catch::Contains("does not verify against"));
  }
  SECTION("wrong role for this process") {
    auto tls = LoadTls(good.ca_file, good.cert_file, good.key_file, PeerRole::kServer);
    REQUIRE_FALSE(tls.ok());
    CHECK_THAT(std::string(tls.status().message()),
               Catch::Contains("certificate of admin 'admin'"));
  }
  SECTION("a default TlsOptions builds no credentials") {
    CHECK_FALSE(MakeServerCredentials(TlsOptions()).ok());
  }
}

TEST_CASE("certs.sh is idempotent and keeps keys private") {
  TestTls("idem", PeerRole::kWorker);
  const std::string crt = TestCertDir() + "/idem.crt";
  const std::string before = testing::ReadFile(crt);
  const testing::CommandResult again =
      testing::RunCommand({std::filesystem::absolute("deploy/local/certs.sh").string(), "--dir",
                           TestCertDir(), "idem:worker"});
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.empty());
  CHECK(testing::ReadFile(crt) == before);
  const auto perms = std::filesystem::status(TestCertDir() + "/idem.key").permissions();
  CHECK((perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
        std::filesystem::perms::none);
  // Another role under the same name is a new certificate.
  const testing::CommandResult role =
      testing::RunCommand({std::filesystem::absolute("deploy/local/certs.sh").string(), "--dir",
                           TestCertDir(), "idem:viewer"});
  REQUIRE(role.exit_code == 0);
  CHECK(testing::ReadFile(crt) != before);
}

TEST_CASE("the RPC policy covers every method once, in order") {
  const std::vector<RpcRule>& policy = RpcPolicy();
  REQUIRE(policy.size() == static_cast<size_t>(RpcMethod::kCount));
  for (size_t i = 0; i < policy.size(); ++i) {
    CHECK(static_cast<size_t>(policy[i].method) == i);
    CHECK_FALSE(policy[i].allowed.empty());
  }
  CHECK(Allowed(RpcMethod::kSubmitJob, PeerRole::kAdmin));
  CHECK_FALSE(Allowed(RpcMethod::kSubmitJob, PeerRole::kViewer));
  CHECK(Allowed(RpcMethod::kPush, PeerRole::kWorker));
  CHECK_FALSE(Allowed(RpcMethod::kInitJob, PeerRole::kWorker));
}

}  // namespace
}  // namespace psd
