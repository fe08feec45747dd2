// Small dense linear algebra for the per-curve solvers: fixed-capacity arrays, no allocation.
#pragma once
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
LAWFIT_HD inline bool ldlt(double* a, int n, int ld) {
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

// Solve L D L^T x = b in place (b overwritten with x), factor from ldlt().
LAWFIT_HD inline void ldlt_solve(const double* l, int n, int ld, double* b) {
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

// Inverse of a symmetric positive-definite matrix (n x n, leading dimension ld) into inv (same layout).
// Returns false if a is singular; inv is then filled with NaN.
LAWFIT_HD inline bool spd_inverse(const double* a, int n, int ld, double* inv, double* work) {
  for (int i = 0; i < n * ld; ++i) work[i] = a[i];
  if (!ldlt(work, n, ld)) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) inv[i * ld + j] = kNaN;
    return false;
  }
  for (int j = 0; j < n; ++j) {
    double col[32];
    for (int i = 0; i < n; ++i) col[i] = (i == j) ? 1.0 : 0.0;
    ldlt_solve(work, n, ld, col);
    for (int i = 0; i < n; ++i) inv[i * ld + j] = col[i];
  }
  return true;
}

}  // namespace lawfit::fit
