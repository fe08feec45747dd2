// Decoder-transformer cost model: parameter counts, training and inference FLOPs, memory.
// Formulas: REFERENCE.md section 4 (Kaplan et al. 2020; Hoffmann et al. 2022 appendix F; Korthikanti et al.
// 2022 for activations; Rajbhandari et al. 2020 for ZeRO). Every function is a pure per-configuration
// function (LAWFIT_HD, no allocation), so the CPU loop and a later CUDA kernel share it.
//
// Conventions (stated once here, repeated in the Python `conventions` attribute):
//   * parameters count weight matrices; biases only when `biases` is set; norm gains per `norm`.
//   * params_embedding = input token embedding + learned positional table + untied output head.
//   * params_non_embedding = params - params_embedding (Kaplan: N = 12 n_layer d_model^2 for a plain MLP).
//   * params_active (MoE) counts `active_experts` MLPs per layer instead of `n_experts`.
//   * FLOPs are multiply-adds x 2; backward = 2 x forward; model FLOPs, no recomputation (time adds it).
#pragma once
#include "core/common.hpp"

namespace lawfit::cost {

enum Norm : int { NORM_NONE = 0, NORM_RMS = 1, NORM_LAYER = 2 };
enum Position : int { POS_ROPE = 0, POS_LEARNED = 1, POS_RELATIVE = 2 };
enum Recompute : int { RECOMPUTE_NONE = 0, RECOMPUTE_SELECTIVE = 1, RECOMPUTE_FULL = 2 };
enum SixNDParams : int { SIXND_NON_EMBEDDING = 0, SIXND_WITH_HEAD = 1, SIXND_TOTAL = 2 };

// One decoder configuration. Integers are held as doubles (exact below 2^53).
struct Config {
  double n_layers, d_model, n_heads, n_kv_heads, d_ff, vocab, seq_len, tokens;
  double n_experts = 1, active_experts = 1;
  bool gated_mlp = false, tied_embeddings = false, biases = false;
  int norm = NORM_RMS, position = POS_ROPE;
};

struct Counts {
  double params, params_non_embedding, params_active, params_embedding, params_head;
};

LAWFIT_HD inline double d_head(const Config& c) { return c.d_model / c.n_heads; }

// Parameters of one layer with `experts` MLPs (all experts for the total, the active ones for MoE compute).
LAWFIT_HD inline double layer_params(const Config& c, double experts) {
  const double d = c.d_model, dh = d_head(c);
  const double q = c.n_heads * dh, kv = c.n_kv_heads * dh;
  double attn = d * q + 2.0 * d * kv + q * d;
  double mlp = (c.gated_mlp ? 3.0 : 2.0) * d * c.d_ff;
  double router = c.n_experts > 1 ? d * c.n_experts : 0.0;
  if (c.biases) {
    attn += q + 2.0 * kv + d;
    mlp += (c.gated_mlp ? 2.0 : 1.0) * c.d_ff + d;
  }
  const double norms = c.norm == NORM_LAYER ? 4.0 * d : (c.norm == NORM_RMS ? 2.0 * d : 0.0);
  // Transformer-XL relative positions as in Gopher/Chinchilla: relative keys d^2, content and position biases 2d.
  const double rel = c.position == POS_RELATIVE ? d * d + 2.0 * d : 0.0;
  return attn + experts * mlp + router + norms + rel;
}

LAWFIT_HD inline Counts counts(const Config& c) {
  const double d = c.d_model;
  const double final_norm = c.norm == NORM_LAYER ? 2.0 * d : (c.norm == NORM_RMS ? d : 0.0);
  const double head = c.tied_embeddings ? 0.0 : c.vocab * d;
  const double emb = c.vocab * d + (c.position == POS_LEARNED ? c.seq_len * d : 0.0);
  Counts k;
  k.params_non_embedding = c.n_layers * layer_params(c, c.n_experts) + final_norm;
  k.params_embedding = emb + head;
  k.params_head = head;
  k.params = k.params_non_embedding + k.params_embedding;
  k.params_active = c.n_layers * layer_params(c, c.active_experts) + final_norm + k.params_embedding;
  return k;
}

// The N used by 6ND (see SixNDParams): Kaplan's non-embedding count (active experts for MoE), Chinchilla's
// count with the output head (their table A4/A9), or all parameters.
LAWFIT_HD inline double params_for_6nd(const Config& c, const Counts& k, int conv) {
  const double ne_active = k.params_active - k.params_embedding;
  if (conv == SIXND_WITH_HEAD) return ne_active + (c.tied_embeddings ? c.vocab * c.d_model : k.params_head);
  if (conv == SIXND_TOTAL) return k.params_active;
  return ne_active;
}

struct FlopOptions {
  bool causal = false;       // halve the S^2 attention terms (causal mask skips the upper triangle)
  bool vocab_flops = true;   // count the embedding (2SVd, one-hot matmul) and final logits (2SdV) terms
};

// Forward FLOPs of one sequence of length S, Chinchilla appendix F, generalised to grouped-query attention
// (K/V projections use n_kv_heads), gated MLPs (3 matrices) and MoE (active experts plus the router).
LAWFIT_HD inline double forward_flops_sequence(const Config& c, const FlopOptions& o) {
  const double S = c.seq_len, d = c.d_model, dh = d_head(c), H = c.n_heads, Hkv = c.n_kv_heads;
  const double att_q = H * dh;
  const double half = o.causal ? 0.5 : 1.0;
  const double qkv = 2.0 * S * d * (att_q + 2.0 * Hkv * dh);
  const double logits = 2.0 * S * S * att_q * half;
  const double softmax = 3.0 * H * S * S * half;
  const double value = 2.0 * S * S * att_q * half;
  const double out = 2.0 * S * att_q * d;
  const double dense = 2.0 * S * (c.gated_mlp ? 3.0 : 2.0) * d * c.d_ff * c.active_experts;
  const double router = c.n_experts > 1 ? 2.0 * S * d * c.n_experts : 0.0;
  double f = c.n_layers * (qkv + logits + softmax + value + out + dense + router);
  if (o.vocab_flops) f += 2.0 * S * c.vocab * d + 2.0 * S * d * c.vocab;
  return f;
}

// Per-token FLOPs for inference. Prefill: the forward pass over a full context, per token. Decode: one new
// token against a context of `context` cached tokens: 2 x active matmul parameters + 4 L c H dh (QK^T and AV)
// + the final logits.
LAWFIT_HD inline double decode_flops_token(const Config& c, const Counts& k, double context) {
  const double dh = d_head(c);
  const double matmul = k.params_active - k.params_embedding;  // non-embedding active weights
  return 2.0 * matmul + 4.0 * c.n_layers * context * c.n_heads * dh + 2.0 * c.d_model * c.vocab;
}

// KV cache bytes per token: 2 (K and V) x n_layers x n_kv_heads x d_head x bytes.
LAWFIT_HD inline double kv_bytes_per_token(const Config& c, double bytes) {
  return 2.0 * c.n_layers * c.n_kv_heads * d_head(c) * bytes;
}

// Bytes of mixed-precision Adam training state per GPU: 2 (bf16 weights) + 2 (bf16 grads) + 12 (fp32 master,
// m, v) = 16 bytes/param, sharded by ZeRO stage over `dp` data-parallel ranks.
LAWFIT_HD inline double train_state_bytes(double P, int zero, double dp) {
  switch (zero) {
    case 1: return 4.0 * P + 12.0 * P / dp;
    case 2: return 2.0 * P + 14.0 * P / dp;
    case 3: return 16.0 * P / dp;
    default: return 16.0 * P;
  }
}

// Activation bytes per GPU for a micro-batch of b sequences (Korthikanti et al. 2022, no tensor or sequence
// parallelism, 16-bit activations): per layer s b h (34 + 5 a s / h) without recomputation, 34 s b h with
// selective recomputation (attention core recomputed), 2 s b h with full recomputation (layer inputs only).
LAWFIT_HD inline double activation_bytes(const Config& c, double b, int recompute) {
  const double s = c.seq_len, h = c.d_model, a = c.n_heads;
  double per_layer;
  if (recompute == RECOMPUTE_FULL) per_layer = 2.0 * s * b * h;
  else if (recompute == RECOMPUTE_SELECTIVE) per_layer = 34.0 * s * b * h;
  else per_layer = s * b * h * (34.0 + 5.0 * a * s / h);
  return c.n_layers * per_layer;
}

}  // namespace lawfit::cost
