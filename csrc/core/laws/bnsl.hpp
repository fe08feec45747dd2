#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Smoothly broken power law with K breaks:
//   y = a + b * x^-c0 * prod_{i=1..K} (1 + (x/d_i)^(1/f_i))^(-c_i * f_i)
// Caballero, Gupta, Rish, Krueger 2022, "Broken Neural Scaling Laws" (arXiv:2210.14891), eq. (1).
// a and b enter linearly (b > 0, optimised in log space); break locations d_i and sharpnesses f_i are
// positive (log space); c0 and the slope changes c_i are free. Evaluated through softplus in log space,
// so very sharp breaks do not overflow.
template <int K>
struct BnslImpl {
  static constexpr int P = 3 + 3 * K, D = 1;

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0; }
  LAWFIT_HD static double softplus(double z) { return (z > 0 ? z : 0.0) + std::log1p(std::exp(-std::fabs(z))); }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double lx = std::log(x[0]);
    double lg = -p[2] * lx;  // log of the power-law part
    double sp[K > 0 ? K : 1], sg[K > 0 ? K : 1], z[K > 0 ? K : 1];
    for (int i = 0; i < K; ++i) {
      const double c = p[3 + 3 * i], d = p[4 + 3 * i], f = p[5 + 3 * i];
      z[i] = (lx - std::log(d)) / f;
      sp[i] = softplus(z[i]);
      sg[i] = sigmoid(z[i]);
      lg -= c * f * sp[i];
    }
    const double G = std::exp(lg);
    if (g) {
      const double bG = p[1] * G;
      g[0] = 1.0;
      g[1] = G;
      g[2] = -bG * lx;
      for (int i = 0; i < K; ++i) {
        const double c = p[3 + 3 * i], d = p[4 + 3 * i], f = p[5 + 3 * i];
        g[3 + 3 * i] = -bG * f * sp[i];
        g[4 + 3 * i] = bG * c * sg[i] / d;
        g[5 + 3 * i] = bG * c * (z[i] * sg[i] - sp[i]);
      }
    }
    return p[0] + p[1] * G;
  }
};

struct Bnsl1 : BnslImpl<1> {
  static constexpr const char* name = "bnsl1";
  static constexpr const char* formula = "a + b * x^-c0 * (1 + (x/d1)^(1/f1))^(-c1*f1)";
  static constexpr const char* citation =
      "Caballero, Gupta, Rish, Krueger 2022, Broken Neural Scaling Laws, arXiv:2210.14891 (one break)";
  static constexpr const char* params[P] = {"a", "b", "c0", "c1", "d1", "f1"};
  static constexpr const char* inputs[D] = {"x"};
  static constexpr double lower[P] = {-kInf, 0.0, -kInf, -kInf, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, kInf, kInf, 100.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR, LINEAR, LOG, LOG};
  static constexpr bool linear[P] = {true, true, false, false, false, false};
  static constexpr int amplitude[P] = {-1, -1, 1, 1, 1, 1};
  static constexpr Axis grid[P] = {{1, {0.0}},
                                   {1, {1.0}},
                                   {3, {0.0, 0.2, 0.5}},
                                   {4, {-0.3, 0.1, 0.4, 1.0}},
                                   {8, {1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e8, 1e10}},
                                   {3, {0.1, 0.5, 2.0}}};
};

struct Bnsl2 : BnslImpl<2> {
  static constexpr const char* name = "bnsl2";
  static constexpr const char* formula =
      "a + b * x^-c0 * (1 + (x/d1)^(1/f1))^(-c1*f1) * (1 + (x/d2)^(1/f2))^(-c2*f2)";
  static constexpr const char* citation =
      "Caballero, Gupta, Rish, Krueger 2022, Broken Neural Scaling Laws, arXiv:2210.14891 (two breaks)";
  static constexpr const char* params[P] = {"a", "b", "c0", "c1", "d1", "f1", "c2", "d2", "f2"};
  static constexpr const char* inputs[D] = {"x"};
  static constexpr double lower[P] = {-kInf, 0.0, -kInf, -kInf, 0.0, 0.0, -kInf, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, kInf, kInf, 100.0, kInf, kInf, 100.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR, LINEAR, LOG, LOG, LINEAR, LOG, LOG};
  static constexpr bool linear[P] = {true, true, false, false, false, false, false, false, false};
  static constexpr int amplitude[P] = {-1, -1, 1, 1, 1, 1, 1, 1, 1};
  static constexpr Axis grid[P] = {{1, {0.0}},
                                   {1, {1.0}},
                                   {2, {0.0, 0.3}},
                                   {2, {-0.3, 0.4}},
                                   {4, {1e1, 1e3, 1e5, 1e7}},
                                   {2, {0.2, 1.0}},
                                   {2, {-0.3, 0.4}},
                                   {4, {1e2, 1e4, 1e6, 1e8}},
                                   {2, {0.2, 1.0}}};
};

}  // namespace lawfit::laws
