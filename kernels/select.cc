#include "kernels/select.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
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

// The usable CUDA devices, and why the others are not.
std::vector<DeviceInfo> UsableCudaDevices(std::string* reasons) {
  std::vector<DeviceInfo> usable;
  for (DeviceInfo& d : CudaDevices()) {
    if (d.usable) {
      usable.push_back(std::move(d));
      continue;
    }
    const std::string reason =
        d.name == "none" ? d.detail
                         : absl::StrCat("device ", d.index, " (", d.name, "): ", d.detail);
    absl::StrAppend(reasons, reasons->empty() ? "" : "; ", reason);
  }
  return usable;
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

absl::StatusOr<std::vector<std::unique_ptr<Backend>>> CreateBackends(DeviceKind kind,
                                                                     int cpu_threads, int count) {
  if (count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("compute backends: need at least 1 device, got ", count));
  }
  std::vector<std::unique_ptr<Backend>> backends;
  if (count == 1) {
    absl::StatusOr<std::unique_ptr<Backend>> one = CreateBackend(kind, cpu_threads);
    if (!one.ok()) return one.status();
    backends.push_back(std::move(*one));
    return backends;
  }
  std::string why_cpu = "device: cpu requested";
  if (kind != DeviceKind::kCpu) {
    std::string reasons;
    const std::vector<DeviceInfo> usable = UsableCudaDevices(&reasons);
    if (!usable.empty() || kind == DeviceKind::kCuda) {
      if (static_cast<int>(usable.size()) < count) {
        return absl::FailedPreconditionError(
            absl::StrCat("cluster.devices_per_worker is ", count, " but this worker has ",
                         usable.size(), " usable CUDA device", usable.size() == 1 ? "" : "s",
                         reasons.empty() ? "" : absl::StrCat(" (", reasons, ")")));
      }
      std::string names;
      for (int i = 0; i < count; ++i) {
#ifdef PSD_HAVE_CUDA
        absl::StatusOr<std::unique_ptr<Backend>> cuda = CreateCudaBackend(usable[i].index);
        if (!cuda.ok()) return cuda.status();
        absl::StrAppend(&names, i == 0 ? "" : "; ", (*cuda)->description());
        backends.push_back(std::move(*cuda));
#endif
      }
      spdlog::info("compute backends: {} x cuda ({}; device: {})", count, names,
                   kind == DeviceKind::kCuda ? "cuda requested" : "auto, CUDA devices are usable");
      return backends;
    }
    why_cpu = absl::StrCat("no CUDA device: ", reasons);
  }
  const int threads = std::max(1, CpuThreads(cpu_threads) / count);
  for (int i = 0; i < count; ++i) backends.push_back(CreateCpuBackend(threads));
  spdlog::info("compute backends: {} x cpu on threads of their own ({}; {})", count, why_cpu,
               backends[0]->description());
  return backends;
}

}  // namespace psd::kernels
