#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = c - (a*t + b)^-alpha, t >= 1, with a*t + b > 0 over the data.
// Domhan, Springenberg and Hutter 2015 (IJCAI 2015). c enters linearly; a and alpha are optimised in
// log space. The value is NaN where a*t + b <= 0, which the solver treats as a rejected step.
// Domhan's start (.8, 200, 0, .1) is on the grid.
struct Pow4 {
  static constexpr const char* name = "pow4";
  static constexpr const char* formula = "c - (a*t + b)^-alpha";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 4, D = 1;
  static constexpr const char* params[P] = {"c", "a", "b", "alpha"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, 0.0, -kInf, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, 50.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR, LOG};
  static constexpr bool linear[P] = {true, false, false, false};
  static constexpr Axis grid[P] = {{1, {0.8}},
                                   {5, {0.1, 1.0, 10.0, 200.0, 1000.0}},
                                   {3, {0.0, 1.0, 10.0}},
                                   {6, {0.1, 0.25, 0.5, 1.0, 2.0, 4.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double t = x[0];
    const double u = p[1] * t + p[2];
    if (!(u > 0.0)) {
      if (g)
        for (int j = 0; j < P; ++j) g[j] = kNaN;
      return kNaN;
    }
    const double lu = std::log(u);
    const double ua = std::exp(-p[3] * lu);  // u^-alpha
    if (g) {
      const double d = p[3] * ua / u;  // -d(u^-alpha)/du
      g[0] = 1.0;
      g[1] = d * t;
      g[2] = d;
      g[3] = ua * lu;
    }
    return p[0] - ua;
  }
};

}  // namespace lawfit::laws
