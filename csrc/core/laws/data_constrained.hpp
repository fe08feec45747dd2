#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Data-constrained scaling law: L(N, D, U) = E + A / N'^alpha + B / D'^beta with effective data and parameters
//   U_D = min(U, D),  R_D = D/U_D - 1,  D' = U_D + U_D * RD * (1 - exp(-R_D/RD))
//   U_N = min(N, N_opt(U_D)),  R_N = N/U_N - 1,  N' = U_N + U_N * RN * (1 - exp(-R_N/RN))
// where N_opt(U) = (alpha*A/(beta*B))^(1/alpha) * U^(beta/alpha) is the compute-optimal model size for U tokens
// under the law's own Chinchilla allocation (= 0.051*U for the paper's fit). U is the number of unique tokens
// (U >= D: a single epoch, D' = D). Muennighoff et al. 2023, "Scaling Data-Constrained Language Models"
// (arXiv:2305.16264); their fit: A=521, B=1488, E=1.87, alpha=beta=0.353, RN=5.3, RD=15.4 (RN, RD
// are the paper's R_N*, R_D*). Only E enters linearly: A and B also move N_opt. The min() makes the law
// piecewise smooth; the gradient is the one of the active branch.
struct DataConstrained {
  static constexpr const char* name = "data_constrained";
  static constexpr const char* formula =
      "E + A/N'^alpha + B/D'^beta, D' = U_D*(1 + RD*(1 - exp(-R_D/RD))), N' = U_N*(1 + RN*(1 - exp(-R_N/RN)))";
  static constexpr const char* citation =
      "Muennighoff et al. 2023, Scaling Data-Constrained Language Models, arXiv:2305.16264";
  static constexpr int P = 7, D = 3;
  static constexpr const char* params[P] = {"E", "A", "B", "alpha", "beta", "RN", "RD"};
  static constexpr const char* inputs[D] = {"N", "D", "U"};
  static constexpr double lower[P] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, 3.0, 3.0, 1e4, 1e4};
  static constexpr Scale scale[P] = {LOG, LOG, LOG, LINEAR, LINEAR, LOG, LOG};
  static constexpr bool linear[P] = {true, false, false, false, false, false, false};
  static constexpr Axis grid[P] = {{1, {1.0}},
                                   {3, {1e2, 1e3, 1e4}},
                                   {3, {1e2, 1e3, 1e4}},
                                   {3, {0.2, 0.35, 0.5}},
                                   {3, {0.2, 0.35, 0.5}},
                                   {2, {2.0, 10.0}},
                                   {2, {5.0, 30.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0 && x[1] > 0.0 && x[2] > 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double N = x[0], Dt = x[1];
    const double E = p[0], A = p[1], B = p[2], al = p[3], be = p[4], RN = p[5], RD = p[6];
    // Effective data.
    const double UD = Dt < x[2] ? Dt : x[2];
    const double rd = Dt / UD - 1.0;
    const double ed = std::exp(-rd / RD);
    const double Dp = UD * (1.0 + RD * (1.0 - ed));
    // Effective parameters. ln N_opt = (ln(alpha*A/(beta*B)) + beta*ln U_D) / alpha.
    const double lK = std::log(al * A / (be * B));
    const double lU = std::log(UD);
    const double lNopt = (lK + be * lU) / al;
    const bool capped = std::log(N) > lNopt;
    const double UN = capped ? std::exp(lNopt) : N;
    const double rn = capped ? N / UN - 1.0 : 0.0;
    const double en = std::exp(-rn / RN);
    const double Np = UN * (1.0 + RN * (1.0 - en));
    const double lNp = std::log(Np), lDp = std::log(Dp);
    const double tn = std::exp(-al * lNp);  // N'^-alpha
    const double td = std::exp(-be * lDp);  // D'^-beta
    if (g) {
      const double dLdNp = -al * A * tn / Np;
      const double dLdDp = -be * B * td / Dp;
      // dN'/d(ln U_N) (zero when not capped: U_N = N does not depend on the parameters).
      const double dNp_dlUN = capped ? UN * (1.0 + RN * (1.0 - en) - en * (rn + 1.0)) : 0.0;
      const double dlUN_dA = 1.0 / (al * A);
      const double dlUN_dB = -1.0 / (al * B);
      const double dlUN_dal = (1.0 - lK - be * lU) / (al * al);
      const double dlUN_dbe = (lU - 1.0 / be) / al;
      g[0] = 1.0;
      g[1] = tn + dLdNp * dNp_dlUN * dlUN_dA;
      g[2] = td + dLdNp * dNp_dlUN * dlUN_dB;
      g[3] = -A * tn * lNp + dLdNp * dNp_dlUN * dlUN_dal;
      g[4] = -B * td * lDp + dLdNp * dNp_dlUN * dlUN_dbe;
      g[5] = capped ? dLdNp * UN * ((1.0 - en) - en * rn / RN) : 0.0;
      g[6] = dLdDp * UD * ((1.0 - ed) - ed * rd / RD);
    }
    return E + A * tn + B * td;
  }
};

}  // namespace lawfit::laws
