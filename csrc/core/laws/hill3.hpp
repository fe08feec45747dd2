#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Learning curve y(t) = theta * s / (1 + s), s = (t/kappa)^eta, t >= 1: the Hill equation with three
// parameters as used by Domhan, Springenberg and Hutter 2015 (IJCAI 2015). theta enters linearly; eta and
// kappa are optimised in log space. Domhan's start (.772, .586, 2.461) is on the grid.
struct Hill3 : LogInputs<Hill3, 1> {
  static constexpr const char* name = "hill3";
  static constexpr const char* formula = "theta * s / (1 + s), s = (t/kappa)^eta";
  static constexpr const char* citation =
      "Hill 1910; as a learning curve: Domhan, Springenberg, Hutter 2015, Speeding up Automatic Hyperparameter "
      "Optimization of Deep Neural Networks by Extrapolation of Learning Curves, IJCAI 2015";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"theta", "eta", "kappa"};
  static constexpr const char* inputs[D] = {"t"};
  static constexpr double lower[P] = {-kInf, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, 20.0, kInf};
  static constexpr Scale scale[P] = {LINEAR, LOG, LOG};
  static constexpr bool linear[P] = {true, false, false};
  static constexpr Axis grid[P] = {{1, {0.772}},
                                   {6, {0.2, 0.586, 1.0, 1.5, 2.5, 4.0}},
                                   {6, {0.3, 1.0, 2.461, 6.0, 15.0, 40.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 1.0; }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double lr = xp[0] - std::log(p[2]);  // ln(t/kappa)
    const double h = sigmoid(p[1] * lr);                // s / (1 + s)
    if (g) {
      const double dh = p[0] * h * sigmoid(-p[1] * lr);  // theta * h * (1 - h)
      g[0] = h;
      g[1] = dh * lr;
      g[2] = -dh * p[1] / p[2];
    }
    return p[0] * h;
  }
};

}  // namespace lawfit::laws
