// bench/pushpull:latency — round-trip time of one PushPull of a single-chunk tensor against
// its size, one server in this process, one call in flight: where the per-RPC cost ends and
// the per-byte cost begins. Prints the median and fastest round trip and the payload
// throughput (both directions) for each size.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/job_spec.h"
#include "common/process_init.h"
#include "server/ps_server.h"
#include "worker/ps_client.h"

ABSL_FLAG(std::string, sizes_kib, "4,64,256,1024,4096,16384", "Tensor sizes in KiB.");
ABSL_FLAG(int, rounds, 60, "Round trips per size (the first 10 are not counted).");
ABSL_FLAG(std::string, consistency, "sync", "training.consistency.");
ABSL_FLAG(bool, fp16, false, "fp16 gradients and parameters on the wire.");

namespace psd {
namespace {

int Main() {
  std::printf("transport: plaintext (as --insecure; bench/pushpull prints the cost of TLS)\n");
  std::printf("%10s %12s %12s %12s\n", "bytes", "median us", "min us", "GB/s");
  for (absl::string_view kib_text : absl::StrSplit(absl::GetFlag(FLAGS_sizes_kib), ',')) {
    int64_t kib = 0;
    if (!absl::SimpleAtoi(kib_text, &kib) || kib < 1) return 2;
    const int64_t dim = kib * 1024 / 4 / 4;  // logreg with 4 classes: weight = dim * 4 floats
    const std::string yaml =
        absl::StrCat("name: latency\nmodel: {type: logreg, input_dim: ", dim,
                     ", num_classes: 4}\ndata: {train_images: a, train_labels: b, test_images: c, "
                     "test_labels: d}\ntraining: {consistency: ",
                     absl::GetFlag(FLAGS_consistency),
                     "}\ncluster: {servers: 1, workers: 1, chunk_bytes: 64MiB, wire_dtype: ",
                     absl::GetFlag(FLAGS_fp16) ? "fp16, wire_fp16_params: true" : "fp32", "}\n");
    auto spec = ParseJobSpec(yaml, "latency");
    if (!spec.ok()) {
      std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
      return 1;
    }
    auto placement = Placement::ForJob(*spec);
    PsServerOptions server_options;
    server_options.tls = TlsOptions::Insecure();
    auto server = PsServer::Start(server_options);
    if (!placement.ok() || !server.ok()) return 1;
    if (!(*server)->jobs().Init("latency", 1, *spec, 0, 1).ok()) return 1;
    PsClient::Options o;
    o.job_id = "latency";
    o.generation = 1;
    o.total_steps = 1 << 20;
    o.tls = TlsOptions::Insecure();
    SetWireOptions(spec->cluster, &o);
    auto client = PsClient::Create(&*placement, {absl::StrCat("127.0.0.1:", (*server)->port())}, o);
    if (!client.ok()) return 1;
    const int64_t n = placement->tensors()[0].size;
    std::vector<float> grad(n, 1e-3f), params(n);
    std::vector<double> us;
    const int rounds = std::max(11, absl::GetFlag(FLAGS_rounds));
    for (int step = 0; step < rounds; ++step) {
      const absl::Time t0 = absl::Now();
      (*client)->PushPull(0, step, grad.data(), params.data());
      if (absl::Status s = (*client)->Wait(); !s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
      if (step >= 10) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    }
    std::sort(us.begin(), us.end());
    const double median = us[us.size() / 2];
    std::printf("%10ld %12.0f %12.0f %12.3f\n", static_cast<long>(n * 4), median, us[0],
                2.0 * n * 4 / median / 1e3);
  }
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
