// Vectorised cost evaluation over a table or a Cartesian grid of configurations: one pass, parallel over
// configurations, each writing only its own output slots (identical results for any thread count).
#pragma once
#include "core/common.hpp"
#include "core/cost/footprint.hpp"
#include "core/cost/roofline.hpp"
#include "core/cost/transformer.hpp"

namespace lawfit::cost {

// Configuration fields, in the order of the `fields` arrays the bindings pass.
enum Field : int {
  F_N_LAYERS, F_D_MODEL, F_N_HEADS, F_N_KV_HEADS, F_D_FF, F_VOCAB, F_SEQ_LEN, F_TOKENS, F_N_EXPERTS,
  F_ACTIVE_EXPERTS, F_GATED_MLP, F_TIED, F_BIASES, F_NORM, F_POSITION, N_FIELDS
};

// Outputs, in the order of the Python column list (lawfit.cost.OUTPUTS).
enum Output : int {
  O_PARAMS, O_PARAMS_NON_EMBEDDING, O_PARAMS_ACTIVE, O_PARAMS_EMBEDDING, O_FLOPS_TRAIN, O_FLOPS_TRAIN_6ND,
  O_FLOPS_FWD_TOKEN, O_FLOPS_PREFILL_TOKEN, O_FLOPS_DECODE_TOKEN, O_MEM_WEIGHTS, O_MEM_STATES,
  O_MEM_ACTIVATIONS, O_MEM_TRAIN, O_KV_TOKEN, O_MEM_INFER, O_TIME_TRAIN, O_GPU_HOURS, O_COST,
  O_ENERGY_IT, O_ENERGY, O_CO2, O_WATER, O_DECODE_LATENCY, O_TIME_INFER, O_GPU_HOURS_INFER, O_COST_INFER,
  O_COST_TOTAL, O_FLOPS_TOTAL, O_FITS_MEMORY, O_MEETS_SLO, O_WITHIN_BUDGET, N_OUTPUTS
};

// Global assumptions of one evaluation (one hardware entry for all configurations).
struct Assumptions {
  Hardware hw;
  Efficiency eff;
  Site site;
  FlopOptions flops;
  int sixnd = SIXND_NON_EMBEDDING;
  double n_gpus = 1;             // GPUs used for training (also the ZeRO data-parallel degree)
  int zero = 0;                  // ZeRO stage 0..3
  int recompute = RECOMPUTE_NONE;
  double micro_batch = 1;        // sequences per GPU per micro-step (activations)
  double weight_bytes = 2;       // bytes per weight for inference (bf16 = 2)
  double kv_bytes = 2;           // bytes per cached K/V element
  double batch_tokens = 4194304; // global tokens per optimizer step (optimizer traffic in the roofline)
  double infer_batch = 1;        // sequences decoded together
  double infer_context = -1;     // decode context length; < 0: the configuration's seq_len
  double inference_tokens = 0;   // tokens generated over the deployment
  double latency_slo = kInf;     // seconds per decode step
  double budget_usd = kInf;      // training + inference
  bool six_nd_train = false;     // flops used for time/cost: exact appendix-F (false) or 6ND (true)
};

// A table (stride 1, len n or 1) or a Cartesian grid (mixed radix): field f of configuration i is
// values[f][(i / stride[f]) % len[f]]. A d_ff of 0 means ffn_mult * d_model, an n_kv_heads of 0 means n_heads.
struct Fields {
  const double* values[N_FIELDS];
  i64 len[N_FIELDS];
  i64 stride[N_FIELDS];
  double ffn_mult = 4.0;
  LAWFIT_HD double get(int f, i64 i) const { return values[f][(i / stride[f]) % len[f]]; }
  LAWFIT_HD Config config(i64 i) const {
    Config c;
    c.n_layers = get(F_N_LAYERS, i);
    c.d_model = get(F_D_MODEL, i);
    c.n_heads = get(F_N_HEADS, i);
    c.n_kv_heads = get(F_N_KV_HEADS, i);
    if (c.n_kv_heads == 0.0) c.n_kv_heads = c.n_heads;
    c.d_ff = get(F_D_FF, i);
    if (c.d_ff == 0.0) c.d_ff = std::round(ffn_mult * c.d_model);
    c.vocab = get(F_VOCAB, i);
    c.seq_len = get(F_SEQ_LEN, i);
    c.tokens = get(F_TOKENS, i);
    c.n_experts = get(F_N_EXPERTS, i);
    c.active_experts = get(F_ACTIVE_EXPERTS, i);
    c.gated_mlp = get(F_GATED_MLP, i) != 0.0;
    c.tied_embeddings = get(F_TIED, i) != 0.0;
    c.biases = get(F_BIASES, i) != 0.0;
    c.norm = static_cast<int>(get(F_NORM, i));
    c.position = static_cast<int>(get(F_POSITION, i));
    return c;
  }
};

// Validity of one configuration (the bindings check the value arrays field by field before the call, so
// this only guards the kernels): returns the first offending field or -1.
LAWFIT_HD inline int invalid_field(const Config& c) {
  auto bad_count = [](double v) { return !(v >= 1.0) || !(v < 9.0e15) || v != std::floor(v); };
  if (bad_count(c.n_layers)) return F_N_LAYERS;
  if (bad_count(c.d_model)) return F_D_MODEL;
  if (bad_count(c.n_heads) || std::fmod(c.d_model, c.n_heads) != 0.0) return F_N_HEADS;
  if (bad_count(c.n_kv_heads) || std::fmod(c.n_heads, c.n_kv_heads) != 0.0) return F_N_KV_HEADS;
  if (bad_count(c.d_ff)) return F_D_FF;
  if (bad_count(c.vocab)) return F_VOCAB;
  if (bad_count(c.seq_len)) return F_SEQ_LEN;
  if (!(c.tokens >= 0.0) || !(c.tokens < kInf)) return F_TOKENS;
  if (bad_count(c.n_experts)) return F_N_EXPERTS;
  if (bad_count(c.active_experts) || c.active_experts > c.n_experts) return F_ACTIVE_EXPERTS;
  if (c.norm < NORM_NONE || c.norm > NORM_LAYER) return F_NORM;
  if (c.position < POS_ROPE || c.position > POS_RELATIVE) return F_POSITION;
  return -1;
}

// ---- the cost model in two composable pieces -------------------------------------------------------------
// Everything but the token count is a property of the model (and the assumptions): model_terms() computes it
// once per model, token_terms() the outputs that depend on tokens. evaluate_one() composes the two; the
// planner composes the same two functions, so each formula lives in one place.

// The token-dependent outputs are linear in tokens or follow from a few model-level coefficients.
struct TokenCoefs {
  double flops_train_per_token;  // 3 x forward FLOPs per token (backward = 2 x forward)
  double flops_6nd_per_token;    // 6 N (N per the 6ND convention)
  double model_flops_per_token;  // the one of the two used for time and cost (six_nd_train)
  double flops_infer;            // decode FLOPs per token x inference tokens
  double step_bytes;             // HBM traffic per optimizer step on one GPU
  double cost_infer;             // inference USD
};

struct ModelTerms {
  Counts k;
  double fwd_tok, n6, ctx, dec_tok;
  double w_bytes, states, act, kv_tok;
  double t_step, t_inf, gh_inf;
  bool fits_memory, meets_slo;
  TokenCoefs tc;
};

LAWFIT_HD inline ModelTerms model_terms(const Config& c, const Assumptions& a) {
  ModelTerms m;
  m.k = counts(c);
  const Counts& k = m.k;
  m.fwd_tok = forward_flops_sequence(c, a.flops) / c.seq_len;
  m.n6 = params_for_6nd(c, k, a.sixnd);
  m.ctx = a.infer_context < 0 ? c.seq_len : a.infer_context;
  m.dec_tok = decode_flops_token(c, k, m.ctx);

  // Memory per GPU.
  m.w_bytes = k.params * a.weight_bytes;
  m.states = train_state_bytes(k.params, a.zero, a.n_gpus);
  m.act = activation_bytes(c, a.micro_batch, a.recompute);
  m.kv_tok = kv_bytes_per_token(c, a.kv_bytes);

  // Training FLOPs are linear in tokens: per-token coefficients.
  TokenCoefs& tc = m.tc;
  tc.flops_train_per_token = 3.0 * m.fwd_tok;
  tc.flops_6nd_per_token = 6.0 * m.n6;
  tc.model_flops_per_token = a.six_nd_train ? tc.flops_6nd_per_token : tc.flops_train_per_token;
  tc.flops_infer = m.dec_tok * a.inference_tokens;
  // Memory traffic per optimizer step on each GPU: weights read 3x (forward, two backward matmuls) per
  // micro-step and the 16-byte optimizer state read and written once per step (sharded by ZeRO >= 1).
  const double micro_steps_per_gpu = a.batch_tokens / (c.seq_len * a.micro_batch * a.n_gpus);
  const double shard = a.zero >= 1 ? a.n_gpus : 1.0;
  tc.step_bytes = (micro_steps_per_gpu > 1 ? micro_steps_per_gpu : 1.0) * 3.0 * m.w_bytes + 32.0 * k.params / shard;

  // Inference: decode steps of infer_batch sequences on one GPU.
  m.t_step = decode_step_time(m.dec_tok, k.params_active * a.weight_bytes, m.kv_tok, a.infer_batch, m.ctx, a.hw,
                              a.eff);
  m.t_inf = a.inference_tokens > 0 ? a.inference_tokens / a.infer_batch * m.t_step : 0.0;
  m.gh_inf = m.t_inf / 3600.0;
  tc.cost_infer = m.gh_inf * a.hw.price_per_hour;
  m.fits_memory = m.states + m.act <= a.hw.memory_bytes;
  m.meets_slo = m.t_step <= a.latency_slo;
  return m;
}

// Model FLOPs of training on `tokens` (the count used for time and cost) and total FLOPs with inference.
LAWFIT_HD inline double model_flops(const TokenCoefs& tc, double tokens) { return tc.model_flops_per_token * tokens; }
LAWFIT_HD inline double flops_total(const TokenCoefs& tc, double tokens) {
  return model_flops(tc, tokens) + tc.flops_infer;
}

// Training time: roofline per optimizer step on each GPU. Compute: this GPU's share of the step's hardware
// FLOPs (full recomputation adds one forward: 4/3, selective: the attention core again).
LAWFIT_HD inline double train_time(const TokenCoefs& tc, double tokens, const Assumptions& a) {
  double hw_factor = 1.0;
  if (a.recompute == RECOMPUTE_FULL) hw_factor = 4.0 / 3.0;
  const double steps = tokens / a.batch_tokens;
  const double step_flops = model_flops(tc, tokens) * hw_factor / (steps > 0 ? steps : 1.0) / a.n_gpus;
  return steps > 0 ? steps * roofline_time(step_flops, tc.step_bytes, a.hw, a.eff) : 0.0;
}
LAWFIT_HD inline double train_gpu_hours(const TokenCoefs& tc, double tokens, const Assumptions& a) {
  return train_time(tc, tokens, a) * a.n_gpus / 3600.0;
}
// Training + inference USD.
LAWFIT_HD inline double cost_total(const TokenCoefs& tc, double tokens, const Assumptions& a) {
  return train_gpu_hours(tc, tokens, a) * a.hw.price_per_hour + tc.cost_infer;
}

// Every output for one configuration (model terms m, the configuration's tokens) into o[N_OUTPUTS].
LAWFIT_HD inline void evaluate_tokens(const ModelTerms& m, double tokens, const Assumptions& a, double* o) {
  const Counts& k = m.k;
  const TokenCoefs& tc = m.tc;
  o[O_PARAMS] = k.params;
  o[O_PARAMS_NON_EMBEDDING] = k.params_non_embedding;
  o[O_PARAMS_ACTIVE] = k.params_active;
  o[O_PARAMS_EMBEDDING] = k.params_embedding;
  o[O_FLOPS_TRAIN] = tc.flops_train_per_token * tokens;
  o[O_FLOPS_TRAIN_6ND] = tc.flops_6nd_per_token * tokens;
  o[O_FLOPS_FWD_TOKEN] = m.fwd_tok;
  o[O_FLOPS_PREFILL_TOKEN] = m.fwd_tok;
  o[O_FLOPS_DECODE_TOKEN] = m.dec_tok;
  o[O_MEM_WEIGHTS] = m.w_bytes;
  o[O_MEM_STATES] = m.states;
  o[O_MEM_ACTIVATIONS] = m.act;
  o[O_MEM_TRAIN] = m.states + m.act;
  o[O_KV_TOKEN] = m.kv_tok;
  o[O_MEM_INFER] = m.w_bytes + a.infer_batch * m.ctx * m.kv_tok;

  const double t_train = train_time(tc, tokens, a);
  const double gpu_hours = t_train * a.n_gpus / 3600.0;
  const Footprint fp = footprint(gpu_hours, a.hw.power_w, a.eff.utilisation, a.site);
  o[O_TIME_TRAIN] = t_train;
  o[O_GPU_HOURS] = gpu_hours;
  o[O_COST] = gpu_hours * a.hw.price_per_hour;
  o[O_ENERGY_IT] = fp.energy_it_kwh;
  o[O_ENERGY] = fp.energy_kwh;
  o[O_CO2] = fp.co2_kg;
  o[O_WATER] = fp.water_l;

  o[O_DECODE_LATENCY] = m.t_step;
  o[O_TIME_INFER] = m.t_inf;
  o[O_GPU_HOURS_INFER] = m.gh_inf;
  o[O_COST_INFER] = tc.cost_infer;
  o[O_COST_TOTAL] = o[O_COST] + o[O_COST_INFER];
  o[O_FLOPS_TOTAL] = flops_total(tc, tokens);
  o[O_FITS_MEMORY] = m.fits_memory ? 1.0 : 0.0;
  o[O_MEETS_SLO] = m.meets_slo ? 1.0 : 0.0;
  o[O_WITHIN_BUDGET] = (o[O_COST_TOTAL] <= a.budget_usd) ? 1.0 : 0.0;
}

// Every output for one configuration, into o[N_OUTPUTS].
LAWFIT_HD inline void evaluate_one(const Config& c, const Assumptions& a, double* o) {
  evaluate_tokens(model_terms(c, a), c.tokens, a, o);
}

// ---- model x tokens factorisation of a set of configurations ---------------------------------------------
// In a Cartesian grid whose tokens axis is independent of every other axis (mixed radix), configuration
// i = (hi * T + t) * s + lo (s the tokens stride, T its length, lo < s) is model hi * s + lo with tokens digit
// t: the model-level terms are computed once per model. Otherwise (a table, or tokens tied to another field)
// every configuration is its own model.
struct ModelTokens {
  bool factored = false;
  i64 s = 1, T = 1, G = 0, M = 0;
  ModelTokens() = default;
  ModelTokens(const Fields& f, i64 n) : G(n) {
    const i64 st = f.stride[F_TOKENS], len = f.len[F_TOKENS];
    factored = n > 0 && st >= 1 && len >= 1 && n % (st * len) == 0;
    for (int k = 0; k < N_FIELDS && factored; ++k) {
      if (k == F_TOKENS || f.len[k] == 1) continue;
      const i64 lo = f.stride[k], hi = f.stride[k] * f.len[k];  // digit k spans index weights [lo, hi)
      const bool below = hi <= st && st % hi == 0;
      const bool above = lo >= st * len && lo % (st * len) == 0;
      factored = below || above;
    }
    if (factored) {
      s = st;
      T = len;
      M = n / T;
    } else {
      s = 1;
      T = 1;
      M = n;
    }
  }
  // Model of configuration i, its tokens digit, and configuration of (model, digit).
  LAWFIT_HD i64 model(i64 i) const { return factored ? (i / (s * T)) * s + i % s : i; }
  LAWFIT_HD i64 digit(i64 i) const { return factored ? (i / s) % T : 0; }
  LAWFIT_HD i64 config(i64 m, i64 t) const { return factored ? ((m / s) * T + t) * s + m % s : m; }
  // A representative configuration of model m (its tokens field is not used).
  LAWFIT_HD i64 first(i64 m) const { return config(m, 0); }
  // Configurations per model.
  LAWFIT_HD i64 per_model() const { return factored ? T : 1; }
};

// Evaluate n configurations; out[j] is nullptr for an output that was not asked for, else an array [n].
// The model terms are computed once per model (see ModelTokens), the token outputs per configuration.
inline void evaluate_all(const Fields& f, i64 n, const Assumptions& a, double* const* out, int threads) {
  const ModelTokens mt(f, n);
  const double* tok = f.values[F_TOKENS];
  const i64 T = mt.per_model();
  parallel_for(mt.M, threads, [&](i64 m) {
    const Config c = f.config(mt.first(m));
    const ModelTerms terms = model_terms(c, a);
    double o[N_OUTPUTS];
    for (i64 t = 0; t < T; ++t) {
      const i64 i = mt.config(m, t);
      evaluate_tokens(terms, mt.factored ? tok[t] : c.tokens, a, o);
      for (int j = 0; j < N_OUTPUTS; ++j)
        if (out[j]) out[j][i] = o[j];
    }
  }, std::max<i64>(1, 4096 / T));
}

}  // namespace lawfit::cost
