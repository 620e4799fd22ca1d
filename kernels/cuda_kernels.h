// Launchers for the CUDA backend's kernels. Only CUDA and the standard library appear here, so
// nvcc never sees Abseil; each launcher enqueues on `s` and returns the launch's error. Arguments
// are already checked and sizes fit an int; semantics are those of the Backend op of the same
// name (kernels/backend.h).
#ifndef PSD_KERNELS_CUDA_KERNELS_H_
#define PSD_KERNELS_CUDA_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace psd::kernels::cuda {

// What follows the bias add: nothing, or an activation.
enum class Act : int { kNone, kRelu, kTanh, kSigmoid };

cudaError_t BiasActivation(cudaStream_t s, Act act, int64_t rows, int64_t cols, const float* bias,
                           float* y);
cudaError_t ActivationForward(cudaStream_t s, Act act, int64_t n, const float* x, float* y);
cudaError_t ActivationBackward(cudaStream_t s, Act act, int64_t n, const float* y, const float* dy,
                               float* dx);
cudaError_t BiasGrad(cudaStream_t s, int64_t rows, int64_t cols, const float* dy, float* db);
cudaError_t SoftmaxXent(cudaStream_t s, int64_t rows, int64_t classes, const float* logits,
                        const int32_t* labels, float scale, float* dlogits, float* loss_sum);
cudaError_t CountCorrect(cudaStream_t s, int64_t rows, int64_t classes, const float* logits,
                         const int32_t* labels, int32_t* correct);
cudaError_t Fill(cudaStream_t s, int64_t n, float value, float* x);
cudaError_t Axpy(cudaStream_t s, int64_t n, float alpha, const float* x, float* y);
cudaError_t Scale(cudaStream_t s, int64_t n, float alpha, float* x);
cudaError_t SgdMomentum(cudaStream_t s, int64_t n, float lr, float momentum, float weight_decay,
                        const float* grad, float* velocity, float* param);
cudaError_t EmbeddingBagForward(cudaStream_t s, const float* rows, int64_t dim,
                                const int32_t* index, const float* weights,
                                const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                float* out);
// Adds with atomicAdd: the order of a shared row's sums is unspecified.
cudaError_t EmbeddingBagBackward(cudaStream_t s, const float* dout, int64_t dim,
                                 const int32_t* index, const float* weights,
                                 const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                 float* drows);

}  // namespace psd::kernels::cuda

#endif  // PSD_KERNELS_CUDA_KERNELS_H_
