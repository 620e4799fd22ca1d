// Helpers of the end-to-end tests: Fashion-MNIST job files, running jobs through psdctl,
// reading psdctl's output, and the one-process reference that sync training must equal.
#ifndef PSD_TESTS_E2E_H_
#define PSD_TESTS_E2E_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "tests/local_cluster.h"

namespace psd::testing {

struct JobOptions {
  JobOptions(std::string name, std::string training)
      : name(std::move(name)), training(std::move(training)) {}
  std::string name;
  std::string training;  // more lines of the training section, e.g. "max_steps: 20"
  int servers = 2;
  int workers = 2;
  std::string hidden = "[64, 32]";
  int batch_size = 32;
  std::string chunk_bytes = "16KiB";
  std::string checkpoint;      // the checkpoint section's fields, e.g. "{dir: /x, every_steps: 50}"
  int devices_per_worker = 1;  // cluster.devices_per_worker (CPU replicas)
};

// A job file on Debian's Fashion-MNIST (seed 7, CPU); `training` lines are indented for you.
std::string FashionJob(const JobOptions& options);

// Submits `yaml` with --wait and requires success; returns psdctl's verdict line.
std::string RunJob(const LocalCluster& cluster, const std::string& name, const std::string& yaml);

// Submits `yaml` without waiting; returns the job id.
std::string SubmitJob(const LocalCluster& cluster, const std::string& name,
                      const std::string& yaml);

// The job id in psdctl's output ("job <id> submitted" or "job <id> succeeded: ...").
std::string JobId(const std::string& psdctl_output);

// Polls `psdctl status` until the job has reached `step`; false after `timeout`.
bool WaitForStep(const LocalCluster& cluster, const std::string& job, int64_t step,
                 absl::Duration timeout);

// The integer after "name=" in `text` (e.g. "max_staleness"), or -1.
int64_t Field(const std::string& text, const std::string& name);
// The number after "test_accuracy=" in `text`, or -1.
double TestAccuracy(const std::string& text);

// The job's parameters trained in this process with every worker's batch as one global batch
// and the servers' optimizer applied locally: what sync training must equal.
std::vector<std::vector<float>> TrainInOneProcess(JobSpec spec);

double MaxAbsDiff(const ModelFile& got, const std::vector<std::vector<float>>& want);

}  // namespace psd::testing

#endif  // PSD_TESTS_E2E_H_
