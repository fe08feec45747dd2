// Array helpers for the bindings: inputs must already be C-contiguous with the right dtype (the Python
// layer converts and says when it copies), so nothing here copies silently.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

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

}  // namespace lawfit::bindings
