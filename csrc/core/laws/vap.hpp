#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = exp(a + b/t + c*ln(t)), t >= 1: the vapor-pressure model as used by Domhan,
// Springenberg and Hutter 2015 (IJCAI 2015). Domhan's start (-.622, -.470, .042) is on the grid.
struct Vap : PreparedEval<Vap> {
  static constexpr const char* name = "vap";
  static constexpr const char* formula = "exp(a + b/t + c*ln(t))";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"a", "b", "c"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, -kInf, -kInf};
  static constexpr double upper[P] = {kInf, kInf, kInf};
  static constexpr Scale scale[P] = {LINEAR, LINEAR, LINEAR};
  static constexpr bool linear[P] = {false, false, false};
  static constexpr Axis grid[P] = {{3, {-2.0, -0.622, 0.5}},
                                   {4, {-3.0, -0.47, 0.0, 1.0}},
                                   {4, {-0.3, 0.0, 0.042, 0.3}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  static constexpr int DP = 2;  // prepared inputs: 1/t, ln t
  LAWFIT_HD static void prepare(const double* x, double* xp) {
    xp[0] = 1.0 / x[0];
    xp[1] = std::log(x[0]);
  }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double it = xp[0], l = xp[1];
    const double f = std::exp(p[0] + p[1] * it + p[2] * l);
    if (g) {
      g[0] = f;
      g[1] = f * it;
      g[2] = f * l;
    }
    return f;
  }
};

}  // namespace lawfit::laws
