// Batched bootstrap of a fitted CSR batch: R replicates per curve, every (curve, replicate) pair one task,
// all tasks of all curves in one parallel batch.
//
// Assumptions: the batch was fitted by fit_batch (core/fit/batch.hpp) with the same model, options and
// bounds; p_hat[B, P] holds the full-data fit and fit_status[B] its status (replicates of a curve whose fit
// is not CONVERGED/MAX_ITER are NOT_RUN with NaN parameters). Each replicate is warm-started at p_hat and
// solved by lm_solve (core/fit/varpro.hpp), the same solver as the fit.
//   PAIRS:     the curve's points with positive weight are resampled with replacement; a replicate is
//              the integer multiplicity of each point (times its weight) passed as weights, so x and y are
//              never copied.
//   RESIDUAL:  y* = f_hat(x_i) + r_j (linear space) or f_hat(x_i) * exp(r_j) (log space), r_j drawn with
//              replacement from the full fit's residuals in the fit space.
//   JACKKNIFE: replicate r leaves point r out (weight 0); replicates r >= n of a curve are NOT_RUN. Used
//              for the acceleration constant of BCa intervals.
// Replicate r of curve b draws from Philox(seed, key of b, r) (common.hpp curve_key: in.keys, a stable hash of the
// curve's key), so the output depends neither on the thread count nor on which other curves are in the batch.
// Scratch buffers (weights, y*) are per worker thread and sized to the longest curve: no allocation per task.
#pragma once
#include <algorithm>
#include <vector>

#include "core/fit/batch.hpp"
#include "core/fit/shared.hpp"

namespace lawfit::sample {

enum BootMethod : std::int32_t { PAIRS = 0, RESIDUAL = 1, JACKKNIFE = 2 };

struct BootstrapOutput {
  double* params;        // [B, R, P]
  std::int32_t* status;  // [B, R]
};

// A curve's full fit can be resampled (CONVERGED or MAX_ITER).
inline bool was_fitted(std::int32_t status) { return status == CONVERGED || status == MAX_ITER; }

// Indices of the points of one curve that take part (positive weight, or all when w0 is null): pos[m], m returned.
inline i64 used_points(const double* w0, i64 n, i64* pos) {
  i64 m = 0;
  for (i64 i = 0; i < n; ++i)
    if (!w0 || w0[i] > 0.0) pos[m++] = i;
  return m;
}

// Pairs resample of one curve: w[n] = multiplicity of each point among m draws from pos[m] (stream rng),
// times its weight w0. Returns the number of distinct points drawn.
inline i64 draw_pairs(Philox& rng, const i64* pos, i64 m, i64 n, const double* w0, double* w) {
  for (i64 i = 0; i < n; ++i) w[i] = 0.0;
  for (i64 k = 0; k < m; ++k) w[pos[rng.below(m)]] += 1.0;
  i64 distinct = 0;
  for (i64 i = 0; i < n; ++i) {
    if (w[i] > 0.0) ++distinct;
    if (w0) w[i] *= w0[i];
  }
  return distinct;
}

// Residual resample of one curve: ys[n] = fhat[i] + r (linear space) or fhat[i] * exp(r) (log space), r drawn
// from the residuals of the used points pos[m] (stream rng).
inline void draw_residuals(Philox& rng, const i64* pos, i64 m, i64 n, const double* fhat, const double* resid,
                           Space space, double* ys) {
  for (i64 i = 0; i < n; ++i) {
    const double rj = resid[pos[rng.below(m)]];
    ys[i] = (space == SPACE_LOG) ? fhat[i] * std::exp(rj) : fhat[i] + rj;
  }
}

// Fitted values and residuals (fit space) of the full fit at every point of the fitted curves, for the residual
// bootstrap; NaN elsewhere (zero-weight points are never drawn and may lie outside the law's domain).
template <class Model>
void full_fit_residuals(const Model& m, const fit::BatchInput& in, const double* p_hat, const std::int32_t* fit_status,
                        Space space, std::vector<double>& fhat, std::vector<double>& resid, int threads) {
  const int np = m.n_params();
  const i64 n_total = in.offsets[in.B];
  fhat.assign(n_total, kNaN);
  resid.assign(n_total, kNaN);
  parallel_for(in.B, threads, [&](i64 b) {
    if (!was_fitted(fit_status[b])) return;
    const double* p = p_hat + b * np;
    for (i64 i = in.offsets[b]; i < in.offsets[b + 1]; ++i) {
      if (in.w && in.w[i] == 0.0) continue;
      const double f = m.eval(in.x + i * in.d, p, nullptr);
      fhat[i] = f;
      resid[i] = (space == SPACE_LOG) ? std::log(in.y[i]) - std::log(f) : in.y[i] - f;
    }
  });
}

template <class Model>
void bootstrap_tasks(const Model& m, const fit::BatchInput& in, const double* p_hat, const std::int32_t* fit_status,
                     i64 R, BootMethod method, std::uint64_t seed, const fit::Options& o, const BootstrapOutput& out,
                     int threads);

template <class Model>
void bootstrap_batch(const Model& m, const fit::BatchInput& in, const double* p_hat /* [B, P] */,
                     const std::int32_t* fit_status /* [B] */, i64 R, BootMethod method, std::uint64_t seed,
                     const fit::Options& o, const BootstrapOutput& out, int threads) {
  if constexpr (laws::Preparation<Model>::enabled) {
    // Laws that transform their inputs (e.g. log N, log D) do it once for all replicates, as the fit does;
    // eval_prepared is bit-identical to eval. Points of curves that were not fitted and zero-weight points
    // (never evaluated) are left out.
    using Law = typename Model::law_type;
    const i64 n_total = in.B > 0 ? in.offsets[in.B] : 0;
    std::vector<double> xp(static_cast<size_t>(n_total) * Law::DP, 0.0);
    parallel_for(in.B, threads, [&](i64 b) {
      if (!was_fitted(fit_status[b])) return;
      const i64 a = in.offsets[b];
      fit::prepare_points<Law>(in.x + a * in.d, in.d, in.w ? in.w + a : nullptr, in.offsets[b + 1] - a,
                               xp.data() + a * Law::DP);
    });
    fit::BatchInput pin = in;
    pin.x = xp.data();
    pin.d = Law::DP;
    bootstrap_tasks(laws::PreparedModel<Law>{}, pin, p_hat, fit_status, R, method, seed, o, out, threads);
  } else {
    bootstrap_tasks(m, in, p_hat, fit_status, R, method, seed, o, out, threads);
  }
}

// All (curve, replicate) tasks on inputs the model evaluates directly.
template <class Model>
void bootstrap_tasks(const Model& m, const fit::BatchInput& in, const double* p_hat, const std::int32_t* fit_status,
                     i64 R, BootMethod method, std::uint64_t seed, const fit::Options& o, const BootstrapOutput& out,
                     int threads) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  const i64 B = in.B;
  if (B <= 0 || R <= 0) return;
  i64 nmax = 0;
  for (i64 b = 0; b < B; ++b) nmax = std::max(nmax, in.offsets[b + 1] - in.offsets[b]);

  std::vector<double> fhat, resid;  // residual bootstrap: computed once
  if (method == RESIDUAL) full_fit_residuals(m, in, p_hat, fit_status, o.space, fhat, resid, threads);

  parallel_for(B * R, threads, [&](i64 t) {
    const i64 b = t / R, r = t % R;
    double* dst = out.params + t * np;
    auto fail = [&](Status s) {
      for (int j = 0; j < np; ++j) dst[j] = kNaN;
      out.status[t] = s;
    };
    if (!was_fitted(fit_status[b])) return fail(NOT_RUN);
    const i64 a = in.offsets[b], n = in.offsets[b + 1] - a;
    const double* w0 = in.w ? in.w + a : nullptr;
    const i64 off = in.per_curve_bounds ? b * np : 0;
    const double* lo = in.lower + off;
    const double* hi = in.upper + off;
    thread_local std::vector<double> wbuf, ybuf;
    thread_local std::vector<i64> pos;
    if (static_cast<i64>(wbuf.size()) < nmax) {
      wbuf.resize(nmax);
      ybuf.resize(nmax);
      pos.resize(nmax);
    }
    const i64 m_used = used_points(w0, n, pos.data());
    fit::Curve c{in.x + a * in.d, in.y + a, nullptr, n, in.d};
    Philox rng(seed, curve_key(in.keys, b), static_cast<std::uint64_t>(r));
    if (method == PAIRS) {
      if (draw_pairs(rng, pos.data(), m_used, n, w0, wbuf.data()) < np) return fail(TOO_FEW_POINTS);
      c.w = wbuf.data();
    } else if (method == RESIDUAL) {
      draw_residuals(rng, pos.data(), m_used, n, fhat.data() + a, resid.data() + a, o.space, ybuf.data());
      c.y = ybuf.data();
      c.w = w0;
    } else {  // JACKKNIFE
      if (r >= m_used || m_used - 1 < np) return fail(NOT_RUN);
      for (i64 i = 0; i < n; ++i) wbuf[i] = w0 ? w0[i] : 1.0;
      wbuf[pos[r]] = 0.0;
      c.w = wbuf.data();
    }
    const fit::LMResult<PMAX> res = fit::lm_solve(m, c, p_hat + b * np, lo, hi, o);
    for (int j = 0; j < np; ++j) dst[j] = res.p[j];
    out.status[t] = res.status;
    if (res.status == NON_FINITE || res.status == SINGULAR) fail(res.status);
  });
}

// Bootstrap of a fit with parameters shared across curves (fit::fit_shared): replicate r resamples every
// curve's points (PAIRS) or residuals (RESIDUAL) with the streams bootstrap_batch uses, Philox(seed, key of b,
// r), and refits all curves jointly, warm-started from the full fit. Replicates are the parallel tasks (each joint
// solve runs on one thread), so the output does not depend on the thread count. out.params [B, R, P]: the
// shared parameters are equal across the curves of a replicate. Curves whose full fit failed are NOT_RUN;
// a replicate whose joint fit fails is NON_FINITE (or SINGULAR) for every curve. JACKKNIFE is not defined
// here (leaving out one point of which curve?) and is rejected by the bindings.
template <class Model>
void bootstrap_shared(const Model& m, const fit::BatchInput& in, const bool* shared, const double* p_hat,
                      const std::int32_t* fit_status, i64 R, BootMethod method, std::uint64_t seed,
                      const fit::Options& o, const BootstrapOutput& out, int threads) {
  const int np = m.n_params();
  const i64 B = in.B;
  if (B <= 0 || R <= 0) return;
  const i64 n_total = in.offsets[B];
  std::vector<double> lo, hi;
  fit::internal_bounds(m, in, lo, hi);
  std::vector<double> fhat, resid;  // residual bootstrap: computed once
  if (method == RESIDUAL) full_fit_residuals(m, in, p_hat, fit_status, o.space, fhat, resid, threads);
  parallel_for(R, threads, [&](i64 r) {
    thread_local std::vector<double> wbuf, ybuf, th;
    thread_local std::vector<i64> pos;
    thread_local std::vector<char> used;
    wbuf.assign(n_total, 0.0);
    if (method == RESIDUAL) ybuf.assign(n_total, kNaN);
    th.assign(B * np, 0.0);
    used.assign(B, 0);
    fit::BatchInput bin = in;  // the replicate's data: resampled weights (pairs) or responses (residual)
    bin.w = wbuf.data();
    if (method == RESIDUAL) bin.y = ybuf.data();
    fit::SharedFit<Model> sf(m, bin, shared, o, 1);
    for (i64 b = 0; b < B; ++b) {
      if (!was_fitted(fit_status[b])) continue;
      const i64 a = in.offsets[b], n = in.offsets[b + 1] - a;
      const double* w0 = in.w ? in.w + a : nullptr;
      if (static_cast<i64>(pos.size()) < n) pos.resize(n);
      const i64 m_used = used_points(w0, n, pos.data());
      if (m_used == 0) continue;
      Philox rng(seed, curve_key(in.keys, b), static_cast<std::uint64_t>(r));
      if (method == PAIRS) {
        draw_pairs(rng, pos.data(), m_used, n, w0, wbuf.data() + a);
      } else {
        draw_residuals(rng, pos.data(), m_used, n, fhat.data() + a, resid.data() + a, o.space, ybuf.data() + a);
        for (i64 i = 0; i < n; ++i) wbuf[a + i] = w0 ? w0[i] : 1.0;
      }
      sf.active_.push_back(b);
      used[b] = 1;
      for (int j = 0; j < np; ++j) {
        const double v = p_hat[b * np + j];
        th[b * np + j] = m.scale(j) == LOG ? std::log(v) : v;
      }
    }
    int iters = 0;
    double cost = kInf;
    const Status st = sf.active_.empty() ? NOT_RUN : sf.solve(th, lo, hi, &iters, &cost);
    const bool ok = st != NOT_RUN && st != NON_FINITE && st != SINGULAR && std::isfinite(cost);
    for (i64 b = 0; b < B; ++b) {
      double* dst = out.params + (b * R + r) * np;
      for (int j = 0; j < np; ++j) {
        const double v = th[b * np + j];
        dst[j] = (used[b] && ok) ? (m.scale(j) == LOG ? std::exp(v) : v) : kNaN;
      }
      out.status[b * R + r] = !was_fitted(fit_status[b]) ? NOT_RUN : !used[b] ? TOO_FEW_POINTS : ok ? st : (st == SINGULAR ? SINGULAR : NON_FINITE);
    }
  });
}

}  // namespace lawfit::sample
