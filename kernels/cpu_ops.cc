// Loops written for GCC's vectoriser: restrict where operands cannot alias, no branches in the
// inner loops (selects instead), float accumulators. In-place ops (y == x, dx == dy) leave out
// restrict and get GCC's run-time overlap check instead.
#include "kernels/cpu_ops.h"

#include <algorithm>
#include <cmath>

namespace psd::kernels::cpu {
namespace {

void BiasRow(int64_t cols, const float* __restrict bias, float* __restrict y) {
  for (int64_t c = 0; c < cols; ++c) y[c] += bias[c];
}

void BiasReluRow(int64_t cols, const float* __restrict bias, float* __restrict y) {
  for (int64_t c = 0; c < cols; ++c) y[c] = std::max(y[c] + bias[c], 0.0f);
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void BiasActivation(bool activate, Activation act, int64_t rows, int64_t cols, const float* bias,
                    float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * cols;
    if (!activate) {
      BiasRow(cols, bias, row);
    } else if (act == Activation::kRelu) {
      BiasReluRow(cols, bias, row);
    } else {
      BiasRow(cols, bias, row);
      ActivationForward(act, cols, row, row);
    }
  }
}

void ActivationForward(Activation act, int64_t n, const float* x, float* y) {
  switch (act) {
    case Activation::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f);
      break;
    case Activation::kTanh:
      for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Activation::kSigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = Sigmoid(x[i]);
      break;
  }
}

void ActivationBackward(Activation act, int64_t n, const float* y, const float* dy, float* dx) {
  switch (act) {
    case Activation::kRelu:
      for (int64_t i = 0; i < n; ++i) {
        const float g = dy[i];  // loaded unconditionally so that the select vectorises
        dx[i] = y[i] > 0.0f ? g : 0.0f;
      }
      break;
    case Activation::kTanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
    case Activation::kSigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      break;
  }
}

void BiasGrad(int64_t rows, int64_t cols, const float* __restrict dy, float* __restrict db) {
  std::fill(db, db + cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict row = dy + r * cols;
    for (int64_t c = 0; c < cols; ++c) db[c] += row[c];
  }
}

double SoftmaxXent(int64_t rows, int64_t classes, const float* logits, const int32_t* labels,
                   float scale, float* dlogits) {
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= classes) return -1;
  }
  double loss = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * classes;
    const int32_t label = labels[r];
    const float max = *std::max_element(x, x + classes);
    const float shifted_label = x[label] - max;
    float sum = 0;
    if (dlogits == nullptr) {
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(x[c] - max);
    } else {
      // Written before the scale pass so that dlogits may alias logits.
      float* g = dlogits + r * classes;
      for (int64_t c = 0; c < classes; ++c) {
        g[c] = std::exp(x[c] - max);
        sum += g[c];
      }
      const float k = scale / sum;
      for (int64_t c = 0; c < classes; ++c) g[c] *= k;
      g[label] -= scale;
    }
    loss += std::log(static_cast<double>(sum)) - shifted_label;
  }
  return loss;
}

int32_t CountCorrect(int64_t rows, int64_t classes, const float* logits, const int32_t* labels) {
  int32_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * classes;
    correct += static_cast<int32_t>(std::max_element(x, x + classes) - x) == labels[r];
  }
  return correct;
}

void Fill(int64_t n, float value, float* x) { std::fill(x, x + n, value); }

void Axpy(int64_t n, float alpha, const float* __restrict x, float* __restrict y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void Scale(int64_t n, float alpha, float* x) {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

void SgdMomentum(int64_t n, float lr, float momentum, float weight_decay,
                 const float* __restrict grad, float* __restrict velocity,
                 float* __restrict param) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = momentum * velocity[i] + (grad[i] + weight_decay * param[i]);
    velocity[i] = v;
    param[i] -= lr * v;
  }
}

bool EmbeddingBagForward(const float* rows, int64_t num_rows, int64_t dim, const int32_t* index,
                         const float* weights, const int32_t* bag_offsets, int64_t num_bags,
                         bool mean, float* out) {
  for (int64_t b = 0; b < num_bags; ++b) {
    float* __restrict__ y = out + b * dim;
    for (int64_t d = 0; d < dim; ++d) y[d] = 0.0f;
    const int32_t begin = bag_offsets[b], end = bag_offsets[b + 1];
    for (int32_t j = begin; j < end; ++j) {
      const int32_t r = index[j];
      if (r < 0 || r >= num_rows) return false;
      const float w = weights == nullptr ? 1.0f : weights[j];
      const float* __restrict__ x = rows + int64_t{r} * dim;
      for (int64_t d = 0; d < dim; ++d) y[d] += w * x[d];
    }
    if (mean && end > begin) {
      const float inv = 1.0f / static_cast<float>(end - begin);
      for (int64_t d = 0; d < dim; ++d) y[d] *= inv;
    }
  }
  return true;
}

bool EmbeddingBagBackward(const float* dout, int64_t num_rows, int64_t dim, const int32_t* index,
                          const float* weights, const int32_t* bag_offsets, int64_t num_bags,
                          bool mean, float* drows) {
  for (int64_t b = 0; b < num_bags; ++b) {
    const float* __restrict__ g = dout + b * dim;
    const int32_t begin = bag_offsets[b], end = bag_offsets[b + 1];
    const float scale = mean && end > begin ? 1.0f / static_cast<float>(end - begin) : 1.0f;
    for (int32_t j = begin; j < end; ++j) {
      const int32_t r = index[j];
      if (r < 0 || r >= num_rows) return false;
      const float w = (weights == nullptr ? 1.0f : weights[j]) * scale;
      float* __restrict__ x = drows + int64_t{r} * dim;
      for (int64_t d = 0; d < dim; ++d) x[d] += w * g[d];
    }
  }
  return true;
}

}  // namespace psd::kernels::cpu
