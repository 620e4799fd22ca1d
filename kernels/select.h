// Choosing a compute backend, and the devices a node offers.
#ifndef PSD_KERNELS_SELECT_H_
#define PSD_KERNELS_SELECT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/kernel_types.h"

namespace psd::kernels {

// The CPU, then every CUDA device; without any CUDA device, one kCuda entry (name "none",
// usable == false) whose detail says why, e.g. "CUDA support not compiled in".
std::vector<DeviceInfo> DescribeDevices();

// kCpu: the CPU backend with `cpu_threads` BLAS threads (<= 0: one per core). kCuda: the first
// usable CUDA device, or FailedPrecondition saying why there is none. kAuto: CUDA when usable,
// else the CPU. Logs one info line naming the backend chosen and why.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, int cpu_threads);

// `count` >= 1 backends of one kind, one per device of a worker that splits its batch over
// them. count == 1 is CreateBackend(kind, cpu_threads). Else kCpu: `count` CPU backends of
// max(1, T / count) BLAS threads each, T = CpuThreads(cpu_threads), so that replicas running
// at once do not oversubscribe the cores; kCuda: the first `count` usable CUDA devices, one
// backend each, or FailedPrecondition naming `count` and how many are usable; kAuto: kCuda
// when any CUDA device is usable (the same error when fewer than `count`), else kCpu. Logs
// one info line naming the backends chosen and why.
absl::StatusOr<std::vector<std::unique_ptr<Backend>>> CreateBackends(DeviceKind kind,
                                                                     int cpu_threads, int count);

}  // namespace psd::kernels

#endif  // PSD_KERNELS_SELECT_H_
