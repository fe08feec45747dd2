// Special functions for the evaluation estimators: digamma/trigamma, the regularised incomplete beta
// function and its inverse, and Gamma/Beta draws from a Philox stream. Plain C++17, host and device.
#pragma once
#include <cmath>

#include "core/common.hpp"

namespace lawfit::evals {

// psi(x) for x > 0: recurrence up to x >= 8, then the asymptotic series (abs. error < 1e-14).
LAWFIT_HD inline double digamma(double x) {
  double r = 0.0;
  while (x < 8.0) {
    r -= 1.0 / x;
    x += 1.0;
  }
  const double f = 1.0 / (x * x);
  return r + std::log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

// psi'(x) for x > 0.
LAWFIT_HD inline double trigamma(double x) {
  double r = 0.0;
  while (x < 8.0) {
    r += 1.0 / (x * x);
    x += 1.0;
  }
  const double f = 1.0 / (x * x);
  return r + 1.0 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30))));
}

LAWFIT_HD inline double log_beta(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// Continued fraction for the incomplete beta function (modified Lentz).
LAWFIT_HD inline double betacf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < eps) break;
  }
  return h;
}

// Regularised incomplete beta I_x(a, b), a, b > 0.
LAWFIT_HD inline double beta_cdf(double x, double a, double b) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double lbt = a * std::log(x) + b * std::log1p(-x) - log_beta(a, b);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(lbt) * betacf(a, b, x) / a;
  return 1.0 - std::exp(lbt) * betacf(b, a, 1.0 - x) / b;
}

// Quantile of Beta(a, b) by bisection on the CDF (monotone; 100 halvings reach double resolution).
LAWFIT_HD inline double beta_quantile(double q, double a, double b) {
  if (!(q > 0.0)) return 0.0;
  if (!(q < 1.0)) return 1.0;
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 100; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (beta_cdf(mid, a, b) < q) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

// Gamma(shape, 1) draw: Marsaglia and Tsang (2000); shape < 1 by Gamma(shape + 1) * U^(1/shape).
// Returns log of the draw, so that tiny draws (shape << 1) keep their precision.
LAWFIT_HD inline double log_gamma_draw(Philox& rng, double shape) {
  double boost = 0.0;
  if (shape < 1.0) {
    boost = std::log(rng.uniform()) / shape;
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v)))
      return std::log(d * v) + boost;
  }
}

// Beta(a, b) draw as (log p, log(1 - p)), from two Gamma draws.
LAWFIT_HD inline void log_beta_draw(Philox& rng, double a, double b, double& logp, double& log1mp) {
  const double ga = log_gamma_draw(rng, a), gb = log_gamma_draw(rng, b);
  const double m = ga > gb ? ga : gb;
  const double lse = m + std::log(std::exp(ga - m) + std::exp(gb - m));
  logp = ga - lse;
  log1mp = gb - lse;
}

}  // namespace lawfit::evals
