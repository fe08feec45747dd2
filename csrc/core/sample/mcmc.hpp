// Batched affine-invariant ensemble sampler (Goodman & Weare 2010 stretch move, as in emcee) over the
// posterior of Domhan et al. 2015's weighted ensemble of learning-curve families, one walker set per curve.
//
// Model (per curve, on a normalised scale where larger is better; the Python layer maps the user's metric
// there and back): y_i = sum_k w_k f_k(t_i | theta_k) + N(0, sigma^2), w_k >= 0, sigma in [sigma_min, 1].
// Flat prior restricted to: each family inside its law's parameter bounds, f_k(2) <= f_k(t_max) (the curve
// improves), f_k(t_max) and the ensemble's value at t_max inside [range_lo, range_hi] (the metric's range).
// The log-likelihood of point i is multiplied by a recency weight rw_i (10^(i/n), normalised to sum n).
// Families with an inactive mask bit are left out of the model (their coordinates stay frozen because
// all walkers start with the same values there, and the stretch-move factor uses the active dimension).
//
// Parallel over curves; within a curve the walkers are updated in two halves, sequentially, drawing from
// Philox(seed, curve key, step) (common.hpp curve_key: in.keys or the index), so the chain is identical for any
// thread count and whatever other curves are in the batch. Scratch is per worker thread.
//
// Speed: every family's per-point input transforms (ln t, 1/ln(t+1), 1/t: the laws' prepare hooks, law.hpp)
// are computed once per curve for the observed steps, t = 2 and t_max, and shared by all walkers and steps;
// the posterior rejects out-of-support proposals with the cheap checks (sigma, weights, parameter bounds)
// before evaluating any family, and the improvement/range checks before the likelihood.
//
// Start: walkers are drawn around the least-squares start x0 with the spread of the posterior rather than
// in a tiny ball, so the ensemble does not spend its steps expanding (a tiny ball in ~50 dimensions is still
// growing after hundreds of steps, which leaves the predictive far too narrow): each family's parameters
// from N(x0_k, s^2 Sigma_k) with Sigma_k its least-squares (Laplace) covariance, the weights from a flat
// Dirichlet scaled to the start's total weight, sigma log-normal around its start (the families' spread
// scaled by sigma / sigma_start, as their covariances scale with sigma^2); a family draw outside
// the prior's support is redrawn at a smaller spread. Without covariances the start is the relative ball.
#pragma once
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/common.hpp"
#include "core/laws/law.hpp"

namespace lawfit::sample {

// A compile-time list of one-input laws (core/laws) that make up an ensemble. for_each visits the families
// with their index and type at compile time, so every family's eval inlines into the posterior (no indirect
// calls; the compiler can share ln t between families).
// A family's per-point inputs: its prepared inputs (law.hpp's optional prepare/eval_prepared) when it has
// them, else the raw step t.
template <class L, bool = laws::HasPrepare<L>::value>
struct Features {
  static constexpr int DP = L::DP;
  LAWFIT_HD static void make(double t, double* xp) { L::prepare(&t, xp); }
  LAWFIT_HD static double eval(const double* xp, const double* p) { return L::eval_prepared(xp, p, nullptr); }
};
template <class L>
struct Features<L, false> {
  static constexpr int DP = 1;
  LAWFIT_HD static void make(double t, double* xp) { xp[0] = t; }
  LAWFIT_HD static double eval(const double* xp, const double* p) { return L::eval(xp, p, nullptr); }
};

template <class... F>
struct FamilyList {
  static constexpr int K = sizeof...(F);
  static constexpr int P[K] = {F::P...};
  static constexpr int PMAX = std::max({F::P...});
  static constexpr int PSUM = (F::P + ...);
  static constexpr int DP[K] = {Features<F>::DP...};
  static constexpr int DSUM = (Features<F>::DP + ...);
  static constexpr int CHOL = ((F::P * F::P) + ...);  // packed per-family P x P start-covariance factors
  // Offset of family k's parameters in the packed vector.
  LAWFIT_HD static constexpr int offset(int k) {
    int o = 0;
    for (int i = 0; i < k; ++i) o += P[i];
    return o;
  }
  // Offset of family k's feature block (in units of points x DP) and of its covariance factor.
  LAWFIT_HD static constexpr int feat_offset(int k) {
    int o = 0;
    for (int i = 0; i < k; ++i) o += DP[i];
    return o;
  }
  LAWFIT_HD static constexpr int chol_offset(int k) {
    int o = 0;
    for (int i = 0; i < k; ++i) o += P[i] * P[i];
    return o;
  }
  template <class Fn>
  LAWFIT_HD static void for_each(Fn&& fn) {
    for_each_impl(fn, std::index_sequence_for<F...>{});
  }
  template <class L>
  LAWFIT_HD static bool in_bounds(const double* p) {
    for (int j = 0; j < L::P; ++j)
      if (!(p[j] >= L::lower[j] && p[j] <= L::upper[j])) return false;
    return true;
  }

 private:
  template <class Fn, std::size_t... I>
  LAWFIT_HD static void for_each_impl(Fn& fn, std::index_sequence<I...>) {
    (fn(std::integral_constant<int, static_cast<int>(I)>{}, static_cast<F*>(nullptr)), ...);
  }
};

struct McmcInput {
  const i64* offsets;  // [C+1]
  i64 C;
  const double* t;      // [n_total] steps (>= 1)
  const double* y;      // [n_total] normalised values
  const double* t_max;  // [C] horizon used by the prior
  const double* range_lo;  // [C] metric range on the normalised scale (+-inf: open)
  const double* range_hi;  // [C]
  const double* init;   // [C, Dim] least-squares start (family params, weights, sigma)
  const std::uint8_t* active;  // [C, K] family used for this curve
  const double* sigma_min;  // [C] lower bound of sigma on the normalised scale
  const std::uint64_t* keys = nullptr;  // [C] random-stream key per curve (common.hpp curve_key), or null
  // [C, CHOL] optional: per family a P x P lower-triangular factor L_k (row-major) of its start covariance,
  // packed in family order; null (or init_spread = 0): start in the relative ball of size init_scale.
  const double* init_chol = nullptr;
};

struct McmcOptions {
  int walkers = 100;
  int steps = 600;
  int burn = 300;
  i64 samples = 1000;
  double a = 2.0;          // stretch scale
  double init_scale = 1e-3;  // relative size of the initial ball (starts without covariances)
  double init_spread = 1.0;  // multiplier of the start covariances' factors (0: use the ball)
  double init_sigma = 0.3;   // sd of log sigma at the start (with covariances)
  double de_frac = 0.0;      // fraction of steps that use the differential-evolution move instead
  std::uint64_t seed = 0;
};

struct McmcOutput {
  double* samples;      // [C, S, Dim]
  double* accept;       // [C] acceptance rate after burn-in
  double* trace;        // [C, steps - burn] walker mean of the ensemble at t_max (for the autocorrelation time)
  std::int32_t* status;  // [C]
};

// Ensemble value sum_k w_k f_k(t) of the packed parameters th (families, then weights, then sigma).
template <class Fam>
LAWFIT_HD inline double ensemble_mean(const double* th, const std::uint8_t* active, double t) {
  double mu = 0.0;
  Fam::for_each([&](auto kc, auto* tag) {
    using L = std::remove_pointer_t<decltype(tag)>;
    constexpr int k = decltype(kc)::value;
    if (active[k]) mu += th[Fam::PSUM + k] * L::eval(&t, th + Fam::offset(k), nullptr);
  });
  return mu;
}

// Per-curve family inputs: for family k a block of (n + 2) rows of width DP[k] at (n + 2) * feat_offset(k):
// rows 0..n-1 the observed steps, row n the step 2, row n + 1 t_max. feat has (n + 2) * DSUM entries.
template <class Fam>
inline void prepare_features(const double* t, i64 n, double t_max, double* feat) {
  Fam::for_each([&](auto kc, auto* tag) {
    using L = std::remove_pointer_t<decltype(tag)>;
    constexpr int k = decltype(kc)::value;
    constexpr int dp = Fam::DP[k];
    double* f = feat + (n + 2) * Fam::feat_offset(k);
    for (i64 i = 0; i < n; ++i) Features<L>::make(t[i], f + i * dp);
    Features<L>::make(2.0, f + n * dp);
    Features<L>::make(t_max, f + (n + 1) * dp);
  });
}

template <class Fam>
struct DomhanPosterior {
  static constexpr int K = Fam::K;
  static constexpr int Dim = Fam::PSUM + K + 1;
  const double* y;     // [n]
  const double* rw;    // [n] recency weights
  const double* feat;  // [(n + 2) * DSUM] prepared inputs (prepare_features)
  i64 n;
  double sw;  // sum of rw
  double t_max, lo, hi, sigma_min;
  const std::uint8_t* active;

  // Family k alone inside the prior's support: parameters within the law's bounds, the curve improves
  // (f(2) <= f(t_max)) and ends inside the metric's range. Writes f(t_max).
  template <int k, class L>
  LAWFIT_HD bool family_ok(const double* p, double* fT) const {
    if (!Fam::template in_bounds<L>(p)) return false;
    return family_ends_ok<k, L>(p, fT);
  }
  template <int k, class L>
  LAWFIT_HD bool family_ends_ok(const double* p, double* fT) const {
    constexpr int dp = Fam::DP[k];
    const double* f = feat + (n + 2) * Fam::feat_offset(k);
    const double f2 = Features<L>::eval(f + n * dp, p), fk = Features<L>::eval(f + (n + 1) * dp, p);
    *fT = fk;
    return f2 <= fk && fk >= lo && fk <= hi;
  }

  // Log posterior (up to a constant) at theta[Dim]; -inf outside the prior's support. Writes the ensemble's
  // value at t_max to *ens_tmax when given. With lp_min > -inf the caller only needs to know whether the
  // value exceeds lp_min: the points are visited from the most recent (largest recency weight) back, and
  // once the partial sum of squares alone puts the value below lp_min (it only decreases as points are
  // added) the evaluation stops and returns -inf. A Metropolis step that draws its uniform first thus makes
  // the same decision as with the full evaluation, at a fraction of the cost for clear rejections.
  LAWFIT_HD double operator()(const double* th, double* ens_tmax = nullptr, double lp_min = -kInf) const {
    const double* w = th + Fam::PSUM;
    const double sigma = th[Dim - 1];
    if (!(sigma >= sigma_min && sigma <= 1.0)) return -kInf;
    // 1. Cheap support checks first: weights and parameter bounds.
    bool ok = true;
    Fam::for_each([&](auto kc, auto* tag) {
      using L = std::remove_pointer_t<decltype(tag)>;
      constexpr int k = decltype(kc)::value;
      if (ok && active[k]) ok = w[k] >= 0.0 && Fam::template in_bounds<L>(th + Fam::offset(k));
    });
    if (!ok) return -kInf;
    // 2. Each family improves and ends inside the range, and so does the ensemble.
    double fT = 0.0;
    Fam::for_each([&](auto kc, auto* tag) {
      using L = std::remove_pointer_t<decltype(tag)>;
      constexpr int k = decltype(kc)::value;
      if (!ok || !active[k]) return;
      double fk;
      ok = family_ends_ok<k, L>(th + Fam::offset(k), &fk);
      fT += w[k] * fk;
    });
    if (!ok || !(fT >= lo && fT <= hi)) return -kInf;
    if (ens_tmax) *ens_tmax = fT;
    // 3. Likelihood, point by point from the last.
    const double c0 = -sw * std::log(sigma), h = 0.5 / (sigma * sigma);
    const double ss_max = lp_min > -kInf ? (c0 - lp_min) / h : kInf;
    double ss = 0.0;
    for (i64 i = n - 1; i >= 0; --i) {
      double m = 0.0;
      Fam::for_each([&](auto kc, auto* tag) {
        using L = std::remove_pointer_t<decltype(tag)>;
        constexpr int k = decltype(kc)::value;
        constexpr int dp = Fam::DP[k];
        if (active[k]) m += w[k] * Features<L>::eval(feat + (n + 2) * Fam::feat_offset(k) + i * dp, th + Fam::offset(k));
      });
      const double r = y[i] - m;
      ss += rw[i] * r * r;
      if (ss > ss_max) return -kInf;
    }
    const double lp = c0 - h * ss;
    return std::isfinite(lp) ? lp : -kInf;
  }
};

template <class Fam>
void mcmc_batch(const McmcInput& in, const McmcOptions& opt, const McmcOutput& out, int threads) {
  constexpr int K = Fam::K;
  constexpr int Dim = DomhanPosterior<Fam>::Dim;
  const int W = opt.walkers, half = W / 2;
  const int kept = opt.steps - opt.burn;
  const i64 S = opt.samples;
  i64 nmax = 0;
  for (i64 c = 0; c < in.C; ++c) nmax = std::max(nmax, in.offsets[c + 1] - in.offsets[c]);

  parallel_for(in.C, threads, [&](i64 c) {
    thread_local std::vector<double> pos, lp, fts, rw, prop, feat;
    pos.resize(static_cast<size_t>(W) * Dim);
    lp.resize(W);
    fts.resize(W);
    rw.resize(std::max<i64>(nmax, 1));
    feat.resize(static_cast<size_t>(nmax + 2) * Fam::DSUM);
    prop.resize(Dim);
    double* samp = out.samples + c * S * Dim;
    double* trace = out.trace + c * kept;
    auto fail = [&](Status s) {
      for (i64 q = 0; q < S * Dim; ++q) samp[q] = kNaN;
      for (int q = 0; q < kept; ++q) trace[q] = kNaN;
      out.accept[c] = kNaN;
      out.status[c] = s;
    };
    const i64 a = in.offsets[c], n = in.offsets[c + 1] - a;
    const std::uint8_t* act = in.active + c * K;
    int n_act = 0;
    for (int k = 0; k < K; ++k) n_act += act[k] ? 1 : 0;
    if (n == 0 || n_act == 0) return fail(TOO_FEW_POINTS);
    // Recency weights 10^(i/n), normalised to sum n.
    double rs = 0.0;
    for (i64 i = 0; i < n; ++i) rs += (rw[i] = std::pow(10.0, static_cast<double>(i) / n));
    double sw = 0.0;
    for (i64 i = 0; i < n; ++i) sw += (rw[i] *= n / rs);
    prepare_features<Fam>(in.t + a, n, in.t_max[c], feat.data());
    const DomhanPosterior<Fam> post{in.y + a, rw.data(), feat.data(), n, sw, in.t_max[c], in.range_lo[c],
                                    in.range_hi[c], in.sigma_min[c], act};
    // Active coordinates: family params and weights of active families, and sigma.
    bool coord[Dim];
    int d_act = 1;
    coord[Dim - 1] = true;
    for (int k = 0; k < K; ++k) {
      const int o = Fam::offset(k);
      for (int j = 0; j < Fam::P[k]; ++j) coord[o + j] = act[k] != 0;
      coord[Fam::PSUM + k] = act[k] != 0;
      d_act += act[k] ? Fam::P[k] + 1 : 0;
    }
    const double* x0 = in.init + c * Dim;
    const double lp0 = post(x0);
    if (!std::isfinite(lp0)) return fail(INVALID_INPUT);
    // Initial walkers, each from its own Philox stream (seed, curve key, walker) in the high range so it never
    // collides with the per-step streams.
    const double* chol = in.init_chol && opt.init_spread > 0.0 ? in.init_chol + c * Fam::CHOL : nullptr;
    for (int wk = 0; wk < W; ++wk) {
      double* x = pos.data() + static_cast<size_t>(wk) * Dim;
      Philox rng(opt.seed, curve_key(in.keys, c), (std::uint64_t(1) << 47) + wk);
      bool ok = false;
      // Posterior-scale start: families from their covariances (each redrawn at a smaller spread until it is
      // inside the support), flat-Dirichlet weights with the start's total, log-normal sigma.
      for (int tr = 0; chol && tr < 16 && !ok; ++tr) {
        for (int j = 0; j < Dim; ++j) x[j] = x0[j];
        const double shrink = std::pow(0.7, tr);
        // sigma first; the families' spread follows it (their Laplace covariances scale with sigma^2).
        const double sg = std::min(1.0, std::max(post.sigma_min, x0[Dim - 1] * std::exp(opt.init_sigma * shrink * rng.normal())));
        x[Dim - 1] = sg;
        const double sscale = sg / x0[Dim - 1];
        Fam::for_each([&](auto kc, auto* tag) {
          using L = std::remove_pointer_t<decltype(tag)>;
          constexpr int k = decltype(kc)::value;
          constexpr int P = L::P;
          if (!act[k]) return;
          const double* Lk = chol + Fam::chol_offset(k);
          const double* p0 = x0 + Fam::offset(k);
          double* p = x + Fam::offset(k);
          double s = opt.init_spread * shrink * sscale, fk;
          bool fok = false;
          for (int q = 0; q < 24 && !fok; ++q, s *= 0.7) {
            double z[P];
            for (int j = 0; j < P; ++j) z[j] = rng.normal();
            for (int j = 0; j < P; ++j) {
              double v = 0.0;
              for (int m = 0; m <= j; ++m) v += Lk[j * P + m] * z[m];
              p[j] = p0[j] + s * v;
            }
            fok = post.template family_ok<k, L>(p, &fk);
          }
          if (!fok)
            for (int j = 0; j < P; ++j) p[j] = p0[j];
        });
        double w0 = 0.0, es = 0.0, e[K];
        for (int k = 0; k < K; ++k) {
          e[k] = act[k] ? -std::log(rng.uniform()) : 0.0;
          es += e[k];
          w0 += act[k] ? x0[Fam::PSUM + k] : 0.0;
        }
        const double mix = shrink;  // later tries move the weights towards the start's
        for (int k = 0; k < K; ++k)
          if (act[k]) x[Fam::PSUM + k] = (1.0 - mix) * x0[Fam::PSUM + k] + mix * w0 * e[k] / es;
        lp[wk] = post(x, &fts[wk]);
        ok = std::isfinite(lp[wk]);
      }
      // Relative ball around the start (no covariances, or no draw above was inside the support).
      double scale = opt.init_scale;
      for (int tr = 0; tr < 64 && !ok; ++tr, scale *= 0.7) {
        for (int j = 0; j < Dim; ++j)
          x[j] = coord[j] ? x0[j] + scale * (std::fabs(x0[j]) + 1e-3) * rng.normal() : x0[j];
        lp[wk] = post(x, &fts[wk]);
        ok = std::isfinite(lp[wk]);
      }
      if (!ok) {
        for (int j = 0; j < Dim; ++j) x[j] = x0[j];
        lp[wk] = post(x0, &fts[wk]);
      }
    }
    // Draws from the W * kept post-burn positions: draw q from the post-burn step (q + 1/2) kept / S, walker
    // q mod W, so the draws spread evenly over the steps and cycle through all walkers (evenly spaced
    // positions in (step, walker) order would keep returning to the same walker whenever the spacing is a
    // multiple of W).
    i64 next_q = 0;
    auto step_of = [&](i64 q) { return (2 * q + 1) * kept / (2 * S); };
    i64 n_acc = 0;
    const double g0 = 2.38 / std::sqrt(2.0 * d_act);
    for (int st = 0; st < opt.steps; ++st) {
      Philox rng(opt.seed, curve_key(in.keys, c), static_cast<std::uint64_t>(st));
      // Move of this step: stretch (Goodman & Weare), or differential evolution (ter Braak 2006, emcee's
      // DEMove: x + gamma (x_j1 - x_j2), gamma = 2.38 / sqrt(2 d) with a 1e-5 relative jitter; symmetric).
      const bool de = opt.de_frac > 0.0 && rng.uniform() < opt.de_frac;
      for (int h = 0; h < 2; ++h) {
        const int b0 = h == 0 ? 0 : half, b1 = h == 0 ? half : W;  // walkers moved
        const int c0 = h == 0 ? half : 0, nc = h == 0 ? W - half : half;  // complementary set
        for (int wk = b0; wk < b1; ++wk) {
          const double* xk = pos.data() + static_cast<size_t>(wk) * Dim;
          double logj = 0.0;
          if (!de) {
            const double u = rng.uniform();
            const double z = ((opt.a - 1.0) * u + 1.0) * ((opt.a - 1.0) * u + 1.0) / opt.a;
            const int j = c0 + static_cast<int>(rng.below(nc));
            const double* xj = pos.data() + static_cast<size_t>(j) * Dim;
            for (int q = 0; q < Dim; ++q) prop[q] = xj[q] + z * (xk[q] - xj[q]);
            logj = (d_act - 1) * std::log(z);
          } else {
            const int j1 = c0 + static_cast<int>(rng.below(nc));
            int j2 = c0 + static_cast<int>(rng.below(nc - 1));
            if (j2 >= j1) ++j2;
            const double g = g0 * (1.0 + 1e-5 * rng.normal());
            const double* x1 = pos.data() + static_cast<size_t>(j1) * Dim;
            const double* x2 = pos.data() + static_cast<size_t>(j2) * Dim;
            for (int q = 0; q < Dim; ++q) prop[q] = xk[q] + g * (x1[q] - x2[q]);
          }
          // Accept when log(ua) < logj + lpn - lp[wk], i.e. lpn > thr: the posterior may stop early below thr.
          const double ua = rng.uniform();
          const double thr = std::log(ua) + lp[wk] - logj;
          double ft;
          const double lpn = post(prop.data(), &ft, thr);
          if (std::isfinite(lpn) && lpn > thr) {
            std::copy(prop.begin(), prop.end(), pos.begin() + static_cast<size_t>(wk) * Dim);
            lp[wk] = lpn;
            fts[wk] = ft;
            if (st >= opt.burn) ++n_acc;
          }
        }
      }
      if (st >= opt.burn) {
        double m = 0.0;
        for (int wk = 0; wk < W; ++wk) m += fts[wk];
        trace[st - opt.burn] = m / W;
        while (next_q < S && step_of(next_q) <= st - opt.burn) {
          const int wk = static_cast<int>(next_q % W);
          std::copy(pos.begin() + static_cast<size_t>(wk) * Dim, pos.begin() + static_cast<size_t>(wk + 1) * Dim,
                    samp + next_q * Dim);
          ++next_q;
        }
      }
    }
    out.accept[c] = kept > 0 ? static_cast<double>(n_acc) / (static_cast<double>(kept) * W) : kNaN;
    out.status[c] = CONVERGED;
  });
}

// Ensemble value (no noise) of every sample of every curve at steps t[C, T]: out[C, S, T].
template <class Fam>
void ensemble_eval(const double* samples /* [C, S, Dim] */, i64 C, i64 S, const std::uint8_t* active /* [C, K] */,
                   const double* t /* [C, T] */, i64 T, double* out, int threads) {
  constexpr int K = Fam::K;
  constexpr int Dim = DomhanPosterior<Fam>::Dim;
  parallel_for(C * S, threads, [&](i64 cs) {
    const i64 c = cs / S;
    const double* th = samples + cs * Dim;
    const std::uint8_t* act = active + c * K;
    for (i64 q = 0; q < T; ++q) out[cs * T + q] = ensemble_mean<Fam>(th, act, t[c * T + q]);
  });
}

}  // namespace lawfit::sample
