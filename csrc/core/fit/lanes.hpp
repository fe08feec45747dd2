// The vector-lane solver: lm_solve for up to four curves at once, one curve per vector lane (CPU kernels with
// LAWFIT_LANES, core/vtype.hpp).
//
// Each curve runs its own VarPro (VarProRun, core/fit/varpro.hpp: the same steps, tests and exits as varpro_solve);
// what the lanes share is the evaluation: the runs that want a projection have their points evaluated together, the
// law's eval_t on four doubles at once (one vector exp for four curves' points), and the normal equations summed in
// each curve's own lane. Summing one curve per lane needs no reduction across a vector and no transposition of
// Jacobian rows, the two costs that dominate a scalar projection (docs/design.md, "One curve per vector lane").
// Where a lane's projection is the plain one (lane_project) the lanes also compute it together; elsewhere it is the
// scalar solver's project_sums on that lane's sums. lm_solve's end (lm_solve_rest, lm_full where VarPro hands over) is
// the scalar solver's own code, per curve. Measured: ~1.35x per power_law solve at 10^5-10^6 curves (bench/README.md,
// stop 31; the prototype without lm_full's continuation, bench/proto/solve_lanes.cpp, 2.1-2.5x).
//
// A curve's result depends on its own data only: a lane sums its curve's points in order, points beyond a shorter
// curve's end add exact zeros, lanes never mix, and the runs are independent. So a curve fits to the same bits alone
// or beside any others, in any lane. The sums' order differs from accumulate's (core/fit/lm.hpp, which sums across
// points), so the two solvers agree up to rounding; every fit of a law that the lanes serve goes through them (the
// batch's paths, core/fit/batch.hpp) whatever the number of curves.
// Serves: a law with eval_t (law.hpp; a built-in law, or a compiled formula of one input whose operations have a vector
// form, lawfit/_jit.py) in an unweighted l2 fit in linear space with VarPro.
#pragma once
#include <new>
#include <type_traits>

#include "core/fit/varpro.hpp"

namespace lawfit::fit {

// Does Law define eval_t (its evaluation as a template on the number type, law.hpp)?
template <class Law, class = void>
struct HasEvalT : std::false_type {};
template <class Law>
struct HasEvalT<Law, std::void_t<decltype(Law::template eval_t<double>(nullptr, nullptr, nullptr))>>
    : std::true_type {};

// Is Model one the lanes evaluate: a law with eval_t, prepared (PreparedModel: eval_t takes the prepared inputs) or
// without a prepare step (StaticModel: the raw inputs; a built-in law or a compiled formula of one input).
template <class Model>
struct LaneModel : std::false_type {};
template <class Law>
struct LaneModel<laws::PreparedModel<Law>> : HasEvalT<Law> {};
template <class Law>
struct LaneModel<laws::StaticModel<Law>>
    : std::integral_constant<bool, HasEvalT<Law>::value && !laws::HasPrepare<Law>::value> {};
// The width of the inputs eval_t reads per point.
template <class Law>
constexpr int lane_inputs() {
  if constexpr (laws::HasPrepare<Law>::value) return Law::DP;
  else return Law::D;
}

#ifdef LAWFIT_LANES
constexpr int kLaneCurves = 4;

// Do the lanes serve this model (prepared where its law prepares) with these options?
template <class Model>
inline bool lanes_serve(const Model& m, const Options& o) {
  return LaneModel<Model>::value && varpro_applies(m, o);
}

// The sums of the normal equations of the 4 lanes (lower triangle of J^T J, J^T r, r^T r), one curve per lane.
template <int P>
struct LaneSums {
  vm::V4 a[P][P], g[P], rr;
};

// The normal equations (accumulate's with natural_linear, unweighted l2 in linear space) of up to kLaneCurves curves
// c[l] (prepared inputs) at natural parameters p[l], one curve per lane, as sums; lanes l >= n evaluate curve 0.
template <class Law>
LAWFIT_INLINE void lane_sums(const Curve* c, int n, const double (*p)[Law::P], LaneSums<Law::P>& out) {
  using vm::I4;
  using vm::V4;
  constexpr int P = Law::P, DP = lane_inputs<Law>();
  constexpr laws::ParamTables<Law> tab{};
  const double *xs[kLaneCurves], *ys[kLaneCurves];
  i64 len[kLaneCurves], nmin = c[0].n, nmax = 0;
  for (int l = 0; l < kLaneCurves; ++l) {
    const Curve& cl = c[l < n ? l : 0];
    xs[l] = cl.x;
    ys[l] = cl.y;
    len[l] = cl.n;
    nmin = len[l] < nmin ? len[l] : nmin;
    nmax = len[l] > nmax ? len[l] : nmax;
  }
  V4 pv[P], dp[P];
  const int l1 = n > 1 ? 1 : 0, l2 = n > 2 ? 2 : 0, l3 = n > 3 ? 3 : 0;
  for (int j = 0; j < P; ++j) {
    pv[j] = V4{p[0][j], p[l1][j], p[l2][j], p[l3][j]};
    // dp/dtheta, as residual_rows: p for a LOG nonlinear parameter, 1 otherwise (linear ones natural)
    dp[j] = (tab.scale[j] == LOG && !tab.linear[j]) ? pv[j] : V4{} + 1.0;
  }
  V4 a[P][P] = {}, g[P] = {}, rr = {};
  // Blocks of kLaneBlock points: first every point's residual and Jacobian row in the 4 lanes (the law's eval_t; its
  // vector exp is a call, across which no sum needs to stay in a register), then their sums.
  constexpr int kLaneBlock = 16;
  V4 rb[kLaneBlock], jb[kLaneBlock][P];
  // Point q of every lane into row t (i: the point each lane reads; mk: which lanes' terms count, all where not
  // masked).
  // (shared: every lane reads the same inputs, curves that share their x values, so each is loaded once)
  auto row = [&](int t, auto masked, auto shared, const i64* i, I4 mk) LAWFIT_INLINE_LAMBDA {
    V4 xv[DP > 0 ? DP : 1];
    for (int k = 0; k < DP; ++k) {
      if constexpr (decltype(shared)::value) xv[k] = V4{} + xs[0][i[0] * DP + k];
      else xv[k] = V4{xs[0][i[0] * DP + k], xs[1][i[1] * DP + k], xs[2][i[2] * DP + k], xs[3][i[3] * DP + k]};
    }
    const V4 yv = V4{ys[0][i[0]], ys[1][i[1]], ys[2][i[2]], ys[3][i[3]]};
    V4 gv[P];
    const V4 f = Law::template eval_t<V4>(xv, pv, gv);
    rb[t] = yv - f;
    for (int j = 0; j < P; ++j) jb[t][j] = -gv[j] * dp[j];
    if constexpr (decltype(masked)::value) {
      rb[t] = (V4)((I4)rb[t] & mk);
      for (int j = 0; j < P; ++j) jb[t][j] = (V4)((I4)jb[t][j] & mk);
    }
  };
  const bool shared = xs[1] == xs[0] && xs[2] == xs[0] && xs[3] == xs[0];  // (then every lane has nmin points)
  for (i64 q0 = 0; q0 < nmax; q0 += kLaneBlock) {
    const int nb = static_cast<int>(nmax - q0 < kLaneBlock ? nmax - q0 : kLaneBlock);
    for (int t = 0; t < nb; ++t) {
      const i64 q = q0 + t;
      if (q < nmin) {
        const i64 i[kLaneCurves] = {q, q, q, q};
        if (shared) row(t, std::false_type{}, std::true_type{}, i, I4{});
        else row(t, std::false_type{}, std::false_type{}, i, I4{});
      } else {
        // (a shorter curve's lane reads its first point past its end; its terms are masked to exact zeros)
        i64 i[kLaneCurves];
        I4 mk;
        for (int l = 0; l < kLaneCurves; ++l) {
          i[l] = q < len[l] ? q : 0;
          mk[l] = q < len[l] ? -1 : 0;
        }
        row(t, std::true_type{}, std::false_type{}, i, mk);
      }
    }
    for (int t = 0; t < nb; ++t) {
      rr += rb[t] * rb[t];
      for (int j = 0; j < P; ++j) {
        g[j] += jb[t][j] * rb[t];
        for (int k = 0; k <= j; ++k) a[j][k] += jb[t][j] * jb[t][k];
      }
    }
  }
  for (int j = 0; j < P; ++j) {
    out.g[j] = g[j];
    for (int k = 0; k <= j; ++k) out.a[j][k] = a[j][k];
  }
  out.rr = rr;
}

// Lane l's normal equations from the sums; false where they are not finite (accumulate's test).
template <int P>
LAWFIT_INLINE bool lane_normal(const LaneSums<P>& s, int l, Normal<P>& e) {
  e.rr = s.rr[l];
  e.cost = 0.5 * s.rr[l];
  double z = e.cost * 0.0 + e.rr * 0.0;
  for (int j = 0; j < P; ++j) {
    e.g[j] = s.g[j][l];
    for (int k = 0; k <= j; ++k) e.a[j * P + k] = e.a[k * P + j] = s.a[j][k][l];
    z += e.a[j * P + j] * 0.0;
  }
  return z == 0.0;
}

// Can lane_project serve Law: every nonlinear parameter sits in an amplitude's term (the projection is exact,
// project_sums), and the split's blocks are small.
template <class Law>
constexpr bool lane_projects() {
  constexpr SplitTables<Law> sp{};
  constexpr laws::ParamTables<Law> tab{};
  if (sp.nl < 1 || sp.nl > 3 || sp.nn < 1 || sp.nn > 3) return false;
  for (int u = 0; u < sp.nn; ++u) {
    const int a = tab.amplitude[sp.nonlin[u]];
    if (a < 0 || !tab.linear[a]) return false;
  }
  return true;
}

// project_sums (core/fit/varpro.hpp) of the 4 lanes at once where a lane's projection is the plain one: the linear
// block factors without a Levenberg term, the linear parameters' exact step stays inside their box (no bound held), a
// LOG-scaled amplitude stays positive, and the cost is finite and not negative. The same formulas, in the same order,
// as project_sums on that path (its linear_step's first pass, the reduced system, the exact scaling). Returns the mask
// of the lanes it served; pr[l] (l < n, want[l]) of those is filled; the caller runs project_sums for the others.
// lo, hi: each lane's box (VarProRun's, natural for the linear parameters); p: the points.
template <class Law>
LAWFIT_INLINE unsigned lane_project(const LaneSums<Law::P>& sm, const double (*p)[Law::P], int n,
                                    const double* const* lo, const double* const* hi, const bool* want,
                                    Projected<Law::P>* const* pr) {
  using vm::I4;
  using vm::V4;
  constexpr int P = Law::P;
  constexpr SplitTables<Law> sp{};
  constexpr laws::ParamTables<Law> tab{};
  constexpr int NL = sp.nl, NN = sp.nn;
  auto A = [&](int i, int j) -> V4 { return i >= j ? sm.a[i][j] : sm.a[j][i]; };
  const int l1 = n > 1 ? 1 : 0, l2 = n > 2 ? 2 : 0, l3 = n > 3 ? 3 : 0;
  auto lane = [&](auto get) { return V4{get(0), get(l1), get(l2), get(l3)}; };
  V4 pv[P];
  for (int j = 0; j < P; ++j) pv[j] = lane([&](int l) { return p[l][j]; });
  I4 ok = {-1, -1, -1, -1};
  const V4 cost0 = 0.5 * sm.rr;
  // The linear block's LDL^T (factor_sub with no Levenberg term: the diagonal plus 1e-300), as ldlt_n.
  V4 lf[NL][NL], d[NL];
  for (int u = 0; u < NL; ++u)
    for (int v = 0; v < NL; ++v) lf[u][v] = A(sp.lin[u], sp.lin[v]);
  for (int u = 0; u < NL; ++u) lf[u][u] = lf[u][u] * 1.0 + 1e-300;
  for (int j = 0; j < NL; ++j) {
    V4 dj = lf[j][j];
    for (int k = 0; k < j; ++k) dj -= lf[j][k] * lf[j][k] * d[k];
    ok &= (dj > 0.0) & (dj < kInf);
    d[j] = dj;
    const V4 inv = 1.0 / dj;
    lf[j][j] = inv;
    for (int i = j + 1; i < NL; ++i) {
      V4 s = lf[i][j];
      for (int k = 0; k < j; ++k) s -= lf[i][k] * lf[j][k] * d[k];
      lf[i][j] = s * inv;
    }
  }
  auto solve = [&](V4* b) { ldlt_solve_n<NL>(&lf[0][0], NL, NL, b); };
  // The full step from the start (dc = 0): s = -A_LL^-1 g_L; inside the box (t = 1) it is the step.
  V4 dc[NL];
  for (int u = 0; u < NL; ++u) {
    V4 r = sm.g[sp.lin[u]];
    for (int k = 0; k < NL; ++k) r += A(sp.lin[u], sp.lin[k]) * 0.0;
    dc[u] = -r;
  }
  solve(dc);
  V4 lov[NL], hiv[NL];
  for (int u = 0; u < NL; ++u) {
    const int j = sp.lin[u];
    lov[u] = lane([&](int l) { return lo[l][j]; });
    hiv[u] = lane([&](int l) { return hi[l][j]; });
    const V4 v = pv[j] + 0.0 + dc[u];
    ok &= (v >= lov[u]) & (v <= hiv[u]) & (lov[u] < hiv[u]);
    dc[u] = 0.0 + 1.0 * dc[u];
  }
  V4 dcost = {};
  for (int k = 0; k < NL; ++k) {
    V4 ad = {};
    for (int l = 0; l < NL; ++l) ad += A(sp.lin[k], sp.lin[l]) * dc[l];
    dcost += dc[k] * (sm.g[sp.lin[k]] + 0.5 * ad);
  }
  dcost = dcost < 0.0 ? dcost : V4{};
  const V4 cost = cost0 + dcost;
  ok &= (cost >= 0.0) & (cost < kInf);
  for (int u = 0; u < NL; ++u)
    if (tab.scale[sp.lin[u]] == LOG) ok &= pv[sp.lin[u]] + dc[u] > 0.0;
  // The reduced system over the nonlinear parameters, scaled to the projected point (every one has an amplitude).
  V4 gs[NN], S[NN][NN], z[NN][NL], sc[NN];
  for (int u = 0; u < NN; ++u) {
    const int j = sp.nonlin[u];
    V4 gr = sm.g[j];
    for (int k = 0; k < NL; ++k) gr += A(j, sp.lin[k]) * dc[k];
    gs[u] = gr;
  }
  for (int v = 0; v < NN; ++v) {
    for (int w = 0; w < NL; ++w) z[v][w] = A(sp.lin[w], sp.nonlin[v]);
    solve(z[v]);
  }
  for (int u = 0; u < NN; ++u)
    for (int v = 0; v <= u; ++v) {
      V4 sv = A(sp.nonlin[u], sp.nonlin[v]);
      for (int w = 0; w < NL; ++w) sv -= A(sp.nonlin[u], sp.lin[w]) * z[v][w];
      S[u][v] = S[v][u] = sv;
    }
  for (int u = 0; u < NN; ++u) {
    const int amp = tab.amplitude[sp.nonlin[u]];
    int ka = 0;
    for (int k = 0; k < NL; ++k)
      if (sp.lin[k] == amp) ka = k;
    ok &= pv[amp] != 0.0;
    sc[u] = (pv[amp] + dc[ka]) / pv[amp];
    ok &= (sc[u] == sc[u]) & (sc[u] - sc[u] == 0.0);  // finite
  }
  for (int u = 0; u < NN; ++u) {
    gs[u] *= sc[u];
    for (int v = 0; v < NN; ++v) S[u][v] *= sc[u] * sc[v];
  }
  // (a lane whose sums are not finite: its cost is not, so ok is false there)
  unsigned served = 0;
  for (int l = 0; l < n; ++l) {
    if (!want[l] || !ok[l]) continue;
    served |= 1u << l;
    Projected<P>& q = *pr[l];
    lane_normal(sm, l, q.ne);
    q.evaluated = q.ne.cost;
    for (int k = 0; k < NL; ++k) q.dc[sp.lin[k]] = dc[k][l];
    q.cost = cost[l];
    q.degenerate = false;
    for (int u = 0; u < NN; ++u) {
      q.g[u] = gs[u][l];
      for (int v = 0; v < NN; ++v) q.s[u * P + v] = S[u][v][l];
    }
    for (int j = 0; j < P; ++j) q.sc[j] = 1.0;
    for (int u = 0; u < NN; ++u) q.sc[sp.nonlin[u]] = sc[u][l];
    q.exact = true;
    q.pending = true;
  }
  return served;
}

// lm_solve (core/fit/varpro.hpp) of n <= kLaneCurves curves c[l] (the inputs Model reads, unweighted) from natural starts
// p0[l] within [lower[l], upper[l]]: results r[l] and the normal equations at each result final_ne[l] (may be null).
// The caller checks lanes_serve.
template <class Model>
void lm_solve_lanes(const Model& m, const Curve* c, int n, const double* const* p0, const double* const* lower,
                    const double* const* upper, const Options& o, LMResult<Model::PMAX>* r,
                    Normal<Model::PMAX>* final_ne) {
  using Law = typename Model::law_type;
  constexpr int P = Law::P;
  static_assert(Model::PMAX == P, "a law's model");
  static_assert(kLaneCurves == 4, "lane_sums reads 4 lanes");
  using Run = VarProRun<Model>;
  const bool handover = early_handover(m);
  alignas(Run) unsigned char store[kLaneCurves][sizeof(Run)];
  Run* run[kLaneCurves];
  for (int l = 0; l < n; ++l) run[l] = new (store[l]) Run(m, p0[l], lower[l], upper[l], o, handover);
  static_assert(std::is_trivially_destructible<Run>::value, "runs are not destroyed");
  for (;;) {
    double pt[kLaneCurves][P];
    bool want[kLaneCurves], any = false;
    for (int l = 0; l < n; ++l) {
      want[l] = run[l]->wants();
      any |= want[l];
      const double* src = run[l]->point();
      for (int j = 0; j < P; ++j) pt[l][j] = src[j];
    }
    if (!any) break;
    LaneSums<P> sums;
    lane_sums<Law>(c, n, pt, sums);
    unsigned served = 0;
    if constexpr (lane_projects<Law>()) {
      const double *lo[kLaneCurves], *hi[kLaneCurves];
      Projected<P>* pr[kLaneCurves];
      for (int l = 0; l < n; ++l) {
        lo[l] = run[l]->lo();
        hi[l] = run[l]->hi();
        pr[l] = &run[l]->target();
      }
      served = lane_project<Law>(sums, pt, n, lo, hi, want, pr);
    }
    for (int l = 0; l < n; ++l) {
      if (!want[l]) continue;
      if (served >> l & 1u) {
        run[l]->take(true);
        continue;
      }
      Projected<P>& pr = run[l]->target();
      pr.degenerate = pr.exact = pr.pending = false;
      const bool finite = lane_normal(sums, l, pr.ne);
      run[l]->take(finite && project_sums(m, pt[l], run[l]->L, run[l]->lo(), run[l]->hi(), pr));
    }
  }
  for (int l = 0; l < n; ++l) {
    double pe[P];
    Normal<P> ne_e;
    VarProEnd end = END_NONE;
    const LMResult<P> vp = run[l]->result(pe, &ne_e, &end);
    r[l] = lm_solve_rest(m, c[l], p0[l], lower[l], upper[l], o, vp, handover, pe, ne_e, end,
                         final_ne ? &final_ne[l] : nullptr);
  }
}
#else
template <class Model>
inline bool lanes_serve(const Model&, const Options&) {
  return false;
}
#endif

}  // namespace lawfit::fit
