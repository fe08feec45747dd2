// Joint fit with parameters shared across curves (e.g. one exponent for several seeds of a run).
//
// Unknowns: the shared parameters theta_s (Ps of them) and per-curve local parameters theta_b (Pl each).
// The Gauss-Newton matrix is an arrowhead: a dense shared block, a block-diagonal local part and coupling
// blocks. Each LM step eliminates the local blocks (Schur complement onto the shared block), so a step costs
// O(B * (Pl^3 + Pl^2 Ps) + Ps^3) and memory O(B * Pl * Ps): many curves stay cheap. Per-curve blocks are
// accumulated in parallel and summed in curve order, so the result does not depend on the thread count.
// Bounds: projection with the same active-set rule as lm.hpp. Robust losses as in lm.hpp.
#pragma once
#include <vector>

#include "core/fit/batch.hpp"

namespace lawfit::fit {

// A model whose `linear` flags are masked (shared parameters are never solved per curve).
template <class Model>
struct MaskedLinear {
  static constexpr int PMAX = Model::PMAX;
  const Model& m;
  const bool* shared;
  int n_params() const { return m.n_params(); }
  int n_inputs() const { return m.n_inputs(); }
  bool domain(const double* x) const { return m.domain(x); }
  double eval(const double* x, const double* p, double* g) const { return m.eval(x, p, g); }
  bool is_linear(int j) const { return m.is_linear(j) && !shared[j]; }
  Scale scale(int j) const { return m.scale(j); }
};

struct SharedOutput {
  double* params;  // [B, P]
  double* cost;    // [B] each curve's share of the joint cost
  double* cov;     // [B, P, P] marginal covariance of (shared + local) params per curve, or null
  std::int32_t* iters;
  std::int32_t* status;
  std::int64_t* best_start;
  std::int64_t* n_points;
};

template <class Model>
class SharedFit {
 public:
  static constexpr int PMAX = Model::PMAX;
  SharedFit(const Model& m, const BatchInput& in, const bool* shared, const Options& o, int threads)
      : m_(m), in_(in), o_(o), threads_(threads) {
    np_ = m.n_params();
    for (int j = 0; j < np_; ++j) {
      shared_[j] = shared[j];
      if (shared[j]) sidx_[ns_++] = j;
      else lidx_[nl_++] = j;
    }
  }

  Curve curve(i64 b) const {
    const i64 a = in_.offsets[b];
    return Curve{in_.x + a * in_.d, in_.y + a, in_.w ? in_.w + a : nullptr, in_.offsets[b + 1] - a, in_.d};
  }

  // Per-curve normal-equation pieces at full internal parameter vectors th[b*np..].
  struct Block {
    double hll[PMAX * PMAX];  // local x local
    double hls[PMAX * PMAX];  // local x shared (row: local, col: shared)
    double hss[PMAX * PMAX];  // shared x shared contribution
    double gl[PMAX], gs[PMAX];
    double cost;
    bool ok;
  };

  void accumulate_all(const std::vector<double>& th, std::vector<Block>& blk) const {
    parallel_for(static_cast<i64>(active_.size()), threads_, [&](i64 k) {
      const i64 b = active_[k];
      double p[PMAX];
      for (int j = 0; j < np_; ++j) p[j] = (m_.scale(j) == LOG) ? std::exp(th[b * np_ + j]) : th[b * np_ + j];
      Normal<PMAX> ne;
      Block& B = blk[k];
      B.ok = accumulate(m_, curve(b), p, o_, ne);
      B.cost = B.ok ? ne.cost : kInf;
      if (!B.ok) return;
      for (int a = 0; a < nl_; ++a) {
        B.gl[a] = ne.g[lidx_[a]];
        for (int c = 0; c < nl_; ++c) B.hll[a * PMAX + c] = ne.a[lidx_[a] * PMAX + lidx_[c]];
        for (int c = 0; c < ns_; ++c) B.hls[a * PMAX + c] = ne.a[lidx_[a] * PMAX + sidx_[c]];
      }
      for (int a = 0; a < ns_; ++a) {
        B.gs[a] = ne.g[sidx_[a]];
        for (int c = 0; c < ns_; ++c) B.hss[a * PMAX + c] = ne.a[sidx_[a] * PMAX + sidx_[c]];
      }
    });
  }

  // Run joint LM from the internal start th (all curves), within internal bounds lo/hi [B*np].
  // Returns status; th updated in place; cost and per-curve costs written.
  Status solve(std::vector<double>& th, const std::vector<double>& lo, const std::vector<double>& hi, int* iters,
               double* total_cost) {
    const i64 K = static_cast<i64>(active_.size());
    std::vector<Block> blk(K), tblk(K);
    accumulate_all(th, blk);
    double cost = 0.0;
    for (i64 k = 0; k < K; ++k) cost += blk[k].cost;
    *iters = 0;
    if (!std::isfinite(cost)) {
      *total_cost = kInf;
      return NON_FINITE;
    }
    std::vector<double> dl(K * PMAX, 1e-300), thn(th.size()), hl(K * PMAX), w(K * PMAX * PMAX), v(K * PMAX);
    std::vector<char> fixedv(th.size());
    double ds[PMAX];
    for (int a = 0; a < ns_; ++a) ds[a] = 1e-300;
    double lambda = 1e-3, nu = 2.0;
    Status status = MAX_ITER;
    for (int it = 0; it < o_.max_iter; ++it) {
      *iters = it + 1;
      // Gradient, active set and scaling.
      double gs[PMAX] = {0.0}, hss[PMAX * PMAX] = {0.0};
      for (i64 k = 0; k < K; ++k)
        for (int a = 0; a < ns_; ++a) {
          gs[a] += blk[k].gs[a];
          for (int c = 0; c < ns_; ++c) hss[a * PMAX + c] += blk[k].hss[a * PMAX + c];
        }
      double gmax = 0.0;
      const i64 b0 = active_.empty() ? 0 : active_[0];
      bool sfix[PMAX];
      for (int a = 0; a < ns_; ++a) {
        const i64 q = b0 * np_ + sidx_[a];
        sfix[a] = (th[q] <= lo[q] && gs[a] > 0.0) || (th[q] >= hi[q] && gs[a] < 0.0);
        if (!sfix[a]) gmax = std::fmax(gmax, std::fabs(gs[a]));
        ds[a] = std::fmax(ds[a], hss[a * PMAX + a]);
      }
      for (i64 k = 0; k < K; ++k) {
        const i64 b = active_[k];
        for (int a = 0; a < nl_; ++a) {
          const i64 q = b * np_ + lidx_[a];
          const double g = blk[k].gl[a];
          fixedv[q] = (th[q] <= lo[q] && g > 0.0) || (th[q] >= hi[q] && g < 0.0);
          if (!fixedv[q]) gmax = std::fmax(gmax, std::fabs(g));
          dl[k * PMAX + a] = std::fmax(dl[k * PMAX + a], blk[k].hll[a * PMAX + a]);
        }
      }
      if (gmax <= o_.gtol) {
        status = CONVERGED;
        break;
      }
      bool accepted = false, done = false;
      while (!accepted) {
        // Eliminate local blocks: W_k = H_kk^-1 H_ks, v_k = H_kk^-1 g_k.
        std::vector<char> bad(K, 0);
        parallel_for(K, threads_, [&](i64 k) {
          const i64 b = active_[k];
          double l[PMAX * PMAX];
          for (int a = 0; a < nl_; ++a) {
            const bool fa = fixedv[b * np_ + lidx_[a]];
            for (int c = 0; c < nl_; ++c) {
              const bool fc = fixedv[b * np_ + lidx_[c]];
              l[a * PMAX + c] = (fa || fc) ? 0.0 : blk[k].hll[a * PMAX + c];
            }
            l[a * PMAX + a] = fa ? 1.0 : blk[k].hll[a * PMAX + a] + lambda * dl[k * PMAX + a];
          }
          if (!cholesky(l, nl_, PMAX)) {
            bad[k] = 1;
            return;
          }
          double col[PMAX];
          for (int c = 0; c < ns_; ++c) {
            for (int a = 0; a < nl_; ++a)
              col[a] = (fixedv[b * np_ + lidx_[a]] || sfix[c]) ? 0.0 : blk[k].hls[a * PMAX + c];
            cholesky_solve(l, nl_, PMAX, col);
            for (int a = 0; a < nl_; ++a) w[(k * PMAX + a) * PMAX + c] = col[a];
          }
          for (int a = 0; a < nl_; ++a) col[a] = fixedv[b * np_ + lidx_[a]] ? 0.0 : blk[k].gl[a];
          cholesky_solve(l, nl_, PMAX, col);
          for (int a = 0; a < nl_; ++a) v[k * PMAX + a] = col[a];
        });
        bool anybad = false;
        for (i64 k = 0; k < K; ++k) anybad |= bad[k] != 0;
        double s[PMAX * PMAX], rhs[PMAX];
        if (!anybad) {
          for (int a = 0; a < ns_; ++a) {
            rhs[a] = sfix[a] ? 0.0 : -gs[a];
            for (int c = 0; c < ns_; ++c) s[a * PMAX + c] = (sfix[a] || sfix[c]) ? 0.0 : hss[a * PMAX + c];
            s[a * PMAX + a] = sfix[a] ? 1.0 : hss[a * PMAX + a] + lambda * ds[a];
          }
          for (i64 k = 0; k < K; ++k)  // fixed order: deterministic
            for (int a = 0; a < ns_; ++a) {
              if (sfix[a]) continue;
              for (int e = 0; e < nl_; ++e) {
                const double hsa = blk[k].hls[e * PMAX + a];
                rhs[a] += hsa * v[k * PMAX + e];
                for (int c = 0; c < ns_; ++c)
                  if (!sfix[c]) s[a * PMAX + c] -= hsa * w[(k * PMAX + e) * PMAX + c];
              }
            }
          anybad = !cholesky(s, ns_, PMAX);
        }
        if (anybad) {
          if (damping_raised(lambda, nu)) {
            status = (it == 0) ? SINGULAR : CONVERGED;
            done = true;
            break;
          }
          continue;
        }
        cholesky_solve(s, ns_, PMAX, rhs);  // rhs = h_s
        // Back-substitute h_k = -v_k - W_k h_s; project the new point into the box.
        double hn = 0.0, tn = 0.0, pred = 0.0;
        thn = th;
        for (int a = 0; a < ns_; ++a)
          for (i64 k = 0; k < K; ++k) {
            const i64 q = active_[k] * np_ + sidx_[a];
            thn[q] = std::min(std::max(th[q] + rhs[a], lo[q]), hi[q]);
          }
        double hs_proj[PMAX];
        for (int a = 0; a < ns_; ++a) {
          const i64 q = b0 * np_ + sidx_[a];
          hs_proj[a] = thn[q] - th[q];
          hn += hs_proj[a] * hs_proj[a];
          tn += th[q] * th[q];
        }
        for (i64 k = 0; k < K; ++k) {
          const i64 b = active_[k];
          for (int a = 0; a < nl_; ++a) {
            const i64 q = b * np_ + lidx_[a];
            double h = -v[k * PMAX + a];
            for (int c = 0; c < ns_; ++c) h -= w[(k * PMAX + a) * PMAX + c] * rhs[c];
            if (fixedv[q]) h = 0.0;
            thn[q] = std::min(std::max(th[q] + h, lo[q]), hi[q]);
            hl[k * PMAX + a] = thn[q] - th[q];
            hn += hl[k * PMAX + a] * hl[k * PMAX + a];
            tn += th[q] * th[q];
          }
          // Predicted reduction: -(g.h + h^T H h / 2), from this curve's blocks.
          const Block& B = blk[k];
          double part = 0.0;
          for (int a = 0; a < nl_; ++a) {
            double ah = 0.0;
            for (int c = 0; c < nl_; ++c) ah += B.hll[a * PMAX + c] * hl[k * PMAX + c];
            for (int c = 0; c < ns_; ++c) ah += 2.0 * B.hls[a * PMAX + c] * hs_proj[c];
            part += B.gl[a] * hl[k * PMAX + a] + 0.5 * hl[k * PMAX + a] * ah;
          }
          pred -= part;
        }
        for (int a = 0; a < ns_; ++a) {
          double ah = 0.0;
          for (int c = 0; c < ns_; ++c) ah += hss[a * PMAX + c] * hs_proj[c];
          pred -= gs[a] * hs_proj[a] + 0.5 * hs_proj[a] * ah;
        }
        if (std::sqrt(hn) <= o_.xtol * (o_.xtol + std::sqrt(tn))) {
          status = CONVERGED;
          done = true;
          break;
        }
        accumulate_all(thn, tblk);
        double cn = 0.0;
        for (i64 k = 0; k < K; ++k) cn += tblk[k].cost;
        const double actual = std::isfinite(cn) ? cost - cn : -kInf;
        if (actual > 0.0) {
          const double rho = pred > 0.0 ? actual / pred : 0.0;
          const double t = 2.0 * rho - 1.0;
          lambda = std::fmax(1e-15, lambda * std::fmax(1.0 / 3.0, 1.0 - t * t * t));
          nu = 2.0;
          const bool ftol_met = actual < o_.ftol * cost && rho > 0.25;
          th.swap(thn);
          blk.swap(tblk);
          cost = cn;
          accepted = true;
          if (ftol_met || cost == 0.0) {
            status = CONVERGED;
            done = true;
          }
        } else {
          if (damping_raised(lambda, nu)) {
            status = CONVERGED;
            done = true;
            break;
          }
        }
      }
      if (done) break;
    }
    *total_cost = cost;
    last_blocks_ = std::move(blk);
    return status;
  }

  // Marginal covariance per curve of its (shared + local) natural parameters from the arrowhead inverse.
  void covariances(const std::vector<double>& th, double* cov, const i64* n_points) {
    const i64 K = static_cast<i64>(active_.size());
    std::vector<Block>& blk = last_blocks_;
    i64 n_total = 0;
    double cost = 0.0;
    for (i64 k = 0; k < K; ++k) {
      n_total += n_points[active_[k]];
      cost += blk[k].cost;
    }
    const i64 dof = n_total - (ns_ + nl_ * K);
    if (dof <= 0) return;
    const double s2 = 2.0 * cost / static_cast<double>(dof);
    // Undamped Schur complement S and its inverse.
    std::vector<double> w(K * PMAX * PMAX);
    std::vector<char> bad(K, 0);
    std::vector<double> hinv(K * PMAX * PMAX);
    parallel_for(K, threads_, [&](i64 k) {
      double work[PMAX * PMAX];
      if (!spd_inverse<PMAX>(blk[k].hll, nl_, &hinv[k * PMAX * PMAX], work)) bad[k] = 1;
      for (int a = 0; a < nl_; ++a)
        for (int c = 0; c < ns_; ++c) {
          double acc = 0.0;
          for (int e = 0; e < nl_; ++e) acc += hinv[k * PMAX * PMAX + a * PMAX + e] * blk[k].hls[e * PMAX + c];
          w[(k * PMAX + a) * PMAX + c] = acc;
        }
    });
    for (i64 k = 0; k < K; ++k)
      if (bad[k]) return;
    double s[PMAX * PMAX] = {0.0}, sinv[PMAX * PMAX], work[PMAX * PMAX];
    for (i64 k = 0; k < K; ++k)
      for (int a = 0; a < ns_; ++a)
        for (int c = 0; c < ns_; ++c) {
          double acc = blk[k].hss[a * PMAX + c];
          for (int e = 0; e < nl_; ++e) acc -= blk[k].hls[e * PMAX + a] * w[(k * PMAX + e) * PMAX + c];
          s[a * PMAX + c] += acc;
        }
    if (!spd_inverse<PMAX>(s, ns_, sinv, work)) return;
    parallel_for(K, threads_, [&](i64 k) {
      const i64 b = active_[k];
      double full[PMAX * PMAX];  // internal-parameter covariance in law order
      for (int a = 0; a < ns_; ++a)
        for (int c = 0; c < ns_; ++c) full[sidx_[a] * PMAX + sidx_[c]] = sinv[a * PMAX + c];
      for (int a = 0; a < nl_; ++a) {
        for (int c = 0; c < ns_; ++c) {  // Cov_ls = -W S^-1
          double acc = 0.0;
          for (int e = 0; e < ns_; ++e) acc -= w[(k * PMAX + a) * PMAX + e] * sinv[e * PMAX + c];
          full[lidx_[a] * PMAX + sidx_[c]] = acc;
          full[sidx_[c] * PMAX + lidx_[a]] = acc;
        }
        for (int c = 0; c < nl_; ++c) {  // Cov_ll = H^-1 + W S^-1 W^T
          double acc = hinv[k * PMAX * PMAX + a * PMAX + c];
          for (int e = 0; e < ns_; ++e)
            for (int f = 0; f < ns_; ++f)
              acc += w[(k * PMAX + a) * PMAX + e] * sinv[e * PMAX + f] * w[(k * PMAX + c) * PMAX + f];
          full[lidx_[a] * PMAX + lidx_[c]] = acc;
        }
      }
      for (int a = 0; a < np_; ++a) {
        const double da = (m_.scale(a) == LOG) ? std::exp(th[b * np_ + a]) : 1.0;  // dp/dtheta
        for (int c = 0; c < np_; ++c) {
          const double dc = (m_.scale(c) == LOG) ? std::exp(th[b * np_ + c]) : 1.0;
          cov[b * np_ * np_ + a * np_ + c] = full[a * PMAX + c] * da * dc * s2;
        }
      }
    });
  }

  std::vector<i64> active_;

 private:
  const Model& m_;
  const BatchInput& in_;
  Options o_;
  int threads_;
  int np_ = 0, ns_ = 0, nl_ = 0;
  bool shared_[PMAX];
  int sidx_[PMAX], lidx_[PMAX];
  std::vector<Block> last_blocks_;
};

// Every curve's bounds [B * P] on the internal scale (log for LOG parameters).
template <class Model>
void internal_bounds(const Model& m, const BatchInput& in, std::vector<double>& lo, std::vector<double>& hi) {
  const int np = m.n_params();
  lo.assign(in.B * np, 0.0);
  hi.assign(in.B * np, 0.0);
  for (i64 b = 0; b < in.B; ++b) {
    const double* l = in.lower + (in.per_curve_bounds ? b * np : 0);
    const double* h = in.upper + (in.per_curve_bounds ? b * np : 0);
    for (int j = 0; j < np; ++j) {
      if (m.scale(j) == LOG) {
        lo[b * np + j] = l[j] > 0.0 ? std::log(l[j]) : -kInf;
        hi[b * np + j] = std::log(h[j]);
      } else {
        lo[b * np + j] = l[j];
        hi[b * np + j] = h[j];
      }
    }
  }
}

// Fit with shared parameters: starts [S, P] (joint starts; the best joint cost wins). Curves that fail
// validation are excluded from the joint fit and keep their own status.
template <class Model>
void fit_shared(const Model& m, const BatchInput& in, const bool* shared, const double* starts, i64 S,
                bool project_linear, const Options& o, const SharedOutput& out, int threads) {
  const int np = m.n_params();
  const i64 B = in.B;
  SharedFit<Model> sf(m, in, shared, o, threads);
  std::vector<std::int32_t> pre(B);
  parallel_for(B, threads, [&](i64 b) {
    Status s = validate_curve(m, in, b, o.space, out.n_points);
    if (s == TOO_FEW_POINTS && out.n_points[b] > 0)  // jointly, fewer points can suffice
      s = check_bounds(np, in.lower + (in.per_curve_bounds ? b * np : 0), in.upper + (in.per_curve_bounds ? b * np : 0));
    pre[b] = s;
  });
  for (i64 b = 0; b < B; ++b)
    if (pre[b] == CONVERGED) sf.active_.push_back(b);
  std::vector<double> lo, hi, best_th, th(B * np);
  internal_bounds(m, in, lo, hi);
  double best_cost = kInf;
  i64 best_s = -1;
  int best_iters = 0;
  Status best_status = NOT_RUN;
  MaskedLinear<Model> mm{m, shared};
  for (i64 s = 0; s < S && !sf.active_.empty(); ++s) {
    parallel_for(static_cast<i64>(sf.active_.size()), threads, [&](i64 k) {
      const i64 b = sf.active_[k];
      double p[Model::PMAX];
      const double* l = in.lower + (in.per_curve_bounds ? b * np : 0);
      const double* h = in.upper + (in.per_curve_bounds ? b * np : 0);
      for (int j = 0; j < np; ++j) p[j] = std::min(std::max(starts[s * np + j], l[j]), h[j]);
      if (project_linear) init_linear(mm, sf.curve(b), p, l, h);
      for (int j = 0; j < np; ++j) {
        double v = p[j];
        if (m.scale(j) == LOG && !(v > 0.0)) v = l[j] > 0.0 ? l[j] : 1e-12;
        th[b * np + j] = std::min(std::max((m.scale(j) == LOG) ? std::log(v) : v, lo[b * np + j]), hi[b * np + j]);
      }
    });
    int iters = 0;
    double cost = kInf;
    const Status st = sf.solve(th, lo, hi, &iters, &cost);
    if (std::isfinite(cost) && cost < best_cost) {
      best_cost = cost;
      best_th = th;
      best_s = s;
      best_iters = iters;
      best_status = st;
    }
  }
  for (i64 b = 0; b < B; ++b) {
    for (int j = 0; j < np; ++j) out.params[b * np + j] = kNaN;
    out.cost[b] = kNaN;
    out.iters[b] = 0;
    out.best_start[b] = -1;
    out.status[b] = pre[b] == CONVERGED ? (best_s < 0 ? NON_FINITE : best_status) : pre[b];
    if (out.cov)
      for (int q = 0; q < np * np; ++q) out.cov[b * np * np + q] = kNaN;
  }
  if (best_s < 0) return;
  for (i64 b : sf.active_) {
    double p[Model::PMAX];
    for (int j = 0; j < np; ++j) {
      p[j] = (m.scale(j) == LOG) ? std::exp(best_th[b * np + j]) : best_th[b * np + j];
      out.params[b * np + j] = p[j];
    }
    out.cost[b] = cost_at(m, sf.curve(b), p, o);
    out.iters[b] = best_iters;
    out.best_start[b] = best_s;
  }
  if (out.cov) {
    // Blocks at the best point (max_iter = 0: solve() only accumulates), then the marginal covariances.
    Options at_best = o;
    at_best.max_iter = 0;
    SharedFit<Model> z(m, in, shared, at_best, threads);
    z.active_ = sf.active_;
    std::vector<double> th0 = best_th;
    int it = 0;
    double c = 0.0;
    z.solve(th0, lo, hi, &it, &c);
    z.covariances(best_th, out.cov, out.n_points);
  }
}

}  // namespace lawfit::fit
