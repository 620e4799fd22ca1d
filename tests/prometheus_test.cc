// A real Prometheus server (Debian's prometheus) scrapes a local cluster (deploy/local/cluster.sh)
// through the shipped deploy/prometheus/prometheus.yml, its intervals shortened, during a job;
// the test asks Prometheus's HTTP API for psd's series and checks they are there, from every
// daemon, with plausible values.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e.h"
#include "tests/metrics_scrape.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using testing::ChildProcess;
using testing::JobOptions;
using testing::LocalCluster;

constexpr char kPrometheus[] = "/usr/bin/prometheus";

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

// An instant query's result: the value of each series by its `instance` label (the daemon's
// name, by the shipped relabelling), or by the whole label set when it has none.
struct Series {
  std::map<std::string, double> by_instance;
  std::string raw;  // the API's JSON, for messages
};

Series Query(int port, const std::string& promql) {
  Series out;
  absl::StatusOr<std::string> body =
      testing::HttpGet(port, "/api/v1/query?query=" + UrlEncode(promql));
  if (!body.ok()) {
    out.raw = std::string(body.status().message());
    return out;
  }
  out.raw = *body;
  Struct reply;
  if (!google::protobuf::util::JsonStringToMessage(*body, &reply).ok()) return out;
  const auto& data = reply.fields().at("data").struct_value();
  for (const Value& r : data.fields().at("result").list_value().values()) {
    const auto& metric = r.struct_value().fields().at("metric").struct_value().fields();
    const auto& value = r.struct_value().fields().at("value").list_value().values();
    auto it = metric.find("instance");
    std::string key = it != metric.end() ? it->second.string_value() : "";
    if (key.empty()) {
      for (const auto& [name, v] : metric) absl::StrAppend(&key, name, "=", v.string_value(), ",");
    }
    out.by_instance[key] = std::stod(value[1].string_value());
  }
  return out;
}

TEST_CASE("Prometheus scrapes every daemon of a running job with the shipped config",
          "[metrics][e2e]") {
  if (!std::filesystem::exists(kPrometheus)) {
    PSD_SKIP("no /usr/bin/prometheus (deploy/local/install_deps.sh --tests installs it)");
  }
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;

  // The shipped scrape config, pointed at this cluster's targets, scraping every 500 ms.
  std::string config = testing::ReadFile("deploy/prometheus/prometheus.yml");
  REQUIRE(config.find("../../.run/cluster/prometheus-targets.json") != std::string::npos);
  config = absl::StrReplaceAll(config, {{"../../.run/cluster/prometheus-targets.json",
                                         c.run_dir() + "/prometheus-targets.json"},
                                        {"scrape_interval: 15s", "scrape_interval: 500ms"},
                                        {"scrape_timeout: 10s", "scrape_timeout: 400ms"},
                                        {"refresh_interval: 10s", "refresh_interval: 1s"}});
  const std::string dir = testing::MakeTempDir("prometheus");
  { std::ofstream(dir + "/prometheus.yml") << config; }
  const int port = testing::FreeLoopbackPort();
  testing::SpawnOptions spawn;
  spawn.stdout_path = dir + "/prometheus.log";
  spawn.stderr_path = dir + "/prometheus.log";
  auto prometheus = ChildProcess::Spawn(
      {kPrometheus, "--config.file=" + dir + "/prometheus.yml",
       "--storage.tsdb.path=" + dir + "/data",
       absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=warn"},
      spawn);
  REQUIRE(prometheus.ok());
  const bool ready = testing::WaitUntil(
      [&] { return testing::HttpGet(port, "/-/ready").ok() || !prometheus->Running(); },
      absl::Seconds(30), absl::Milliseconds(100));
  INFO(testing::ReadFile(dir + "/prometheus.log"));
  REQUIRE(ready);
  REQUIRE(prometheus->Running());

  JobOptions spec("scraped", "log_every: 10\nmax_steps: 100000");
  spec.hidden = "[128, 64]";
  const std::string job = testing::SubmitJob(c, "scraped", testing::FashionJob(spec));
  REQUIRE(testing::WaitForStep(c, job, 50, absl::Seconds(90)));

  const std::string in_job = absl::StrCat("{job=\"", job, "\"}");
  std::map<std::string, Series> got;
  auto all_there = [&] {
    got["up"] = Query(port, "up == 1");
    got["steps"] = Query(port, "psd_worker_steps_total" + in_job);
    got["samples_rate"] = Query(port, "rate(psd_worker_samples_total" + in_job + "[3s])");
    got["push_requests"] = Query(port, "psd_server_push_requests_total" + in_job);
    got["rss"] = Query(port, "psd_process_resident_memory_bytes");
    got["wait_p50"] =
        Query(port,
              "histogram_quantile(0.5, sum by (instance, le) (rate(psd_worker_step_phase_seconds_"
              "bucket{job=\"" +
                  job + "\",phase=\"wait\"}[3s])))");
    got["running"] = Query(port, "psd_coordinator_jobs{state=\"running\"}");
    return got["up"].by_instance.size() == 5 && got["steps"].by_instance.size() == 2 &&
           got["samples_rate"].by_instance.size() == 2 &&
           got["push_requests"].by_instance.size() == 2 && got["rss"].by_instance.size() == 5 &&
           got["wait_p50"].by_instance.size() == 2 && got["running"].by_instance.size() == 1;
  };
  const bool there = testing::WaitUntil(all_there, absl::Seconds(30), absl::Milliseconds(500));
  for (const auto& [name, s] : got) INFO(name << ": " << s.raw);
  const std::string status = c.Psdctl({"status", job}).out;
  INFO(status);
  REQUIRE(there);
  const int64_t psdctl_step = testing::Field(status, "step");  // -1 when not "step=" form
  std::printf("prometheus: %zu targets up; series of job %s:\n", got["up"].by_instance.size(),
              job.c_str());
  for (const auto& [name, s] : got) {
    for (const auto& [instance, v] : s.by_instance) {
      std::printf("  %-14s %-12s %g\n", name.c_str(), instance.c_str(), v);
    }
  }
  // Every daemon is a target, named as the relabelling says.
  for (const char* d : {"coordinator", "server-0", "server-1", "worker-0", "worker-1"}) {
    CHECK(got["up"].by_instance.count(d) == 1);
    CHECK(got["rss"].by_instance.count(d) == 1);
  }
  for (const auto& [instance, v] : got["rss"].by_instance) {
    CHECK(v > 4e6);  // a psd daemon is more than 4 MB resident ...
    CHECK(v < 8e9);  // ... and far less than 8 GB
  }
  for (const auto& [instance, steps] : got["steps"].by_instance) {
    CHECK(steps >= 50);
    CHECK(steps < 100000);
    if (psdctl_step > 0) CHECK(steps <= psdctl_step + 1000);
  }
  for (const auto& [instance, rate] : got["samples_rate"].by_instance) {
    CHECK(rate > 10);  // samples/s of a worker training 32-example batches
    CHECK(rate < 1e7);
  }
  for (const auto& [instance, pushes] : got["push_requests"].by_instance) CHECK(pushes > 0);
  for (const auto& [instance, p50] : got["wait_p50"].by_instance) {
    CHECK(p50 >= 0);
    CHECK(p50 < 5);  // seconds
  }
  CHECK(got["running"].by_instance.begin()->second == 1);
  CHECK(c.Psdctl({"cancel", job}).exit_code == 0);
  prometheus->Stop();
}

}  // namespace
}  // namespace psd
