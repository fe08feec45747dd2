#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// L(N, M) = alpha * N^b + beta * 6^(b/2) * (M*N)^b + E with M = D/N the token multiplier (so M*N = D), b < 0.
// Gadre et al. 2024, "Language models scale reliably with over-training and on downstream tasks"
// (arXiv:2403.08540); equivalent to L(C, M) = E + (a*M^eta + b'*M^-eta) * C^-eta with C = 6ND and
// eta = -b/2. alpha, beta and E enter linearly (optimised in log space, they are positive); M is computed
// from the inputs N and D.
struct Overtrain {
  static constexpr const char* name = "overtrain";
  static constexpr const char* formula = "alpha * N^b + beta * 6^(b/2) * (M*N)^b + E, M = D/N";
  static constexpr const char* citation =
      "Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks, "
      "arXiv:2403.08540";
  static constexpr int P = 4, D = 2;
  static constexpr const char* params[P] = {"alpha", "beta", "b", "E"};
  static constexpr const char* inputs[D] = {"N", "D"};
  static constexpr double lower[P] = {0.0, 0.0, -5.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, 0.0, kInf};
  static constexpr Scale scale[P] = {LOG, LOG, LINEAR, LOG};
  static constexpr bool linear[P] = {true, true, false, true};
  static constexpr Axis grid[P] = {
      {1, {1.0}}, {1, {1.0}}, {8, {-0.05, -0.1, -0.2, -0.3, -0.45, -0.7, -1.0, -1.5}}, {1, {1.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0 && x[1] > 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double ln = std::log(x[0]);
    const double lmn = std::log(x[1] / x[0]) + ln;  // ln(M*N)
    const double l6 = 0.5 * std::log(6.0);
    const double tn = std::exp(p[2] * ln);          // N^b
    const double td = std::exp(p[2] * (l6 + lmn));  // 6^(b/2) * (M*N)^b
    if (g) {
      g[0] = tn;
      g[1] = td;
      g[2] = p[0] * tn * ln + p[1] * td * (l6 + lmn);
      g[3] = 1.0;
    }
    return p[0] * tn + p[1] * td + p[3];
  }
};

}  // namespace lawfit::laws
