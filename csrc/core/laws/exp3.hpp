#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = c - exp(-a*t + b), t >= 1 (a > 0: rises to the asymptote c).
// Domhan, Springenberg and Hutter 2015 (IJCAI 2015). c enters linearly, a is optimised in log space.
// Domhan's start (.7, .01, -1) is on the grid.
struct Exp3 {
  static constexpr const char* name = "exp3";
  static constexpr const char* formula = "c - exp(-a*t + b)";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"c", "a", "b"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, 0.0, -kInf};
  static constexpr double upper[P] = {kInf, kInf, kInf};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR};
  static constexpr bool linear[P] = {true, false, false};
  static constexpr Axis grid[P] = {{1, {0.7}},
                                   {7, {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0}},
                                   {4, {-3.0, -1.0, 0.0, 1.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double t = x[0];
    const double e = std::exp(-p[1] * t + p[2]);
    if (g) {
      g[0] = 1.0;
      g[1] = t * e;
      g[2] = -e;
    }
    return p[0] - e;
  }
};

}  // namespace lawfit::laws
