#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// L(N, D, r) = E + A/N^alpha + B*r^eta/D^beta + C/(r + eps)^gamma, r in [0, 1] the domain-corpus mixture ratio.
// Que et al. 2024, "D-CPT Law: Domain-specific Continual Pre-Training Scaling Law for Large Language Models"
// (arXiv:2406.01375), the paper's preferred parameterisation. E, A, B and C enter linearly (positive,
// optimised in log space); eps > 0 (log space) keeps the last term finite at r = 0. At r = 0 the B term is 0
// for eta > 0 and not finite otherwise.
struct Dcpt {
  static constexpr const char* name = "dcpt";
  static constexpr const char* formula = "E + A/N^alpha + B*r^eta/D^beta + C/(r + eps)^gamma";
  static constexpr const char* citation =
      "Que et al. 2024, D-CPT Law: Domain-specific Continual Pre-Training Scaling Law for Large Language Models, "
      "arXiv:2406.01375";
  static constexpr int P = 9, D = 3;
  static constexpr const char* params[P] = {"E", "A", "B", "C", "alpha", "beta", "eta", "gamma", "eps"};
  static constexpr const char* inputs[D] = {"N", "D", "r"};
  static constexpr double lower[P] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -5.0, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, kInf, 5.0, 5.0, 5.0, 5.0, 10.0};
  static constexpr Scale scale[P] = {LOG, LOG, LOG, LOG, LINEAR, LINEAR, LINEAR, LINEAR, LOG};
  static constexpr bool linear[P] = {true, true, true, true, false, false, false, false, false};
  static constexpr int amplitude[P] = {-1, -1, -1, -1, 1, 2, 2, 3, 3};
  static constexpr Axis grid[P] = {{1, {1.0}},
                                   {1, {1.0}},
                                   {1, {1.0}},
                                   {1, {1.0}},
                                   {3, {0.1, 0.3, 0.6}},
                                   {3, {0.1, 0.3, 0.6}},
                                   {3, {-0.5, 0.05, 0.5}},
                                   {3, {0.05, 0.3, 1.0}},
                                   {3, {0.003, 0.03, 0.3}}};

  LAWFIT_HD static bool domain(const double* x) {
    return x[0] > 0.0 && x[1] > 0.0 && x[2] >= 0.0 && x[2] <= 1.0;
  }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double ln = std::log(x[0]), ld = std::log(x[1]), r = x[2];
    const double tn = std::exp(-p[4] * ln);  // N^-alpha
    const double td = std::exp(-p[5] * ld);  // D^-beta
    double tr, lr;                           // r^eta, ln r (0 where r = 0 and eta > 0)
    if (r > 0.0) {
      lr = std::log(r);
      tr = std::exp(p[6] * lr);
    } else {
      lr = 0.0;
      tr = p[6] > 0.0 ? 0.0 : kInf;
    }
    const double le = std::log(r + p[8]);
    const double te = std::exp(-p[7] * le);  // (r + eps)^-gamma
    if (g) {
      g[0] = 1.0;
      g[1] = tn;
      g[2] = tr * td;
      g[3] = te;
      g[4] = -p[1] * tn * ln;
      g[5] = -p[2] * tr * td * ld;
      g[6] = p[2] * tr * td * lr;
      g[7] = -p[3] * te * le;
      g[8] = -p[3] * p[7] * te / (r + p[8]);
    }
    return p[0] + p[1] * tn + p[2] * tr * td + p[3] * te;
  }
};

}  // namespace lawfit::laws
