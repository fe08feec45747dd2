// Each binding file registers its functions with LAWFIT_REGISTER_BINDINGS(fn); module.cpp calls them all.
// This keeps every feature's bindings in its own file (fit, formula, sample, cost, evals, ...).
#pragma once
#include <pybind11/pybind11.h>

#include <vector>

namespace lawfit::bindings {
namespace py = pybind11;
using RegisterFn = void (*)(py::module_&);
std::vector<RegisterFn>& registry();
struct Registrar {
  explicit Registrar(RegisterFn fn) { registry().push_back(fn); }
};
}  // namespace lawfit::bindings

#define LAWFIT_REGISTER_BINDINGS(fn) static ::lawfit::bindings::Registrar lawfit_registrar_##fn(&fn)
