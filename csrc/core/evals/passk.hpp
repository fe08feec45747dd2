// Sampling estimators for evaluations (REFERENCE.md section 3): pass@k and pass^k over a (problems x k)
// grid, bootstrap and Beta-posterior intervals, the beta-binomial coverage fit, PassUntil estimators.
// Assumptions: counts are validated by the caller (n >= 1, 0 <= c <= n, 1 <= k <= n); every parallel loop
// writes index-owned slots and every sum runs in a fixed order, so results do not depend on thread count.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/common.hpp"
#include "core/evals/special.hpp"

namespace lawfit::evals {

// Below this many factors the product form is summed directly (exact to a few ulps); above it, lgamma.
constexpr i64 kProductTerms = 64;

// log[C(n-c, k) / C(n, k)] = log(1 - pass@k); -inf when n - c < k (every k-subset holds a success).
LAWFIT_HD inline double log_fail_at_k(i64 n, i64 c, i64 k) {
  if (n - c < k) return -kInf;
  if (c == 0 || k == 0) return 0.0;
  if (c <= k && c <= kProductTerms) {  // prod_{j=n-c+1..n} (1 - k/j)
    double s = 0.0;
    for (i64 j = n - c + 1; j <= n; ++j) s += std::log1p(-static_cast<double>(k) / static_cast<double>(j));
    return s;
  }
  if (k <= kProductTerms) {  // prod_{j=0..k-1} (1 - c/(n-j))
    double s = 0.0;
    for (i64 j = 0; j < k; ++j) s += std::log1p(-static_cast<double>(c) / static_cast<double>(n - j));
    return s;
  }
  const double N = static_cast<double>(n), C = static_cast<double>(c), K = static_cast<double>(k);
  return std::lgamma(N - C + 1) - std::lgamma(N - C - K + 1) - std::lgamma(N + 1) + std::lgamma(N - K + 1);
}

// log[C(c, k) / C(n, k)] = log pass^k (all k draws without replacement succeed); -inf when k > c.
LAWFIT_HD inline double log_pass_hat_k(i64 n, i64 c, i64 k) {
  if (k > c) return -kInf;
  if (c == n || k == 0) return 0.0;
  const i64 f = n - c;
  if (k <= kProductTerms && k <= f) {  // prod_{j=0..k-1} (1 - f/(n-j))
    double s = 0.0;
    for (i64 j = 0; j < k; ++j) s += std::log1p(-static_cast<double>(f) / static_cast<double>(n - j));
    return s;
  }
  if (f <= kProductTerms) {  // prod_{j=0..f-1} (1 - k/(n-j))
    double s = 0.0;
    for (i64 j = 0; j < f; ++j) s += std::log1p(-static_cast<double>(k) / static_cast<double>(n - j));
    return s;
  }
  const double N = static_cast<double>(n), C = static_cast<double>(c), K = static_cast<double>(k);
  return std::lgamma(C + 1) - std::lgamma(C - K + 1) - std::lgamma(N + 1) + std::lgamma(N - K + 1);
}

// kind 0: pass@k = -expm1(log_fail); kind 1: pass^k = exp(log_pass_hat).
LAWFIT_HD inline double pass_value(int kind, i64 n, i64 c, i64 k) {
  return kind == 0 ? 0.0 - std::expm1(log_fail_at_k(n, c, k)) : std::exp(log_pass_hat_k(n, c, k));
}

// Grid of per-problem values and the mean over problems per k.
// @param n, c  [P] samples and successes per problem
// @param k     [K] budgets
// @param out   [P, K] per-problem values (may be null); mean [K] mean over problems
inline void pass_grid(int kind, i64 P, const i64* n, const i64* c, i64 K, const i64* k, double* out, double* mean,
                      int threads) {
  std::vector<double> local;
  double* g = out;
  if (g == nullptr) {
    local.resize(static_cast<size_t>(P * K));
    g = local.data();
  }
  // Walk order: the k values sorted ascending. When the largest k is small relative to the grid, every
  // problem's values come from one running sum  log(1-pass@k) = sum_{j<k} log1p(-c/(n-j))  (pass^k:
  // log1p(-(n-c)/(n-j))), read off at each k: O(max k) per problem instead of O(K min(c, k)). The term for
  // j = n - c (pass^k: j = c) is log1p(-1) = -inf, which is exactly the k > n - c (k > c) case.
  std::vector<i64> ord(static_cast<size_t>(K));
  i64 kmax = 0;
  for (i64 t = 0; t < K; ++t) {
    ord[static_cast<size_t>(t)] = t;
    kmax = std::max(kmax, k[t]);
  }
  std::sort(ord.begin(), ord.end(), [&](i64 x, i64 y) { return k[x] < k[y] || (k[x] == k[y] && x < y); });
  const bool walk = kmax <= 4096 || kmax <= 64 * K;
  parallel_for(P, threads, [&](i64 i) {
    double* gi = g + i * K;
    if (!walk) {
      for (i64 t = 0; t < K; ++t) gi[t] = pass_value(kind, n[i], c[i], k[t]);
      return;
    }
    const double N = static_cast<double>(n[i]);
    const double num = static_cast<double>(kind == 0 ? c[i] : n[i] - c[i]);
    double s = 0.0;
    i64 j = 0;
    for (i64 u = 0; u < K; ++u) {
      const i64 t = ord[static_cast<size_t>(u)];
      for (; j < k[t] && s != -kInf; ++j) s += std::log1p(-num / (N - static_cast<double>(j)));
      gi[t] = kind == 0 ? 0.0 - std::expm1(s) : std::exp(s);
    }
  });
  if (mean != nullptr) {
    parallel_for(K, threads, [&](i64 t) {
      double s = 0.0;
      for (i64 i = 0; i < P; ++i) s += g[i * K + t];
      mean[t] = P > 0 ? s / static_cast<double>(P) : kNaN;
    });
  }
}

// Bootstrap over problems: replicate r draws P problems with replacement (Philox(seed, r)) and records the
// mean of the per-problem grid g[P, K]. out [R, K].
inline void bootstrap_means(i64 P, i64 K, const double* g, i64 R, std::uint64_t seed, double* out, int threads) {
  parallel_for(R, threads, [&](i64 r) {
    Philox rng(seed, static_cast<std::uint64_t>(r), 0x5EEDB007ull);
    double* o = out + r * K;
    for (i64 t = 0; t < K; ++t) o[t] = 0.0;
    for (i64 s = 0; s < P; ++s) {
      const double* row = g + rng.below(P) * K;
      for (i64 t = 0; t < K; ++t) o[t] += row[t];
    }
    for (i64 t = 0; t < K; ++t) o[t] /= static_cast<double>(P);
  }, 1);
}

// Beta posterior per problem: p_i ~ Beta(c_i + a0, n_i - c_i + b0).
// Per problem and k: posterior mean of 1-(1-p)^k (kind 0) or p^k (kind 1) in closed form, and the
// equal-tailed interval at `level` (monotone transform of the Beta quantiles). Outputs [P, K] each.
inline void beta_posterior_grid(int kind, i64 P, const i64* n, const i64* c, i64 K, const i64* k, double a0,
                                double b0, double level, double* mean, double* lo, double* hi, int threads) {
  parallel_for(P, threads, [&](i64 i) {
    const double a = static_cast<double>(c[i]) + a0, b = static_cast<double>(n[i] - c[i]) + b0;
    const double ql = beta_quantile(0.5 - level / 2, a, b), qh = beta_quantile(0.5 + level / 2, a, b);
    const double lb = log_beta(a, b);
    for (i64 t = 0; t < K; ++t) {
      const double kk = static_cast<double>(k[t]);
      if (kind == 0) {  // E[1-(1-p)^k] = 1 - B(a, b+k)/B(a, b)
        mean[i * K + t] = -std::expm1(log_beta(a, b + kk) - lb);
        lo[i * K + t] = -std::expm1(kk * std::log1p(-ql));
        hi[i * K + t] = -std::expm1(kk * std::log1p(-qh));
      } else {  // E[p^k] = B(a+k, b)/B(a, b)
        mean[i * K + t] = std::exp(log_beta(a + kk, b) - lb);
        lo[i * K + t] = std::pow(ql, kk);
        hi[i * K + t] = std::pow(qh, kk);
      }
    }
  });
}

// Posterior draws of the mean over problems: draw r samples every p_i from its Beta posterior
// (Philox(seed, r, i)) and records mean_i f(p_i, k). out [R, K].
inline void beta_posterior_means(int kind, i64 P, const i64* n, const i64* c, i64 K, const i64* k, double a0,
                                 double b0, i64 R, std::uint64_t seed, double* out, int threads) {
  parallel_for(R, threads, [&](i64 r) {
    double* o = out + r * K;
    for (i64 t = 0; t < K; ++t) o[t] = 0.0;
    for (i64 i = 0; i < P; ++i) {
      Philox rng(seed, static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(i) + 1);
      double lp, l1p;
      log_beta_draw(rng, static_cast<double>(c[i]) + a0, static_cast<double>(n[i] - c[i]) + b0, lp, l1p);
      for (i64 t = 0; t < K; ++t) {
        const double kk = static_cast<double>(k[t]);
        o[t] += kind == 0 ? -std::expm1(kk * l1p) : std::exp(kk * lp);
      }
    }
    for (i64 t = 0; t < K; ++t) o[t] /= static_cast<double>(P);
  }, 1);
}

// ---- beta-binomial coverage model ------------------------------------------------------------------------
// Per-problem success rates p ~ Beta(alpha, beta); c_i | n_i ~ BetaBinomial(n_i, alpha, beta).
// failure(k) = E[(1-p)^k] = B(alpha, beta + k) / B(alpha, beta) ~ k^-alpha for large k.

struct BetaBinomFit {
  double alpha = kNaN, beta = kNaN, loglik = kNaN;
  int iterations = 0;
  Status status = NOT_RUN;
};

// Log-likelihood (up to the binomial coefficients) of groups (n_g, c_g) with weights w_g, and its gradient
// and Hessian in (log alpha, log beta).
LAWFIT_HD inline double betabinom_ll(i64 G, const i64* n, const i64* c, const double* w, double la, double lb,
                                     double* grad, double* hess) {
  const double a = std::exp(la), b = std::exp(lb);
  double ll = 0, ga = 0, gb = 0, haa = 0, hbb = 0, hab = 0;
  const double dab = digamma(a + b), da = digamma(a), db = digamma(b);
  const double tab = trigamma(a + b), ta = trigamma(a), tb = trigamma(b);
  const double lbab = log_beta(a, b);
  for (i64 g = 0; g < G; ++g) {
    if (w[g] == 0.0) continue;
    const double N = static_cast<double>(n[g]), C = static_cast<double>(c[g]);
    ll += w[g] * (log_beta(C + a, N - C + b) - lbab);
    if (grad == nullptr) continue;
    const double dn = digamma(N + a + b), tn = trigamma(N + a + b);
    ga += w[g] * (digamma(C + a) - dn - da + dab);
    gb += w[g] * (digamma(N - C + b) - dn - db + dab);
    haa += w[g] * (trigamma(C + a) - tn - ta + tab);
    hbb += w[g] * (trigamma(N - C + b) - tn - tb + tab);
    hab += w[g] * (-tn + tab);
  }
  if (grad != nullptr) {
    grad[0] = a * ga;
    grad[1] = b * gb;
    hess[0] = a * a * haa + a * ga;
    hess[1] = a * b * hab;
    hess[2] = b * b * hbb + b * gb;
  }
  return ll;
}

// Damped Newton (Levenberg) ascent on the log-likelihood in log-parameters, started at the method of moments.
inline BetaBinomFit fit_betabinom(i64 G, const i64* n, const i64* c, const double* w, int max_iter, double tol) {
  BetaBinomFit f;
  double sw = 0, m1 = 0, m2 = 0;
  for (i64 g = 0; g < G; ++g) {
    if (w[g] == 0.0) continue;
    const double p = static_cast<double>(c[g]) / static_cast<double>(n[g]);
    sw += w[g];
    m1 += w[g] * p;
    m2 += w[g] * p * p;
  }
  if (!(sw > 0)) {
    f.status = TOO_FEW_POINTS;
    return f;
  }
  m1 /= sw;
  const double var = m2 / sw - m1 * m1;
  if (m1 <= 0.0 || m1 >= 1.0) {  // no problem ever solved, or every sample solved: no interior optimum
    f.status = INVALID_INPUT;
    return f;
  }
  double conc = (var > 1e-12 && var < m1 * (1 - m1)) ? m1 * (1 - m1) / var - 1.0 : 10.0;
  conc = std::fmin(std::fmax(conc, 1e-3), 1e6);
  double x[2] = {std::log(m1 * conc), std::log((1 - m1) * conc)};
  double g[2], h[3];
  double ll = betabinom_ll(G, n, c, w, x[0], x[1], g, h);
  double lam = 1e-3;
  f.status = MAX_ITER;
  for (int it = 0; it < max_iter; ++it) {
    f.iterations = it + 1;
    bool improved = false;
    for (int tries = 0; tries < 40; ++tries) {
      // solve (-H + lam*diag) d = g
      const double A = -h[0] + lam * (1 + std::fabs(h[0])), B = -h[1], D = -h[2] + lam * (1 + std::fabs(h[2]));
      const double det = A * D - B * B;
      if (!(det > 0) || !(A > 0)) {
        lam *= 10;
        continue;
      }
      double d0 = (D * g[0] - B * g[1]) / det, d1 = (A * g[1] - B * g[0]) / det;
      const double mx = std::fmax(std::fabs(d0), std::fabs(d1));
      if (mx > 2.0) {
        d0 *= 2.0 / mx;
        d1 *= 2.0 / mx;
      }
      const double y0 = x[0] + d0, y1 = x[1] + d1;
      if (y0 < -25 || y0 > 25 || y1 < -25 || y1 > 25) {
        lam *= 10;
        continue;
      }
      const double nll = betabinom_ll(G, n, c, w, y0, y1, nullptr, nullptr);
      if (std::isfinite(nll) && nll >= ll - 1e-12 * std::fabs(ll)) {
        const double change = std::fmax(std::fabs(d0), std::fabs(d1));
        x[0] = y0;
        x[1] = y1;
        const double old = ll;
        ll = betabinom_ll(G, n, c, w, x[0], x[1], g, h);
        lam = std::fmax(lam / 10, 1e-9);
        improved = true;
        if (change < tol || std::fabs(ll - old) <= tol * (1 + std::fabs(ll))) f.status = CONVERGED;
        break;
      }
      lam *= 10;
    }
    if (!improved) {
      f.status = CONVERGED;  // no ascent direction left at this precision: a stationary point
    }
    if (f.status == CONVERGED) break;
  }
  f.alpha = std::exp(x[0]);
  f.beta = std::exp(x[1]);
  f.loglik = ll;
  return f;
}

// Bootstrap the beta-binomial fit over problems. group_of[P] maps a problem to its (n, c) group; replicate r
// resamples P problems (Philox(seed, r)) into group weights and refits. Outputs [R] each.
inline void betabinom_bootstrap(i64 P, const i64* group_of, i64 G, const i64* n, const i64* c, i64 R,
                                std::uint64_t seed, int max_iter, double tol, double* alpha, double* beta,
                                std::int32_t* status, int threads) {
  parallel_for(R, threads, [&](i64 r) {
    Philox rng(seed, static_cast<std::uint64_t>(r), 0xB37AB1ull);
    std::vector<double> w(static_cast<size_t>(G), 0.0);
    for (i64 s = 0; s < P; ++s) w[static_cast<size_t>(group_of[rng.below(P)])] += 1.0;
    BetaBinomFit f = fit_betabinom(G, n, c, w.data(), max_iter, tol);
    alpha[r] = f.alpha;
    beta[r] = f.beta;
    status[r] = f.status;
  }, 1);
}

// log failure(k) = log B(alpha, beta + k) - log B(alpha, beta).
LAWFIT_HD inline double betabinom_log_fail(double alpha, double beta, double k) {
  return log_beta(alpha, beta + k) - log_beta(alpha, beta);
}

// ---- PassUntil (Hu et al. 2023) -------------------------------------------------------------------------
// Item sampled until `target` successes or the budget ran out: s successes in r trials.
// mle = s / r; unbiased = (s - 1)/(r - 1) when sampling stopped at the target (inverse sampling, s >= 2),
// NaN otherwise; Clopper-Pearson interval at `level`; Jeffreys posterior mean (s + 1/2)/(r + 1).
// censored = 1 when no success was seen (the rate is only bounded above).
inline void passuntil_estimates(i64 M, const i64* s, const i64* r, const i64* target, double level, double* mle,
                                double* unbiased, double* lo, double* hi, double* post_mean, std::int8_t* censored,
                                int threads) {
  parallel_for(M, threads, [&](i64 i) {
    const double S = static_cast<double>(s[i]), Rr = static_cast<double>(r[i]);
    mle[i] = S / Rr;
    unbiased[i] = (s[i] == target[i] && s[i] >= 2) ? (S - 1) / (Rr - 1) : kNaN;
    const double al = 1 - level;
    lo[i] = s[i] == 0 ? 0.0 : beta_quantile(al / 2, S, Rr - S + 1);
    hi[i] = s[i] == r[i] ? 1.0 : beta_quantile(1 - al / 2, S + 1, Rr - S);
    post_mean[i] = (S + 0.5) / (Rr + 1.0);
    censored[i] = s[i] == 0 ? 1 : 0;
  });
}

}  // namespace lawfit::evals
