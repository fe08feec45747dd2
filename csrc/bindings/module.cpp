// The extension module lawfit._core: collects the functions every binding file registered.
#include <pybind11/pybind11.h>

#include <string>
#include <thread>

#include "bindings/kernels.hpp"
#include "bindings/registry.hpp"
#include "core/common.hpp"

namespace lawfit::bindings {
std::vector<RegisterFn>& registry() {
  static std::vector<RegisterFn> fns;
  return fns;
}

namespace {
// The Python exception that stopped a native loop (fetched by the poll hook, restored by the translator), and
// the progress callback of the calling thread (set by lawfit._progress around a call).
PyObject *g_exc_type = nullptr, *g_exc_value = nullptr, *g_exc_tb = nullptr;
thread_local PyObject* t_progress = nullptr;

// core/common.hpp poll_hook: deliver pending signals (Ctrl-C) and report progress; true stops the loop.
bool poll_python(i64 done, i64 total) {
  pybind11::gil_scoped_acquire gil;
  bool stop = PyErr_CheckSignals() != 0;  // runs the Python signal handlers (main thread only)
  if (!stop && t_progress) {
    PyObject* r = PyObject_CallFunction(t_progress, "LL", static_cast<long long>(done), static_cast<long long>(total));
    stop = r == nullptr;  // an exception raised by the callback stops the call too
    Py_XDECREF(r);
  }
  if (stop) {
    Py_XDECREF(g_exc_type);
    Py_XDECREF(g_exc_value);
    Py_XDECREF(g_exc_tb);
    PyErr_Fetch(&g_exc_type, &g_exc_value, &g_exc_tb);
  }
  return stop;
}
}  // namespace
}  // namespace lawfit::bindings

#ifndef LAWFIT_VERSION
#define LAWFIT_VERSION "0.0.0"
#endif
#ifndef LAWFIT_COMPILER
#define LAWFIT_COMPILER "unknown"
#endif

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  m.doc() = "lawfit native core (C++; the CUDA backend is the separate module lawfit._cuda)";
  m.attr("__version__") = LAWFIT_VERSION;
  m.def("build_info", []() {
    py::dict d;
    d["version"] = LAWFIT_VERSION;
    d["compiler"] = LAWFIT_COMPILER;
    d["hardware_threads"] = static_cast<int>(std::thread::hardware_concurrency());
    d["max_threads"] = lawfit::effective_threads(1 << 30);  // threads= above this is capped
    // The solver kernels in use (kernels.cpp): their CPU level, vector math and library, and why a faster
    // level was skipped (e.g. the CPU lacks AVX2, or libmvec is missing).
    const lawfit::bindings::LoadedKernels& k = lawfit::bindings::load_kernels(&lawfit::bindings::poll_python);
    d["cpu_level"] = k.table->level;
    d["cpu_level_requested"] = k.requested;
    d["cpu_features"] = k.cpu;
    d["kernel_library"] = k.path;
    d["kernel_flags"] = k.table->flags;
    d["kernel_fallback"] = k.fallback.empty() ? py::object(py::none()) : py::object(py::str(k.fallback));
    py::list simd;
#if defined(__x86_64__) || defined(__i386__)
    simd.append("SSE2");
    if (std::string(k.table->level) == "avx2") {
      simd.append("AVX");
      simd.append("AVX2");
      simd.append("FMA");
    }
#endif
#ifdef __ARM_NEON
    simd.append("NEON");
#endif
    d["simd"] = simd;
    d["vector_math"] = k.table->vector_math;
    // The vector-lane solver (core/fit/lanes.hpp, four curves per AVX2 vector): built where the level has AVX2, FMA
    // and libmvec (LAWFIT_LANES, core/vtype.hpp).
    d["lane_solver"] = std::string(k.table->level) == "avx2" && std::string(k.table->vector_math) == "libmvec";
    d["parallel"] = "std::thread pool";
    return d;
  });
  lawfit::poll_hook() = &lawfit::bindings::poll_python;
  try {
    lawfit::bindings::load_kernels(&lawfit::bindings::poll_python);
  } catch (const std::exception& e) {
    throw pybind11::import_error(e.what());
  }
  py::register_exception_translator([](std::exception_ptr p) {
    using namespace lawfit::bindings;
    try {
      if (p) std::rethrow_exception(p);
    } catch (const lawfit::Interrupted&) {
      if (g_exc_type) {
        PyErr_Restore(g_exc_type, g_exc_value, g_exc_tb);  // steals the references
        g_exc_type = g_exc_value = g_exc_tb = nullptr;
      } else {
        PyErr_SetNone(PyExc_KeyboardInterrupt);
      }
    }
  });
  m.def(
      "_set_progress",
      [](py::object cb) {
        using lawfit::bindings::t_progress;
        Py_XDECREF(t_progress);
        t_progress = cb.is_none() ? nullptr : cb.inc_ref().ptr();
      },
      py::arg("callback"),
      "Progress callback (done, total) of native loops started by this thread, or None.");
  for (auto fn : lawfit::bindings::registry()) fn(m);
}
