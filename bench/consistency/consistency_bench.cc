// bench/consistency: the Fashion-MNIST MLP on 4 workers, one slowed to a third of the others'
// speed, in each consistency mode. Prints time to a target test accuracy, final accuracy,
// samples/s and the largest staleness; writes the accuracy-vs-time curves to a CSV file.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/inproc_cluster.h"
#include "common/process_init.h"

ABSL_FLAG(std::string, job, "examples/fashion_mnist_mlp.yaml", "Job file (model and data).");
ABSL_FLAG(int, workers, 4, "Workers.");
ABSL_FLAG(int, servers, 2, "Parameter servers.");
ABSL_FLAG(int, epochs, 5, "Epochs of every run (the fixed budget).");
ABSL_FLAG(int, slow_worker, 3, "Rank of the straggler (-1: none).");
ABSL_FLAG(double, slowdown, 3.0, "The straggler's steps take this many times as long.");
ABSL_FLAG(int64_t, eval_every, 50, "Steps between test-set evaluations by worker 0.");
ABSL_FLAG(double, target, 0.85, "Test accuracy whose time to reach is reported.");
ABSL_FLAG(std::string, modes, "sync,async,ssp:2,ssp:8", "Consistency modes to run.");
ABSL_FLAG(std::string, out, "bench/out/consistency", "Folder for curves.csv.");

namespace psd {
namespace {

struct Row {
  std::string mode;
  double time_to_target = -1;
  double final_accuracy = 0;
  double samples_per_sec = 0;
  int64_t max_staleness = 0;
};

int Main() {
  auto base = LoadJobSpecFile(absl::GetFlag(FLAGS_job));
  if (!base.ok())
    return std::fprintf(stderr, "%s\n", std::string(base.status().message()).c_str()), 1;
  auto train = LoadIdxDataset(base->data.train_images, base->data.train_labels);
  auto test = LoadIdxDataset(base->data.test_images, base->data.test_labels);
  if (!train.ok() || !test.ok()) {
    std::fprintf(stderr, "cannot load the data: %s\n",
                 std::string((train.ok() ? test.status() : train.status()).message()).c_str());
    return 1;
  }
  const std::string out_dir = absl::GetFlag(FLAGS_out);
  std::filesystem::create_directories(out_dir);
  std::ofstream csv(out_dir + "/curves.csv");
  csv << "mode,wall_s,step,test_accuracy\n";
  InProcessOptions options;
  options.servers = absl::GetFlag(FLAGS_servers);
  if (absl::GetFlag(FLAGS_slow_worker) >= 0) {
    options.slowdown[absl::GetFlag(FLAGS_slow_worker)] = absl::GetFlag(FLAGS_slowdown);
  }
  std::printf(
      "bench/consistency: %s, %d workers (worker %d %.1fx slower), %d servers, "
      "%d epochs, batch %d per worker; transport plaintext (as --insecure)\n",
      base->name.c_str(), absl::GetFlag(FLAGS_workers), absl::GetFlag(FLAGS_slow_worker),
      absl::GetFlag(FLAGS_slowdown), options.servers, absl::GetFlag(FLAGS_epochs),
      base->training.batch_size);
  std::vector<Row> rows;
  for (absl::string_view mode : absl::StrSplit(absl::GetFlag(FLAGS_modes), ',')) {
    JobSpec spec = *base;
    spec.cluster.workers = absl::GetFlag(FLAGS_workers);
    spec.cluster.servers = options.servers;
    spec.training.epochs = absl::GetFlag(FLAGS_epochs);
    spec.training.eval_every = absl::GetFlag(FLAGS_eval_every);
    spec.training.log_every = spec.training.eval_every;
    std::vector<std::string> parts = absl::StrSplit(mode, ':');
    if (parts[0] == "sync") {
      spec.training.consistency = Consistency::kSync;
    } else if (parts[0] == "async") {
      spec.training.consistency = Consistency::kAsync;
    } else if (parts[0] == "ssp" && parts.size() == 2) {
      spec.training.consistency = Consistency::kSsp;
      spec.training.staleness = std::stoi(parts[1]);
    } else {
      std::fprintf(stderr, "--modes: unknown mode '%s' (sync, async, ssp:S)\n",
                   std::string(mode).c_str());
      return 2;
    }
    const std::string name = parts.size() == 2 ? absl::StrCat("ssp(s=", parts[1], ")") : parts[0];
    auto run = RunInProcess(spec, *train, &*test, options);
    if (!run.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(run.status().message()).c_str());
      return 1;
    }
    Row row{name};
    int64_t last_eval = -1;
    for (const Progress& p : run->progress) {
      if (p.test_accuracy() < 0 || p.test_step() == last_eval) continue;
      last_eval = p.test_step();
      csv << name << "," << p.wall_seconds() << "," << p.test_step() << "," << p.test_accuracy()
          << "\n";
      if (row.time_to_target < 0 && p.test_accuracy() >= absl::GetFlag(FLAGS_target)) {
        row.time_to_target = p.wall_seconds();
      }
    }
    row.final_accuracy = run->results[0].test_accuracy();
    row.samples_per_sec = run->samples_per_sec;
    for (const JobResult& r : run->results) {
      row.max_staleness = std::max(row.max_staleness, r.max_staleness());
    }
    std::fprintf(stderr, "%s done: final accuracy %.4f\n", name.c_str(), row.final_accuracy);
    rows.push_back(row);
  }
  std::printf("\n%-10s %16s %15s %10s %14s\n", "mode",
              absl::StrCat("time to ", absl::GetFlag(FLAGS_target), " (s)").c_str(),
              "final accuracy", "samples/s", "max staleness");
  for (const Row& r : rows) {
    const std::string t =
        r.time_to_target < 0 ? "not reached" : absl::StrFormat("%.1f", r.time_to_target);
    std::printf("%-10s %16s %15.4f %10.0f %14ld\n", r.mode.c_str(), t.c_str(), r.final_accuracy,
                r.samples_per_sec, static_cast<long>(r.max_staleness));
  }
  std::printf("\ncurves: %s/curves.csv\n", out_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
