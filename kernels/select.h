// Choosing a compute backend, and the devices a node offers.
#ifndef PSD_KERNELS_SELECT_H_
#define PSD_KERNELS_SELECT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/kernel_types.h"
#include "kernels/backend.h"

namespace psd::kernels {

// The CPU, then every CUDA device; without any CUDA device, one kCuda entry (name "none",
// usable == false) whose detail says why, e.g. "CUDA support not compiled in".
std::vector<DeviceInfo> DescribeDevices();

// kCpu: the CPU backend with `cpu_threads` BLAS threads (<= 0: one per core). kCuda: the first
// usable CUDA device, or FailedPrecondition saying why there is none. kAuto: CUDA when usable,
// else the CPU. Logs one info line naming the backend chosen and why.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, int cpu_threads);

}  // namespace psd::kernels

#endif  // PSD_KERNELS_SELECT_H_
