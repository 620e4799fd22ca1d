// Every CUDA op against the CPU op on the same inputs (|cuda - cpu| within twice the reference
// bound of kernels/test_util.h), plus streams, events and pinned memory. Built everywhere; each
// test case reports "skipped" when no CUDA device is usable.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kernels/select.h"
#include "kernels/test_util.h"
#include "tests/testing.h"

namespace psd::kernels {
namespace {

using testing::Compare;
using testing::Expected;
using testing::OpCase;

struct Backends {
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Backend> cuda;  // null when no device is usable
  std::string reason;             // why cuda is null
};

Backends& Get() {
  static Backends* b = [] {
    auto* out = new Backends;
    out->cpu = std::move(CreateBackend(DeviceKind::kCpu, 0).value());
    absl::StatusOr<std::unique_ptr<Backend>> cuda = CreateBackend(DeviceKind::kCuda, 0);
    if (cuda.ok()) {
      out->cuda = std::move(*cuda);
      return out;
    }
    for (const DeviceInfo& d : DescribeDevices()) {
      if (d.kind == DeviceKind::kCuda && !d.usable) out->reason = d.detail;
    }
    if (out->reason.empty()) out->reason = std::string(cuda.status().message());
    return out;
  }();
  return *b;
}

#define REQUIRE_CUDA()                                                      \
  do {                                                                      \
    if (Get().cuda == nullptr) PSD_SKIP("no CUDA device: " + Get().reason); \
  } while (false)

void CompareWithCpu(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    INFO(c.name);
    absl::StatusOr<std::vector<float>> want = c.run(*Get().cpu);
    absl::StatusOr<std::vector<float>> got = c.run(*Get().cuda);
    REQUIRE(want.ok());
    INFO((got.ok() ? "" : got.status().ToString()));
    REQUIRE(got.ok());
    const Expected reference = c.expected();
    CHECK(Compare(*got, Expected{{want->begin(), want->end()}, reference.bound}, 2.0) == "");
    CHECK(Compare(*got, reference) == "");
  }
}

TEST_CASE("cuda gemm, every transpose, matches the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::GemmCases());
}
TEST_CASE("cuda bias add and fused bias+activation match the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::BiasActivationCases());
}
TEST_CASE("cuda activation forward and backward match the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::ActivationCases());
}
TEST_CASE("cuda bias gradient matches the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::BiasGradCases());
}
TEST_CASE("cuda softmax cross-entropy and its gradient match the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::SoftmaxXentCases());
}
TEST_CASE("cuda count correct matches the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::CountCorrectCases());
}
TEST_CASE("cuda fill, axpy, scale and sgd momentum match the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::ElementwiseCases());
}
TEST_CASE("cuda embedding bag forward and backward match the cpu") {
  REQUIRE_CUDA();
  CompareWithCpu(testing::EmbeddingBagCases());
}

TEST_CASE("cuda streams: a copy on one stream waits for an event recorded on another") {
  REQUIRE_CUDA();
  Backend& b = *Get().cuda;
  CHECK(!b.host_addressable());
  constexpr int64_t n = 1 << 22;
  Stream compute = b.CreateStream().value();
  Stream copy = b.CreateStream().value();
  Event done = b.CreateEvent().value();
  auto x = b.AllocateDevice<float>(n).value();
  auto host = b.AllocateHost<float>(n).value();
  REQUIRE(b.Fill(compute, n, 1.0f, x.data()).ok());
  for (int i = 0; i < 50; ++i) REQUIRE(b.Scale(compute, n, 1.0f, x.data()).ok());
  REQUIRE(b.Scale(compute, n, 3.0f, x.data()).ok());
  REQUIRE(b.Record(done, compute).ok());
  REQUIRE(b.Wait(copy, done).ok());
  REQUIRE(b.CopyAsync(copy, CopyKind::kDeviceToHost, host.data(), x.data(), n).ok());
  REQUIRE(b.Synchronize(copy).ok());
  CHECK(b.Query(done).value());
  CHECK(host.data()[0] == 3.0f);
  CHECK(host.data()[n - 1] == 3.0f);
}

TEST_CASE("cuda errors name the failing call") {
  REQUIRE_CUDA();
  Backend& b = *Get().cuda;
  auto huge = b.AllocateDevice<float>(int64_t{1} << 45);  // 128 TiB
  REQUIRE(!huge.ok());
  CHECK(huge.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(huge.status().message()).find("cudaMalloc") != std::string::npos);
  // The backend keeps working after the failure.
  auto small = b.AllocateDevice<float>(4);
  CHECK(small.ok());
  CHECK(b.Fill(b.default_stream(), 4, 1, small->data()).ok());
  CHECK(b.Synchronize(b.default_stream()).ok());
}

}  // namespace
}  // namespace psd::kernels
