// The AVX2 level's 2-wide vector math: GCC vectorises some loops (and the remainders of others) two lanes wide and
// calls libmvec's SSE variants (_ZGVbN2v_*) for them. Those are legacy-SSE code: entered from the AVX2 solver with
// the upper halves of the ymm registers in use, every SSE instruction pays a state-transition penalty (measured on
// this project's Xeon: a vector log at ~180 ns instead of a few ns; the fit of 100,000 power-law curves 2.5x
// slower). In the AVX2 library these definitions take the place of libmvec's SSE variants (the library's own
// symbols, hidden, bind first): each widens its argument to four lanes (zeros above) and calls the AVX2 variant.
#if defined(LAWFIT_SIMD_MATH) && defined(__AVX2__)
#include <immintrin.h>

extern "C" {
__m256d _ZGVdN4v_exp(__m256d);
__m256d _ZGVdN4v_log(__m256d);
__m256d _ZGVdN4vv_pow(__m256d, __m256d);

__m128d _ZGVbN2v_exp(__m128d x) { return _mm256_castpd256_pd128(_ZGVdN4v_exp(_mm256_zextpd128_pd256(x))); }
__m128d _ZGVbN2v_log(__m128d x) {
  const __m256d one = _mm256_set1_pd(1.0);  // (log(1) = 0 in the unused lanes: no spurious divide-by-zero flag)
  return _mm256_castpd256_pd128(_ZGVdN4v_log(_mm256_insertf128_pd(one, x, 0)));
}
__m128d _ZGVbN2vv_pow(__m128d x, __m128d y) {
  return _mm256_castpd256_pd128(_ZGVdN4vv_pow(_mm256_zextpd128_pd256(x), _mm256_zextpd128_pd256(y)));
}
}
#endif
