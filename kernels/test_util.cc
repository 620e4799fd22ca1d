#include "kernels/test_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace psd::kernels::testing {
namespace {

constexpr double u = kUnit;
const int64_t kSizes[] = {1, 7, 33, 257};

std::vector<float> Random(int64_t n, uint64_t seed, float lo = -1, float hi = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<int32_t> RandomLabels(int64_t n, int64_t classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(classes - 1));
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& x : v) x = dist(rng);
  return v;
}

template <typename T>
absl::StatusOr<DeviceBuffer<T>> Upload(Backend& b, const std::vector<T>& host) {
  const int64_t n = static_cast<int64_t>(host.size());
  PSD_ASSIGN_OR_RETURN(DeviceBuffer<T> d, b.AllocateDevice<T>(n));
  PSD_RETURN_IF_ERROR(b.Copy(CopyKind::kHostToDevice, d.data(), host.data(), n));
  return d;
}

template <typename T>
absl::StatusOr<std::vector<T>> Download(Backend& b, const DeviceBuffer<T>& d) {
  std::vector<T> host(static_cast<size_t>(d.size()));
  PSD_RETURN_IF_ERROR(b.Copy(CopyKind::kDeviceToHost, host.data(), d.data(), d.size()));
  return host;
}

// Element (i, j) of op(X) for a row-major X stored with row stride ld.
double At(const std::vector<float>& x, bool trans, int64_t ld, int64_t i, int64_t j) {
  return trans ? x[j * ld + i] : x[i * ld + j];
}

OpCase GemmCase(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t pad, float alpha,
                float beta, uint64_t seed) {
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  auto a = Random(a_rows * std::max<int64_t>(lda, 1), seed);
  auto b = Random(b_rows * std::max<int64_t>(ldb, 1), seed + 1);
  auto c = Random(m * ldc, seed + 2);
  if (beta == 0) {  // beta == 0 must ignore C, NaN included (padding stays finite)
    for (int64_t i = 0; i < m; ++i) {
      std::fill_n(c.begin() + i * ldc, n, std::numeric_limits<float>::quiet_NaN());
    }
  }
  OpCase op;
  op.name = absl::StrFormat("gemm tA=%d tB=%d m=%d n=%d k=%d pad=%d alpha=%g beta=%g", ta, tb, m, n,
                            k, pad, alpha, beta);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto da, Upload(be, a));
    PSD_ASSIGN_OR_RETURN(auto db, Upload(be, b));
    PSD_ASSIGN_OR_RETURN(auto dc, Upload(be, c));
    PSD_RETURN_IF_ERROR(be.Gemm(be.default_stream(), ta, tb, m, n, k, alpha, da.data(),
                                std::max<int64_t>(lda, 1), db.data(), std::max<int64_t>(ldb, 1),
                                beta, dc.data(), std::max<int64_t>(ldc, 1)));
    return Download(be, dc);
  };
  op.expected = [=] {
    Expected e{std::vector<double>(c.begin(), c.end()), std::vector<double>(c.size(), 0.0)};
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0, abs = 0;
        for (int64_t l = 0; l < k; ++l) {
          const double p = At(a, ta, lda, i, l) * At(b, tb, ldb, l, j);
          sum += p;
          abs += std::fabs(p);
        }
        const double old = beta == 0 ? 0.0 : static_cast<double>(c[i * ldc + j]);
        e.value[i * ldc + j] = alpha * sum + beta * old;
        e.bound[i * ldc + j] =
            2 * (k + 2) * u * (std::fabs(alpha) * abs + std::fabs(beta) * std::fabs(old));
      }
    }
    return e;
  };
  return op;
}

double Act(Activation act, double x) {
  switch (act) {
    case Activation::kRelu:
      return std::max(x, 0.0);
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kSigmoid:
      return 1 / (1 + std::exp(-x));
  }
  return x;
}

const char* ActName(std::optional<Activation> act) {
  if (!act) return "none";
  switch (*act) {
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSigmoid:
      return "sigmoid";
  }
  return "?";
}

OpCase BiasActivationCase(std::optional<Activation> act, int64_t rows, int64_t cols,
                          uint64_t seed) {
  auto y = Random(rows * cols, seed, -2, 2);
  auto bias = Random(cols, seed + 1);
  OpCase op;
  op.name = absl::StrFormat("bias+%s rows=%d cols=%d", ActName(act), rows, cols);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto dy, Upload(be, y));
    PSD_ASSIGN_OR_RETURN(auto dbias, Upload(be, bias));
    if (act) {
      PSD_RETURN_IF_ERROR(
          be.BiasActivation(be.default_stream(), *act, rows, cols, dbias.data(), dy.data()));
    } else {
      PSD_RETURN_IF_ERROR(be.BiasAdd(be.default_stream(), rows, cols, dbias.data(), dy.data()));
    }
    return Download(be, dy);
  };
  op.expected = [=] {
    Expected e;
    for (int64_t i = 0; i < rows * cols; ++i) {
      const double x = static_cast<double>(y[i]) + bias[i % cols];
      const double mag = std::fabs(y[i]) + std::fabs(bias[i % cols]);
      const bool smooth = act && *act != Activation::kRelu;
      e.value.push_back(act ? Act(*act, x) : x);
      e.bound.push_back(smooth ? 4 * u * mag + 8 * u : 2 * u * mag);
    }
    return e;
  };
  return op;
}

OpCase ActivationForwardCase(Activation act, int64_t n, bool in_place, uint64_t seed) {
  auto x = Random(n, seed, -4, 4);
  OpCase op;
  op.name =
      absl::StrFormat("activation forward %s n=%d%s", ActName(act), n, in_place ? " in place" : "");
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto dx, Upload(be, x));
    PSD_ASSIGN_OR_RETURN(auto dy, be.AllocateDevice<float>(in_place ? 0 : n));
    float* out = in_place ? dx.data() : dy.data();
    PSD_RETURN_IF_ERROR(be.ActivationForward(be.default_stream(), act, n, dx.data(), out));
    return Download(be, in_place ? dx : dy);
  };
  op.expected = [=] {
    Expected e;
    for (float v : x) {
      e.value.push_back(Act(act, v));
      e.bound.push_back(act == Activation::kRelu ? 0.0 : 8 * u * (1 + std::fabs(v)));
    }
    return e;
  };
  return op;
}

OpCase ActivationBackwardCase(Activation act, int64_t n, bool in_place, uint64_t seed) {
  // y must be an output of the activation: relu gives exact zeros, tanh (-1, 1), sigmoid (0, 1).
  std::vector<float> y = Random(n, seed, -3, 3);
  for (float& v : y) v = static_cast<float>(Act(act, v));
  auto dy = Random(n, seed + 1);
  OpCase op;
  op.name = absl::StrFormat("activation backward %s n=%d%s", ActName(act), n,
                            in_place ? " in place" : "");
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto d_y, Upload(be, y));
    PSD_ASSIGN_OR_RETURN(auto d_dy, Upload(be, dy));
    PSD_ASSIGN_OR_RETURN(auto d_dx, be.AllocateDevice<float>(in_place ? 0 : n));
    float* out = in_place ? d_dy.data() : d_dx.data();
    PSD_RETURN_IF_ERROR(
        be.ActivationBackward(be.default_stream(), act, n, d_y.data(), d_dy.data(), out));
    return Download(be, in_place ? d_dy : d_dx);
  };
  op.expected = [=] {
    Expected e;
    for (int64_t i = 0; i < n; ++i) {
      const double yy = y[i], g = dy[i];
      switch (act) {
        case Activation::kRelu:
          e.value.push_back(yy > 0 ? g : 0.0);
          e.bound.push_back(0);
          break;
        case Activation::kTanh:
          e.value.push_back(g * (1 - yy * yy));
          e.bound.push_back(4 * u * std::fabs(g) * (1 + yy * yy));
          break;
        case Activation::kSigmoid:
          e.value.push_back(g * yy * (1 - yy));
          e.bound.push_back(4 * u * std::fabs(g) * std::fabs(yy) * (1 + std::fabs(yy)));
          break;
      }
    }
    return e;
  };
  return op;
}

OpCase BiasGradCase(int64_t rows, int64_t cols, uint64_t seed) {
  auto dy = Random(rows * cols, seed);
  OpCase op;
  op.name = absl::StrFormat("bias grad rows=%d cols=%d", rows, cols);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto d_dy, Upload(be, dy));
    PSD_ASSIGN_OR_RETURN(auto db, Upload(be, std::vector<float>(cols, 123.0f)));
    PSD_RETURN_IF_ERROR(be.BiasGrad(be.default_stream(), rows, cols, d_dy.data(), db.data()));
    return Download(be, db);
  };
  op.expected = [=] {
    Expected e{std::vector<double>(cols, 0.0), std::vector<double>(cols, 0.0)};
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        e.value[c] += dy[r * cols + c];
        e.bound[c] += 2 * rows * u * std::fabs(dy[r * cols + c]);
      }
    }
    return e;
  };
  return op;
}

enum class GradOut { kSeparate, kInPlace, kNone };

OpCase SoftmaxXentCase(int64_t rows, int64_t classes, float offset, GradOut grad, uint64_t seed) {
  auto logits = Random(rows * classes, seed, offset - 5, offset + 5);
  auto labels = RandomLabels(rows, classes, seed + 1);
  const float scale = 1.0f / static_cast<float>(rows);
  OpCase op;
  op.name =
      absl::StrFormat("softmax xent rows=%d classes=%d offset=%g grad=%s", rows, classes, offset,
                      grad == GradOut::kSeparate  ? "separate"
                      : grad == GradOut::kInPlace ? "in place"
                                                  : "none");
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto d_logits, Upload(be, logits));
    PSD_ASSIGN_OR_RETURN(auto d_labels, Upload(be, labels));
    PSD_ASSIGN_OR_RETURN(auto d_grad,
                         be.AllocateDevice<float>(grad == GradOut::kSeparate ? rows * classes : 0));
    PSD_ASSIGN_OR_RETURN(auto d_loss, be.AllocateDevice<float>(1));
    float* g = grad == GradOut::kSeparate  ? d_grad.data()
               : grad == GradOut::kInPlace ? d_logits.data()
                                           : nullptr;
    PSD_RETURN_IF_ERROR(be.SoftmaxXent(be.default_stream(), rows, classes, d_logits.data(),
                                       d_labels.data(), scale, g, d_loss.data()));
    std::vector<float> out;
    if (grad != GradOut::kNone) {
      PSD_ASSIGN_OR_RETURN(out, Download(be, grad == GradOut::kSeparate ? d_grad : d_logits));
    }
    PSD_ASSIGN_OR_RETURN(std::vector<float> loss, Download(be, d_loss));
    out.push_back(loss[0]);
    return out;
  };
  op.expected = [=] {
    Expected e;
    double loss = 0, loss_bound = 2 * u, abs_loss = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = logits.data() + r * classes;
      const double max = *std::max_element(x, x + classes);
      const double range = max - *std::min_element(x, x + classes);
      double sum = 0;
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(x[c] - max);
      const double row_loss = std::log(sum) - (x[labels[r]] - max);
      loss += row_loss;
      abs_loss += std::fabs(row_loss);
      loss_bound += 2 * u * (2 * range + classes + 4);
      for (int64_t c = 0; c < classes && grad != GradOut::kNone; ++c) {
        const double p = std::exp(x[c] - max) / sum;
        e.value.push_back((p - (c == labels[r] ? 1 : 0)) * scale);
        e.bound.push_back(scale * (2 * u * p * (2 * range + classes + 8) + 2 * u));
      }
    }
    e.value.push_back(loss);
    e.bound.push_back(loss_bound + 2 * rows * u * abs_loss);
    return e;
  };
  return op;
}

OpCase CountCorrectCase(int64_t rows, int64_t classes, bool ties, uint64_t seed) {
  auto logits = Random(rows * classes, seed, -3, 3);
  if (ties) {
    for (float& x : logits) x = std::round(x);  // many equal maxima: the first one counts
  }
  auto labels = RandomLabels(rows, classes, seed + 1);
  for (int64_t r = 0; r < rows; r += 2) {
    const float* x = logits.data() + r * classes;
    labels[r] = static_cast<int32_t>(std::max_element(x, x + classes) - x);
  }
  OpCase op;
  op.name =
      absl::StrFormat("count correct rows=%d classes=%d%s", rows, classes, ties ? " ties" : "");
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto d_logits, Upload(be, logits));
    PSD_ASSIGN_OR_RETURN(auto d_labels, Upload(be, labels));
    PSD_ASSIGN_OR_RETURN(auto d_correct, be.AllocateDevice<int32_t>(1));
    PSD_RETURN_IF_ERROR(be.CountCorrect(be.default_stream(), rows, classes, d_logits.data(),
                                        d_labels.data(), d_correct.data()));
    PSD_ASSIGN_OR_RETURN(std::vector<int32_t> correct, Download(be, d_correct));
    return std::vector<float>{static_cast<float>(correct[0])};
  };
  op.expected = [=] {
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = logits.data() + r * classes;
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c) best = x[c] > x[best] ? c : best;
      correct += best == labels[r];
    }
    return Expected{{static_cast<double>(correct)}, {0.0}};
  };
  return op;
}

OpCase FillCase(int64_t n) {
  OpCase op;
  op.name = absl::StrFormat("fill n=%d", n);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto x, be.AllocateDevice<float>(n));
    PSD_RETURN_IF_ERROR(be.Fill(be.default_stream(), n, -2.5f, x.data()));
    return Download(be, x);
  };
  op.expected = [=] { return Expected{std::vector<double>(n, -2.5), std::vector<double>(n, 0.0)}; };
  return op;
}

OpCase AxpyCase(int64_t n, uint64_t seed) {
  auto x = Random(n, seed), y = Random(n, seed + 1);
  const float alpha = -0.7f;
  OpCase op;
  op.name = absl::StrFormat("axpy n=%d", n);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto dx, Upload(be, x));
    PSD_ASSIGN_OR_RETURN(auto dy, Upload(be, y));
    PSD_RETURN_IF_ERROR(be.Axpy(be.default_stream(), n, alpha, dx.data(), dy.data()));
    return Download(be, dy);
  };
  op.expected = [=] {
    Expected e;
    for (int64_t i = 0; i < n; ++i) {
      e.value.push_back(static_cast<double>(y[i]) + double{alpha} * x[i]);
      e.bound.push_back(2 * u * (std::fabs(y[i]) + std::fabs(alpha * x[i])));
    }
    return e;
  };
  return op;
}

OpCase ScaleCase(int64_t n, uint64_t seed) {
  auto x = Random(n, seed);
  const float alpha = 1.3f;
  OpCase op;
  op.name = absl::StrFormat("scale n=%d", n);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto dx, Upload(be, x));
    PSD_RETURN_IF_ERROR(be.Scale(be.default_stream(), n, alpha, dx.data()));
    return Download(be, dx);
  };
  op.expected = [=] {
    Expected e;
    for (float v : x) {
      e.value.push_back(double{alpha} * v);
      e.bound.push_back(2 * u * std::fabs(alpha * v));
    }
    return e;
  };
  return op;
}

OpCase SgdMomentumCase(int64_t n, float weight_decay, uint64_t seed) {
  auto g = Random(n, seed), v = Random(n, seed + 1), p = Random(n, seed + 2);
  const float lr = 0.1f, momentum = 0.9f;
  OpCase op;
  op.name = absl::StrFormat("sgd momentum n=%d wd=%g", n, weight_decay);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto dg, Upload(be, g));
    PSD_ASSIGN_OR_RETURN(auto dv, Upload(be, v));
    PSD_ASSIGN_OR_RETURN(auto dp, Upload(be, p));
    PSD_RETURN_IF_ERROR(be.SgdMomentum(be.default_stream(), n, lr, momentum, weight_decay,
                                       dg.data(), dv.data(), dp.data()));
    PSD_ASSIGN_OR_RETURN(std::vector<float> out, Download(be, dv));
    PSD_ASSIGN_OR_RETURN(std::vector<float> params, Download(be, dp));
    out.insert(out.end(), params.begin(), params.end());
    return out;
  };
  op.expected = [=] {
    Expected e;
    std::vector<double> pv, pb;
    for (int64_t i = 0; i < n; ++i) {
      const double nv = double{momentum} * v[i] + (g[i] + double{weight_decay} * p[i]);
      const double bv =
          4 * u * (std::fabs(momentum * v[i]) + std::fabs(g[i]) + std::fabs(weight_decay * p[i]));
      e.value.push_back(nv);
      e.bound.push_back(bv);
      pv.push_back(p[i] - double{lr} * nv);
      pb.push_back(4 * u * (std::fabs(p[i]) + lr * std::fabs(nv)) + lr * bv);
    }
    e.value.insert(e.value.end(), pv.begin(), pv.end());
    e.bound.insert(e.bound.end(), pb.begin(), pb.end());
    return e;
  };
  return op;
}

}  // namespace

std::vector<OpCase> GemmCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 100;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (int64_t m : kSizes) {
        for (int64_t n : kSizes) {
          for (int64_t k : kSizes) cases.push_back(GemmCase(ta, tb, m, n, k, 0, 1, 0, ++seed));
        }
      }
      // Padded rows, alpha and beta, an empty inner dimension, an empty result.
      cases.push_back(GemmCase(ta, tb, 33, 7, 257, 3, -0.5f, 0.75f, ++seed));
      cases.push_back(GemmCase(ta, tb, 64, 130, 20, 5, 2.0f, 1.0f, ++seed));
      cases.push_back(GemmCase(ta, tb, 7, 33, 0, 0, 1.0f, 0.5f, ++seed));
      cases.push_back(GemmCase(ta, tb, 0, 33, 7, 0, 1.0f, 0.0f, ++seed));
    }
  }
  return cases;
}

std::vector<OpCase> BiasActivationCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 1000;
  for (std::optional<Activation> act :
       {std::optional<Activation>(), std::optional<Activation>(Activation::kRelu),
        std::optional<Activation>(Activation::kTanh),
        std::optional<Activation>(Activation::kSigmoid)}) {
    for (int64_t rows : kSizes) {
      for (int64_t cols : kSizes) cases.push_back(BiasActivationCase(act, rows, cols, ++seed));
    }
  }
  return cases;
}

std::vector<OpCase> ActivationCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 2000;
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{33}, int64_t{257}, int64_t{100003}}) {
      for (bool in_place : {false, true}) {
        cases.push_back(ActivationForwardCase(act, n, in_place, ++seed));
        cases.push_back(ActivationBackwardCase(act, n, in_place, ++seed));
      }
    }
  }
  return cases;
}

namespace {

// num_bags bags of 0 to max_len entries drawn from num_rows rows (few rows: many repeats).
OpCase EmbeddingBagCase(int64_t num_rows, int64_t dim, int64_t num_bags, int max_len, bool weighted,
                        bool mean, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> offsets = {0};
  std::vector<int32_t> index;
  for (int64_t b = 0; b < num_bags; ++b) {
    const int len = static_cast<int>(rng() % static_cast<uint64_t>(max_len + 1));
    for (int i = 0; i < len; ++i) {
      index.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(num_rows)));
    }
    offsets.push_back(static_cast<int32_t>(index.size()));
  }
  const int64_t n = static_cast<int64_t>(index.size());
  const auto rows = Random(num_rows * dim, seed + 1);
  const auto dout = Random(num_bags * dim, seed + 2);
  const auto weights = weighted ? Random(n, seed + 3, -2, 2) : std::vector<float>();
  OpCase op;
  op.name = absl::StrFormat("embedding bags rows=%d dim=%d bags=%d n=%d weighted=%d mean=%d",
                            num_rows, dim, num_bags, n, weighted, mean);
  op.run = [=](Backend& be) -> absl::StatusOr<std::vector<float>> {
    PSD_ASSIGN_OR_RETURN(auto d_rows, Upload(be, rows));
    PSD_ASSIGN_OR_RETURN(auto d_dout, Upload(be, dout));
    PSD_ASSIGN_OR_RETURN(auto d_index, Upload(be, index));
    PSD_ASSIGN_OR_RETURN(auto d_weights, Upload(be, weights));
    PSD_ASSIGN_OR_RETURN(auto d_offsets, Upload(be, offsets));
    PSD_ASSIGN_OR_RETURN(auto d_out, be.AllocateDevice<float>(num_bags * dim));
    PSD_ASSIGN_OR_RETURN(auto d_drows, be.AllocateDevice<float>(num_rows * dim));
    const float* w = weighted ? d_weights.data() : nullptr;
    const Stream& s = be.default_stream();
    PSD_RETURN_IF_ERROR(be.EmbeddingBagForward(s, d_rows.data(), num_rows, dim, d_index.data(), w,
                                               d_offsets.data(), num_bags, mean, d_out.data()));
    PSD_RETURN_IF_ERROR(be.Fill(s, num_rows * dim, 0.0f, d_drows.data()));
    PSD_RETURN_IF_ERROR(be.EmbeddingBagBackward(s, d_dout.data(), num_rows, dim, d_index.data(), w,
                                                d_offsets.data(), num_bags, mean, d_drows.data()));
    PSD_ASSIGN_OR_RETURN(std::vector<float> out, Download(be, d_out));
    PSD_ASSIGN_OR_RETURN(std::vector<float> drows, Download(be, d_drows));
    out.insert(out.end(), drows.begin(), drows.end());
    return out;
  };
  op.expected = [=] {
    const int64_t bags_size = num_bags * dim;
    Expected e{std::vector<double>(static_cast<size_t>(bags_size + num_rows * dim), 0.0),
               std::vector<double>(static_cast<size_t>(bags_size + num_rows * dim), 0.0)};
    std::vector<double> abs_sum(e.value.size(), 0.0);
    std::vector<int64_t> terms(e.value.size(), 0);
    for (int64_t b = 0; b < num_bags; ++b) {
      const int32_t begin = offsets[b], end = offsets[b + 1];
      const double scale = mean && end > begin ? 1.0 / (end - begin) : 1.0;
      for (int32_t j = begin; j < end; ++j) {
        const double w = (weighted ? weights[j] : 1.0) * scale;
        for (int64_t d = 0; d < dim; ++d) {
          const size_t o = static_cast<size_t>(b * dim + d);
          e.value[o] += w * rows[index[j] * dim + d];
          abs_sum[o] += std::abs(w * rows[index[j] * dim + d]);
          terms[o] = end - begin;
          const size_t g = static_cast<size_t>(bags_size + index[j] * dim + d);
          e.value[g] += w * dout[b * dim + d];
          abs_sum[g] += std::abs(w * dout[b * dim + d]);
          ++terms[g];
        }
      }
    }
    for (size_t i = 0; i < e.value.size(); ++i) {
      e.bound[i] = 2.0 * static_cast<double>(terms[i] + 2) * u * abs_sum[i];
    }
    return e;
  };
  return op;
}

}  // namespace

std::vector<OpCase> EmbeddingBagCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 7000;
  for (int64_t dim : {int64_t{1}, int64_t{16}, int64_t{33}}) {
    for (bool weighted : {false, true}) {
      for (bool mean : {false, true}) {
        cases.push_back(EmbeddingBagCase(5, dim, 40, 6, weighted, mean, ++seed));
        cases.push_back(EmbeddingBagCase(1000, dim, 257, 30, weighted, mean, ++seed));
      }
    }
  }
  // Many bags (the CUDA grid-stride loop) and rows shared by thousands of entries.
  cases.push_back(EmbeddingBagCase(3, 16, 20000, 3, true, false, ++seed));
  cases.push_back(EmbeddingBagCase(1, 1, 1, 0, false, true, ++seed));  // one empty bag
  return cases;
}

std::vector<OpCase> BiasGradCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 3000;
  for (int64_t rows :
       {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{33}, int64_t{257}, int64_t{1000}}) {
    for (int64_t cols : kSizes) cases.push_back(BiasGradCase(rows, cols, ++seed));
  }
  return cases;
}

std::vector<OpCase> SoftmaxXentCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 4000;
  for (int64_t rows : kSizes) {
    for (int64_t classes : {1, 2, 10, 33, 257, 1000}) {
      cases.push_back(SoftmaxXentCase(rows, classes, 0, GradOut::kSeparate, ++seed));
    }
  }
  // Logits far from zero: the max-subtracted form neither overflows nor underflows.
  for (float offset : {1000.0f, -1000.0f}) {
    cases.push_back(SoftmaxXentCase(33, 10, offset, GradOut::kSeparate, ++seed));
  }
  cases.push_back(SoftmaxXentCase(257, 10, 0, GradOut::kInPlace, ++seed));
  cases.push_back(SoftmaxXentCase(257, 33, 0, GradOut::kNone, ++seed));
  return cases;
}

std::vector<OpCase> CountCorrectCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 5000;
  for (int64_t rows : kSizes) {
    for (int64_t classes : {1, 2, 10, 33, 257}) {
      for (bool ties : {false, true}) {
        cases.push_back(CountCorrectCase(rows, classes, ties, ++seed));
      }
    }
  }
  return cases;
}

std::vector<OpCase> ElementwiseCases() {
  std::vector<OpCase> cases;
  uint64_t seed = 6000;
  // (1 << 24) + 33 elements reach the CUDA kernels' grid-stride loop (65536 blocks x 256).
  for (int64_t n : {int64_t{1}, int64_t{257}, (int64_t{1} << 24) + 33})
    cases.push_back(FillCase(n));
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{33}, int64_t{257}, int64_t{100003}}) {
    cases.push_back(AxpyCase(n, ++seed));
    cases.push_back(ScaleCase(n, ++seed));
    cases.push_back(SgdMomentumCase(n, 0.0f, ++seed));
    cases.push_back(SgdMomentumCase(n, 1e-4f, ++seed));
  }
  return cases;
}

std::string Compare(const std::vector<float>& got, const Expected& want, double slack) {
  if (got.size() != want.value.size()) {
    return absl::StrCat("size ", got.size(), ", want ", want.value.size());
  }
  double worst = 0;
  size_t worst_i = 0;
  bool failed = false;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want.value[i]);
    const double allowed = slack * want.bound[i] + 1e-30;
    const double ratio = std::isnan(err) ? std::numeric_limits<double>::infinity() : err / allowed;
    if (ratio > 1 && (!failed || ratio > worst)) {
      failed = true;
      worst = ratio;
      worst_i = i;
    }
  }
  if (!failed) return "";
  return absl::StrFormat("element %d: got %.9g, want %.9g, |error| %.3g > bound %.3g", worst_i,
                         got[worst_i], want.value[worst_i],
                         std::fabs(got[worst_i] - want.value[worst_i]),
                         slack * want.bound[worst_i]);
}

}  // namespace psd::kernels::testing
