// A local psd cluster for end-to-end tests, run through deploy/local/cluster.sh with the
// binaries of the test's runfiles, free ports and a run directory under $TEST_TMPDIR, over
// mutual TLS as users run it (certificates in RUN_DIR/certs). The cluster goes down when the
// object is destroyed, and also if the test process dies.
#ifndef PSD_TESTS_LOCAL_CLUSTER_H_
#define PSD_TESTS_LOCAL_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/process.h"

namespace psd::testing {

class LocalCluster {
 public:
  // `extra` are more cluster.sh up options, e.g. {"--heartbeat-timeout-ms", "2000"}.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(int servers, int workers,
                                                             std::vector<std::string> extra = {});
  ~LocalCluster();

  const std::string& run_dir() const { return run_dir_; }
  const std::string& coordinator() const { return coordinator_; }
  // Runs psdctl against this cluster, as its admin.
  CommandResult Psdctl(std::vector<std::string> args,
                       absl::Duration timeout = absl::Seconds(30)) const;
  // Runs cluster.sh COMMAND ARGS... on this cluster (kill, restart, status, down...).
  CommandResult Script(std::vector<std::string> args,
                       absl::Duration timeout = absl::Seconds(60)) const;
  // A daemon's log, e.g. Log("worker-1").
  std::string Log(const std::string& name) const;
  // Writes `yaml` to a new file in the run directory and returns its path.
  std::string WriteJobFile(const std::string& name, const std::string& yaml) const;

 private:
  LocalCluster() = default;

  std::string run_dir_, bin_dir_, coordinator_;
};

// The last line of a command's output (psdctl submit --wait ends with its verdict line).
std::string LastLine(const std::string& text);

}  // namespace psd::testing

#endif  // PSD_TESTS_LOCAL_CLUSTER_H_
