// lawfit._core's view of the solver kernel library it loaded (kernels/api.hpp; loader in kernels.cpp).
#pragma once
#include <pybind11/pybind11.h>

#include <string>

#include "kernels/api.hpp"

namespace lawfit::bindings {

struct LoadedKernels {
  const kernels::KernelTable* table = nullptr;
  std::string path;       // the library file
  std::string requested;  // LAWFIT_CPU: auto, baseline or avx2
  std::string fallback;   // why a faster level was not used ("" if none was skipped)
  std::string cpu;        // CPU features seen by cpuid, e.g. "avx2 fma avx512f"
};

// Load the kernel library once (module init); throws std::runtime_error (-> ImportError) if none loads.
const LoadedKernels& load_kernels(PollHook hook);
const kernels::KernelTable& kernel_table();
// The kernel index of a built-in law (LAWFIT_FOR_EACH_LAW order, checked against the library's names at load).
int kernel_law_index(const char* name);
// Load a formula's native library (kernels/api.hpp, JitTable; built by python/lawfit/_jit.py) and return its handle
// (libraries stay loaded; the same path twice gives the same handle). Throws std::runtime_error naming the reason when
// the library cannot load, lacks the entry point, or was built under another key or ABI.
int load_jit(const std::string& path, const std::string& key);
const kernels::JitTable& jit_table(int handle);
// Re-throw a kernel's KernelCode as the exception it stands for (Interrupted, ValueError, MemoryError, ...).
void check_kernel(int code, const kernels::KernelError& err);

}  // namespace lawfit::bindings
