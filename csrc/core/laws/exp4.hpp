#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = c - exp(-a*t^alpha + b), t >= 1 (a, alpha > 0, optimised in log space).
// Domhan, Springenberg and Hutter 2015 (IJCAI 2015). c enters linearly. Domhan's start (.7, .8, -.8, .3) is
// on the grid.
struct Exp4 : LogInputs<Exp4, 1> {
  static constexpr const char* name = "exp4";
  static constexpr const char* formula = "c - exp(-a*t^alpha + b)";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 4, D = 1;
  static constexpr const char* params[P] = {"c", "a", "b", "alpha"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, 0.0, -kInf, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, 20.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR, LOG};
  static constexpr bool linear[P] = {true, false, false, false};
  static constexpr Axis grid[P] = {{1, {0.7}},
                                   {5, {0.01, 0.05, 0.2, 0.8, 3.0}},
                                   {3, {-2.0, -0.8, 0.5}},
                                   {5, {0.1, 0.3, 0.6, 1.0, 1.5}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double l = xp[0];
    const double ta = std::exp(p[3] * l);  // t^alpha
    const double e = std::exp(-p[1] * ta + p[2]);
    if (g) {
      g[0] = 1.0;
      g[1] = ta * e;
      g[2] = -e;
      g[3] = p[1] * ta * l * e;
    }
    return p[0] - e;
  }
};

}  // namespace lawfit::laws
