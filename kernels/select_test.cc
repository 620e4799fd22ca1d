// Backend selection and device discovery. On a machine without a usable CUDA device (every
// developer machine and CI) kAuto falls back to the CPU and kCuda is a clear error.
#include "kernels/select.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/testing.h"

namespace psd::kernels {
namespace {

// The reason no CUDA device is usable, or "" when one is.
std::string NoCudaReason() {
  std::string reason;
  for (const DeviceInfo& d : DescribeDevices()) {
    if (d.kind == DeviceKind::kCuda && d.usable) return "";
    if (d.kind == DeviceKind::kCuda) reason = d.detail;
  }
  return reason;
}

// Captures what the default logger prints while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(out_));
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_CASE("DescribeDevices lists the CPU first and says why CUDA is unusable") {
  const std::vector<DeviceInfo> devices = DescribeDevices();
  REQUIRE(devices.size() >= 2);
  CHECK(devices[0].kind == DeviceKind::kCpu);
  CHECK(devices[0].usable);
  CHECK(!devices[0].name.empty());
  CHECK(devices[0].memory_bytes > 0);
  bool any_cuda = false;
  for (const DeviceInfo& d : devices) {
    if (d.kind != DeviceKind::kCuda) continue;
    any_cuda = true;
    CHECK((d.usable || !d.detail.empty()));
  }
  CHECK(any_cuda);
}

TEST_CASE("device: auto picks CUDA when usable, else the CPU, in one log line") {
  LogCapture log;
  auto backend = CreateBackend(DeviceKind::kAuto, 1);
  REQUIRE(backend.ok());
  const std::string reason = NoCudaReason();
  const std::string text = log.text();
  INFO(text);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  if (reason.empty()) {
    CHECK((*backend)->name() == "cuda");
    CHECK(text.rfind("compute backend: cuda (", 0) == 0);
  } else {
    CHECK((*backend)->name() == "cpu");
    CHECK(text.rfind("compute backend: cpu (no CUDA device: " + reason, 0) == 0);
  }
}

TEST_CASE("device: cuda without a usable device is FailedPrecondition with the reason") {
  const std::string reason = NoCudaReason();
  auto backend = CreateBackend(DeviceKind::kCuda, 1);
  if (reason.empty()) {
    REQUIRE(backend.ok());
    CHECK((*backend)->name() == "cuda");
    return;
  }
  REQUIRE(!backend.ok());
  CHECK(backend.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(backend.status().message());
  INFO(message);
  CHECK(message.find("no CUDA device is usable") != std::string::npos);
  CHECK(message.find(reason) != std::string::npos);
}

TEST_CASE("device: cpu gives the CPU backend") {
  auto backend = CreateBackend(DeviceKind::kCpu, 2);
  REQUIRE(backend.ok());
  CHECK((*backend)->name() == "cpu");
  CHECK((*backend)->description().find("2 threads") != std::string::npos);
}

// Usable CUDA devices of this machine.
int UsableCuda() {
  int n = 0;
  for (const DeviceInfo& d : DescribeDevices()) n += d.kind == DeviceKind::kCuda && d.usable;
  return n;
}

TEST_CASE("CreateBackends: CPU replicas share the BLAS threads, in one log line") {
  LogCapture log;
  auto backends = CreateBackends(DeviceKind::kCpu, 4, 2);
  REQUIRE(backends.ok());
  REQUIRE(backends->size() == 2);
  for (const auto& b : *backends) {
    CHECK(b->name() == "cpu");
    CHECK(b->description().find(", 2 threads") != std::string::npos);
    CHECK(b->MakeCurrent().ok());
  }
  CHECK(backends->at(0).get() != backends->at(1).get());
  const std::string text = log.text();
  INFO(text);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.rfind("compute backends: 2 x cpu on threads of their own (device: cpu requested; ",
                   0) == 0);
  // More replicas than threads: one thread each.
  auto many = CreateBackends(DeviceKind::kCpu, 2, 4);
  REQUIRE(many.ok());
  REQUIRE(many->size() == 4);
  CHECK(many->at(3)->description().find(", 1 threads") != std::string::npos);
}

TEST_CASE("CreateBackends: one device is CreateBackend; zero is an error") {
  auto one = CreateBackends(DeviceKind::kCpu, 2, 1);
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK(one->at(0)->description().find(", 2 threads") != std::string::npos);
  auto none = CreateBackends(DeviceKind::kCpu, 2, 0);
  REQUIRE(!none.ok());
  CHECK(none.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CreateBackends: more CUDA devices than usable fails naming both counts") {
  const int usable = UsableCuda();
  const int want = std::max(2, usable + 1);
  auto backends = CreateBackends(DeviceKind::kCuda, 0, want);
  REQUIRE(!backends.ok());
  CHECK(backends.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(backends.status().message());
  INFO(message);
  CHECK(message.rfind(absl::StrCat("cluster.devices_per_worker is ", want, " but this worker has ",
                                   usable, " usable CUDA device"),
                      0) == 0);
  // auto: with no CUDA device, CPU replicas; with some, the same error as cuda.
  auto automatic = CreateBackends(DeviceKind::kAuto, 2, want);
  if (usable == 0) {
    REQUIRE(automatic.ok());
    CHECK(automatic->size() == static_cast<size_t>(want));
    CHECK(automatic->at(0)->name() == "cpu");
  } else {
    REQUIRE(!automatic.ok());
    CHECK(std::string(automatic.status().message()) == message);
  }
}

}  // namespace
}  // namespace psd::kernels
