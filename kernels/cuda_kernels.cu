// CUDA kernels for the CUDA backend. Elementwise ops are grid-stride loops; row ops (softmax
// cross-entropy, argmax) give one warp to a row; the bias gradient gives a 32x8 block to 32
// columns and reduces in shared memory, so its sums are deterministic.
#include <math.h>

#include <algorithm>

#include "kernels/cuda_kernels.h"

namespace psd::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;
constexpr int64_t kMaxBlocks = 1 << 16;

unsigned Blocks(int64_t n) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min(kMaxBlocks, (n + kThreads - 1) / kThreads)));
}

__device__ __forceinline__ int64_t GlobalIndex() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t GlobalStride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

__device__ __forceinline__ float Apply(Act act, float x) {
  switch (act) {
    case Act::kRelu:
      return fmaxf(x, 0.0f);
    case Act::kTanh:
      return tanhf(x);
    case Act::kSigmoid:
      return 1.0f / (1.0f + expf(-x));
    default:
      return x;
  }
}

__device__ __forceinline__ float Derivative(Act act, float y, float dy) {
  switch (act) {
    case Act::kRelu:
      return y > 0.0f ? dy : 0.0f;
    case Act::kTanh:
      return dy * (1.0f - y * y);
    case Act::kSigmoid:
      return dy * y * (1.0f - y);
    default:
      return dy;
  }
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int off = kWarp / 2; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int off = kWarp / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__global__ void BiasActivationKernel(Act act, int64_t rows, int64_t cols,
                                     const float* __restrict__ bias, float* __restrict__ y) {
  // rows * cols fits an int (checked by the Backend), so the column is a 32-bit remainder.
  const int64_t n = rows * cols;
  const int c32 = static_cast<int>(cols);
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) {
    y[i] = Apply(act, y[i] + bias[static_cast<int>(i) % c32]);
  }
}

__global__ void ActivationForwardKernel(Act act, int64_t n, const float* x, float* y) {
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) y[i] = Apply(act, x[i]);
}

__global__ void ActivationBackwardKernel(Act act, int64_t n, const float* y, const float* dy,
                                         float* dx) {
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) dx[i] = Derivative(act, y[i], dy[i]);
}

constexpr int kGradRows = 8;

__global__ void BiasGradKernel(int64_t rows, int64_t cols, const float* __restrict__ dy,
                               float* __restrict__ db) {
  __shared__ float partial[kGradRows][kWarp + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  float sum = 0.0f;
  if (c < cols) {
    for (int64_t r = threadIdx.y; r < rows; r += kGradRows) sum += dy[r * cols + c];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int i = 0; i < kGradRows; ++i) total += partial[i][threadIdx.x];
    db[c] = total;
  }
}

__global__ void SoftmaxXentKernel(int64_t rows, int64_t classes, const float* logits,
                                  const int32_t* __restrict__ labels, float scale, float* dlogits,
                                  float* __restrict__ loss_sum) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const float* x = logits + r * classes;
  const int32_t label = labels[r];
  const bool label_ok = label >= 0 && label < classes;
  float max = -INFINITY;
  for (int64_t c = lane; c < classes; c += kWarp) max = fmaxf(max, x[c]);
  max = WarpMax(max);
  float sum = 0.0f;
  for (int64_t c = lane; c < classes; c += kWarp) sum += expf(x[c] - max);
  sum = WarpSum(sum);
  // Every lane reads x[label] before any lane may overwrite it (dlogits may alias logits).
  const float shifted_label = label_ok ? x[label] - max : NAN;
  __syncwarp();
  if (lane == 0) atomicAdd(loss_sum, logf(sum) - shifted_label);
  if (dlogits == nullptr) return;
  float* g = dlogits + r * classes;
  const float k = scale / sum;
  for (int64_t c = lane; c < classes; c += kWarp) {
    g[c] = expf(x[c] - max) * k - (c == label ? scale : 0.0f);
  }
}

__global__ void CountCorrectKernel(int64_t rows, int64_t classes, const float* __restrict__ logits,
                                   const int32_t* __restrict__ labels,
                                   int32_t* __restrict__ correct) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const float* x = logits + r * classes;
  // The first maximal logit wins, as in std::max_element on the CPU.
  float best = -INFINITY;
  int64_t best_c = classes;
  for (int64_t c = lane; c < classes; c += kWarp) {
    if (x[c] > best || best_c == classes) {
      best = x[c];
      best_c = c;
    }
  }
  for (int off = kWarp / 2; off > 0; off /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, best, off);
    const int64_t other_c = __shfl_xor_sync(0xffffffffu, best_c, off);
    const bool take = other_c != classes &&
                      (best_c == classes || other > best || (other == best && other_c < best_c));
    if (take) {
      best = other;
      best_c = other_c;
    }
  }
  if (lane == 0 && best_c == labels[r]) atomicAdd(correct, 1);
}

__global__ void FillKernel(int64_t n, float value, float* __restrict__ x) {
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) x[i] = value;
}

__global__ void AxpyKernel(int64_t n, float alpha, const float* __restrict__ x,
                           float* __restrict__ y) {
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) y[i] += alpha * x[i];
}

__global__ void ScaleKernel(int64_t n, float alpha, float* __restrict__ x) {
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) x[i] *= alpha;
}

__global__ void SgdMomentumKernel(int64_t n, float lr, float momentum, float weight_decay,
                                  const float* __restrict__ grad, float* __restrict__ velocity,
                                  float* __restrict__ param) {
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) {
    const float v = momentum * velocity[i] + (grad[i] + weight_decay * param[i]);
    velocity[i] = v;
    param[i] -= lr * v;
  }
}

// One thread per (bag, column): consecutive threads read consecutive columns of a table row.
__global__ void EmbeddingBagForwardKernel(const float* __restrict__ rows, int64_t dim,
                                          const int32_t* __restrict__ index,
                                          const float* __restrict__ weights,
                                          const int32_t* __restrict__ bag_offsets, int64_t num_bags,
                                          bool mean, float* __restrict__ out) {
  const int64_t n = num_bags * dim;
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) {
    const int64_t b = i / dim, d = i % dim;
    const int32_t begin = bag_offsets[b], end = bag_offsets[b + 1];
    float sum = 0.0f;
    for (int32_t j = begin; j < end; ++j) {
      const float w = weights == nullptr ? 1.0f : weights[j];
      sum += w * rows[static_cast<int64_t>(index[j]) * dim + d];
    }
    if (mean && end > begin) sum *= 1.0f / static_cast<float>(end - begin);
    out[i] = sum;
  }
}

__global__ void EmbeddingBagBackwardKernel(const float* __restrict__ dout, int64_t dim,
                                           const int32_t* __restrict__ index,
                                           const float* __restrict__ weights,
                                           const int32_t* __restrict__ bag_offsets,
                                           int64_t num_bags, bool mean, float* drows) {
  const int64_t n = num_bags * dim;
  for (int64_t i = GlobalIndex(); i < n; i += GlobalStride()) {
    const int64_t b = i / dim, d = i % dim;
    const int32_t begin = bag_offsets[b], end = bag_offsets[b + 1];
    const float scale = mean && end > begin ? 1.0f / static_cast<float>(end - begin) : 1.0f;
    const float g = dout[i] * scale;
    for (int32_t j = begin; j < end; ++j) {
      const float w = weights == nullptr ? 1.0f : weights[j];
      atomicAdd(&drows[static_cast<int64_t>(index[j]) * dim + d], w * g);
    }
  }
}

unsigned RowBlocks(int64_t rows) {
  return static_cast<unsigned>(std::max<int64_t>(1, (rows + kRowsPerBlock - 1) / kRowsPerBlock));
}

}  // namespace

cudaError_t BiasActivation(cudaStream_t s, Act act, int64_t rows, int64_t cols, const float* bias,
                           float* y) {
  BiasActivationKernel<<<Blocks(rows * cols), kThreads, 0, s>>>(act, rows, cols, bias, y);
  return cudaGetLastError();
}

cudaError_t ActivationForward(cudaStream_t s, Act act, int64_t n, const float* x, float* y) {
  ActivationForwardKernel<<<Blocks(n), kThreads, 0, s>>>(act, n, x, y);
  return cudaGetLastError();
}

cudaError_t ActivationBackward(cudaStream_t s, Act act, int64_t n, const float* y, const float* dy,
                               float* dx) {
  ActivationBackwardKernel<<<Blocks(n), kThreads, 0, s>>>(act, n, y, dy, dx);
  return cudaGetLastError();
}

cudaError_t BiasGrad(cudaStream_t s, int64_t rows, int64_t cols, const float* dy, float* db) {
  const unsigned blocks = static_cast<unsigned>((cols + kWarp - 1) / kWarp);
  BiasGradKernel<<<blocks, dim3(kWarp, kGradRows), 0, s>>>(rows, cols, dy, db);
  return cudaGetLastError();
}

cudaError_t SoftmaxXent(cudaStream_t s, int64_t rows, int64_t classes, const float* logits,
                        const int32_t* labels, float scale, float* dlogits, float* loss_sum) {
  cudaError_t err = cudaMemsetAsync(loss_sum, 0, sizeof(float), s);
  if (err != cudaSuccess || rows == 0) return err;
  SoftmaxXentKernel<<<RowBlocks(rows), kThreads, 0, s>>>(rows, classes, logits, labels, scale,
                                                         dlogits, loss_sum);
  return cudaGetLastError();
}

cudaError_t CountCorrect(cudaStream_t s, int64_t rows, int64_t classes, const float* logits,
                         const int32_t* labels, int32_t* correct) {
  cudaError_t err = cudaMemsetAsync(correct, 0, sizeof(int32_t), s);
  if (err != cudaSuccess || rows == 0) return err;
  CountCorrectKernel<<<RowBlocks(rows), kThreads, 0, s>>>(rows, classes, logits, labels, correct);
  return cudaGetLastError();
}

cudaError_t Fill(cudaStream_t s, int64_t n, float value, float* x) {
  FillKernel<<<Blocks(n), kThreads, 0, s>>>(n, value, x);
  return cudaGetLastError();
}

cudaError_t Axpy(cudaStream_t s, int64_t n, float alpha, const float* x, float* y) {
  AxpyKernel<<<Blocks(n), kThreads, 0, s>>>(n, alpha, x, y);
  return cudaGetLastError();
}

cudaError_t Scale(cudaStream_t s, int64_t n, float alpha, float* x) {
  ScaleKernel<<<Blocks(n), kThreads, 0, s>>>(n, alpha, x);
  return cudaGetLastError();
}

cudaError_t SgdMomentum(cudaStream_t s, int64_t n, float lr, float momentum, float weight_decay,
                        const float* grad, float* velocity, float* param) {
  SgdMomentumKernel<<<Blocks(n), kThreads, 0, s>>>(n, lr, momentum, weight_decay, grad, velocity,
                                                   param);
  return cudaGetLastError();
}

cudaError_t EmbeddingBagForward(cudaStream_t s, const float* rows, int64_t dim,
                                const int32_t* index, const float* weights,
                                const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                float* out) {
  EmbeddingBagForwardKernel<<<Blocks(num_bags * dim), kThreads, 0, s>>>(
      rows, dim, index, weights, bag_offsets, num_bags, mean, out);
  return cudaGetLastError();
}

cudaError_t EmbeddingBagBackward(cudaStream_t s, const float* dout, int64_t dim,
                                 const int32_t* index, const float* weights,
                                 const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                 float* drows) {
  EmbeddingBagBackwardKernel<<<Blocks(num_bags * dim), kThreads, 0, s>>>(
      dout, dim, index, weights, bag_offsets, num_bags, mean, drows);
  return cudaGetLastError();
}

}  // namespace psd::kernels::cuda
