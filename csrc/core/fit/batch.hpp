// Batched multi-start fitting of one model to a CSR batch of curves.
//
// Layout (DESIGN.md principle 2): offsets[B+1] (int64), x[n_total, d], y[n_total], w[n_total] or null;
// bounds lower/upper [Bb, P] with Bb in {1, B}; starts [Sb, S, P] with Sb in {1, B}, or S random starts per
// curve drawn from Philox(seed, curve key, start) inside [rand_lo, rand_hi] (log-uniform for LOG parameters).
// Many curves: one task per curve validates it, prepares its inputs and runs its starts in turn. Few curves:
// validation and preparation first, then every (curve, start) pair is a task, in blocks of bounded size.
// Either way each curve keeps its best start (lowest cost; ties go to the lowest start index), so the output
// does not depend on the thread count, and a curve that fails validation gets a status and NaN parameters
// without affecting another curve.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/fit/lanes.hpp"
#include "core/fit/varpro.hpp"
#include "core/laws/law.hpp"

namespace lawfit::fit {

struct BatchInput {
  const i64* offsets;  // [B+1]
  i64 B;
  const double* x;  // [n_total, d]
  int d;
  const double* y;      // [n_total]
  const double* w;      // [n_total] or null
  const double* lower;  // [Bb, P]
  const double* upper;  // [Bb, P]
  bool per_curve_bounds;
  const std::uint64_t* keys = nullptr;  // [B] random-stream key per curve (common.hpp curve_key), or null
};

struct StartGrid;  // below

struct StartSpec {
  const double* starts = nullptr;  // [Sb, S, P] explicit starts, or null for random starts
  i64 S = 1;
  bool per_curve = false;      // Sb == B
  bool project_linear = false;  // solve the law's linear parameters exactly before LM
  const double* rand_lo = nullptr;  // [P] range of random starts (natural units)
  const double* rand_hi = nullptr;
  std::uint64_t seed = 0;
  // Where VarPro applies (core/fit/varpro.hpp) the starts can be ranked by their projected cost (one evaluation each,
  // the linear parameters solved) and only some of them solved (the others are NOT_RUN):
  //   > 0  the best `scan` of them (ties to the lower index);
  //   < 0  (kScanAuto) the local minima of the projected cost over the grid (StartGrid below): one solve per
  //        basin the grid resolves, usually one. Needs shared explicit starts (fit_batch then fills grid);
  //        otherwise every start is solved;
  //   0    every start.
  // (A default grid then costs a few evaluations and one or two solves per curve.)
  i64 scan = 0;
  const StartGrid* grid = nullptr;  // the shared starts' grid (kScanAuto)
};
constexpr i64 kScanAuto = -1;

struct BatchOutput {
  double* params;     // [B, P]
  double* cost;       // [B]
  double* cov;        // [B, P, P] or null
  std::int32_t* iters;      // [B]
  std::int32_t* status;     // [B]
  std::int64_t* best_start; // [B]
  std::int64_t* n_points;   // [B] points with positive weight
};

// Prepared inputs xp[n, Law::DP] of one curve's points x[n, d] (laws with a prepare step, law.hpp); points
// with zero weight are skipped: they are never evaluated and may lie outside the law's domain.
template <class Law>
LAWFIT_HD void prepare_points(const double* x, int d, const double* w, i64 n, double* xp) {
  if (!w && d == Law::D) {  // every point, contiguous: one loop the compiler vectorises (vector log, core/vmath.hpp)
    LAWFIT_SIMD
    for (i64 i = 0; i < n; ++i) Law::prepare(x + i * Law::D, xp + i * Law::DP);
    return;
  }
  for (i64 i = 0; i < n; ++i)
    if (!(w && w[i] == 0.0)) Law::prepare(x + i * d, xp + i * Law::DP);
}

// Validate one curve. Returns CONVERGED when the curve can be fitted.
template <class Model>
LAWFIT_HD Status check_curve(const Model& m, const Curve& c, Space space, i64* n_used) {
  if (!c.w) {
    // Unweighted (the usual case): every point is checked in passes without early exits, which the compiler can
    // vectorise; only a curve that fails goes through the loop below, which says why.
    constexpr double kMax = std::numeric_limits<double>::max();
    const i64 nx = c.n * c.d;
    int bad = 0;
    for (i64 i = 0; i < nx; ++i) bad |= !(std::fabs(c.x[i]) <= kMax);  // (NaN too)
    for (i64 i = 0; i < c.n; ++i) bad |= !(std::fabs(c.y[i]) <= kMax);
    if (space == SPACE_LOG)
      for (i64 i = 0; i < c.n; ++i) bad |= !(c.y[i] > 0.0);
    for (i64 i = 0; i < c.n; ++i) bad |= !m.domain(c.x + i * c.d);
    if (!bad) {
      *n_used = c.n;
      return (c.n < m.n_params() || c.n == 0) ? TOO_FEW_POINTS : CONVERGED;
    }
  }
  i64 n = 0;
  for (i64 i = 0; i < c.n; ++i) {
    const double* xi = c.x + i * c.d;
    for (int k = 0; k < c.d; ++k)
      if (!std::isfinite(xi[k])) return NON_FINITE;
    if (!std::isfinite(c.y[i])) return NON_FINITE;
    if (c.w) {
      if (!std::isfinite(c.w[i])) return NON_FINITE;
      if (c.w[i] < 0.0) return INVALID_INPUT;
      if (c.w[i] == 0.0) continue;
    }
    if (!m.domain(xi)) return INVALID_INPUT;
    if (space == SPACE_LOG && !(c.y[i] > 0.0)) return INVALID_INPUT;
    ++n;
  }
  *n_used = n;
  if (n < m.n_params() || n == 0) return TOO_FEW_POINTS;
  return CONVERGED;
}

// Solve the model's linear parameters by weighted least squares (in linear space) with the others held
// at p; clamps them into the bounds. Leaves p unchanged if the system is singular or not finite.
template <class Model>
LAWFIT_HD void init_linear(const Model& m, const Curve& c, double* p, const double* lower, const double* upper) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  // The linear parameters (L.lin(k)), read at run time: these sums are not the hot path, and their rounding stays
  // what it was (split_of's FixedSplit would fuse them differently).
  const RuntimeSplit<PMAX> L(m);
  const int nl = L.nl();
  if (nl == 0) return;
  double q[PMAX];
  for (int j = 0; j < np; ++j) q[j] = p[j];
  for (int k = 0; k < nl; ++k) q[L.lin(k)] = 0.0;
  double a[PMAX * PMAX] = {0.0}, b[PMAX] = {0.0}, g[PMAX], amax = 0.0;
  for (i64 i = 0; i < c.n; ++i) {
    const double wi = c.w ? c.w[i] : 1.0;
    if (wi == 0.0) continue;
    const double f0 = m.eval(c.x + i * c.d, q, g);
    if (!std::isfinite(f0)) return;
    const double r = c.y[i] - f0;
    for (int k = 0; k < nl; ++k) {
      const double gk = g[L.lin(k)];
      if (!std::isfinite(gk)) return;
      b[k] += wi * gk * r;
      for (int l = 0; l <= k; ++l) a[k * PMAX + l] += wi * gk * g[L.lin(l)];
    }
  }
  for (int k = 0; k < nl; ++k) {
    for (int l = 0; l < k; ++l) a[l * PMAX + k] = a[k * PMAX + l];
    amax = std::fmax(amax, a[k * PMAX + k]);
  }
  for (int k = 0; k < nl; ++k) a[k * PMAX + k] += 1e-12 * amax + 1e-300;  // tiny ridge
  if (!cholesky(a, nl, PMAX)) return;
  cholesky_solve(a, nl, PMAX, b);
  for (int k = 0; k < nl; ++k) {
    const int j = L.lin(k);
    double v = b[k];
    if (!std::isfinite(v)) return;
    if (m.scale(j) == LOG) {
      // A scale parameter must stay positive: a non-positive solution keeps a small positive value.
      const double floor = lower[j] > 0.0 ? lower[j] : 1e-8 * (std::fabs(v) + 1.0);
      if (v < floor) v = floor;
    }
    v = v < lower[j] ? lower[j] : v;  // std::min(std::max(v, lower), upper)
    q[j] = upper[j] < v ? upper[j] : v;
  }
  for (int j = 0; j < np; ++j) p[j] = q[j];
}

// Covariance of the natural parameters p (bounds lo, hi: natural, or null) of a fit with loss o.loss.
// Parameters at a bound (a fixed parameter, lo == hi, included) are not free: their rows and columns are NaN
// and the others' covariance is conditional on them (the inverse is taken over the free parameters only).
//   l2: inv(J^T W J) s^2, s^2 = 2 cost / (n - k) with k free parameters (scipy's curve_fit);
//   robust losses: the sandwich (Huber 1967, White 1980) H^-1 M H^-1 n / (n - k), with the bread
//   H = sum w max(rho' + 2 rho'' z, 0) J J^T (the loss's curvature) and the meat M = sum w (rho' r)^2 J J^T
//   (the spread of the gradient), so the standard errors follow the loss instead of treating it as l2; n counts
//   the points with positive weight.
// NaN where the system is singular or there are no degrees of freedom.
template <class Model>
LAWFIT_HD int free_params(const Model& m, const double* p, const double* lo, const double* hi, int* idx) {
  int nf = 0;
  for (int j = 0; j < m.n_params(); ++j)
    if (!lo || (p[j] > lo[j] && p[j] < hi[j])) idx[nf++] = j;
  return nf;
}

// The parameters a covariance is taken over: the number of free ones (their indices in idx), or 0 when there are none
// or no degrees of freedom (n_used <= their number).
template <class Model>
LAWFIT_HD int covariance_params(const Model& m, const double* p, const double* lo, const double* hi, i64 n_used,
                                int* idx) {
  const int nf = free_params(m, p, lo, hi, idx);
  return (nf == 0 || n_used <= nf) ? 0 : nf;
}

// Start of a covariance: cov filled with NaN; returns covariance_params (cov stays NaN where it is 0).
template <class Model>
LAWFIT_HD int start_covariance(const Model& m, const double* p, const double* lo, const double* hi, i64 n_used,
                               double* cov, int* idx) {
  const int np = m.n_params();
  for (int k = 0; k < np * np; ++k) cov[k] = kNaN;
  return covariance_params(m, p, lo, hi, n_used, idx);
}

// l2 from the normal equations of the fit (internal parameters): the inverse over the free parameters, then in natural
// units, J_nat = J_int diag(dtheta/dp), so inv(J_nat^T J_nat) = D inv(J_int^T J_int) D with D = diag(dp/dtheta) (p for
// a LOG parameter, 1 otherwise): no division per parameter, and cov written once where every parameter is free.
template <class Model>
LAWFIT_HD void covariance_from(const Model& m, const Normal<Model::PMAX>& ne, const double* p, const double* lo,
                               const double* hi, i64 n_used, double* cov) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  int idx[PMAX];
  const int nf = covariance_params(m, p, lo, hi, n_used, idx);
  double a[PMAX * PMAX], inv[PMAX * PMAX], work[PMAX * PMAX];
  bool ok = nf > 0;
  if (ok) {
    for (int u = 0; u < nf; ++u)
      for (int v = 0; v < nf; ++v) a[u * PMAX + v] = ne.a[idx[u] * PMAX + idx[v]];
    ok = spd_inverse<PMAX>(a, nf, inv, work);
  }
  if (!ok || nf < np)
    for (int k = 0; k < np * np; ++k) cov[k] = kNaN;
  if (!ok) return;
  const double s2 = 2.0 * ne.cost / static_cast<double>(n_used - nf);
  double d[PMAX];
  for (int u = 0; u < nf; ++u) d[u] = m.scale(idx[u]) == LOG ? p[idx[u]] : 1.0;
  for (int u = 0; u < nf; ++u)
    for (int v = 0; v < nf; ++v) cov[idx[u] * np + idx[v]] = inv[u * PMAX + v] * s2 * (d[u] * d[v]);
}

// Robust losses: one pass over the points for the sandwich's bread and meat (natural parameters).
template <class Model>
LAWFIT_HD void sandwich_covariance(const Model& m, const Curve& c, const double* p, const double* lo,
                                   const double* hi, const Options& o, i64 n_used, double* cov) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  int idx[PMAX];
  const int nf = start_covariance(m, p, lo, hi, n_used, cov, idx);
  if (nf == 0) return;
  double bread[PMAX * PMAX] = {}, meat[PMAX * PMAX] = {};
  for (i64 i = 0; i < c.n; ++i) {
    const double w = c.w ? c.w[i] : 1.0;
    if (w == 0.0) continue;
    double grad[PMAX];
    const double f = m.eval(c.x + i * c.d, p, grad);
    const Residual e = o.space == SPACE_LOG ? residual<SPACE_LOG>(c.y[i], f, 1.0) : residual<SPACE_LINEAR>(c.y[i], f, 1.0);
    const double z = (e.r / o.delta) * (e.r / o.delta);
    const Rho rho = robust_rho(o.loss, z);
    // A weight w counts the point w times (w rho(r)): w in the bread and in the meat.
    const double psi2 = w * (rho.d1 * e.r) * (rho.d1 * e.r), curv = w * std::fmax(rho.d1 + 2.0 * rho.d2 * z, 0.0);
    double jr[PMAX];
    for (int u = 0; u < nf; ++u) jr[u] = e.dr_df * grad[idx[u]];
    for (int u = 0; u < nf; ++u)
      for (int v = 0; v <= u; ++v) {
        bread[u * PMAX + v] += curv * jr[u] * jr[v];
        meat[u * PMAX + v] += psi2 * jr[u] * jr[v];
      }
  }
  for (int u = 0; u < nf; ++u)
    for (int v = 0; v < u; ++v) {
      bread[v * PMAX + u] = bread[u * PMAX + v];
      meat[v * PMAX + u] = meat[u * PMAX + v];
    }
  double inv[PMAX * PMAX], work[PMAX * PMAX];
  if (!spd_inverse<PMAX>(bread, nf, inv, work)) return;
  const double scale = static_cast<double>(n_used) / static_cast<double>(n_used - nf);
  for (int u = 0; u < nf; ++u)
    for (int v = 0; v < nf; ++v) {
      double s = 0.0;  // (H^-1 M H^-1)[u, v]
      for (int k = 0; k < nf; ++k)
        for (int l = 0; l < nf; ++l) s += inv[u * PMAX + k] * meat[k * PMAX + l] * inv[l * PMAX + v];
      cov[idx[u] * np + idx[v]] = s * scale;
    }
  for (int k = 0; k < np * np; ++k)
    if (!std::isfinite(cov[k])) cov[k] = kNaN;
}

// Covariance at p: l2 from fresh normal equations, robust losses by the sandwich.
template <class Model>
LAWFIT_HD void covariance(const Model& m, const Curve& c, const double* p, const double* lo, const double* hi,
                          const Options& o, i64 n_used, double* cov) {
  if (o.loss != L2) return sandwich_covariance(m, c, p, lo, hi, o, n_used, cov);
  Normal<Model::PMAX> ne;
  for (int k = 0; k < m.n_params() * m.n_params(); ++k) cov[k] = kNaN;
  if (n_used <= 0 || !accumulate(m, c, p, o, ne)) return;
  covariance_from(m, ne, p, lo, hi, n_used, cov);
}

// After a fit: l2 reuses the fit's final normal equations (no extra pass).
template <class Model>
LAWFIT_HD void fit_covariance(const Model& m, const Curve& c, const Normal<Model::PMAX>& ne, const double* p,
                              const double* lo, const double* hi, const Options& o, i64 n_used, double* cov) {
  if (o.loss != L2) return sandwich_covariance(m, c, p, lo, hi, o, n_used, cov);
  covariance_from(m, ne, p, lo, hi, n_used, cov);
}

// Bounds of one curve are usable: lower <= upper and neither is NaN.
LAWFIT_HD inline Status check_bounds(int np, const double* lo, const double* hi) {
  for (int j = 0; j < np; ++j)
    if (!(lo[j] <= hi[j]) || std::isnan(lo[j]) || std::isnan(hi[j])) return INVALID_INPUT;
  return CONVERGED;
}

// Start s of curve b (natural units, clamped into the bounds, linear parameters solved if asked): explicit
// starts, or Philox(seed, key, s) draws (key: curve_key of curve b, never its position). S is the number of
// starts per curve. Returns false if
// the start is unusable (NaN). Where the solver is VarPro (o, core/fit/varpro.hpp) it solves the linear parameters
// itself, so they are not projected here.
template <class Model>
LAWFIT_HD bool start_point(const Model& m, const StartSpec& st, i64 S, i64 b, std::uint64_t key, i64 s,
                           const Curve& c, const double* lo, const double* hi, double* p0, const Options& o) {
  const int np = m.n_params();
  if (st.starts) {
    const double* src = st.starts + ((st.per_curve ? b * S : 0) + s) * np;
    for (int j = 0; j < np; ++j) p0[j] = src[j];
  } else {
    Philox rng(st.seed, key, static_cast<std::uint64_t>(s));
    for (int j = 0; j < np; ++j) {
      const double l = st.rand_lo[j], h = st.rand_hi[j], u = rng.uniform();
      p0[j] = (m.scale(j) == LOG && l > 0.0) ? std::exp(std::log(l) + u * (std::log(h) - std::log(l)))
                                              : l + u * (h - l);
    }
  }
  for (int j = 0; j < np; ++j) {
    if (std::isnan(p0[j])) return false;
    p0[j] = p0[j] < lo[j] ? lo[j] : p0[j];  // std::min(std::max(p0, lo), hi)
    p0[j] = hi[j] < p0[j] ? hi[j] : p0[j];
  }
  if (st.project_linear && !varpro_applies(m, o)) init_linear(m, c, p0, lo, hi);
  return true;
}

// Best of S start results of one curve (cost tc[S], status ts[S]): the lowest finite cost among starts that
// ran and were finite; ties go to the lowest start index. Returns -1 if none, with *any_nonfinite set when
// some start was not finite.
LAWFIT_HD inline i64 best_start(const double* tc, const std::int32_t* ts, i64 S, bool* any_nonfinite) {
  i64 best = -1;
  bool nf = false;
  for (i64 s = 0; s < S; ++s) {
    nf |= ts[s] == NON_FINITE;
    if (ts[s] == NOT_RUN || ts[s] == NON_FINITE || !std::isfinite(tc[s])) continue;
    if (best < 0 || tc[s] < tc[best]) best = s;
  }
  *any_nonfinite = nf;
  return best;
}

// Which starts to solve when StartSpec::scan ranks them: chosen[s] for the `keep` lowest projected costs sc[S]
// (ties to the lower index; infinite costs are chosen last, in index order).
inline void choose_starts(const double* sc, i64 S, i64 keep, char* chosen) {
  for (i64 s = 0; s < S; ++s) chosen[s] = 0;
  for (i64 k = 0; k < keep && k < S; ++k) {
    i64 best = -1;
    for (i64 s = 0; s < S; ++s)
      if (!chosen[s] && (best < 0 || sc[s] < sc[best])) best = s;
    chosen[best] = 1;
  }
}

// The grid of a shared start list (StartSpec::scan = kScanAuto). Starts that agree on every nonlinear parameter are
// one grid point (VarPro solves the linear ones, so their values are ignored): point q has the starts
// members[member_off[q] .. member_off[q+1]). Two points are neighbours when they agree on every nonlinear parameter but
// one, j, and the other's value of j is the next one below or above among the points that agree elsewhere (in a
// product grid: the adjacent points along each axis), as CSR lists nbr_off[n_points + 1], nbr. A start list that is
// not a grid simply has fewer neighbours (more local minima, more solves). Built by sorting: O(P S log S).
struct StartGrid {
  i64 n_points = 0;
  std::vector<i64> member_off, members, nbr_off, nbr;
};
template <class Model>
void build_start_grid(const Model& m, const double* starts, i64 S, StartGrid& g) {
  const int np = m.n_params();
  std::vector<int> nl;  // the nonlinear parameters
  for (int j = 0; j < np; ++j)
    if (!m.is_linear(j)) nl.push_back(j);
  auto at = [&](i64 s, int j) { return starts[s * np + j]; };
  // Lexicographic order on the nonlinear values, the parameter `last` compared last (-1: in parameter order).
  auto order = [&](int last) {
    return [&, last](i64 u, i64 v) {
      for (int j : nl)
        if (j != last && at(u, j) != at(v, j)) return at(u, j) < at(v, j);
      if (last >= 0 && at(u, last) != at(v, last)) return at(u, last) < at(v, last);
      return u < v;
    };
  };
  auto same = [&](i64 u, i64 v, int except) {
    for (int j : nl)
      if (j != except && at(u, j) != at(v, j)) return false;
    return true;
  };
  // Points: runs of equal nonlinear values.
  std::vector<i64> idx(static_cast<size_t>(S)), point(static_cast<size_t>(S));
  for (i64 s = 0; s < S; ++s) idx[s] = s;
  std::sort(idx.begin(), idx.end(), order(-1));
  g.members = idx;
  g.member_off.assign(1, 0);
  for (i64 k = 0; k < S; ++k) {
    if (k > 0 && !same(idx[k - 1], idx[k], -1)) g.member_off.push_back(k);
    point[idx[k]] = static_cast<i64>(g.member_off.size()) - 1;
  }
  g.member_off.push_back(S);
  g.n_points = static_cast<i64>(g.member_off.size()) - 1;
  // Neighbours along each nonlinear axis: sorted with that axis last, consecutive points that agree elsewhere.
  std::vector<std::vector<i64>> adj(static_cast<size_t>(g.n_points));
  std::vector<i64> rep(static_cast<size_t>(g.n_points));  // one start per point
  for (i64 q = 0; q < g.n_points; ++q) rep[q] = g.members[g.member_off[q]];
  for (int j : nl) {
    std::vector<i64> r = rep;
    std::sort(r.begin(), r.end(), order(j));
    for (size_t k = 1; k < r.size(); ++k)
      if (same(r[k - 1], r[k], j)) {
        adj[point[r[k - 1]]].push_back(point[r[k]]);
        adj[point[r[k]]].push_back(point[r[k - 1]]);
      }
  }
  g.nbr_off.assign(1, 0);
  g.nbr.clear();
  for (i64 q = 0; q < g.n_points; ++q) {
    g.nbr.insert(g.nbr.end(), adj[q].begin(), adj[q].end());
    g.nbr_off.push_back(static_cast<i64>(g.nbr.size()));
  }
}

// The starts kScanAuto solves, chosen[s]: each grid point stands for its best member (lowest projected cost sc[s],
// ties to the lower index); the points whose cost is finite and below every neighbour's (ties to the lower index) are
// local minima, and their best members are chosen; so are the best ceil(S / kScanShare) starts overall (at least the
// best one, also where none is finite). Large grids are those of many-parameter laws, where a coarse grid point's
// projected cost says less about the basin it leads to: measured on 20 perturbed bnsl2 recovery cases (512 starts, 7
// exponent axes of 2-4 values), the local minima alone missed the full grid's optimum on 11, with the best 8 added on
// 1, with the best 16 on none; on bnsl1, dcpt, data_constrained, pow4, exp4, Chinchilla the minima alone missed none.
// Returns how many are chosen.
constexpr i64 kScanShare = 32;
inline i64 choose_minima(const double* sc, i64 S, const StartGrid& g, char* chosen) {
  choose_starts(sc, S, (S + kScanShare - 1) / kScanShare, chosen);
  thread_local std::vector<i64> best;
  best.resize(static_cast<size_t>(g.n_points));
  auto below = [&](i64 u, i64 v) { return sc[u] < sc[v] || (!(sc[v] < sc[u]) && u < v); };  // (NaN-free: +inf at worst)
  for (i64 q = 0; q < g.n_points; ++q) {
    i64 b = g.members[g.member_off[q]];
    for (i64 e = g.member_off[q] + 1; e < g.member_off[q + 1]; ++e)
      if (below(g.members[e], b)) b = g.members[e];
    best[q] = b;
  }
  for (i64 q = 0; q < g.n_points; ++q) {
    const i64 s = best[q];
    bool low = std::isfinite(sc[s]);
    for (i64 e = g.nbr_off[q]; e < g.nbr_off[q + 1] && low; ++e) low = below(s, best[g.nbr[e]]);
    if (low) chosen[s] = 1;
  }
  i64 n = 0;
  for (i64 s = 0; s < S; ++s) n += chosen[s] != 0;
  return n;
}

// Does the start grid get ranked (StartSpec::scan) for this model and these options?
template <class Model>
LAWFIT_HD inline bool scanning(const Model& m, const StartSpec& st, i64 S, const Options& o) {
  if (st.scan < 0) return st.grid && S > 1 && varpro_applies(m, o);
  return st.scan > 0 && st.scan < S && varpro_applies(m, o);
}

// The starts of one curve to solve when the grid is ranked (sc: projected costs; chosen[s]); returns their number.
template <class Model>
inline i64 choose(const Model&, const StartSpec& st, const double* sc, i64 S, char* chosen) {
  if (st.scan < 0) return choose_minima(sc, S, *st.grid, chosen);
  choose_starts(sc, S, st.scan, chosen);
  return std::min(st.scan, S);
}

// The point start s of curve b is solved from (p0): with a ranked grid (settled: its row of the ranking) the start
// with its linear parameters solved (see projected_cost; NaN: no usable start), else start_point's. false: not run
// (NOT_RUN).
template <class Model>
LAWFIT_HD bool solve_start(const Model& m, const StartSpec& st, i64 S, i64 b, std::uint64_t key, i64 s, const Curve& c,
                           const double* lo, const double* hi, const Options& o, const double* settled, double* p0) {
  if (!settled) return start_point(m, st, S, b, key, s, c, lo, hi, p0, o);
  for (int j = 0; j < m.n_params(); ++j) p0[j] = settled[j];
  return !std::isnan(p0[0]);
}

// Is the best start polished (below)? With several starts solved (n_solved): a ranked grid that solves one start is
// a single solve, as one explicit start is, unless that solve ran out of iterations: the full grid it stands for would
// have polished it (a restart with fresh damping; measured on LCBench's pow3 fits, 28 of 2,000 degenerate curves
// crawled to MAX_ITER towards alpha's bound that the polish reaches).
LAWFIT_HD inline bool polishes(i64 n_solved, bool ranked, Status status) {
  return n_solved > 1 || (ranked && status == MAX_ITER);
}

// With several starts, the grid decides the basin and a final run from the winning start, with tight
// tolerances (1e-13), settles the last digits (a single start already ran at the user's tolerances). The
// refinement is kept only if it does not raise the cost; the status stays CONVERGED if either run converged.
template <class Model>
LAWFIT_HD bool polish(const Model& m, const Curve& c, const double* lo, const double* hi, const Options& o,
                      LMResult<Model::PMAX>& best, Normal<Model::PMAX>& ne) {
  Options tight = o;
  tight.ftol = std::fmin(o.ftol, 1e-13);
  tight.xtol = std::fmin(o.xtol, 1e-13);
  tight.gtol = std::fmin(o.gtol, 1e-13);
  Normal<Model::PMAX> n2;
  const LMResult<Model::PMAX> r = lm_solve(m, c, best.p, lo, hi, tight, &n2);
  if (r.status == NON_FINITE || !(r.cost <= best.cost)) return false;
  const Status st = (best.status == CONVERGED || r.status == CONVERGED) ? CONVERGED : best.status;
  const int iters = best.iters + r.iters;
  best = r;
  best.status = st;
  best.iters = iters;
  ne = n2;
  return true;
}

// Output of curve b before it is fitted (no covariance, no start), and of a curve that cannot be fitted.
inline void init_curve_out(const BatchOutput& out, int np, i64 b) {
  if (out.cov)
    for (int q = 0; q < np * np; ++q) out.cov[b * np * np + q] = kNaN;
  out.best_start[b] = -1;
  out.iters[b] = 0;
}
inline void fail_curve_out(const BatchOutput& out, int np, i64 b, Status s) {
  for (int j = 0; j < np; ++j) out.params[b * np + j] = kNaN;
  out.cost[b] = kNaN;
  out.status[b] = s;
}

// Validation of curve b of the batch (raw inputs and its bounds); sets n_points[b] (points with positive weight).
template <class Model>
LAWFIT_HD Status validate_curve(const Model& m, const BatchInput& in, i64 b, Space space, std::int64_t* n_points) {
  const int np = m.n_params();
  const i64 a = in.offsets[b];
  const Curve c{in.x + a * in.d, in.y + a, in.w ? in.w + a : nullptr, in.offsets[b + 1] - a, in.d};
  i64 nu = 0;
  Status s = check_curve(m, c, space, &nu);
  if (s == CONVERGED)
    s = check_bounds(np, in.lower + (in.per_curve_bounds ? b * np : 0), in.upper + (in.per_curve_bounds ? b * np : 0));
  n_points[b] = nu;
  return s;
}

// Most doubles a thread keeps for the memos of a curve's starts (StartMemo, core/fit/lm.hpp): 1 MiB; more starts of
// longer curves go without them.
constexpr i64 kMemoDoubles = i64(1) << 17;

// All starts of one validated curve in turn; the best (lowest cost, ties to the lowest index) is refined
// when there were several, and written to out with its covariance (from its normal equations, no extra pass).
// x_repeat: c has the x values of the curve this thread fitted before in this batch (fit_batch), so the evaluations
// at starts they share (a ranked grid's, or the first of each solve from explicit starts common to every curve)
// replay that curve's memos (StartMemo) instead of evaluating the model again; results are the same bit for bit.
template <class Model>
void fit_one(const Model& m, const Curve& c, const double* lo, const double* hi, const StartSpec& st, i64 S,
             i64 b, std::uint64_t key, const Options& o, const BatchOutput& out, bool x_repeat = false) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  LMResult<PMAX> best;
  Normal<PMAX> best_ne, ne;
  i64 best_s = -1;
  bool any_nonfinite = false;
  // A ranked grid: the projected cost of every start first, then only the best st.scan are solved, each from its
  // start with the linear parameters solved (settled[s]; NaN: the start was NaN, NOT_RUN).
  thread_local std::vector<double> sc, settled;
  thread_local std::vector<char> chosen;
  const bool scan = scanning(m, st, S, o);
  i64 n_solved = S;
  // The memos of the starts (one per start, recorded anew unless x_repeat): a ranked grid's evaluations, or the first
  // evaluation of each solve from starts common to every curve (per-curve and random starts differ by curve).
  thread_local std::vector<StartMemo<PMAX>> memos;
  thread_local std::vector<double> memo_data;
  const i64 nblk = (c.n + kAccumBlock - 1) / kAccumBlock, per = nblk * kAccumBlock * (1 + PMAX);
  const bool memo = !c.w && (scan || (st.starts && !st.per_curve)) && S * per <= kMemoDoubles;
  if (memo && !(x_repeat && static_cast<i64>(memos.size()) == S)) {
    memos.assign(static_cast<size_t>(S), StartMemo<PMAX>{});
    memo_data.resize(static_cast<size_t>(S * per));
    for (i64 s = 0; s < S; ++s) {
      memos[s].f = memo_data.data() + s * per;
      memos[s].jb = memos[s].f + nblk * kAccumBlock;
    }
  }
  if (scan) {
    sc.assign(S, kInf);
    chosen.assign(S, 0);
    settled.assign(static_cast<size_t>(S * np), kNaN);
    for (i64 s = 0; s < S; ++s) {
      double p0[PMAX];
      if (start_point(m, st, S, b, key, s, c, lo, hi, p0, o))
        sc[s] = projected_cost(m, c, p0, lo, hi, o, settled.data() + s * np, memo ? &memos[s] : nullptr);
    }
    n_solved = choose(m, st, sc.data(), S, chosen.data());
  }
  for (i64 s = 0; s < S; ++s) {
    if (scan && !chosen[s]) continue;
    double p0[PMAX] = {};
    if (!solve_start(m, st, S, b, key, s, c, lo, hi, o, scan ? settled.data() + s * np : nullptr, p0)) continue;
    const LMResult<PMAX> r = lm_solve(m, c, p0, lo, hi, o, &ne, memo && !scan ? &memos[s] : nullptr);
    if (r.status == NON_FINITE || !std::isfinite(r.cost)) {
      any_nonfinite |= r.status == NON_FINITE;
      continue;
    }
    if (best_s < 0 || r.cost < best.cost) {
      best = r;
      best_ne = ne;
      best_s = s;
    }
  }
  if (best_s < 0) return fail_curve_out(out, np, b, any_nonfinite ? NON_FINITE : NOT_RUN);
  if (polishes(n_solved, scan, best.status)) polish(m, c, lo, hi, o, best, best_ne);
  for (int j = 0; j < np; ++j) out.params[b * np + j] = best.p[j];
  out.cost[b] = best.cost;
  out.iters[b] = best.iters;
  out.status[b] = best.status;
  out.best_start[b] = best_s;
  if (out.cov) fit_covariance(m, c, best_ne, best.p, lo, hi, o, out.n_points[b], out.cov + b * np * np);
}

template <class Model>
void fit_validated(const Model& m, const BatchInput& in, const std::vector<std::int32_t>& pre,
                   const StartSpec& st, const Options& o, const BatchOutput& out, int threads);

// The model the lanes fit Model's curves with: its prepared form where its law prepares its inputs, else Model;
// LanesFor: whether the lanes serve that model at all (known at compile time).
template <class Model, bool = laws::Preparation<Model>::enabled>
struct LaneModelOf {
  using type = Model;
};
template <class Model>
struct LaneModelOf<Model, true> {
  using type = laws::PreparedModel<typename Model::law_type>;
};
template <class Model>
struct LanesFor : LaneModel<typename LaneModelOf<Model>::type> {};
// Does the batch go to the vector-lane solver (core/fit/lanes.hpp): a law it serves, one start per curve (no grid to
// rank), no weights. Both of fit_batch's paths then fit every curve in groups of kLaneCurves (fit_lanes), so a curve
// fits to the same bits alone or in any batch.
template <class Model>
inline bool batch_lanes(const Model& m, const BatchInput& in, const StartSpec& st, const Options& o) {
  if constexpr (LanesFor<Model>::value) {
    (void)m;  // (its flags are the lane model's: lanes_serve checks VarPro applies)
    return st.S <= 1 && !in.w && lanes_serve(typename LaneModelOf<Model>::type{}, o);
  } else {
    return false;
  }
}

#ifdef LAWFIT_LANES
// Curves b0 .. b0 + nb - 1 (nb <= kLaneCurves) of a batch that batch_lanes sends to the lanes, as fit_one would fit
// them (one start each) with the lane model LaneM (LaneModelOf): status[k] is curve b0 + k's validation (fit_batch's
// validate_curve), curve(b0 + k, k) its Curve as LaneM reads it (prepared where LaneM prepares; k: a buffer the
// caller may fill). One lm_solve_lanes for the valid curves with a start, then each curve's output and covariance
// as fit_one writes them.
template <class LaneM, class CurveOf>
void fit_lanes(const BatchInput& in, i64 b0, int nb, const std::int32_t* status, CurveOf&& curve,
               const StartSpec& st, const Options& o, const BatchOutput& out) {
  constexpr int P = LaneM::PMAX;
  const LaneM m{};
  Curve c[kLaneCurves];
  double start[kLaneCurves][P];
  const double *p0[kLaneCurves], *lo[kLaneCurves], *hi[kLaneCurves];
  i64 which[kLaneCurves];
  int n = 0;
  for (int k = 0; k < nb; ++k) {
    const i64 b = b0 + k;
    init_curve_out(out, P, b);
    if (status[k] != CONVERGED) {
      fail_curve_out(out, P, b, static_cast<Status>(status[k]));
      continue;
    }
    const Curve ck = curve(b, k);
    const double* l = in.lower + (in.per_curve_bounds ? b * P : 0);
    const double* h = in.upper + (in.per_curve_bounds ? b * P : 0);
    if (!solve_start(m, st, 1, b, curve_key(in.keys, b), 0, ck, l, h, o, nullptr, start[n])) {
      fail_curve_out(out, P, b, NOT_RUN);
      continue;
    }
    c[n] = ck;
    p0[n] = start[n];
    lo[n] = l;
    hi[n] = h;
    which[n++] = b;
  }
  if (n == 0) return;
  LMResult<P> r[kLaneCurves];
  Normal<P> ne[kLaneCurves];
  lm_solve_lanes(m, c, n, p0, lo, hi, o, r, ne);
  for (int k = 0; k < n; ++k) {
    const i64 b = which[k];
    if (r[k].status == NON_FINITE || !std::isfinite(r[k].cost)) {
      fail_curve_out(out, P, b, r[k].status == NON_FINITE ? NON_FINITE : NOT_RUN);
      continue;
    }
    for (int j = 0; j < P; ++j) out.params[b * P + j] = r[k].p[j];
    out.cost[b] = r[k].cost;
    out.iters[b] = r[k].iters;
    out.status[b] = r[k].status;
    out.best_start[b] = 0;
    if (out.cov) fit_covariance(m, c[k], ne[k], r[k].p, lo[k], hi[k], o, out.n_points[b], out.cov + b * P * P);
  }
}
#endif

#ifdef LAWFIT_LANES
template <class Model>
bool fit_validated_lanes(const Model& m, const BatchInput& in, const std::vector<std::int32_t>& pre,
                         const StartSpec& st, const Options& o, const BatchOutput& out, int threads);
#endif

// Numbers the calls of fit_batch (their per-thread state, see fit_batch, is valid for one call only).
inline std::atomic<std::uint64_t> batch_generation{0};

template <class Model>
void fit_batch(const Model& m, const BatchInput& in, const StartSpec& spec, const Options& o,
               const BatchOutput& out, int threads) {
  const int np = m.n_params();
  const i64 B = in.B, S = std::max<i64>(1, spec.S);
  // kScanAuto: the shared start list's neighbours, once for the batch (per-curve or random starts have no grid:
  // every start is solved).
  StartSpec st = spec;
  StartGrid grid;
  st.grid = nullptr;
  if (st.scan < 0 && st.starts && !st.per_curve && S > 1 && varpro_applies(m, o)) {
    build_start_grid(m, st.starts, S, grid);
    st.grid = &grid;
  }
  const int nthreads = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
#ifdef LAWFIT_LANES
  if constexpr (LanesFor<Model>::value) {
    using LaneM = typename LaneModelOf<Model>::type;
    using Law = typename LaneM::law_type;
    if (batch_lanes(m, in, st, o) && B >= 8 * std::max(1, nthreads)) {
      const std::uint64_t gen = ++batch_generation;
      // Many curves: one task per group of kLaneCurves curves validates them, prepares their inputs into per-thread
      // buffers (laws that prepare) and fits them together (fit_lanes).
      const i64 G = (B + kLaneCurves - 1) / kLaneCurves;
      parallel_for(G, threads, [&](i64 gi) {
        const i64 b0 = gi * kLaneCurves;
        const int nb = static_cast<int>(std::min<i64>(kLaneCurves, B - b0));
        std::int32_t status[kLaneCurves];
        for (int k = 0; k < nb; ++k) status[k] = validate_curve(m, in, b0 + k, o.space, out.n_points);
        // (per-thread buffers of prepared inputs, one per lane, each with the raw x values it was prepared from:
        // curves that share their x values, a sweep's common steps or sizes, share one buffer and prepare once,
        // valid for call `gen`)
        thread_local std::vector<double> xp[kLaneCurves], raw[kLaneCurves];
        thread_local std::uint64_t raw_gen[kLaneCurves] = {};
        unsigned held = 0;  // the buffers this group's curves read
        fit_lanes<LaneM>(in, b0, nb, status, [&](i64 b, int k) {
          const i64 a = in.offsets[b], n = in.offsets[b + 1] - a;
          if constexpr (laws::Preparation<Model>::enabled) {
            const double* xb = in.x + a * in.d;
            const size_t nx = static_cast<size_t>(n * in.d);
            for (int j = 0; j < kLaneCurves; ++j)
              if (raw_gen[j] == gen && raw[j].size() == nx &&
                  (nx == 0 || std::memcmp(raw[j].data(), xb, nx * sizeof(double)) == 0)) {
                held |= 1u << j;
                return Curve{xp[j].data(), in.y + a, nullptr, n, Law::DP};
              }
            int j = k;  // a buffer no curve of this group reads (there are as many as lanes)
            while (held >> j & 1u) j = (j + 1) % kLaneCurves;
            held |= 1u << j;
            if (xp[j].size() < static_cast<size_t>(n * Law::DP)) xp[j].resize(static_cast<size_t>(n * Law::DP));
            prepare_points<Law>(xb, in.d, nullptr, n, xp[j].data());
            raw[j].assign(xb, xb + nx);
            raw_gen[j] = gen;
            return Curve{xp[j].data(), in.y + a, nullptr, n, Law::DP};
          } else {
            (void)k;
            return Curve{in.x + a * in.d, in.y + a, nullptr, n, in.d};
          }
        }, st, o, out);
      });
      return;
    }
  }
#endif
  if (B >= 8 * std::max(1, nthreads)) {
    // Many curves: one task per curve validates it, prepares its inputs into a per-thread buffer (laws that
    // transform x, e.g. log x, do it once per point, not on every evaluation) and runs its starts. One pass
    // over the data, no batch-sized scratch.
    // Curves that share their x values (a sweep's common steps or sizes) are told so: an unweighted curve with the
    // x values of the curve this thread fitted before in this call reuses their prepared inputs and the memos of its
    // starts (fit_one). last_x: those x values, valid for call `gen`.
    const std::uint64_t gen = ++batch_generation;
    parallel_for(B, threads, [&](i64 b) {
      init_curve_out(out, np, b);
      const Status s = validate_curve(m, in, b, o.space, out.n_points);
      if (s != CONVERGED) return fail_curve_out(out, np, b, s);
      const i64 a = in.offsets[b], n = in.offsets[b + 1] - a;
      const double* lo = in.lower + (in.per_curve_bounds ? b * np : 0);
      const double* hi = in.upper + (in.per_curve_bounds ? b * np : 0);
      const double* w = in.w ? in.w + a : nullptr;
      thread_local std::uint64_t last_gen = 0;
      thread_local std::vector<double> last_x;
      const double* xb = in.x + a * in.d;
      const size_t nx = static_cast<size_t>(n * in.d);
      const bool repeat = !w && last_gen == gen && last_x.size() == nx &&
                          (nx == 0 || std::memcmp(last_x.data(), xb, nx * sizeof(double)) == 0);
      if (!repeat) {
        last_gen = w ? 0 : gen;
        if (!w) last_x.assign(xb, xb + nx);
      }
      if constexpr (laws::Preparation<Model>::enabled) {
        using Law = typename Model::law_type;
        thread_local std::vector<double> xp;
        if (xp.size() < static_cast<size_t>(n * Law::DP)) xp.resize(static_cast<size_t>(n * Law::DP));
        if (!repeat) prepare_points<Law>(xb, in.d, w, n, xp.data());
        fit_one(laws::PreparedModel<Law>{}, Curve{xp.data(), in.y + a, w, n, Law::DP}, lo, hi, st, S, b,
                curve_key(in.keys, b), o, out, repeat);
      } else {
        fit_one(m, Curve{xb, in.y + a, w, n, in.d}, lo, hi, st, S, b, curve_key(in.keys, b), o, out, repeat);
      }
    });
    return;
  }
  // Few curves (e.g. one curve, a large start grid): validate, prepare, then every (curve, start) pair is a task.
  // 1. Validate every curve (on the raw inputs).
  std::vector<std::int32_t> pre(B);
  parallel_for(B, threads, [&](i64 b) { pre[b] = validate_curve(m, in, b, o.space, out.n_points); });
  // 2. Laws that transform their inputs (e.g. log x) do it once here, not on every evaluation.
  if constexpr (laws::Preparation<Model>::enabled) {
    using Law = typename Model::law_type;
    const i64 n = in.offsets[B];
    std::vector<double> xp(static_cast<size_t>(n) * Law::DP);
    parallel_for(B, threads, [&](i64 b) {
      if (pre[b] != CONVERGED) return;  // invalid curves are never evaluated
      const i64 a = in.offsets[b];
      prepare_points<Law>(in.x + a * in.d, in.d, in.w ? in.w + a : nullptr, in.offsets[b + 1] - a,
                          xp.data() + a * Law::DP);
    });
    BatchInput pin = in;
    pin.x = xp.data();
    pin.d = Law::DP;
#ifdef LAWFIT_LANES
    if (fit_validated_lanes(m, pin, pre, st, o, out, threads)) return;
#endif
    fit_validated(laws::PreparedModel<Law>{}, pin, pre, st, o, out, threads);
  } else {
#ifdef LAWFIT_LANES
    if (fit_validated_lanes(m, in, pre, st, o, out, threads)) return;
#endif
    fit_validated(m, in, pre, st, o, out, threads);
  }
}

#ifdef LAWFIT_LANES
// fit_batch's few-curves path for a batch that batch_lanes sends to the lanes (in: inputs already prepared where
// Model's law prepares; pre: each curve's validation): every curve in groups of kLaneCurves, as the many-curves path
// fits them, so a curve fits the same in any batch. false: not such a batch (nothing done).
template <class Model>
bool fit_validated_lanes(const Model& m, const BatchInput& in, const std::vector<std::int32_t>& pre,
                         const StartSpec& st, const Options& o, const BatchOutput& out, int threads) {
  if constexpr (LanesFor<Model>::value) {
    if (!batch_lanes(m, in, st, o)) return false;
    using LaneM = typename LaneModelOf<Model>::type;
    const i64 G = (in.B + kLaneCurves - 1) / kLaneCurves;
    parallel_for(G, threads, [&](i64 gi) {
      const i64 b0 = gi * kLaneCurves;
      const int nb = static_cast<int>(std::min<i64>(kLaneCurves, in.B - b0));
      fit_lanes<LaneM>(in, b0, nb, pre.data() + b0, [&](i64 b, int) {
        const i64 a = in.offsets[b];
        return Curve{in.x + a * in.d, in.y + a, nullptr, in.offsets[b + 1] - a, in.d};
      }, st, o, out);
    });
    return true;
  } else {
    return false;
  }
}
#endif

// Fit curves already validated (pre[b] == CONVERGED means fit curve b), few at a time with many starts.
template <class Model>
void fit_validated(const Model& m, const BatchInput& in, const std::vector<std::int32_t>& pre,
                   const StartSpec& st, const Options& o, const BatchOutput& out, int threads) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  const i64 B = in.B, S = std::max<i64>(1, st.S);
  auto curve = [&](i64 b) {
    const i64 a = in.offsets[b];
    return Curve{in.x + a * in.d, in.y + a, in.w ? in.w + a : nullptr, in.offsets[b + 1] - a, in.d};
  };
  auto bounds = [&](i64 b, const double** lo, const double** hi) {
    const i64 off = in.per_curve_bounds ? b * np : 0;
    *lo = in.lower + off;
    *hi = in.upper + off;
  };

  // Every (curve, start) pair is a task, in blocks of at most ~2^18 tasks to bound memory.
  const i64 block = std::max<i64>(1, (i64(1) << 18) / S);
  std::vector<double> tp, tc, sc, settled;
  std::vector<std::int32_t> ti, ts;
  std::vector<char> chosen;
  std::vector<i64> n_solved;
  for (i64 b0 = 0; b0 < B; b0 += block) {
    const i64 nb = std::min(block, B - b0);
    tp.assign(nb * S * np, kNaN);
    tc.assign(nb * S, kInf);
    ti.assign(nb * S, 0);
    ts.assign(nb * S, NOT_RUN);
    // A ranked grid (StartSpec::scan): the projected cost of every (curve, start), then the best starts per curve.
    const bool scan = scanning(m, st, S, o);
    n_solved.assign(nb, S);
    if (scan) {
      sc.assign(nb * S, kInf);
      chosen.assign(nb * S, 0);
      settled.assign(nb * S * np, kNaN);
      parallel_for(nb * S, threads, [&](i64 t) {
        const i64 b = b0 + t / S, s = t % S;
        if (pre[b] != CONVERGED) return;
        const Curve c = curve(b);
        const double *lo, *hi;
        bounds(b, &lo, &hi);
        double p0[PMAX];
        if (start_point(m, st, S, b, curve_key(in.keys, b), s, c, lo, hi, p0, o))
          sc[t] = projected_cost(m, c, p0, lo, hi, o, settled.data() + t * np);
      });
      parallel_for(nb, threads, [&](i64 k) {
        n_solved[k] = choose(m, st, sc.data() + k * S, S, chosen.data() + k * S);
      });
    }
    parallel_for(nb * S, threads, [&](i64 t) {
      const i64 b = b0 + t / S, s = t % S;
      if (pre[b] != CONVERGED || (scan && !chosen[t])) return;
      const Curve c = curve(b);
      const double *lo, *hi;
      bounds(b, &lo, &hi);
      double p0[PMAX] = {};
      if (!solve_start(m, st, S, b, curve_key(in.keys, b), s, c, lo, hi, o, scan ? settled.data() + t * np : nullptr,
                       p0))
        return;  // NOT_RUN
      const LMResult<PMAX> r = lm_solve(m, c, p0, lo, hi, o);
      for (int j = 0; j < np; ++j) tp[t * np + j] = r.p[j];
      tc[t] = r.cost;
      ti[t] = r.iters;
      ts[t] = r.status;
    });
    // 3. Best start per curve, covariance at the best parameters.
    parallel_for(nb, threads, [&](i64 k) {
      const i64 b = b0 + k;
      double* pb = out.params + b * np;
      init_curve_out(out, np, b);
      if (pre[b] != CONVERGED) return fail_curve_out(out, np, b, static_cast<Status>(pre[b]));
      bool any_nonfinite = false;
      const i64 best = best_start(tc.data() + k * S, ts.data() + k * S, S, &any_nonfinite);
      if (best < 0) return fail_curve_out(out, np, b, any_nonfinite ? NON_FINITE : NOT_RUN);
      const i64 t = k * S + best;
      LMResult<PMAX> r;
      for (int j = 0; j < np; ++j) r.p[j] = tp[t * np + j];
      r.cost = tc[t];
      r.iters = ti[t];
      r.status = static_cast<Status>(ts[t]);
      Normal<PMAX> ne;
      const bool polished = polishes(n_solved[k], scan, r.status) && [&] {
        const double *lo, *hi;
        bounds(b, &lo, &hi);
        return polish(m, curve(b), lo, hi, o, r, ne);
      }();
      for (int j = 0; j < np; ++j) pb[j] = r.p[j];
      out.cost[b] = r.cost;
      out.iters[b] = r.iters;
      out.status[b] = r.status;
      out.best_start[b] = best;
      if (out.cov) {
        const double *lo, *hi;
        bounds(b, &lo, &hi);
        // l2: the covariance from the normal equations the solve ended with, as fit_one. The tasks above kept none,
        // so the best start is solved again (one solve per curve; this path is for few curves): an evaluation at the
        // result could differ from them by rounding (see lm_solve), and the covariance then with the thread count.
        if (!polished && o.loss == L2) {
          const Curve c = curve(b);
          double p0[PMAX] = {};
          if (!solve_start(m, st, S, b, curve_key(in.keys, b), best, c, lo, hi, o,
                           scan ? settled.data() + t * np : nullptr, p0) ||
              lm_solve(m, c, p0, lo, hi, o, &ne).status == NON_FINITE) {
            covariance(m, c, pb, lo, hi, o, out.n_points[b], out.cov + b * np * np);
            return;
          }
        }
        fit_covariance(m, curve(b), ne, pb, lo, hi, o, out.n_points[b], out.cov + b * np * np);
      }
    });
  }
}

}  // namespace lawfit::fit
