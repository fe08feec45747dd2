// Array helpers for the bindings: inputs must already be C-contiguous with the right dtype (the Python
// layer converts and says when it copies), so nothing here copies silently.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace lawfit::bindings {
namespace py = pybind11;

template <class T>
const T* in_ptr(const py::array& a, const char* op, const char* name, py::ssize_t expect_size = -1) {
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": argument '" + name + "' must be a C-contiguous " +
                          py::str(py::dtype::of<T>()).cast<std::string>() + " array");
  if (expect_size >= 0 && a.size() != expect_size)
    throw py::value_error(std::string(op) + ": argument '" + name + "' has " + std::to_string(a.size()) +
                          " elements, expected " + std::to_string(expect_size));
  return static_cast<const T*>(a.data());
}

template <class T>
const T* opt_ptr(const py::object& o, const char* op, const char* name, py::ssize_t expect_size = -1) {
  if (o.is_none()) return nullptr;
  return in_ptr<T>(o.cast<py::array>(), op, name, expect_size);
}

// CSR offsets of `name` (e.g. "offsets", "reference_offsets"): at least one element, starting at 0, ending at
// n_total (the length of the data they index, named y_name in messages), non-decreasing. Returns the pointer
// and sets *n_curves.
inline void check_csr(const std::int64_t* off, py::ssize_t C, py::ssize_t n_total, const char* op,
                      const std::string& name, const std::string& y_name) {
  if (off[0] != 0 || off[C] != n_total)
    throw py::value_error(std::string(op) + ": '" + name + "' must start at 0 and end at len(" + y_name + ")");
  for (py::ssize_t c = 0; c < C; ++c)
    if (off[c + 1] < off[c]) throw py::value_error(std::string(op) + ": '" + name + "' must be non-decreasing");
}

inline const std::int64_t* csr_offsets(const py::array& offsets, const char* op, const std::string& name,
                                       py::ssize_t n_total, const std::string& y_name, py::ssize_t* n_curves) {
  const py::ssize_t C = offsets.size() - 1;
  if (C < 0) throw py::value_error(std::string(op) + ": '" + name + "' must have at least one element");
  const std::int64_t* off = in_ptr<std::int64_t>(offsets, op, name.c_str());
  check_csr(off, C, n_total, op, name, y_name);
  *n_curves = C;
  return off;
}

}  // namespace lawfit::bindings
