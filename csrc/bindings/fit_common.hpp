// Shared glue between Python and core/fit/batch.hpp for any model (built-in law or compiled formula).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.hpp"
#include "bindings/kernels.hpp"
#include "core/fit/batch.hpp"
#include "core/fit/shared.hpp"

namespace lawfit::bindings {
namespace py = pybind11;

struct FitArgs {
  py::array offsets, x, y;
  py::object w, lower, upper, starts;
  py::ssize_t n_random;
  py::object rand_lo, rand_hi;
  bool project_linear;
  std::uint64_t seed;
  int loss;
  double delta;
  int space;
  double ftol, xtol, gtol;
  int max_iter;
  int threads;
  bool want_cov;
  py::object keys;  // [B] uint64 random-stream key per curve, or None (the curve's index)
  bool varpro;      // variable projection where it applies (core/fit/varpro.hpp); false: LM on all parameters
  int scan;         // fit::StartSpec::scan: the best `scan` starts by projected cost; -1: the grid's local minima; 0: all
};

// Solver options from the binding's codes, checked; op names the entry point in the error.
inline fit::Options solver_options(const char* op, int loss, double delta, int space, double ftol, double xtol,
                                   double gtol, int max_iter) {
  const std::string w(op);
  if (loss < 0 || loss > 3) throw py::value_error(w + ": unknown loss code");
  if (space < 0 || space > 1) throw py::value_error(w + ": unknown space code");
  if (!(delta > 0.0)) throw py::value_error(w + ": 'delta' must be > 0");
  if (max_iter < 1) throw py::value_error(w + ": 'max_iter' must be >= 1");
  fit::Options o;
  o.loss = static_cast<Loss>(loss);
  o.delta = delta;
  o.space = static_cast<Space>(space);
  o.ftol = ftol;
  o.xtol = xtol;
  o.gtol = gtol;
  o.max_iter = max_iter;
  return o;
}

inline fit::Options fit_options(const FitArgs& a) {
  fit::Options o = solver_options("fit", a.loss, a.delta, a.space, a.ftol, a.xtol, a.gtol, a.max_iter);
  o.varpro = a.varpro;
  return o;
}

// The CSR inputs of a fit: offsets readable on the host (validated here); x, y, w host or device pointers.
struct FitInputs {
  const i64* offsets;  // [B+1] host
  i64 B;
  i64 n_total;
  const double* x;  // [n_total, d]
  const double* y;  // [n_total]
  const double* w;  // [n_total] or null
};

inline FitInputs host_fit_inputs(const FitArgs& a, int d) {
  const char* op = "fit";
  FitInputs fi;
  fi.n_total = a.y.size();
  py::ssize_t B = 0;
  fi.offsets = csr_offsets(a.offsets, op, "offsets", fi.n_total, "y", &B);
  fi.B = B;
  fi.x = in_ptr<double>(a.x, op, "x", fi.n_total * d);
  fi.y = in_ptr<double>(a.y, op, "y", fi.n_total);
  fi.w = opt_ptr<double>(a.w, op, "w", fi.n_total);
  return fi;
}

// Everything fit::fit_batch (or its GPU twin) needs, checked, with the output arrays allocated.
struct FitCall {
  fit::BatchInput in;
  fit::StartSpec st;
  fit::Options o;
  fit::BatchOutput out;
  py::dict result;  // the output arrays, filled by the call
};

inline FitCall fit_setup(int np, int d, const FitArgs& a, const FitInputs& fi) {
  const char* op = "fit";
  const py::ssize_t B = fi.B;
  FitCall fc;
  fit::BatchInput& in = fc.in;
  in.offsets = fi.offsets;
  in.B = B;
  in.d = d;
  in.x = fi.x;
  in.y = fi.y;
  in.w = fi.w;
  const py::ssize_t nb = a.lower.cast<py::array>().size();
  if (nb != np && nb != B * np) throw py::value_error("fit: 'lower' must have P or B*P elements");
  in.per_curve_bounds = (nb == B * np) && B != 1;
  in.lower = opt_ptr<double>(a.lower, op, "lower", nb);
  in.upper = opt_ptr<double>(a.upper, op, "upper", nb);
  in.keys = opt_ptr<std::uint64_t>(a.keys, op, "keys", B);

  fit::StartSpec& st = fc.st;
  st.project_linear = a.project_linear;
  st.seed = a.seed;
  if (a.scan < fit::kScanAuto) throw py::value_error("fit: 'scan' must be -1 (auto: the grid's local minima), 0 (all) or >= 1");
  st.scan = a.scan;
  if (!a.starts.is_none()) {
    const py::array s = a.starts.cast<py::array>();
    if (s.ndim() == 2) {
      st.S = s.shape(0);
      st.per_curve = false;
    } else if (s.ndim() == 3) {
      if (s.shape(0) != B) throw py::value_error("fit: per-curve 'starts' must have shape [B, S, P]");
      st.S = s.shape(1);
      st.per_curve = true;
    } else {
      throw py::value_error("fit: 'starts' must have shape [S, P] or [B, S, P]");
    }
    if (s.shape(s.ndim() - 1) != np) throw py::value_error("fit: 'starts' last dimension must equal P");
    if (st.S < 1) throw py::value_error("fit: 'starts' is empty");
    st.starts = in_ptr<double>(s, op, "starts");
  } else {
    if (a.n_random < 1) throw py::value_error("fit: 'n_random' must be >= 1");
    st.S = a.n_random;
    st.rand_lo = opt_ptr<double>(a.rand_lo, op, "rand_lo", np);
    st.rand_hi = opt_ptr<double>(a.rand_hi, op, "rand_hi", np);
    if (!st.rand_lo || !st.rand_hi) throw py::value_error("fit: random starts need 'rand_lo' and 'rand_hi'");
  }
  fc.o = fit_options(a);

  py::array_t<double> params({B, static_cast<py::ssize_t>(np)});
  py::array_t<double> cost(B);
  py::array_t<std::int32_t> iters(B), status(B);
  py::array_t<std::int64_t> best(B), npts(B);
  py::object cov_obj = py::none();
  double* cov_ptr = nullptr;
  if (a.want_cov) {
    py::array_t<double> cov({B, static_cast<py::ssize_t>(np), static_cast<py::ssize_t>(np)});
    cov_ptr = cov.mutable_data();
    cov_obj = cov;
  }
  fc.out = fit::BatchOutput{params.mutable_data(), cost.mutable_data(), cov_ptr,     iters.mutable_data(),
                            status.mutable_data(), best.mutable_data(), npts.mutable_data()};
  fc.result["params"] = params;
  fc.result["cost"] = cost;
  fc.result["cov"] = cov_obj;
  fc.result["iters"] = iters;
  fc.result["status"] = status;
  fc.result["best_start"] = best;
  fc.result["n_points"] = npts;
  return fc;
}

// Run a solver kernel (kernels/api.hpp, the library loaded for this CPU) on a checked fit call, without the GIL:
// call(fc, &err) returns the kernel's code.
template <class Call>
py::dict run_fit_kernel(int np, int d, const FitArgs& a, Call&& call) {
  FitCall fc = fit_setup(np, d, a, host_fit_inputs(a, d));
  kernels::KernelError err;
  int rc;
  {
    py::gil_scoped_release release;
    rc = call(fc, &err);
  }
  check_kernel(rc, err);
  return fc.result;
}

// Joint fit with shared parameters: `shared` is a bool mask [P]; starts [S, P] common to all curves.
template <class Model>
py::dict run_shared_model(const Model& m, const FitArgs& a, py::array shared_mask) {
  const int np = m.n_params();
  if (a.starts.is_none()) throw py::value_error("fit: shared fits need explicit joint 'starts' [S, P]");
  const py::array s = a.starts.cast<py::array>();
  if (s.ndim() != 2 || s.shape(1) != np) throw py::value_error("fit: shared fits take 'starts' of shape [S, P]");
  const bool* mask = in_ptr<bool>(shared_mask, "fit", "shared", np);
  int ns = 0;
  for (int j = 0; j < np; ++j) ns += mask[j] ? 1 : 0;
  if (ns == 0) throw py::value_error("fit: 'shared' names no parameter");
  FitCall fc = fit_setup(np, m.n_inputs(), a, host_fit_inputs(a, m.n_inputs()));
  const fit::BatchOutput& o = fc.out;
  const fit::SharedOutput out{o.params, o.cost, o.cov, o.iters, o.status, o.best_start, o.n_points};
  {
    py::gil_scoped_release release;
    fit::fit_shared(m, fc.in, mask, fc.st.starts, fc.st.S, a.project_linear, fc.o, out, a.threads);
  }
  return fc.result;
}

inline FitArgs fit_args_from(py::array offsets, py::array x, py::array y, py::object w, py::object lower,
                             py::object upper, py::object starts, py::ssize_t n_random, py::object rand_lo,
                             py::object rand_hi, bool project_linear, std::uint64_t seed, int loss, double delta,
                             int space, double ftol, double xtol, double gtol, int max_iter, int threads,
                             bool want_cov, py::object keys, bool varpro, int scan) {
  return FitArgs{offsets, x,     y,     w,    lower, upper,    starts,  n_random, rand_lo, rand_hi, project_linear,
                 seed,    loss,  delta, space, ftol, xtol,     gtol,    max_iter, threads, want_cov, keys, varpro, scan};
}

#define LAWFIT_FIT_KWARGS                                                                                     \
  py::arg("offsets"), py::arg("x"), py::arg("y"), py::arg("w") = py::none(), py::arg("lower"),              \
      py::arg("upper"), py::arg("starts") = py::none(), py::arg("n_random") = 0,                            \
      py::arg("rand_lo") = py::none(), py::arg("rand_hi") = py::none(), py::arg("project_linear") = false, \
      py::arg("seed") = 0, py::arg("loss") = 0, py::arg("delta") = 1.0, py::arg("space") = 0,               \
      py::arg("ftol") = 1e-8, py::arg("xtol") = 1e-8, py::arg("gtol") = 1e-8, py::arg("max_iter") = 200,   \
      py::arg("threads") = 0, py::arg("want_cov") = true, py::arg("keys") = py::none(), \
      py::arg("varpro") = true, py::arg("scan") = 0

}  // namespace lawfit::bindings
