// The op test suite shared by the CPU and CUDA backend tests: cases of awkward sizes, each able
// to run on any Backend and to say, from a naive double-precision reference, what the result
// must be and how far float arithmetic may stray from it.
#ifndef PSD_KERNELS_TEST_UTIL_H_
#define PSD_KERNELS_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace psd::kernels::testing {

// Unit roundoff of float: 2^-24.
inline constexpr double kUnit = 1.0 / (1 << 24);

// A correct result r satisfies |r[i] - value[i]| <= bound[i] for every i.
struct Expected {
  std::vector<double> value;
  std::vector<double> bound;
};

struct OpCase {
  std::string name;  // the op and its sizes, e.g. "gemm tA=1 tB=0 m=7 n=33 k=1"
  // Uploads the inputs, runs the op on the default stream and returns its outputs, flattened.
  std::function<absl::StatusOr<std::vector<float>>(Backend&)> run;
  std::function<Expected()> expected;
};

// Bounds, with u = kUnit (each op's cases compute them per element):
//   gemm:              2(k+2)u (|alpha| |A||B| + |beta||C|)
//   bias+relu/add:     2u (|y| + |b|)
//   bias+tanh/sigmoid: 4u (|y| + |b|) + 8u
//   activation fwd:    relu exact; tanh/sigmoid 8u (1 + |x|)
//   activation bwd:    relu exact; tanh 4u|dy|(1 + y^2); sigmoid 4u|dy||y|(1 + |y|)
//   bias grad:         2 rows u sum_r |dy|
//   softmax xent:      dlogits scale (2u p (2D + C + 8) + 2u); loss sum_r 2u (2D + C + 4)
//                      + 2 rows u sum_r loss_r + 2u (C classes, p the softmax, D a row's
//                      max - min logit)
//   count correct, fill: exact
//   axpy, scale:       2u (|y| + |alpha x|), 2u |alpha x|
//   sgd momentum:      v: 4u (|m v| + |g| + |wd p|); p: 4u (|p| + lr |v|) + lr bound(v)
//   embedding bags:    forward 2(n+2)u sum |w x| over a bag's n entries (/ n when mean);
//                      backward 2(n+2)u sum |w g| over a row's n contributions
std::vector<OpCase> GemmCases();
std::vector<OpCase> BiasActivationCases();
std::vector<OpCase> ActivationCases();
std::vector<OpCase> BiasGradCases();
std::vector<OpCase> SoftmaxXentCases();
std::vector<OpCase> CountCorrectCases();
std::vector<OpCase> ElementwiseCases();
// EmbeddingBagForward then EmbeddingBagBackward (outputs: the bags, then the row gradients),
// sum and mean, with and without weights, empty bags and rows shared by many entries.
std::vector<OpCase> EmbeddingBagCases();

// "" when |got[i] - want.value[i]| <= slack * want.bound[i] + 1e-30 for all i; else the worst
// element, its values and its bound.
std::string Compare(const std::vector<float>& got, const Expected& want, double slack = 1.0);

}  // namespace psd::kernels::testing

#endif  // PSD_KERNELS_TEST_UTIL_H_
