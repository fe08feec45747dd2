#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = alpha - (alpha - beta) * exp(-(kappa*t)^delta), t >= 1: the Weibull growth curve as
// used by Domhan, Springenberg and Hutter 2015 (IJCAI 2015). alpha and beta enter linearly; kappa and delta
// are optimised in log space. Domhan's start (.7, .1, .01, 1) is on the grid.
struct Weibull : LogInputs<Weibull, 1> {
  static constexpr const char* name = "weibull";
  static constexpr const char* formula = "alpha - (alpha - beta) * exp(-(kappa*t)^delta)";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 4, D = 1;
  static constexpr const char* params[P] = {"alpha", "beta", "kappa", "delta"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, -kInf, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, 20.0};
  static constexpr Scale scale[P] = {LINEAR, LINEAR, LOG, LOG};
  static constexpr bool linear[P] = {true, true, false, false};
  static constexpr Axis grid[P] = {{1, {0.7}},
                                   {1, {0.1}},
                                   {7, {0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0}},
                                   {5, {0.3, 0.6, 1.0, 1.6, 2.5}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double lk = std::log(p[2]) + xp[0];  // ln(kappa*t)
    const double u = std::exp(p[3] * lk);     // (kappa*t)^delta
    const double e = std::exp(-u);
    if (g) {
      const double ab = p[0] - p[1];
      g[0] = 1.0 - e;
      g[1] = e;
      g[2] = ab * e * u * p[3] / p[2];
      g[3] = ab * e * u * lk;
    }
    return p[0] - (p[0] - p[1]) * e;
  }
};

}  // namespace lawfit::laws
