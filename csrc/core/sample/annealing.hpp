// Schedule-aware forecasts of loss curves: the posterior of lr_annealing (Tissue et al. 2024),
//   y(s) = L0 + A S1(s)^-alpha - C S2(s) + noise,
// given each curve's observed (S1, S2, y) rows (the schedule integrals of its known learning-rate schedule,
// core/laws/lr_annealing.hpp) and a prior per curve: log alpha ~ N(mu_log_alpha, sd_log_alpha^2),
// C ~ N(mu_C, sd_C^2), flat on L0 and A.
//
// From a short prefix of a run the annealing coefficient C is barely identified (the LR has hardly decayed yet),
// so the prior carries it; the Python layer sets it from reference curves of the sweep (empirical Bayes) or from
// the default in lawfit.schedules. The model is linear in (L0, A, C) given alpha, so the posterior is computed on
// a grid of alpha (log-spaced): for each grid value the Gaussian posterior of (L0, A, C) is exact, and its
// evidence (Laplace-exact for a linear model) weights the grid point. Noise: sigma^2 is the residual variance of
// the best unpenalised fit; the likelihood uses it inflated by (1 + rho) / (1 - rho), rho the lag-1
// autocorrelation of those residuals (clamped to [0, 0.95]), so serially correlated misfit does not make the
// posterior overconfident (an effective sample size n (1 - rho) / (1 + rho)).
//
// Draws: per curve `samples` draws of (L0, A, C, alpha) and of the observation noise sigma N(0, 1), from the
// random stream keyed by (seed, curve key): independent of the thread count and of the other curves.
// Inputs are standardised per curve (y by its mean and sd, the two regressors by their scale) before solving;
// the draws are mapped back. Parallel over curves, no allocation per curve beyond thread-local buffers.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/common.hpp"

namespace lawfit::sample {

struct AnnealingInput {
  const i64* offsets;  // [C+1]
  i64 C;
  const double* S1;  // [n] schedule integrals and values of the observed rows
  const double* S2;
  const double* y;
  const double* mu_log_alpha;  // [C] prior
  const double* sd_log_alpha;
  const double* mu_C;
  const double* sd_C;  // inf: no prior on C
  const std::uint64_t* keys = nullptr;  // [C] stream keys (common.hpp curve_key), or null
};

struct AnnealingOptions {
  int grid = 96;
  double alpha_lo = 0.02, alpha_hi = 4.0;
  i64 samples = 1000;
  std::uint64_t seed = 0;
  int threads = 0;
};

struct AnnealingOutput {
  double* draws;  // [C, samples, 4] (L0, A, C, alpha)
  double* noise;  // [C, samples] observation noise draws (sigma N(0, 1))
  double* sigma;  // [C] residual sd (metric units)
  double* rho;    // [C] lag-1 autocorrelation of the residuals (clamped)
  std::int32_t* status;  // [C]
};

namespace detail {

// Cholesky of a symmetric positive definite 3x3 (row-major, lower factor in L); false if not positive definite.
inline bool chol3(const double* P, double* L) {
  for (int i = 0; i < 9; ++i) L[i] = 0.0;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = P[3 * i + j];
      for (int k = 0; k < j; ++k) s -= L[3 * i + k] * L[3 * j + k];
      if (i == j) {
        if (!(s > 0.0)) return false;
        L[3 * i + i] = std::sqrt(s);
      } else {
        L[3 * i + j] = s / L[3 * j + j];
      }
    }
  }
  return true;
}

// Solve (L L^T) x = b.
inline void chol3_solve(const double* L, const double* b, double* x) {
  double z[3];
  for (int i = 0; i < 3; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= L[3 * i + k] * z[k];
    z[i] = s / L[3 * i + i];
  }
  for (int i = 2; i >= 0; --i) {
    double s = z[i];
    for (int k = i + 1; k < 3; ++k) s -= L[3 * k + i] * x[k];
    x[i] = s / L[3 * i + i];
  }
}

}  // namespace detail

inline void annealing_posterior(const AnnealingInput& in, const AnnealingOptions& opt, const AnnealingOutput& out) {
  const int G = std::max(opt.grid, 2);
  const i64 S = opt.samples;
  parallel_for(in.C, opt.threads, [&](i64 c) {
    thread_local std::vector<double> f1, f2, yc, r, mean, chol, logw, a1s;
    double* dr = out.draws + c * S * 4;
    double* nz = out.noise + c * S;
    auto fail = [&](Status st) {
      for (i64 k = 0; k < S * 4; ++k) dr[k] = kNaN;
      for (i64 k = 0; k < S; ++k) nz[k] = kNaN;
      out.sigma[c] = out.rho[c] = kNaN;
      out.status[c] = st;
    };
    const i64 a = in.offsets[c], b = in.offsets[c + 1];
    // Rows inside the law's domain.
    yc.clear();
    f1.clear();
    f2.clear();
    double ysum = 0.0, s1min = kInf, s2max = 0.0;
    for (i64 i = a; i < b; ++i) {
      if (!(in.S1[i] > 0.0) || !std::isfinite(in.S1[i]) || !std::isfinite(in.S2[i]) || !std::isfinite(in.y[i]))
        continue;
      yc.push_back(in.y[i]);
      f1.push_back(in.S1[i]);
      f2.push_back(in.S2[i]);
      ysum += in.y[i];
      s1min = std::min(s1min, in.S1[i]);
      s2max = std::max(s2max, std::fabs(in.S2[i]));
    }
    const i64 n = static_cast<i64>(yc.size());
    if (n < 5) return fail(TOO_FEW_POINTS);
    const double ym = ysum / n;
    double v = 0.0;
    for (double q : yc) v += (q - ym) * (q - ym);
    double ys = std::sqrt(v / n);
    if (!(ys > 1e-12 * std::max(std::fabs(ym), 1e-300))) ys = std::max(std::fabs(ym), 1.0) * 1e-6;
    if (!std::isfinite(ys) || !std::isfinite(ym)) return fail(NON_FINITE);
    for (double& q : yc) q = (q - ym) / ys;
    const double s2s = s2max > 0.0 ? s2max : 1.0;
    // Prior on C in standardised units (C'' = C s2s / ys).
    const double sdC = in.sd_C[c] * s2s / ys, mC = in.mu_C[c] * s2s / ys;
    const double precC = std::isfinite(sdC) && sdC > 0.0 ? 1.0 / (sdC * sdC) : 0.0;
    const double mla = in.mu_log_alpha[c], sla = in.sd_log_alpha[c];
    const double la0 = std::log(opt.alpha_lo), la1 = std::log(opt.alpha_hi);
    mean.assign(static_cast<size_t>(G) * 3, 0.0);
    chol.assign(static_cast<size_t>(G) * 9, 0.0);
    logw.assign(static_cast<size_t>(G), -kInf);
    a1s.assign(static_cast<size_t>(G), 1.0);
    r.resize(static_cast<size_t>(n));
    const double ridge = 1e-9 * n;

    // Normal equations at grid point g with noise variance s2 and prior precision pc on C; returns the
    // penalised solution in beta and the factor in L; the residual sum of squares in *rss.
    auto solve_at = [&](int g, double s2, double pc, double* beta, double* L, double* rss) -> bool {
      const double al = std::exp(la0 + (la1 - la0) * g / (G - 1));
      const double a1 = std::exp(-al * std::log(s1min));  // largest S1^-alpha over the rows
      a1s[g] = a1;
      double P[9] = {0}, rhs[3] = {0};
      for (i64 i = 0; i < n; ++i) {
        const double x[3] = {1.0, std::exp(-al * std::log(f1[i])) / a1, -f2[i] / s2s};
        for (int p = 0; p < 3; ++p) {
          rhs[p] += x[p] * yc[i];
          for (int q = 0; q <= p; ++q) P[3 * p + q] += x[p] * x[q];
        }
      }
      for (int p = 0; p < 3; ++p)
        for (int q = 0; q <= p; ++q) P[3 * q + p] = P[3 * p + q] = P[3 * p + q] / s2;
      for (int p = 0; p < 3; ++p) rhs[p] /= s2, P[4 * p] += ridge / s2;
      P[8] += pc;
      rhs[2] += pc * mC;
      if (!detail::chol3(P, L)) return false;
      detail::chol3_solve(L, rhs, beta);
      double ss = 0.0;
      for (i64 i = 0; i < n; ++i) {
        const double f = beta[0] + beta[1] * std::exp(-al * std::log(f1[i])) / a1 - beta[2] * f2[i] / s2s;
        r[i] = yc[i] - f;
        ss += r[i] * r[i];
      }
      *rss = ss;
      return std::isfinite(ss);
    };

    // Pass 1: residual variance and autocorrelation of the best unpenalised fit over the grid.
    double best = kInf;
    int gbest = -1;
    double beta[3], L[9], rss;
    for (int g = 0; g < G; ++g)
      if (solve_at(g, 1.0, 0.0, beta, L, &rss) && rss < best) best = rss, gbest = g;
    if (gbest < 0) return fail(NON_FINITE);
    solve_at(gbest, 1.0, 0.0, beta, L, &rss);
    double num = 0.0, den = 0.0;
    for (i64 i = 0; i < n; ++i) {
      den += r[i] * r[i];
      if (i + 1 < n) num += r[i] * r[i + 1];
    }
    const double rho = den > 0.0 ? std::min(std::max(num / den, 0.0), 0.95) : 0.0;
    const double s2 = std::max(best / static_cast<double>(n - 3), 1e-12);
    const double s2l = s2 * (1.0 + rho) / (1.0 - rho);

    // Pass 2: the posterior at every grid point and its weight.
    double top = -kInf;
    for (int g = 0; g < G; ++g) {
      double* bg = &mean[3 * g];
      double* Lg = &chol[9 * g];
      if (!solve_at(g, s2l, precC, bg, Lg, &rss)) continue;
      const double la = la0 + (la1 - la0) * g / (G - 1);
      double lw = -0.5 * rss / s2l - 0.5 * precC * (bg[2] - mC) * (bg[2] - mC);
      for (int p = 0; p < 3; ++p) lw -= std::log(Lg[4 * p]);  // -1/2 log det P
      if (std::isfinite(sla) && sla > 0.0) lw -= 0.5 * ((la - mla) / sla) * ((la - mla) / sla);
      logw[g] = lw;
      top = std::max(top, lw);
    }
    if (!std::isfinite(top)) return fail(NON_FINITE);
    double tot = 0.0;
    for (int g = 0; g < G; ++g) tot += (logw[g] = std::exp(logw[g] - top));
    for (int g = 0; g < G; ++g) logw[g] /= tot;  // now the normalised weights

    Philox rng(opt.seed, curve_key(in.keys, c), 0x5c4ed5ULL);
    const double sd_obs = ys * std::sqrt(s2);
    for (i64 k = 0; k < S; ++k) {
      const double u = rng.uniform();
      int g = 0;
      double acc = logw[0];
      while (g + 1 < G && acc < u) acc += logw[++g];
      const double z[3] = {rng.normal(), rng.normal(), rng.normal()};
      const double* Lg = &chol[9 * g];
      double x[3];  // L^T x = z: a draw from N(0, P^-1)
      for (int i = 2; i >= 0; --i) {
        double s = z[i];
        for (int q = i + 1; q < 3; ++q) s -= Lg[3 * q + i] * x[q];
        x[i] = s / Lg[4 * i];
      }
      const double* bg = &mean[3 * g];
      const double al = std::exp(la0 + (la1 - la0) * g / (G - 1));
      dr[4 * k + 0] = ym + ys * (bg[0] + x[0]);
      dr[4 * k + 1] = ys * (bg[1] + x[1]) / a1s[g];
      dr[4 * k + 2] = ys * (bg[2] + x[2]) / s2s;
      dr[4 * k + 3] = al;
      nz[k] = sd_obs * rng.normal();
    }
    out.sigma[c] = sd_obs;
    out.rho[c] = rho;
    out.status[c] = CONVERGED;
  });
}

}  // namespace lawfit::sample
