// Bindings for the cost model and the planners (core/cost): arrays in, arrays out, GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "bindings/registry.hpp"
#include "core/cost/plan.hpp"
#include "core/laws/all.hpp"

namespace lawfit::bindings {
namespace {
using namespace lawfit::cost;

const char* const kFieldNames[N_FIELDS] = {"n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff",
                                           "vocab", "seq_len", "tokens", "n_experts", "active_experts",
                                           "gated_mlp", "tied_embeddings", "biases", "norm", "position"};
const char* const kOutputNames[N_OUTPUTS] = {
    "params", "params_non_embedding", "params_active", "params_embedding", "flops_train", "flops_train_6nd",
    "flops_forward_per_token", "flops_prefill_per_token", "flops_decode_per_token", "memory_weights_bytes",
    "memory_train_states_bytes", "memory_activations_bytes", "memory_train_bytes", "kv_cache_bytes_per_token",
    "memory_infer_bytes", "time_train_s", "gpu_hours", "cost_usd", "energy_it_kwh", "energy_kwh", "co2_kg",
    "water_l", "latency_decode_s", "time_infer_s", "gpu_hours_infer", "cost_infer_usd", "cost_total_usd",
    "flops_total", "fits_memory", "meets_slo", "within_budget"};

// Field arrays: fields[f] float64 [len_f]; strides[f]; n configurations.
struct FieldArgs {
  Fields f;
  i64 n;
  std::vector<py::array> keep;
};

bool is_count(double v) { return v >= 1.0 && v < 9.0e15 && v == std::floor(v); }

template <class Pred>
void check_pair(const Fields& f, int a, int b, Pred ok, const std::string& msg) {
  // Aligned table columns are checked row by row, independent axes over their product.
  const bool aligned = f.len[a] == f.len[b] && f.stride[a] == f.stride[b];
  if (aligned) {
    for (i64 i = 0; i < f.len[a]; ++i)
      if (!ok(f.values[a][i], f.values[b][i]))
        throw py::value_error(msg + " (row " + std::to_string(i) + ": " + std::to_string(f.values[a][i]) + ", " +
                              std::to_string(f.values[b][i]) + ")");
    return;
  }
  for (i64 i = 0; i < f.len[a]; ++i)
    for (i64 j = 0; j < f.len[b]; ++j)
      if (!ok(f.values[a][i], f.values[b][j]))
        throw py::value_error(msg + " (" + std::to_string(f.values[a][i]) + ", " + std::to_string(f.values[b][j]) +
                              ")");
}

FieldArgs field_args(const py::list& fields, const py::array& strides, i64 n, double ffn_mult, const char* op) {
  if (static_cast<int>(fields.size()) != N_FIELDS)
    throw py::value_error(std::string(op) + ": expected " + std::to_string(N_FIELDS) + " field arrays");
  if (n < 0) throw py::value_error(std::string(op) + ": n must be >= 0");
  FieldArgs fa;
  fa.n = n;
  if (!(ffn_mult > 0.0) || !std::isfinite(ffn_mult))
    throw py::value_error(std::string(op) + ": assumption 'ffn_mult' must be positive and finite");
  fa.f.ffn_mult = ffn_mult;
  const i64* st = in_ptr<i64>(strides, op, "strides", N_FIELDS);
  for (int k = 0; k < N_FIELDS; ++k) {
    py::array a = fields[k].cast<py::array>();
    fa.keep.push_back(a);
    fa.f.values[k] = in_ptr<double>(a, op, kFieldNames[k]);
    fa.f.len[k] = a.size();
    fa.f.stride[k] = st[k] > 0 ? st[k] : 1;
    if (a.size() == 0) throw py::value_error(std::string(op) + ": field '" + kFieldNames[k] + "' is empty");
    const double* v = fa.f.values[k];
    for (i64 i = 0; i < a.size(); ++i) {
      const double x = v[i];
      std::string bad;
      if (std::isnan(x)) bad = "is NaN";
      else if ((k == F_D_FF || k == F_N_KV_HEADS) && x == 0.0) bad = "";  // derived (see Fields)
      else if (k <= F_SEQ_LEN || k == F_N_EXPERTS || k == F_ACTIVE_EXPERTS) {
        if (!is_count(x)) bad = "must be a positive integer";
      } else if (k == F_TOKENS) {
        if (!(x > 0.0 && x < kInf)) bad = "must be positive and finite";
      } else if (k == F_NORM) {
        if (!(x == 0.0 || x == 1.0 || x == 2.0)) bad = "must be 0 (none), 1 (rmsnorm) or 2 (layernorm)";
      } else if (k == F_POSITION) {
        if (!(x == 0.0 || x == 1.0 || x == 2.0)) bad = "must be 0 (rope), 1 (learned) or 2 (relative)";
      } else if (!(x == 0.0 || x == 1.0)) {
        bad = "must be a boolean (0 or 1)";
      }
      if (!bad.empty())
        throw py::value_error(std::string(op) + ": field '" + kFieldNames[k] + "' " + bad + " (value " +
                              std::to_string(x) + " at position " + std::to_string(i) + ")");
    }
  }
  const Fields& f = fa.f;
  check_pair(f, F_D_MODEL, F_N_HEADS, [](double d, double h) { return std::fmod(d, h) == 0.0; },
             std::string(op) + ": field 'n_heads' must divide 'd_model'");
  check_pair(f, F_N_HEADS, F_N_KV_HEADS, [](double h, double kv) { return kv == 0.0 || (kv <= h && std::fmod(h, kv) == 0.0); },
             std::string(op) + ": field 'n_kv_heads' must divide 'n_heads'");
  check_pair(f, F_N_EXPERTS, F_ACTIVE_EXPERTS, [](double e, double k) { return k <= e; },
             std::string(op) + ": field 'active_experts' must not exceed 'n_experts'");
  return fa;
}

double get(const py::dict& d, const char* key, double dflt, const char* op) {
  if (!d.contains(key)) return dflt;
  const double v = d[key].cast<double>();
  if (std::isnan(v)) throw py::value_error(std::string(op) + ": assumption '" + key + "' is NaN");
  return v;
}

Assumptions assumptions_from(const py::dict& d, const char* op) {
  Assumptions a;
  a.hw.peak_flops = get(d, "peak_flops", kNaN, op);
  a.hw.bandwidth = get(d, "bandwidth", kNaN, op);
  a.hw.memory_bytes = get(d, "memory_bytes", kNaN, op);
  a.hw.power_w = get(d, "power_w", kNaN, op);
  a.hw.price_per_hour = get(d, "price_per_hour", 0.0, op);
  a.eff.compute = get(d, "efficiency_compute", a.eff.compute, op);
  a.eff.memory = get(d, "efficiency_memory", a.eff.memory, op);
  a.eff.utilisation = get(d, "utilisation", a.eff.utilisation, op);
  a.site.pue = get(d, "pue", a.site.pue, op);
  a.site.grid_kg_per_kwh = get(d, "grid_kg_per_kwh", a.site.grid_kg_per_kwh, op);
  a.site.wue_onsite = get(d, "wue_onsite", a.site.wue_onsite, op);
  a.site.wue_offsite = get(d, "wue_offsite", a.site.wue_offsite, op);
  a.flops.causal = get(d, "causal", 0.0, op) != 0.0;
  a.flops.vocab_flops = get(d, "vocab_flops", 1.0, op) != 0.0;
  a.sixnd = static_cast<int>(get(d, "n_convention", 0.0, op));
  a.n_gpus = get(d, "n_gpus", 1.0, op);
  a.zero = static_cast<int>(get(d, "zero", 0.0, op));
  a.recompute = static_cast<int>(get(d, "recompute", 0.0, op));
  a.micro_batch = get(d, "micro_batch", 1.0, op);
  a.weight_bytes = get(d, "weight_bytes", 2.0, op);
  a.kv_bytes = get(d, "kv_bytes", 2.0, op);
  a.batch_tokens = get(d, "batch_tokens", a.batch_tokens, op);
  a.infer_batch = get(d, "infer_batch", 1.0, op);
  a.infer_context = get(d, "infer_context", -1.0, op);
  a.inference_tokens = get(d, "inference_tokens", 0.0, op);
  a.latency_slo = get(d, "latency_slo", kInf, op);
  a.budget_usd = get(d, "budget_usd", kInf, op);
  a.six_nd_train = get(d, "six_nd_train", 0.0, op) != 0.0;
  const struct { const char* name; double v; } pos[] = {
      {"peak_flops", a.hw.peak_flops}, {"bandwidth", a.hw.bandwidth}, {"memory_bytes", a.hw.memory_bytes},
      {"power_w", a.hw.power_w}, {"efficiency_compute", a.eff.compute}, {"efficiency_memory", a.eff.memory},
      {"n_gpus", a.n_gpus}, {"micro_batch", a.micro_batch}, {"weight_bytes", a.weight_bytes},
      {"kv_bytes", a.kv_bytes}, {"batch_tokens", a.batch_tokens}, {"infer_batch", a.infer_batch}};
  for (auto& p : pos)
    if (!(p.v > 0.0) || !std::isfinite(p.v))
      throw py::value_error(std::string(op) + ": assumption '" + p.name + "' must be positive and finite");
  if (a.zero < 0 || a.zero > 3) throw py::value_error(std::string(op) + ": assumption 'zero' must be 0, 1, 2 or 3");
  if (a.recompute < 0 || a.recompute > 2) throw py::value_error(std::string(op) + ": assumption 'recompute' must be 0, 1 or 2");
  if (a.sixnd < 0 || a.sixnd > 2) throw py::value_error(std::string(op) + ": assumption 'n_convention' must be 0, 1 or 2");
  if (a.inference_tokens < 0) throw py::value_error(std::string(op) + ": assumption 'inference_tokens' must be >= 0");
  if (a.budget_usd < 0) throw py::value_error(std::string(op) + ": assumption 'budget_usd' must be >= 0");
  if (a.hw.price_per_hour < 0) throw py::value_error(std::string(op) + ": assumption 'price_per_hour' must be >= 0");
  return a;
}

py::dict evaluate(const py::list& fields, const py::array& strides, i64 n, const py::dict& assume,
                  const std::vector<std::string>& outputs, int threads) {
  FieldArgs fa = field_args(fields, strides, n, get(assume, "ffn_mult", 4.0, "cost.evaluate"), "cost.evaluate");
  const Assumptions a = assumptions_from(assume, "cost.evaluate");
  std::vector<double*> ptr(N_OUTPUTS, nullptr);
  py::dict res;
  for (const std::string& name : outputs) {
    int j = -1;
    for (int k = 0; k < N_OUTPUTS; ++k)
      if (name == kOutputNames[k]) j = k;
    if (j < 0) throw py::value_error("cost.evaluate: unknown output '" + name + "'");
    py::array_t<double> arr(n);  // [n]
    ptr[j] = arr.mutable_data();
    res[py::str(name)] = arr;
  }
  {
    py::gil_scoped_release release;
    evaluate_all(fa.f, n, a, ptr.data(), threads);
  }
  return res;
}

PlanOptions plan_options_from(const py::dict& d) {
  PlanOptions po;
  po.objective = static_cast<int>(get(d, "objective", 0.0, "plan"));
  po.unit = static_cast<int>(get(d, "unit", 0.0, "plan"));
  po.budget = get(d, "budget", kInf, "plan");
  po.target = d.contains("target") ? d["target"].cast<double>() : kNaN;
  po.n_convention = static_cast<int>(get(d, "n_convention", 0.0, "plan"));
  po.require_fit = get(d, "require_fit", 0.0, "plan") != 0.0;
  po.require_slo = get(d, "require_slo", 0.0, "plan") != 0.0;
  po.prune = get(d, "prune", 1.0, "plan") != 0.0;
  if (po.objective != OBJ_LOSS && po.objective != OBJ_COST)
    throw py::value_error("plan: 'objective' must be 0 (loss) or 1 (cost)");
  if (po.objective == OBJ_LOSS && !(po.budget >= 0)) throw py::value_error("plan: 'budget' must be >= 0");
  return po;
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
