#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// L(N, D) = E + A / N^alpha + B / D^beta
// Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556), approach 3.
// E, A and B are LOG-scaled, so the solver works in Hoffmann's parameterisation (e, a, b) = log(E, A, B)
// and a start grid over (a, b, e, alpha, beta) maps one-to-one onto solver starts.
struct Chinchilla : LogInputs<Chinchilla, 2> {
  static constexpr const char* name = "chinchilla";
  static constexpr const char* formula = "E + A / N^alpha + B / D^beta";
  static constexpr const char* citation =
      "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556";
  static constexpr int P = 5, D = 2;
  static constexpr const char* params[P] = {"E", "A", "B", "alpha", "beta"};
  static constexpr const char* inputs[D] = {"N", "D"};
  static constexpr double lower[P] = {0.0, 0.0, 0.0, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, 5.0, 5.0};
  static constexpr Scale scale[P] = {LOG, LOG, LOG, LINEAR, LINEAR};
  static constexpr bool linear[P] = {true, true, true, false, false};
  static constexpr int amplitude[P] = {-1, -1, -1, 1, 2};
  static constexpr Axis grid[P] = {{1, {1.0}},
                                   {1, {1.0}},
                                   {1, {1.0}},
                                   {4, {0.1, 0.3, 0.5, 1.0}},
                                   {4, {0.1, 0.3, 0.5, 1.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0 && x[1] > 0.0; }
  // x^-e from log x: the one place the powers are computed (eval_prepared and term share it).
  LAWFIT_HD static double inv_pow(double lx, double e) { return std::exp(-e * lx); }
  LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g) {
    const double ln = xp[0], ld = xp[1];
    const double tn = inv_pow(ln, p[3]);  // N^-alpha
    const double td = inv_pow(ld, p[4]);  // D^-beta
    if (g) {
      g[0] = 1.0;
      g[1] = tn;
      g[2] = td;
      g[3] = -p[1] * tn * ln;
      g[4] = -p[2] * td * ld;
    }
    return p[0] + p[1] * tn + p[2] * td;
  }
  // Separable (law.hpp): E + [A N^-alpha] + [B D^-beta], bit-identical to eval.
  static constexpr bool separable = true;
  LAWFIT_HD static double constant(const double* p) { return p[0]; }
  LAWFIT_HD static double term(int k, double x, const double* p) {
    return p[1 + k] * inv_pow(std::log(x), p[3 + k]);
  }
};

}  // namespace lawfit::laws
