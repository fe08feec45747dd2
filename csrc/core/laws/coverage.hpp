#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// c(k) = exp(a * k^b), a < 0, b < 0: coverage (fraction of problems solved by any of k samples).
// Brown et al. 2024, "Large Language Monkeys: Scaling Inference Compute with Repeated Sampling"
// (arXiv:2407.21787). Both parameters are negative; the solver keeps them in their bounds.
struct Coverage {
  static constexpr const char* name = "coverage";
  static constexpr const char* formula = "exp(a * k^b)";
  static constexpr const char* citation =
      "Brown et al. 2024, Large Language Monkeys: Scaling Inference Compute with Repeated Sampling, "
      "arXiv:2407.21787";
  static constexpr int P = 2, D = 1;
  static constexpr const char* params[P] = {"a", "b"};
  static constexpr const char* inputs[D] = {"k"};
  static constexpr double lower[P] = {-kInf, -kInf};
  static constexpr double upper[P] = {0.0, 0.0};
  static constexpr Scale scale[P] = {LINEAR, LINEAR};
  static constexpr bool linear[P] = {false, false};
  static constexpr Axis grid[P] = {{4, {-3.0, -1.0, -0.3, -0.1}}, {4, {-1.0, -0.5, -0.25, -0.1}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double lk = std::log(x[0]);
    const double kb = std::exp(p[1] * lk);
    const double c = std::exp(p[0] * kb);
    if (g) {
      g[0] = c * kb;
      g[1] = c * p[0] * kb * lk;
    }
    return c;
  }
};

// PU(N) = exp(-c * N^-alpha): PassUntil task scaling law (probability of passing vs model size N).
// Hu et al. 2023, "Predicting Emergent Abilities with Infinite Resolution Evaluation" (arXiv:2310.03262).
struct PassUntil {
  static constexpr const char* name = "passuntil";
  static constexpr const char* formula = "exp(-c * N^-alpha)";
  static constexpr const char* citation =
      "Hu et al. 2023, Predicting Emergent Abilities with Infinite Resolution Evaluation, arXiv:2310.03262";
  static constexpr int P = 2, D = 1;
  static constexpr const char* params[P] = {"c", "alpha"};
  static constexpr const char* inputs[D] = {"N"};
  static constexpr double lower[P] = {0.0, 0.0};
  static constexpr double upper[P] = {kInf, 5.0};
  static constexpr Scale scale[P] = {LOG, LINEAR};
  static constexpr bool linear[P] = {false, false};
  static constexpr Axis grid[P] = {{5, {1e0, 1e2, 1e4, 1e6, 1e8}}, {5, {0.05, 0.1, 0.2, 0.4, 0.8}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double ln = std::log(x[0]);
    const double na = std::exp(-p[1] * ln);  // N^-alpha
    const double v = std::exp(-p[0] * na);
    if (g) {
      g[0] = -v * na;
      g[1] = v * p[0] * na * ln;
    }
    return v;
  }
};

}  // namespace lawfit::laws
