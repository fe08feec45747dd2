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
// Philox(seed, curve, step), so the chain is identical for any thread count. Scratch is per worker thread.
#pragma once
#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/common.hpp"

namespace lawfit::sample {

// A compile-time list of one-input laws (core/laws) that make up an ensemble. for_each visits the families
// with their index and type at compile time, so every family's eval inlines into the posterior (no indirect
// calls; the compiler can share ln t between families).
template <class... F>
struct FamilyList {
  static constexpr int K = sizeof...(F);
  static constexpr int P[K] = {F::P...};
  static constexpr int PMAX = std::max({F::P...});
  static constexpr int PSUM = (F::P + ...);
  // Offset of family k's parameters in the packed vector.
  LAWFIT_HD static constexpr int offset(int k) {
    int o = 0;
    for (int i = 0; i < k; ++i) o += P[i];
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
};

struct McmcOptions {
  int walkers = 100;
  int steps = 600;
  int burn = 300;
  i64 samples = 1000;
  double a = 2.0;          // stretch scale
  double init_scale = 1e-3;  // relative size of the initial ball
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

template <class Fam>
struct DomhanPosterior {
  static constexpr int K = Fam::K;
  static constexpr int Dim = Fam::PSUM + K + 1;
  const double* t;
  const double* y;
  const double* rw;
  i64 n;
  double t_max, lo, hi, sigma_min;
  const std::uint8_t* active;

  // Log posterior (up to a constant) at theta[Dim]; -inf outside the prior's support.
  LAWFIT_HD double operator()(const double* th) const {
    const double* w = th + Fam::PSUM;
    const double sigma = th[Dim - 1];
    if (!(sigma >= sigma_min && sigma <= 1.0)) return -kInf;
    double fT = 0.0;
    bool ok = true;
    Fam::for_each([&](auto kc, auto* tag) {
      using L = std::remove_pointer_t<decltype(tag)>;
      constexpr int k = decltype(kc)::value;
      if (!ok || !active[k]) return;
      const double* p = th + Fam::offset(k);
      if (!(w[k] >= 0.0) || !Fam::template in_bounds<L>(p)) {
        ok = false;
        return;
      }
      const double t2 = 2.0;
      const double f2 = L::eval(&t2, p, nullptr), fk = L::eval(&t_max, p, nullptr);
      if (!(f2 <= fk) || !(fk >= lo && fk <= hi)) {
        ok = false;
        return;
      }
      fT += w[k] * fk;
    });
    if (!ok || !(fT >= lo && fT <= hi)) return -kInf;
    double ss = 0.0, sw = 0.0;
    for (i64 i = 0; i < n; ++i) {
      const double mu = mean(th, t[i]);
      const double r = y[i] - mu;
      ss += rw[i] * r * r;
      sw += rw[i];
    }
    const double lp = -0.5 * ss / (sigma * sigma) - sw * std::log(sigma);
    return std::isfinite(lp) ? lp : -kInf;
  }
  // Ensemble value at t (no noise).
  LAWFIT_HD double mean(const double* th, double tt) const { return ensemble_mean<Fam>(th, active, tt); }
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
    thread_local std::vector<double> pos, lp, rw, prop;
    pos.resize(static_cast<size_t>(W) * Dim);
    lp.resize(W);
    rw.resize(std::max<i64>(nmax, 1));
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
    for (i64 i = 0; i < n; ++i) rw[i] *= n / rs;
    const DomhanPosterior<Fam> post{in.t + a, in.y + a, rw.data(), n, in.t_max[c], in.range_lo[c],
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
    // Initial ball: every walker from its own Philox stream (seed, curve, walker) in the high range so it
    // never collides with the per-step streams.
    for (int wk = 0; wk < W; ++wk) {
      double* x = pos.data() + static_cast<size_t>(wk) * Dim;
      Philox rng(opt.seed, static_cast<std::uint64_t>(c), (std::uint64_t(1) << 47) + wk);
      double scale = opt.init_scale;
      bool ok = false;
      for (int tr = 0; tr < 64 && !ok; ++tr, scale *= 0.7) {
        for (int j = 0; j < Dim; ++j)
          x[j] = coord[j] ? x0[j] + scale * (std::fabs(x0[j]) + 1e-3) * rng.normal() : x0[j];
        lp[wk] = post(x);
        ok = std::isfinite(lp[wk]);
      }
      if (!ok) {
        for (int j = 0; j < Dim; ++j) x[j] = x0[j];
        lp[wk] = lp0;
      }
    }
    // Evenly spaced draws from the W * kept post-burn positions.
    const i64 total = static_cast<i64>(W) * kept;
    i64 next_q = 0;
    auto target = [&](i64 q) { return (q * total + total / 2) / S; };
    i64 n_acc = 0;
    for (int st = 0; st < opt.steps; ++st) {
      Philox rng(opt.seed, static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(st));
      // Move of this step: stretch (Goodman & Weare), or differential evolution (ter Braak 2006, emcee's
      // DEMove: x + gamma (x_j1 - x_j2), gamma = 2.38 / sqrt(2 d) with a 1e-5 relative jitter; symmetric).
      const bool de = opt.de_frac > 0.0 && rng.uniform() < opt.de_frac;
      const double g0 = 2.38 / std::sqrt(2.0 * d_act);
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
          const double ua = rng.uniform();
          const double lpn = post(prop.data());
          const double logr = logj + lpn - lp[wk];
          if (std::isfinite(lpn) && std::log(ua) < logr) {
            std::copy(prop.begin(), prop.end(), pos.begin() + static_cast<size_t>(wk) * Dim);
            lp[wk] = lpn;
            if (st >= opt.burn) ++n_acc;
          }
        }
      }
      if (st >= opt.burn) {
        const i64 base = static_cast<i64>(st - opt.burn) * W;
        double m = 0.0;
        for (int wk = 0; wk < W; ++wk) m += post.mean(pos.data() + static_cast<size_t>(wk) * Dim, post.t_max);
        trace[st - opt.burn] = m / W;
        while (next_q < S && target(next_q) < base + W) {
          const int wk = static_cast<int>(target(next_q) - base);
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
