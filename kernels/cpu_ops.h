// The CPU backend's loops on host pointers (GEMM is OpenBLAS). Arguments are already checked;
// semantics are those of the Backend op of the same name.
#ifndef PSD_KERNELS_CPU_OPS_H_
#define PSD_KERNELS_CPU_OPS_H_

#include <cstdint>

#include "kernels/kernel_types.h"

namespace psd::kernels::cpu {

void BiasActivation(bool activate, Activation act, int64_t rows, int64_t cols, const float* bias,
                    float* y);
void ActivationForward(Activation act, int64_t n, const float* x, float* y);
void ActivationBackward(Activation act, int64_t n, const float* y, const float* dy, float* dx);
void BiasGrad(int64_t rows, int64_t cols, const float* dy, float* db);
// Returns the summed loss, or -1 when a label is outside [0, classes) (nothing is written then).
double SoftmaxXent(int64_t rows, int64_t classes, const float* logits, const int32_t* labels,
                   float scale, float* dlogits);
int32_t CountCorrect(int64_t rows, int64_t classes, const float* logits, const int32_t* labels);
void Fill(int64_t n, float value, float* x);
void Axpy(int64_t n, float alpha, const float* x, float* y);
void Scale(int64_t n, float alpha, float* x);
void SgdMomentum(int64_t n, float lr, float momentum, float weight_decay, const float* grad,
                 float* velocity, float* param);
// Return false when an index is outside [0, num_rows) (out / drows are then partly written).
bool EmbeddingBagForward(const float* rows, int64_t num_rows, int64_t dim, const int32_t* index,
                         const float* weights, const int32_t* bag_offsets, int64_t num_bags,
                         bool mean, float* out);
bool EmbeddingBagBackward(const float* dout, int64_t num_rows, int64_t dim, const int32_t* index,
                          const float* weights, const int32_t* bag_offsets, int64_t num_bags,
                          bool mean, float* drows);

}  // namespace psd::kernels::cpu

#endif  // PSD_KERNELS_CPU_OPS_H_
