// Batched item response theory: Rasch, 2PL and multidimensional 2PL (REFERENCE.md section 3).
//   P(y_ji = 1) = sigmoid(a_i . theta_j - b_i)   (Rasch: a_i = 1, D = 1)
// Fitting is joint MAP by alternating Newton steps: abilities (per model, parallel) with a N(0, I) prior,
// then item parameters (per item, parallel) with priors a_id ~ N(mu_a, sd_a^2), b_i ~ N(0, sd_b^2).
// Both blocks are concave (logistic likelihood, Gaussian priors), so undamped Newton steps clipped to
// |step| <= 1 converge. Identifiability: after every ability step the abilities are standardised (mean 0;
// 2PL: sd 1; multidimensional: whitened to identity covariance by the Cholesky factor) and the item
// parameters transformed so every logit is unchanged; each dimension's sign makes sum_i a_id >= 0.
// Multidimensional rotation convention: after convergence the whitened abilities are rotated to the
// principal axes of the loadings (eigenvectors of A^T A, in decreasing eigenvalue order), which leaves the
// fit unchanged and makes the loading columns orthogonal.
// Responses are int8: 1, 0, or -1 (missing, skipped). Deterministic for any thread count: every parallel
// loop writes index-owned slots; every reduction (means, covariances, objective) runs in index order.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/common.hpp"
#include "core/fit/linalg.hpp"
#include "core/laws/law.hpp"

namespace lawfit::evals {

constexpr int kMaxIrtDim = 8;

enum IrtModel : std::int32_t { RASCH = 0, TWO_PL = 1, MULTI_2PL = 2 };

using laws::sigmoid;  // the laws' overflow-safe logistic
// Branch-free logistic for hot loops.
LAWFIT_HD inline double sigmoid_fast(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// log sigmoid(x), stable.
LAWFIT_HD inline double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// Folds the largest of v[n] into *mx; false if any of v is not finite (convergence checks of the sweeps).
inline bool fold_max(const double* v, i64 n, double* mx) {
  bool finite = true;
  for (i64 i = 0; i < n; ++i) {
    *mx = std::fmax(*mx, v[i]);
    finite = finite && std::isfinite(v[i]);
  }
  return finite;
}

// Solve S x = g for symmetric positive definite S [n, n] (n <= kMaxIrtDim + 1) by Cholesky; S is overwritten.
// Returns false when S is not positive definite. If inv_diag is given, it receives diag(S^-1).
LAWFIT_HD inline bool chol_solve(int n, double* S, const double* g, double* x, double* inv_diag = nullptr) {
  if (!fit::cholesky(S, n, n)) return false;
  for (int i = 0; i < n; ++i) x[i] = g[i];
  fit::cholesky_solve(S, n, n, x);
  if (inv_diag != nullptr) {  // diag(S^-1) = sum_k (L^-1)_{ki}^2
    for (int i = 0; i < n; ++i) {
      double col[kMaxIrtDim + 1] = {0};
      col[i] = 1.0;
      for (int r = i; r < n; ++r) {  // forward solve L z = e_i
        double v = col[r];
        for (int k = i; k < r; ++k) v -= S[r * n + k] * col[k];
        col[r] = v / S[r * n + r];
      }
      double s = 0;
      for (int r = i; r < n; ++r) s += col[r] * col[r];
      inv_diag[i] = s;
    }
  }
  return true;
}

struct IrtOptions {
  std::int32_t model = TWO_PL;
  int dim = 1;
  int max_iter = 200;
  double tol = 1e-4;      // converged when max |change| / (1 + |value|) over all parameters < tol
  double a_mean = 1.0;    // prior mean of discriminations (multidimensional: first dimension; others 0)
  double a_sd = 2.0;
  double b_sd = 3.0;
  int threads = 0;
};

struct IrtOutput {
  double* a;        // [I, D]
  double* b;        // [I]
  double* theta;    // [M, D]
  double* se_a;     // [I, D]
  double* se_b;     // [I]
  double* se_theta; // [M, D]
  double objective = kNaN;  // log posterior
  int iterations = 0;
  Status status = NOT_RUN;
};

// Newton steps (at most `steps`, stopping once |step| < step_tol) for the ability of one model from the items
// it answered. y [n_items] responses (-1 skipped); items: optional index list (null = 0..n_items-1);
// a [I, D], b [I]. Returns the largest |step|; if se is given, writes sqrt(diag(H^-1)) at the final point.
LAWFIT_HD inline void ability_grad_hess(int D, i64 n_items, const std::int8_t* y, const i64* items, const double* a,
                                        const double* b, const double* th, double* g, double* H) {
  if (D == 1) {  // unidimensional fast path
    double gg = -th[0], hh = 1.0;
    const double t0 = th[0];
    if (items == nullptr) {  // straight-line loop: missing answers get weight 0
      for (i64 i = 0; i < n_items; ++i) {
        const double m = y[i] >= 0 ? 1.0 : 0.0, yd = static_cast<double>(y[i]);
        const double ai = a[i], p = sigmoid_fast(ai * t0 - b[i]);
        gg += m * (yd - p) * ai;
        hh += m * p * (1 - p) * ai * ai;
      }
    } else {
      for (i64 t = 0; t < n_items; ++t) {
        const std::int8_t yv = y[t];
        if (yv < 0) continue;
        const i64 i = items[t];
        const double ai = a[i], p = sigmoid_fast(ai * t0 - b[i]);
        gg += (yv - p) * ai;
        hh += p * (1 - p) * ai * ai;
      }
    }
    g[0] = gg;
    H[0] = hh;
    return;
  }
  for (int d = 0; d < D; ++d) {
    g[d] = -th[d];
    for (int e = 0; e < D; ++e) H[d * D + e] = d == e ? 1.0 : 0.0;
  }
  for (i64 t = 0; t < n_items; ++t) {
    const std::int8_t yv = y[t];
    if (yv < 0) continue;
    const i64 i = items ? items[t] : t;
    const double* ai = a + i * D;
    double eta = -b[i];
    for (int d = 0; d < D; ++d) eta += ai[d] * th[d];
    const double p = sigmoid(eta), r = yv - p, w = p * (1 - p);
    for (int d = 0; d < D; ++d) {
      g[d] += r * ai[d];
      for (int e = 0; e <= d; ++e) H[d * D + e] += w * ai[d] * ai[e];
    }
  }
  for (int d = 0; d < D; ++d)
    for (int e = d + 1; e < D; ++e) H[d * D + e] = H[e * D + d];
}

LAWFIT_HD inline double ability_newton(int D, i64 n_items, const std::int8_t* y, const i64* items, const double* a,
                                       const double* b, double* th, int steps, double step_tol, double* se) {
  double maxstep = 0.0;
  double g[kMaxIrtDim], H[kMaxIrtDim * kMaxIrtDim], dx[kMaxIrtDim], idg[kMaxIrtDim];
  for (int s = 0; s < steps; ++s) {
    ability_grad_hess(D, n_items, y, items, a, b, th, g, H);
    if (!chol_solve(D, H, g, dx)) break;
    double mx = 0;
    for (int d = 0; d < D; ++d) mx = std::fmax(mx, std::fabs(dx[d]));
    const double scale = mx > 1.0 ? 1.0 / mx : 1.0;
    for (int d = 0; d < D; ++d) th[d] += scale * dx[d];
    maxstep = std::fmax(maxstep, mx * scale);
    if (mx < step_tol) break;
  }
  if (se != nullptr) {
    ability_grad_hess(D, n_items, y, items, a, b, th, g, H);
    if (chol_solve(D, H, g, dx, idg))
      for (int d = 0; d < D; ++d) se[d] = std::sqrt(idg[d]);
    else
      for (int d = 0; d < D; ++d) se[d] = kNaN;
  }
  return maxstep;
}

// One Newton step for item i from the models that answered it. yt [M] responses of item i (-1 skipped),
// theta [M, D]. Params: a_i [D] (unused for Rasch) and b_i. Returns the largest |step|; with se_a/se_b given,
// writes standard errors sqrt(diag(H^-1)) at the current point instead of stepping.
LAWFIT_HD inline double item_newton(const IrtOptions& o, int D, i64 M, const std::int8_t* yt, const double* theta,
                                    double* ai, double* bi, double* se_a, double* se_b) {
  const bool rasch = o.model == RASCH;
  const int n = rasch ? 1 : D + 1;  // unknowns: (a_1..a_D, b) or b
  double g[kMaxIrtDim + 1], H[(kMaxIrtDim + 1) * (kMaxIrtDim + 1)], dx[kMaxIrtDim + 1], idg[kMaxIrtDim + 1];
  for (int u = 0; u < n * n; ++u) H[u] = 0;
  const double pa = 1.0 / (o.a_sd * o.a_sd), pb = 1.0 / (o.b_sd * o.b_sd);
  if (!rasch) {
    for (int d = 0; d < D; ++d) {
      const double mu = d == 0 ? o.a_mean : 0.0;
      g[d] = -(ai[d] - mu) * pa;
      H[d * n + d] = pa;
    }
  }
  g[n - 1] = -(*bi) * pb;
  H[(n - 1) * n + (n - 1)] = pb;
  if (!rasch && D == 1) {  // unidimensional 2PL fast path: unknowns (a, b)
    double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    const double a0 = ai[0], b0 = *bi;
    for (i64 j = 0; j < M; ++j) {  // straight-line loop: missing answers get weight 0
      const double m = yt[j] >= 0 ? 1.0 : 0.0, yd = static_cast<double>(yt[j]);
      const double t = theta[j], p = sigmoid_fast(a0 * t - b0), r = m * (yd - p), w = m * p * (1 - p);
      ga += r * t;
      gb -= r;
      haa += w * t * t;
      hab -= w * t;
      hbb += w;
    }
    g[0] += ga;
    g[1] += gb;
    H[0] += haa;
    H[2] += hab;
    H[3] += hbb;
  } else {
  for (i64 j = 0; j < M; ++j) {
    const std::int8_t yv = yt[j];
    if (yv < 0) continue;
    const double* tj = theta + j * D;
    double eta = -(*bi);
    if (rasch) eta += tj[0];
    else
      for (int d = 0; d < D; ++d) eta += ai[d] * tj[d];
    const double p = sigmoid_fast(eta), r = yv - p, w = p * (1 - p);
    // d eta / d a_d = theta_d, d eta / d b = -1
    if (!rasch) {
      for (int d = 0; d < D; ++d) {
        g[d] += r * tj[d];
        for (int e = 0; e <= d; ++e) H[d * n + e] += w * tj[d] * tj[e];
        H[(n - 1) * n + d] -= w * tj[d];
      }
    }
    g[n - 1] -= r;
    H[(n - 1) * n + (n - 1)] += w;
  }
  }
  for (int d = 0; d < n; ++d)
    for (int e = d + 1; e < n; ++e) H[d * n + e] = H[e * n + d];
  const bool want_se = se_a != nullptr;
  if (!chol_solve(n, H, g, dx, want_se ? idg : nullptr)) return 0.0;
  if (want_se) {
    if (!rasch)
      for (int d = 0; d < D; ++d) se_a[d] = std::sqrt(idg[d]);
    *se_b = std::sqrt(idg[n - 1]);
    return 0.0;
  }
  double mx = 0;
  for (int u = 0; u < n; ++u) mx = std::fmax(mx, std::fabs(dx[u]));
  const double scale = mx > 1.0 ? 1.0 / mx : 1.0;
  if (!rasch)
    for (int d = 0; d < D; ++d) ai[d] += scale * dx[d];
  *bi += scale * dx[n - 1];
  return mx * scale;
}

// Symmetric eigen-decomposition of S [n, n] by cyclic Jacobi: S = V diag(w) V^T (V column-major in rows).
inline void jacobi_eigen(int n, double* S, double* w, double* V) {
  for (int i = 0; i < n * n; ++i) V[i] = (i / n == i % n) ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) off += S[p * n + q] * S[p * n + q];
    if (off < 1e-30) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (std::fabs(S[p * n + q]) < 1e-300) continue;
        const double theta = (S[q * n + q] - S[p * n + p]) / (2 * S[p * n + q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // S <- J^T S J
          const double skp = S[k * n + p], skq = S[k * n + q];
          S[k * n + p] = c * skp - s * skq;
          S[k * n + q] = s * skp + c * skq;
        }
        for (int k = 0; k < n; ++k) {
          const double spk = S[p * n + k], sqk = S[q * n + k];
          S[p * n + k] = c * spk - s * sqk;
          S[q * n + k] = s * spk + c * sqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  for (int i = 0; i < n; ++i) w[i] = S[i * n + i];
}

// Log posterior of the whole fit (likelihood + priors), summed per model then in model order.
inline double irt_objective(const IrtOptions& o, int D, i64 M, i64 I, const std::int8_t* Y, const double* a,
                            const double* b, const double* theta) {
  std::vector<double> row(static_cast<size_t>(M));
  const bool rasch = o.model == RASCH;
  parallel_for(M, o.threads, [&](i64 j) {
    const double* tj = theta + j * D;
    double s = 0;
    for (int d = 0; d < D; ++d) s -= 0.5 * tj[d] * tj[d];
    for (i64 i = 0; i < I; ++i) {
      const std::int8_t yv = Y[j * I + i];
      if (yv < 0) continue;
      double eta = -b[i];
      if (rasch) eta += tj[0];
      else
        for (int d = 0; d < D; ++d) eta += a[i * D + d] * tj[d];
      s += yv ? log_sigmoid(eta) : log_sigmoid(-eta);
    }
    row[static_cast<size_t>(j)] = s;
  });
  double tot = 0;
  for (i64 j = 0; j < M; ++j) tot += row[static_cast<size_t>(j)];
  for (i64 i = 0; i < I; ++i) {
    if (!rasch)
      for (int d = 0; d < D; ++d) {
        const double mu = d == 0 ? o.a_mean : 0.0, z = (a[i * D + d] - mu) / o.a_sd;
        tot -= 0.5 * z * z;
      }
    const double z = b[i] / o.b_sd;
    tot -= 0.5 * z * z;
  }
  return tot;
}

// Standardise abilities (see the header comment) and transform item parameters to keep every logit.
inline void irt_standardise(const IrtOptions& o, int D, i64 M, i64 I, double* a, double* b, double* theta) {
  double m[kMaxIrtDim] = {0}, C[kMaxIrtDim * kMaxIrtDim] = {0};
  for (i64 j = 0; j < M; ++j)
    for (int d = 0; d < D; ++d) m[d] += theta[j * D + d];
  for (int d = 0; d < D; ++d) m[d] /= static_cast<double>(M);
  if (o.model == RASCH) {
    parallel_for(M, o.threads, [&](i64 j) { theta[j] -= m[0]; });
    parallel_for(I, o.threads, [&](i64 i) { b[i] -= m[0]; });
    return;
  }
  for (i64 j = 0; j < M; ++j)
    for (int d = 0; d < D; ++d)
      for (int e = 0; e <= d; ++e) C[d * D + e] += (theta[j * D + d] - m[d]) * (theta[j * D + e] - m[e]);
  for (int d = 0; d < D; ++d)
    for (int e = 0; e <= d; ++e) {
      C[d * D + e] /= static_cast<double>(M);
      C[e * D + d] = C[d * D + e];
    }
  // Cholesky C = L L^T (lower); whiten theta' = L^-1 (theta - m); a' = L^T a; b' = b - a . m.
  double L[kMaxIrtDim * kMaxIrtDim] = {0};
  for (int j = 0; j < D; ++j) {
    double d = C[j * D + j];
    for (int k = 0; k < j; ++k) d -= L[j * D + k] * L[j * D + k];
    if (!(d > 1e-12)) return;  // degenerate abilities (e.g. all models identical): leave as is
    d = std::sqrt(d);
    L[j * D + j] = d;
    for (int i = j + 1; i < D; ++i) {
      double v = C[i * D + j];
      for (int k = 0; k < j; ++k) v -= L[i * D + k] * L[j * D + k];
      L[i * D + j] = v / d;
    }
  }
  parallel_for(M, o.threads, [&](i64 j) {
    double* t = theta + j * D;
    for (int d = 0; d < D; ++d) {
      double v = t[d] - m[d];
      for (int k = 0; k < d; ++k) v -= L[d * D + k] * t[k];
      t[d] = v / L[d * D + d];
    }
  });
  parallel_for(I, o.threads, [&](i64 i) {
    double* ai = a + i * D;
    double shift = 0;
    for (int d = 0; d < D; ++d) shift += ai[d] * m[d];
    b[i] -= shift;
    double na[kMaxIrtDim];
    for (int e = 0; e < D; ++e) {
      double v = 0;
      for (int d = e; d < D; ++d) v += L[d * D + e] * ai[d];
      na[e] = v;
    }
    for (int d = 0; d < D; ++d) ai[d] = na[d];
  });
}

// Sign convention: each dimension's discriminations sum to >= 0 (flip a_.d and theta_.d otherwise).
inline void irt_fix_sign(const IrtOptions& o, int D, i64 M, i64 I, double* a, double* theta) {
  if (o.model == RASCH) return;
  for (int d = 0; d < D; ++d) {
    double s = 0;
    for (i64 i = 0; i < I; ++i) s += a[i * D + d];
    if (s >= 0) continue;
    parallel_for(I, o.threads, [&](i64 i) { a[i * D + d] = -a[i * D + d]; });
    parallel_for(M, o.threads, [&](i64 j) { theta[j * D + d] = -theta[j * D + d]; });
  }
}

// Fit. Y [M, I] int8 (row-major, models x items). Output arrays must be allocated by the caller; a, b and
// theta hold the starting values on entry (the caller passes zeros/ones or a warm start).
inline void fit_irt(const IrtOptions& o, i64 M, i64 I, const std::int8_t* Y, IrtOutput& out) {
  const int D = o.model == MULTI_2PL ? o.dim : 1;
  double *a = out.a, *b = out.b, *theta = out.theta;
  if (o.model == RASCH) std::fill(a, a + I, 1.0);
  // Item-major copy so the item step reads contiguous columns.
  std::vector<std::int8_t> YT(static_cast<size_t>(M * I));
  parallel_for(I, o.threads, [&](i64 i) {
    for (i64 j = 0; j < M; ++j) YT[static_cast<size_t>(i * M + j)] = Y[j * I + i];
  });
  std::vector<double> step_m(static_cast<size_t>(M)), step_i(static_cast<size_t>(I));
  std::vector<double> prev_a(static_cast<size_t>(I * D)), prev_b(static_cast<size_t>(I)),
      prev_t(static_cast<size_t>(M * D));
  out.status = MAX_ITER;
  for (int it = 0; it < o.max_iter; ++it) {
    out.iterations = it + 1;
    std::copy(a, a + I * D, prev_a.begin());
    std::copy(b, b + I, prev_b.begin());
    std::copy(theta, theta + M * D, prev_t.begin());
    parallel_for(M, o.threads, [&](i64 j) {
      if (o.model == RASCH) {
        // Rasch: a_i = 1 for the ability step (a is stored as ones).
        ability_newton(1, I, Y + j * I, nullptr, a, b, theta + j, 1, 0.0, nullptr);
      } else {
        ability_newton(D, I, Y + j * I, nullptr, a, b, theta + j * D, 1, 0.0, nullptr);
      }
    });
    irt_standardise(o, D, M, I, a, b, theta);
    parallel_for(I, o.threads, [&](i64 i) {
      item_newton(o, D, M, YT.data() + i * M, theta, a + i * D, b + i, nullptr, nullptr);
    });
    irt_fix_sign(o, D, M, I, a, theta);
    // relative change, reduced per index then by max (order-free)
    parallel_for(I, o.threads, [&](i64 i) {
      double c = std::fabs(b[i] - prev_b[i]) / (1 + std::fabs(b[i]));
      for (int d = 0; d < D; ++d)
        c = std::fmax(c, std::fabs(a[i * D + d] - prev_a[i * D + d]) / (1 + std::fabs(a[i * D + d])));
      step_i[i] = c;
    });
    parallel_for(M, o.threads, [&](i64 j) {
      double c = 0;
      for (int d = 0; d < D; ++d)
        c = std::fmax(c, std::fabs(theta[j * D + d] - prev_t[j * D + d]) / (1 + std::fabs(theta[j * D + d])));
      step_m[j] = c;
    });
    double mx = 0;
    const bool finite = fold_max(step_i.data(), I, &mx) & fold_max(step_m.data(), M, &mx);
    if (!finite) {
      out.status = NON_FINITE;
      break;
    }
    if (mx < o.tol) {
      out.status = CONVERGED;
      break;
    }
  }
  if (o.model == MULTI_2PL && D > 1) {  // rotate to the principal axes of the loadings
    double S[kMaxIrtDim * kMaxIrtDim] = {0}, w[kMaxIrtDim], V[kMaxIrtDim * kMaxIrtDim];
    for (i64 i = 0; i < I; ++i)
      for (int d = 0; d < D; ++d)
        for (int e = 0; e < D; ++e) S[d * D + e] += a[i * D + d] * a[i * D + e];
    jacobi_eigen(D, S, w, V);
    int order[kMaxIrtDim];
    for (int d = 0; d < D; ++d) order[d] = d;
    std::sort(order, order + D, [&](int x, int y) { return w[x] > w[y] || (w[x] == w[y] && x < y); });
    auto rotate = [&](double* v) {
      double nv[kMaxIrtDim];
      for (int e = 0; e < D; ++e) {
        double s = 0;
        for (int d = 0; d < D; ++d) s += V[d * D + order[e]] * v[d];
        nv[e] = s;
      }
      for (int e = 0; e < D; ++e) v[e] = nv[e];
    };
    parallel_for(I, o.threads, [&](i64 i) { rotate(a + i * D); });
    parallel_for(M, o.threads, [&](i64 j) { rotate(theta + j * D); });
    irt_fix_sign(o, D, M, I, a, theta);
  }
  // Standard errors at the final point (conditional on the other block).
  parallel_for(M, o.threads, [&](i64 j) {
    double t[kMaxIrtDim];
    for (int d = 0; d < D; ++d) t[d] = theta[j * D + d];
    ability_newton(D, I, Y + j * I, nullptr, a, b, t, 0, 0.0, out.se_theta + j * D);
  });
  parallel_for(I, o.threads, [&](i64 i) {
    double ai[kMaxIrtDim], bi = b[i];
    for (int d = 0; d < D; ++d) ai[d] = a[i * D + d];
    item_newton(o, D, M, YT.data() + i * M, theta, ai, &bi, out.se_a + i * D, out.se_b + i);
  });
  if (o.model == RASCH)
    for (i64 i = 0; i < I; ++i) out.se_a[i] = 0.0;
  out.objective = irt_objective(o, D, M, I, Y, a, b, theta);
}

// ---- marginal maximum likelihood (Bock-Aitkin EM), unidimensional 2PL ----------------------------------
// Abilities are integrated out against N(0, 1) on a fixed grid of Q equally spaced nodes on [-6, 6] with
// weights proportional to the normal density (Q >= 21 is accurate to well below the sampling noise). Every
// EM cycle: (E) per model, the posterior over the nodes from all its answers, from per-item tables of
// log P and log(1 - P) at the nodes (parallel over models); (M) per item, the expected counts
// r_iq = sum_j y_ji post_jq and n_iq = sum_j [answered] post_jq, then Newton steps (clipped to |step| <= 1) on
// the expected complete-data log likelihood plus the priors a ~ N(mu_a, sd_a^2), b ~ N(0, sd_b^2) (parallel over
// items). The scale and location are fixed by the N(0, 1) ability distribution, so no standardisation is
// needed; the sign convention (sum a >= 0) is applied at the end. Reported abilities are the posterior means
// (EAP) and standard deviations at the final items; item standard errors come from the expected
// complete-data information at the optimum (slightly optimistic, as usual for EM). Deterministic for any
// thread count (index-owned writes; the objective is summed in model order).

inline void mml_grid(int Q, double* x, double* logw) {
  double tot = 0;
  for (int q = 0; q < Q; ++q) {
    x[q] = Q > 1 ? -6.0 + 12.0 * q / (Q - 1) : 0.0;
    logw[q] = -0.5 * x[q] * x[q];
    tot += std::exp(logw[q]);
  }
  for (int q = 0; q < Q; ++q) logw[q] -= std::log(tot);
}

// Posterior over the nodes of one model: post [Q] (normalised); returns the log marginal likelihood.
// y [n] responses to items (index list, null = 0..n-1); lp1/lp0 [I, Q] tables.
inline double mml_posterior(int Q, const double* logw, i64 n, const std::int8_t* y, const i64* items,
                            const double* lp1, const double* lp0, double* post) {
  for (int q = 0; q < Q; ++q) post[q] = logw[q];
  for (i64 t = 0; t < n; ++t) {
    const std::int8_t yv = y[t];
    if (yv < 0) continue;
    const i64 i = items ? items[t] : t;
    const double* row = (yv ? lp1 : lp0) + i * Q;
    for (int q = 0; q < Q; ++q) post[q] += row[q];
  }
  double mx = -kInf;
  for (int q = 0; q < Q; ++q) mx = std::fmax(mx, post[q]);
  double s = 0;
  for (int q = 0; q < Q; ++q) {
    post[q] = std::exp(post[q] - mx);
    s += post[q];
  }
  for (int q = 0; q < Q; ++q) post[q] /= s;
  return mx + std::log(s);
}

// Newton steps on one item's expected complete-data log posterior; r, n [Q]. With se given, writes the SEs
// (from the Hessian at the final point) instead of stepping further.
inline double mml_item_newton(const IrtOptions& o, int Q, const double* x, const double* r, const double* n,
                              double* ai, double* bi, int steps, double* se_a, double* se_b) {
  const double pa = 1.0 / (o.a_sd * o.a_sd), pb = 1.0 / (o.b_sd * o.b_sd);
  double maxstep = 0;
  for (int s = 0; s <= steps; ++s) {
    const double a0 = *ai, b0 = *bi;
    double ga = -(a0 - o.a_mean) * pa, gb = -b0 * pb, haa = pa, hab = 0, hbb = pb;
    for (int q = 0; q < Q; ++q) {
      const double p = sigmoid(a0 * x[q] - b0), res = r[q] - n[q] * p, w = n[q] * p * (1 - p);
      ga += res * x[q];
      gb -= res;
      haa += w * x[q] * x[q];
      hab -= w * x[q];
      hbb += w;
    }
    const double det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    if (s == steps) {
      if (se_a != nullptr) {
        *se_a = std::sqrt(hbb / det);
        *se_b = std::sqrt(haa / det);
      }
      break;
    }
    const double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    const double mx = std::fmax(std::fabs(da), std::fabs(db)), sc = mx > 1.0 ? 1.0 / mx : 1.0;
    *ai += sc * da;
    *bi += sc * db;
    maxstep = std::fmax(maxstep, mx * sc);
    if (mx < 1e-10) {
      if (se_a == nullptr) break;
      steps = s + 1;  // one more pass for the SEs
    }
  }
  return maxstep;
}

inline void fit_irt_mml(const IrtOptions& o, int Q, i64 M, i64 I, const std::int8_t* Y, IrtOutput& out) {
  double *a = out.a, *b = out.b;
  std::vector<double> x(static_cast<size_t>(Q)), logw(static_cast<size_t>(Q));
  mml_grid(Q, x.data(), logw.data());
  std::vector<std::int8_t> YT(static_cast<size_t>(M * I));
  parallel_for(I, o.threads, [&](i64 i) {
    for (i64 j = 0; j < M; ++j) YT[static_cast<size_t>(i * M + j)] = Y[j * I + i];
  });
  const size_t IQ = static_cast<size_t>(I) * Q, MQ = static_cast<size_t>(M) * Q;
  std::vector<double> lp1(IQ), lp0(IQ), post(MQ), ll(static_cast<size_t>(M)), change(static_cast<size_t>(I)),
      prev_a(static_cast<size_t>(I)), prev_b(static_cast<size_t>(I));
  auto tables = [&]() {
    parallel_for(I, o.threads, [&](i64 i) {
      for (int q = 0; q < Q; ++q) {
        const double eta = a[i] * x[q] - b[i];
        lp1[i * Q + q] = log_sigmoid(eta);
        lp0[i * Q + q] = log_sigmoid(-eta);
      }
    });
  };
  auto estep = [&]() {
    tables();
    parallel_for(M, o.threads, [&](i64 j) {
      ll[j] = mml_posterior(Q, logw.data(), I, Y + j * I, nullptr, lp1.data(), lp0.data(), post.data() + j * Q);
    });
  };
  auto counts = [&](i64 i, double* r, double* n) {
    for (int q = 0; q < Q; ++q) r[q] = n[q] = 0;
    const std::int8_t* yt = YT.data() + i * M;
    for (i64 j = 0; j < M; ++j) {
      const std::int8_t yv = yt[j];
      if (yv < 0) continue;
      const double* pj = post.data() + j * Q;
      for (int q = 0; q < Q; ++q) n[q] += pj[q];
      if (yv)
        for (int q = 0; q < Q; ++q) r[q] += pj[q];
    }
  };
  out.status = MAX_ITER;
  for (int it = 0; it < o.max_iter; ++it) {
    out.iterations = it + 1;
    std::copy(a, a + I, prev_a.begin());
    std::copy(b, b + I, prev_b.begin());
    estep();
    // Scale acceleration: with many items per model the likelihood pins abilities relative to the items, and
    // plain EM crawls along the (location, scale) ridge that only the N(0, 1) ability distribution fixes. At
    // the optimum the posteriors average to that distribution (mean 0, second moment 1), so re-express the
    // items on the scale where the pooled posterior has mean 0 and sd 1 (every logit unchanged) and redo the
    // E-step; the moments are summed in model order.
    {
      double m1 = 0, m2 = 0;
      for (i64 j = 0; j < M; ++j) {
        const double* pj = post.data() + j * Q;
        for (int q = 0; q < Q; ++q) {
          m1 += pj[q] * x[q];
          m2 += pj[q] * x[q] * x[q];
        }
      }
      m1 /= static_cast<double>(M);
      const double var = m2 / static_cast<double>(M) - m1 * m1;
      // Only while the pooled moments are off by more than 1e-3: on the discrete grid the EM fixed point has
      // moments within about that of (0, 1), and correcting further would fight the M-step forever.
      if (var > 1e-6 && (std::fabs(m1) > 1e-3 || std::fabs(var - 1) > 1e-3)) {
        const double sd = std::sqrt(var);
        parallel_for(I, o.threads, [&](i64 i) {
          b[i] -= a[i] * m1;
          a[i] *= sd;
        });
        estep();
      }
    }
    parallel_for(I, o.threads, [&](i64 i) {
      std::vector<double> r(static_cast<size_t>(Q)), n(static_cast<size_t>(Q));
      counts(i, r.data(), n.data());
      mml_item_newton(o, Q, x.data(), r.data(), n.data(), a + i, b + i, 20, nullptr, nullptr);
      // change over the whole cycle (rescaling included), so a cycle that rescales and steps back is stationary
      change[i] = std::fmax(std::fabs(a[i] - prev_a[i]) / (1 + std::fabs(a[i])),
                            std::fabs(b[i] - prev_b[i]) / (1 + std::fabs(b[i])));
    });
    double mx = 0;
    const bool finite = fold_max(change.data(), I, &mx);
    if (!finite) {
      out.status = NON_FINITE;
      break;
    }
    if (mx < o.tol) {
      out.status = CONVERGED;
      break;
    }
  }
  // Final E-step at the final items: EAP abilities, item SEs, marginal log posterior.
  estep();
  parallel_for(I, o.threads, [&](i64 i) {
    std::vector<double> r(static_cast<size_t>(Q)), n(static_cast<size_t>(Q));
    counts(i, r.data(), n.data());
    double ai = a[i], bi = b[i];
    mml_item_newton(o, Q, x.data(), r.data(), n.data(), &ai, &bi, 0, out.se_a + i, out.se_b + i);
  });
  parallel_for(M, o.threads, [&](i64 j) {
    const double* pj = post.data() + j * Q;
    double m = 0, v = 0;
    for (int q = 0; q < Q; ++q) m += pj[q] * x[q];
    for (int q = 0; q < Q; ++q) v += pj[q] * (x[q] - m) * (x[q] - m);
    out.theta[j] = m;
    out.se_theta[j] = std::sqrt(v);
  });
  IrtOptions o1 = o;
  o1.model = TWO_PL;
  irt_fix_sign(o1, 1, M, I, a, out.theta);
  double tot = 0;
  for (i64 j = 0; j < M; ++j) tot += ll[j];
  for (i64 i = 0; i < I; ++i) {
    const double za = (a[i] - o.a_mean) / o.a_sd, zb = b[i] / o.b_sd;
    tot -= 0.5 * (za * za + zb * zb);
  }
  out.objective = tot;
}

// Posterior (N(0, 1) prior, Q-node grid) score estimates of many models from their answers to items[K] under a
// fitted unidimensional model: theta_eap, theta_sd [M]; irt [M] = E[mean over all I items of P_i(theta)];
// pirt [M] = (sum of the answered anchors' responses + E[sum over every other item of P_i(theta)]) / I.
// Cost O(I Q + M K Q): the all-item curve sum_i P_i(x_q) is computed once.
inline void irt_posterior_scores(i64 M, i64 K, const std::int8_t* Y, const i64* items, i64 I, const double* a,
                                 const double* b, int Q, double* theta, double* sd, double* irt, double* pirt,
                                 int threads) {
  std::vector<double> x(static_cast<size_t>(Q)), logw(static_cast<size_t>(Q)), tcc(static_cast<size_t>(Q));
  mml_grid(Q, x.data(), logw.data());
  std::vector<double> part(static_cast<size_t>(I) * Q);
  parallel_for(I, threads, [&](i64 i) {
    for (int q = 0; q < Q; ++q) part[i * Q + q] = sigmoid(a[i] * x[q] - b[i]);
  });
  for (int q = 0; q < Q; ++q) tcc[q] = 0;
  for (i64 i = 0; i < I; ++i)
    for (int q = 0; q < Q; ++q) tcc[q] += part[i * Q + q];
  std::vector<double> lp1(static_cast<size_t>(K) * Q), lp0(static_cast<size_t>(K) * Q);
  parallel_for(K, threads, [&](i64 t) {
    const i64 i = items ? items[t] : t;
    for (int q = 0; q < Q; ++q) {
      const double eta = a[i] * x[q] - b[i];
      lp1[t * Q + q] = log_sigmoid(eta);
      lp0[t * Q + q] = log_sigmoid(-eta);
    }
  });
  parallel_for(M, threads, [&](i64 j) {
    std::vector<double> post(static_cast<size_t>(Q)), rest(static_cast<size_t>(Q));
    const std::int8_t* yj = Y + j * K;
    mml_posterior(Q, logw.data(), K, yj, nullptr, lp1.data(), lp0.data(), post.data());
    for (int q = 0; q < Q; ++q) rest[q] = tcc[q];
    double ysum = 0;
    for (i64 t = 0; t < K; ++t) {
      if (yj[t] < 0) continue;
      ysum += yj[t];
      const i64 i = items ? items[t] : t;
      for (int q = 0; q < Q; ++q) rest[q] -= part[i * Q + q];
    }
    double m = 0, v = 0, e_all = 0, e_rest = 0;
    for (int q = 0; q < Q; ++q) {
      m += post[q] * x[q];
      e_all += post[q] * tcc[q];
      e_rest += post[q] * rest[q];
    }
    for (int q = 0; q < Q; ++q) v += post[q] * (x[q] - m) * (x[q] - m);
    theta[j] = m;
    sd[j] = std::sqrt(v);
    irt[j] = e_all / static_cast<double>(I);
    pirt[j] = (ysum + e_rest) / static_cast<double>(I);
  });
}

// MAP abilities of many models from fixed item parameters. Y [M, K] responses to items[K] (-1 missing).
// theta [M, D] in/out (start), se [M, D] out. Newton to |step| < 1e-8 (at most max_iter steps).
inline void irt_abilities(int D, i64 M, i64 K, const std::int8_t* Y, const i64* items, const double* a,
                          const double* b, int max_iter, double* theta, double* se, int threads) {
  parallel_for(M, threads, [&](i64 j) {
    ability_newton(D, K, Y + j * K, items, a, b, theta + j * D, max_iter, 1e-8, se + j * D);
  });
}

// Mean predicted probability over items[K] for each model: out [M].
inline void irt_mean_prob(int D, i64 M, const double* theta, i64 K, const i64* items, const double* a,
                          const double* b, double* out, int threads) {
  parallel_for(M, threads, [&](i64 j) {
    const double* tj = theta + j * D;
    double s = 0;
    for (i64 t = 0; t < K; ++t) {
      const i64 i = items ? items[t] : t;
      double eta = -b[i];
      for (int d = 0; d < D; ++d) eta += a[i * D + d] * tj[d];
      s += sigmoid(eta);
    }
    out[j] = K > 0 ? s / static_cast<double>(K) : kNaN;
  }, 1);
}

// k-means (k-means++ seeding from Philox(seed), then Lloyd) on X [N, F]. Returns labels [N] and centroids
// [k, F]; anchors [k] = the member nearest each centroid (lowest index on ties), sizes [k].
inline void kmeans(i64 N, int F, const double* X, i64 k, std::uint64_t seed, int max_iter, i64* labels,
                   double* centroids, i64* anchors, i64* sizes, int threads) {
  auto dist2 = [&](const double* x, const double* c) {
    double s = 0;
    for (int f = 0; f < F; ++f) s += (x[f] - c[f]) * (x[f] - c[f]);
    return s;
  };
  std::vector<double> dmin(static_cast<size_t>(N), kInf);
  Philox rng(seed, 0x4B4D45414E53ull, 0);
  i64 first = rng.below(N);
  for (int f = 0; f < F; ++f) centroids[f] = X[first * F + f];
  for (i64 c = 1; c < k; ++c) {
    const double* prev = centroids + (c - 1) * F;
    parallel_for(N, threads, [&](i64 i) { dmin[i] = std::fmin(dmin[i], dist2(X + i * F, prev)); });
    double tot = 0;
    for (i64 i = 0; i < N; ++i) tot += dmin[i];
    i64 pick = N - 1;
    if (tot > 0) {
      double u = rng.uniform() * tot, acc = 0;
      for (i64 i = 0; i < N; ++i) {
        acc += dmin[i];
        if (acc >= u && dmin[i] > 0) {
          pick = i;
          break;
        }
      }
    } else {
      pick = rng.below(N);
    }
    for (int f = 0; f < F; ++f) centroids[c * F + f] = X[pick * F + f];
  }
  for (i64 i = 0; i < N; ++i) labels[i] = -1;
  for (int it = 0; it < max_iter; ++it) {
    std::vector<std::int8_t> changed(static_cast<size_t>(N), 0);
    parallel_for(N, threads, [&](i64 i) {
      i64 best = 0;
      double bd = kInf;
      for (i64 c = 0; c < k; ++c) {
        const double d = dist2(X + i * F, centroids + c * F);
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      changed[i] = labels[i] != best;
      labels[i] = best;
    });
    bool any = false;
    for (i64 i = 0; i < N; ++i) any = any || changed[i];
    std::vector<double> sum(static_cast<size_t>(k * F), 0.0);
    for (i64 c = 0; c < k; ++c) sizes[c] = 0;
    for (i64 i = 0; i < N; ++i) {
      ++sizes[labels[i]];
      for (int f = 0; f < F; ++f) sum[labels[i] * F + f] += X[i * F + f];
    }
    for (i64 c = 0; c < k; ++c)
      if (sizes[c] > 0)
        for (int f = 0; f < F; ++f) centroids[c * F + f] = sum[c * F + f] / static_cast<double>(sizes[c]);
    if (!any) break;
  }
  std::vector<double> best(static_cast<size_t>(k), kInf);
  for (i64 c = 0; c < k; ++c) anchors[c] = -1;
  for (i64 i = 0; i < N; ++i) {
    const i64 c = labels[i];
    const double d = dist2(X + i * F, centroids + c * F);
    if (d < best[c]) {
      best[c] = d;
      anchors[c] = i;
    }
  }
}

// Computerised adaptive testing, simulated from a response matrix for many models at once (unidimensional
// or multidimensional). Start at theta = 0; repeatedly administer the unused item with the largest Fisher
// information a.a * p(1-p) at the current MAP ability (items whose response is missing are skipped); stop once
// the largest posterior SE <= se_stop (after min_items) or after max_items.
// Y [M, I]; order [M, max_items] administered item indices (-1 padded); n_used [M]; theta, se [M, D].
inline void irt_adaptive(int D, i64 M, i64 I, const std::int8_t* Y, const double* a, const double* b, double se_stop,
                         i64 min_items, i64 max_items, i64* order, i64* n_used, double* theta, double* se,
                         int threads) {
  parallel_for(M, threads, [&](i64 j) {
    std::vector<std::int8_t> used(static_cast<size_t>(I), 0);
    std::vector<std::int8_t> ys(static_cast<size_t>(max_items));
    i64* ord = order + j * max_items;
    double* tj = theta + j * D;
    double* sj = se + j * D;
    for (int d = 0; d < D; ++d) {
      tj[d] = 0;
      sj[d] = 1;
    }
    for (i64 t = 0; t < max_items; ++t) ord[t] = -1;
    i64 n = 0;
    while (n < max_items) {
      i64 best = -1;
      double bi = -1;
      for (i64 i = 0; i < I; ++i) {
        if (used[i] || Y[j * I + i] < 0) continue;
        double eta = -b[i], aa = 0;
        for (int d = 0; d < D; ++d) {
          eta += a[i * D + d] * tj[d];
          aa += a[i * D + d] * a[i * D + d];
        }
        const double p = sigmoid(eta), info = aa * p * (1 - p);
        if (info > bi) {
          bi = info;
          best = i;
        }
      }
      if (best < 0) break;
      used[best] = 1;
      ord[n] = best;
      ys[n] = Y[j * I + best];
      ++n;
      ability_newton(D, n, ys.data(), ord, a, b, tj, 50, 1e-8, sj);
      double mse = 0;
      for (int d = 0; d < D; ++d) mse = std::fmax(mse, sj[d]);
      if (n >= min_items && mse <= se_stop) break;
    }
    n_used[j] = n;
  }, 1);
}

}  // namespace lawfit::evals
