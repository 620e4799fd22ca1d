#include "common/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/metrics_exposer.h"
#include "common/process_metrics.h"
#include "common/rpc_metrics.h"
#include "common/rpc_policy.h"
#include "tests/metrics_scrape.h"
#include "tests/testing.h"

namespace psd {
namespace {

TEST_CASE("the exposer serves a registry's counters and histograms in the text format") {
  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(exposer.ok());
  REQUIRE((*exposer)->port() > 0);
  auto registry = std::make_shared<prometheus::Registry>();
  auto& pushes = prometheus::BuildCounter()
                     .Name("psd_test_pushes_total")
                     .Help("pushes")
                     .Register(*registry)
                     .Add({{"job", "j1"}});
  auto& latency = prometheus::BuildHistogram()
                      .Name("psd_test_latency_seconds")
                      .Help("latency")
                      .Register(*registry)
                      .Add({{"job", "j1"}}, LatencyBuckets());
  (*exposer)->Register(registry);
  for (int i = 0; i < 7; ++i) pushes.Increment();
  latency.Observe(0.003);
  latency.Observe(0.2);

  auto s = testing::ScrapeMetrics((*exposer)->port());
  REQUIRE(s.ok());
  CHECK(s->types["psd_test_pushes_total"] == "counter");
  CHECK(s->types["psd_test_latency_seconds"] == "histogram");
  CHECK(s->Get("psd_test_pushes_total{job=\"j1\"}") == 7);
  CHECK(s->Get("psd_test_latency_seconds_count{job=\"j1\"}") == 2);
  CHECK(s->Get("psd_test_latency_seconds_sum{job=\"j1\"}") == Approx(0.203));
  CHECK(s->Get("psd_test_latency_seconds_bucket{job=\"j1\",le=\"0.005\"}") == 1);
  CHECK(s->Get("psd_test_latency_seconds_bucket{job=\"j1\",le=\"+Inf\"}") == 2);
}

TEST_CASE("process metrics are plausible") {
  auto p = ReadProcessFigures();
  REQUIRE(p.ok());
  CHECK(p->resident_bytes > 1 << 20);
  CHECK(p->resident_bytes < 64.0 * (1LL << 30));
  CHECK(p->threads >= 1);
  CHECK(p->cpu_seconds >= 0);

  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(exposer.ok());
  (*exposer)->Register(ProcessMetrics("server"));
  // Burn some CPU: the counter must see it.
  volatile double x = 0;
  for (int i = 0; i < 50000000; ++i) x = x + i * 1e-9;
  auto s = testing::ScrapeMetrics((*exposer)->port());
  REQUIRE(s.ok());
  CHECK(s->types["psd_process_cpu_seconds_total"] == "counter");
  CHECK(s->Get("psd_process_cpu_seconds_total{role=\"server\"}") > 0);
  CHECK(s->Get("psd_process_resident_memory_bytes{role=\"server\"}") > 1 << 20);
  CHECK(s->Get("psd_process_threads{role=\"server\"}") >= 2);  // this one and the exposer's
}

TEST_CASE("denied calls are exported by method") {
  Authorizer authz(/*enforce=*/true);
  PeerIdentity peer;
  peer.name = "intruder";
  peer.role = PeerRole::kWorker;
  (void)authz.Deny(RpcMethod::kPush, peer, "test");
  (void)authz.Deny(RpcMethod::kPush, peer, "test");
  (void)authz.Deny(RpcMethod::kSubmitJob, peer, "test");
  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(exposer.ok());
  (*exposer)->Register(DenialMetrics(&authz, "server"));
  auto s = testing::ScrapeMetrics((*exposer)->port());
  REQUIRE(s.ok());
  CHECK(s->Get("psd_rpc_denied_total{method=\"psd.ParameterServer/Push\",role=\"server\"}") == 2);
  CHECK(s->Get("psd_rpc_denied_total{method=\"psd.Coordinator/SubmitJob\",role=\"server\"}") == 1);
  CHECK(s->Sum("psd_rpc_denied_total") == 3);
}

TEST_CASE("a port in use is an error, not an exception") {
  auto first = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(first.ok());
  auto second = MetricsExposer::Start("127.0.0.1", (*first)->port());
  CHECK(!second.ok());
  CHECK(!MetricsExposer::Start("127.0.0.1", 70000).ok());
}

TEST_CASE("the exposer answers only GET /metrics") {
  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(exposer.ok());
  auto registry = std::make_shared<prometheus::Registry>();
  (*exposer)->Register(registry);
  CHECK((*exposer)->Render().empty());
  prometheus::BuildCounter().Name("psd_x_total").Help("x").Register(*registry).Add({}).Increment();
  CHECK((*exposer)->Render().find("psd_x_total 1") != std::string::npos);
  // Many scrapes in a row, each on its own connection.
  for (int i = 0; i < 20; ++i) {
    auto s = testing::ScrapeMetrics((*exposer)->port());
    REQUIRE(s.ok());
    CHECK(s->Get("psd_x_total") == 1);
  }
}

TEST_CASE("a client that dribbles its request holds the exposer at most 5 s") {
  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  REQUIRE(exposer.ok());
  const int fd = testing::ConnectLoopback((*exposer)->port());
  REQUIRE(fd >= 0);
  // One byte of "GET /metrics ..." every 0.5 s (each recv returns before its timeout) for 8 s.
  std::atomic<bool> done{false};
  std::thread dribbler([&] {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i < request.size() && !done.load() && i < 16; ++i) {
      if (send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) break;
      absl::SleepFor(absl::Milliseconds(500));
    }
  });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  auto s = testing::ScrapeMetrics((*exposer)->port());
  const absl::Duration waited = absl::Now() - start;
  done = true;
  dribbler.join();
  close(fd);
  REQUIRE(s.ok());
  INFO("the scrape waited " << absl::FormatDuration(waited));
  CHECK(waited < absl::Seconds(7));
}

TEST_CASE("the text parser refuses garbage") {
  CHECK(!testing::ParseMetrics("no_value_here\n").ok());
  auto s = testing::ParseMetrics("# TYPE a counter\na{x=\"1 2\"} 3\nb 4 1700000000\n");
  REQUIRE(s.ok());
  CHECK(s->Get("a{x=\"1 2\"}") == 3);
  CHECK(s->Get("b") == 4);
}

}  // namespace
}  // namespace psd
