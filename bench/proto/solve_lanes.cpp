// Design measurement for issue 16's next step (not part of lawfit): a whole power_law VarPro solve (20 points,
// near-truth starts) with one curve per vector lane, LANES curves in lock-step (a lane that has finished is masked),
// against the library's lm_solve on the same curves and starts. It follows varpro_solve's rules (exact projection,
// Nielsen's damping with More's scaling on the reduced 1x1 system, the gradient, xtol and ftol exits with the
// stationarity gate, alpha clamped to its bounds) and counts lm_full's confirming test as lm_solve does; it leaves out
// what the library would add around it: the active set of the amplitudes' bounds (a lane that meets A <= 0 is only
// counted as a fallback to the scalar solver; none does here), lm_full's iterations where its first test fails, the
// covariance.
// Build and run (from the repository root; AVX2 + FMA and glibc's libmvec, as the avx2 kernel level):
//   g++ -std=c++17 -O3 -mavx2 -mfma -fopenmp-simd -DLAWFIT_SIMD_MATH=1 -fno-math-errno -DLANES=4 -I csrc \
//       bench/proto/solve_lanes.cpp -lmvec -o /tmp/solve_lanes && /tmp/solve_lanes
// Measured (stop 30, AMD EPYC Zen 4, one thread, 4,096 curves, several runs of 7 repeats, each line timing both):
// 4 lanes 2.1-2.5x faster than the scalar lm_solve (276-434 ns against 655-932 ns per curve, the machine's period
// moving both), 8 lanes about 2.3x; the same mean iterations (4.26), no curve with a higher cost (1e-9), alpha equal to
// 6.5e-7 (relative; both stop at ftol = 1e-8). With -DGENERIC the lanes evaluate through the law's eval_prepared
// (pointers to a lane's parameters and gradient): GCC 12 leaves that loop scalar ("no vectype for stmt") and the solve
// takes 750-850 ns, slower than the scalar solver. With -DVTYPE (LANES=4) the law's evaluation is written once as a
// template on its number type (PowerLawT below: double, or a GCC vector of 4 doubles with libmvec's exp) and runs
// on the 4 lanes as one value: 285-322 ns against the hand-written lanes' 273-291 ns and the scalar 613-661 ns in the
// same runs. So the laws' eval_prepared as templates on the number type would serve both solvers from one source.
// The last two figures of each line time one projection at the starts alone: the library's project() 102-120 ns per
// curve, the lanes' 48-55 ns (quiet machine; 37 ns without the checks of the bounds and of finite sums).
#include "core/fit/varpro.hpp"
#include "core/laws/power_law.hpp"
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <immintrin.h>
using namespace lawfit;
using namespace lawfit::fit;
using M = laws::PreparedModel<laws::PowerLaw>;
constexpr int NP = 20;
#ifndef LANES
#define LANES 4
#endif
constexpr int L = LANES;

// -DVTYPE: 4 lanes as one value (GCC vector extension), exp by libmvec's 4-wide AVX2 variant.
typedef double V4 __attribute__((vector_size(32)));
extern "C" __m256d _ZGVdN4v_exp(__m256d);
namespace vt {
inline V4 vexp(V4 v) { return (V4)_ZGVdN4v_exp((__m256d)v); }
inline double vexp(double v) { return std::exp(v); }
}
using vt::vexp;
// power_law's eval_prepared written once for any number type (double, or 4 lanes)
struct PowerLawT {
  template <class T> static T inv_pow(T lx, T alpha) { return vexp(-alpha * lx); }
  template <class T> static T eval_prepared(const T* xp, const T* p, T* g) {
    const T lx = xp[0];
    const T t = inv_pow(lx, p[2]);
    if (g) { g[0] = T{} + 1.0; g[1] = t; g[2] = -p[1] * t * lx; }
    return p[0] + p[1] * t;
  }
};
struct Proj { double cost[L], dE[L], dA[L], s[L], g[L], dfull[L]; bool bad[L]; };

static inline void project_lanes(const double* lx, const double* yt, const double* E, const double* A, const double* al, Proj& o) {
  double sEE[L] = {}, sEA[L] = {}, sEN[L] = {}, sAA[L] = {}, sAN[L] = {}, sNN[L] = {}, gE[L] = {}, gA[L] = {}, gN[L] = {}, rr[L] = {};
  for (int q = 0; q < NP; ++q) {
    const double x = lx[q];
#if defined(VTYPE)
    double fvv[L], g1v[L], g2v[L];
#endif
#if defined(VTYPE)
    {
      V4 xv = {x, x, x, x}, pv[3], gv4[3];
      for (int l = 0; l < L; ++l) { pv[0][l] = E[l]; pv[1][l] = A[l]; pv[2][l] = al[l]; }
      const V4 fv4 = PowerLawT::eval_prepared(&xv, pv, gv4);
      for (int l = 0; l < L; ++l) { fvv[l] = fv4[l]; g1v[l] = gv4[1][l]; g2v[l] = gv4[2][l]; }
    }
#pragma omp simd
    for (int l = 0; l < L; ++l) {
      const double f = fvv[l];
      const double r = yt[q * L + l] - f;
      const double jA = g1v[l], jN = g2v[l];
#elif defined(GENERIC)  // through the law's own interface (pointers to p and g): GCC 12 does not vectorise this lane loop
    double fv[L], gv[3][L];
#pragma omp simd
    for (int l = 0; l < L; ++l) {
      const double p[3] = {E[l], A[l], al[l]}, xl[1] = {x};
      double g[3];
      fv[l] = laws::PowerLaw::eval_prepared(xl, p, g);
      gv[0][l] = g[0]; gv[1][l] = g[1]; gv[2][l] = g[2];
    }
#pragma omp simd
    for (int l = 0; l < L; ++l) {
      const double f = fv[l];
      const double r = yt[q * L + l] - f;
      const double jA = gv[1][l], jN = gv[2][l];
#else  // the law's value-based helper (inv_pow, std::exp inside) vectorises: one libmvec call for the 4 lanes
    double t[L];
#pragma omp simd
    for (int l = 0; l < L; ++l) t[l] = laws::PowerLaw::inv_pow(x, al[l]);
#pragma omp simd
    for (int l = 0; l < L; ++l) {
      const double f = E[l] + A[l] * t[l];
      const double r = yt[q * L + l] - f;
      const double jA = t[l], jN = -A[l] * t[l] * x;
#endif
      sEE[l] += 1.0; sEA[l] += jA; sEN[l] += jN; sAA[l] += jA * jA; sAN[l] += jA * jN; sNN[l] += jN * jN;
      gE[l] -= r; gA[l] -= jA * r; gN[l] -= jN * r; rr[l] += r * r;
    }
  }
#pragma omp simd
  for (int l = 0; l < L; ++l) {
    const double d0 = sEE[l], l10 = sEA[l] / d0, d1 = sAA[l] - l10 * sEA[l];
    const double z0 = -gE[l], z1 = -gA[l] - l10 * z0;
    const double w1 = z1 / d1, w0 = z0 / d0 - l10 * w1;
    o.dE[l] = w0; o.dA[l] = w1;
    const double dcost = w0 * (gE[l] + 0.5 * (sEE[l] * w0 + sEA[l] * w1)) + w1 * (gA[l] + 0.5 * (sEA[l] * w0 + sAA[l] * w1));
    o.cost[l] = 0.5 * rr[l] + dcost;
    const double v0 = sEN[l], v1 = sAN[l] - l10 * v0;
    const double u1 = v1 / d1, u0 = v0 / d0 - l10 * u1;
    const double S = sNN[l] - (sEN[l] * u0 + sAN[l] * u1);
    const double g = gN[l] + sEN[l] * w0 + sAN[l] * w1;
    const double sc = (A[l] + w1) / A[l];
    o.g[l] = g * sc; o.s[l] = S * sc * sc; o.dfull[l] = sNN[l] * sc * sc;
    const double zz = rr[l] * 0.0 + sEE[l] * 0.0 + sAA[l] * 0.0 + sNN[l] * 0.0 + gN[l] * 0.0;
    o.bad[l] = !(zz == 0.0) || !(A[l] + w1 > 0.0) || !(o.cost[l] >= 0.0);
  }
}

struct Out { double E, A, al, cost; int iters; int status; };  // status 0 converged, 1 max_iter, 2 fallback

// One group of L curves: yt [NP][L], starts E0, A0, al0 [L].
static void solve_lanes(const double* lx, const double* yt, const double* E0, const double* A0, const double* al0, const Options& o, Out* out) {
  double E[L], A[L], al[L], lam[L], nu[L], ds[L];
  bool active[L], testg[L];
  int iters[L], status[L];
  Proj cp, tp;
  for (int l = 0; l < L; ++l) { E[l] = E0[l]; A[l] = A0[l] > 0 ? A0[l] : 1e-12; al[l] = std::min(std::max(al0[l], 0.0), 10.0); }
  project_lanes(lx, yt, E, A, al, cp);
  for (int l = 0; l < L; ++l) {
    status[l] = cp.bad[l] ? 2 : 1; active[l] = !cp.bad[l]; iters[l] = 0; testg[l] = true;
    E[l] += cp.dE[l]; A[l] += cp.dA[l];
    lam[l] = 1e-3; nu[l] = 2.0; ds[l] = cp.s[l] > 1e-300 ? cp.s[l] : 1e-300;
    if (active[l] && cp.cost[l] == 0.0) { status[l] = 0; active[l] = false; }
  }
  auto stationary = [&](int l, double tol) { const double pr = 0.5 * cp.g[l] * cp.g[l] / (cp.s[l] * (1 + 1e-12) + 1e-300); return pr <= 100.0 * tol * cp.cost[l]; };
  double th_t[L], step[L], pred[L], Et[L], At[L];
  for (;;) {
    bool any = false;
    for (int l = 0; l < L; ++l) {
      if (!active[l]) { th_t[l] = al[l]; continue; }
      if (testg[l]) {
        if (iters[l] >= o.max_iter) { active[l] = false; continue; }
        iters[l]++;
        const bool held = (al[l] <= 0.0 && cp.g[l] > 0.0) || (al[l] >= 10.0 && cp.g[l] < 0.0);
        ds[l] = std::max(ds[l], cp.s[l]);
        const double cn = cp.dfull[l] * 2.0 * cp.cost[l];
        if (held || gradient_cosine(cp.g[l], cn) <= o.gtol) { status[l] = 0; active[l] = false; continue; }
        testg[l] = false;
      }
      const double h = -cp.g[l] / (cp.s[l] + lam[l] * ds[l]);
      double v = al[l] + h; v = v < 0.0 ? 0.0 : (v > 10.0 ? 10.0 : v);
      th_t[l] = v; step[l] = v - al[l];
      if (std::fabs(step[l]) <= o.xtol * (o.xtol + std::fabs(al[l])) && stationary(l, o.ftol)) { status[l] = 0; active[l] = false; continue; }
      pred[l] = -(cp.g[l] * step[l] + 0.5 * step[l] * cp.s[l] * step[l]);
      any = true;
    }
    if (!any) break;
    project_lanes(lx, yt, E, A, th_t, tp);
    for (int l = 0; l < L; ++l) {
      if (!active[l]) continue;
      if (tp.bad[l]) { status[l] = 2; active[l] = false; continue; }  // the scalar solver takes this curve
      const double actual = cp.cost[l] - tp.cost[l];
      if (actual > 0.0) {
        const double rho = pred[l] > 0.0 ? actual / pred[l] : 0.0, t = 2.0 * rho - 1.0;
        lam[l] *= std::max(1.0 / 3.0, 1.0 - t * t * t);
        if (lam[l] < 1e-15) lam[l] = 1e-15;
        nu[l] = 2.0;
        const bool ftol_met = actual < o.ftol * cp.cost[l] && rho > 0.25;
        al[l] = th_t[l];
        cp.cost[l] = tp.cost[l]; cp.s[l] = tp.s[l]; cp.g[l] = tp.g[l]; cp.dfull[l] = tp.dfull[l];
        E[l] += tp.dE[l]; A[l] += tp.dA[l];
        testg[l] = true;
        if (cp.cost[l] == 0.0 || (ftol_met && stationary(l, o.ftol))) { status[l] = 0; active[l] = false; }
      } else {
        if (actual == 0.0 && pred[l] <= o.ftol * cp.cost[l]) { status[l] = 0; active[l] = false; continue; }
        lam[l] *= nu[l]; nu[l] *= 2.0;
        if (lam[l] > 1e30) { status[l] = 0; active[l] = false; }
      }
    }
  }
  for (int l = 0; l < L; ++l) out[l] = {E[l], A[l], al[l], cp.cost[l], iters[l] + 1, status[l]};  // (+1: lm_full's confirming test, as lm_solve counts)
}

int main() {
  const int K = 4096;
  std::mt19937_64 gen(1); std::normal_distribution<double> nd;
  std::vector<double> x(NP), y(K * NP), p0(K * 3), yt(K * NP), s0(K * 3);
  for (int i = 0; i < NP; ++i) x[i] = std::log(1e3 * std::pow(1e6 / 1e3, i / double(NP - 1)));
  for (int k = 0; k < K; ++k) {
    double E = 2 + 0.2 * nd(gen), A = 50 * std::exp(0.2 * nd(gen)), al = 0.3 * std::exp(0.2 * nd(gen));
    for (int i = 0; i < NP; ++i) y[k * NP + i] = (E + A * std::exp(-al * x[i])) * (1 + 0.01 * nd(gen));
    p0[k*3] = E * (1 + 0.1 * nd(gen)); p0[k*3+1] = A * std::exp(0.1*nd(gen)); p0[k*3+2] = al * std::exp(0.1*nd(gen));
  }
  for (int g = 0; g < K / L; ++g)
    for (int l = 0; l < L; ++l) {
      const int k = g * L + l;
      for (int q = 0; q < NP; ++q) yt[g * NP * L + q * L + l] = y[k * NP + q];
      for (int j = 0; j < 3; ++j) s0[g * 3 * L + j * L + l] = p0[k * 3 + j];
    }
  M m; Options o; double lo[3] = {-kInf, 0, 0}, hi[3] = {kInf, kInf, 10};
  std::vector<Out> lo_out(K), ref(K);
  double sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    long its = 0;
    for (int k = 0; k < K; ++k) {
      Curve c{x.data(), y.data() + k * NP, nullptr, NP, 1};
      auto r = lm_solve(m, c, p0.data() + k * 3, lo, hi, o);
      ref[k] = {r.p[0], r.p[1], r.p[2], r.cost, r.iters, r.status == CONVERGED ? 0 : 1};
      its += r.iters;
    }
    auto t1 = std::chrono::steady_clock::now();
    long its2 = 0;
    for (int g = 0; g < K / L; ++g) {
      const double* sg = s0.data() + g * 3 * L;
      solve_lanes(x.data(), yt.data() + g * NP * L, sg, sg + L, sg + 2 * L, o, lo_out.data() + g * L);
    }
    auto t2 = std::chrono::steady_clock::now();
    int fallback = 0, worse = 0; double maxrel = 0;
    for (int k = 0; k < K; ++k) {
      its2 += lo_out[k].iters; fallback += lo_out[k].status == 2;
      const double d = (lo_out[k].cost - ref[k].cost) / ref[k].cost;
      if (d > 1e-9) ++worse;
      maxrel = std::max(maxrel, std::fabs(lo_out[k].al - ref[k].al) / std::fabs(ref[k].al));
      sink += lo_out[k].cost;
    }
    // One projection at the starts alone: the library's project() per curve, project_lanes per group.
    auto t3 = std::chrono::steady_clock::now();
    for (int k = 0; k < K; ++k) {
      Curve c{x.data(), y.data() + k * NP, nullptr, NP, 1};
      Projected<3> pr;
      project(m, c, p0.data() + k * 3, o, split_of(m), lo, hi, pr);
      sink += pr.cost;
    }
    auto t4 = std::chrono::steady_clock::now();
    for (int g = 0; g < K / L; ++g) {
      const double* sg = s0.data() + g * 3 * L;
      Proj pj;
      project_lanes(x.data(), yt.data() + g * NP * L, sg, sg + L, sg + 2 * L, pj);
      sink += pj.cost[0];
    }
    auto t5 = std::chrono::steady_clock::now();
    auto ns = [&](auto a, auto b) { return std::chrono::duration<double, std::nano>(b - a).count() / K; };
    std::printf("scalar lm_solve %.0f ns (%.2f it)   lanes %.0f ns (%.2f it)   fallback %d, cost worse %d, max |dalpha|/alpha "
                "%.1e   one projection: scalar %.0f ns, lanes %.0f ns\n",
                ns(t0, t1), its / double(K), ns(t1, t2), its2 / double(K), fallback, worse, maxrel, ns(t3, t4), ns(t4, t5));
  }
  return sink == 1.2345;
}
