// The solver kernels' ABI: what lawfit._core finds in the kernel library it loads at import (bindings/kernels.cpp).
//
// The batched solvers (fit_batch and bootstrap_batch of every built-in law and of compiled formulas: the hot loops,
// vectorised with libmvec's exp/log/pow where the build has it) are compiled into small shared libraries, one per
// CPU level: `_kernels_baseline` (the architecture's baseline instruction set, scalar libm: no libmvec needed) and,
// on x86-64, `_kernels_avx2` (AVX2 + FMA, vector math). lawfit._core picks one at import by cpuid (LAWFIT_CPU
// overrides; see bindings/kernels.cpp) and falls back to the baseline when the faster one cannot load. Each
// library exports one symbol, lawfit_kernels_v1(); everything else in it is local, so its inline functions and
// template instances (built with its own flags) never mix with _core's.
//
// Nothing may be thrown across the boundary: every entry point returns a KernelCode and fills KernelError.
#pragma once
#include <cstdint>

#include "core/common.hpp"
#include "core/fit/batch.hpp"
#include "core/fit/formula.hpp"
#include "core/sample/bootstrap.hpp"

namespace lawfit::kernels {

constexpr int kAbiVersion = 2;  // 2: StartSpec::grid (kScanAuto)
constexpr int kMaxLaws = 64;

enum KernelCode : int { KERNEL_OK = 0, KERNEL_INTERRUPTED = 1, KERNEL_INVALID = 2, KERNEL_NO_MEMORY = 3, KERNEL_ERROR = 4 };

struct KernelError {
  char message[512];
};

using FitLawFn = int (*)(const fit::BatchInput*, const fit::StartSpec*, const fit::Options*, const fit::BatchOutput*,
                         int threads, KernelError*);
using BootLawFn = int (*)(const fit::BatchInput*, const double* p_hat, const std::int32_t* fit_status, i64 R,
                          int method, std::uint64_t seed, const fit::Options*, const sample::BootstrapOutput*,
                          int threads, KernelError*);
using FitFormulaFn = int (*)(const fit::FormulaModel*, const fit::BatchInput*, const fit::StartSpec*,
                             const fit::Options*, const fit::BatchOutput*, int threads, KernelError*);
using BootFormulaFn = int (*)(const fit::FormulaModel*, const fit::BatchInput*, const double* p_hat,
                              const std::int32_t* fit_status, i64 R, int method, std::uint64_t seed,
                              const fit::Options*, const sample::BootstrapOutput*, int threads, KernelError*);

struct KernelTable {
  int abi;                  // kAbiVersion
  const char* level;        // "baseline" or "avx2"
  const char* vector_math;  // "libmvec" or "none"
  const char* flags;        // the compiler flags of the level
  int n_laws;               // laws in LAWFIT_FOR_EACH_LAW order
  const char* law_names[kMaxLaws];
  FitLawFn fit_law[kMaxLaws];
  BootLawFn boot_law[kMaxLaws];
  FitFormulaFn fit_formula;
  BootFormulaFn boot_formula;
  void (*set_poll_hook)(PollHook);  // _core's Ctrl-C / progress hook, for the library's own parallel_for
};

using EntryFn = const KernelTable* (*)();
constexpr const char* kEntryName = "lawfit_kernels_v1";

// A user formula compiled to native code at run time (python/lawfit/_jit.py generates a law struct from the
// formula's tape and compiles it with kernels/jit_main.inc into a library of its own). Its fit and bootstrap are the
// built-in laws' solvers instantiated for that law; the FormulaModel they are handed is the same formula's tape
// (used only to check the parameter and input counts). The library exports lawfit_jit_v1() only.
struct JitTable {
  int abi;          // kAbiVersion
  const char* key;  // the cache key the library was built under (the loader checks it)
  int n_params, n_inputs;
  FitFormulaFn fit;
  BootFormulaFn boot;
  void (*set_poll_hook)(PollHook);
  // The generated law's value and gradient at n points x[n * n_inputs] with parameters p[n_params]:
  // out[i * (n_params + 1)] the value, then df/dp (for tests against the bytecode evaluator).
  void (*eval)(const double* x, i64 n, const double* p, double* out);
  // The benchmarks' floor (bench/bench_peers.py "limit" row): the model's value and gradient at every point of B
  // curves of n points (x[B * n * n_inputs], p[B * n_params]), evaluated as the solvers evaluate a block
  // (core/fit/lm.hpp eval_points) and nothing else; returns a checksum.
  double (*eval_floor)(const double* x, i64 B, i64 n, const double* p);
};

using JitEntryFn = const JitTable* (*)();
constexpr const char* kJitEntryName = "lawfit_jit_v1";

}  // namespace lawfit::kernels
