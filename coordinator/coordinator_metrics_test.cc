#include "coordinator/coordinator_metrics.h"

#include <grpcpp/grpcpp.h>

#include <vector>

#include "common/metrics_exposer.h"
#include "coordinator/test_util.h"
#include "tests/metrics_scrape.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

TEST_CASE("the coordinator exports jobs by state, nodes by state and submissions") {
  auto c =
      testing::InProcessCoordinator::Start(testing::MakeTempDir("metrics"), CoordinatorOptions());
  REQUIRE(c.ok());
  CoordinatorService service(&(*c)->manager(), /*authorize=*/false);
  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(exposer.ok());
  (*exposer)->Register(CoordinatorMetrics(&(*c)->manager(), &service));

  for (const char* yaml : std::vector<const char*>{"not: [a job", nullptr}) {
    SubmitJobRequest request;
    request.set_spec_yaml(yaml != nullptr ? std::string(yaml) : testing::JobYaml({}));
    request.set_source_name("job.yaml");
    SubmitJobResponse response;
    grpc::ServerContext context;
    const grpc::Status status = service.SubmitJob(&context, &request, &response);
    CHECK(status.ok() == (yaml == nullptr));
  }
  auto s = testing::ScrapeMetrics((*exposer)->port());
  REQUIRE(s.ok());
  INFO(s->text);
  CHECK(s->Get("psd_coordinator_job_submissions_total{result=\"accepted\",role=\"coordinator\"}") ==
        1);
  CHECK(s->Get("psd_coordinator_job_submissions_total{result=\"refused\",role=\"coordinator\"}") ==
        1);
  // No nodes: the job waits in the queue.
  CHECK(s->Get("psd_coordinator_jobs{role=\"coordinator\",state=\"queued\"}") == 1);
  CHECK(s->Get("psd_coordinator_jobs{role=\"coordinator\",state=\"running\"}") == 0);
  CHECK(s->Sum("psd_coordinator_jobs") == 1);
  CHECK(s->Get("psd_coordinator_nodes{node_role=\"worker\",role=\"coordinator\",state=\"idle\"}") ==
        0);
  CHECK(s->Sum("psd_coordinator_nodes") == 0);
  exposer->reset();
}

}  // namespace
}  // namespace psd
