// Small dense linear algebra for the per-curve solvers: fixed-capacity arrays, no allocation.
#pragma once
#include <type_traits>

#include "core/common.hpp"

namespace lawfit::fit {

// In-place Cholesky of the n x n symmetric positive-definite matrix a (row-major, leading dimension ld).
// Returns false if a is not numerically positive definite.
LAWFIT_HD inline bool cholesky(double* a, int n, int ld) {
  for (int j = 0; j < n; ++j) {
    double d = a[j * ld + j];
    for (int k = 0; k < j; ++k) d -= a[j * ld + k] * a[j * ld + k];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    d = std::sqrt(d);
    a[j * ld + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * ld + j];
      for (int k = 0; k < j; ++k) s -= a[i * ld + k] * a[j * ld + k];
      a[i * ld + j] = s / d;
    }
  }
  return true;
}

// Solve L L^T x = b in place (b overwritten with x), L from cholesky().
LAWFIT_HD inline void cholesky_solve(const double* l, int n, int ld, double* b) {
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= l[i * ld + k] * b[k];
    b[i] = s / l[i * ld + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int k = i + 1; k < n; ++k) s -= l[k * ld + i] * b[k];
    b[i] = s / l[i * ld + i];
  }
}

// In-place LDL^T factorisation of the n x n symmetric positive-definite matrix a (row-major, leading dimension
// ld, n <= 32; the lower triangle is read). On return the strict lower triangle holds the unit lower factor L and
// the diagonal holds 1/D, so that ldlt_solve() multiplies where a Cholesky solve divides: the solver's small
// systems are latency-bound, and this has one division per column and no square root. Returns false if a is
// not numerically positive definite.
// The bodies take the size as a template argument N (0: the run-time n): on the CPU, ldlt() and ldlt_solve() dispatch
// the sizes the solvers meet most (1-4) to fully unrolled copies (measured on power_law fits: 10-15% faster with the
// solvers' other small systems dispatched alike; results equal up to rounding). The GPU keeps one body: unrolled copies
// inlined into every kernel took nvcc from 2.5 to over 15 minutes per source file.
// A fixed size's loops are unrolled by LAWFIT_UNROLL: GCC's own heuristics left the nested loops of sizes 3 and 4
// rolled (measured on this machine, factor and solve: 3x3 24 -> 10 ns, 4x4 55 -> 32 ns; plain LM on power_law 8%
// faster, the covariance of a 4-parameter fit 2.5x). The run-time size keeps plain loops (ldlt_rt, ldlt_solve_rt):
// unrolled by 4 with remainders, its copies inlined beside the fixed sizes' made the VarPro path 3-4% slower.

// The size a dispatcher passes for n = k to a body templated on it for systems of at most PMAX: k, or 0 (the run-time
// size) where k > PMAX, so that no copy is compiled for a size the model cannot have.
constexpr int sized(int pmax, int k) { return k <= pmax ? k : 0; }

// The one dispatcher of the small systems (here, in lm.hpp and in varpro.hpp): body(Size<N>{}) with N = sized(PMAX, n)
// for n = 1..4 and N = 0 (the run-time size) otherwise; on the GPU always N = 0 (one body: the unrolled copies,
// inlined into every kernel, multiply nvcc's compile time). The body is a lambda marked LAWFIT_INLINE_LAMBDA.
template <int N>
using Size = std::integral_constant<int, N>;
template <int PMAX, class Body>
LAWFIT_HD LAWFIT_INLINE auto by_size(int n, Body&& body) {
#ifdef __CUDA_ARCH__
  (void)n;
  return body(Size<0>{});
#else
  switch (n) {
    case 1: return body(Size<sized(PMAX, 1)>{});
    case 2: return body(Size<sized(PMAX, 2)>{});
    case 3: return body(Size<sized(PMAX, 3)>{});
    case 4: return body(Size<sized(PMAX, 4)>{});
    default: return body(Size<0>{});
  }
#endif
}

LAWFIT_HD inline bool ldlt_rt(double* a, int n, int ld) {
  double d[32];
  for (int j = 0; j < n; ++j) {
    double dj = a[j * ld + j];
    for (int k = 0; k < j; ++k) dj -= a[j * ld + k] * a[j * ld + k] * d[k];
    if (!(dj > 0.0) || !std::isfinite(dj)) return false;
    d[j] = dj;
    const double inv = 1.0 / dj;
    a[j * ld + j] = inv;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * ld + j];
      for (int k = 0; k < j; ++k) s -= a[i * ld + k] * a[j * ld + k] * d[k];
      a[i * ld + j] = s * inv;
    }
  }
  return true;
}

LAWFIT_HD inline void ldlt_solve_rt(const double* l, int n, int ld, double* b) {
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= l[i * ld + k] * b[k];
    b[i] = s;
  }
  for (int i = 0; i < n; ++i) b[i] *= l[i * ld + i];
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int k = i + 1; k < n; ++k) s -= l[k * ld + i] * b[k];
    b[i] = s;
  }
}

// The same two bodies for a fixed size N > 0, unrolled (N = 0: the run-time ones above).
template <int N>
LAWFIT_HD LAWFIT_INLINE bool ldlt_n(double* a, int n_rt, int ld) {
  if constexpr (N == 0) {
    return ldlt_rt(a, n_rt, ld);
  } else {
    double d[N];
    LAWFIT_UNROLL
    for (int j = 0; j < N; ++j) {
      double dj = a[j * ld + j];
      LAWFIT_UNROLL
      for (int k = 0; k < j; ++k) dj -= a[j * ld + k] * a[j * ld + k] * d[k];
      if (!(dj > 0.0) || !std::isfinite(dj)) return false;
      d[j] = dj;
      const double inv = 1.0 / dj;
      a[j * ld + j] = inv;
      LAWFIT_UNROLL
      for (int i = j + 1; i < N; ++i) {
        double s = a[i * ld + j];
        LAWFIT_UNROLL
        for (int k = 0; k < j; ++k) s -= a[i * ld + k] * a[j * ld + k] * d[k];
        a[i * ld + j] = s * inv;
      }
    }
    return true;
  }
}

// (T: double, or for a fixed N any number type with arithmetic, e.g. the vector lanes' 4 doubles, core/fit/lanes.hpp)
template <int N, class T>
LAWFIT_HD LAWFIT_INLINE void ldlt_solve_n(const T* l, int n_rt, int ld, T* b) {
  if constexpr (N == 0) {
    ldlt_solve_rt(l, n_rt, ld, b);
  } else {
    LAWFIT_UNROLL
    for (int i = 0; i < N; ++i) {
      T s = b[i];
      LAWFIT_UNROLL
      for (int k = 0; k < i; ++k) s -= l[i * ld + k] * b[k];
      b[i] = s;
    }
    LAWFIT_UNROLL
    for (int i = 0; i < N; ++i) b[i] *= l[i * ld + i];
    LAWFIT_UNROLL
    for (int i = N - 1; i >= 0; --i) {
      T s = b[i];
      LAWFIT_UNROLL
      for (int k = i + 1; k < N; ++k) s -= l[k * ld + i] * b[k];
      b[i] = s;
    }
  }
}

LAWFIT_HD LAWFIT_INLINE bool ldlt(double* a, int n, int ld) {
  return by_size<4>(n, [&](auto N) LAWFIT_INLINE_LAMBDA { return ldlt_n<N()>(a, n, ld); });
}

// Solve L D L^T x = b in place (b overwritten with x), factor from ldlt().
LAWFIT_HD LAWFIT_INLINE void ldlt_solve(const double* l, int n, int ld, double* b) {
  by_size<4>(n, [&](auto N) LAWFIT_INLINE_LAMBDA { ldlt_solve_n<N()>(l, n, ld, b); });
}

// Inverse of a symmetric positive-definite matrix (n x n, n <= PMAX, leading dimension PMAX) into inv (same layout).
// Returns false if a is singular; inv is then filled with NaN. Dispatched by size as ldlt().
template <int PMAX, int N>
LAWFIT_HD inline bool spd_inverse_n(const double* a, int n_rt, double* inv, double* work) {
  const int n = N > 0 ? N : (n_rt < PMAX ? n_rt : PMAX);  // (n <= PMAX always: said so for the compiler)
  LAWFIT_UNROLL
  for (int i = 0; i < n; ++i)
    LAWFIT_UNROLL
    for (int j = 0; j < n; ++j) work[i * PMAX + j] = a[i * PMAX + j];
  if (!ldlt_n<N>(work, n, PMAX)) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) inv[i * PMAX + j] = kNaN;
    return false;
  }
  LAWFIT_UNROLL
  for (int j = 0; j < n; ++j) {
    double col[PMAX] = {};  // (zeroed: GCC cannot see that the loop below fills what the solve reads)
    LAWFIT_UNROLL
    for (int i = 0; i < n; ++i) col[i] = (i == j) ? 1.0 : 0.0;
    ldlt_solve_n<N>(work, n, PMAX, col);
    LAWFIT_UNROLL
    for (int i = 0; i < n; ++i) inv[i * PMAX + j] = col[i];
  }
  return true;
}
template <int PMAX>
LAWFIT_HD inline bool spd_inverse(const double* a, int n, double* inv, double* work) {
  return by_size<PMAX>(n, [&](auto N) LAWFIT_INLINE_LAMBDA { return spd_inverse_n<PMAX, N()>(a, n, inv, work); });
}

}  // namespace lawfit::fit
