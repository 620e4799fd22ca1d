// The web console's history ring and its HTTP endpoints (coordinator/console_http.h): routing,
// status codes and messages, bounded answers, the security headers, over a real socket too.
#include "coordinator/console_http.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/job_history.h"
#include "coordinator/test_util.h"
#include "tests/metrics_scrape.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using testing::FakeNode;
using testing::InProcessCoordinator;

HistoryPoint Point(int64_t step) { return {step, 1.0 / (step + 1), -1, 100.0 + step, 0.1 * step}; }

TEST_CASE("the history keeps at most N points per job, thinned, newest kept") {
  JobHistory h(/*max_points=*/8, /*max_jobs=*/2);
  for (int64_t s = 1; s <= 100; ++s) h.Add("a", Point(s));
  const std::vector<HistoryPoint> all = h.Since("a", -1, 1000);
  REQUIRE(all.size() <= 8);
  CHECK(all.back().step == 100);
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].step < all[i].step);
  // Incremental: only what comes after `since`, at most `limit`.
  CHECK(h.Since("a", 100, 10).empty());
  CHECK(h.Since("a", all[all.size() - 3].step, 10).size() == 2);
  CHECK(h.Since("a", -1, 3).size() == 3);
  CHECK(h.Since("nobody", -1, 10).empty());
}

TEST_CASE("the history replaces a repeated step and rewinds after a rollback") {
  JobHistory h;
  h.Add("a", Point(10));
  h.Add("a", Point(20));
  HistoryPoint again = Point(20);
  again.loss = 7;
  h.Add("a", again);
  auto p = h.Since("a", -1, 10);
  REQUIRE(p.size() == 2);
  CHECK(p[1].loss == 7);
  h.Add("a", Point(15));  // a recovery went back to step 15
  p = h.Since("a", -1, 10);
  REQUIRE(p.size() == 2);
  CHECK(p[1].step == 15);
}

TEST_CASE("the history forgets the least recently updated job beyond max_jobs") {
  JobHistory h(16, 2);
  h.Add("a", Point(1));
  h.Add("b", Point(1));
  h.Add("a", Point(2));
  h.Add("c", Point(1));
  CHECK(h.Since("a", -1, 10).size() == 2);
  CHECK(h.Since("b", -1, 10).empty());
  CHECK(h.Since("c", -1, 10).size() == 1);
}

struct Fixture {
  Fixture() {
    CoordinatorOptions options;
    options.heartbeat_interval = absl::Milliseconds(100);
    options.heartbeat_timeout = absl::Milliseconds(1500);
    auto c = InProcessCoordinator::Start(testing::MakeTempDir("console"), options);
    REQUIRE(c.ok());
    coordinator = *std::move(c);
    ConsoleOptions console_options;
    console_options.assets_dir = testing::MakeTempDir("no-uplot");
    console_options.finished_jobs = 2;
    console_options.events_tail = 3;
    console_options.history_points = 4;
    auto started = ConsoleHttp::Start(&coordinator->manager(), console_options);
    REQUIRE(started.ok());
    console = *std::move(started);
  }
  std::string Submit(const std::string& name) {
    testing::JobYamlOptions o;
    o.name = name;
    SubmitJobRequest request;
    request.set_spec_yaml(testing::JobYaml(o));
    request.set_source_name("job.yaml");
    absl::StatusOr<std::string> id = coordinator->manager().SubmitJob(request);
    REQUIRE(id.ok());
    return *id;
  }
  std::unique_ptr<InProcessCoordinator> coordinator;
  std::unique_ptr<ConsoleHttp> console;
};

TEST_CASE("console: the page, its assets and the APIs; errors say what was wrong") {
  Fixture f;
  ConsoleHttp& c = *f.console;
  CHECK(!c.charts_available());
  HttpResponse page = c.Get("/");
  CHECK(page.status == 200);
  CHECK(absl::StartsWith(page.content_type, "text/html"));
  CHECK_THAT(page.body, Catch::Contains("charts unavailable: uPlot not installed (run "
                                        "deploy/local/install_deps.sh)"));
  CHECK(c.Get("/console.js").status == 200);
  CHECK(absl::StartsWith(c.Get("/console.js").content_type, "text/javascript"));
  CHECK(c.Get("/console.css").status == 200);
  HttpResponse uplot = c.Get("/uPlot.iife.min.js");
  CHECK(uplot.status == 404);
  CHECK_THAT(uplot.body, Catch::Contains("install_deps.sh"));
  CHECK(c.Get("/nothing-here").status == 404);
  CHECK(c.Get("/api/nope").status == 404);

  HttpResponse nodes = c.Get("/api/nodes");
  CHECK(nodes.status == 200);
  CHECK(absl::StartsWith(nodes.content_type, "application/json"));
  CHECK_THAT(nodes.body, Catch::Contains("\"charts\":false"));

  const std::string id = f.Submit("first");
  HttpResponse jobs = c.Get("/api/jobs");
  CHECK(jobs.status == 200);
  CHECK_THAT(jobs.body, Catch::Contains(id));
  CHECK_THAT(jobs.body, !Catch::Contains("spec_yaml\":\"name"));
  HttpResponse job = c.Get("/api/jobs/" + id);
  CHECK(job.status == 200);
  CHECK_THAT(job.body, Catch::Contains("\"job_id\":\"" + id + "\""));
  CHECK_THAT(job.body, Catch::Contains("\"state\":\"JOB_QUEUED\""));

  HttpResponse unknown = c.Get("/api/jobs/nosuch-9");
  CHECK(unknown.status == 404);
  CHECK_THAT(unknown.body, Catch::Contains("nosuch-9"));
  CHECK(c.Get("/api/jobs/nosuch-9/history").status == 404);
  CHECK(c.Get("/api/jobs/" + id + "/extra/history").status == 404);

  HttpResponse empty = c.Get("/api/jobs/" + id + "/history?since=-1");
  CHECK(empty.status == 200);
  CHECK(empty.body == "{\"points\":[],\"more\":false}");
  HttpResponse bad = c.Get("/api/jobs/" + id + "/history?since=ten");
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("since"));
  CHECK_THAT(bad.body, Catch::Contains("ten"));
  CHECK(c.Get("/api/jobs/" + id + "/history?since=").status == 400);
}

TEST_CASE("console: a running job's history is incremental and bounded per answer") {
  Fixture f;
  FakeNode server(f.coordinator->address(), ROLE_SERVER, 0);
  FakeNode worker(f.coordinator->address(), ROLE_WORKER, 0);
  REQUIRE(server.Start().ok());
  REQUIRE(worker.Start().ok());
  const std::string id = f.Submit("hist");
  auto run = server.WaitForRun(id);
  REQUIRE(run.has_value());
  REQUIRE(server.ReportReady(*run).ok());
  auto wrun = worker.WaitForRun(id);
  REQUIRE(wrun.has_value());
  for (int64_t step = 10; step <= 60; step += 10) {
    ProgressReport r;
    r.set_job_id(id);
    r.set_node_id(worker.node_id());
    r.set_worker_rank(wrun->rank());
    r.set_generation(wrun->generation());
    r.mutable_progress()->set_step(step);
    r.mutable_progress()->set_total_steps(100);
    r.mutable_progress()->set_loss(2.5);
    r.mutable_progress()->set_test_accuracy(step >= 50 ? 0.75 : -1);
    r.mutable_progress()->set_samples_per_sec(1000);
    REQUIRE(f.coordinator->manager().ReportProgress(r).ok());
  }
  HttpResponse first = f.console->Get("/api/jobs/" + id + "/history?since=-1");
  REQUIRE(first.status == 200);
  // history_points 4: the first four, and "more".
  CHECK_THAT(first.body, Catch::StartsWith("{\"points\":[[10,2.5,null,1000,"));
  CHECK_THAT(first.body, Catch::Contains("[40,2.5,null,1000,"));
  CHECK_THAT(first.body, !Catch::Contains("[50,"));
  CHECK_THAT(first.body, Catch::EndsWith("\"more\":true}"));
  HttpResponse next = f.console->Get("/api/jobs/" + id + "/history?since=40");
  CHECK_THAT(next.body, Catch::Contains("[50,2.5,0.75,1000,"));
  CHECK_THAT(next.body, Catch::Contains("[60,2.5,0.75,1000,"));
  CHECK_THAT(next.body, Catch::EndsWith("\"more\":false}"));
  CHECK_THAT(f.console->Get("/api/jobs").body, Catch::Contains("JOB_RUNNING"));
}

TEST_CASE("console over HTTP: GET only, security headers on every answer") {
  Fixture f;
  const int port = f.console->port();
  const std::string ok = testing::RawHttp(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_THAT(ok, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
  CHECK_THAT(ok, Catch::Contains("\r\nContent-Security-Policy: default-src 'self'\r\n"));
  CHECK_THAT(ok, Catch::Contains("\r\nX-Content-Type-Options: nosniff\r\n"));
  CHECK_THAT(ok, Catch::Contains("<title>psd console</title>"));
  const std::string post = testing::RawHttp(port, "POST /api/jobs HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_THAT(post, Catch::StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  CHECK_THAT(post, Catch::Contains("\r\nAllow: GET, HEAD\r\n"));
  CHECK_THAT(post, Catch::Contains("\r\nX-Content-Type-Options: nosniff\r\n"));
  CHECK_THAT(testing::RawHttp(port, "DELETE /api/jobs/x HTTP/1.1\r\n\r\n"),
             Catch::Contains(" 405 "));
  const std::string missing = testing::RawHttp(port, "GET /api/jobs/none-1 HTTP/1.1\r\n\r\n");
  CHECK_THAT(missing, Catch::StartsWith("HTTP/1.1 404 Not Found\r\n"));
  CHECK_THAT(missing, Catch::Contains("Content-Security-Policy"));
  const std::string head = testing::RawHttp(port, "HEAD /api/nodes HTTP/1.1\r\n\r\n");
  CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
  CHECK(absl::EndsWith(head, "\r\n\r\n"));  // no body
  CHECK_THAT(testing::RawHttp(port, std::string(9000, 'G')), Catch::Contains(" 431 "));
  CHECK_THAT(testing::RawHttp(port, "GET\r\n\r\n"), Catch::Contains(" 400 "));
}

}  // namespace
}  // namespace psd
