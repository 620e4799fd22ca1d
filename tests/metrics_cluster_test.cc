// Servers and workers in this process (real gRPC on 127.0.0.1, plaintext) with metrics on:
// after a job, a scrape of /metrics says what was done (docs/observability.md).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/job_spec.h"
#include "common/metrics_exposer.h"
#include "common/placement.h"
#include "common/process_metrics.h"
#include "common/rpc_metrics.h"
#include "server/ps_server.h"
#include "server/server_metrics.h"
#include "tests/metrics_scrape.h"
#include "tests/testing.h"
#include "worker/training_session.h"
#include "worker/worker_metrics.h"

namespace psd {
namespace {

constexpr int kSteps = 10;
constexpr int kBatch = 8;

Dataset Synthetic(int64_t count, int64_t dim) {
  Dataset d;
  d.count = count;
  d.dim = dim;
  std::mt19937 rng(7);
  d.pixels.resize(count * dim);
  d.labels.resize(count);
  for (auto& p : d.pixels) p = static_cast<uint8_t>(rng() % 256);
  for (auto& l : d.labels) l = static_cast<uint8_t>(rng() % 4);
  return d;
}

std::string Yaml(const std::string& checkpoint_dir) {
  return absl::StrCat(R"(name: metrics-job
seed: 3
model: {type: mlp, input_dim: 16, hidden: [32], num_classes: 4}
data:
  train_images: /nonexistent/train-images
  train_labels: /nonexistent/train-labels
  test_images: /nonexistent/test-images
  test_labels: /nonexistent/test-labels
training:
  max_steps: )",
                      kSteps, R"(
  batch_size: )",
                      kBatch, R"(
  consistency: sync
  optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}
cluster: {servers: 2, workers: 2, device: cpu, chunk_bytes: 512}
checkpoint: {dir: )",
                      checkpoint_dir, R"(, every_steps: 5, keep: 3}
)");
}

TEST_CASE("servers and workers export what a job did", "[metrics]") {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/metrics-ckpt");
  auto spec = ParseJobSpec(Yaml(dir), "metrics-job");
  INFO(spec.status());
  REQUIRE(spec.ok());
  auto placement = Placement::ForJob(*spec);
  REQUIRE(placement.ok());
  const int64_t chunks = static_cast<int64_t>(placement->chunks().size());
  int64_t param_bytes = 0;
  for (const TensorInfo& t : placement->tensors()) param_bytes += t.size * 4;
  REQUIRE(chunks >= 4);

  auto exposer = MetricsExposer::Start("127.0.0.1", 0);
  INFO(exposer.status());
  REQUIRE(exposer.ok());
  (*exposer)->Register(ProcessMetrics("test"));

  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
  for (int s = 0; s < 2; ++s) {
    PsServerOptions options;
    options.tls = TlsOptions::Insecure();
    options.metrics = true;
    auto server = PsServer::Start(options);
    REQUIRE(server.ok());
    REQUIRE((*server)->jobs().Init(spec->name, 1, *spec, s, 2).ok());
    (*exposer)->Register(ServerMetrics(&(*server)->jobs()));
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(*std::move(server));
  }
  (*exposer)->Register(DenialMetrics(&servers[0]->service().authorizer(), "server"));
  auto worker_metrics = std::make_shared<WorkerMetrics>();
  (*exposer)->Register(worker_metrics);

  const Dataset data = Synthetic(512, 16);
  std::vector<absl::StatusOr<JobResult>> results(2, absl::UnknownError("not run"));
  std::vector<std::shared_ptr<WorkerJobMetrics>> job_metrics;
  for (int w = 0; w < 2; ++w) job_metrics.push_back(worker_metrics->StartJob(spec->name, w, 2));
  {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < 2; ++w) {
      threads.emplace_back([&, w] {
        SessionOptions o;
        o.rank = w;
        o.workers = 2;
        o.cpu_threads = 1;
        o.servers = addresses;
        o.client.job_id = spec->name;
        o.client.generation = 1;
        o.client.tls = TlsOptions::Insecure();
        o.metrics = job_metrics[w];
        auto session = TrainingSession::Create(*spec, data, nullptr, std::move(o));
        if (!session.ok()) return void(results[w] = session.status());
        results[w] = (*session)->trainer().Run(stop, nullptr);
      });
    }
    for (auto& t : threads) t.join();
  }
  for (const auto& r : results) {
    INFO(r.status());
    REQUIRE(r.ok());
  }

  // Checkpoints are written on the servers' writer threads: wait for both of step 10.
  absl::StatusOr<testing::Scrape> s;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    s = testing::ScrapeMetrics((*exposer)->port());
    REQUIRE(s.ok());
  } while (s->Sum("psd_server_checkpoints_total") < 4 && absl::Now() < deadline &&
           (absl::SleepFor(absl::Milliseconds(50)), true));
  INFO(s->text);

  // Workers: steps, samples, one observation of each phase per step.
  for (int w = 0; w < 2; ++w) {
    const std::string l = absl::StrCat("job=\"metrics-job\",role=\"worker\",worker=\"", w, "\"");
    CHECK(s->Get("psd_worker_steps_total{" + l + "}") == kSteps);
    CHECK(s->Get("psd_worker_samples_total{" + l + "}") == kSteps * kBatch);
    CHECK(s->Get("psd_worker_step_seconds_count{" + l + "}") == kSteps);
    CHECK(s->Get("psd_worker_max_staleness{" + l + "}") == 0);  // sync
    for (const char* phase : {"data", "forward", "backward", "push", "wait", "pull"}) {
      CHECK(s->Get(absl::StrCat("psd_worker_step_phase_seconds_count{", l, ",phase=\"", phase,
                                "\"}")) == kSteps);
    }
    const std::string wl = absl::StrCat("worker=\"", w, "\"");
    // Every step pushes every parameter once; the first pull and every step pull them all.
    CHECK(s->Sum("psd_worker_push_bytes_total", {wl}) == kSteps * param_bytes);
    CHECK(s->Sum("psd_worker_pull_bytes_total", {wl}) == (kSteps + 1) * param_bytes);
    CHECK(s->Sum("psd_worker_rpcs_total", {wl}) == (kSteps + 1) * chunks);
    CHECK(s->Sum("psd_worker_rpc_seconds_count", {wl}) == (kSteps + 1) * chunks);
    CHECK(s->Sum("psd_worker_rpc_errors_total", {wl}) == -1);  // none: no series
    // Both servers got some of it.
    CHECK(s->Sum("psd_worker_push_bytes_total", {wl, "server=\"0\""}) > 0);
    CHECK(s->Sum("psd_worker_push_bytes_total", {wl, "server=\"1\""}) > 0);
  }
  CHECK(s->types["psd_worker_step_phase_seconds"] == "histogram");

  // Servers: what the workers sent, from the other side.
  CHECK(s->Sum("psd_server_push_requests_total") == 2 * kSteps * chunks);
  CHECK(s->Sum("psd_server_pull_requests_total") == 2 * (kSteps + 1) * chunks);
  CHECK(s->Sum("psd_server_push_bytes_total") == 2 * kSteps * param_bytes);
  CHECK(s->Sum("psd_server_pull_bytes_total") == 2 * (kSteps + 1) * param_bytes);
  CHECK(s->Sum("psd_server_push_errors_total") == 0);
  CHECK(s->Sum("psd_server_push_seconds_count") == 2 * kSteps * chunks);
  CHECK(s->Sum("psd_server_pull_seconds_count") == 2 * (kSteps + 1) * chunks);
  CHECK(s->Sum("psd_server_pull_wait_seconds_count") == 2 * (kSteps + 1) * chunks);
  // Sync: one optimizer update per chunk per step.
  CHECK(s->Sum("psd_server_optimizer_apply_seconds_count") == kSteps * chunks);
  CHECK(s->Sum("psd_server_step") == 2 * kSteps);  // each server's lowest clock
  CHECK(s->Sum("psd_server_max_staleness") == 0);
  CHECK(s->Sum("psd_server_nonfinite_pushes_rejected_total") == 0);
  // (Each server reports psd_server_jobs{role="server"}; two in one process write the same
  // series twice.)
  CHECK(s->Get("psd_server_jobs{role=\"server\"}") == 1);
  // Checkpoints of steps 5 and 10 on each server.
  CHECK(s->Sum("psd_server_checkpoints_total") == 4);
  CHECK(s->Sum("psd_server_checkpoint_seconds_count") == 4);
  CHECK(s->Sum("psd_server_checkpoint_bytes_total") > 2 * param_bytes);
  CHECK(s->Sum("psd_server_checkpoints_failed_total") == 0);
  for (int srv = 0; srv < 2; ++srv) {
    CHECK(s->Sum("psd_server_push_requests_total", {absl::StrCat("server=\"", srv, "\"")}) > 0);
  }
  // Nobody was refused; the process figures are there.
  CHECK(s->Sum("psd_rpc_denied_total") <= 0);
  CHECK(s->Get("psd_process_resident_memory_bytes{role=\"test\"}") > 0);
  CHECK(s->Get("psd_process_cpu_seconds_total{role=\"test\"}") > 0);

  // A job's series go with it.
  servers[0]->jobs().End(spec->name);
  auto after = testing::ScrapeMetrics((*exposer)->port());
  REQUIRE(after.ok());
  CHECK(after->Sum("psd_server_push_requests_total", {"server=\"0\""}) == -1);
  CHECK(after->Sum("psd_server_push_requests_total", {"server=\"1\""}) > 0);
  exposer->reset();  // before the servers it reads
}

}  // namespace
}  // namespace psd
