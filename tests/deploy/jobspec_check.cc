// jobspec_check FILE [--server_budget_bytes=N] [--coordinator_budget_bytes=N]: parses a job
// spec with psd's own loader (common/job_spec), without the data-file check (the data lives on
// the workers' volume, not here), and, given the budgets the servers and the coordinator take
// (their flags, or 80% of their pods' memory limits), checks that both admit the job's memory
// per server as they do (common/memory_estimate). Prints
// "ok: NAME servers=S workers=W checkpoint_dir=D data=P,... memory_per_server=M budgets=..."
// (data: the four IDX files, or the first train and test file, "+N" for N more)
// and exits 0, or prints the loader's "FILE:LINE: field: reason" line (or the budget that
// refuses the job) and exits 1.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/job_spec.h"
#include "common/memory_estimate.h"

namespace {

constexpr char kUsage[] =
    "usage: jobspec_check FILE [--server_budget_bytes=N] [--coordinator_budget_bytes=N]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string file;
  // (who, budget): "servers", "coordinator"; 0 admits anything, as in the daemons.
  std::vector<std::pair<std::string, int64_t>> budgets;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string who;
    if (absl::StartsWith(a, "--server_budget_bytes=")) who = "servers";
    if (absl::StartsWith(a, "--coordinator_budget_bytes=")) who = "coordinator";
    if (!who.empty()) {
      int64_t bytes = 0;
      if (!absl::SimpleAtoi(a.substr(a.find('=') + 1), &bytes) || bytes < 0) {
        std::fprintf(stderr, "jobspec_check: %s: not a byte count\n%s", a.c_str(), kUsage);
        return 2;
      }
      budgets.emplace_back(who, bytes);
    } else if (file.empty() && !absl::StartsWith(a, "--")) {
      file = a;
    } else {
      std::fprintf(stderr, "jobspec_check: unexpected argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (file.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  absl::StatusOr<psd::JobSpec> spec = psd::LoadJobSpecFile(file);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return 1;
  }
  const psd::MemoryEstimate need = psd::EstimateServerMemory(*spec);
  int rc = 0;
  std::vector<std::string> admitted;
  for (const auto& [who, bytes] : budgets) {
    if (absl::Status fits = psd::CheckMemoryBudget(need, bytes); !fits.ok()) {
      std::fprintf(stderr, "%s: the %s would refuse the job: %s\n", file.c_str(), who.c_str(),
                   std::string(fits.message()).c_str());
      rc = 1;
    }
    admitted.push_back(absl::StrCat(who, ":", bytes > 0 ? psd::FormatMemory(bytes) : "none"));
  }
  if (rc != 0) return rc;
  const psd::DataSpec& d = spec->data;
  std::vector<std::string> data;
  if (d.ctr()) {  // the first file of each list, and how many
    for (const std::vector<std::string>* files : {&d.train_files, &d.test_files}) {
      data.push_back(files->empty()       ? std::string("-")
                     : files->size() == 1 ? files->front()
                                          : absl::StrCat(files->front(), "+", files->size() - 1));
    }
  } else {
    data = {d.train_images, d.train_labels, d.test_images, d.test_labels};
  }
  std::printf("ok: %s servers=%d workers=%d checkpoint_dir=%s data=%s memory_per_server=%s",
              spec->name.c_str(), spec->cluster.servers, spec->cluster.workers,
              spec->checkpoint.dir.c_str(), absl::StrJoin(data, ",").c_str(),
              psd::FormatMemory(need.total()).c_str());
  if (!admitted.empty()) std::printf(" budgets=%s", absl::StrJoin(admitted, ",").c_str());
  std::printf("\n");
  return 0;
}
