// Vector math for the per-point loops of the solvers (CPU builds that have it; CMakeLists.txt defines
// LAWFIT_SIMD_MATH when glibc's libmvec links). libmvec provides SIMD versions of exp, log and pow; declaring them
// lets the compiler vectorise loops over points that call them. LAWFIT_SIMD marks the loops that should be
// vectorised. The vector versions are accurate to 4 ulp (glibc's scalar ones to 1).
//
// Scope: only translation units that include the solvers (core/fit/lm.hpp) see these declarations. The cost
// models, law evaluation (lawfit.eval) and the planning reductions keep scalar libm, so their bit-exact
// contracts (e.g. a separable law's term sum equals eval, law.hpp) do not depend on what the compiler
// vectorises.
#pragma once
#include "core/common.hpp"

#if defined(LAWFIT_SIMD_MATH) && !defined(__CUDACC__)
#include <math.h>
extern "C" {
#pragma omp declare simd notinbranch
double exp(double) noexcept;
#pragma omp declare simd notinbranch
double log(double) noexcept;
#pragma omp declare simd notinbranch
double pow(double, double) noexcept;
}
#define LAWFIT_SIMD _Pragma("omp simd")
#else
#define LAWFIT_SIMD
#endif
