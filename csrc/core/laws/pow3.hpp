#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = c - a * t^-alpha, t >= 1 (epoch or step).
// Domhan, Springenberg and Hutter 2015, "Speeding up Automatic Hyperparameter Optimization of Deep Neural
// Networks by Extrapolation of Learning Curves" (IJCAI 2015); also in LC-PFN (Adriaensen et al. 2023,
// arXiv:2310.20447). c and a enter linearly (a < 0 gives a decreasing curve, e.g. a loss); alpha is
// optimised in log space. Domhan's start (.84, .52, .01) is on the grid.
struct Pow3 : LogInputs<Pow3, 1> {
  static constexpr const char* name = "pow3";
  static constexpr const char* formula = "c - a * t^-alpha";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015; LC-PFN: Adriaensen et al. 2023, arXiv:2310.20447";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"c", "a", "alpha"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, -kInf, 0.0};
  static constexpr double upper[P] = {kInf, kInf, 50.0};
  static constexpr Scale scale[P] = {LINEAR, LINEAR, LOG};
  static constexpr bool linear[P] = {true, true, false};
  static constexpr int amplitude[P] = {-1, -1, 1};
  static constexpr Axis grid[P] = {
      {1, {0.84}}, {1, {0.52}}, {8, {0.01, 0.04, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double l = xp[0];
    const double ta = std::exp(-p[2] * l);  // t^-alpha
    if (g) {
      g[0] = 1.0;
      g[1] = -ta;
      g[2] = p[1] * ta * l;
    }
    return p[0] - p[1] * ta;
  }
};

}  // namespace lawfit::laws
