// Planning over a grid of configurations with a fitted law L(N, D) and parameter samples theta_s:
//
//   objective LOSS: per sample, argmin_g L(N_g, D_g; theta_s) over configurations with cost_g <= budget
//   objective COST: per sample, argmin_g cost_g over configurations with L(N_g, D_g; theta_s) <= target
//   pareto:         per sample, the (cost, loss) Pareto set: configurations in increasing cost whose loss
//                   beats every cheaper one
//
// Fused: nothing of size samples x grid is ever stored; memory is O(grid) for the per-configuration N, D, cost
// (computed once) and the scan lists below, plus O(samples) outputs.
//
// Factorised scan: a grid has few distinct N and D values. The candidate list (admissible configurations in
// scan order) stores, per configuration, the index of its N and of its D among the distinct values. For a law
// that is additively separable (laws::IsSeparable, see law.hpp) each sample first tabulates its terms once per
// distinct value, then the scan is two table lookups and two adds per configuration over contiguous arrays;
// the sum is bit-identical to Law::eval. Other laws evaluate eval_prepared on inputs prepared once per list
// (laws with prepare) or eval on the raw inputs. Samples are scanned in blocks (the block's lists stay in
// cache while each of its samples runs over them) and blocks run in parallel; each sample is reduced over
// the list in one fixed order, so results are identical for any thread count and block size. Ties go to the
// lowest configuration index (LOSS) or the first in cost order (COST, pareto).
//
// Dominance pruning (exact): if a sample's law is strictly decreasing in N and in D (e.g. chinchilla with
// A, B, alpha, beta > 0), a configuration whose (N, D) is dominated by another admissible one (N' >= N,
// D' >= D, and for COST/pareto also cost' <= cost earlier in the cost order) can never be the optimum, so
// the scan for that sample runs over the non-dominated configurations only. The candidate lists are built
// once, independent of the samples; samples whose law is not known to be monotone scan the full list.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "core/common.hpp"
#include "core/cost/evaluate.hpp"
#include "core/laws/chinchilla.hpp"
#include "core/laws/power_law.hpp"

namespace lawfit::cost {

// Whether a law is strictly decreasing in each of its inputs at parameters p (false: unknown).
template <class Law>
struct Monotone {
  LAWFIT_HD static bool strictly_decreasing(const double*) { return false; }
};
template <>
struct Monotone<laws::Chinchilla> {
  LAWFIT_HD static bool strictly_decreasing(const double* p) {
    return p[1] > 0 && p[2] > 0 && p[3] > 0 && p[4] > 0 && std::isfinite(p[0]) && std::isfinite(p[1]) &&
           std::isfinite(p[2]) && std::isfinite(p[3]) && std::isfinite(p[4]);
  }
};

enum Objective : int { OBJ_LOSS = 0, OBJ_COST = 1 };
enum CostUnit : int { UNIT_FLOPS = 0, UNIT_USD = 1 };

struct PlanOptions {
  int objective = OBJ_LOSS;
  int unit = UNIT_FLOPS;
  double budget = kInf;        // LOSS: cost limit (unit above)
  double target = kNaN;        // COST: loss limit
  int n_convention = SIXND_NON_EMBEDDING;  // which parameter count is the law's N
  bool require_fit = false;    // drop configurations whose training state does not fit in memory
  bool require_slo = false;    // drop configurations whose decode step misses the latency SLO
  bool prune = true;
};

// Law inputs, cost and admissibility of every configuration, from the model x tokens factorisation of the
// fields (ModelTokens, evaluate.hpp): the model-level terms (N, the cost coefficients, the memory and latency
// constraints) are computed once per model, in parallel; a configuration's D is its tokens value and its cost
// costs a multiply-add (FLOPs) or the training-time roofline (USD) from the same functions evaluate_one uses.
// Nothing of size G is stored.
struct GridTable {
  Fields f;
  ModelTokens mt;
  Assumptions a;
  PlanOptions po;
  std::vector<double> N;                 // [M] the law's N
  std::vector<TokenCoefs> coef;          // [M]
  std::vector<unsigned char> model_ok;   // [M] meets the model-level constraints (memory, latency SLO)

  // Tokens (the law's D) of configuration i of model m at tokens digit t.
  double D(i64 m, i64 t, i64 i) const { return mt.factored ? f.values[F_TOKENS][t] : f.get(F_TOKENS, i); }
  double cost(i64 m, double d) const {
    return po.unit == UNIT_USD ? cost_total(coef[m], d, a) : flops_total(coef[m], d);
  }
  // Meets the constraints (and for LOSS the budget).
  bool admissible(i64 m, double d, double c) const {
    bool ok = model_ok[m] && std::isfinite(c) && d > 0;
    if (po.objective == OBJ_LOSS) ok = ok && c <= po.budget;
    return ok;
  }
  // Accessors by configuration index (a few integer divisions: for results and short lists).
  double N_of(i64 i) const { return N[mt.model(i)]; }
  double D_of(i64 i) const { return D(mt.model(i), mt.digit(i), i); }
  double cost_of(i64 i) const { return cost(mt.model(i), D_of(i)); }
  i64 size() const { return mt.G; }
};

inline GridTable grid_table(const Fields& f, i64 G, const Assumptions& a, const PlanOptions& po, int threads) {
  GridTable t;
  t.f = f;
  t.mt = ModelTokens(f, G);
  t.a = a;
  t.po = po;
  const i64 M = t.mt.M;
  t.N.resize(M);
  t.coef.resize(M);
  t.model_ok.resize(M);
  parallel_for(M, threads, [&](i64 m) {
    const Config c = f.config(t.mt.first(m));
    const ModelTerms mterms = model_terms(c, a);
    t.N[m] = params_for_6nd(c, mterms.k, po.n_convention);
    t.coef[m] = mterms.tc;
    bool ok = true;
    if (po.require_fit) ok = ok && mterms.fits_memory;
    if (po.require_slo) ok = ok && mterms.meets_slo;
    t.model_ok[m] = ok ? 1 : 0;
  }, 1024);
  return t;
}

// Visit configurations [r0 * s, r1 * s) in index order as fn(i, m, t, D, cost, admissible) (row r: s
// configurations sharing the tokens digit; one division per row).
template <class Fn>
void for_rows(const GridTable& t, i64 r0, i64 r1, Fn&& fn) {
  const ModelTokens& mt = t.mt;
  for (i64 r = r0; r < r1; ++r) {
    const i64 hi = r / mt.T, dg = r % mt.T;
    for (i64 lo = 0; lo < mt.s; ++lo) {
      const i64 i = r * mt.s + lo, m = hi * mt.s + lo;
      const double d = t.D(m, dg, i), c = t.cost(m, d);
      fn(i, m, dg, d, c, t.admissible(m, d, c));
    }
  }
}

// Every admissible configuration, in index order (parallel over row blocks: count, prefix, fill).
inline std::vector<i64> admissible_list(const GridTable& t, int threads) {
  const i64 rows = t.mt.G / t.mt.s;
  const i64 blk = std::max<i64>(1, 65536 / t.mt.s);
  const i64 nb = (rows + blk - 1) / blk;
  std::vector<i64> count(nb + 1, 0);
  parallel_for(nb, threads, [&](i64 b) {
    i64 n = 0;
    for_rows(t, b * blk, std::min(rows, (b + 1) * blk), [&](i64, i64, i64, double, double, bool ok) { n += ok; });
    count[b + 1] = n;
  }, 1);
  for (i64 b = 0; b < nb; ++b) count[b + 1] += count[b];
  std::vector<i64> list(count[nb]);
  parallel_for(nb, threads, [&](i64 b) {
    i64 k = count[b];
    for_rows(t, b * blk, std::min(rows, (b + 1) * blk), [&](i64 i, i64, i64, double, double, bool ok) {
      if (ok) list[k++] = i;
    });
  }, 1);
  return list;
}

// Per model: admissible configurations, the largest admissible D and the lowest index reaching it.
struct ModelBest {
  i64 n_ok = 0, best_i = -1;
  double best_d = -kInf;
};
inline std::vector<ModelBest> model_best(const GridTable& t, int threads) {
  const ModelTokens& mt = t.mt;
  std::vector<ModelBest> out(mt.M);
  const i64 T = mt.per_model();
  parallel_for(mt.M, threads, [&](i64 m) {
    ModelBest b;
    for (i64 dg = 0; dg < T; ++dg) {  // index increases with the digit: the first maximum is the lowest index
      const i64 i = mt.config(m, dg);
      const double d = t.D(m, dg, i), c = t.cost(m, d);
      if (!t.admissible(m, d, c)) continue;
      ++b.n_ok;
      if (d > b.best_d) {
        b.best_d = d;
        b.best_i = i;
      }
    }
    out[m] = b;
  }, std::max<i64>(1, 8192 / T));
  return out;
}

// (N, D) maxima among the admissible configurations (pruned list of the LOSS objective), in index order:
// per distinct N the lowest-index configuration with the largest D, kept if that D beats every larger N.
// Only a model's best configuration can be kept, so the sort runs over models, not configurations.
inline std::vector<i64> loss_maxima(const GridTable& t, const std::vector<ModelBest>& mb) {
  struct Rec {
    double n, d;
    i64 i;
  };
  std::vector<Rec> o;
  for (i64 m = 0; m < t.mt.M; ++m)
    if (mb[m].n_ok > 0) o.push_back({t.N[m], mb[m].best_d, mb[m].best_i});
  std::sort(o.begin(), o.end(), [](const Rec& x, const Rec& y) {
    if (x.n != y.n) return x.n > y.n;
    if (x.d != y.d) return x.d > y.d;
    return x.i < y.i;
  });
  std::vector<i64> kept;
  double best_d = -kInf;
  for (const Rec& r : o)
    if (r.d > best_d) {
      kept.push_back(r.i);
      best_d = r.d;
    }
  std::sort(kept.begin(), kept.end());  // scan in index order: ties go to the lowest index
  return kept;
}

// COST objective: the admissible configurations in cost order (ties: lowest index) and, with pruning, those
// no earlier (no more expensive) configuration dominates in (N, D).
inline void cost_lists(const GridTable& t, bool prune, int threads, std::vector<i64>& full,
                       std::vector<i64>& pruned) {
  full = admissible_list(t, threads);
  struct Rec {
    double c;
    i64 i;
  };
  std::vector<Rec> o(full.size());
  parallel_for(static_cast<i64>(full.size()), threads, [&](i64 k) { o[k] = {t.cost_of(full[k]), full[k]}; }, 65536);
  std::sort(o.begin(), o.end(), [](const Rec& x, const Rec& y) {
    if (x.c != y.c) return x.c < y.c;
    return x.i < y.i;
  });
  for (size_t k = 0; k < o.size(); ++k) full[k] = o[k].i;
  pruned.clear();
  if (!prune) return;
  // Keep a point unless an earlier (no more expensive) point has N' >= N and D' >= D. The staircase maps
  // N -> D with D strictly decreasing as N grows, so the first key >= N carries the largest such D.
  std::map<double, double> stair;
  for (i64 i : full) {
    const double n = t.N_of(i), d = t.D_of(i);
    auto it = stair.lower_bound(n);
    if (it != stair.end() && it->second >= d) continue;
    pruned.push_back(i);
    // Remove staircase points this one dominates (N' <= n, D' <= d), then insert it.
    auto up = stair.upper_bound(n);
    while (up != stair.begin()) {
      auto prev = std::prev(up);
      if (prev->second <= d) up = stair.erase(prev);
      else break;
    }
    stair[n] = d;
  }
}

// ---- factorised scan lists ------------------------------------------------------------------------------

// Distinct values of one input column, in order of first appearance, with the index of each entry's value.
// Open addressing on the bit pattern (+0 and -0 are one value); the last value is cached, since grids repeat
// slow axes in runs.
struct Distinct {
  std::vector<double> values;
  std::vector<std::uint32_t> index;  // [n]

  static std::uint64_t bits(double v) {
    if (v == 0.0) v = 0.0;
    std::uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
  }
  // Factor value(j) for j in [0, n).
  template <class Value>
  Distinct(i64 n, Value value) {
    index.resize(n);
    std::vector<std::uint64_t> key(64);
    std::vector<std::uint32_t> slot(64, UINT32_MAX);
    auto insert = [&](std::uint64_t b, std::uint32_t id) {
      std::uint64_t h = (b * 0x9E3779B97F4A7C15ull) >> 20;
      const std::uint64_t mask = slot.size() - 1;
      for (;; ++h)
        if (slot[h & mask] == UINT32_MAX) {
          slot[h & mask] = id;
          key[h & mask] = b;
          return;
        }
    };
    std::uint64_t last_b = 0;
    std::uint32_t last_id = UINT32_MAX;
    for (i64 j = 0; j < n; ++j) {
      const double v = value(j);
      const std::uint64_t b = bits(v);
      if (last_id != UINT32_MAX && b == last_b) {
        index[j] = last_id;
        continue;
      }
      const std::uint64_t mask = slot.size() - 1;
      std::uint64_t h = (b * 0x9E3779B97F4A7C15ull) >> 20;
      std::uint32_t id = UINT32_MAX;
      for (;; ++h) {
        const std::uint32_t s = slot[h & mask];
        if (s == UINT32_MAX) break;
        if (key[h & mask] == b) {
          id = s;
          break;
        }
      }
      if (id == UINT32_MAX) {
        id = static_cast<std::uint32_t>(values.size());
        values.push_back(v);
        if (2 * values.size() > slot.size()) {  // grow and rehash
          std::vector<std::uint64_t> old_key;
          std::vector<std::uint32_t> old_slot(slot.size() * 2, UINT32_MAX);
          old_key.swap(key);
          old_slot.swap(slot);
          key.assign(slot.size(), 0);
          for (size_t q = 0; q < old_slot.size(); ++q)
            if (old_slot[q] != UINT32_MAX) insert(old_key[q], old_slot[q]);
        }
        insert(b, id);
      }
      index[j] = id;
      last_b = b;
      last_id = id;
    }
  }
};

// Kinds of per-sample evaluation, chosen at compile time from the law's traits.
template <class Law>
constexpr int input_width() {
  if constexpr (laws::HasPrepare<Law>::value) return Law::DP;
  else return Law::D;
}
template <class Law>
struct EvalKind {
  static constexpr bool separable = laws::IsSeparable<Law>::value;
  static constexpr bool prepared = !separable && laws::HasPrepare<Law>::value;
  static constexpr int width = input_width<Law>();  // per-configuration inputs of a non-separable law
};

// One candidate list in scan order, in the form the law's evaluation reads: configuration indices, and either
// per-input distinct values + value indices (separable laws) or per-configuration (prepared) inputs.
template <class Law>
struct ScanList {
  using K = EvalKind<Law>;
  std::vector<i64> config;                 // [n]
  std::vector<double> values[2];           // separable: distinct N, distinct D
  std::vector<std::uint32_t> vindex[2];    // separable: [n] index into values[k]
  std::vector<double> x;                   // otherwise: [n, width] (prepared) inputs
  i64 size() const { return static_cast<i64>(config.size()); }

  ScanList() = default;
  ScanList(const GridTable& t, std::vector<i64> list, int threads) : config(std::move(list)) {
    const i64 n = size();
    // Law inputs of the list, then factored or prepared.
    std::vector<double> raw(2 * n);
    parallel_for(n, threads, [&](i64 j) {
      raw[2 * j] = t.N_of(config[j]);
      raw[2 * j + 1] = t.D_of(config[j]);
    }, 65536);
    if constexpr (K::separable) {
      for (int k = 0; k < 2; ++k) {
        Distinct dv(n, [&](i64 j) { return raw[2 * j + k]; });
        values[k].swap(dv.values);
        vindex[k].swap(dv.index);
      }
    } else if constexpr (K::prepared) {
      x.resize(n * K::width);
      parallel_for(n, threads, [&](i64 j) { Law::prepare(raw.data() + 2 * j, x.data() + j * K::width); }, 65536);
    } else {
      x.swap(raw);
    }
  }
};

// The loss of entry j of a list for one sample: separable tables or a law evaluation.
template <class Law>
struct SampleEval {
  using K = EvalKind<Law>;
  const ScanList<Law>* list;
  const double* p;
  double c = 0;
  std::vector<double> T[2];

  // Tabulate the terms (separable laws); `p` holds the sample's parameters.
  void bind(const ScanList<Law>& l, const double* params) {
    list = &l;
    p = params;
    if constexpr (K::separable) {
      c = Law::constant(p);
      for (int k = 0; k < 2; ++k) {
        T[k].resize(l.values[k].size());
        for (size_t v = 0; v < T[k].size(); ++v) T[k][v] = Law::term(k, l.values[k][v], p);
      }
    }
  }
  // Losses of entries [j0, j1) into out[j1 - j0]: the one place the scan computes a loss.
  void losses(i64 j0, i64 j1, double* out) const {
    if constexpr (K::separable) {
      const double* t0 = T[0].data();
      const double* t1 = T[1].data();
      const std::uint32_t* a = list->vindex[0].data();
      const std::uint32_t* b = list->vindex[1].data();
      const double cc = c;
      for (i64 j = j0; j < j1; ++j) out[j - j0] = (cc + t0[a[j]]) + t1[b[j]];
    } else if constexpr (K::prepared) {
      for (i64 j = j0; j < j1; ++j) out[j - j0] = Law::eval_prepared(list->x.data() + j * K::width, p, nullptr);
    } else {
      for (i64 j = j0; j < j1; ++j) out[j - j0] = Law::eval(list->x.data() + 2 * j, p, nullptr);
    }
  }
};

// Per-sample scan state for the three reductions. `feed` takes the losses of entries [j0, j0 + m) and returns
// false once the sample needs no more entries.
struct ArgminState {  // LOSS: first entry with the smallest loss (lists in index order: lowest index)
  i64 best = -1;
  double best_loss = kInf;
  bool feed(i64 j0, const double* l, i64 m) {
    double cm = kInf;
    for (i64 q = 0; q < m; ++q) cm = l[q] < cm ? l[q] : cm;  // branch-free chunk minimum (NaN never wins)
    if (cm < best_loss) {
      i64 q = 0;
      while (!(l[q] == cm)) ++q;
      best_loss = cm;
      best = j0 + q;
    }
    return true;
  }
};
struct FirstBelowState {  // COST: first entry (cost order) whose loss is <= target
  double target;
  i64 best = -1;
  double best_loss = kNaN;
  bool feed(i64 j0, const double* l, i64 m) {
    int any = 0;
    for (i64 q = 0; q < m; ++q) any |= l[q] <= target;
    if (!any) return true;
    i64 q = 0;
    while (!(l[q] <= target)) ++q;
    best = j0 + q;
    best_loss = l[q];
    return false;
  }
};
struct RecordState {  // pareto: entries (cost order) whose loss beats every earlier one
  double best = kInf;
  std::vector<i64> idx;
  std::vector<double> val;
  bool feed(i64 j0, const double* l, i64 m) {
    double cm = kInf;
    for (i64 q = 0; q < m; ++q) cm = l[q] < cm ? l[q] : cm;
    if (cm < best)
      for (i64 q = 0; q < m; ++q)
        if (l[q] < best) {
          best = l[q];
          idx.push_back(j0 + q);
          val.push_back(l[q]);
        }
    return true;
  }
};

constexpr i64 kScanChunk = 2048;   // entries per chunk: the chunk's slice of a list stays in L1/L2
constexpr i64 kSampleBlock = 8;    // samples per block: each chunk is reused by the block's samples

// Drive the reduction: samples in blocks (parallel over blocks), each block's samples over the lists in
// chunks. list_of(s) picks sample s's list (nullptr: the sample is reduced elsewhere); init(s, state) sets
// its state; done(s, state, list) stores it.
template <class Law, class State, class ListOf, class Init, class Done>
void scan_samples(const double* samples, i64 S, int threads, ListOf list_of, Init init, Done done) {
  const i64 nb = (S + kSampleBlock - 1) / kSampleBlock;
  parallel_for(nb, threads, [&](i64 blk) {
    const i64 s0 = blk * kSampleBlock, s1 = std::min(S, s0 + kSampleBlock);
    SampleEval<Law> ev[kSampleBlock];
    State st[kSampleBlock];
    bool live[kSampleBlock];
    i64 who[kSampleBlock];
    const ScanList<Law>* lists[kSampleBlock];
    i64 longest = 0, m = 0;
    for (i64 s = s0; s < s1; ++s) {
      const ScanList<Law>* l = list_of(s);
      if (!l) continue;
      who[m] = s;
      lists[m] = l;
      ev[m].bind(*l, samples + s * Law::P);
      init(s, st[m]);
      live[m] = true;
      longest = std::max(longest, l->size());
      ++m;
    }
    double buf[kScanChunk];
    for (i64 j0 = 0; j0 < longest; j0 += kScanChunk)
      for (i64 q = 0; q < m; ++q) {
        const i64 n = lists[q]->size();
        if (!live[q] || j0 >= n) continue;
        const i64 j1 = std::min(n, j0 + kScanChunk);
        ev[q].losses(j0, j1, buf);
        live[q] = st[q].feed(j0, buf, j1 - j0);
      }
    for (i64 q = 0; q < m; ++q) done(who[q], st[q], *lists[q]);
  }, 1);
}

// ---- exhaustive LOSS scan of a factored grid, by model ---------------------------------------------------
// For a separable law the loss of configuration (model m, tokens digit t) is (c + TN[N of m]) + TD[t]: per
// sample the N term is looked up once per run of admissible consecutive digits of a model, and the run is a
// contiguous add-and-minimum over the D terms (vectorised). Ties go to the lowest configuration index, as in
// the list scan, so the answers are the same bit for bit.
struct Run {
  i64 base;             // configuration index of digit 0 of the run's model
  std::int32_t t0, t1;  // admissible digits [t0, t1)
  std::uint32_t n;      // index of the model's N among `nvalues`
};
struct Runs {
  std::vector<Run> runs;
  std::vector<double> nvalues;  // distinct N of the models with a run
  i64 stride = 1;               // configuration index step per digit (the tokens stride)
  i64 T = 0;
};

inline Runs admissible_runs(const GridTable& t, int threads) {
  const ModelTokens& mt = t.mt;
  const i64 T = mt.T;
  Runs r;
  r.stride = mt.s;
  r.T = T;
  auto each_run = [&](i64 m, auto&& fn) {  // fn(t0, t1) for each maximal run of admissible digits
    i64 start = -1;
    for (i64 dg = 0; dg < T; ++dg) {
      const i64 i = mt.config(m, dg);
      const double d = t.D(m, dg, i);
      const bool ok = t.admissible(m, d, t.cost(m, d));
      if (ok && start < 0) start = dg;
      if (!ok && start >= 0) {
        fn(start, dg);
        start = -1;
      }
    }
    if (start >= 0) fn(start, T);
  };
  std::vector<i64> count(mt.M + 1, 0);
  parallel_for(mt.M, threads, [&](i64 m) {
    i64 n = 0;
    each_run(m, [&](i64, i64) { ++n; });
    count[m + 1] = n;
  }, std::max<i64>(1, 8192 / T));
  for (i64 m = 0; m < mt.M; ++m) count[m + 1] += count[m];
  r.runs.resize(count[mt.M]);
  std::vector<i64> model(r.runs.size());
  parallel_for(mt.M, threads, [&](i64 m) {
    i64 k = count[m];
    const i64 base = mt.config(m, 0);
    each_run(m, [&](i64 t0, i64 t1) {
      model[k] = m;
      r.runs[k++] = {base, static_cast<std::int32_t>(t0), static_cast<std::int32_t>(t1), 0};
    });
  }, std::max<i64>(1, 8192 / T));
  Distinct dn(static_cast<i64>(model.size()), [&](i64 k) { return t.N[model[k]]; });
  for (size_t k = 0; k < r.runs.size(); ++k) r.runs[k].n = dn.index[k];
  r.nvalues.swap(dn.values);
  return r;
}

// Smallest (x + td[t]) over t in [t0, t1) (NaN never wins; +inf if none is smaller). The order of the
// comparisons does not matter for the value (the caller then finds the first digit reaching it), so the loop
// keeps independent vector accumulators: lane-wise (l < acc ? l : acc) is minpd/vminpd.
inline double run_min(double x, const double* td, i64 t0, i64 t1) {
  i64 q = t0;
  double m = kInf;
#if defined(__GNUC__)
  typedef double v2 __attribute__((vector_size(16)));  // SSE2 / NEON register
  const v2 vx = {x, x};
  v2 a0 = {kInf, kInf}, a1 = a0, a2 = a0, a3 = a0, l0, l1, l2, l3;
  for (; q + 8 <= t1; q += 8) {
    std::memcpy(&l0, td + q, sizeof l0);
    std::memcpy(&l1, td + q + 2, sizeof l1);
    std::memcpy(&l2, td + q + 4, sizeof l2);
    std::memcpy(&l3, td + q + 6, sizeof l3);
    l0 += vx;
    l1 += vx;
    l2 += vx;
    l3 += vx;
    a0 = l0 < a0 ? l0 : a0;
    a1 = l1 < a1 ? l1 : a1;
    a2 = l2 < a2 ? l2 : a2;
    a3 = l3 < a3 ? l3 : a3;
  }
  a0 = a1 < a0 ? a1 : a0;
  a2 = a3 < a2 ? a3 : a2;
  a0 = a2 < a0 ? a2 : a0;
  m = a0[0] < m ? a0[0] : m;
  m = a0[1] < m ? a0[1] : m;
#endif
  for (; q < t1; ++q) {
    const double l = x + td[q];
    m = l < m ? l : m;
  }
  return m;
}

// Per-sample argmin over the runs for the samples with use(s) true; out(s, config, loss).
template <class Law, class Use, class Out>
void scan_runs(const Runs& r, const GridTable& t, const double* samples, i64 S, int threads, Use use, Out out) {
  static_assert(EvalKind<Law>::separable, "scan_runs needs a separable law");
  const double* tok = t.f.values[F_TOKENS];
  parallel_for(S, threads, [&](i64 s) {
    if (!use(s)) return;
    const double* p = samples + s * Law::P;
    const double c = Law::constant(p);
    std::vector<double> tn(r.nvalues.size()), td(r.T);
    for (size_t v = 0; v < tn.size(); ++v) tn[v] = Law::term(0, r.nvalues[v], p);
    for (i64 q = 0; q < r.T; ++q) td[q] = Law::term(1, tok[q], p);
    i64 best = -1;
    double best_loss = kInf;
    for (const Run& run : r.runs) {
      const double x = c + tn[run.n];
      const double cm = run_min(x, td.data(), run.t0, run.t1);
      if (!(cm <= best_loss) || cm == kInf) continue;
      i64 q = run.t0;
      while (!(x + td[q] == cm)) ++q;  // first digit reaching the minimum: the run's lowest index
      const i64 i = run.base + q * r.stride;
      if (cm < best_loss || i < best) {
        best = i;
        best_loss = x + td[q];
      }
    }
    out(s, best, best_loss);
  }, 1);
}

struct PlanOut {
  i64* index;     // [S] best configuration (-1: none admissible)
  double* loss;   // [S]
  double* cost;   // [S]
  double* N;      // [S]
  double* D;      // [S]
};
struct PlanCounts {
  i64 admissible = 0;
  i64 non_dominated = -1;  // -1: not built (no pruning)
};

// Whether each sample's law is known to be strictly decreasing (pruned list exact for it).
template <class Law>
std::vector<unsigned char> monotone_samples(const double* samples, i64 S, bool prune) {
  std::vector<unsigned char> u(S, 0);
  for (i64 s = 0; s < S; ++s) u[s] = prune && Monotone<Law>::strictly_decreasing(samples + s * Law::P);
  return u;
}

// Per-sample optimum (LOSS or COST objective).
template <class Law>
PlanCounts plan_reduce(const GridTable& t, const double* samples, i64 S, const PlanOptions& po, const PlanOut& out,
                       int threads) {
  PlanCounts pc;
  const std::vector<unsigned char> use_pruned = monotone_samples<Law>(samples, S, po.prune);
  bool any_full = false, any_pruned = false;
  for (i64 s = 0; s < S; ++s) (use_pruned[s] ? any_pruned : any_full) = true;
  auto store = [&](i64 s, i64 best, double loss) {
    out.index[s] = best;
    out.loss[s] = best >= 0 ? loss : kNaN;
    out.cost[s] = best >= 0 ? t.cost_of(best) : kNaN;
    out.N[s] = best >= 0 ? t.N_of(best) : kNaN;
    out.D[s] = best >= 0 ? t.D_of(best) : kNaN;
  };
  ScanList<Law> full, pruned;
  if (po.objective == OBJ_LOSS) {
    const std::vector<ModelBest> mb = model_best(t, threads);
    for (const ModelBest& b : mb) pc.admissible += b.n_ok;
    if (po.prune) {
      std::vector<i64> kept = loss_maxima(t, mb);
      pc.non_dominated = static_cast<i64>(kept.size());
      if (any_pruned) pruned = ScanList<Law>(t, std::move(kept), threads);
    }
    bool by_runs = false;
    if constexpr (EvalKind<Law>::separable) by_runs = t.mt.factored && t.mt.T < INT32_MAX;
    if (any_full && by_runs) {  // factored grid, separable law
      if constexpr (EvalKind<Law>::separable) {
        const Runs r = admissible_runs(t, threads);
        scan_runs<Law>(r, t, samples, S, threads, [&](i64 s) { return !use_pruned[s]; },
                       [&](i64 s, i64 best, double loss) { store(s, best, loss); });
      }
    } else if (any_full) {
      full = ScanList<Law>(t, admissible_list(t, threads), threads);
    }
    scan_samples<Law, ArgminState>(
        samples, S, threads,
        [&](i64 s) -> const ScanList<Law>* { return use_pruned[s] ? &pruned : (by_runs ? nullptr : &full); },
        [](i64, ArgminState&) {},
        [&](i64 s, const ArgminState& st, const ScanList<Law>& l) {
          store(s, st.best >= 0 ? l.config[st.best] : -1, st.best_loss);
        });
  } else {
    std::vector<i64> f, p;
    cost_lists(t, po.prune, threads, f, p);
    pc.admissible = static_cast<i64>(f.size());
    if (po.prune) pc.non_dominated = static_cast<i64>(p.size());
    if (any_full) full = ScanList<Law>(t, std::move(f), threads);
    if (any_pruned) pruned = ScanList<Law>(t, std::move(p), threads);
    scan_samples<Law, FirstBelowState>(
        samples, S, threads, [&](i64 s) -> const ScanList<Law>* { return use_pruned[s] ? &pruned : &full; },
        [&](i64, FirstBelowState& st) { st.target = po.target; },
        [&](i64 s, const FirstBelowState& st, const ScanList<Law>& l) {
          store(s, st.best >= 0 ? l.config[st.best] : -1, st.best_loss);
        });
  }
  return pc;
}

// Per-sample (cost, loss) Pareto sets, CSR: offsets[S+1], config indices and losses. `t` built with the COST
// objective (no budget).
template <class Law>
void plan_pareto(const GridTable& t, const double* samples, i64 S, const PlanOptions& po, std::vector<i64>& offsets,
                 std::vector<i64>& index, std::vector<double>& loss, int threads) {
  const std::vector<unsigned char> use_pruned = monotone_samples<Law>(samples, S, po.prune);
  bool any_full = false, any_pruned = false;
  for (i64 s = 0; s < S; ++s) (use_pruned[s] ? any_pruned : any_full) = true;
  std::vector<i64> f, p;
  cost_lists(t, po.prune, threads, f, p);
  ScanList<Law> full, pruned;
  if (any_full) full = ScanList<Law>(t, std::move(f), threads);
  if (any_pruned) pruned = ScanList<Law>(t, std::move(p), threads);
  std::vector<std::vector<i64>> idx(S);
  std::vector<std::vector<double>> val(S);
  scan_samples<Law, RecordState>(
      samples, S, threads, [&](i64 s) -> const ScanList<Law>* { return use_pruned[s] ? &pruned : &full; },
      [](i64, RecordState&) {},
      [&](i64 s, RecordState& st, const ScanList<Law>& l) {
        for (i64& j : st.idx) j = l.config[j];
        idx[s].swap(st.idx);
        val[s].swap(st.val);
      });
  offsets.assign(S + 1, 0);
  for (i64 s = 0; s < S; ++s) offsets[s + 1] = offsets[s] + static_cast<i64>(idx[s].size());
  index.resize(offsets[S]);
  loss.resize(offsets[S]);
  for (i64 s = 0; s < S; ++s) {
    std::copy(idx[s].begin(), idx[s].end(), index.begin() + offsets[s]);
    std::copy(val[s].begin(), val[s].end(), loss.begin() + offsets[s]);
  }
}

}  // namespace lawfit::cost
