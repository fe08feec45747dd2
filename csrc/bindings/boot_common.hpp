// The batched bootstrap binding shared by the built-in laws (bind_sample.cpp) and user formulas
// (bind_formula.cpp): argument checks, conversion, and the call of sample::bootstrap_batch without the GIL.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/arrays.hpp"
#include "bindings/fit_common.hpp"
#include "core/fit/formula.hpp"
#include "core/laws/law.hpp"
#include "core/sample/bootstrap.hpp"

namespace lawfit::bindings {

struct BootArgs {
  py::array offsets, x, y;     // [B+1], [n_total, d], [n_total]
  py::object w;                // [n_total] or None
  py::array lower, upper;      // [P] or [B, P]
  py::array params, status;    // [B, P] full fit, [B] its status
  py::ssize_t n;               // replicates per curve
  int method;
  std::uint64_t seed;
  int loss;
  double delta;
  int space;
  double ftol, xtol, gtol;
  int max_iter, threads;
  py::object shared;           // [P] bool mask of parameters shared across curves, or None
  py::object keys;             // [B] uint64 random-stream key per curve, or None (the curve's index)
  bool varpro;                 // the fit's solver: variable projection where it applies (fit::Options::varpro)
  int jit = -1;                // a compiled formula's native library (load_jit handle), or -1: the kernel table's
};

// The bootstrap kernel of a built-in law or of a compiled formula.
template <class L>
int boot_kernel(const laws::StaticModel<L>&, int, const fit::BatchInput* in, const double* p_hat, const std::int32_t* st,
                i64 R, int method, std::uint64_t seed, const fit::Options* o, const sample::BootstrapOutput* out,
                int threads, kernels::KernelError* err) {
  static const int k = kernel_law_index(L::name);
  return kernel_table().boot_law[k](in, p_hat, st, R, method, seed, o, out, threads, err);
}
inline int boot_kernel(const fit::FormulaModel& m, int jit, const fit::BatchInput* in, const double* p_hat,
                       const std::int32_t* st, i64 R, int method, std::uint64_t seed, const fit::Options* o,
                       const sample::BootstrapOutput* out, int threads, kernels::KernelError* err) {
  const kernels::BootFormulaFn fn = jit >= 0 ? jit_table(jit).boot : kernel_table().boot_formula;
  return fn(&m, in, p_hat, st, R, method, seed, o, out, threads, err);
}

// The model of a joint (shared-parameter) bootstrap: built-in laws behind one type (laws::DynamicLaw).
template <class L>
laws::DynamicLaw shared_model(const laws::StaticModel<L>&) {
  return laws::DynamicLaw::of<L>();
}
inline const fit::FormulaModel& shared_model(const fit::FormulaModel& m) { return m; }

template <class Model>
py::tuple run_bootstrap(const Model& m, const BootArgs& a) {
  const char* op = "bootstrap";
  const int np = m.n_params(), d = m.n_inputs();
  const py::ssize_t B = a.offsets.size() - 1;
  if (B < 0) throw py::value_error("bootstrap: 'offsets' must have at least one element");
  if (a.n < 1) throw py::value_error("bootstrap: 'n' (replicates per curve) must be >= 1");
  if (a.method < 0 || a.method > 2) throw py::value_error("bootstrap: unknown method code");
  fit::Options o = solver_options(op, a.loss, a.delta, a.space, a.ftol, a.xtol, a.gtol, a.max_iter);
  o.varpro = a.varpro;
  const i64* off = in_ptr<i64>(a.offsets, op, "offsets");
  const py::ssize_t n_total = a.y.size();
  if (off[0] != 0 || off[B] != n_total)
    throw py::value_error("bootstrap: 'offsets' must start at 0 and end at len(y)");
  for (py::ssize_t b = 0; b < B; ++b)
    if (off[b + 1] < off[b]) throw py::value_error("bootstrap: 'offsets' must be non-decreasing");
  fit::BatchInput in;
  in.offsets = off;
  in.B = B;
  in.d = d;
  in.x = in_ptr<double>(a.x, op, "x", n_total * d);
  in.y = in_ptr<double>(a.y, op, "y", n_total);
  in.w = opt_ptr<double>(a.w, op, "w", n_total);
  const py::ssize_t nb = a.lower.size();
  if (nb != np && nb != B * np) throw py::value_error("bootstrap: 'lower' must have P or B*P elements");
  in.per_curve_bounds = (nb == B * np) && B != 1;
  in.lower = in_ptr<double>(a.lower, op, "lower", nb);
  in.upper = in_ptr<double>(a.upper, op, "upper", nb);
  in.keys = opt_ptr<std::uint64_t>(a.keys, op, "keys", B);
  const double* p_hat = in_ptr<double>(a.params, op, "params", B * np);
  const std::int32_t* st = in_ptr<std::int32_t>(a.status, op, "status", B);
  const bool* mask = a.shared.is_none() ? nullptr : in_ptr<bool>(a.shared.cast<py::array>(), op, "shared", np);
  if (mask && a.method == sample::JACKKNIFE)
    throw py::value_error("bootstrap: the jackknife (BCa intervals) is not available for fits with shared parameters");
  py::array_t<double> params({B, a.n, static_cast<py::ssize_t>(np)});
  py::array_t<std::int32_t> status({B, a.n});
  sample::BootstrapOutput out{params.mutable_data(), status.mutable_data()};
  kernels::KernelError err;
  int rc = kernels::KERNEL_OK;
  {
    py::gil_scoped_release release;
    if (mask)
      sample::bootstrap_shared(shared_model(m), in, mask, p_hat, st, a.n, static_cast<sample::BootMethod>(a.method), a.seed, o,
                               out, a.threads);
    else  // the solver kernel for this CPU (kernels/api.hpp)
      rc = boot_kernel(m, a.jit, &in, p_hat, st, a.n, a.method, a.seed, &o, &out, a.threads, &err);
  }
  check_kernel(rc, err);
  return py::make_tuple(params, status);
}

// The keyword arguments of every bootstrap entry point after the model's own (see run_bootstrap).
#define LAWFIT_BOOT_KWARGS                                                                                     \
  py::arg("offsets"), py::arg("x"), py::arg("y"), py::arg("w") = py::none(), py::arg("lower"), py::arg("upper"), \
      py::arg("params"), py::arg("status"), py::arg("n"), py::arg("method") = 0, py::arg("seed") = 0,          \
      py::arg("loss") = 0, py::arg("delta") = 1.0, py::arg("space") = 0, py::arg("ftol") = 1e-8,              \
      py::arg("xtol") = 1e-8, py::arg("gtol") = 1e-8, py::arg("max_iter") = 200, py::arg("threads") = 0,      \
      py::arg("shared") = py::none(), py::arg("keys") = py::none(), py::arg("varpro") = true

}  // namespace lawfit::bindings
