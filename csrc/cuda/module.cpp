// lawfit._cuda: the optional CUDA backend's Python entry points, a module of its own. It is built only with the
// CUDA backend (LAWFIT_CUDA=ON, or AUTO on a machine with nvcc and an NVIDIA GPU and driver), so a CPU install
// carries no CUDA code at all; lawfit._device imports it when present and otherwise says how to get it.
//
// Inputs: numpy arrays are copied to the device for the call. fit_law_cuda also takes objects exposing
// __cuda_array_interface__ (torch CUDA tensors, CuPy, Numba arrays) for offsets, x, y and w: those are read in
// place on the device (offsets are also copied to the host once, to be validated). Outputs are numpy arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/cost_common.hpp"
#include "bindings/fit_common.hpp"
#include "core/laws/all.hpp"
#include "cuda/api.hpp"

namespace lawfit::bindings {
namespace {
namespace py = pybind11;

// A usable device, or a RuntimeError naming the operation.
void require_device(const char* op) {
  std::string why;
  if (cuda::device_count(&why) <= 0)
    throw std::runtime_error(std::string(op) + ": device='cuda' but no CUDA device is usable (" + why + ")");
}

// A C-contiguous device array from __cuda_array_interface__ (version 2 or 3): its pointer, after checking the
// dtype (typestr), the element count and that the memory is on the device. Waits for pending device work
// (the producer's stream) before the pointer is used.
template <class T>
const T* cuda_array_ptr(const py::object& o, const char* op, const char* name, const char* typestr, py::ssize_t expect,
                        py::ssize_t* size_out = nullptr) {
  const py::dict cai = o.attr("__cuda_array_interface__").cast<py::dict>();
  const std::string ts = cai["typestr"].cast<std::string>();
  if (ts != typestr)
    throw py::value_error(std::string(op) + ": device argument '" + name + "' must have dtype " + typestr + ", got " +
                          ts);
  const py::tuple shape = cai["shape"].cast<py::tuple>();
  py::ssize_t n = 1;
  std::vector<py::ssize_t> dims;
  for (auto s : shape) {
    dims.push_back(s.cast<py::ssize_t>());
    n *= dims.back();
  }
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    const py::tuple st = cai["strides"].cast<py::tuple>();
    py::ssize_t expect_stride = sizeof(T);
    for (py::ssize_t k = static_cast<py::ssize_t>(dims.size()) - 1; k >= 0; --k) {
      if (dims[k] > 1 && st[k].cast<py::ssize_t>() != expect_stride)
        throw py::value_error(std::string(op) + ": device argument '" + name + "' must be C-contiguous");
      expect_stride *= dims[k];
    }
  }
  if (expect >= 0 && n != expect)
    throw py::value_error(std::string(op) + ": argument '" + name + "' has " + std::to_string(n) +
                          " elements, expected " + std::to_string(expect));
  if (size_out) *size_out = n;
  const py::tuple data = cai["data"].cast<py::tuple>();
  const auto ptr = reinterpret_cast<const T*>(data[0].cast<std::uintptr_t>());
  if (n > 0 && !cuda::is_device_pointer(ptr))
    throw py::value_error(std::string(op) + ": argument '" + name +
                          "' exposes __cuda_array_interface__ but its memory is not on the current CUDA device");
  return ptr;
}

bool is_cuda_array(const py::object& o) { return !o.is_none() && py::hasattr(o, "__cuda_array_interface__"); }

py::dict fit_law_cuda(const std::string& law, py::object offsets, py::object x, py::object y, py::object w,
                      py::object lower, py::object upper, py::object starts, py::ssize_t n_random, py::object rand_lo,
                      py::object rand_hi, bool project_linear, std::uint64_t seed, int loss, double delta, int space,
                      double ftol, double xtol, double gtol, int max_iter, int threads, bool want_cov,
                      py::object keys, bool varpro, int scan) {
  const char* op = "fit";
  int P = -1, D = -1;
#define X(L)               \
  if (law == laws::L::name) { \
    P = laws::L::P;        \
    D = laws::L::D;        \
  }
  LAWFIT_FOR_EACH_LAW(X)
#undef X
  if (P < 0) throw py::value_error("unknown law '" + law + "'");
  require_device("fit");
  const bool dev = is_cuda_array(x) || is_cuda_array(y) || is_cuda_array(offsets) || is_cuda_array(w);
  FitArgs a = fit_args_from(py::array(), py::array(), py::array(), w, lower, upper, starts, n_random, rand_lo,
                            rand_hi, project_linear, seed, loss, delta, space, ftol, xtol, gtol, max_iter, threads,
                            want_cov, keys, varpro, scan);
  FitInputs fi;
  std::vector<i64> host_off;
  if (dev) {
    if (!is_cuda_array(x) || !is_cuda_array(y) || !is_cuda_array(offsets) || !(w.is_none() || is_cuda_array(w)))
      throw py::value_error("fit: device inputs must be all on the device or all on the host "
                            "(offsets, x, y and w when given)");
    py::ssize_t n_off = 0, n_total = 0;
    const i64* doff = cuda_array_ptr<i64>(offsets, op, "offsets", "<i8", -1, &n_off);
    if (n_off < 1) throw py::value_error("fit: 'offsets' must have at least one element");
    const double* dy = cuda_array_ptr<double>(y, op, "y", "<f8", -1, &n_total);
    host_off.resize(n_off);
    {
      py::gil_scoped_release release;
      cuda::copy_to_host(host_off.data(), doff, n_off);
    }
    fi.B = n_off - 1;
    fi.offsets = host_off.data();
    fi.n_total = n_total;
    check_csr(fi.offsets, fi.B, n_total, op, "offsets", "y");
    fi.x = cuda_array_ptr<double>(x, op, "x", "<f8", n_total * D);
    fi.y = dy;
    fi.w = w.is_none() ? nullptr : cuda_array_ptr<double>(w, op, "w", "<f8", n_total);
  } else {
    a.offsets = offsets.cast<py::array>();
    a.x = x.cast<py::array>();
    a.y = y.cast<py::array>();
    fi = host_fit_inputs(a, D);
  }
  FitCall fc = fit_setup(P, D, a, fi);
  cuda::FitJob job;
  job.in = fc.in;
  job.inputs_on_device = dev;
  job.n_total = fi.n_total;
  job.st = fc.st;
  job.o = fc.o;
  job.out = fc.out;
  {
    py::gil_scoped_release release;
    cuda::fit_law(law, job);
  }
  return fc.result;
}

py::dict cost_evaluate_cuda(const py::list& fields, const py::array& strides, i64 n, const py::dict& assume,
                            const std::vector<std::string>& outputs) {
  FieldArgs fa = field_args(fields, strides, n, get(assume, "ffn_mult", 4.0, "cost.evaluate"), "cost.evaluate");
  const Assumptions a = assumptions_from(assume, "cost.evaluate");
  require_device("cost.evaluate");
  CostOutputs o = cost_outputs(outputs, n, "cost.evaluate");
  {
    py::gil_scoped_release release;
    cuda::cost_evaluate(fa.f, n, a, o.ptr.data());
  }
  return o.res;
}

}  // namespace
}  // namespace lawfit::bindings

PYBIND11_MODULE(_cuda, m) {
  namespace py = pybind11;
  using namespace lawfit;
  using namespace lawfit::bindings;
  m.doc() = "lawfit CUDA backend";
  m.attr("__version__") = LAWFIT_VERSION;
  m.def(
      "cuda_available", []() { return cuda::device_count(nullptr) > 0; },
      "True when a CUDA device is usable.");
  m.def(
      "cuda_status",
      []() {
        py::dict d;
        std::string why;
        const int n = cuda::device_count(&why);
        d["built"] = true;
        d["devices"] = n;
        d["device"] = n > 0 ? py::object(py::str(cuda::device_name())) : py::object(py::none());
        d["reason"] = n > 0 ? py::object(py::none()) : py::object(py::str(why));
        return d;
      },
      "How many devices the CUDA backend sees, the current device, or why none is usable.");
  m.def("fit_law_cuda", &fit_law_cuda, py::arg("law"), LAWFIT_FIT_KWARGS,
        "fit_law on the current CUDA device (same arguments and results; `threads` is ignored). numpy inputs are "
        "copied to the device; offsets/x/y/w exposing __cuda_array_interface__ are used in place.");
  m.def("cost_evaluate_cuda", &cost_evaluate_cuda, py::arg("fields"), py::arg("strides"), py::arg("n"),
        py::arg("assumptions"), py::arg("outputs"), "cost_evaluate on the current CUDA device.");
}
