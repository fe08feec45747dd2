// Batched bootstrap of a fitted CSR batch: R replicates per curve, every (curve, replicate) pair one task,
// all tasks of all curves in one parallel batch.
//
// Assumptions: the batch was fitted by fit_batch (core/fit/batch.hpp) with the same model, options and
// bounds; p_hat[B, P] holds the full-data fit and fit_status[B] its status (replicates of a curve whose fit
// is not CONVERGED/MAX_ITER are NOT_RUN with NaN parameters). Each replicate is warm-started at p_hat and
// solved by lm_solve (core/fit/lm.hpp), the same solver as the fit.
//   PAIRS:     the curve's points with positive weight are resampled with replacement; a replicate is
//              the integer multiplicity of each point (times its weight) passed as weights, so x and y are
//              never copied.
//   RESIDUAL:  y* = f_hat(x_i) + r_j (linear space) or f_hat(x_i) * exp(r_j) (log space), r_j drawn with
//              replacement from the full fit's residuals in the fit space.
//   JACKKNIFE: replicate r leaves point r out (weight 0); replicates r >= n of a curve are NOT_RUN. Used
//              for the acceleration constant of BCa intervals.
// Replicate r of curve b draws from Philox(seed, b, r), so the output does not depend on the thread count.
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
      if (fit_status[b] != CONVERGED && fit_status[b] != MAX_ITER) return;
      for (i64 i = in.offsets[b]; i < in.offsets[b + 1]; ++i)
        if (!(in.w && in.w[i] == 0.0)) Law::prepare(in.x + i * in.d, xp.data() + i * Law::DP);
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

  // Residual bootstrap: residuals (fit space) and fitted values of every point, computed once.
  std::vector<double> fhat, resid;
  if (method == RESIDUAL) {
    const i64 n_total = in.offsets[B];
    fhat.assign(n_total, kNaN);
    resid.assign(n_total, kNaN);
    parallel_for(B, threads, [&](i64 b) {
      if (fit_status[b] != CONVERGED && fit_status[b] != MAX_ITER) return;
      const double* p = p_hat + b * np;
      for (i64 i = in.offsets[b]; i < in.offsets[b + 1]; ++i) {
        if (in.w && in.w[i] == 0.0) continue;  // never drawn (and may lie outside the law's domain)
        const double f = m.eval(in.x + i * in.d, p, nullptr);
        fhat[i] = f;
        resid[i] = (o.space == SPACE_LOG) ? std::log(in.y[i]) - std::log(f) : in.y[i] - f;
      }
    });
  }

  parallel_for(B * R, threads, [&](i64 t) {
    const i64 b = t / R, r = t % R;
    double* dst = out.params + t * np;
    auto fail = [&](Status s) {
      for (int j = 0; j < np; ++j) dst[j] = kNaN;
      out.status[t] = s;
    };
    if (fit_status[b] != CONVERGED && fit_status[b] != MAX_ITER) return fail(NOT_RUN);
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
    // Points that take part (positive weight).
    i64 m_used = 0;
    for (i64 i = 0; i < n; ++i)
      if (!w0 || w0[i] > 0.0) pos[m_used++] = i;
    fit::Curve c{in.x + a * in.d, in.y + a, nullptr, n, in.d};
    Philox rng(seed, static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(r));
    if (method == PAIRS) {
      for (i64 i = 0; i < n; ++i) wbuf[i] = 0.0;
      for (i64 k = 0; k < m_used; ++k) wbuf[pos[rng.below(m_used)]] += 1.0;
      i64 distinct = 0;
      for (i64 i = 0; i < n; ++i) {
        if (wbuf[i] > 0.0) ++distinct;
        if (w0) wbuf[i] *= w0[i];
      }
      if (distinct < np) return fail(TOO_FEW_POINTS);
      c.w = wbuf.data();
    } else if (method == RESIDUAL) {
      for (i64 i = 0; i < n; ++i) {
        const double rj = resid[a + pos[rng.below(m_used)]];
        ybuf[i] = (o.space == SPACE_LOG) ? fhat[a + i] * std::exp(rj) : fhat[a + i] + rj;
      }
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
// curve's points (PAIRS) or residuals (RESIDUAL) with the streams bootstrap_batch uses, Philox(seed, b, r),
// and refits all curves jointly, warm-started from the full fit. Replicates are the parallel tasks (each joint
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
  auto fitted = [&](i64 b) { return fit_status[b] == CONVERGED || fit_status[b] == MAX_ITER; };
  std::vector<double> lo, hi;
  fit::internal_bounds(m, in, lo, hi);
  // Fitted values and residuals (fit space) of the full fit, for the residual bootstrap.
  std::vector<double> fhat, resid;
  if (method == RESIDUAL) {
    fhat.assign(n_total, kNaN);
    resid.assign(n_total, kNaN);
    parallel_for(B, threads, [&](i64 b) {
      if (!fitted(b)) return;
      for (i64 i = in.offsets[b]; i < in.offsets[b + 1]; ++i) {
        if (in.w && in.w[i] == 0.0) continue;
        const double f = m.eval(in.x + i * in.d, p_hat + b * np, nullptr);
        fhat[i] = f;
        resid[i] = (o.space == SPACE_LOG) ? std::log(in.y[i]) - std::log(f) : in.y[i] - f;
      }
    });
  }
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
      if (!fitted(b)) continue;
      const i64 a = in.offsets[b], n = in.offsets[b + 1] - a;
      if (static_cast<i64>(pos.size()) < n) pos.resize(n);
      i64 m_used = 0;
      for (i64 i = 0; i < n; ++i)
        if (!in.w || in.w[a + i] > 0.0) pos[m_used++] = i;
      if (m_used == 0) continue;
      Philox rng(seed, static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(r));
      if (method == PAIRS) {
        for (i64 k = 0; k < m_used; ++k) wbuf[a + pos[rng.below(m_used)]] += 1.0;
        if (in.w)
          for (i64 i = 0; i < n; ++i) wbuf[a + i] *= in.w[a + i];
      } else {
        for (i64 i = 0; i < n; ++i) {
          const double rj = resid[a + pos[rng.below(m_used)]];
          ybuf[a + i] = (o.space == SPACE_LOG) ? fhat[a + i] * std::exp(rj) : fhat[a + i] + rj;
          wbuf[a + i] = in.w ? in.w[a + i] : 1.0;
        }
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
      out.status[b * R + r] = !fitted(b) ? NOT_RUN : !used[b] ? TOO_FEW_POINTS : ok ? st : (st == SINGULAR ? SINGULAR : NON_FINITE);
    }
  });
}

}  // namespace lawfit::sample
