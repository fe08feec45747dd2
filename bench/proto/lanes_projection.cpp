// Design measurement for issue 16's next step (not part of lawfit): one power_law VarPro projection (20 points) for
// LANES curves at once, one curve per vector lane, against the library's scalar project() on the same curves and
// starts. The lane version sums each curve's points in its own lane (no horizontal reductions, no Jacobian rows turned
// into columns) and runs the 2x2 linear block's factor, the Schur complement and the exact scaling on all lanes at
// once; it leaves out what a real solver needs around it (the active set when an amplitude's bound is met: such a
// lane is only flagged here, as the scalar path's checks would flag it; the damping, the stopping tests).
// Build and run (from the repository root; AVX2 + FMA and glibc's libmvec, as the avx2 kernel level):
//   g++ -std=c++17 -O3 -mavx2 -mfma -fopenmp-simd -DLAWFIT_SIMD_MATH=1 -fno-math-errno -DLANES=4 -I csrc \
//       bench/proto/lanes_projection.cpp -lmvec -o /tmp/lanes && /tmp/lanes
// Measured (stop 30, AMD EPYC Zen 4, one thread): scalar project 102-110 ns per curve, 4 lanes 37-49 ns, 8 lanes
// 42 ns; cost and reduced gradient agree to 4e-11 (relative; the sums are added in another order).
#include "core/fit/varpro.hpp"
#include "core/laws/power_law.hpp"
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
using namespace lawfit;
using namespace lawfit::fit;
using M = laws::PreparedModel<laws::PowerLaw>;
constexpr int NP = 20;
#ifndef LANES
#define LANES 4
#endif
constexpr int L = LANES;
struct LaneProj { double cost[L], dc_E[L], dc_A[L], s[L], g[L]; bool bad[L]; };
__attribute__((noinline)) void project_lanes(const double* lx, const double* yt /*[NP][L]*/, const double* p /*[3][L]*/, LaneProj& o) {
  double sEE[L] = {}, sEA[L] = {}, sEN[L] = {}, sAA[L] = {}, sAN[L] = {}, sNN[L] = {}, gE[L] = {}, gA[L] = {}, gN[L] = {}, rr[L] = {};
  const double* E = p; const double* A = p + L; const double* al = p + 2 * L;
  for (int q = 0; q < NP; ++q) {
    const double x = lx[q];
    double t[L];
#pragma omp simd
    for (int l = 0; l < L; ++l) t[l] = std::exp(-al[l] * x);
#pragma omp simd
    for (int l = 0; l < L; ++l) {
      const double f = E[l] + A[l] * t[l];
      const double r = yt[q * L + l] - f;  // residual; J = -df/dp: sums of J^T J unchanged, J^T r = -(df/dp)^T r
      const double jA = t[l], jN = -A[l] * t[l] * x;
      sEE[l] += 1.0; sEA[l] += jA; sEN[l] += jN; sAA[l] += jA * jA; sAN[l] += jA * jN; sNN[l] += jN * jN;
      gE[l] -= r; gA[l] -= jA * r; gN[l] -= jN * r; rr[l] += r * r;
    }
  }
#pragma omp simd
  for (int l = 0; l < L; ++l) {
    // 2x2 LDL^T of the linear block [[sEE, sEA], [sEA, sAA]], step dc = -A_LL^-1 g_L
    const double d0 = sEE[l], l10 = sEA[l] / d0, d1 = sAA[l] - l10 * sEA[l];
    // solve
    const double z0 = -gE[l], z1 = -gA[l] - l10 * z0;
    const double w1 = z1 / d1, w0 = z0 / d0 - l10 * w1;
    o.dc_E[l] = w0; o.dc_A[l] = w1;
    const double dcost = w0 * (gE[l] + 0.5 * (sEE[l] * w0 + sEA[l] * w1)) + w1 * (gA[l] + 0.5 * (sEA[l] * w0 + sAA[l] * w1));
    o.cost[l] = 0.5 * rr[l] + dcost;
    // Schur complement for the nonlinear parameter and reduced gradient
    const double v0 = sEN[l], v1 = sAN[l] - l10 * v0;
    const double u1 = v1 / d1, u0 = v0 / d0 - l10 * u1;
    double S = sNN[l] - (sEN[l] * u0 + sAN[l] * u1);
    double g = gN[l] + sEN[l] * w0 + sAN[l] * w1;
    const double sc = (A[l] + w1) / A[l];
    o.g[l] = g * sc; o.s[l] = S * sc * sc;
    // what the scalar path checks: finite sums (5 of them), the amplitude's bound (A + dA >= 0), a positive cost
    const double z = rr[l] * 0.0 + sEE[l] * 0.0 + sAA[l] * 0.0 + sNN[l] * 0.0 + gN[l] * 0.0;
    o.bad[l] = !(z == 0.0) || !(A[l] + w1 >= 0.0) || !(o.cost[l] >= 0.0);
  }
}
int main() {
  const int K = 4096;
  std::mt19937_64 gen(1); std::normal_distribution<double> nd;
  std::vector<double> x(NP), y(K * NP), p0(K * 3), yt(K * NP), pl(K * 3);
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
      for (int j = 0; j < 3; ++j) pl[g * 3 * L + j * L + l] = p0[k * 3 + j];
    }
  M m; Options o; double lo[3] = {-kInf, 0, 0}, hi[3] = {kInf, kInf, 10};
  double sink = 0, maxd = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < K; ++k) {
      Curve c{x.data(), y.data() + k * NP, nullptr, NP, 1};
      Projected<3> pr;
      project(m, c, p0.data() + k * 3, o, split_of(m), lo, hi, pr);
      sink += pr.cost + pr.g[0];
      if (rep == 0 && k < 64) { LaneProj lp; project_lanes(x.data(), yt.data() + (k / L) * NP * L, pl.data() + (k / L) * 3 * L, lp);
        maxd = std::max(maxd, std::fabs(lp.cost[k % L] - pr.cost) / pr.cost + std::fabs(lp.g[k % L] - pr.g[0]) / std::fabs(pr.g[0])); }
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int g = 0; g < K / L; ++g) {
      LaneProj lp;
      project_lanes(x.data(), yt.data() + g * NP * L, pl.data() + g * 3 * L, lp);
      sink += lp.cost[0] + lp.g[1];
    }
    auto t2 = std::chrono::steady_clock::now();
    auto ns = [&](auto a, auto b) { return std::chrono::duration<double, std::nano>(b - a).count() / K; };
    std::printf("scalar project %.1f ns/curve   lanes %.1f ns/curve   (max rel diff %.1e)\n", ns(t0, t1), ns(t1, t2), maxd);
  }
  return sink == 1.2345;
}
