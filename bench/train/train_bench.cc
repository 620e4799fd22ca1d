// bench/train: training throughput (samples/s) of the Fashion-MNIST MLP with no parameter
// server, with 1 server x 1 worker and with 2 servers x 2 workers, measured in one run.
// Servers and workers are threads of this process that talk over real gRPC on 127.0.0.1.
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "kernels/select.h"
#include "server/ps_server.h"
#include "worker/trainer.h"

ABSL_FLAG(std::string, job, "examples/fashion_mnist_mlp.yaml", "Job file (model and data).");
ABSL_FLAG(int64_t, steps, 400, "Steps per worker in each configuration.");
ABSL_FLAG(int, threads, 1, "BLAS threads per worker.");

namespace psd {
namespace {

struct Figure {
  std::string name;
  double samples_per_sec = 0;
};

absl::StatusOr<double> RunWorkers(const JobSpec& spec, const Dataset& data,
                                  const std::vector<std::string>& servers) {
  const int workers = spec.cluster.workers;
  std::vector<absl::StatusOr<JobResult>> results(workers, absl::UnknownError("not run"));
  auto placement = Placement::ForJob(spec);
  if (!placement.ok()) return placement.status();
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto backend = kernels::CreateBackend(DeviceKind::kCpu, absl::GetFlag(FLAGS_threads));
      if (!backend.ok()) return void(results[w] = backend.status());
      auto model = Model::Create(spec.model, backend->get(), spec.training.batch_size);
      if (!model.ok()) return void(results[w] = model.status());
      const int64_t total = PlannedSteps(spec, data.count, workers);
      std::unique_ptr<PsClient> client;
      std::unique_ptr<ParamExchange> exchange;
      if (servers.empty()) {
        exchange = std::make_unique<LocalExchange>(spec, placement->tensors(), total);
      } else {
        PsClient::Options o;
        o.job_id = spec.name;
        o.worker = w;
        o.total_steps = total;
        auto c = PsClient::Create(&*placement, servers, o);
        if (!c.ok()) return void(results[w] = c.status());
        client = *std::move(c);
        exchange = std::make_unique<RemoteExchange>(client.get());
      }
      Trainer trainer(spec, w, workers, data, nullptr, model->get(), exchange.get());
      results[w] = trainer.Run(stop, nullptr);
    });
  }
  for (auto& t : threads) t.join();
  double samples_per_sec = 0;
  for (const auto& r : results) {
    if (!r.ok()) return r.status();
    samples_per_sec += r->steps() * spec.training.batch_size / r->wall_seconds();
  }
  return samples_per_sec;
}

absl::StatusOr<double> Measure(JobSpec spec, const Dataset& data, int num_servers, int workers) {
  spec.cluster.servers = std::max(1, num_servers);
  spec.cluster.workers = workers;
  spec.training.max_steps = absl::GetFlag(FLAGS_steps);
  spec.training.log_every = 1 << 30;
  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
  for (int s = 0; s < num_servers; ++s) {
    auto server = PsServer::Start({});
    if (!server.ok()) return server.status();
    if (auto job = (*server)->jobs().Init(spec.name, 1, spec, s, workers); !job.ok()) {
      return job.status();
    }
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(*std::move(server));
  }
  return RunWorkers(spec, data, addresses);
}

int Main() {
  auto spec = LoadJobSpecFile(absl::GetFlag(FLAGS_job));
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return 1;
  }
  auto data = LoadIdxDataset(spec->data.train_images, spec->data.train_labels);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", std::string(data.status().message()).c_str());
    return 1;
  }
  std::printf(
      "bench/train: %s, batch %d per worker, %ld steps per worker, %d BLAS thread(s) "
      "per worker, %u cores\n",
      spec->name.c_str(), spec->training.batch_size, static_cast<long>(absl::GetFlag(FLAGS_steps)),
      absl::GetFlag(FLAGS_threads), std::thread::hardware_concurrency());
  struct Config {
    const char* name;
    int servers, workers;
  } configs[] = {{"no parameter server", 0, 1},
                 {"1 server x 1 worker", 1, 1},
                 {"2 servers x 2 workers", 2, 2}};
  std::vector<Figure> figures;
  for (const Config& c : configs) {
    auto sps = Measure(*spec, *data, c.servers, c.workers);
    if (!sps.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name, std::string(sps.status().message()).c_str());
      return 1;
    }
    figures.push_back({c.name, *sps});
  }
  std::printf("\n%-24s %12s %10s\n", "configuration", "samples/s", "vs no-PS");
  for (const Figure& f : figures) {
    std::printf("%-24s %12.0f %10.2f\n", f.name.c_str(), f.samples_per_sec,
                f.samples_per_sec / figures[0].samples_per_sec);
  }
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
