// The number types a law's evaluation is written for (eval_t, core/laws/law.hpp): double everywhere, and in the
// CPU kernels built with AVX2, FMA and glibc's libmvec (LAWFIT_LANES) four doubles as one value (GCC's vector
// extension) for the vector-lane solver (core/fit/lanes.hpp), one curve per lane. vm::exp and vm::log are the math
// a law calls on T: for double the same call as std::exp / std::log (so eval_t<double> is the law's scalar
// evaluation, bit for bit), for the 4 lanes libmvec's 4-wide AVX2 variants (accurate to 4 ulp).
// (No `declare simd` here, unlike core/vmath.hpp: including this header changes nothing in scalar code.)
#pragma once
#include <cmath>

#include "core/common.hpp"

namespace lawfit::vm {
LAWFIT_HD inline double exp(double v) { return std::exp(v); }
LAWFIT_HD inline double log(double v) { return std::log(v); }
LAWFIT_HD inline double pow(double v, double e) { return std::pow(v, e); }
LAWFIT_HD inline double sqrt(double v) { return std::sqrt(v); }
// A constant as a T (a literal cannot initialise a vector).
template <class T>
LAWFIT_HD inline T cst(double v) {
  return T{} + v;
}
template <>
LAWFIT_HD inline double cst<double>(double v) {
  return v;
}
}  // namespace lawfit::vm

#if defined(LAWFIT_SIMD_MATH) && defined(__AVX2__) && defined(__FMA__) && !defined(__CUDACC__)
#define LAWFIT_LANES 1
#include <immintrin.h>
extern "C" {
__m256d _ZGVdN4v_exp(__m256d);
__m256d _ZGVdN4v_log(__m256d);
__m256d _ZGVdN4vv_pow(__m256d, __m256d);
}
namespace lawfit::vm {
typedef double V4 __attribute__((vector_size(32)));
typedef long long I4 __attribute__((vector_size(32)));
inline V4 exp(V4 v) { return (V4)_ZGVdN4v_exp((__m256d)v); }
inline V4 log(V4 v) { return (V4)_ZGVdN4v_log((__m256d)v); }
inline V4 pow(V4 v, double e) { return (V4)_ZGVdN4vv_pow((__m256d)v, _mm256_set1_pd(e)); }
inline V4 sqrt(V4 v) { return (V4)_mm256_sqrt_pd((__m256d)v); }
}  // namespace lawfit::vm
#endif
