#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// L(N, D) = [(Nc/N)^(aN/aD) + Dc/D]^aD
// Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361), eq. (1.5)/(4.1); their fit
// is aN = 0.076, aD = 0.103, Nc = 6.4e13, Dc = 1.8e13 (non-embedding parameters, tokens). Nc and Dc are
// optimised in log space.
struct Kaplan {
  static constexpr const char* name = "kaplan";
  static constexpr const char* formula = "[(Nc/N)^(aN/aD) + Dc/D]^aD";
  static constexpr const char* citation =
      "Kaplan et al. 2020, Scaling Laws for Neural Language Models, arXiv:2001.08361, eq. 1.5";
  static constexpr int P = 4, D = 2;
  static constexpr const char* params[P] = {"Nc", "Dc", "aN", "aD"};
  static constexpr const char* inputs[D] = {"N", "D"};
  static constexpr double lower[P] = {0.0, 0.0, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, 5.0, 5.0};
  static constexpr Scale scale[P] = {LOG, LOG, LINEAR, LINEAR};
  static constexpr bool linear[P] = {false, false, false, false};
  static constexpr Axis grid[P] = {{4, {1e8, 1e11, 1e14, 1e17}},
                                   {4, {1e8, 1e11, 1e14, 1e17}},
                                   {4, {0.03, 0.076, 0.2, 0.5}},
                                   {4, {0.03, 0.103, 0.25, 0.6}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0 && x[1] > 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double aN = p[2], aD = p[3];
    const double lr = std::log(p[0]) - std::log(x[0]);  // ln(Nc/N)
    const double r = aN / aD;
    const double u = std::exp(r * lr);  // (Nc/N)^(aN/aD)
    const double v = p[1] / x[1];       // Dc/D
    const double s = u + v;
    const double ls = std::log(s);
    const double L = std::exp(aD * ls);
    if (g) {
      g[0] = L * aN * u / (s * p[0]);
      g[1] = L * aD / (s * x[1]);
      g[2] = L * u * lr / s;
      g[3] = L * (ls - u * lr * r / s);
    }
    return L;
  }
};

}  // namespace lawfit::laws
