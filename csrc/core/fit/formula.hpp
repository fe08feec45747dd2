// User-written laws: a formula compiled (by python/lawfit/formula.py) into a flat SSA bytecode tape, and
// FormulaModel, which evaluates the tape with the same "model" interface as laws::StaticModel, so the
// batched solver (core/fit/batch.hpp) fits it exactly like a built-in law.
//
// Assumptions: the tape has been validated by validate_tape() (operands refer to earlier slots only,
// indices in range, at most kFormulaMaxTape instructions, at most kFormulaMaxParams parameters); the last
// instruction is the formula's value. Evaluation is a forward sweep into a fixed-size slot array and, when
// the gradient is wanted, a reverse (adjoint) sweep over the instructions that depend on a parameter.
// No allocation, no exceptions, no virtual calls; usable on the GPU.
#pragma once
#include <cstdint>

#include "core/common.hpp"
#include "core/laws/law.hpp"
#include "core/vmath.hpp"

namespace lawfit::fit {

// Instruction codes. The values are shared with python/lawfit/formula.py (OPS there); append only.
enum FormulaOp : std::int32_t {
  F_CONST = 0,    // v = consts[arg]
  F_PARAM = 1,    // v = p[arg]
  F_INPUT = 2,    // v = x[arg]
  F_ADD = 3,      // v = a + b
  F_SUB = 4,      // v = a - b
  F_MUL = 5,      // v = a * b
  F_DIV = 6,      // v = a / b
  F_POWK = 7,     // v = pow(a, consts[arg]) (constant exponent; a may be negative for integer exponents)
  F_NEG = 8,      // v = -a
  F_EXP = 9,
  F_LOG = 10,
  F_LOG10 = 11,
  F_SQRT = 12,
  F_ABS = 13,
  F_SIGMOID = 14,
  F_TANH = 15,
  F_LOG1P = 16,
  F_EXPM1 = 17,
  F_MIN = 18,     // v = min(a, b) (ties take a)
  F_MAX = 19,     // v = max(a, b) (ties take a)
  F_OP_COUNT = 20,
};

constexpr int kFormulaMaxTape = 256;
constexpr int kFormulaMaxParams = 16;

// Number of slot operands an instruction reads (0, 1 or 2).
LAWFIT_HD inline int formula_arity(std::int32_t op) {
  switch (op) {
    case F_CONST:
    case F_PARAM:
    case F_INPUT:
      return 0;
    case F_ADD:
    case F_SUB:
    case F_MUL:
    case F_DIV:
    case F_MIN:
    case F_MAX:
      return 2;
    default:
      return 1;
  }
}

// One packed instruction: operands a, b are slot indices (-1 when unused); c is the constant value for
// F_CONST / F_POWK; arg the parameter or input index for F_PARAM / F_INPUT.
struct FormulaInstr {
  std::int32_t op;
  std::int32_t a;
  std::int32_t b;
  std::int32_t arg;
  double c;
  bool active;  // depends on at least one parameter (takes part in the reverse sweep)
};

// Check a raw tape (op[n], a[n], b[n], arg[n], consts[m]). Returns nullptr when valid, otherwise a static
// message naming the first problem; *bad is set to the offending instruction index.
inline const char* validate_tape(const std::int32_t* op, const std::int32_t* a, const std::int32_t* b,
                                 const std::int32_t* arg, i64 n, i64 n_consts, int n_params, int n_inputs,
                                 i64* bad) {
  *bad = -1;
  if (n < 1) return "the tape is empty";
  if (n > kFormulaMaxTape) return "the tape is longer than 256 instructions";
  if (n_params < 1 || n_params > kFormulaMaxParams) return "n_params must be in [1, 16]";
  if (n_inputs < 0) return "n_inputs must be >= 0";
  for (i64 i = 0; i < n; ++i) {
    *bad = i;
    if (op[i] < 0 || op[i] >= F_OP_COUNT) return "unknown instruction code";
    const int ar = formula_arity(op[i]);
    if (ar >= 1 && (a[i] < 0 || a[i] >= i)) return "operand 'a' must refer to an earlier slot";
    if (ar >= 2 && (b[i] < 0 || b[i] >= i)) return "operand 'b' must refer to an earlier slot";
    if ((op[i] == F_CONST || op[i] == F_POWK) && (arg[i] < 0 || arg[i] >= n_consts))
      return "constant index out of range";
    if (op[i] == F_PARAM && (arg[i] < 0 || arg[i] >= n_params)) return "parameter index out of range";
    if (op[i] == F_INPUT && (arg[i] < 0 || arg[i] >= n_inputs)) return "input index out of range";
  }
  *bad = -1;
  return nullptr;
}

// Pack a validated tape into instrs[n] and mark the instructions that depend on a parameter.
inline void pack_tape(const std::int32_t* op, const std::int32_t* a, const std::int32_t* b,
                      const std::int32_t* arg, const double* consts, i64 n, FormulaInstr* instrs) {
  for (i64 i = 0; i < n; ++i) {
    FormulaInstr& q = instrs[i];
    q.op = op[i];
    const int ar = formula_arity(op[i]);
    q.a = ar >= 1 ? a[i] : -1;
    q.b = ar >= 2 ? b[i] : -1;
    q.arg = arg[i];
    q.c = (op[i] == F_CONST || op[i] == F_POWK) ? consts[arg[i]] : 0.0;
    q.active = op[i] == F_PARAM || (q.a >= 0 && instrs[q.a].active) || (q.b >= 0 && instrs[q.b].active);
  }
}

// The model interface of laws::StaticModel with a runtime parameter count (PMAX = 16).
struct FormulaModel {
  static constexpr int PMAX = kFormulaMaxParams;
  const FormulaInstr* code;  // [n]
  int n;
  int np;
  int d;
  bool linear[PMAX];
  Scale scales[PMAX];

  LAWFIT_HD int n_params() const { return np; }
  LAWFIT_HD int n_inputs() const { return d; }
  // Every finite input is in the domain: where the formula is not finite (log of a negative number, ...),
  // the solver sees a non-finite value and reports NON_FINITE for that start or curve.
  LAWFIT_HD bool domain(const double* x) const {
    for (int k = 0; k < d; ++k)
      if (!std::isfinite(x[k])) return false;
    return true;
  }
  LAWFIT_HD bool is_linear(int j) const { return linear[j]; }
  LAWFIT_HD Scale scale(int j) const { return scales[j]; }
  // The linear parameter whose term nonlinear parameter j sits in (core/laws/law.hpp amplitude), -1 if none; stored
  // plus one so that a model nobody filled (zeros) has none.
  int amplitude1[PMAX] = {};
  LAWFIT_HD int amplitude(int j) const { return amplitude1[j] - 1; }

  // Value at x[d] with parameters p[np]; if g != nullptr also df/dp into g[np].
  LAWFIT_HD double eval(const double* x, const double* p, double* g) const {
    if (n <= 0) return kNaN;  // never for a compiled formula
    double v[kFormulaMaxTape];
    for (int i = 0; i < n; ++i) {
      const FormulaInstr& q = code[i];
      double r;
      switch (q.op) {
        case F_CONST: r = q.c; break;
        case F_PARAM: r = p[q.arg]; break;
        case F_INPUT: r = x[q.arg]; break;
        case F_ADD: r = v[q.a] + v[q.b]; break;
        case F_SUB: r = v[q.a] - v[q.b]; break;
        case F_MUL: r = v[q.a] * v[q.b]; break;
        case F_DIV: r = v[q.a] / v[q.b]; break;
        case F_POWK: r = std::pow(v[q.a], q.c); break;
        case F_NEG: r = -v[q.a]; break;
        case F_EXP: r = std::exp(v[q.a]); break;
        case F_LOG: r = std::log(v[q.a]); break;
        case F_LOG10: r = std::log10(v[q.a]); break;
        case F_SQRT: r = std::sqrt(v[q.a]); break;
        case F_ABS: r = std::fabs(v[q.a]); break;
        case F_SIGMOID: r = laws::sigmoid(v[q.a]); break;
        case F_TANH: r = std::tanh(v[q.a]); break;
        case F_LOG1P: r = std::log1p(v[q.a]); break;
        case F_EXPM1: r = std::expm1(v[q.a]); break;
        case F_MIN: r = v[q.b] < v[q.a] ? v[q.b] : v[q.a]; break;
        case F_MAX: r = v[q.b] > v[q.a] ? v[q.b] : v[q.a]; break;
        default: r = kNaN; break;
      }
      v[i] = r;
    }
    const double f = v[n - 1];
    if (!g) return f;

    // Reverse sweep: adjoints of the active slots only (inactive slots have zero derivative).
    double adj[kFormulaMaxTape];
    for (int j = 0; j < np; ++j) g[j] = 0.0;
    for (int i = 0; i < n; ++i) adj[i] = 0.0;
    adj[n - 1] = 1.0;
    for (int i = n - 1; i >= 0; --i) {
      const FormulaInstr& q = code[i];
      if (!q.active) continue;
      const double w = adj[i];
      const double va = q.a >= 0 ? v[q.a] : 0.0;
      switch (q.op) {
        case F_PARAM: g[q.arg] += w; break;
        case F_ADD:
          adj[q.a] += w;
          adj[q.b] += w;
          break;
        case F_SUB:
          adj[q.a] += w;
          adj[q.b] -= w;
          break;
        case F_MUL:
          adj[q.a] += w * v[q.b];
          adj[q.b] += w * va;
          break;
        case F_DIV: {
          const double inv = 1.0 / v[q.b];
          adj[q.a] += w * inv;
          adj[q.b] -= w * v[i] * inv;
          break;
        }
        case F_POWK: adj[q.a] += w * (q.c * std::pow(va, q.c - 1.0)); break;
        case F_NEG: adj[q.a] -= w; break;
        case F_EXP: adj[q.a] += w * v[i]; break;
        case F_LOG: adj[q.a] += w / va; break;
        case F_LOG10: adj[q.a] += w / (va * 2.302585092994045684017991454684364); break;
        case F_SQRT: adj[q.a] += w * (0.5 / v[i]); break;
        case F_ABS: adj[q.a] += va > 0.0 ? w : (va < 0.0 ? -w : 0.0); break;
        case F_SIGMOID: adj[q.a] += w * (v[i] * (1.0 - v[i])); break;
        case F_TANH: adj[q.a] += w * (1.0 - v[i] * v[i]); break;
        case F_LOG1P: adj[q.a] += w / (1.0 + va); break;
        case F_EXPM1: adj[q.a] += w * (v[i] + 1.0); break;
        case F_MIN:
          if (v[q.b] < va) adj[q.b] += w; else adj[q.a] += w;
          break;
        case F_MAX:
          if (v[q.b] > va) adj[q.b] += w; else adj[q.a] += w;
          break;
        default: break;
      }
    }
    return f;
  }

#ifndef __CUDA_ARCH__
  // Block form of eval (CPU; accumulate() uses it for contiguous points when the model has one): values f[q]
  // and gradients jt[q * PMAX + j] (j < np) at nq <= kMaxBlock points x[q * d + k]. One pass over the tape
  // per block, each instruction applied to every point of the block in a loop the compiler vectorises (vector
  // exp/log/pow where core/vmath.hpp provides them), so the instruction dispatch is paid once per block, not per
  // point. Per point, the same operations in the same order as eval.
  static constexpr int kMaxBlock = 32;
  void eval_block(const double* x, int nq, const double* p, double* f, double* jt) const {
    if (n <= 0) {  // never for a compiled formula
      for (int k = 0; k < nq; ++k) f[k] = kNaN;
      return;
    }
    double v[kFormulaMaxTape][kMaxBlock];
    for (int i = 0; i < n; ++i) {
      const FormulaInstr& q = code[i];
      double* r = v[i];
      const double* A = q.a >= 0 ? v[q.a] : nullptr;
      const double* B = q.b >= 0 ? v[q.b] : nullptr;
      const double c = q.c;
      switch (q.op) {
        case F_CONST: each(r, nq, [&](int k) { return c; }); break;
        case F_PARAM: each(r, nq, [&](int k) { return p[q.arg]; }); break;
        case F_INPUT: each(r, nq, [&](int k) { return x[k * d + q.arg]; }); break;
        case F_ADD: each(r, nq, [&](int k) { return A[k] + B[k]; }); break;
        case F_SUB: each(r, nq, [&](int k) { return A[k] - B[k]; }); break;
        case F_MUL: each(r, nq, [&](int k) { return A[k] * B[k]; }); break;
        case F_DIV: each(r, nq, [&](int k) { return A[k] / B[k]; }); break;
        case F_POWK: each(r, nq, [&](int k) { return std::pow(A[k], c); }); break;
        case F_NEG: each(r, nq, [&](int k) { return -A[k]; }); break;
        case F_EXP: each(r, nq, [&](int k) { return std::exp(A[k]); }); break;
        case F_LOG: each(r, nq, [&](int k) { return std::log(A[k]); }); break;
        case F_LOG10: each(r, nq, [&](int k) { return std::log10(A[k]); }); break;
        case F_SQRT: each(r, nq, [&](int k) { return std::sqrt(A[k]); }); break;
        case F_ABS: each(r, nq, [&](int k) { return std::fabs(A[k]); }); break;
        case F_SIGMOID: each(r, nq, [&](int k) { return laws::sigmoid(A[k]); }); break;
        case F_TANH: each(r, nq, [&](int k) { return std::tanh(A[k]); }); break;
        case F_LOG1P: each(r, nq, [&](int k) { return std::log1p(A[k]); }); break;
        case F_EXPM1: each(r, nq, [&](int k) { return std::expm1(A[k]); }); break;
        case F_MIN: each(r, nq, [&](int k) { return B[k] < A[k] ? B[k] : A[k]; }); break;
        case F_MAX: each(r, nq, [&](int k) { return B[k] > A[k] ? B[k] : A[k]; }); break;
        default: each(r, nq, [&](int k) { return kNaN; }); break;
      }
    }
    for (int k = 0; k < nq; ++k) f[k] = v[n - 1][k];
    if (!jt) return;

    // Reverse sweep over the active instructions; only active slots carry adjoints (an inactive operand's
    // adjoint would never be used, so it is not formed).
    double adj[kFormulaMaxTape][kMaxBlock];
    for (int i = 0; i < n; ++i)
      if (code[i].active) each(adj[i], nq, [&](int k) { return 0.0; });
    for (int k = 0; k < nq; ++k)
      for (int j = 0; j < np; ++j) jt[k * PMAX + j] = 0.0;
    each(adj[n - 1], nq, [&](int k) { return 1.0; });
    for (int i = n - 1; i >= 0; --i) {
      const FormulaInstr& q = code[i];
      if (!q.active) continue;
      const double* w = adj[i];
      const double* vi = v[i];
      const double* A = q.a >= 0 ? v[q.a] : nullptr;
      const double* B = q.b >= 0 ? v[q.b] : nullptr;
      double* da = q.a >= 0 && code[q.a].active ? adj[q.a] : nullptr;
      double* db = q.b >= 0 && code[q.b].active ? adj[q.b] : nullptr;
      const double c = q.c;
      switch (q.op) {
        case F_PARAM:
          for (int k = 0; k < nq; ++k) jt[k * PMAX + q.arg] += w[k];
          break;
        case F_ADD:
          if (da) add(da, nq, [&](int k) { return w[k]; });
          if (db) add(db, nq, [&](int k) { return w[k]; });
          break;
        case F_SUB:
          if (da) add(da, nq, [&](int k) { return w[k]; });
          if (db) add(db, nq, [&](int k) { return -w[k]; });
          break;
        case F_MUL:
          if (da) add(da, nq, [&](int k) { return w[k] * B[k]; });
          if (db) add(db, nq, [&](int k) { return w[k] * A[k]; });
          break;
        case F_DIV:
          if (da) add(da, nq, [&](int k) { return w[k] * (1.0 / B[k]); });
          if (db) add(db, nq, [&](int k) { return -(w[k] * vi[k] * (1.0 / B[k])); });
          break;
        case F_POWK: if (da) add(da, nq, [&](int k) { return w[k] * (c * std::pow(A[k], c - 1.0)); }); break;
        case F_NEG: if (da) add(da, nq, [&](int k) { return -w[k]; }); break;
        case F_EXP: if (da) add(da, nq, [&](int k) { return w[k] * vi[k]; }); break;
        case F_LOG: if (da) add(da, nq, [&](int k) { return w[k] / A[k]; }); break;
        case F_LOG10:
          if (da) add(da, nq, [&](int k) { return w[k] / (A[k] * 2.302585092994045684017991454684364); });
          break;
        case F_SQRT: if (da) add(da, nq, [&](int k) { return w[k] * (0.5 / vi[k]); }); break;
        case F_ABS:
          if (da) add(da, nq, [&](int k) { return A[k] > 0.0 ? w[k] : (A[k] < 0.0 ? -w[k] : 0.0); });
          break;
        case F_SIGMOID: if (da) add(da, nq, [&](int k) { return w[k] * (vi[k] * (1.0 - vi[k])); }); break;
        case F_TANH: if (da) add(da, nq, [&](int k) { return w[k] * (1.0 - vi[k] * vi[k]); }); break;
        case F_LOG1P: if (da) add(da, nq, [&](int k) { return w[k] / (1.0 + A[k]); }); break;
        case F_EXPM1: if (da) add(da, nq, [&](int k) { return w[k] * (vi[k] + 1.0); }); break;
        case F_MIN:
          if (db) add(db, nq, [&](int k) { return B[k] < A[k] ? w[k] : 0.0; });
          if (da) add(da, nq, [&](int k) { return B[k] < A[k] ? 0.0 : w[k]; });
          break;
        case F_MAX:
          if (db) add(db, nq, [&](int k) { return B[k] > A[k] ? w[k] : 0.0; });
          if (da) add(da, nq, [&](int k) { return B[k] > A[k] ? 0.0 : w[k]; });
          break;
        default: break;
      }
    }
  }

 private:
  // r[k] = fn(k) and r[k] += fn(k) for k < nq, as loops the compiler can vectorise.
  template <class Fn>
  static void each(double* r, int nq, Fn fn) {
    LAWFIT_SIMD
    for (int k = 0; k < nq; ++k) r[k] = fn(k);
  }
  template <class Fn>
  static void add(double* r, int nq, Fn fn) {
    LAWFIT_SIMD
    for (int k = 0; k < nq; ++k) r[k] += fn(k);
  }
#endif
};

}  // namespace lawfit::fit
