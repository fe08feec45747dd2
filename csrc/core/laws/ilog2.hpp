#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = c - a / ln(t + 1), t >= 1. Domhan, Springenberg and Hutter 2015 (IJCAI 2015);
// LC-PFN (Adriaensen et al. 2023, arXiv:2310.20447). Linear in both parameters, so the default fit is an
// exact least-squares solve followed by LM; Domhan's start (.78, .43) is the grid.
struct Ilog2 : PreparedEval<Ilog2> {
  static constexpr const char* name = "ilog2";
  static constexpr const char* formula = "c - a / ln(t + 1)";
  static constexpr const char* citation =
      "Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
      "Networks by Extrapolation of Learning Curves, IJCAI 2015; LC-PFN: Adriaensen et al. 2023, arXiv:2310.20447";
  static constexpr int P = 2, D = 1;
  static constexpr const char* params[P] = {"c", "a"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, -kInf};
  static constexpr double upper[P] = {kInf, kInf};
  static constexpr Scale scale[P] = {LINEAR, LINEAR};
  static constexpr bool linear[P] = {true, true};
  static constexpr Axis grid[P] = {{1, {0.78}}, {1, {0.43}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  static constexpr int DP = 1;  // prepared input: 1 / ln(t + 1)
  LAWFIT_HD static void prepare(const double* x, double* xp) { xp[0] = 1.0 / std::log1p(x[0]); }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double il = xp[0];
    if (g) {
      g[0] = 1.0;
      g[1] = -il;
    }
    return p[0] - p[1] * il;
  }
};

}  // namespace lawfit::laws
