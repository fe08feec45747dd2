// Bindings for the built-in law catalogue and the batched fit (core/laws, core/fit).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>
#include <map>
#include <string>

#include "bindings/fit_common.hpp"
#include "bindings/registry.hpp"
#include "core/laws/all.hpp"

namespace lawfit::bindings {
namespace {

template <class Law>
py::dict law_info() {
  py::dict d;
  d["name"] = Law::name;
  d["formula"] = Law::formula;
  d["citation"] = Law::citation;
  py::list params, inputs, lower, upper, scale, linear, grid, amplitude;
  constexpr laws::ParamTables<Law> tables{};
  for (int j = 0; j < Law::P; ++j) {
    amplitude.append(tables.amplitude[j]);
    params.append(Law::params[j]);
    lower.append(Law::lower[j]);
    upper.append(Law::upper[j]);
    scale.append(Law::scale[j] == LOG ? "log" : "linear");
    linear.append(Law::linear[j]);
    py::list axis;
    for (int k = 0; k < Law::grid[j].n; ++k) axis.append(Law::grid[j].v[k]);
    grid.append(axis);
  }
  for (int k = 0; k < Law::D; ++k) inputs.append(Law::inputs[k]);
  d["params"] = params;
  d["inputs"] = inputs;
  d["lower"] = lower;
  d["upper"] = upper;
  d["scale"] = scale;
  d["linear"] = linear;
  d["grid"] = grid;
  d["amplitude"] = amplitude;  // core/laws/law.hpp: the linear parameter whose term a nonlinear one sits in, or -1
  return d;
}

template <class Law>
py::array_t<double> law_eval(py::array x, py::array p, py::object want_grad) {
  // Evaluate the law at points x[n, D] with one parameter vector p[P] (or per-point p[n, P]).
  const py::ssize_t n = x.size() / Law::D;
  if (x.size() != n * Law::D) throw py::value_error("eval: 'x' size must be a multiple of the input count");
  const double* xp = in_ptr<double>(x, "eval", "x");
  const bool per_point = p.size() == n * Law::P && n != 1;
  const double* pp = in_ptr<double>(p, "eval", "p", per_point ? n * Law::P : Law::P);
  const bool grad = want_grad.cast<bool>();
  py::array_t<double> out(grad ? std::vector<py::ssize_t>{n, Law::P + 1} : std::vector<py::ssize_t>{n});
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(n, 0, [&](i64 i) {
      const double* pi = per_point ? pp + i * Law::P : pp;
      if (grad) {
        o[i * (Law::P + 1)] = Law::eval(xp + i * Law::D, pi, o + i * (Law::P + 1) + 1);
      } else {
        o[i] = Law::eval(xp + i * Law::D, pi, nullptr);
      }
    }, 4096);
  }
  return out;
}

using FitFn = std::function<py::dict(const FitArgs&)>;
using SharedFn = std::function<py::dict(const FitArgs&, py::array)>;

const std::map<std::string, SharedFn>& shared_table() {
  static const std::map<std::string, SharedFn> t = {
#define X(L) \
  {laws::L::name, [](const FitArgs& a, py::array mask) { return run_shared_model(laws::DynamicLaw::of<laws::L>(), a, mask); }},
      LAWFIT_FOR_EACH_LAW(X)
#undef X
  };
  return t;
}
using EvalFn = std::function<py::array_t<double>(py::array, py::array, py::object)>;

const std::map<std::string, FitFn>& fit_table() {
  static const std::map<std::string, FitFn> t = {
#define X(L)                                                                                                     \
  {laws::L::name, [](const FitArgs& a) {                                                                         \
     const int k = kernel_law_index(laws::L::name);                                                              \
     return run_fit_kernel(laws::L::P, laws::L::D, a, [&](FitCall& fc, kernels::KernelError* err) {             \
       return kernel_table().fit_law[k](&fc.in, &fc.st, &fc.o, &fc.out, a.threads, err);                         \
     });                                                                                                         \
   }},
      LAWFIT_FOR_EACH_LAW(X)
#undef X
  };
  return t;
}

const std::map<std::string, EvalFn>& eval_table() {
  static const std::map<std::string, EvalFn> t = {
#define X(L) {laws::L::name, &law_eval<laws::L>},
      LAWFIT_FOR_EACH_LAW(X)
#undef X
  };
  return t;
}

template <class Map>
const typename Map::mapped_type& lookup(const Map& t, const std::string& name) {
  auto it = t.find(name);
  if (it == t.end()) {
    std::string known;
    for (auto& kv : t) known += (known.empty() ? "" : ", ") + kv.first;
    throw py::value_error("unknown law '" + name + "'; known laws: " + known);
  }
  return it->second;
}

void register_fit(py::module_& m) {
  m.def("law_catalogue", []() {
    py::list l;
#define X(L) l.append(law_info<laws::L>());
    LAWFIT_FOR_EACH_LAW(X)
#undef X
    return l;
  });
  m.def(
      "law_eval",
      [](const std::string& law, py::array x, py::array p, bool grad) {
        return lookup(eval_table(), law)(x, p, py::bool_(grad));
      },
      py::arg("law"), py::arg("x"), py::arg("p"), py::arg("grad") = false,
      "Evaluate a built-in law (and optionally its gradient: column 0 value, then df/dp).");
  m.def(
      "fit_law",
      [](const std::string& law, py::array offsets, py::array x, py::array y, py::object w, py::object lower,
         py::object upper, py::object starts, py::ssize_t n_random, py::object rand_lo, py::object rand_hi,
         bool project_linear, std::uint64_t seed, int loss, double delta, int space, double ftol, double xtol,
         double gtol, int max_iter, int threads, bool want_cov, py::object keys, bool varpro, int scan) {
        const FitFn& fn = lookup(fit_table(), law);
        return fn(fit_args_from(offsets, x, y, w, lower, upper, starts, n_random, rand_lo, rand_hi,
                                project_linear, seed, loss, delta, space, ftol, xtol, gtol, max_iter, threads,
                                want_cov, keys, varpro, scan));
      },
      py::arg("law"), LAWFIT_FIT_KWARGS, "Batched multi-start fit of a built-in law to a CSR batch of curves.");
  m.def(
      "fit_law_shared",
      [](const std::string& law, py::array shared, py::array offsets, py::array x, py::array y, py::object w,
         py::object lower, py::object upper, py::object starts, py::ssize_t n_random, py::object rand_lo,
         py::object rand_hi, bool project_linear, std::uint64_t seed, int loss, double delta, int space,
         double ftol, double xtol, double gtol, int max_iter, int threads, bool want_cov, py::object keys, bool varpro, int scan) {
        const SharedFn& fn = lookup(shared_table(), law);
        return fn(fit_args_from(offsets, x, y, w, lower, upper, starts, n_random, rand_lo, rand_hi, project_linear,
                                seed, loss, delta, space, ftol, xtol, gtol, max_iter, threads, want_cov,
                                keys, varpro, scan),
                  shared);
      },
      py::arg("law"), py::arg("shared"), LAWFIT_FIT_KWARGS,
      "Joint fit of a built-in law with the parameters in the mask `shared` common to all curves.");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_fit);
}  // namespace lawfit::bindings
