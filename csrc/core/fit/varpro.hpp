// Variable projection (Golub & Pereyra 1973, with Kaufman's 1975 Jacobian) for models with linear parameters, and
// lm_solve(), the one entry point of the per-curve solver: VarPro where it applies, plain LM (core/fit/lm.hpp)
// otherwise.
//
// A law f = f0(theta) + sum_j c_j phi_j(theta) (the linear[] flags, core/laws/law.hpp) fitted by l2 in linear
// space has, for fixed nonlinear parameters theta, a cost that is an exact quadratic in the linear ones c. VarPro
// minimises the projected cost C*(theta) = min_c C(c, theta): every step solves c exactly (within its bounds) and
// LM iterates on theta only. The projected cost has no plateaus in the linear parameters (e.g. a LOG amplitude
// sliding towards zero while the exponent is far off), so poor starts need fewer iterations, and the default
// start grids need axes on the exponents only.
//
// One model evaluation per trial step: at (c, theta_trial), c the exact solution at the last accepted theta, the
// normal equations (linear parameters in natural units) give the exact step to the new c (the cost is quadratic
// in c: C(c + dc) = C + g_L.dc + dc^T A_LL dc / 2) and, by eliminating the free linear parameters (Schur
// complement), the reduced Gauss-Newton system for theta:
//     S = A_NN - A_NF A_FF^-1 A_FN,   g* = g_N + A_NL dc   (Kaufman's J^T J and J^T r to first order in dc).
// Linear parameters are kept in their bounds by an active set (Lawson-Hanson: step to the first bound met, hold
// it, re-solve; release a held one whose gradient points inside). theta is damped (Nielsen's update, More's
// scaling) and projected into its box as in lm_full, with the same exits.
//
// VarPro ends at the projected optimum; lm_solve then runs lm_full from there (its gradient test usually holds at
// once, without an evaluation where VarPro's last projection was exact and trusted), so the result, its status, its
// objective and the normal equations behind the covariance are those of the full problem (where lm_full took no step:
// the exact projection's, equal to an evaluation there up to rounding), and both paths agree to the solver's
// tolerance. (Returning VarPro's point directly was tried: in laws with several amplitudes VarPro can stop where
// lm_full still moves, and the predicted cost can be off by rounding in a near-singular block.)
// Rules as lm.hpp: no allocation; usable on the GPU.
#pragma once
#include <utility>

#include "core/fit/lm.hpp"
#include "core/laws/law.hpp"

namespace lawfit::fit {

// The linear parameter whose term the nonlinear parameter j sits in (Law::amplitude, core/laws/law.hpp), or -1
// (also for models without the table: formulas, joint fits).
template <class Model, class = void>
struct HasAmplitudeFn : std::false_type {};
template <class Model>
struct HasAmplitudeFn<Model, std::void_t<decltype(std::declval<const Model&>().amplitude(0))>> : std::true_type {};
template <class Model>
LAWFIT_HD inline int amplitude_of(const Model& m, int j) {
  if constexpr (HasAmplitudeFn<Model>::value) {
    const int a = m.amplitude(j);
    return (a >= 0 && m.is_linear(a) && !m.is_linear(j)) ? a : -1;
  } else {
    return -1;
  }
}

// Does VarPro apply: l2 in linear space, enabled, and the model has a linear parameter.
template <class Model>
LAWFIT_HD inline bool varpro_applies(const Model& m, const Options& o) {
  if (!o.varpro || o.loss != L2 || o.space != SPACE_LINEAR) return false;
  for (int j = 0; j < m.n_params(); ++j)
    if (m.is_linear(j)) return true;
  return false;
}

// The parameters as VarPro splits them: nl() linear ones, indices lin(k), and nn() nonlinear ones, indices nonlin(u),
// each in parameter order. Every function below takes the split as a type (Layout):
//   RuntimeSplit  counts and indices read from the model at run time (bytecode formulas, a joint fit's masked model);
//   FixedSplit    a built-in law's or a compiled formula's (its linear[] flags are compile-time constants): the counts
//                 and indices are constants, so VarPro's loops over them unroll with every index folded into the
//                 matrices' offsets (power_law: 2 linear, 1 nonlinear). Measured (interleaved A/B, 3x10^5 power_law
//                 curves, 2 threads): near-truth starts 7-11%, the common start 4-19%, the default grid 13-14% faster.
//                 The same operations as RuntimeSplit; the compiler fuses multiply-adds differently once the indices
//                 are constants, so results agree up to rounding.
// split_of(m) gives the model's.
template <int PMAX>
struct RuntimeSplit {
  int lin_[PMAX] = {}, nonlin_[PMAX] = {}, nl_ = 0, nn_ = 0;
  template <class Model>
  LAWFIT_HD explicit RuntimeSplit(const Model& m) {
    for (int j = 0; j < m.n_params(); ++j) {
      if (m.is_linear(j)) lin_[nl_++] = j;
      else nonlin_[nn_++] = j;
    }
  }
  LAWFIT_HD int nl() const { return nl_; }
  LAWFIT_HD int nn() const { return nn_; }
  LAWFIT_HD int lin(int k) const { return lin_[k]; }
  LAWFIT_HD int nonlin(int u) const { return nonlin_[u]; }
};
template <class Law>
struct SplitTables {  // (a local constexpr copy of these is readable in device code, as ParamTables)
  int lin[Law::P], nonlin[Law::P], nl, nn;
  constexpr SplitTables() : lin{}, nonlin{}, nl(0), nn(0) {
    for (int j = 0; j < Law::P; ++j) {
      if (Law::linear[j]) lin[nl++] = j;
      else nonlin[nn++] = j;
    }
  }
};
template <class Law>
struct FixedSplit {
  static constexpr int kNL = SplitTables<Law>{}.nl, kNN = SplitTables<Law>{}.nn;
  LAWFIT_HD static constexpr int nl() { return kNL; }
  LAWFIT_HD static constexpr int nn() { return kNN; }
  LAWFIT_HD int lin(int k) const {
    constexpr SplitTables<Law> t{};
    return t.lin[k];
  }
  LAWFIT_HD int nonlin(int u) const {
    constexpr SplitTables<Law> t{};
    return t.nonlin[u];
  }
};
// Does the model split as its law_type's table says: a StaticModel or PreparedModel of that law, or a type derived
// from one that keeps its flags (a compiled formula's block-evaluating model, kernels/jit_main.inc).
template <class Model, class = void>
struct SplitsAsLaw : std::false_type {};
template <class Model>
struct SplitsAsLaw<Model, std::void_t<typename Model::law_type>>
    : std::integral_constant<bool, std::is_base_of<laws::StaticModel<typename Model::law_type>, Model>::value ||
                                       std::is_base_of<laws::PreparedModel<typename Model::law_type>, Model>::value> {};
template <class Model>
LAWFIT_HD inline auto split_of(const Model& m) {
  if constexpr (SplitsAsLaw<Model>::value) {
    (void)m;
    return FixedSplit<typename Model::law_type>{};
  } else {
    return RuntimeSplit<Model::PMAX>(m);
  }
}

// Factor the symmetric n x n system a[idx[u], idx[v]] (+ a tiny Levenberg term where needed: the smallest of 0,
// 1e-12, 1e-9, 1e-6 x its diagonal that it factors with) into l (leading dimension PMAX). false if none does.
// *regularized: whether it needed the Levenberg term (a near-singular block).
template <int PMAX, int N>
LAWFIT_HD LAWFIT_INLINE bool factor_sub_n(const double* a, const int* idx, int n_rt, double* l,
                                          bool* regularized) {
  const int n = N > 0 ? N : (n_rt < PMAX ? n_rt : PMAX);  // (n <= PMAX always: said so for the compiler)
  for (double reg = 0.0; reg < 1e-5; reg = reg == 0.0 ? 1e-12 : reg * 1e3) {
    for (int u = 0; u < n; ++u) {
      for (int v = 0; v < n; ++v) l[u * PMAX + v] = a[idx[u] * PMAX + idx[v]];
      l[u * PMAX + u] = l[u * PMAX + u] * (1.0 + reg) + 1e-300;
    }
    if (ldlt_n<N>(l, n, PMAX)) {
      *regularized |= reg > 0.0;
      return true;
    }
  }
  return false;
}
template <int PMAX>
LAWFIT_HD LAWFIT_INLINE bool factor_sub(const double* a, const int* idx, int n, double* l, bool* regularized) {
  return by_size<PMAX>(
      n, [&](auto N) LAWFIT_INLINE_LAMBDA { return factor_sub_n<PMAX, N()>(a, idx, n, l, regularized); });
}

// The linear parameters' exact step. Given the normal equations (a, g) at a point whose linear parameters are c
// (natural units), find dc minimising the quadratic C + g_L.dc + dc^T A_LL dc / 2 with c + dc inside [lo, hi].
// L: the split (linear parameter k is L.lin(k)). Writes dc[j] (j a linear parameter; zero elsewhere), held[k] (at a
// bound, not eliminated), the factor lf of the free block (ordered as free[u], u < *nfree) and the cost change.
// Returns false if the free block is singular.
template <int PMAX, int NL, class Layout>
LAWFIT_HD LAWFIT_INLINE bool linear_step_n(const double* a, const double* g, const Layout& L, const double* c,
                                           const double* lo, const double* hi, double* dc, bool* held, int* free,
                                           int* nfree, double* lf, double* dcost, bool* regularized) {
  const int nl = NL > 0 ? NL : (L.nl() < PMAX ? L.nl() : PMAX);  // (nl <= PMAX always: said so for the compiler)
  for (int k = 0; k < nl; ++k) {
    const int j = L.lin(k);
    dc[j] = 0.0;
    held[k] = !(lo[j] < hi[j]);  // a fixed parameter never moves
  }
  bool fixed_only[PMAX];
  for (int k = 0; k < nl; ++k) fixed_only[k] = held[k];
  int nf = 0;
  bool factored = false;  // lf holds the factor of the current free set
  for (int pass = 0; pass < 2 * nl + 2; ++pass) {
    factored = false;
    // Solve the free block for the full step from c + dc: A_FF s = -(g_F + A_F. dc).
    nf = 0;
    for (int k = 0; k < nl; ++k)
      if (!held[k]) free[nf++] = L.lin(k);
    double s[PMAX];
    if (nf > 0) {
      if (!factor_sub<PMAX>(a, free, nf, lf, regularized)) return false;
      factored = true;
      for (int u = 0; u < nf; ++u) {
        double r = g[free[u]];
        for (int k = 0; k < nl; ++k) r += a[free[u] * PMAX + L.lin(k)] * dc[L.lin(k)];
        s[u] = -r;
      }
      ldlt_solve(lf, nf, PMAX, s);
    }
    // Step towards c + dc + s; stop at the first bound met and hold that parameter.
    double t = 1.0, bound = 0.0;
    int block = -1;
    for (int u = 0; u < nf; ++u) {
      const int j = free[u];
      const double v = c[j] + dc[j] + s[u];
      const double b = v < lo[j] ? lo[j] : (v > hi[j] ? hi[j] : v);
      if (b == v) continue;
      const double tj = (b - c[j] - dc[j]) / s[u];
      if (tj < t) t = tj, block = u, bound = b;
    }
    if (t < 0.0) t = 0.0;
    for (int u = 0; u < nf; ++u) dc[free[u]] += t * s[u];
    if (block >= 0) {
      const int j = free[block];
      dc[j] = bound - c[j];
      for (int k = 0; k < nl; ++k)
        if (L.lin(k) == j) held[k] = true;
      factored = false;
      continue;
    }
    // Optimal over the free set: release a held parameter whose gradient points into its box.
    int release = -1;
    for (int k = 0; k < nl && release < 0; ++k) {
      if (!held[k] || fixed_only[k]) continue;
      const int j = L.lin(k);
      double gr = g[j];
      for (int l = 0; l < nl; ++l) gr += a[j * PMAX + L.lin(l)] * dc[L.lin(l)];
      const double v = c[j] + dc[j];
      if ((v <= lo[j] && gr < 0.0) || (v >= hi[j] && gr > 0.0)) release = k;
    }
    if (release < 0) break;
    held[release] = false;
  }
  // The final free set's factor (for the Schur complement; already in lf unless the pass limit ended the loop),
  // and the exact cost change.
  if (!factored) {
    nf = 0;
    for (int k = 0; k < nl; ++k)
      if (!held[k]) free[nf++] = L.lin(k);
    if (nf > 0 && !factor_sub<PMAX>(a, free, nf, lf, regularized)) return false;
  }
  *nfree = nf;
  double d = 0.0;
  for (int k = 0; k < nl; ++k) {
    const int j = L.lin(k);
    double ad = 0.0;
    for (int l = 0; l < nl; ++l) ad += a[j * PMAX + L.lin(l)] * dc[L.lin(l)];
    d += dc[j] * (g[j] + 0.5 * ad);
  }
  *dcost = d < 0.0 ? d : 0.0;  // (rounding can make an exact zero step look like a rise)
  return true;
}
template <int PMAX, class Layout>
LAWFIT_HD LAWFIT_INLINE bool linear_step(const double* a, const double* g, const Layout& L, const double* c,
                                         const double* lo, const double* hi, double* dc, bool* held, int* free,
                                         int* nfree, double* lf, double* dcost, bool* regularized) {
  // (sizes 1-3: a linear block of 4 or more amplitudes is rare; a FixedSplit's size is a constant: one case)
  return by_size<PMAX < 3 ? PMAX : 3>(L.nl(), [&](auto N) LAWFIT_INLINE_LAMBDA {
    return linear_step_n<PMAX, N()>(a, g, L, c, lo, hi, dc, held, free, nfree, lf, dcost, regularized);
  });
}

// State of VarPro at one evaluated point: the normal equations ne there (linear parameters in natural units),
// the exact linear step dc, the projected cost, and the reduced system (S, g*) over the nonlinear parameters.
template <int PMAX>
struct Projected {
  Normal<PMAX> ne;
  double dc[PMAX];
  double cost;      // projected cost C* = ne.cost + the linear step's change
  double s[PMAX * PMAX];  // reduced J^T J over the nonlinear parameters (the split's nonlin(), leading dim PMAX)
  double g[PMAX];         // reduced gradient
  bool degenerate;        // a LOG-scaled linear parameter is zero (see project)
  double evaluated;       // the cost evaluated at p (before the linear step)
  bool exact;             // ne, s and g hold at the projected point p + dc exactly (see project); else ne is the
                          // evaluated point's and s, g Kaufman's first-order approximation
  // Where exact, project() leaves ne as evaluated and finish_exact() moves it to the projected point (its columns
  // scaled by sc, the gradient updated): VarPro's iterations read only s, g, cost and ne's diagonal (diag()), so
  // only the point VarPro ends at needs the rest. pending: not yet moved.
  bool pending;
  double sc[PMAX];  // column factor per parameter (1 for the linear ones)
  // ne.a's diagonal entry j at the projected point (as finish_exact computes it)
  LAWFIT_HD double diag(int j) const {
    return pending ? ne.a[j * PMAX + j] * (sc[j] * sc[j]) : ne.a[j * PMAX + j];
  }
};

// ne at the projected point of an exact projection (see Projected::pending): the gradient there, g + A dc for the
// linear parameters and the reduced gradient (already scaled) for the nonlinear ones, and J^T J's columns scaled.
template <int PMAX, class Layout>
LAWFIT_HD void finish_exact(Projected<PMAX>& pr, int np, const Layout& L) {
  if (!pr.pending) return;
  const double* a = pr.ne.a;
  for (int k = 0; k < L.nl(); ++k) {
    const int j = L.lin(k);
    double gj = pr.ne.g[j];
    for (int l = 0; l < L.nl(); ++l) gj += a[j * PMAX + L.lin(l)] * pr.dc[L.lin(l)];
    pr.ne.g[j] = gj;
  }
  for (int u = 0; u < L.nn(); ++u) pr.ne.g[L.nonlin(u)] = pr.g[u];
  for (int j = 0; j < np; ++j)
    for (int k = 0; k < np; ++k) pr.ne.a[j * PMAX + k] *= pr.sc[j] * pr.sc[k];
  pr.ne.cost = pr.cost;
  pr.ne.rr = 2.0 * pr.cost;
  pr.pending = false;
}

// Evaluate at natural p and project: false if not finite or the linear block is singular. cost_only: the projected
// cost, dc and degenerate only (the normal equations' linear block alone, no reduced system; a start grid's ranking).
// L: the split (split_of(m)).
// project_sums: the same from the normal equations at p already in pr.ne (accumulate's, natural_linear; the
// vector-lane solver's, core/fit/lanes.hpp, computes them for several curves at once).
template <class Model, class Layout>
LAWFIT_HD bool project_sums(const Model& m, const double* p, const Layout& L, const double* lo, const double* hi,
                            Projected<Model::PMAX>& pr, bool cost_only = false);
template <class Model, class Layout>
LAWFIT_HD bool project(const Model& m, const Curve& c, const double* p, const Options& o, const Layout& L,
                       const double* lo, const double* hi, Projected<Model::PMAX>& pr, bool cost_only = false,
                       StartMemo<Model::PMAX>* memo = nullptr) {
  pr.degenerate = false;
  pr.exact = false;
  pr.pending = false;
  if (!accumulate(m, c, p, o, pr.ne, true, cost_only, memo)) return false;
  return project_sums(m, p, L, lo, hi, pr, cost_only);
}
template <class Model, class Layout>
LAWFIT_HD bool project_sums(const Model& m, const double* p, const Layout& L, const double* lo, const double* hi,
                            Projected<Model::PMAX>& pr, bool cost_only) {
  constexpr int PMAX = Model::PMAX;
  const int nl = L.nl(), nn = L.nn();
  pr.degenerate = false;
  pr.exact = false;
  pr.pending = false;
  pr.evaluated = pr.ne.cost;
  const double* a = pr.ne.a;
  bool held[PMAX];
  int free[PMAX], nf = 0;
  double lf[PMAX * PMAX], dcost = 0.0;
  bool regularized = false;
  if (!linear_step<PMAX>(a, pr.ne.g, L, p, lo, hi, pr.dc, held, free, &nf, lf, &dcost, &regularized))
    return false;
  pr.cost = pr.ne.cost + dcost;
  // A near-singular linear block (two amplitudes' columns almost collinear, e.g. an exponent at 0 turning a term
  // into a constant beside E) has no exact solution to trust: the predicted cost can be off by rounding, even
  // negative. Treated like a vanished amplitude (below): VarPro does not step there.
  pr.degenerate = regularized || !(pr.cost >= 0.0);
  // A LOG-scaled linear parameter (an amplitude, p > 0 by its scale) solved to zero: its term has vanished and
  // its exponents are undetermined, a plateau of the projected cost where every gradient is zero. VarPro does not
  // step there (see varpro_solve).
  for (int k = 0; k < nl; ++k)
    pr.degenerate |= m.scale(L.lin(k)) == LOG && !(p[L.lin(k)] + pr.dc[L.lin(k)] > 0.0);
  if (cost_only) return std::isfinite(pr.cost);
  // Reduced system: g* = g_N + A_NL dc; S = A_NN - A_NF A_FF^-1 A_FN.
  for (int u = 0; u < nn; ++u) {
    const int j = L.nonlin(u);
    double gr = pr.ne.g[j];
    for (int k = 0; k < nl; ++k) gr += a[j * PMAX + L.lin(k)] * pr.dc[L.lin(k)];
    pr.g[u] = gr;
  }
  double z[PMAX][PMAX];  // z[v] = A_FF^-1 A_F,nonlin(v)
  for (int v = 0; v < nn; ++v) {
    for (int w = 0; w < nf; ++w) z[v][w] = a[free[w] * PMAX + L.nonlin(v)];
    if (nf > 0) ldlt_solve(lf, nf, PMAX, z[v]);
  }
  for (int u = 0; u < nn; ++u)
    for (int v = 0; v <= u; ++v) {
      double sv = a[L.nonlin(u) * PMAX + L.nonlin(v)];
      for (int w = 0; w < nf; ++w) sv -= a[L.nonlin(u) * PMAX + free[w]] * z[v][w];
      pr.s[u * PMAX + v] = pr.s[v * PMAX + u] = sv;
    }
  // Where every nonlinear parameter sits in one linear parameter's term (amplitude_of: its Jacobian column is that
  // amplitude times a function of theta and x), the columns at the projected point are the evaluated ones times
  // (c_a + dc_a) / c_a, and the residuals there are r + J_L dc (exact: linear in c). So the reduced system and the
  // full normal equations at p + dc follow without evaluating there: the reduced system is then Kaufman's at the
  // projected point instead of its first-order approximation from the last c (which converged only linearly while
  // the linear parameters still moved, and made a poor first step from a start whose linear parameters were far
  // off; see kReproject).
  double* sc = pr.sc;  // column factor per parameter: 1 for the linear ones
  bool exact = nn > 0;
  for (int j = 0; j < m.n_params(); ++j) sc[j] = 1.0;
  for (int u = 0; u < nn && exact; ++u) {
    const int amp = amplitude_of(m, L.nonlin(u));
    exact = amp >= 0 && p[amp] != 0.0;
    if (exact) sc[L.nonlin(u)] = (p[amp] + pr.dc[amp]) / p[amp];
    exact = exact && std::isfinite(sc[L.nonlin(u)]);  // (an amplitude of 1e-300 moving to O(1): keep Kaufman's system)
  }
  if (exact) {
    // The reduced system at p + dc: g* (above) and S scaled. The full normal equations there: finish_exact.
    for (int u = 0; u < nn; ++u) {
      pr.g[u] *= sc[L.nonlin(u)];
      for (int v = 0; v < nn; ++v) pr.s[u * PMAX + v] *= sc[L.nonlin(u)] * sc[L.nonlin(v)];
    }
    pr.exact = true;
    pr.pending = true;
  }
  return std::isfinite(pr.cost);
}

// VarPro from the natural start p0 (bounds natural). Returns the projected optimum (natural parameters, the linear
// ones solved), its cost, iterations and status; NON_FINITE or SINGULAR where it could not start.
// VarPro's start (the split itself: split_of): the box of each parameter (internal, i.e. log, for LOG nonlinear ones;
// natural for linear ones, a LOG linear parameter kept >= 0); th: the nonlinear ones' internal values; p: the natural
// start clamped into the box.
template <int PMAX>
struct Split {
  double lo[PMAX] = {}, hi[PMAX] = {}, th[PMAX] = {}, p[PMAX] = {};
};
template <class Model>
LAWFIT_HD void split_params(const Model& m, const double* p0, const double* lower, const double* upper,
                            Split<Model::PMAX>& sp) {
  for (int j = 0; j < m.n_params(); ++j) {
    double v = p0[j] < lower[j] ? lower[j] : p0[j];
    v = upper[j] < v ? upper[j] : v;
    if (m.is_linear(j)) {
      sp.lo[j] = (m.scale(j) == LOG && lower[j] < 0.0) ? 0.0 : lower[j];
      sp.hi[j] = upper[j];
      if (v < sp.lo[j]) v = sp.lo[j];
      sp.th[j] = v;
    } else {
      if (m.scale(j) == LOG) {
        sp.lo[j] = lower[j] > 0.0 ? std::log(lower[j]) : -kInf;
        sp.hi[j] = std::log(upper[j]);
        if (!(v > 0.0)) v = lower[j] > 0.0 ? lower[j] : 1e-12;
        sp.th[j] = std::log(v);
      } else {
        sp.lo[j] = lower[j];
        sp.hi[j] = upper[j];
        sp.th[j] = v;
      }
    }
    sp.p[j] = v;
  }
}

// Projected cost at the start p0 (VarPro's first step: one evaluation, the linear parameters solved), used to rank
// a start grid (StartSpec::scan, core/fit/batch.hpp); +inf where VarPro could not start there. settled (optional):
// p0 with its linear parameters solved, the start VarPro then takes (its first evaluation is exact there, see
// kReproject); p0 itself where the cost is +inf. memo: see StartMemo (core/fit/lm.hpp).
template <class Model>
LAWFIT_HD double projected_cost(const Model& m, const Curve& c, const double* p0, const double* lower,
                                const double* upper, const Options& o, double* settled = nullptr,
                                StartMemo<Model::PMAX>* memo = nullptr) {
  Split<Model::PMAX> sp;
  split_params(m, p0, lower, upper, sp);
  Projected<Model::PMAX> pr;
  if (settled)
    for (int j = 0; j < m.n_params(); ++j) settled[j] = p0[j];
  if (!project(m, c, sp.p, o, split_of(m), sp.lo, sp.hi, pr, true, memo) || pr.degenerate)
    return kInf;
  if (settled)
    for (int j = 0; j < m.n_params(); ++j) settled[j] = sp.p[j] + (m.is_linear(j) ? pr.dc[j] : 0.0);
  return pr.cost;
}

// VarPro from the natural start p0 (bounds natural). Returns the projected optimum (natural parameters, the linear
// ones solved), its cost, iterations and status; NON_FINITE or SINGULAR where it could not start.
// handover: also stop (CONVERGED) once VarPro has reached the quadratic regime of the full problem near its optimum:
// an accepted step that decreased the cost by less than kHandover of it, as its model predicted (rho within 0.25 of
// 1), after which the undamped reduced Gauss-Newton step promises a relative decrease of at most kHandoverGN;
// lm_full finishes from there (see lm_solve).
// p_eval, ne_eval (optional, both or neither): a point and the normal equations there, so that lm_full can continue
// from that point without evaluating it again (*end says which; linear parameters' columns in natural units):
//   END_EVALUATED  the point of VarPro's last evaluation (before its linear step);
//   END_EXACT      the result itself, its projection exact (Projected::exact) and its projected cost trusted: the
//                  linear step changed the evaluated cost by at most kTrust of it. (The projected cost is a prediction
//                  that rounding can make wrong where the linear block is near singular: measured, a predicted 0
//                  where the cost was 0.058, every lm_full step then rejected.);
//   END_NONE       neither (an exact projection whose cost is not trusted).
constexpr double kHandover = 1e-3, kHandoverGN = 1e-4, kReproject = 1e-2, kTrust = 1e-6;
enum VarProEnd { END_EVALUATED, END_EXACT, END_NONE };

// One VarPro run (varpro_solve's, described above) as a resumable state machine: the run asks for a projection at a point (wants(), point(), target()),
// its caller computes it (project(), or the vector lanes' sums with project_sums, core/fit/lanes.hpp) and hands the
// outcome back (take()), until the run is done (result()). varpro_solve below is the loop that drives one run with
// project(); the lane solver drives several runs, one per curve, evaluating their points together. The run is the
// same arithmetic in the same order whichever drives it.
template <class Model>
struct VarProRun {
  static constexpr int PMAX = Model::PMAX;
  using Layout = decltype(split_of(std::declval<const Model&>()));
  enum Phase { START, REPROJECT, TRIAL, DONE };

  const Model& m;
  const Options& o;
  Layout L;
  bool handover;
  int np, nl, nn;
  Split<PMAX> sp;
  // Two buffers, swapped on acceptance: *cp, the accepted point's projection; *tp, the trial's.
  Projected<PMAX> buf[2];
  Projected<PMAX>* cp = &buf[0];
  Projected<PMAX>* tp = &buf[1];
  double pe[PMAX];  // the point *cp was evaluated at (before its linear step)
  LMResult<PMAX> res;
  Status status = MAX_ITER;
  Phase phase = START;
  bool failed = false;  // could not start (res holds NON_FINITE or SINGULAR)
  int it = 0;
  double lambda = 1e-3, nu = 2.0, dscale[PMAX], pred = 0.0;
  bool fixed[PMAX];
  double thn[PMAX], pt[PMAX];  // the trial step's nonlinear parameters (internal) and point (natural)

  LAWFIT_HD VarProRun(const Model& model, const double* p0, const double* lower, const double* upper,
                      const Options& opt, bool hand)
      : m(model), o(opt), L(split_of(model)), handover(hand) {
    np = m.n_params();
    nl = L.nl();
    nn = L.nn();
    res.iters = 0;
    split_params(m, p0, lower, upper, sp);
  }
  LAWFIT_HD bool wants() const { return phase != DONE; }
  // The natural point to project next, and the projection it goes into.
  LAWFIT_HD const double* point() const { return phase == TRIAL ? pt : sp.p; }
  LAWFIT_HD Projected<PMAX>& target() { return phase == START ? *cp : *tp; }
  LAWFIT_HD const double* lo() const { return sp.lo; }
  LAWFIT_HD const double* hi() const { return sp.hi; }

  // The projected point: the linear parameters moved by their step (pe keeps the point pr was evaluated at).
  LAWFIT_HD void settle(const Projected<PMAX>& pr) {
    for (int j = 0; j < np; ++j) pe[j] = sp.p[j];
    for (int k = 0; k < nl; ++k) sp.p[L.lin(k)] += pr.dc[L.lin(k)];
  }
  LAWFIT_HD void swap() {
    Projected<PMAX>* was = cp;
    cp = tp;
    tp = was;
  }
  LAWFIT_HD bool held(int u) const {
    const int j = L.nonlin(u);
    return (sp.th[j] <= sp.lo[j] && cp->g[u] > 0.0) || (sp.th[j] >= sp.hi[j] && cp->g[u] < 0.0);
  }
  // The ftol/xtol exits' stationarity gate (as lm_full): the undamped reduced Gauss-Newton step must promise a
  // relative decrease of at most 100 ftol.
  // (With tol = kHandoverGN / 100 the same test is the hand-over's "near the optimum".)
  LAWFIT_HD bool stationary(double tol) const {
    bool fj[PMAX];
    for (int u = 0; u < nn; ++u) fj[u] = held(u);
    return gn_stationary<PMAX>(cp->s, cp->g, nn, fj, cp->cost, tol);
  }

  // The outcome of the projection asked for (ok: project's result, target() filled).
  LAWFIT_HD void take(bool ok) {
    if (phase == START) {
      if (!ok || cp->degenerate) {
        // (lm_solve then runs lm_full from the start instead)
        for (int j = 0; j < np; ++j) res.p[j] = sp.p[j];
        res.cost = kInf;
        res.status = cp->degenerate ? SINGULAR : NON_FINITE;
        failed = true;
        phase = DONE;
        return;
      }
      settle(*cp);
      // Kaufman's reduced system at a point is exact only where the linear parameters are already solved there (its
      // nonlinear Jacobian columns are those at the evaluated c, e.g. dA x^-alpha / dalpha scales with A). A start
      // whose linear parameters were far from their solution (a common start, a grid's A = 1) would make the first
      // step a poor one (measured: rho ~ 0.1, one wasted iteration, and then the damping to recover): where the
      // linear step moved a parameter by more than kReproject of its solved value, evaluate once more at the
      // projected point. (power_law from E=2, A=100, alpha=0.3: 8.3 -> 5.6 iterations, same optima.)
      // (Not needed where the projection is exact there, Projected::exact.)
      bool moved = false;
      for (int k = 0; k < nl; ++k)
        moved |= std::fabs(cp->dc[L.lin(k)]) > kReproject * std::fabs(sp.p[L.lin(k)]);
      if (moved && !cp->exact) {
        phase = REPROJECT;
        return;
      }
      return begin_iterations();
    }
    if (phase == REPROJECT) {
      if (ok && !tp->degenerate) {
        swap();
        settle(*cp);
      }
      return begin_iterations();
    }
    // TRIAL
    ok = ok && !tp->degenerate;
    const double actual = ok ? cp->cost - tp->cost : -kInf;
    if (ok && actual > 0.0) {
      const double rho = pred > 0.0 ? actual / pred : 0.0;
      damping_accepted(rho, lambda, nu);
      const bool ftol_met = actual < o.ftol * cp->cost && rho > 0.25;
      for (int u = 0; u < nn; ++u) sp.th[L.nonlin(u)] = thn[u];
      for (int j = 0; j < np; ++j) sp.p[j] = pt[j];
      const bool quadratic = handover && actual < kHandover * cp->cost && rho > 0.75 && rho < 1.25;
      swap();
      settle(*cp);
      // (the hand-over also needs the undamped reduced Gauss-Newton step from here to promise little: near the
      // optimum, not merely a well-modelled step along a valley far from it)
      if (cp->cost == 0.0 || (ftol_met && stationary(o.ftol)) || (quadratic && stationary(kHandoverGN / 100.0)))
        status = CONVERGED;
      ++it;
      return iteration();
    }
    if (ok && actual == 0.0 && pred <= o.ftol * cp->cost) {
      status = CONVERGED;
      phase = DONE;
      return;
    }
    if (damping_raised(lambda, nu)) status = CONVERGED;  // stationary to machine precision
    return trial();
  }

  LAWFIT_HD void begin_iterations() {
    if (nn == 0 || cp->cost == 0.0) status = CONVERGED;
    for (int u = 0; u < nn; ++u) dscale[u] = cp->s[u * PMAX + u] > 1e-300 ? cp->s[u * PMAX + u] : 1e-300;
    it = 0;
    iteration();
  }
  // Iteration `it` begins: MINPACK's gradient test over the free nonlinear parameters: |g*_u| / (||J_u|| ||r||), with
  // the full problem's column norms (at the projected point the linear parameters' gradient is zero).
  LAWFIT_HD void iteration() {
    if (!(status == MAX_ITER && it < o.max_iter)) {
      phase = DONE;
      return;
    }
    res.iters = it + 1;
    double cmax = 0.0;
    const double rr = 2.0 * cp->cost;
    for (int u = 0; u < nn; ++u) {
      const int j = L.nonlin(u);
      fixed[u] = held(u);
      const double cn = cp->diag(j) * rr;
      if (!fixed[u]) cmax = std::max(cmax, gradient_cosine(cp->g[u], cn));
      dscale[u] = std::max(dscale[u], cp->s[u * PMAX + u]);
    }
    if (cmax <= o.gtol) {
      status = CONVERGED;
      phase = DONE;
      return;
    }
    trial();
  }
  // The next damped trial step of this iteration (raising lambda where the damped system cannot be factored), or the
  // end of the run.
  LAWFIT_HD void trial() {
    while (status == MAX_ITER) {
      double h[PMAX];
      if (!damped_step<PMAX>(cp->s, cp->g, nn, fixed, lambda, dscale, h)) {
        if (damping_raised(lambda, nu)) status = CONVERGED;  // lm_full takes over from here
        continue;
      }
      double step[PMAX], hnorm = 0.0, tnorm = 0.0;
      for (int j = 0; j < np; ++j) pt[j] = sp.p[j];
      for (int u = 0; u < nn; ++u) {
        const int j = L.nonlin(u);
        double v = sp.th[j] + h[u];
        if (v < sp.lo[j]) v = sp.lo[j];
        if (v > sp.hi[j]) v = sp.hi[j];
        thn[u] = v;
        step[u] = v - sp.th[j];
        hnorm += step[u] * step[u];
        tnorm += sp.th[j] * sp.th[j];
        pt[j] = m.scale(j) == LOG ? std::exp(v) : v;
      }
      hnorm = std::sqrt(hnorm);
      tnorm = std::sqrt(tnorm);
      if (hnorm <= o.xtol * (o.xtol + tnorm) && stationary(o.ftol)) {
        status = CONVERGED;
        break;
      }
      pred = predicted_decrease<PMAX>(cp->s, cp->g, nn, step);
      phase = TRIAL;
      return;
    }
    phase = DONE;
  }

  // The run's result (see varpro_solve).
  LAWFIT_HD LMResult<PMAX> result(double* p_eval, Normal<PMAX>* ne_eval, VarProEnd* end) {
    if (failed) return res;
    for (int j = 0; j < np; ++j) res.p[j] = sp.p[j];
    res.cost = cp->cost;
    res.status = status;
    if (p_eval) {
      for (int j = 0; j < np; ++j) p_eval[j] = pe[j];
      finish_exact(*cp, np, L);
      *ne_eval = cp->ne;
      if (cp->exact)
        for (int j = 0; j < np; ++j) p_eval[j] = sp.p[j];
    }
    if (end)
      *end = !cp->exact ? END_EVALUATED
                        : (std::fabs(cp->cost - cp->evaluated) <= kTrust * cp->evaluated ? END_EXACT : END_NONE);
    return res;
  }
};

template <class Model>
LAWFIT_HD LMResult<Model::PMAX> varpro_solve(const Model& m, const Curve& c, const double* p0, const double* lower,
                                             const double* upper, const Options& o, bool handover = false,
                                             double* p_eval = nullptr, Normal<Model::PMAX>* ne_eval = nullptr,
                                             VarProEnd* end = nullptr, StartMemo<Model::PMAX>* memo = nullptr) {
  VarProRun<Model> run(m, p0, lower, upper, o, handover);
  // (the memo serves the first evaluation, at the start; core/fit/lm.hpp)
  run.take(project(m, c, run.point(), o, run.L, run.lo(), run.hi(), run.target(), false, memo));
  while (run.wants()) run.take(project(m, c, run.point(), o, run.L, run.lo(), run.hi(), run.target()));
  return run.result(p_eval, ne_eval, end);
}

// Would lm_full, started at natural p with the normal equations ne there (internal parameters), stop at its first
// gradient test (MINPACK's cosine, lm_full): p a valid start as it is, a nonzero cost, every free parameter's cosine
// at most gtol. Bounds compared in natural units (lm_full compares log p with log bounds: the same order).
template <class Model>
LAWFIT_HD bool exact_converged(const Model& m, const double* p, const double* lower, const double* upper,
                               const Options& o, const Normal<Model::PMAX>& ne) {
  constexpr int PMAX = Model::PMAX;
  if (!(ne.cost != 0.0)) return false;
  double cmax = 0.0;
  for (int j = 0; j < m.n_params(); ++j) {
    const double v = p[j];
    if ((m.scale(j) == LOG && !(v > 0.0)) || v < lower[j] || v > upper[j]) return false;
    const bool held = (v <= lower[j] && ne.g[j] > 0.0) || (v >= upper[j] && ne.g[j] < 0.0);
    const double cn = ne.a[j * PMAX + j] * ne.rr;
    if (!held) cmax = std::max(cmax, gradient_cosine(ne.g[j], cn));
  }
  return cmax <= o.gtol;
}

template <class Model>
LAWFIT_HD LMResult<Model::PMAX> lm_solve_rest(const Model& m, const Curve& c, const double* p0, const double* lower,
                                              const double* upper, const Options& o, const LMResult<Model::PMAX>& vp,
                                              bool handover, double* pe, Normal<Model::PMAX>& ne_e, VarProEnd end,
                                              Normal<Model::PMAX>* final_ne);

// Does lm_solve hand VarPro's run over to lm_full early (varpro_solve's handover): only where every linear parameter
// is in natural units (LINEAR scale). With a LOG-scaled amplitude (power_law's A, Chinchilla's E, A, B) lm_full's steps
// in log p are what crawls along the valleys VarPro avoids (measured on Chinchilla: 72 iterations instead of 20), so
// there VarPro runs to its own convergence.
template <class Model>
LAWFIT_HD bool early_handover(const Model& m) {
  bool handover = true;
  for (int j = 0; j < m.n_params(); ++j) handover &= !(m.is_linear(j) && m.scale(j) == LOG);
  return handover;
}

// The per-curve solver: VarPro where it applies (then lm_full from its optimum, see the top), else lm_full.
// final_ne: the normal equations at the result (internal parameters), for the covariance. memo: VarPro's first
// evaluation, at the start (StartMemo, core/fit/lm.hpp; the caller knows which curves share this start and x).
template <class Model>
LAWFIT_HD LMResult<Model::PMAX> lm_solve(const Model& m, const Curve& c, const double* p0, const double* lower,
                                         const double* upper, const Options& o,
                                         Normal<Model::PMAX>* final_ne = nullptr,
                                         StartMemo<Model::PMAX>* memo = nullptr) {
  if (!varpro_applies(m, o)) return lm_full(m, c, p0, lower, upper, o, final_ne);
  constexpr int PMAX = Model::PMAX;
  double pe[PMAX];
  Normal<PMAX> ne_e;
  const bool handover = early_handover(m);
  VarProEnd end = END_NONE;
  const LMResult<PMAX> vp = varpro_solve(m, c, p0, lower, upper, o, handover, pe, &ne_e, &end, memo);
  return lm_solve_rest(m, c, p0, lower, upper, o, vp, handover, pe, ne_e, end, final_ne);
}

// lm_solve after its VarPro run (vp; pe, ne_e and end as varpro_solve writes them; handover: lm_solve's choice): the
// lane solver (core/fit/lanes.hpp) finishes each of its runs here too.
template <class Model>
LAWFIT_HD LMResult<Model::PMAX> lm_solve_rest(const Model& m, const Curve& c, const double* p0, const double* lower,
                                              const double* upper, const Options& o, const LMResult<Model::PMAX>& vp,
                                              bool handover, double* pe, Normal<Model::PMAX>& ne_e, VarProEnd end,
                                              Normal<Model::PMAX>* final_ne) {
  constexpr int PMAX = Model::PMAX;
  if (vp.status != CONVERGED && vp.status != MAX_ITER) return lm_full(m, c, p0, lower, upper, o, final_ne);
  // lm_full gets the iterations VarPro left (at least one: its first gradient test; if VarPro used them all, the
  // fit stays MAX_ITER unless that test passes).
  Options rest = o;
  rest.max_iter = o.max_iter - vp.iters > 1 ? o.max_iter - vp.iters : 1;
  // Where every linear parameter is in natural units, lm_full continues from VarPro's last evaluated point with the
  // normal equations there (no second evaluation: its first step takes the linear parameters' exact step, a
  // Gauss-Newton step being exact in them). With a LOG-scaled one, lm_full's step in log p is only a linearisation of
  // that move, so it starts from the projected point and evaluates it (as before the hand-over existed: measured, the
  // reuse there changed Chinchilla's flat directions at 5e-8 under tight tolerances, for no gain).
  // Where the last projection was exact and its cost trusted (END_EXACT), its normal equations are those at VarPro's
  // result: lm_full continues from there without evaluating it again, whatever the scales (the LOG ones' columns
  // converted to log p).
  const bool reuse = end == END_EXACT || (handover && end == END_EVALUATED);
  if (end == END_EXACT)
    for (int j = 0; j < m.n_params(); ++j) {
      if (!(m.is_linear(j) && m.scale(j) == LOG)) continue;
      for (int k = 0; k < m.n_params(); ++k) {
        ne_e.a[j * PMAX + k] *= pe[j];
        ne_e.a[k * PMAX + j] *= pe[j];
      }
      ne_e.g[j] *= pe[j];
    }
  LMResult<Model::PMAX> r;
  if (end == END_EXACT && exact_converged(m, pe, lower, upper, o, ne_e)) {
    // lm_full's first test would pass there at once: VarPro's result, as it is (lm_full would return it with its
    // LOG parameters through exp(log p)), with the normal equations there.
    for (int j = 0; j < m.n_params(); ++j) r.p[j] = pe[j];
    r.cost = ne_e.cost;
    r.iters = 1;
    r.status = CONVERGED;
    if (final_ne) *final_ne = ne_e;
  } else {
    r = reuse ? lm_full(m, c, pe, lower, upper, rest, final_ne, &ne_e)
              : lm_full(m, c, vp.p, lower, upper, rest, final_ne);
  }
  // An END_EXACT start that lm_full left where it was (its gradient test passed at once) keeps the projection's cost
  // and normal equations: those of an evaluation there up to rounding (the projected cost is trusted, kTrust), and
  // not evaluated again (measured: 4-8% of a power_law fit's instructions). Every caller that reports an objective or
  // a covariance takes them from here, so they do not depend on the batch's path (core/fit/batch.hpp).
  // (lm_full accepts only steps that lower the cost: the same cost, no step. Its point is then pe up to the rounding of
  // exp(log p) in the LOG parameters.)
  if (vp.status == MAX_ITER && vp.iters >= o.max_iter && r.status == CONVERGED && r.iters > 1) r.status = MAX_ITER;
  r.iters += vp.iters;
  return r;
}

}  // namespace lawfit::fit
