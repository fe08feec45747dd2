#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = ln(a*ln(t) + b), t >= 1, with a*ln(t) + b > 0 over the data (so b = exp(y(1)) > 0,
// optimised in log space). Domhan, Springenberg and Hutter 2015 (IJCAI 2015); Domhan's start (1, 1) is on
// the grid. The value is NaN where a*ln(t) + b <= 0.
struct LogLogLinear : LogInputs<LogLogLinear, 1> {
  static constexpr const char* name = "loglog_linear";
  static constexpr const char* formula = "ln(a*ln(t) + b)";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 2, D = 1;
  static constexpr const char* params[P] = {"a", "b"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, 0.0};
  static constexpr double upper[P] = {kInf, kInf};
  static constexpr Scale scale[P] = {LINEAR, LOG};
  static constexpr bool linear[P] = {false, false};
  static constexpr Axis grid[P] = {{6, {-0.1, 0.0, 0.1, 0.3, 1.0, 3.0}}, {5, {0.3, 0.6, 1.0, 2.0, 5.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double l = xp[0];
    const double u = p[0] * l + p[1];
    if (!(u > 0.0)) {
      if (g)
        for (int j = 0; j < P; ++j) g[j] = kNaN;
      return kNaN;
    }
    if (g) {
      g[0] = l / u;
      g[1] = 1.0 / u;
    }
    return std::log(u);
  }
};

}  // namespace lawfit::laws
