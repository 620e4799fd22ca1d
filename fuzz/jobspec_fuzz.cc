// libFuzzer target: the job spec parser (common/job_spec.h), which reads the YAML of
// `psdctl validate`/`submit`, the coordinator's SubmitJob and the server's InitJob. Whatever the
// bytes, it returns a spec or an error, and the error is what ParseJobSpec promises: one
// non-empty line that starts with the source name ("fuzz.yaml:12: training.batch_size: ...").
// A valid spec also gives a placement (what a server builds from it) or an error.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<psd::JobSpec> spec = psd::ParseJobSpec(yaml, "fuzz.yaml");
  if (!spec.ok()) {
    const absl::string_view message = spec.status().message();
    FUZZ_CHECK(!message.empty(), spec.status().ToString());
    FUZZ_CHECK(absl::StartsWith(message, "fuzz.yaml"), spec.status().ToString());
    FUZZ_CHECK(!absl::StrContains(message, '\n'), spec.status().ToString());
    return 0;
  }
  const std::vector<int> layers = spec->model.LayerSizes();
  FUZZ_CHECK(layers.size() >= 2);
  // What a server does with the spec it is sent. Memory is refused at validate time (issue
  // 14), so a spec that parses is one a placement can be built for without exhausting memory.
  absl::StatusOr<psd::Placement> placement = psd::Placement::ForJob(*spec);
  (void)placement;
  return 0;
}
