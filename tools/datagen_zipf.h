// Zipf-distributed integers in [1, n], P(k) proportional to k^-s, by rejection-inversion
// (Hörmann and Derflinger, "Rejection-inversion to generate variates from monotone discrete
// distributions", 1996): O(1) expected time per draw and O(1) memory for any n (10^8 and
// beyond), no table of n entries.
#ifndef PSD_TOOLS_DATAGEN_ZIPF_H_
#define PSD_TOOLS_DATAGEN_ZIPF_H_

#include <cstdint>

namespace psd::datagen {

class ZipfSampler {
 public:
  // n >= 1, s > 0.
  ZipfSampler(uint64_t n, double s);

  // A draw in [1, n]; `uniform` gives doubles in [0, 1), called once or a few times (the
  // expected number of calls is below 1.2 for every n and s).
  template <typename Uniform>
  uint64_t Sample(Uniform&& uniform) const {
    if (n_ == 1) return 1;
    while (true) {
      const double u = h_integral_n_ + uniform() * (h_integral_x1_ - h_integral_n_);
      const double x = HIntegralInverse(u);
      double kd = x + 0.5;
      if (kd < 1) kd = 1;
      if (kd > static_cast<double>(n_)) kd = static_cast<double>(n_);
      const uint64_t k = static_cast<uint64_t>(kd);
      const double kf = static_cast<double>(k);
      if (kf - x <= threshold_ || u >= HIntegral(kf + 0.5) - H(kf)) return k;
    }
  }

  uint64_t n() const { return n_; }
  double s() const { return s_; }

 private:
  double H(double x) const;          // x^-s
  double HIntegral(double x) const;  // an antiderivative of H
  double HIntegralInverse(double x) const;

  uint64_t n_;
  double s_;
  double h_integral_x1_;
  double h_integral_n_;
  double threshold_;
};

}  // namespace psd::datagen

#endif  // PSD_TOOLS_DATAGEN_ZIPF_H_
