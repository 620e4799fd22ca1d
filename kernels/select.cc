#include "kernels/select.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cpu_backend.h"
#ifdef PSD_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

namespace psd::kernels {
namespace {

std::vector<DeviceInfo> CudaDevices() {
#ifdef PSD_HAVE_CUDA
  return DescribeCudaDevices();
#else
  DeviceInfo none;
  none.kind = DeviceKind::kCuda;
  none.name = "none";
  none.usable = false;
  none.detail = "CUDA support not compiled in";
  return {none};
#endif
}

// The first usable CUDA device's backend, or why there is none.
absl::StatusOr<std::unique_ptr<Backend>> FirstCudaBackend() {
  std::string reasons;
  for (const DeviceInfo& d : CudaDevices()) {
    if (d.usable) {
#ifdef PSD_HAVE_CUDA
      return CreateCudaBackend(d.index);
#endif
    }
    const std::string reason =
        d.name == "none" ? d.detail
                         : absl::StrCat("device ", d.index, " (", d.name, "): ", d.detail);
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ", reason);
  }
  return absl::FailedPreconditionError(reasons);
}

}  // namespace

std::vector<DeviceInfo> DescribeDevices() {
  DeviceInfo cpu;
  cpu.kind = DeviceKind::kCpu;
  cpu.name = CpuModelName();
  cpu.memory_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  std::vector<DeviceInfo> devices = {cpu};
  for (DeviceInfo& d : CudaDevices()) devices.push_back(std::move(d));
  return devices;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, int cpu_threads) {
  if (kind == DeviceKind::kCpu) {
    std::unique_ptr<Backend> cpu = CreateCpuBackend(cpu_threads);
    spdlog::info("compute backend: cpu (device: cpu requested; {})", cpu->description());
    return cpu;
  }
  absl::StatusOr<std::unique_ptr<Backend>> cuda = FirstCudaBackend();
  if (cuda.ok()) {
    spdlog::info("compute backend: cuda ({}; device: {})", (*cuda)->description(),
                 kind == DeviceKind::kCuda ? "cuda requested" : "auto, a CUDA device is usable");
    return cuda;
  }
  if (kind == DeviceKind::kCuda) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device: cuda requested but no CUDA device is usable: ", cuda.status().message()));
  }
  std::unique_ptr<Backend> cpu = CreateCpuBackend(cpu_threads);
  spdlog::info("compute backend: cpu (no CUDA device: {}; {})",
               std::string(cuda.status().message()), cpu->description());
  return cpu;
}

}  // namespace psd::kernels
