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

constexpr int kAbiVersion = 1;
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

}  // namespace lawfit::kernels
