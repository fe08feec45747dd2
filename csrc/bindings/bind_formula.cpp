// Bindings for user-written laws (core/fit/formula.hpp): fit_formula, fit_formula_shared, bootstrap_formula
// and formula_eval.
// The tape comes from python/lawfit/formula.py as op/a/b/arg (int32 [n]) and consts (float64 [m]).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/boot_common.hpp"
#include "bindings/fit_common.hpp"
#include "bindings/registry.hpp"
#include "core/fit/formula.hpp"

namespace lawfit::bindings {
namespace {

// A validated, packed tape and its model; callers re-point model.code at code.data() after a move.
struct PackedFormula {
  std::vector<fit::FormulaInstr> code;
  fit::FormulaModel model;
};

PackedFormula pack_formula(const char* opname, py::array op, py::array a, py::array b, py::array arg,
                           py::array consts, int n_params, int n_inputs, py::object linear, py::object scale,
                           py::object amplitude = py::none()) {
  const py::ssize_t n = op.size();
  const std::int32_t* pop = in_ptr<std::int32_t>(op, opname, "op");           // [n]
  const std::int32_t* pa = in_ptr<std::int32_t>(a, opname, "a", n);           // [n]
  const std::int32_t* pb = in_ptr<std::int32_t>(b, opname, "b", n);           // [n]
  const std::int32_t* parg = in_ptr<std::int32_t>(arg, opname, "arg", n);     // [n]
  const double* pc = in_ptr<double>(consts, opname, "consts");                // [m]
  i64 bad = -1;
  const char* err = fit::validate_tape(pop, pa, pb, parg, n, consts.size(), n_params, n_inputs, &bad);
  if (err) {
    std::string msg = std::string(opname) + ": invalid formula tape: " + err;
    if (bad >= 0) msg += " (instruction " + std::to_string(bad) + " of " + std::to_string(n) + ")";
    msg += "; op=[" + std::to_string(n) + "], consts=[" + std::to_string(consts.size()) +
           "], n_params=" + std::to_string(n_params) + ", n_inputs=" + std::to_string(n_inputs);
    throw py::value_error(msg);
  }
  PackedFormula f;
  f.code.resize(static_cast<size_t>(n));
  fit::pack_tape(pop, pa, pb, parg, pc, n, f.code.data());
  f.model.code = f.code.data();
  f.model.n = static_cast<int>(n);
  f.model.np = n_params;
  f.model.d = n_inputs;
  const bool* lin = nullptr;
  const std::int32_t* sc = nullptr;
  if (!linear.is_none()) lin = in_ptr<bool>(linear.cast<py::array>(), opname, "linear", n_params);      // [P]
  if (!scale.is_none()) sc = in_ptr<std::int32_t>(scale.cast<py::array>(), opname, "scale", n_params);  // [P]
  for (int j = 0; j < fit::FormulaModel::PMAX; ++j) {
    f.model.linear[j] = (j < n_params && lin) ? lin[j] : false;
    Scale s = LINEAR;
    if (j < n_params && sc) {
      if (sc[j] != LINEAR && sc[j] != LOG)
        throw py::value_error(std::string(opname) + ": argument 'scale' must hold 0 (linear) or 1 (log), got " +
                              std::to_string(sc[j]) + " for parameter " + std::to_string(j));
      s = static_cast<Scale>(sc[j]);
    }
    f.model.scales[j] = s;
  }
  // amplitude[P] (python/lawfit/formula.py _amplitudes): -1, or the index of the linear parameter whose term a
  // nonlinear one sits in.
  if (!amplitude.is_none()) {
    const std::int32_t* am = in_ptr<std::int32_t>(amplitude.cast<py::array>(), opname, "amplitude", n_params);
    for (int j = 0; j < n_params; ++j) {
      const int t = am[j];
      if (t != -1 && !(t >= 0 && t < n_params && f.model.linear[t] && !f.model.linear[j]))
        throw py::value_error(std::string(opname) + ": argument 'amplitude' must hold -1 or the index of a linear "
                              "parameter for a nonlinear one, got " + std::to_string(t) + " for parameter " +
                              std::to_string(j));
      f.model.amplitude1[j] = t + 1;
    }
  }
  return f;
}

// Pack and check a tape, then call fn(model) with a model whose code points into the live tape.
template <class Fn>
auto with_formula(const char* opname, py::array op, py::array a, py::array b, py::array arg, py::array consts,
                  int n_params, int n_inputs, py::object linear, py::object scale, py::object amplitude, Fn&& fn) {
  const PackedFormula f = pack_formula(opname, op, a, b, arg, consts, n_params, n_inputs, linear, scale, amplitude);
  if (n_inputs < 1) throw py::value_error(std::string(opname) + ": the formula must have at least one input");
  fit::FormulaModel model = f.model;
  model.code = f.code.data();
  return fn(model);
}

// The number of points in x[n, D] (D >= 1); ValueError when its size is not a multiple of D.
py::ssize_t point_count(const char* opname, const py::array& x, int D) {
  const py::ssize_t n = x.size() / D;
  if (x.size() != n * D)
    throw py::value_error(std::string(opname) + ": 'x' has " + std::to_string(x.size()) +
                          " elements, not a multiple of the input count " + std::to_string(D));
  return n;
}

py::array_t<double> formula_eval(py::array op, py::array a, py::array b, py::array arg, py::array consts,
                                 int n_params, int n_inputs, py::array x, py::array p, bool grad, bool block) {
  const char* opname = "formula_eval";
  const PackedFormula f =
      pack_formula(opname, op, a, b, arg, consts, n_params, n_inputs, py::none(), py::none());
  fit::FormulaModel m = f.model;
  m.code = f.code.data();
  const int P = n_params, D = n_inputs;
  if (D < 1) throw py::value_error("formula_eval: the formula must have at least one input");
  const py::ssize_t n = point_count(opname, x, D);
  const double* xp = in_ptr<double>(x, opname, "x");  // [n, D]
  const bool per_point = p.size() == n * P && n != 1;
  const double* pp = in_ptr<double>(p, opname, "p", per_point ? n * P : P);  // [P] or [n, P]
  py::array_t<double> out(grad ? std::vector<py::ssize_t>{n, P + 1} : std::vector<py::ssize_t>{n});
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    if (block && !per_point) {  // the solver's block path (FormulaModel::eval_block)
      constexpr int K = fit::FormulaModel::kMaxBlock, PM = fit::FormulaModel::PMAX;
      double f[K], jt[K * PM];
      for (py::ssize_t i0 = 0; i0 < n; i0 += K) {
        const int nq = static_cast<int>(std::min<py::ssize_t>(K, n - i0));
        m.eval_block(xp + i0 * D, nq, pp, f, grad ? jt : nullptr);
        for (int k = 0; k < nq; ++k) {
          if (!grad) {
            o[i0 + k] = f[k];
            continue;
          }
          o[(i0 + k) * (P + 1)] = f[k];
          for (int j = 0; j < P; ++j) o[(i0 + k) * (P + 1) + 1 + j] = jt[k * PM + j];
        }
      }
      return out;
    }
    for (py::ssize_t i = 0; i < n; ++i) {
      const double* pi = per_point ? pp + i * P : pp;
      if (grad) {
        o[i * (P + 1)] = m.eval(xp + i * D, pi, o + i * (P + 1) + 1);
      } else {
        o[i] = m.eval(xp + i * D, pi, nullptr);
      }
    }
  }
  return out;
}

void register_formula(py::module_& m) {
  m.def(
      "jit_load", [](const std::string& path, const std::string& key) { return load_jit(path, key); }, py::arg("path"),
      py::arg("key"),
      "Load a formula's native library (built by lawfit._jit) and return its handle for fit_formula / "
      "bootstrap_formula(jit=...); RuntimeError when it cannot load or was built under another key.");
  m.def(
      "jit_eval",
      [](int handle, py::array x, py::array p) {
        const kernels::JitTable& t = jit_table(handle);
        const int P = t.n_params, D = t.n_inputs;
        const py::ssize_t n = point_count("jit_eval", x, D);
        const double* xp = in_ptr<double>(x, "jit_eval", "x");   // [n, D]
        const double* pp = in_ptr<double>(p, "jit_eval", "p", P);  // [P]
        py::array_t<double> out({n, static_cast<py::ssize_t>(P + 1)});
        t.eval(xp, n, pp, out.mutable_data());
        return out;
      },
      py::arg("handle"), py::arg("x"), py::arg("p"),
      "Value and gradient ([n, P+1]) of a native formula library's law at x[n, D] with p[P] (scalar libm).");
  m.def(
      "jit_eval_floor",
      [](int handle, py::array x, py::ssize_t n, py::array p) {
        const kernels::JitTable& t = jit_table(handle);
        const int P = t.n_params, D = t.n_inputs;
        if (n < 1 || x.size() % (n * D) != 0)
          throw py::value_error("jit_eval_floor: 'x' must hold B curves of n points x the input count");
        const py::ssize_t B = x.size() / (n * D);
        const double* xp = in_ptr<double>(x, "jit_eval_floor", "x");
        const double* pp = in_ptr<double>(p, "jit_eval_floor", "p", B * P);
        py::gil_scoped_release release;
        return t.eval_floor(xp, B, n, pp);
      },
      py::arg("handle"), py::arg("x"), py::arg("n"), py::arg("p"),
      "The benchmarks' floor: value and gradient at every point of B curves (x[B*n*D], p[B, P]) in the solvers' "
      "vectorised per-point loop, one thread; returns a checksum.");
  m.def("formula_eval", &formula_eval, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("arg"),
        py::arg("consts"), py::arg("n_params"), py::arg("n_inputs"), py::arg("x"), py::arg("p"),
        py::arg("grad") = false, py::arg("block") = false,
        "Evaluate a compiled formula tape at x[n, D] with p[P] or per-point p[n, P] (with grad: [n, P+1], "
        "column 0 the value, then df/dp). block=True (shared p only) evaluates in blocks of points as the solver "
        "does (with scalar libm: the solver kernels of the avx2 level use vector math, equal to a few ulp).");
  m.def(
      "fit_formula",
      [](py::array op, py::array a, py::array b, py::array arg, py::array consts, int n_params, int n_inputs,
         py::object linear, py::object scale, py::array offsets, py::array x, py::array y, py::object w,
         py::object lower, py::object upper, py::object starts, py::ssize_t n_random, py::object rand_lo,
         py::object rand_hi, bool project_linear, std::uint64_t seed, int loss, double delta, int space,
         double ftol, double xtol, double gtol, int max_iter, int threads, bool want_cov, py::object keys, bool varpro, int scan,
         int jit, py::object amplitude) {
        const FitArgs fa = fit_args_from(offsets, x, y, w, lower, upper, starts, n_random, rand_lo, rand_hi,
                                         project_linear, seed, loss, delta, space, ftol, xtol, gtol, max_iter, threads,
                                         want_cov, keys, varpro, scan);
        // The formula's native library when it has one (python/lawfit/_jit.py), else the bytecode evaluator.
        const kernels::FitFormulaFn fit_fn = jit >= 0 ? jit_table(jit).fit : kernel_table().fit_formula;
        return with_formula("fit_formula", op, a, b, arg, consts, n_params, n_inputs, linear, scale, amplitude,
                            [&](const fit::FormulaModel& model) {
                              return run_fit_kernel(model.n_params(), model.n_inputs(), fa,
                                                    [&](FitCall& fc, kernels::KernelError* err) {
                                                      return fit_fn(&model, &fc.in, &fc.st, &fc.o, &fc.out, fa.threads, err);
                                                    });
                            });
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("arg"), py::arg("consts"), py::arg("n_params"),
      py::arg("n_inputs"), py::arg("linear") = py::none(), py::arg("scale") = py::none(), LAWFIT_FIT_KWARGS,
      py::arg("jit") = -1, py::arg("amplitude") = py::none(),
      "Batched multi-start fit of a compiled formula (lawfit.Law) to a CSR batch of curves; jit: the handle of the "
      "formula's native library (jit_load), or -1 for the bytecode evaluator; amplitude: per parameter, the linear "
      "parameter whose term it sits in, or -1 (VarPro's exact projection).");
  m.def(
      "fit_formula_shared",
      [](py::array op, py::array a, py::array b, py::array arg, py::array consts, int n_params, int n_inputs,
         py::object linear, py::object scale, py::array shared, py::array offsets, py::array x, py::array y,
         py::object w, py::object lower, py::object upper, py::object starts, py::ssize_t n_random,
         py::object rand_lo, py::object rand_hi, bool project_linear, std::uint64_t seed, int loss, double delta,
         int space, double ftol, double xtol, double gtol, int max_iter, int threads, bool want_cov,
         py::object keys, bool varpro, int scan) {
        const FitArgs fa = fit_args_from(offsets, x, y, w, lower, upper, starts, n_random, rand_lo, rand_hi,
                                         project_linear, seed, loss, delta, space, ftol, xtol, gtol, max_iter, threads,
                                         want_cov, keys, varpro, scan);
        return with_formula("fit_formula_shared", op, a, b, arg, consts, n_params, n_inputs, linear, scale, py::none(),
                            [&](const fit::FormulaModel& model) { return run_shared_model(model, fa, shared); });
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("arg"), py::arg("consts"), py::arg("n_params"),
      py::arg("n_inputs"), py::arg("linear") = py::none(), py::arg("scale") = py::none(), py::arg("shared"),
      LAWFIT_FIT_KWARGS, "Joint fit of a compiled formula with the parameters in the mask `shared` common to all curves.");
  m.def(
      "bootstrap_formula",
      [](py::array op, py::array a, py::array b, py::array arg, py::array consts, int n_params, int n_inputs,
         py::object linear, py::object scale, py::array offsets, py::array x, py::array y, py::object w,
         py::array lower, py::array upper, py::array params, py::array status, py::ssize_t n, int method,
         std::uint64_t seed, int loss, double delta, int space, double ftol, double xtol, double gtol, int max_iter,
         int threads, py::object shared, py::object keys, bool varpro, int jit, py::object amplitude) {
        if (jit >= 0) jit_table(jit);  // a bad handle is a ValueError here, before the GIL is released
        const BootArgs ba{offsets, x, y, w, lower, upper, params, status, n, method, seed,
                          loss, delta, space, ftol, xtol, gtol, max_iter, threads, shared, keys, varpro, jit};
        return with_formula("bootstrap_formula", op, a, b, arg, consts, n_params, n_inputs, linear, scale, amplitude,
                            [&](const fit::FormulaModel& model) { return run_bootstrap(model, ba); });
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("arg"), py::arg("consts"), py::arg("n_params"),
      py::arg("n_inputs"), py::arg("linear") = py::none(), py::arg("scale") = py::none(), LAWFIT_BOOT_KWARGS,
      py::arg("jit") = -1, py::arg("amplitude") = py::none(),
      "Batched bootstrap refits of a compiled formula fitted to a CSR batch: (params [B, n, P], status [B, n]).");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_formula);
}  // namespace lawfit::bindings
