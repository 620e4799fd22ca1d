// The CPU backend: OpenBLAS for GEMM, vectorised loops for the rest, everything synchronous.
#ifndef PSD_KERNELS_CPU_BACKEND_H_
#define PSD_KERNELS_CPU_BACKEND_H_

#include <memory>
#include <string>

#include "kernels/backend.h"

namespace psd::kernels {

// `threads` OpenBLAS threads (<= 0: one per core). OpenBLAS's thread count is process-wide.
std::unique_ptr<Backend> CreateCpuBackend(int threads);

// The CPU's model name from /proc/cpuinfo ("cpu" when unknown).
std::string CpuModelName();

// Number of OpenBLAS threads CreateCpuBackend(threads) uses.
int CpuThreads(int threads);

}  // namespace psd::kernels

#endif  // PSD_KERNELS_CPU_BACKEND_H_
