// Bindings for the cost model and the planners (core/cost): arrays in, arrays out, GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "bindings/cost_common.hpp"
#include "bindings/registry.hpp"
#include "core/cost/plan.hpp"
#include "core/laws/all.hpp"

namespace lawfit::bindings {
namespace {
using namespace lawfit::cost;

py::dict evaluate(const py::list& fields, const py::array& strides, i64 n, const py::dict& assume,
                  const std::vector<std::string>& outputs, int threads) {
  FieldArgs fa = field_args(fields, strides, n, get(assume, "ffn_mult", 4.0, "cost.evaluate"), "cost.evaluate");
  const Assumptions a = assumptions_from(assume, "cost.evaluate");
  CostOutputs o = cost_outputs(outputs, n, "cost.evaluate");
  {
    py::gil_scoped_release release;
    evaluate_all(fa.f, n, a, o.ptr.data(), threads);
  }
  return o.res;
}

template <class Law>
py::dict plan_law(const py::array& samples, FieldArgs& fa, const Assumptions& a, const PlanOptions& po, int threads,
                  bool pareto) {
  if (samples.ndim() != 2 || samples.shape(1) != Law::P)
    throw py::value_error(std::string("plan: 'samples' must have shape [S, ") + std::to_string(Law::P) + "] for law " +
                          Law::name);
  const double* sp = in_ptr<double>(samples, "plan", "samples");
  const i64 S = samples.shape(0);
  py::dict res;
  if (!pareto) {
    py::array_t<i64> idx(S);
    py::array_t<double> loss(S), cost(S), N(S), D(S);
    PlanCounts pc;
    PlanOut out{idx.mutable_data(), loss.mutable_data(), cost.mutable_data(), N.mutable_data(), D.mutable_data()};
    {
      py::gil_scoped_release release;
      const GridTable t = grid_table(fa.f, fa.n, a, po, threads);
      pc = plan_reduce<Law>(t, sp, S, po, out, threads);
    }
    res["index"] = idx;
    res["loss"] = loss;
    res["cost"] = cost;
    res["N"] = N;
    res["D"] = D;
    res["n_admissible"] = pc.admissible;
    res["n_non_dominated"] = po.prune ? py::object(py::int_(pc.non_dominated)) : py::object(py::none());  // not built without pruning
    return res;
  }
  std::vector<i64> offsets, index;
  std::vector<double> loss, N, D, cost;
  {
    py::gil_scoped_release release;
    PlanOptions pc = po;
    pc.objective = OBJ_COST;
    const GridTable t = grid_table(fa.f, fa.n, a, pc, threads);
    plan_pareto<Law>(t, sp, S, pc, offsets, index, loss, threads);
    N.resize(index.size());
    D.resize(index.size());
    cost.resize(index.size());
    for (size_t k = 0; k < index.size(); ++k) {
      N[k] = t.N_of(index[k]);
      D[k] = t.D_of(index[k]);
      cost[k] = t.cost_of(index[k]);
    }
  }
  res["offsets"] = py::array_t<i64>(offsets.size(), offsets.data());
  res["index"] = py::array_t<i64>(index.size(), index.data());
  res["loss"] = py::array_t<double>(loss.size(), loss.data());
  res["N"] = py::array_t<double>(N.size(), N.data());
  res["D"] = py::array_t<double>(D.size(), D.data());
  res["cost"] = py::array_t<double>(cost.size(), cost.data());
  return res;
}

// The planner's per-configuration table (law N, D, cost, admissible), materialised [n]: for tests that check it
// against cost_evaluate. The planner itself never stores these arrays.
py::dict plan_table(const py::list& fields, const py::array& strides, i64 n, const py::dict& assume,
                    const py::dict& options, int threads) {
  FieldArgs fa = field_args(fields, strides, n, get(assume, "ffn_mult", 4.0, "plan"), "plan");
  const Assumptions a = assumptions_from(assume, "plan");
  const PlanOptions po = plan_options_from(options);
  py::array_t<double> N(n), D(n), cost(n);
  py::array_t<bool> ok(n);
  py::array_t<i64> model(n);
  bool factored;
  {
    py::gil_scoped_release release;
    const GridTable t = grid_table(fa.f, fa.n, a, po, threads);
    factored = t.mt.factored;
    double* pn = N.mutable_data();
    double* pd = D.mutable_data();
    double* pc = cost.mutable_data();
    bool* po_ = ok.mutable_data();
    i64* pm = model.mutable_data();
    parallel_for(t.mt.G / t.mt.s, threads, [&](i64 r) {
      for_rows(t, r, r + 1, [&](i64 i, i64 m, i64, double d, double c, bool adm) {
        pn[i] = t.N[m];
        pd[i] = d;
        pc[i] = c;
        po_[i] = adm;
        pm[i] = m;
      });
    }, 4096);
  }
  py::dict res;
  res["N"] = N;
  res["D"] = D;
  res["cost"] = cost;
  res["ok"] = ok;
  res["model"] = model;
  res["factored"] = factored;
  return res;
}

py::dict plan_grid(const std::string& law, const py::array& samples, const py::list& fields, const py::array& strides,
                   i64 n, const py::dict& assume, const py::dict& options, int threads, bool pareto) {
  FieldArgs fa = field_args(fields, strides, n, get(assume, "ffn_mult", 4.0, "plan"), "plan");
  const Assumptions a = assumptions_from(assume, "plan");
  const PlanOptions po = plan_options_from(options);
  if (!pareto && po.objective == OBJ_COST && std::isnan(po.target))
    throw py::value_error("plan: objective 'cost' needs a finite 'target' loss");
#define X(L)                                                                                 \
  if (law == laws::L::name) {                                                                \
    if constexpr (laws::L::D == 2) {                                                         \
      return plan_law<laws::L>(samples, fa, a, po, threads, pareto);                         \
    } else {                                                                                 \
      throw py::value_error("plan: law '" + law + "' has " + std::to_string(laws::L::D) +   \
                            " input(s); planning needs a law of (N, D)");                    \
    }                                                                                        \
  }
  LAWFIT_FOR_EACH_LAW(X)
#undef X
  throw py::value_error("plan: unknown law '" + law + "'");
}

void register_cost(py::module_& m) {
  m.def("_cost_plan_table", &plan_table, py::arg("fields"), py::arg("strides"), py::arg("n"), py::arg("assumptions"),
        py::arg("options"), py::arg("threads") = 0,
        "Testing aid: the planner's per-configuration N, D, cost and admissibility as [n] arrays.");
  m.def("cost_field_names", []() { return std::vector<std::string>(kFieldNames, kFieldNames + N_FIELDS); });
  m.def("cost_output_names", []() { return std::vector<std::string>(kOutputNames, kOutputNames + N_OUTPUTS); });
  m.def("cost_evaluate", &evaluate, py::arg("fields"), py::arg("strides"), py::arg("n"), py::arg("assumptions"),
        py::arg("outputs"), py::arg("threads") = 0,
        "Cost model over n configurations: fields[f] float64 [len_f], configuration i uses "
        "fields[f][(i // strides[f]) % len_f]. Returns the requested outputs as float64 [n] arrays.");
  m.def("cost_plan_grid", &plan_grid, py::arg("law"), py::arg("samples"), py::arg("fields"), py::arg("strides"),
        py::arg("n"), py::arg("assumptions"), py::arg("options"), py::arg("threads") = 0, py::arg("pareto") = false,
        "Fused samples x grid reduction: per-sample optimum (or Pareto set) of a law of (N, D) over a grid.");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_cost);
}  // namespace lawfit::bindings
