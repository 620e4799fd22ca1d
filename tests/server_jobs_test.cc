// A real parameter server (PsServer + ServerNode, fed the assignments a NodeAgent receives)
// under an in-process coordinator:
// jobs cancelled back to back are ended on the server. The coordinator's STOP of a cancelled
// job is overtaken by the RUN of the next queued job (a node's assignment is one value), and
// the server used to keep every cancelled job (12 cancels: 11 jobs still served).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/test_util.h"
#include "server/ps_server.h"
#include "server/server_node.h"
#include "tests/process.h"
#include "tests/test_certs.h"
#include "tests/testing.h"

namespace psd {
namespace {

int Served(JobRegistry& jobs) {
  int n = 0;
  jobs.ForEach([&n](ServedJob&) { ++n; });
  return n;
}

TEST_CASE("jobs cancelled back to back are ended on their server") {
  CoordinatorOptions options;
  options.heartbeat_interval = absl::Milliseconds(100);
  options.heartbeat_timeout = absl::Milliseconds(1500);
  auto c = testing::InProcessCoordinator::Start(testing::MakeTempDir("cancels"), options);
  REQUIRE(c.ok());
  PsServerOptions ps_options;
  ps_options.tls = TlsOptions::Insecure();  // nothing dials it in this test
  auto ps = PsServer::Start(ps_options);
  REQUIRE(ps.ok());
  testing::FakeNode server((*c)->address(), ROLE_SERVER, 0);
  server.set_address(absl::StrCat("127.0.0.1:", (*ps)->port()));
  REQUIRE(server.Start().ok());
  ServerNode node(&(*ps)->jobs());
  node.set_link(&server.agent());
  // The server daemon's handler: every assignment the agent receives, in order.
  std::atomic<bool> done{false};
  std::thread dispatch([&] {
    size_t handled = 0;
    while (!done) {
      const std::vector<Assignment> received = server.received();
      for (; handled < received.size(); ++handled) node.OnAssignment(received[handled]);
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  testing::FakeNode worker((*c)->address(), ROLE_WORKER, 0);
  REQUIRE(worker.Start().ok());

  auto submit = [&] {
    SubmitJobRequest request;
    request.set_spec_yaml(testing::JobYaml({}));
    request.set_source_name("job.yaml");
    absl::StatusOr<std::string> id = (*c)->manager().SubmitJob(request);
    REQUIRE(id.ok());
    return *id;
  };
  auto served = [&](const std::string& id) {
    return testing::WaitUntil([&] { return (*ps)->jobs().Find(id) != nullptr; }, absl::Seconds(10));
  };
  std::string running = submit();
  REQUIRE(served(running));
  for (int i = 0; i < 11; ++i) {
    const std::string next = submit();  // queued behind the running one
    REQUIRE((*c)->manager().CancelJob(running).ok());
    REQUIRE(served(next));
    CHECK(Served((*ps)->jobs()) == 1);
    CHECK((*ps)->jobs().Find(running) == nullptr);
    running = next;
  }
  REQUIRE((*c)->manager().CancelJob(running).ok());
  CHECK(testing::WaitUntil([&] { return Served((*ps)->jobs()) == 0; }, absl::Seconds(10)));
  done = true;
  dispatch.join();
  server.Stop();
}

}  // namespace
}  // namespace psd
