#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// y = E + A * x^-alpha
// Hestness et al. 2017, "Deep Learning Scaling is Predictable, Empirically" (arXiv:1712.00409).
struct PowerLaw : LogInputs<PowerLaw, 1> {
  static constexpr const char* name = "power_law";
  static constexpr const char* formula = "E + A * x^-alpha";
  static constexpr const char* citation =
      "Hestness et al. 2017, Deep Learning Scaling is Predictable, Empirically, arXiv:1712.00409";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"E", "A", "alpha"};
  static constexpr const char* inputs[D] = {"x"};
  static constexpr double lower[P] = {-kInf, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, 10.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR};
  static constexpr bool linear[P] = {true, true, false};
  static constexpr int amplitude[P] = {-1, -1, 1};
  static constexpr Axis grid[P] = {{1, {0.0}}, {1, {1.0}}, {6, {0.05, 0.15, 0.3, 0.6, 1.0, 2.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0; }
  // x^-alpha from log x: the one place the power is computed (eval_prepared and term share it).
  template <class T>
  LAWFIT_HD static T inv_pow(T lx, T alpha) {
    return vm::exp(-alpha * lx);
  }
  // (eval_t: the evaluation on any number type T, double or the vector lanes' 4 doubles; law.hpp)
  template <class T>
  LAWFIT_HD static T eval_t(const T* xp, const T* p, T* g) {
    const T lx = xp[0];
    const T t = inv_pow(lx, p[2]);  // x^-alpha
    if (g) {
      g[0] = T{} + 1.0;
      g[1] = t;
      g[2] = -p[1] * t * lx;
    }
    return p[0] + p[1] * t;
  }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) { return eval_t(xp, p, g); }
  // Separable (law.hpp): E + [A x^-alpha], bit-identical to eval.
  static constexpr bool separable = true;
  LAWFIT_HD static double constant(const double* p) { return p[0]; }
  LAWFIT_HD static double term(int, double x, const double* p) { return p[1] * inv_pow(std::log(x), p[2]); }
};

}  // namespace lawfit::laws
