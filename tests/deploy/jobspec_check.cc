// jobspec_check FILE: parses a job spec with psd's own loader (common/job_spec), without the
// data-file check (the data lives on the workers' volume, not here). Prints
// "ok: NAME servers=S workers=W checkpoint_dir=D data=P,P,P,P" and exits 0, or prints the
// loader's "FILE:LINE: field: reason" line and exits 1.
#include <cstdio>
#include <string>

#include "common/job_spec.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: jobspec_check FILE\n");
    return 2;
  }
  absl::StatusOr<psd::JobSpec> spec = psd::LoadJobSpecFile(argv[1]);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return 1;
  }
  std::printf("ok: %s servers=%d workers=%d checkpoint_dir=%s data=%s,%s,%s,%s\n",
              spec->name.c_str(), spec->cluster.servers, spec->cluster.workers,
              spec->checkpoint.dir.c_str(), spec->data.train_images.c_str(),
              spec->data.train_labels.c_str(), spec->data.test_images.c_str(),
              spec->data.test_labels.c_str());
  return 0;
}
