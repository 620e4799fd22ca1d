// The CUDA backend: cuBLAS for GEMM (a handle per stream), the kernels of cuda_kernels.cu for
// the rest, cudaMallocHost for host buffers. Built only when the CUDA toolkit is present.
#ifndef PSD_KERNELS_CUDA_BACKEND_H_
#define PSD_KERNELS_CUDA_BACKEND_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace psd::kernels {

// Every CUDA device, each marked usable or not; one unusable entry named "none" when the
// runtime finds no device (its detail is the runtime's reason).
std::vector<DeviceInfo> DescribeCudaDevices();

// The backend on CUDA device `device` (see DescribeCudaDevices).
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device);

}  // namespace psd::kernels

#endif  // PSD_KERNELS_CUDA_BACKEND_H_
