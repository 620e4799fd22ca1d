// The CPU backend against naive double-precision references (bounds: kernels/test_util.h), and
// the argument checks every backend shares.
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/select.h"
#include "kernels/test_util.h"
#include "tests/testing.h"

namespace psd::kernels {
namespace {

using testing::Compare;
using testing::OpCase;

Backend& Cpu() {
  static std::unique_ptr<Backend> cpu = std::move(CreateBackend(DeviceKind::kCpu, 0).value());
  return *cpu;
}

void CheckAgainstReference(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    INFO(c.name);
    absl::StatusOr<std::vector<float>> got = c.run(Cpu());
    REQUIRE(got.ok());
    CHECK(Compare(*got, c.expected()) == "");
  }
}

TEST_CASE("cpu gemm, every transpose, matches the reference") {
  CheckAgainstReference(testing::GemmCases());
}
TEST_CASE("cpu bias add and fused bias+activation match the reference") {
  CheckAgainstReference(testing::BiasActivationCases());
}
TEST_CASE("cpu activation forward and backward match the reference") {
  CheckAgainstReference(testing::ActivationCases());
}
TEST_CASE("cpu bias gradient matches the reference") {
  CheckAgainstReference(testing::BiasGradCases());
}
TEST_CASE("cpu softmax cross-entropy and its gradient match the reference") {
  CheckAgainstReference(testing::SoftmaxXentCases());
}
TEST_CASE("cpu count correct matches the reference") {
  CheckAgainstReference(testing::CountCorrectCases());
}
TEST_CASE("cpu fill, axpy, scale and sgd momentum match the reference") {
  CheckAgainstReference(testing::ElementwiseCases());
}
TEST_CASE("cpu embedding bag forward and backward match the reference") {
  CheckAgainstReference(testing::EmbeddingBagCases());
}

TEST_CASE("bad arguments are errors, not crashes") {
  Backend& b = Cpu();
  const Stream& s = b.default_stream();
  auto buf = b.AllocateDevice<float>(16).value();
  float* p = buf.data();
  CHECK(b.Gemm(s, false, false, 2, 2, 2, 1, p, 1, p, 2, 0, p, 2).code() ==
        absl::StatusCode::kInvalidArgument);  // lda < k
  CHECK(b.Gemm(s, false, false, -1, 2, 2, 1, p, 2, p, 2, 0, p, 2).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(b.Gemm(s, false, false, 2, 2, 2, 1, nullptr, 2, p, 2, 0, p, 2).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(b.BiasAdd(s, 2, 2, nullptr, p).code() == absl::StatusCode::kInvalidArgument);
  CHECK(b.Axpy(s, int64_t{1} << 40, 1, p, p).code() == absl::StatusCode::kInvalidArgument);
  CHECK(b.AllocateDevice<float>(-1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(b.SoftmaxXent(s, 1, 0, p, nullptr, 1, nullptr, p).code() ==
        absl::StatusCode::kInvalidArgument);

  auto labels = b.AllocateDevice<int32_t>(2).value();
  labels.data()[0] = 0;
  labels.data()[1] = 5;  // classes = 4
  const absl::Status bad_label = b.SoftmaxXent(s, 2, 4, p, labels.data(), 1, nullptr, p + 8);
  CHECK(bad_label.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad_label.message()).find("label") != std::string::npos);

  // An embedding bag index outside the table is caught on the CPU.
  auto bag = b.AllocateDevice<int32_t>(4).value();
  bag.data()[0] = 0;  // offsets {0, 2}
  bag.data()[1] = 2;
  bag.data()[2] = 1;  // index {1, 3}, with a 2-row table
  bag.data()[3] = 3;
  const absl::Status bad_index =
      b.EmbeddingBagForward(s, p, 2, 4, bag.data() + 2, nullptr, bag.data(), 1, false, p + 8);
  CHECK(bad_index.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad_index.message()).find("outside [0, 2)") != std::string::npos);
  CHECK(b.EmbeddingBagBackward(s, p, 2, 4, bag.data() + 2, nullptr, bag.data(), 1, false, p + 8)
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      b.EmbeddingBagForward(s, p, 2, 4, bag.data() + 2, nullptr, nullptr, 1, false, p + 8).code() ==
      absl::StatusCode::kInvalidArgument);  // no bag offsets

  Stream empty;
  CHECK(b.Fill(empty, 4, 0, p).code() == absl::StatusCode::kInvalidArgument);
  CHECK(b.Fill(s, 0, 0, nullptr).ok());  // nothing to do is fine
}

TEST_CASE("cpu streams, events and copies run at once") {
  Backend& b = Cpu();
  CHECK(b.host_addressable());
  Stream s = b.CreateStream().value();
  Event e = b.CreateEvent().value();
  auto host = b.AllocateHost<float>(5).value();
  auto dev = b.AllocateDevice<float>(5).value();
  CHECK(reinterpret_cast<uintptr_t>(host.data()) % 64 == 0);
  for (int i = 0; i < 5; ++i) host.data()[i] = static_cast<float>(i);
  REQUIRE(b.CopyAsync(s, CopyKind::kHostToDevice, dev.data(), host.data(), 5).ok());
  REQUIRE(b.Record(e, s).ok());
  CHECK(b.Query(e).value());
  REQUIRE(b.Wait(b.default_stream(), e).ok());
  REQUIRE(b.Scale(s, 5, 2, dev.data()).ok());
  REQUIRE(b.Synchronize(s).ok());
  REQUIRE(b.Synchronize(e).ok());
  std::vector<float> back(5);
  REQUIRE(b.Copy(CopyKind::kDeviceToHost, back.data(), dev.data(), 5).ok());
  CHECK(back == std::vector<float>{0, 2, 4, 6, 8});

  auto moved = std::move(dev);
  CHECK(dev.data() == nullptr);
  CHECK(moved.size() == 5);
  auto empty = b.AllocateDevice<float>(0).value();
  CHECK(empty.data() == nullptr);
  CHECK(empty.size() == 0);
}

}  // namespace
}  // namespace psd::kernels
