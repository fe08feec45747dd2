// Levenberg-Marquardt for one curve and one start: the per-task kernel of the batched fit.
//
// Assumptions: the model's parameter count n <= Model::PMAX <= 32; x is row-major [n_points, d];
// inputs have been validated by check_curve() (finite, inside the law's domain, y > 0 in log space).
// The solver works on internal parameters theta (theta = log p for LOG-scaled parameters), keeps theta
// inside the box [lo, hi] by projection with an active set, handles robust losses by iteratively reweighted
// Gauss-Newton (residuals and Jacobian scaled by sqrt(rho')), and uses Nielsen's damping update with More's scaling.
// Each iteration evaluates the model once with its gradient at the trial point: residuals, cost, J^T J and
// J^T r are accumulated block by block (the Jacobian rows of at most kAccumBlock points at a time), so the whole
// Jacobian is never stored. No allocation; usable on the GPU.
#pragma once
#include <cstring>
#include <type_traits>

#include "core/common.hpp"
#include "core/fit/linalg.hpp"
#include "core/fit/loss.hpp"
#include "core/vmath.hpp"

namespace lawfit::fit {

struct Options {
  Loss loss = L2;
  double delta = 1.0;  // f_scale of the robust loss
  Space space = SPACE_LINEAR;
  double ftol = 1e-8, xtol = 1e-8, gtol = 1e-8;
  int max_iter = 200;
  // Variable projection (core/fit/varpro.hpp) for l2 fits in linear space of models with linear parameters:
  // those are solved exactly at every step and LM iterates on the others. false: plain LM on all parameters.
  bool varpro = true;
};

// One curve: n points; x[n, d] row-major; y[n]; w[n] or null.
struct Curve {
  const double* x;
  const double* y;
  const double* w;
  i64 n;
  int d;
};

template <int PMAX>
struct Normal {
  double a[PMAX * PMAX];  // J^T J (internal parameters, robust-scaled)
  double g[PMAX];         // J^T r = gradient of the cost
  double cost;
  double rr;              // r^T r of the (robust-scaled) residuals: the gtol test's residual norm
};

template <int PMAX>
struct LMResult {
  double p[PMAX];  // natural parameters
  double cost;
  int iters;
  Status status;
};

// Convert between natural and internal parameters.
template <class Model>
LAWFIT_HD inline void to_internal(const Model& m, const double* p, double* th) {
  for (int j = 0; j < m.n_params(); ++j) th[j] = (m.scale(j) == LOG) ? std::log(p[j]) : p[j];
}
template <class Model>
LAWFIT_HD inline void to_natural(const Model& m, const double* th, double* p) {
  for (int j = 0; j < m.n_params(); ++j) p[j] = (m.scale(j) == LOG) ? std::exp(th[j]) : th[j];
}

// Residual of a model value f at the observation y with weight root sw, and its derivative with respect to f:
// y - f in linear space, log y - log f in log space. Nothing is checked here: a non-finite value (NaN/inf
// model value, log of a non-positive value, non-finite derivative) propagates into the sums of the caller,
// which checks them once (accumulate, cost_at).
struct Residual {
  double r, dr_df;
};
template <Space S>
LAWFIT_HD inline Residual residual(double y, double f, double sw) {
  if (S == SPACE_LOG) return {sw * (std::log(y) - std::log(f)), -sw / f};  // log f: NaN for f < 0, -inf at 0
  return {sw * (y - f), -sw};
}

// Residual of point i (not weight-scaled), without derivatives.
template <class Model>
LAWFIT_HD inline double point_residual(const Model& m, const Curve& c, i64 i, const double* p, Space space) {
  const double f = m.eval(c.x + i * c.d, p, nullptr);
  return space == SPACE_LOG ? residual<SPACE_LOG>(c.y[i], f, 1.0).r : residual<SPACE_LINEAR>(c.y[i], f, 1.0).r;
}

// accumulate() works on blocks of points: first the residuals and Jacobian rows of a block's points (one loop,
// which the compiler can vectorise, vector exp/log included where the build provides them, see core/vmath.hpp),
// then their loss and sums. The sums run in kLanes interleaved partial sums per entry (point q goes to lane
// q % kLanes), combined at the end of each block: independent chains the CPU can overlap instead of one
// dependent chain per entry. The order is fixed, so the result does not depend on the thread count. On the GPU
// (no vector units per thread, registers are precious) one point at a time, one lane.
#ifdef __CUDA_ARCH__
constexpr int kAccumBlock = 1, kLanes = 1;
#else
constexpr int kAccumBlock = 32, kLanes = 4;
#endif

// Does the model evaluate blocks of points itself? Optional model interface (CPU only):
//   static constexpr int kMaxBlock;
//   void eval_block(const double* x, int n, const double* p, double* f, double* jt) const;
// values f[q] and gradients jt[q * PMAX + j] at n <= kMaxBlock contiguous points x[q * n_inputs() + k], equal to
// what eval() gives point by point (up to vector math, core/vmath.hpp).
template <class Model, class = void>
struct HasEvalBlock : std::false_type {};
template <class Model>
struct HasEvalBlock<Model, std::void_t<decltype(&Model::eval_block)>> : std::true_type {};

// Sum of u[q] * v[q] over q < n (n a multiple of kLanes), in kLanes partial sums.
LAWFIT_HD LAWFIT_INLINE double lane_dot(const double* u, const double* v, int n) {
  double s[kLanes] = {};
  for (int q = 0; q < n; q += kLanes)
    for (int l = 0; l < kLanes; ++l) s[l] += u[q + l] * v[q + l];
  double t = 0.0;
  for (int l = 0; l < kLanes; ++l) t += s[l];
  return t;
}

// Model values f[q] and gradients jt[q * PMAX + j] at nb <= kAccumBlock contiguous points x[q * n_inputs() + k]
// (accumulate's first step; also the benchmarks' floor, kernels/jit_main.inc). With the model's input count as
// stride (a constant for built-in laws), the parameters copied to the stack and the gradients written in place, the
// per-point loop is one the compiler can vectorise; a model that evaluates whole blocks itself does so.
template <class Model>
LAWFIT_HD inline void eval_points(const Model& m, const double* x, int nb, const double* p, double* f, double* jt) {
#ifndef __CUDA_ARCH__
  if constexpr (HasEvalBlock<Model>::value) {  // e.g. formulas
    static_assert(Model::kMaxBlock >= kAccumBlock, "eval_block must take a whole block");
    m.eval_block(x, nb, p, f, jt);
    return;
  }
#endif
  constexpr int PMAX = Model::PMAX;
  double pl[PMAX];
  for (int j = 0; j < m.n_params(); ++j) pl[j] = p[j];
  LAWFIT_SIMD
  for (int q = 0; q < nb; ++q) f[q] = m.eval(x + q * m.n_inputs(), pl, jt + q * PMAX);
}

// Residuals rb[q] of n points (observations y, weight roots sw if W, model values f, gradients jt[q * PMAX + j]
// = df/dp_j) and the columns of their Jacobian with respect to the internal parameters, jb[j][q] = dr/dtheta_j.
// natural_linear: the linear parameters' columns are taken in natural units (dr/dp_j) whatever their scale (VarPro
// solves them in natural units, core/fit/varpro.hpp).
template <Space S, bool W, class Model>
LAWFIT_HD inline void residual_rows(const Model& m, const double* y, const double* sw, const double* f,
                                    const double* jt, const double* p, int n, double* rb,
                                    double (*jb)[kAccumBlock], bool natural_linear) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  double dp[PMAX];  // dp/dtheta: p for LOG parameters, 1 otherwise
  for (int j = 0; j < np; ++j) dp[j] = (m.scale(j) == LOG && !(natural_linear && m.is_linear(j))) ? p[j] : 1.0;
  LAWFIT_SIMD
  for (int q = 0; q < n; ++q) {
    const Residual e = residual<S>(y[q], f[q], W ? sw[q] : 1.0);
    rb[q] = e.r;
    for (int j = 0; j < np; ++j) jb[j][q] = e.dr_df * jt[q * PMAX + j] * dp[j];
  }
}

// Many curves often share their x values (a sweep's common steps or sizes) and are evaluated at the same start: a
// ranked start grid (fit_one, core/fit/batch.hpp) evaluates every curve at each grid start, and a solve from an
// explicit start shared by every curve begins with an evaluation there. What such an evaluation computes before y
// enters is then the same for each of those curves: the model values at each point, the Jacobian columns (VarPro's
// natural_linear columns; every residual's derivative is -1 in an unweighted l2 fit in linear space) and so J^T J.
// A StartMemo holds them for one start: the first such curve records them, the next ones replay them, computing only
// their residuals and the sums that involve y. A replay does the same arithmetic on the same values, so its results
// are bit for bit an evaluation's, whichever curves a thread saw before. CPU only.
template <int PMAX>
struct StartMemo {
  i64 n = -1;              // the curve's point count when recorded (-1: nothing recorded)
  bool linear_only = false;  // recorded for accumulate's linear_only (the linear parameters' columns only)
  double p[PMAX];          // the start it was recorded at (compared bit for bit)
  double a[PMAX * PMAX];   // J^T J (its linear block where linear_only)
  double* f = nullptr;     // model values, [n rounded up to kAccumBlock]
  double* jb = nullptr;    // Jacobian columns of block k, parameter j: jb + (k * PMAX + j) * kAccumBlock (zero-padded)
};

// Cost, J^T J and J^T r at natural parameters p. Returns false if not finite (ne is then unspecified).
// natural_linear: see residual_rows. linear_only: only the linear parameters' block of J^T J and J^T r (the others'
// entries are 0; what a projected cost needs, core/fit/varpro.hpp). memo (with natural_linear, for unweighted l2
// fits in linear space; else ignored): replayed where it was recorded at p in the same mode on a curve with the same
// x values (the caller knows), else recorded; see StartMemo.
template <class Model>
LAWFIT_HD bool accumulate(const Model& m, const Curve& c, const double* p, const Options& o,
                          Normal<Model::PMAX>& ne, bool natural_linear = false, bool linear_only = false,
                          StartMemo<Model::PMAX>* memo = nullptr) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  double a[PMAX * PMAX], g[PMAX];
  for (int k = 0; k < np * PMAX; ++k) a[k] = 0.0;
  for (int k = 0; k < np; ++k) g[k] = 0.0;
  double cost = 0.0, rr = 0.0;
#ifdef __CUDA_ARCH__
  (void)memo;
  constexpr bool replay = false, record = false;
#else
  if (!(natural_linear && !c.w && o.loss == L2 && o.space == SPACE_LINEAR && c.d == m.n_inputs())) memo = nullptr;
  bool replay = memo && memo->n == c.n && memo->linear_only == linear_only;
  for (int j = 0; j < np && replay; ++j) {
    std::uint64_t u, v;  // (bit for bit: -0.0 is not 0.0 here)
    std::memcpy(&u, &memo->p[j], sizeof u);
    std::memcpy(&v, &p[j], sizeof v);
    replay = u == v;
  }
  const bool record = memo && !replay;
  if (record) {
    memo->n = -1;  // (until complete)
    memo->linear_only = linear_only;
    for (int j = 0; j < np; ++j) memo->p[j] = p[j];
  }
#endif
  for (i64 i0 = 0; i0 < c.n; i0 += kAccumBlock) {
    const int nb = static_cast<int>(c.n - i0 < kAccumBlock ? c.n - i0 : kAccumBlock);
    const i64 blk = i0 / kAccumBlock;
    if (replay) {
      // The recorded model values and columns: only the residuals are this curve's (as residual_rows makes them).
      double rb[kAccumBlock];
      const double* fm = memo->f + i0;
      for (int q = 0; q < nb; ++q) rb[q] = residual<SPACE_LINEAR>(c.y[i0 + q], fm[q], 1.0).r;
      const int nl = (nb + kLanes - 1) / kLanes * kLanes;
      for (int q = nb; q < nl; ++q) rb[q] = 0.0;
      const double s = lane_dot(rb, rb, nl);
      cost += 0.5 * s;
      rr += s;
      for (int j = 0; j < np; ++j)
        if (!linear_only || m.is_linear(j)) g[j] += lane_dot(memo->jb + (blk * PMAX + j) * kAccumBlock, rb, nl);
      continue;
    }
    // 1. The block's points with positive weight (all of them without weights; otherwise listed in idx, with
    // their observations and weight roots), their residuals rb and Jacobian columns jb[j], zero-padded to a
    // multiple of kLanes (padding adds nothing to the sums).
    i64 idx[kAccumBlock];
    double yb[kAccumBlock], sw[kAccumBlock];
    int nu = nb;
    if (c.w) {
      nu = 0;
      for (int q = 0; q < nb; ++q) {
        const i64 i = i0 + q;
        if (c.w[i] == 0.0) continue;
        sw[nu] = std::sqrt(c.w[i]);
        yb[nu] = c.y[i];
        idx[nu++] = i;
      }
    }
    const int nl = (nu + kLanes - 1) / kLanes * kLanes;
    double f[kAccumBlock], rb[kAccumBlock], jt[kAccumBlock * PMAX], jb[PMAX][kAccumBlock];
    // Model values and gradients (rows jt[q * PMAX + j]).
    if (nu == nb && c.d == m.n_inputs()) {
      eval_points(m, c.x + i0 * m.n_inputs(), nb, p, f, jt);
    } else {
      for (int q = 0; q < nu; ++q) f[q] = m.eval(c.x + (c.w ? idx[q] : i0 + q) * c.d, p, jt + q * PMAX);
    }
    const double* y = c.w ? yb : c.y + i0;
    // A weight multiplies the point's loss, w rho(r): for l2 that is the residual scaled by sqrt(w); a robust
    // loss sees the unscaled residual and its terms are scaled by the weight below, so that a weight of k
    // is k copies of the point (what the pairs bootstrap relies on).
    const bool wr = c.w && o.loss == L2;
    if (o.space == SPACE_LOG) {
      if (wr) residual_rows<SPACE_LOG, true>(m, y, sw, f, jt, p, nu, rb, jb, natural_linear);
      else residual_rows<SPACE_LOG, false>(m, y, sw, f, jt, p, nu, rb, jb, natural_linear);
    } else {
      if (wr) residual_rows<SPACE_LINEAR, true>(m, y, sw, f, jt, p, nu, rb, jb, natural_linear);
      else residual_rows<SPACE_LINEAR, false>(m, y, sw, f, jt, p, nu, rb, jb, natural_linear);
    }
    for (int q = nu; q < nl; ++q) {
      rb[q] = 0.0;
      for (int j = 0; j < np; ++j) jb[j][q] = 0.0;
    }
    if (record) {
      for (int q = 0; q < nb; ++q) memo->f[i0 + q] = f[q];
      for (int j = 0; j < np; ++j)
        if (!linear_only || m.is_linear(j))
          for (int q = 0; q < nl; ++q) memo->jb[(blk * PMAX + j) * kAccumBlock + q] = jb[j][q];
    }
    // 2. The loss.
    if (o.loss != L2) {
      for (int q = 0; q < nu; ++q) {
        const double r = rb[q];
        const double z = (r / o.delta) * (r / o.delta);
        const Rho rho = robust_rho(o.loss, z);
        const double wq = c.w ? sw[q] : 1.0;  // root of the point's weight
        cost += wq * wq * 0.5 * o.delta * o.delta * rho.v;
        // Rescale residual and Jacobian so that J^T r is the exact gradient. Where Triggs' second-order
        // correction (used by scipy) keeps a healthy positive curvature, use it; for outliers it tends to
        // zero or below (rho'' < 0), which stalls the solver, so there scale both by sqrt(rho') instead
        // (iteratively reweighted Gauss-Newton, as Ceres does).
        const double tr = rho.d1 + 2.0 * rho.d2 * z;  // Triggs' curvature of rho along the residual
        const double js = std::sqrt(tr > 0.25 * rho.d1 ? tr : rho.d1);
        rb[q] = wq * (tr > 0.25 * rho.d1 ? r * (rho.d1 / js) : r * js);
        for (int j = 0; j < np; ++j) jb[j][q] *= wq * js;
      }
      rr += lane_dot(rb, rb, nl);
    } else {
      const double s = lane_dot(rb, rb, nl);
      cost += 0.5 * s;
      rr += s;
    }
    // 3. The sums.
    for (int j = 0; j < np; ++j) {
      if (linear_only && !m.is_linear(j)) continue;
      g[j] += lane_dot(jb[j], rb, nl);
      for (int k = 0; k <= j; ++k)
        if (!linear_only || m.is_linear(k)) a[j * PMAX + k] += lane_dot(jb[j], jb[k], nl);
    }
  }
  if (replay || record) {
    for (int j = 0; j < np; ++j)
      for (int k = 0; k <= j; ++k)
        if (!linear_only || (m.is_linear(j) && m.is_linear(k))) {
          if (replay) a[j * PMAX + k] = memo->a[j * PMAX + k];
          else memo->a[j * PMAX + k] = a[j * PMAX + k];
        }
    if (record) memo->n = c.n;
  }
  // One check for every point: non-finite residuals or derivatives have made a sum non-finite. (v * 0 is +-0 for a
  // finite v and NaN for an infinite or NaN one: one test of a sum of such products checks them all.) The cost, r^T r
  // and the diagonal of J^T J suffice: a non-finite residual or derivative makes one of them non-finite (its square
  // is +inf or NaN), and where they are finite so is every other sum (|J_j . J_k| <= (J_j . J_j + J_k . J_k) / 2,
  // |J_j . r| <= (J_j . J_j + r . r) / 2), so the test waits for fewer sums.
  double z = cost * 0.0 + rr * 0.0;
  for (int j = 0; j < np; ++j) z += a[j * PMAX + j] * 0.0;
  if (!(z == 0.0)) return false;
  for (int j = 0; j < np; ++j) {
    ne.g[j] = g[j];
    for (int k = 0; k <= j; ++k) ne.a[j * PMAX + k] = ne.a[k * PMAX + j] = a[j * PMAX + k];
  }
  ne.cost = cost;
  ne.rr = rr;
  return true;
}

// Cost only (used where no gradient is needed).
template <class Model>
LAWFIT_HD double cost_at(const Model& m, const Curve& c, const double* p, const Options& o) {
  double cost = 0.0;
  for (i64 i = 0; i < c.n; ++i) {
    if (c.w && c.w[i] == 0.0) continue;
    cost += (c.w ? c.w[i] : 1.0) * residual_cost(o.loss, o.delta, point_residual(m, c, i, p, o.space));
  }
  return std::isfinite(cost) ? cost : kInf;
}

// MINPACK's gradient test term of one free parameter: the cosine between the residual vector and its Jacobian
// column, |g_j| / (||J_j|| ||r||), from cn = ||J_j||^2 ||r||^2 (J^T J's diagonal entry times r^T r); 0 where cn is
// not positive. lm_full, VarPro (core/fit/varpro.hpp) and exact_converged stop where the largest is <= gtol.
LAWFIT_HD inline double gradient_cosine(double g, double cn) { return cn > 0.0 ? std::fabs(g) / std::sqrt(cn) : 0.0; }

// The pieces of one damped Gauss-Newton iteration on a system (a [n x n], leading dimension PMAX; gradient g) in
// which the parameters with fixed[j] are held: shared by lm_full and VarPro (core/fit/varpro.hpp), which runs them
// on its reduced system.

// Stationarity gate of the ftol and xtol exits: the undamped Gauss-Newton step over the free parameters must promise
// a relative decrease of at most 100 ftol (a nearly singular system gets a small Levenberg term, the smallest of
// 1e-12, 1e-9, 1e-6 x its diagonal that it can be factored with; none: nothing better to offer, stationary).
template <int PMAX, int N>
LAWFIT_HD LAWFIT_INLINE bool gn_stationary_n(const double* a, const double* g, int n_rt, const bool* fixed,
                                             double cost, double ftol) {
  const int n = N > 0 ? N : (n_rt < PMAX ? n_rt : PMAX);  // (n <= PMAX always: said so for the compiler)
  for (double reg = 1e-12; reg < 1e-5; reg *= 1e3) {
    double l[PMAX * PMAX] = {}, h[PMAX];  // (zeroed: GCC cannot see that the loop below fills what ldlt reads)
    LAWFIT_UNROLL
    for (int j = 0; j < n; ++j) {
      LAWFIT_UNROLL
      for (int k = 0; k < n; ++k) l[j * PMAX + k] = (fixed[j] || fixed[k]) ? 0.0 : a[j * PMAX + k];
      l[j * PMAX + j] = fixed[j] ? 1.0 : a[j * PMAX + j] * (1.0 + reg) + 1e-300;
      h[j] = fixed[j] ? 0.0 : g[j];
    }
    if (!ldlt_n<N>(l, n, PMAX)) continue;
    ldlt_solve_n<N>(l, n, PMAX, h);
    double pred = 0.0;
    LAWFIT_UNROLL
    for (int j = 0; j < n; ++j) pred += fixed[j] ? 0.0 : 0.5 * g[j] * h[j];
    return pred <= 100.0 * ftol * cost;
  }
  return true;
}
template <int PMAX>
LAWFIT_HD LAWFIT_INLINE bool gn_stationary(const double* a, const double* g, int n, const bool* fixed, double cost,
                                           double ftol) {
  return by_size<PMAX>(
      n, [&](auto N) LAWFIT_INLINE_LAMBDA { return gn_stationary_n<PMAX, N()>(a, g, n, fixed, cost, ftol); });
}

// The damped step h = -(a + lambda diag(dscale))^-1 g over the free parameters (0 for held ones). false if the
// damped system cannot be factored (the caller raises lambda).
template <int PMAX, int N>
LAWFIT_HD LAWFIT_INLINE bool damped_step_n(const double* a, const double* g, int n_rt, const bool* fixed,
                                           double lambda, const double* dscale, double* h) {
  const int n = N > 0 ? N : (n_rt < PMAX ? n_rt : PMAX);  // (n <= PMAX always: said so for the compiler)
  double l[PMAX * PMAX];
  LAWFIT_UNROLL
  for (int j = 0; j < n; ++j) {
    LAWFIT_UNROLL
    for (int k = 0; k < n; ++k) l[j * PMAX + k] = (fixed[j] || fixed[k]) ? 0.0 : a[j * PMAX + k];
    l[j * PMAX + j] = fixed[j] ? 1.0 : a[j * PMAX + j] + lambda * dscale[j];
    h[j] = fixed[j] ? 0.0 : -g[j];
  }
  if (!ldlt_n<N>(l, n, PMAX)) return false;
  ldlt_solve_n<N>(l, n, PMAX, h);
  return true;
}
template <int PMAX>
LAWFIT_HD LAWFIT_INLINE bool damped_step(const double* a, const double* g, int n, const bool* fixed, double lambda,
                                         const double* dscale, double* h) {
  return by_size<PMAX>(
      n, [&](auto N) LAWFIT_INLINE_LAMBDA { return damped_step_n<PMAX, N()>(a, g, n, fixed, lambda, dscale, h); });
}

// Nielsen's update of the damping after an accepted step whose actual decrease was rho times the predicted one.
LAWFIT_HD LAWFIT_INLINE void damping_accepted(double rho, double& lambda, double& nu) {
  const double t = 2.0 * rho - 1.0;
  lambda *= std::max(1.0 / 3.0, 1.0 - t * t * t);
  if (lambda < 1e-15) lambda = 1e-15;
  nu = 2.0;
}

// Nielsen's update after a rejected step (or a damped system that cannot be factored): the damping raised, its factor
// doubled. true once lambda passes 1e30: no damping is left to try (the caller's exit).
LAWFIT_HD LAWFIT_INLINE bool damping_raised(double& lambda, double& nu) {
  lambda *= nu;
  nu *= 2.0;
  return lambda > 1e30;
}

// Decrease of the quadratic model for the step: -(g.step + step^T a step / 2).
template <int PMAX>
LAWFIT_HD LAWFIT_INLINE double predicted_decrease(const double* a, const double* g, int n, const double* step) {
  double pred = 0.0;
  for (int j = 0; j < n; ++j) {
    double ah = 0.0;
    for (int k = 0; k < n; ++k) ah += a[j * PMAX + k] * step[k];
    pred -= g[j] * step[j] + 0.5 * step[j] * ah;
  }
  return pred;
}

// Run LM on all parameters from the natural start p0 within natural bounds [lower, upper] (lm_solve in
// core/fit/varpro.hpp chooses between this and variable projection). ne0: the normal equations at p0 when the
// caller has them (VarPro's last evaluation, internal parameters): used instead of evaluating there again, as long as
// p0 is a valid start as it is (inside the bounds, LOG parameters positive); otherwise ignored.
template <class Model>
LAWFIT_HD LMResult<Model::PMAX> lm_full(const Model& m, const Curve& c, const double* p0, const double* lower,
                                         const double* upper, const Options& o,
                                         Normal<Model::PMAX>* final_ne = nullptr,
                                         const Normal<Model::PMAX>* ne0 = nullptr) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  LMResult<PMAX> res;
  double th[PMAX], lo[PMAX], hi[PMAX], p[PMAX];
  for (int j = 0; j < np; ++j) {
    if (m.scale(j) == LOG) {
      lo[j] = lower[j] > 0.0 ? std::log(lower[j]) : -kInf;
      hi[j] = std::log(upper[j]);  // log(inf) = inf
    } else {
      lo[j] = lower[j];
      hi[j] = upper[j];
    }
    double v = p0[j];
    if (m.scale(j) == LOG && !(v > 0.0)) {
      v = (lower[j] > 0.0) ? lower[j] : 1e-12;
      ne0 = nullptr;  // (the start moved: ne0 is not its normal equations)
    }
    th[j] = (m.scale(j) == LOG) ? std::log(v) : v;
    if (th[j] < lo[j] || th[j] > hi[j]) {
      th[j] = th[j] < lo[j] ? lo[j] : hi[j];
      ne0 = nullptr;
    }
  }
  to_natural(m, th, p);
  for (int j = 0; j < np; ++j) res.p[j] = p[j];
  res.iters = 0;

  // The accepted point's normal equations (*ne) and the trial's (*tn): two buffers, swapped on acceptance.
  Normal<PMAX> nbuf[2];
  Normal<PMAX>* ne = &nbuf[0];
  Normal<PMAX>* tn = &nbuf[1];
  if (ne0) {
    *ne = *ne0;
  } else if (!accumulate(m, c, p, o, *ne)) {
    res.cost = kInf;
    res.status = NON_FINITE;
    return res;
  }
  res.cost = ne->cost;
  if (ne->cost == 0.0) {
    res.status = CONVERGED;
    if (final_ne) *final_ne = *ne;
    return res;
  }

  double dscale[PMAX];
  for (int j = 0; j < np; ++j) dscale[j] = ne->a[j * PMAX + j] > 1e-300 ? ne->a[j * PMAX + j] : 1e-300;
  // Stationarity gate of the ftol and xtol exits (gn_stationary), which a damped LM can meet far from a minimum
  // while it crawls along a curved valley (e.g. a LOG amplitude sliding towards zero): otherwise the iteration goes
  // on (and ends as MAX_ITER if it never gets there).
  // Active set: a parameter at a bound whose descent direction points outward is held fixed.
  auto held = [&](int j) { return (th[j] <= lo[j] && ne->g[j] > 0.0) || (th[j] >= hi[j] && ne->g[j] < 0.0); };
  auto stationary = [&]() -> bool {
    bool fj[PMAX];
    for (int j = 0; j < np; ++j) fj[j] = held(j);
    return gn_stationary<PMAX>(ne->a, ne->g, np, fj, ne->cost, o.ftol);
  };
  double lambda = 1e-3, nu = 2.0;
  Status status = MAX_ITER;
  bool singular_start = true;

  for (int it = 0; it < o.max_iter; ++it) {
    res.iters = it + 1;
    // Active set: parameters at a bound whose descent direction points outward are held fixed.
    // The gtol test is MINPACK's: the largest cosine between the residual vector and a free parameter's
    // Jacobian column, |g_j| / (||J_j|| ||r||). Unlike a bound on |g| itself it does not depend on the units of
    // the data or of the parameters: a LOG parameter collapsing towards zero (where its internal gradient
    // p dC/dp vanishes with p while the natural one does not) is not taken for a stationary point.
    bool fixed[PMAX];
    double cmax = 0.0;
    for (int j = 0; j < np; ++j) {
      fixed[j] = held(j);
      const double cn = ne->a[j * PMAX + j] * ne->rr;
      if (!fixed[j]) cmax = std::max(cmax, gradient_cosine(ne->g[j], cn));
      dscale[j] = std::max(dscale[j], ne->a[j * PMAX + j]);
    }
    if (cmax <= o.gtol) {
      status = CONVERGED;
      break;
    }
    // Inner loop: increase damping until a step reduces the cost.
    bool accepted = false, done = false;
    while (!accepted) {
      double h[PMAX];
      if (!damped_step<PMAX>(ne->a, ne->g, np, fixed, lambda, dscale, h)) {
        if (damping_raised(lambda, nu)) {
          status = singular_start ? SINGULAR : CONVERGED;
          done = true;
          break;
        }
        continue;
      }
      singular_start = false;
      double thn[PMAX], step[PMAX], hnorm = 0.0, tnorm = 0.0;
      for (int j = 0; j < np; ++j) {
        double v = th[j] + h[j];
        if (v < lo[j]) v = lo[j];
        if (v > hi[j]) v = hi[j];
        thn[j] = v;
        step[j] = v - th[j];
        hnorm += step[j] * step[j];
        tnorm += th[j] * th[j];
      }
      hnorm = std::sqrt(hnorm);
      tnorm = std::sqrt(tnorm);
      if (hnorm <= o.xtol * (o.xtol + tnorm) && stationary()) {
        status = CONVERGED;
        done = true;
        break;
      }
      // Predicted reduction of the quadratic model for the (projected) step.
      const double pred = predicted_decrease<PMAX>(ne->a, ne->g, np, step);
      double pn[PMAX];
      to_natural(m, thn, pn);
      const bool ok = accumulate(m, c, pn, o, *tn);
      const double actual = ok ? ne->cost - tn->cost : -kInf;
      if (ok && actual > 0.0) {
        const double rho = pred > 0.0 ? actual / pred : 0.0;
        damping_accepted(rho, lambda, nu);
        const bool ftol_met = actual < o.ftol * ne->cost && rho > 0.25;
        for (int j = 0; j < np; ++j) {
          th[j] = thn[j];
          p[j] = pn[j];
        }
        Normal<PMAX>* was = ne;
        ne = tn;
        tn = was;
        accepted = true;
        if (ne->cost == 0.0 || (ftol_met && stationary())) {
          status = CONVERGED;
          done = true;
        }
      } else {
        // Rejected: the cost cannot be reduced along any step the damping allows.
        if (ok && actual == 0.0 && pred <= o.ftol * ne->cost) {
          status = CONVERGED;
          done = true;
          break;
        }
        if (damping_raised(lambda, nu)) {
          status = CONVERGED;  // stationary to machine precision
          done = true;
          break;
        }
      }
    }
    if (done) break;
  }
  for (int j = 0; j < np; ++j) res.p[j] = p[j];
  res.cost = ne->cost;
  res.status = status;
  if (final_ne) *final_ne = *ne;
  return res;
}

}  // namespace lawfit::fit
