// A whole job in one process for benchmarks: parameter servers and workers are threads that
// talk over real gRPC on 127.0.0.1, plaintext (as --insecure: these benches measure training,
// not security; bench/pushpull and bench/train measure TLS), or, with no servers, one worker
// with a local optimizer.
#ifndef PSD_BENCH_INPROC_CLUSTER_H_
#define PSD_BENCH_INPROC_CLUSTER_H_

#include <map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "proto/common.pb.h"
#include "worker/idx_reader.h"

namespace psd {

struct InProcessOptions {
  int servers = 1;                 // 0: no parameter server (cluster.workers must be 1)
  int cpu_threads = 1;             // BLAS threads per worker
  std::map<int, double> slowdown;  // worker rank -> straggler factor
};

struct InProcessRun {
  std::vector<JobResult> results;  // per worker
  std::vector<Progress> progress;  // worker 0's reports, in order
  double samples_per_sec = 0;      // all workers' samples over each one's wall time, summed
};

// Runs `spec` (cluster.workers workers) to the end; worker 0 evaluates on `test` when given.
absl::StatusOr<InProcessRun> RunInProcess(const JobSpec& spec, const Dataset& train,
                                          const Dataset* test, const InProcessOptions& options);

}  // namespace psd

#endif  // PSD_BENCH_INPROC_CLUSTER_H_
