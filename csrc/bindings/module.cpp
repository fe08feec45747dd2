// The extension module lawfit._core: collects the functions every binding file registered.
#include <pybind11/pybind11.h>

#include <thread>

#include "bindings/registry.hpp"
#include "core/common.hpp"

namespace lawfit::bindings {
std::vector<RegisterFn>& registry() {
  static std::vector<RegisterFn> fns;
  return fns;
}
}  // namespace lawfit::bindings

#ifndef LAWFIT_VERSION
#define LAWFIT_VERSION "0.0.0"
#endif
#ifndef LAWFIT_COMPILER
#define LAWFIT_COMPILER "unknown"
#endif

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  m.doc() = "lawfit native core (C++" 
#ifdef LAWFIT_WITH_CUDA
            " with CUDA"
#endif
            ")";
  m.attr("__version__") = LAWFIT_VERSION;
  m.def("build_info", []() {
    py::dict d;
    d["version"] = LAWFIT_VERSION;
    d["compiler"] = LAWFIT_COMPILER;
    d["hardware_threads"] = static_cast<int>(std::thread::hardware_concurrency());
    d["max_threads"] = lawfit::effective_threads(1 << 30);  // threads= above this is capped
#ifdef LAWFIT_WITH_CUDA
    d["cuda"] = true;
#else
    d["cuda"] = false;
#endif
    py::list simd;
#ifdef __SSE2__
    simd.append("SSE2");
#endif
#ifdef __AVX__
    simd.append("AVX");
#endif
#ifdef __AVX2__
    simd.append("AVX2");
#endif
#ifdef __AVX512F__
    simd.append("AVX512F");
#endif
#ifdef __ARM_NEON
    simd.append("NEON");
#endif
    d["simd"] = simd;
#ifdef LAWFIT_SIMD_MATH
    d["vector_math"] = "libmvec";
#else
    d["vector_math"] = "none";
#endif
    d["parallel"] = "std::thread pool";
    return d;
  });
  for (auto fn : lawfit::bindings::registry()) fn(m);
}
