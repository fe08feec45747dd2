// Argument parsing shared by the cost bindings (bind_cost.cpp) and their CUDA variants (bind_cuda.cpp):
// field arrays, assumptions and plan options from Python, checked with the op name in every message.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "core/cost/plan.hpp"

namespace lawfit::bindings {
namespace py = pybind11;
using namespace lawfit::cost;

inline const char* const kFieldNames[N_FIELDS] = {"n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff",
                                           "vocab", "seq_len", "tokens", "n_experts", "active_experts",
                                           "gated_mlp", "tied_embeddings", "biases", "norm", "position"};
inline const char* const kOutputNames[N_OUTPUTS] = {
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

inline bool is_count(double v) { return v >= 1.0 && v < 9.0e15 && v == std::floor(v); }

template <class Pred>
inline void check_pair(const Fields& f, int a, int b, Pred ok, const std::string& msg) {
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

inline FieldArgs field_args(const py::list& fields, const py::array& strides, i64 n, double ffn_mult, const char* op) {
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

inline double get(const py::dict& d, const char* key, double dflt, const char* op) {
  if (!d.contains(key)) return dflt;
  const double v = d[key].cast<double>();
  if (std::isnan(v)) throw py::value_error(std::string(op) + ": assumption '" + key + "' is NaN");
  return v;
}

inline Assumptions assumptions_from(const py::dict& d, const char* op) {
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

// Index of a named output (lawfit.cost.OUTPUTS order).
inline int output_index(const std::string& name, const char* op) {
  for (int k = 0; k < N_OUTPUTS; ++k)
    if (name == kOutputNames[k]) return k;
  throw py::value_error(std::string(op) + ": unknown output '" + name + "'");
}

// The requested outputs of cost.evaluate: a fresh [n] array per name in `res`, and `ptr` [N_OUTPUTS] pointing
// at them (null for outputs not asked for), as evaluate_all and its CUDA twin take them.
struct CostOutputs {
  py::dict res;
  std::vector<double*> ptr;
};
inline CostOutputs cost_outputs(const std::vector<std::string>& outputs, i64 n, const char* op) {
  CostOutputs o{py::dict(), std::vector<double*>(N_OUTPUTS, nullptr)};
  for (const std::string& name : outputs) {
    const int j = output_index(name, op);
    py::array_t<double> arr(n);  // [n]
    o.ptr[j] = arr.mutable_data();
    o.res[py::str(name)] = arr;
  }
  return o;
}

inline PlanOptions plan_options_from(const py::dict& d) {
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

}  // namespace lawfit::bindings
