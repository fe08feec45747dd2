// Design measurement for issue 16's next step (not part of lawfit), the second problem of bench_peers: the Gaussian
// peak a*exp(-(x-b)^2/(2c^2)) + d (a, d linear; b, c nonlinear, exact projection), 32 points, one VarPro projection
// per curve: the library's scalar project() on the compiled formula's law (StaticModel<JitLaw>, what the kernels use
// for a formula of one input) against 4 curves per AVX2 lane (2x2 linear block, 2x2 reduced system, for all 4 lanes by
// the same instructions). See solve_lanes.cpp for the whole solve on power_law.
// Build and run (from the repository root, after scripts/dev-build): the formula's generated law, then the benchmark:
//   PYTHONPATH=python python -c "import lawfit; from lawfit import _jit; s = _jit._source_and_key(lawfit.Law( \
//     'a*exp(-(x-b)^2/(2*c^2)) + d', inputs='x', native=True))[3]; \
//     open('/tmp/gauss_law.hpp', 'w').write(s[:s.index('#define LAWFIT_JIT_KEY')])"
//   g++ -std=c++17 -O3 -mavx2 -mfma -fopenmp-simd -DLAWFIT_SIMD_MATH=1 -fno-math-errno -I csrc -I /tmp \
//       bench/proto/gauss_lanes.cpp -lmvec -o /tmp/gauss_lanes && /tmp/gauss_lanes
// Measured (stop 30, AMD EPYC Zen 4, one thread, 4,096 curves): scalar 219-254 ns per curve, lanes 102-116 ns (2.15x),
// cost, reduced gradient and reduced system equal to 4.4e-14 (relative). The lanes' projection is below the floor the
// issue's limit row times (the compiled formula's value and gradient alone, 115 ns per curve in bench_peers' run).
#include "core/fit/varpro.hpp"
#include "gauss_law.hpp"
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
using namespace lawfit;
using namespace lawfit::fit;
using M = laws::StaticModel<jit::JitLaw>;
constexpr int NP = 32, L = 4;
struct Proj { double cost[L], da[L], dd[L], s[3][L], g[2][L]; bool bad[L]; };
static inline void project_lanes(const double* x, const double* yt, const double* p /*[4][L]*/, Proj& o) {
  const double *a = p, *b = p + L, *c = p + 2 * L, *d = p + 3 * L;
  double S[10][L] = {}, G[4][L] = {}, rr[L] = {};
  for (int q = 0; q < NP; ++q) {
    const double xq = x[q];
    double e[L], z[L];
#pragma omp simd
    for (int l = 0; l < L; ++l) { z[l] = (xq - b[l]) / c[l]; e[l] = std::exp(-0.5 * z[l] * z[l]); }
#pragma omp simd
    for (int l = 0; l < L; ++l) {
      const double ae = a[l] * e[l];
      const double f = ae + d[l], r = yt[q * L + l] - f;
      const double j0 = e[l], j1 = ae * z[l] / c[l], j2 = ae * z[l] * z[l] / c[l], j3 = 1.0;
      S[0][l] += j0 * j0; S[1][l] += j0 * j1; S[2][l] += j0 * j2; S[3][l] += j0 * j3;
      S[4][l] += j1 * j1; S[5][l] += j1 * j2; S[6][l] += j1 * j3; S[7][l] += j2 * j2; S[8][l] += j2 * j3; S[9][l] += j3 * j3;
      G[0][l] -= j0 * r; G[1][l] -= j1 * r; G[2][l] -= j2 * r; G[3][l] -= j3 * r; rr[l] += r * r;
    }
  }
#pragma omp simd
  for (int l = 0; l < L; ++l) {
    // linear block (a, d): [[S0, S3], [S3, S9]]
    const double d0 = S[0][l], l10 = S[3][l] / d0, d1 = S[9][l] - l10 * S[3][l];
    const double z0 = -G[0][l], z1 = -G[3][l] - l10 * z0;
    const double w1 = z1 / d1, w0 = z0 / d0 - l10 * w1;  // da = w0, dd = w1
    o.da[l] = w0; o.dd[l] = w1;
    const double dcost = w0 * (G[0][l] + 0.5 * (S[0][l] * w0 + S[3][l] * w1)) + w1 * (G[3][l] + 0.5 * (S[3][l] * w0 + S[9][l] * w1));
    o.cost[l] = 0.5 * rr[l] + dcost;
    // A_FF^-1 A_F,b and A_F,c
    const double vb0 = S[1][l], vb1 = S[6][l] - l10 * vb0, ub1 = vb1 / d1, ub0 = vb0 / d0 - l10 * ub1;
    const double vc0 = S[2][l], vc1 = S[8][l] - l10 * vc0, uc1 = vc1 / d1, uc0 = vc0 / d0 - l10 * uc1;
    const double sbb = S[4][l] - (S[1][l] * ub0 + S[6][l] * ub1);
    const double sbc = S[5][l] - (S[1][l] * uc0 + S[6][l] * uc1);
    const double scc = S[7][l] - (S[2][l] * uc0 + S[8][l] * uc1);
    const double gb = G[1][l] + S[1][l] * w0 + S[6][l] * w1, gc = G[2][l] + S[2][l] * w0 + S[8][l] * w1;
    const double sc = (a[l] + w0) / a[l];
    o.g[0][l] = gb * sc; o.g[1][l] = gc * sc;
    o.s[0][l] = sbb * sc * sc; o.s[1][l] = sbc * sc * sc; o.s[2][l] = scc * sc * sc;
    const double zz = rr[l] * 0.0 + S[0][l] * 0.0 + S[4][l] * 0.0 + S[7][l] * 0.0 + S[9][l] * 0.0;
    o.bad[l] = !(zz == 0.0) || !(o.cost[l] >= 0.0);
  }
}
int main() {
  const int K = 4096;
  std::mt19937_64 gen(1); std::uniform_real_distribution<double> u(0, 1); std::normal_distribution<double> nd;
  std::vector<double> x(NP), y(K * NP), p0(K * 4), yt(K * NP), pl(K * 4);
  for (int i = 0; i < NP; ++i) x[i] = i;
  for (int k = 0; k < K; ++k) {
    const double t[4] = {5 + 15 * u(gen), 12 + 8 * u(gen), 2 + 3 * u(gen), 0.5 + 1.5 * u(gen)};
    for (int i = 0; i < NP; ++i) y[k * NP + i] = t[0] * std::exp(-(x[i] - t[1]) * (x[i] - t[1]) / (2 * t[2] * t[2])) + t[3] + 0.2 * nd(gen);
    for (int j = 0; j < 4; ++j) p0[k * 4 + j] = t[j] * (0.8 + 0.4 * u(gen));
  }
  for (int g = 0; g < K / L; ++g)
    for (int l = 0; l < L; ++l) {
      const int k = g * L + l;
      for (int q = 0; q < NP; ++q) yt[g * NP * L + q * L + l] = y[k * NP + q];
      for (int j = 0; j < 4; ++j) pl[g * 4 * L + j * L + l] = p0[k * 4 + j];
    }
  M m; Options o; double lo[4] = {-kInf, -kInf, -kInf, -kInf}, hi[4] = {kInf, kInf, kInf, kInf};
  double sink = 0, maxd = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < K; ++k) {
      Curve c{x.data(), y.data() + k * NP, nullptr, NP, 1};
      Projected<4> pr;
      project(m, c, p0.data() + k * 4, o, split_of(m), lo, hi, pr);
      sink += pr.cost + pr.g[0];
      if (rep == 0) {
        Proj lp; project_lanes(x.data(), yt.data() + (k / L) * NP * L, pl.data() + (k / L) * 4 * L, lp);
        const int l = k % L;
        maxd = std::max(maxd, std::fabs(lp.cost[l] - pr.cost) / pr.cost);
        maxd = std::max(maxd, std::fabs(lp.g[0][l] - pr.g[0]) / (std::fabs(pr.g[0]) + std::fabs(pr.g[1]) + 1e-300));
        maxd = std::max(maxd, std::fabs(lp.s[2][l] - pr.s[1 * 4 + 1]) / std::fabs(pr.s[1 * 4 + 1]));
      }
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int g = 0; g < K / L; ++g) {
      Proj lp;
      project_lanes(x.data(), yt.data() + g * NP * L, pl.data() + g * 4 * L, lp);
      sink += lp.cost[0] + lp.g[1][1];
    }
    auto t2 = std::chrono::steady_clock::now();
    auto ns = [&](auto a, auto b) { return std::chrono::duration<double, std::nano>(b - a).count() / K; };
    std::printf("gauss projection: scalar %.1f ns/curve   lanes %.1f ns/curve   (max rel diff %.1e)\n", ns(t0, t1), ns(t1, t2), maxd);
  }
  return sink == 1.2345;
}
