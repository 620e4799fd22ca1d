// Who may call what, over real mutual TLS on 127.0.0.1: a coordinator (the gRPC service with its
// job manager) and a parameter server (PsServer), certificates from deploy/local/certs.sh. For
// every RPC of both services: a plaintext client, a TLS client without a certificate, a
// certificate of the cluster's CA without a psd role, one of another CA, and every role the
// policy does not allow are refused; an allowed role gets through to the handler. Then the
// checks that need the request: a worker pushes and pulls only for its own rank, a node reports
// only for itself, and a node id stays bound to its certificate across a coordinator restart.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "common/rpc_policy.h"
#include "common/tls_options.h"
#include "coordinator/test_util.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/parameter_server.grpc.pb.h"
#include "server/ps_server.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"
#include "worker/ps_client.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::InProcessCoordinator;
using testing::TestCertDir;
using testing::TestTls;

constexpr PeerRole kRoles[] = {PeerRole::kCoordinator, PeerRole::kServer, PeerRole::kWorker,
                               PeerRole::kAdmin, PeerRole::kViewer};

// The test certificate of each role.
TlsOptions CertOf(PeerRole role) {
  switch (role) {
    case PeerRole::kCoordinator:
      return TestTls("coordinator", role);
    case PeerRole::kServer:
      return TestTls("server-0", role);
    case PeerRole::kWorker:
      return TestTls("worker-0", role);
    case PeerRole::kAdmin:
      return TestTls("admin", role);
    case PeerRole::kViewer:
      return TestTls("viewer", role);
  }
  return TlsOptions();
}

// A certificate of `ca_dir`'s CA (made by certs.sh) with a CN but no psd role, made with
// openssl here; LoadTls would refuse it, so its PEM is read as it is.
TlsOptions CertWithoutRole(const std::string& ca_dir, const std::string& name) {
  const std::string base = absl::StrCat(testing::MakeTempDir("norole"), "/", name);
  const std::string script = absl::StrCat(
      "set -e; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ", base,
      ".key 2>/dev/null; openssl req -new -key ", base, ".key -subj /O=psd/CN=", name, " -out ",
      base, ".csr 2>/dev/null; printf 'subjectAltName=DNS:", name,
      ".example\\nextendedKeyUsage=clientAuth\\n' >", base, ".ext; openssl x509 -req -in ", base,
      ".csr -CA ", ca_dir, "/ca.crt -CAkey ", ca_dir, "/ca.key -CAcreateserial -CAserial ", base,
      ".srl -days 2 -extfile ", base, ".ext -out ", base, ".crt 2>/dev/null");
  const testing::CommandResult made = testing::RunCommand({"/bin/sh", "-c", script});
  REQUIRE(made.exit_code == 0);
  TlsOptions tls;
  tls.ca_pem = testing::ReadFile(ca_dir + "/ca-bundle.crt");
  tls.cert_pem = testing::ReadFile(base + ".crt");
  tls.key_pem = testing::ReadFile(base + ".key");
  REQUIRE_FALSE(tls.cert_pem.empty());
  return tls;
}

// One unary call through the generic API; `request` is the serialized message.
grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                  const std::string& request, absl::Duration timeout = absl::Seconds(5)) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  absl::Mutex mu;
  bool done = false;
  grpc::Status result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
    absl::MutexLock lock(&mu);
    result = std::move(s);
    done = true;
  });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  return result;
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, PeerRole server_role,
                                          const TlsOptions& tls) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  auto channel = MakeChannel(address, server_role, tls, args);
  REQUIRE(channel.ok());
  return *channel;
}

// TLS that verifies the server but presents no client certificate.
std::shared_ptr<grpc::Channel> AnonymousChannel(const std::string& address, PeerRole server_role) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = CertOf(PeerRole::kAdmin).ca_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(RoleHostName(server_role));
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

// A request for each method that an allowed caller gets past authorisation with (the handler
// may still refuse it for other reasons: an unknown job, a bad spec).
struct Row {
  RpcMethod method;
  std::function<std::string(PeerRole caller)> request;
};

Role NodeRole(PeerRole caller) { return caller == PeerRole::kServer ? ROLE_SERVER : ROLE_WORKER; }

std::vector<Row> Rows() {
  return {
      {RpcMethod::kRegisterNode,
       [](PeerRole caller) {
         RegisterNodeRequest r;
         r.mutable_node()->set_role(NodeRole(caller));
         r.mutable_node()->set_address("127.0.0.1:9");
         return r.SerializeAsString();
       }},
      {RpcMethod::kHeartbeat,
       [](PeerRole) {
         HeartbeatRequest r;
         r.set_node_id("nobody");
         return r.SerializeAsString();
       }},
      {RpcMethod::kListNodes, [](PeerRole) { return ListNodesRequest().SerializeAsString(); }},
      {RpcMethod::kWatchAssignments,
       [](PeerRole) {
         WatchAssignmentsRequest r;
         r.set_node_id("nobody");
         return r.SerializeAsString();
       }},
      {RpcMethod::kSubmitJob,
       [](PeerRole) {
         SubmitJobRequest r;
         r.set_spec_yaml("name: not-a-whole-spec\n");
         return r.SerializeAsString();
       }},
      {RpcMethod::kGetJob,
       [](PeerRole) {
         GetJobRequest r;
         r.set_job_id("nope-1");
         return r.SerializeAsString();
       }},
      {RpcMethod::kListJobs, [](PeerRole) { return ListJobsRequest().SerializeAsString(); }},
      {RpcMethod::kCancelJob,
       [](PeerRole) {
         CancelJobRequest r;
         r.set_job_id("nope-1");
         return r.SerializeAsString();
       }},
      {RpcMethod::kCheckpointJob,
       [](PeerRole) {
         CheckpointJobRequest r;
         r.set_job_id("nope-1");
         return r.SerializeAsString();
       }},
      {RpcMethod::kScaleJob,
       [](PeerRole) {
         ScaleJobRequest r;
         r.set_job_id("nope-1");
         r.set_workers(2);
         return r.SerializeAsString();
       }},
      {RpcMethod::kReportProgress,
       [](PeerRole) {
         ProgressReport r;
         r.set_job_id("nope-1");
         r.set_node_id("nobody");
         return r.SerializeAsString();
       }},
      {RpcMethod::kReportTask,
       [](PeerRole caller) {
         TaskReport r;
         r.set_job_id("nope-1");
         r.set_node_id("nobody");
         r.set_role(NodeRole(caller));
         r.set_kind(TaskReport::KIND_FAILED);
         return r.SerializeAsString();
       }},
      {RpcMethod::kBarrier,
       [](PeerRole) {
         BarrierRequest r;
         r.set_job_id("nope-1");
         r.set_node_id("nobody");
         r.set_timeout_ms(100);
         return r.SerializeAsString();
       }},
      {RpcMethod::kTraceJob,
       [](PeerRole) {
         TraceJobRequest r;
         r.set_job_id("nope-1");
         r.set_first_step(1);
         r.set_last_step(2);
         r.set_timeout_ms(100);
         return r.SerializeAsString();
       }},
      {RpcMethod::kReportTrace,
       [](PeerRole) {
         TraceReport r;
         r.set_job_id("nope-1");
         r.set_node_id("nobody");
         return r.SerializeAsString();
       }},
      {RpcMethod::kInitJob,
       [](PeerRole) {
         InitJobRequest r;
         r.set_job_id("other");
         r.set_generation(1);
         r.set_spec_yaml("name: not-a-whole-spec\n");
         return r.SerializeAsString();
       }},
      {RpcMethod::kPush,
       [](PeerRole) {
         PushRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         return r.SerializeAsString();
       }},
      {RpcMethod::kPull,
       [](PeerRole) {
         PullRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         return r.SerializeAsString();
       }},
      {RpcMethod::kPushPull,
       [](PeerRole) {
         PushRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         return r.SerializeAsString();
       }},
      {RpcMethod::kCheckpoint,
       [](PeerRole) {
         CheckpointRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         r.set_step(10);
         return r.SerializeAsString();
       }},
      {RpcMethod::kEndJob,
       [](PeerRole) {
         EndJobRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         return r.SerializeAsString();
       }},
      {RpcMethod::kGetStats, [](PeerRole) { return GetStatsRequest().SerializeAsString(); }},
      {RpcMethod::kTrace,
       [](PeerRole) {
         TraceRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         r.set_action(TraceRequest::ACTION_PING);
         return r.SerializeAsString();
       }},
      {RpcMethod::kSparsePull,
       [](PeerRole) {
         SparsePullRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         return r.SerializeAsString();
       }},
      {RpcMethod::kSparsePush,
       [](PeerRole) {
         SparsePushRequest r;
         r.set_job_id("nope");
         r.set_generation(1);
         return r.SerializeAsString();
       }},
  };
}

bool OnParameterServer(RpcMethod m) { return m >= RpcMethod::kInitJob; }

// "/psd.Coordinator/SubmitJob".
std::string Path(RpcMethod m) { return absl::StrCat("/", RuleFor(m).name); }

bool Refused(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         s.error_code() == grpc::StatusCode::UNAUTHENTICATED;
}

constexpr char kJob[] = "authz-job";

std::string JobSpecYaml() {
  testing::JobYamlOptions o;
  o.name = kJob;
  o.servers = 1;
  o.workers = 2;
  return testing::JobYaml(o);
}

// A coordinator and a parameter server serving kJob with workers "worker-0" and "worker-1".
struct Cluster {
  Cluster() {
    CoordinatorOptions options;
    options.heartbeat_interval = absl::Milliseconds(100);
    options.heartbeat_timeout = absl::Seconds(2);
    auto started = InProcessCoordinator::Start(testing::MakeTempDir("authz"), options);
    REQUIRE(started.ok());
    coordinator = *std::move(started);
    PsServerOptions ps_options;
    ps_options.tls = TestTls("server-0", PeerRole::kServer);
    auto server = PsServer::Start(ps_options);
    REQUIRE(server.ok());
    ps = *std::move(server);
    auto spec = ParseJobSpec(JobSpecYaml(), kJob);
    REQUIRE(spec.ok());
    REQUIRE(ps->jobs().Init(kJob, 1, *spec, 0, 2, {}, 0, "", {"worker-0", "worker-1"}).ok());
    ps_address = absl::StrCat("127.0.0.1:", ps->port());
  }

  std::string AddressOf(RpcMethod m) const {
    return OnParameterServer(m) ? ps_address : coordinator->address();
  }
  static PeerRole ServerRoleOf(RpcMethod m) {
    return OnParameterServer(m) ? PeerRole::kServer : PeerRole::kCoordinator;
  }

  std::unique_ptr<InProcessCoordinator> coordinator;
  std::unique_ptr<PsServer> ps;
  std::string ps_address;
};

TEST_CASE("every RPC refuses callers without a certificate, without a role or of a wrong role",
          "[authz]") {
  Cluster cluster;
  const TlsOptions no_role = CertWithoutRole(TestCertDir(), "norole");
  const std::string other_ca = testing::MakeTempDir("otherca");
  REQUIRE(testing::RunCommand({std::filesystem::absolute("deploy/local/certs.sh").string(), "--dir",
                               other_ca, "intruder:admin"})
              .exit_code == 0);
  absl::StatusOr<TlsOptions> foreign =
      LoadTls(other_ca + "/ca-bundle.crt", other_ca + "/intruder.crt", other_ca + "/intruder.key");
  REQUIRE(foreign.ok());
  // The foreign client trusts our servers, so that only its own certificate is wrong.
  foreign->ca_pem = CertOf(PeerRole::kAdmin).ca_pem;

  int refused = 0, allowed = 0;
  const std::vector<Row> rows = Rows();
  REQUIRE(rows.size() == static_cast<size_t>(RpcMethod::kCount));
  for (const Row& row : rows) {
    const RpcRule& rule = RuleFor(row.method);
    const std::string address = cluster.AddressOf(row.method);
    const PeerRole server_role = Cluster::ServerRoleOf(row.method);
    const std::string request = row.request(PeerRole::kAdmin);
    INFO(rule.name);
    {
      INFO("plaintext client");
      auto plain = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      const grpc::Status s = Call(plain, Path(row.method), request);
      CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
      ++refused;
    }
    {
      INFO("TLS without a client certificate");
      const grpc::Status s =
          Call(AnonymousChannel(address, server_role), Path(row.method), request);
      CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
      ++refused;
    }
    {
      INFO("a certificate of another CA");
      const grpc::Status s =
          Call(TlsChannel(address, server_role, *foreign), Path(row.method), request);
      CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
      ++refused;
    }
    {
      INFO("a certificate without a psd role");
      const grpc::Status s =
          Call(TlsChannel(address, server_role, no_role), Path(row.method), request);
      CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
      CHECK_THAT(s.error_message(), Catch::StartsWith(absl::StrCat(rule.name, ": refused: ")) &&
                                        Catch::Contains("of 'norole' has no psd role"));
      ++refused;
    }
    for (PeerRole role : kRoles) {
      INFO("role " << PeerRoleName(role));
      const TlsOptions cert = CertOf(role);
      const grpc::Status s = Call(TlsChannel(address, server_role, cert), Path(row.method),
                                  row.request(role), absl::Seconds(2));
      if (Allowed(row.method, role)) {
        INFO(s.error_message());
        CHECK_FALSE(Refused(s));
        ++allowed;
      } else {
        CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
        CHECK_THAT(s.error_message(),
                   Catch::StartsWith(absl::StrCat(rule.name, ": refused for ", PeerRoleName(role),
                                                  " '", cert.self.name, "': it needs the role ")));
        ++refused;
      }
    }
  }
  std::printf("authz: %d calls refused, %d allowed, over %zu RPCs\n", refused, allowed,
              rows.size());

  // The refusals are counted per method, where operators (and the metrics) find them.
  ListNodesResponse nodes;
  {
    auto stub = Coordinator::NewStub(TlsChannel(cluster.coordinator->address(),
                                                PeerRole::kCoordinator, CertOf(PeerRole::kViewer)));
    grpc::ClientContext ctx;
    REQUIRE(stub->ListNodes(&ctx, ListNodesRequest(), &nodes).ok());
  }
  // SubmitJob: norole + 4 wrong roles (the handshake failures never reach a handler).
  CHECK(nodes.denied_calls().at("psd.Coordinator/SubmitJob") == 5);
  ServerStats stats;
  {
    auto stub = ParameterServer::NewStub(
        TlsChannel(cluster.ps_address, PeerRole::kServer, CertOf(PeerRole::kViewer)));
    grpc::ClientContext ctx;
    REQUIRE(stub->GetStats(&ctx, GetStatsRequest(), &stats).ok());
  }
  CHECK(stats.denied_calls().at("psd.ParameterServer/InitJob") == 5);
  CHECK(stats.denied_calls().at("psd.ParameterServer/Push") == 5);
}

TEST_CASE("a worker pushes and pulls only for the rank it was assigned", "[authz]") {
  Cluster cluster;
  auto spec = ParseJobSpec(JobSpecYaml(), kJob);
  REQUIRE(spec.ok());
  const Placement placement = *Placement::ForJob(*spec);
  auto client = [&](const std::string& cert, int rank) {
    PsClient::Options o;
    o.job_id = kJob;
    o.generation = 1;
    o.worker = rank;
    o.total_steps = 10;
    o.retry_deadline = absl::Seconds(1);
    o.tls = TestTls(cert, PeerRole::kWorker);
    auto c = PsClient::Create(&placement, {cluster.ps_address}, o);
    REQUIRE(c.ok());
    return *std::move(c);
  };
  const int64_t n = placement.tensors()[0].size;
  std::vector<float> grad(n, 0.5f), params(n);

  // worker-1 claims rank 0: refused, and nothing is applied.
  auto impostor = client("worker-1", 0);
  impostor->Push(0, 0, grad.data());
  absl::Status s = impostor->Wait();
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("psd.ParameterServer/Push: refused for worker 'worker-1': worker "
                             "rank 0 of job authz-job is assigned to 'worker-0'"));
  impostor->Pull(0, 0, params.data());
  s = impostor->Wait();
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(s.message()), Catch::Contains("psd.ParameterServer/Pull: refused"));
  impostor->PushPull(0, 0, grad.data(), params.data());
  CHECK(impostor->Wait().code() == absl::StatusCode::kPermissionDenied);
  CHECK(cluster.ps->jobs().Get(kJob, 1).value()->store->stats().pushes == 0);

  // A rank the coordinator named no certificate for is refused too.
  auto beyond = client("worker-1", 5);
  beyond->Pull(0, 0, params.data());
  s = beyond->Wait();
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);

  // The owners push and pull their own ranks (async: nothing waits for the other).
  auto own0 = client("worker-0", 0);
  own0->Pull(0, 0, params.data());
  REQUIRE(own0->Wait().ok());
  auto own1 = client("worker-1", 1);
  own1->Pull(0, 0, params.data());
  REQUIRE(own1->Wait().ok());
}

TEST_CASE("a node speaks only for itself, and its node id stays bound to its certificate",
          "[authz]") {
  const std::string state = testing::MakeTempDir("authz-nodes");
  CoordinatorOptions options;
  options.heartbeat_interval = absl::Milliseconds(100);
  options.heartbeat_timeout = absl::Seconds(3);
  options.restart_grace = absl::Seconds(10);
  auto started = InProcessCoordinator::Start(state, options);
  REQUIRE(started.ok());
  std::unique_ptr<InProcessCoordinator> c = *std::move(started);
  const int port = c->port();

  FakeNode server(c->address(), ROLE_SERVER, 0);
  FakeNode w0(c->address(), ROLE_WORKER, 0), w1(c->address(), ROLE_WORKER, 1);
  for (FakeNode* n : {&server, &w0, &w1}) REQUIRE(n->Start().ok());
  SubmitJobRequest submit;
  submit.set_spec_yaml(JobSpecYaml());
  auto id = c->manager().SubmitJob(submit);
  REQUIRE(id.ok());
  auto run = server.WaitForRun(*id);
  REQUIRE(run.has_value());
  // The server learns which certificate holds which worker rank.
  REQUIRE(run->worker_identities_size() == 2);
  absl::StatusOr<JobInfo> job = c->manager().GetJob(*id);
  REQUIRE(job.ok());
  for (int r = 0; r < 2; ++r) {
    const std::string node = job->worker_nodes(r);
    CHECK(run->worker_identities(r) == (node == w0.node_id() ? "worker-0" : "worker-1"));
  }
  REQUIRE(server.ReportReady(*run).ok());
  auto w0_run = w0.WaitForRun(*id);
  REQUIRE(w0_run.has_value());

  auto as = [&](const std::string& name, PeerRole role) {
    return Coordinator::NewStub(
        TlsChannel(c->address(), PeerRole::kCoordinator, TestTls(name, role)));
  };
  auto worker1 = as("worker-1", PeerRole::kWorker);
  {
    INFO("worker-1 reports worker-0's task");
    TaskReport r;
    r.set_job_id(*id);
    r.set_node_id(w0.node_id());
    r.set_role(ROLE_WORKER);
    r.set_rank(w0_run->rank());
    r.set_generation(w0_run->generation());
    r.set_kind(TaskReport::KIND_FAILED);
    r.set_message("forged");
    grpc::ClientContext ctx;
    ReportTaskResponse resp;
    const grpc::Status s = worker1->ReportTask(&ctx, r, &resp);
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_THAT(s.error_message(),
               Catch::Contains("psd.Coordinator/ReportTask: refused for worker 'worker-1': node '" +
                               w0.node_id() + "' was registered by certificate 'worker-0'"));
    CHECK(c->State(*id) == JOB_RUNNING);
  }
  {
    INFO("worker-1 reports worker-0's progress, heartbeats and barriers for it");
    ProgressReport p;
    p.set_job_id(*id);
    p.set_node_id(w0.node_id());
    p.set_worker_rank(w0_run->rank());
    grpc::ClientContext c1;
    ReportProgressResponse pr;
    CHECK(worker1->ReportProgress(&c1, p, &pr).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    HeartbeatRequest h;
    h.set_node_id(w0.node_id());
    grpc::ClientContext c2;
    HeartbeatResponse hr;
    CHECK(worker1->Heartbeat(&c2, h, &hr).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    BarrierRequest b;
    b.set_job_id(*id);
    b.set_node_id(w0.node_id());
    b.set_timeout_ms(100);
    grpc::ClientContext c3;
    BarrierResponse br;
    CHECK(worker1->Barrier(&c3, b, &br).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    INFO("a server reports as a worker");
    TaskReport r;
    r.set_job_id(*id);
    r.set_node_id(server.node_id());
    r.set_role(ROLE_WORKER);
    r.set_kind(TaskReport::KIND_FAILED);
    grpc::ClientContext ctx;
    ReportTaskResponse resp;
    CHECK(as("server-0", PeerRole::kServer)->ReportTask(&ctx, r, &resp).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  auto register_as = [&](const std::string& name, PeerRole role, Role node_role,
                         const std::string& node_id) {
    RegisterNodeRequest r;
    r.mutable_node()->set_node_id(node_id);
    r.mutable_node()->set_role(node_role);
    r.mutable_node()->set_address("127.0.0.1:9");
    r.mutable_node()->set_identity(name == "worker-1" ? "worker-0" : name);  // ignored
    r.set_job_id(*id);
    r.set_rank(w0_run->rank());
    r.set_generation(w0_run->generation());
    grpc::ClientContext ctx;
    RegisterNodeResponse resp;
    return as(name, role)->RegisterNode(&ctx, r, &resp);
  };
  {
    INFO("worker-1 registers with worker-0's node id (claiming its identity in the request)");
    const grpc::Status s = register_as("worker-1", PeerRole::kWorker, ROLE_WORKER, w0.node_id());
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_THAT(s.error_message(), Catch::Contains("was registered by certificate 'worker-0'"));
    INFO("a server certificate registers a worker");
    CHECK(register_as("server-0", PeerRole::kServer, ROLE_WORKER, "").error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    INFO("a server checkpoints only a job it serves");
    CheckpointJobRequest r;
    r.set_job_id(*id);
    grpc::ClientContext c1;
    CheckpointJobResponse resp;
    const grpc::Status s = as("server-7", PeerRole::kServer)->CheckpointJob(&c1, r, &resp);
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_THAT(s.error_message(), Catch::Contains("serves no rank of job " + *id));
    grpc::ClientContext c2;
    const grpc::Status own = as("server-0", PeerRole::kServer)->CheckpointJob(&c2, r, &resp);
    CHECK_FALSE(Refused(own));  // FailedPrecondition: the job has no checkpoint.dir
  }

  // The binding survives a coordinator restart: the job's members are kept with their
  // certificate names.
  for (FakeNode* n : {&server, &w0, &w1}) n->Stop();
  c.reset();
  started = InProcessCoordinator::Start(state, options, port);
  REQUIRE(started.ok());
  c = *std::move(started);
  {
    INFO("after the restart, worker-1 registers as worker-0's node before worker-0 is back");
    const grpc::Status s = register_as("worker-1", PeerRole::kWorker, ROLE_WORKER, w0.node_id());
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_THAT(s.error_message(), Catch::Contains("was registered by certificate 'worker-0'"));
  }
  {
    INFO("worker-0 takes its place back");
    const grpc::Status s = register_as("worker-0", PeerRole::kWorker, ROLE_WORKER, w0.node_id());
    CHECK(s.ok());
  }
}

}  // namespace
}  // namespace psd
