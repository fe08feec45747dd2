#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = a / (1 + exp(c*(ln(t) - b))) = a / (1 + (t/e^b)^c), t >= 1: a logistic in ln t
// (c < 0: increasing). Domhan, Springenberg and Hutter 2015 (IJCAI 2015). a enters linearly; Domhan's start
// (.77, 2.98, -.51) is on the grid.
struct LogPower : LogInputs<LogPower, 1> {
  static constexpr const char* name = "log_power";
  static constexpr const char* formula = "a / (1 + exp(c*(ln(t) - b)))";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"a", "b", "c"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, -kInf, -kInf};
  static constexpr double upper[P] = {kInf, kInf, kInf};
  static constexpr Scale scale[P] = {LINEAR, LINEAR, LINEAR};
  static constexpr bool linear[P] = {true, false, false};
  static constexpr Axis grid[P] = {{1, {0.77}},
                                   {6, {-1.0, 0.5, 1.5, 2.98, 4.5, 7.0}},
                                   {6, {-3.0, -1.0, -0.51, -0.2, 0.3, 1.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double l = xp[0];
    const double z = p[2] * (l - p[1]);
    const double s = sigmoid(-z);  // 1 / (1 + exp(z))
    if (g) {
      const double ds = -p[0] * s * (1.0 - s);  // d(a*s)/dz
      g[0] = s;
      g[1] = -ds * p[2];
      g[2] = ds * (l - p[1]);
    }
    return p[0] * s;
  }
};

}  // namespace lawfit::laws
