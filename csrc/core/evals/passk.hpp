// Sampling estimators for evaluations (REFERENCE.md section 3): pass@k and pass^k over a (problems x k)
// grid, bootstrap and Beta-posterior intervals, the beta-binomial coverage fit, PassUntil estimators.
// Assumptions: counts are validated by the caller (n >= 1, 0 <= c <= n, 1 <= k <= n); every parallel loop
// writes index-owned slots and every sum runs in a fixed order, so results do not depend on thread count.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/common.hpp"
#include "core/evals/special.hpp"
#include "core/fit/linalg.hpp"

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

// Stirling's remainder lgamma(y) - [(y - 1/2) log y - y + log(2 pi)/2]: its series for y >= 10, else directly.
inline double lgamma_rem(double y) {
  if (y < 10.0) return std::lgamma(y) - ((y - 0.5) * std::log(y) - y + 0.91893853320467274178);
  const double r = 1.0 / y, r2 = r * r;
  return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680))));
}

// lgamma(x + p) - lgamma(x + q) for x >= 0, without subtracting two large lgammas.
inline double lgamma_diff(double x, double p, double q) {
  const double yp = x + p, yq = x + q;
  if (yp < 10.0 || yq < 10.0) return std::lgamma(yp) - std::lgamma(yq);
  return (yq - 0.5) * std::log1p((p - q) / yq) + (p - q) * std::log(yp) - (p - q) + lgamma_rem(yp) -
         lgamma_rem(yq);
}

// log B(a, b + k) - log B(a, b) = [lgamma(b + k) - lgamma(b)] - [lgamma(a + b + k) - lgamma(a + b)], by differences
// that do not cancel (the lgammas themselves are ~n log n: at n = 1e12 their difference loses every digit).
inline double log_beta_shift(double a, double b, double k) {
  return lgamma_diff(b, k, 0.0) - lgamma_diff(a + b, k, 0.0);
}

// Beta posterior per problem: p_i ~ Beta(c_i + a0, n_i - c_i + b0).
// Per problem and k: posterior mean of 1-(1-p)^k (kind 0) or p^k (kind 1) in closed form, and the
// equal-tailed interval at `level` (monotone transform of the Beta quantiles). Outputs [P, K] each.
inline void beta_posterior_grid(int kind, i64 P, const i64* n, const i64* c, i64 K, const i64* k, double a0,
                                double b0, double level, double* mean, double* lo, double* hi, int threads) {
  parallel_for(P, threads, [&](i64 i) {
    const double a = static_cast<double>(c[i]) + a0, b = static_cast<double>(n[i] - c[i]) + b0;
    const double ql = beta_quantile(0.5 - level / 2, a, b), qh = beta_quantile(0.5 + level / 2, a, b);
    for (i64 t = 0; t < K; ++t) {
      const double kk = static_cast<double>(k[t]);
      if (kind == 0) {  // E[1-(1-p)^k] = 1 - B(a, b+k)/B(a, b)
        mean[i * K + t] = -std::expm1(log_beta_shift(a, b, kk));
        lo[i * K + t] = -std::expm1(kk * std::log1p(-ql));
        hi[i * K + t] = -std::expm1(kk * std::log1p(-qh));
      } else {  // E[p^k] = B(a+k, b)/B(a, b)
        mean[i * K + t] = std::exp(log_beta_shift(b, a, kk));
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

// Weighted moments of the observed rates c_g / n_g, for the fits' starting points and their input checks:
// status TOO_FEW_POINTS without weight, INVALID_INPUT when no problem was ever solved or every sample was
// (no interior optimum), CONVERGED otherwise.
struct RateMoments {
  double mean = 0.0, var = 0.0, max = 0.0;
  Status status = CONVERGED;
};
// min_n: a group with at least this many samples (and positive weight) must exist, else TOO_FEW_POINTS: groups of
// one sample say nothing about the spread of the rates (the beta-binomial's dispersion is not identified).
inline RateMoments rate_moments(i64 G, const i64* n, const i64* c, const double* w, i64 min_n = 2) {
  RateMoments r;
  double sw = 0, m1 = 0, m2 = 0;
  bool enough = false;
  for (i64 g = 0; g < G; ++g) {
    if (w[g] == 0.0) continue;
    enough |= n[g] >= min_n;
    const double p = static_cast<double>(c[g]) / static_cast<double>(n[g]);
    r.max = std::fmax(r.max, p);
    sw += w[g];
    m1 += w[g] * p;
    m2 += w[g] * p * p;
  }
  if (!(sw > 0) || !enough) {
    r.status = TOO_FEW_POINTS;
    return r;
  }
  r.mean = m1 / sw;
  r.var = m2 / sw - r.mean * r.mean;
  if (r.mean <= 0.0 || r.mean >= 1.0) r.status = INVALID_INPUT;
  return r;
}

// Method-of-moments concentration alpha + beta of a Beta with mean mu and variance var (fallback when the
// variance admits none), clamped into [lo, hi].
inline double moment_concentration(double mu, double var, double fallback, double lo, double hi) {
  const double conc = (var > 1e-12 && var < mu * (1 - mu)) ? mu * (1 - mu) / var - 1.0 : fallback;
  return std::fmin(std::fmax(conc, lo), hi);
}

// Damped Newton (Levenberg) ascent on the log-likelihood in log-parameters, started at the method of moments.
inline BetaBinomFit fit_betabinom(i64 G, const i64* n, const i64* c, const double* w, int max_iter, double tol) {
  BetaBinomFit f;
  const RateMoments mo = rate_moments(G, n, c, w);
  if (mo.status != CONVERGED) {
    f.status = mo.status;
    return f;
  }
  const double m1 = mo.mean;
  const double conc = moment_concentration(m1, mo.var, 10.0, 1e-3, 1e6);
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
// Group weights of bootstrap replicate r: P problems drawn with replacement (Philox(seed, r)), counted by group.
inline std::vector<double> replicate_group_weights(i64 P, const i64* group_of, i64 G, std::uint64_t seed, i64 r) {
  Philox rng(seed, static_cast<std::uint64_t>(r), 0xB37AB1ull);
  std::vector<double> w(static_cast<size_t>(G), 0.0);
  for (i64 q = 0; q < P; ++q) w[static_cast<size_t>(group_of[rng.below(P)])] += 1.0;
  return w;
}

inline void betabinom_bootstrap(i64 P, const i64* group_of, i64 G, const i64* n, const i64* c, i64 R,
                                std::uint64_t seed, int max_iter, double tol, double* alpha, double* beta,
                                std::int32_t* status, int threads) {
  parallel_for(R, threads, [&](i64 r) {
    const std::vector<double> w = replicate_group_weights(P, group_of, G, seed, r);
    BetaBinomFit f = fit_betabinom(G, n, c, w.data(), max_iter, tol);
    alpha[r] = f.alpha;
    beta[r] = f.beta;
    status[r] = f.status;
  }, 1);
}

// log failure(k) = log B(alpha, beta + k) - log B(alpha, beta).
LAWFIT_HD inline double betabinom_log_fail(double alpha, double beta, double k) {
  return log_beta_shift(alpha, beta, k);
}

// ---- scaled beta-binomial coverage model ------------------------------------------------------------------
// Per-problem success rates p = s * u with u ~ Beta(alpha, beta) and 0 < s <= 1 (REFERENCE.md section 3: a
// scaled Beta on [0, s], for problems whose rate never reaches 1). Expanding (1 - s u)^m = ((1 - s) + s (1 - u))^m
// gives a sum of positive terms,
//   P(c | n) / C(n, c) = sum_{j=0}^{m} C(m, j) (1 - s)^{m-j} s^{c+j} B(alpha + c, beta + j) / B(alpha, beta),
// m = n - c; and failure(k) = E[(1 - s u)^k] is the same sum with c = 0, m = k. At s = 1 only j = m remains:
// the beta-binomial above.
// The terms t_j have ratio t_{j+1}/t_j = (m-j)/(j+1) * (beta+j)/(A+j) * s/(1-s), A = alpha + beta + c, which
// decreases in j from J0 = 1 (beta >= 1) or ceil(sqrt((1 - beta) A)) + 1 on (the terms are log-concave there). So
// the first J0 terms are
// summed exactly and the rest outward from their mode, found from the quadratic ratio = 1, until the terms fall
// below 1e-17 of the sum: O(J0 + width) work per group instead of O(m) (O(J0) plus a few hundred terms when the
// width is large, see below).

// x log(x / M) + M - x, accurate when x is close to M (Loader 2000, "Fast and accurate computation of binomial
// probabilities").
inline double bd0(double x, double M) {
  if (std::fabs(x - M) < 0.1 * (x + M)) {
    const double v = (x - M) / (x + M);
    double sum = (x - M) * v, ej = 2.0 * x * v, term;
    const double v2 = v * v;
    for (int k = 1; k < 1000; ++k) {
      ej *= v2;
      term = ej / (2 * k + 1);
      const double next = sum + term;
      if (next == sum) break;
      sum = next;
    }
    return sum;
  }
  return x * std::log(x / M) + M - x;
}

// log of the Binomial(m, s) probability of j (ls = log s, l1s = log(1 - s)), Loader's saddle-point form.
inline double log_binom_pmf(double j, double m, double s, double ls, double l1s) {
  if (j == 0.0) return m * l1s;
  if (j == m) return m * ls;
  const double lc = lgamma_rem(m) - lgamma_rem(j) - lgamma_rem(m - j) - bd0(j, m * s) - bd0(m - j, m * (1.0 - s));
  return lc + 0.5 * std::log(m / (6.28318530717958647693 * j * (m - j)));
}

// ratio t_{j+1} / t_j of the series above (odds = s / (1 - s)).
LAWFIT_HD inline double sbb_ratio(double m, double j, double b, double A, double odds) {
  return (m - j) / (j + 1.0) * ((b + j) / (A + j)) * odds;
}

// log of the series for (n, c), up to log C(n, c) (the same constant for every parameter value).
inline double scaled_betabinom_logp(double n, double c, double a, double b, double s) {
  const double m = n - c;
  const double lbab = log_beta(a, b);
  if (!(s < 1.0)) return log_beta(a + c, b + m) - lbab;  // s = 1: the j = m term alone
  const double ls = std::log(s), l1s = std::log1p(-s), odds = s / (1.0 - s), A = a + b + c;
  const double lgac = std::lgamma(a + c);
  // log t_j = log Binomial(j; m, s) + c log s + log B(a + c, b + j) - log B(a, b), both parts without the
  // cancellation of large lgammas (accurate for m up to 1e15).
  auto logterm = [&](double j) {
    return log_binom_pmf(j, m, s, ls, l1s) + c * ls + lgac - lgamma_diff(j, A, b) - lbab;
  };
  // Log-concavity from J0 on: d/dj log t_j < 0 once (1 - b) / ((b + j)(j + 1)) < 1 / (A + j), i.e. for every j
  // when b >= 1 and for j >= sqrt((1 - b) A) + 1 otherwise (was sqrt(A) + 1: ~1e4 head terms per point when a
  // small problem set fits alpha + beta ~ 1e8).
  const double J0 = std::fmin(m + 1.0, b >= 1.0 ? 1.0 : std::ceil(std::sqrt((1.0 - b) * A)) + 1.0);
  double mx = -kInf, hs = 0.0;  // head: log-sum-exp of terms 0 .. J0-1, online (hs relative to mx)
  for (double j = 0.0; j < J0; j += 1.0) {
    const double lt = logterm(j);
    if (lt > mx) {
      hs = hs * std::exp(mx - lt) + 1.0;
      mx = lt;
    } else {
      hs += std::exp(lt - mx);
    }
  }
  const double js = J0;  // first index of the log-concave part
  if (js > m) return mx + std::log(hs);  // every term is in the head
  // Mode of the tail: the first j >= js with ratio(j) <= 1, from the quadratic (m-j)(b+j)s = (j+1)(A+j)(1-s).
  const double qb = s * (m - b) - (1.0 - s) * (A + 1.0), qc = s * m * b - (1.0 - s) * A;
  const double disc = qb * qb + 4.0 * qc;
  double jm = disc > 0.0 ? std::floor(0.5 * (qb + std::sqrt(disc))) : js;
  jm = std::fmin(std::fmax(jm, js), m);
  while (jm < m && sbb_ratio(m, jm, b, A, odds) > 1.0) jm += 1.0;
  while (jm > js && sbb_ratio(m, jm - 1.0, b, A, odds) < 1.0) jm -= 1.0;
  const double lm = logterm(jm);
  double sum = 1.0, t = 1.0;
  // Wide tails (m s (1 - s) large, e.g. failure(k) at k = 1e9): the terms are a smooth bell in j, so every
  // h-th term times h gives the sum (trapezoid rule on an analytic summand: the error falls like
  // exp(-2 pi^2 sd^2 / h^2), far below rounding at h = sd / 16), each term from its logarithm. Used when the
  // bell stays clear of both ends of the tail, where the rule would need end corrections.
  const double sd = std::sqrt(m * s * (1.0 - s)) + 1.0;
  const double h = std::floor(sd / 16.0);
  if (h >= 4.0 && jm - 40.0 * sd > js && jm + 40.0 * sd < m) {
    for (double j = jm + h; j <= m; j += h) {
      t = std::exp(logterm(j) - lm);
      sum += t;
      if (t < 1e-17 * sum) break;
    }
    for (double j = jm - h; j >= js; j -= h) {
      t = std::exp(logterm(j) - lm);
      sum += t;
      if (t < 1e-17 * sum) break;
    }
    sum *= h;
  } else {
    for (double j = jm; j < m; j += 1.0) {  // upward
      t *= sbb_ratio(m, j, b, A, odds);
      sum += t;
      if (t < 1e-17 * sum) break;
    }
    t = 1.0;
    for (double j = jm; j > js; j -= 1.0) {  // downward
      t /= sbb_ratio(m, j - 1.0, b, A, odds);
      sum += t;
      if (t < 1e-17 * sum) break;
    }
  }
  const double tail = lm + std::log(sum);
  const double top = std::fmax(mx, tail);
  return top + std::log(hs * std::exp(mx - top) + std::exp(tail - top));
}

// log failure(k) = log E[(1 - s u)^k] for integer k >= 0.
inline double scaled_betabinom_log_fail(double a, double b, double s, double k) {
  return scaled_betabinom_logp(k, 0.0, a, b, s);
}

struct ScaledBetaBinomFit {
  double alpha = kNaN, beta = kNaN, s = kNaN, loglik = kNaN;
  int iterations = 0;
  Status status = NOT_RUN;
};

// Weighted log-likelihood of groups (n_g, c_g, w_g) at x = (log alpha, log beta, logit s).
inline double scaled_betabinom_ll(i64 G, const i64* n, const i64* c, const double* w, const double* x) {
  const double a = std::exp(x[0]), b = std::exp(x[1]), s = 1.0 / (1.0 + std::exp(-x[2]));
  double ll = 0.0;
  for (i64 g = 0; g < G; ++g)
    if (w[g] != 0.0)
      ll += w[g] * scaled_betabinom_logp(static_cast<double>(n[g]), static_cast<double>(c[g]), a, b, s);
  return std::isfinite(ll) ? ll : -kInf;
}

// Maximum likelihood of (alpha, beta, s): damped Newton in (log alpha, log beta, logit s) with central-difference
// derivatives, from the s = 1 fit (s just below 1) and from s = 0.9, 0.7, 0.5 and the largest observed rate (u's
// moments matched to p / s); the best local optimum wins. logit s is kept in [-14, 21] (s in [8e-7, 1 - 8e-10]).
// With warm = (alpha, beta, s) (e.g. the full-data fit, for bootstrap replicates) only that start is run.
inline ScaledBetaBinomFit fit_scaled_betabinom(i64 G, const i64* n, const i64* c, const double* w, int max_iter,
                                               double tol, const double* warm = nullptr) {
  ScaledBetaBinomFit best;
  const RateMoments mo = rate_moments(G, n, c, w, 3);
  if (mo.status != CONVERGED) {
    best.status = mo.status;
    return best;
  }
  const double var = std::fmax(mo.var, 1e-12);
  std::vector<std::array<double, 3>> starts;
  if (warm && warm[0] > 0 && warm[1] > 0 && warm[2] > 0 && warm[2] <= 1) {
    const double s0 = std::fmin(warm[2], 1.0 - 1e-9);
    starts.push_back({std::log(warm[0]), std::log(warm[1]), std::log(s0 / (1 - s0))});
  } else {
    const BetaBinomFit f1 = fit_betabinom(G, n, c, w, max_iter, tol);
    if (std::isfinite(f1.alpha) && std::isfinite(f1.beta))
      starts.push_back({std::log(f1.alpha), std::log(f1.beta), 14.0});
    for (double s0 : {0.9, 0.7, 0.5, std::fmin(std::fmax(mo.max, 0.05), 0.999)}) {
      const double mu = std::fmin(mo.mean / s0, 0.99);
      const double conc = moment_concentration(mu, var / (s0 * s0), 2.0, 1e-2, 1e5);
      starts.push_back({std::log(mu * conc), std::log((1 - mu) * conc), std::log(s0 / (1 - s0))});
    }
  }
  auto clampx = [](double* x) {
    for (int k = 0; k < 2; ++k) x[k] = std::fmin(std::fmax(x[k], -20.0), 20.0);
    x[2] = std::fmin(std::fmax(x[2], -14.0), 21.0);
  };
  for (const auto& st : starts) {
    double x[3] = {st[0], st[1], st[2]};
    clampx(x);
    double ll = scaled_betabinom_ll(G, n, c, w, x);
    if (!std::isfinite(ll)) continue;
    double lam = 1e-3;
    Status status = MAX_ITER;
    int it = 0;
    for (; it < max_iter; ++it) {
      // Central differences: gradient and Hessian.
      const double h = 1e-4;
      double g[3], H[9];
      double fp[3], fm[3];
      for (int i = 0; i < 3; ++i) {
        double xp[3] = {x[0], x[1], x[2]}, xm[3] = {x[0], x[1], x[2]};
        xp[i] += h;
        xm[i] -= h;
        fp[i] = scaled_betabinom_ll(G, n, c, w, xp);
        fm[i] = scaled_betabinom_ll(G, n, c, w, xm);
        g[i] = (fp[i] - fm[i]) / (2 * h);
        H[i * 3 + i] = (fp[i] - 2 * ll + fm[i]) / (h * h);
      }
      for (int i = 0; i < 3; ++i)
        for (int j = i + 1; j < 3; ++j) {
          double xpp[3] = {x[0], x[1], x[2]}, xpm[3] = {x[0], x[1], x[2]}, xmp[3] = {x[0], x[1], x[2]},
                 xmm[3] = {x[0], x[1], x[2]};
          xpp[i] += h, xpp[j] += h;
          xpm[i] += h, xpm[j] -= h;
          xmp[i] -= h, xmp[j] += h;
          xmm[i] -= h, xmm[j] -= h;
          H[i * 3 + j] = H[j * 3 + i] =
              (scaled_betabinom_ll(G, n, c, w, xpp) - scaled_betabinom_ll(G, n, c, w, xpm) -
               scaled_betabinom_ll(G, n, c, w, xmp) + scaled_betabinom_ll(G, n, c, w, xmm)) / (4 * h * h);
        }
      bool ok = false, conv = false;
      for (int tries = 0; tries < 40 && !ok; ++tries) {
        // Solve (-H + lam * (1 + |diag|)) d = g by Cholesky.
        double M[9];
        for (int i = 0; i < 9; ++i) M[i] = -H[i];
        for (int i = 0; i < 3; ++i) M[i * 3 + i] += lam * (1.0 + std::fabs(H[i * 3 + i]));
        if (!fit::cholesky(M, 3, 3)) {
          lam *= 10;
          continue;
        }
        double d[3] = {g[0], g[1], g[2]};
        fit::cholesky_solve(M, 3, 3, d);
        const double mxd = std::fmax(std::fabs(d[0]), std::fmax(std::fabs(d[1]), std::fabs(d[2])));
        if (mxd > 2.0)
          for (double& v : d) v *= 2.0 / mxd;
        double y[3] = {x[0] + d[0], x[1] + d[1], x[2] + d[2]};
        clampx(y);
        const double ly = scaled_betabinom_ll(G, n, c, w, y);
        if (std::isfinite(ly) && ly >= ll - 1e-12 * std::fabs(ll)) {
          const double change = std::fmax(std::fabs(y[0] - x[0]), std::fmax(std::fabs(y[1] - x[1]), std::fabs(y[2] - x[2])));
          conv = change < tol || std::fabs(ly - ll) <= tol * (1 + std::fabs(ll));
          x[0] = y[0], x[1] = y[1], x[2] = y[2];
          ll = ly;
          lam = std::fmax(lam / 10, 1e-9);
          ok = true;
        } else {
          lam *= 10;
        }
      }
      if (!ok || conv) {  // no ascent step left at this precision, or converged: a stationary point
        status = CONVERGED;
        ++it;
        break;
      }
    }
    if (!(ll > best.loglik) && std::isfinite(best.loglik)) continue;
    best.alpha = std::exp(x[0]);
    best.beta = std::exp(x[1]);
    best.s = 1.0 / (1.0 + std::exp(-x[2]));
    best.loglik = ll;
    best.iterations = it;
    best.status = status;
  }
  return best;
}

// Bootstrap of the scaled fit over problems (as betabinom_bootstrap), warm-started at the full-data fit.
inline void scaled_betabinom_bootstrap(i64 P, const i64* group_of, i64 G, const i64* n, const i64* c, i64 R,
                                       std::uint64_t seed, int max_iter, double tol, double* alpha, double* beta,
                                       double* scale, std::int32_t* status, int threads) {
  // Every replicate starts from the full-data fit (warm start, one Newton run instead of five).
  std::vector<double> w0(static_cast<size_t>(G), 0.0);
  for (i64 q = 0; q < P; ++q) w0[static_cast<size_t>(group_of[q])] += 1.0;
  const ScaledBetaBinomFit full = fit_scaled_betabinom(G, n, c, w0.data(), max_iter, tol);
  const double warm[3] = {full.alpha, full.beta, full.s};
  const bool have = full.status == CONVERGED || full.status == MAX_ITER;
  parallel_for(R, threads, [&](i64 r) {
    const std::vector<double> w = replicate_group_weights(P, group_of, G, seed, r);
    const ScaledBetaBinomFit f = fit_scaled_betabinom(G, n, c, w.data(), max_iter, tol, have ? warm : nullptr);
    alpha[r] = f.alpha;
    beta[r] = f.beta;
    scale[r] = f.s;
    status[r] = f.status;
  }, 1);
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
