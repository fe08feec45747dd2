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

// Per-configuration law inputs and cost, computed once (parallel, index-owned writes).
struct GridTable {
  std::vector<double> N, D, cost;
  std::vector<unsigned char> ok;  // meets the constraints (and for LOSS the budget)
};

// Entry i of the table: law inputs N, D, cost, and whether the configuration is admissible (CPU and GPU).
LAWFIT_HD inline void grid_entry(const Fields& f, i64 i, const Assumptions& a, const PlanOptions& po, double* N,
                                 double* D, double* cost_out, unsigned char* ok_out) {
  const Config c = f.config(i);
  double o[N_OUTPUTS];
  evaluate_one(c, a, o);
  const Counts k = counts(c);
  *N = params_for_6nd(c, k, po.n_convention);
  *D = c.tokens;
  const double cost = po.unit == UNIT_USD ? o[O_COST_TOTAL] : o[O_FLOPS_TOTAL];
  *cost_out = cost;
  bool ok = std::isfinite(cost) && *D > 0;
  if (po.require_fit) ok = ok && o[O_FITS_MEMORY] != 0.0;
  if (po.require_slo) ok = ok && o[O_MEETS_SLO] != 0.0;
  if (po.objective == OBJ_LOSS) ok = ok && cost <= po.budget;
  *ok_out = ok ? 1 : 0;
}

inline GridTable grid_table(const Fields& f, i64 G, const Assumptions& a, const PlanOptions& po, int threads) {
  GridTable t;
  t.N.resize(G);
  t.D.resize(G);
  t.cost.resize(G);
  t.ok.resize(G);
  parallel_for(G, threads, [&](i64 i) {
    grid_entry(f, i, a, po, &t.N[i], &t.D[i], &t.cost[i], &t.ok[i]);
  }, 8192);
  return t;
}

// Candidate lists in scan order: `full` (every admissible configuration) and `pruned` (non-dominated).
struct Candidates {
  std::vector<i64> full, pruned;
};

// `pruned` is left empty when prune is false.
inline Candidates candidates(const GridTable& t, int objective, bool prune) {
  Candidates c;
  const i64 G = static_cast<i64>(t.ok.size());
  i64 n_ok = 0;
  for (i64 i = 0; i < G; ++i) n_ok += t.ok[i];
  c.full.reserve(n_ok);
  for (i64 i = 0; i < G; ++i)
    if (t.ok[i]) c.full.push_back(i);
  if (objective == OBJ_LOSS) {
    if (!prune) return c;
    // (N, D) maxima: sort by N desc, D desc, index asc; keep points whose D beats every larger-N point.
    // Sorted as contiguous records (no indirection in the comparator).
    struct Rec {
      double n, d;
      i64 i;
    };
    std::vector<Rec> o(c.full.size());
    for (size_t k = 0; k < c.full.size(); ++k) o[k] = {t.N[c.full[k]], t.D[c.full[k]], c.full[k]};
    std::sort(o.begin(), o.end(), [](const Rec& x, const Rec& y) {
      if (x.n != y.n) return x.n > y.n;
      if (x.d != y.d) return x.d > y.d;
      return x.i < y.i;
    });
    double best_d = -kInf;
    for (const Rec& r : o)
      if (r.d > best_d) {
        c.pruned.push_back(r.i);
        best_d = r.d;
      }
    std::sort(c.pruned.begin(), c.pruned.end());  // scan in index order: ties go to the lowest index
  } else {
    std::sort(c.full.begin(), c.full.end(), [&](i64 x, i64 y) {
      if (t.cost[x] != t.cost[y]) return t.cost[x] < t.cost[y];
      return x < y;
    });
    if (!prune) return c;
    // Keep a point unless an earlier (no more expensive) point has N' >= N and D' >= D. The staircase maps
    // N -> D with D strictly decreasing as N grows, so the first key >= N carries the largest such D.
    std::map<double, double> stair;
    for (i64 i : c.full) {
      const double n = t.N[i], d = t.D[i];
      auto it = stair.lower_bound(n);
      if (it != stair.end() && it->second >= d) continue;
      c.pruned.push_back(i);
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
  return c;
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
  // Factor x[list[j]] for j in [0, n).
  Distinct(const std::vector<double>& x, const std::vector<i64>& list) {
    const i64 n = static_cast<i64>(list.size());
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
      const double v = x[list[j]];
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
  ScanList(const GridTable& t, const std::vector<i64>& list, int threads) : config(list) {
    const i64 n = size();
    if constexpr (K::separable) {
      Distinct dn(t.N, list), dd(t.D, list);
      values[0].swap(dn.values);
      values[1].swap(dd.values);
      vindex[0].swap(dn.index);
      vindex[1].swap(dd.index);
    } else {
      x.resize(n * K::width);
      parallel_for(n, threads, [&](i64 j) {
        const double raw[2] = {t.N[list[j]], t.D[list[j]]};
        if constexpr (K::prepared) Law::prepare(raw, x.data() + j * K::width);
        else {
          x[2 * j] = raw[0];
          x[2 * j + 1] = raw[1];
        }
      }, 65536);
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
// chunks. list_of(s) picks sample s's list; init(s, state) sets its state; done(s, state, list) stores it.
template <class Law, class State, class ListOf, class Init, class Done>
void scan_samples(const double* samples, i64 S, int threads, ListOf list_of, Init init, Done done) {
  const i64 nb = (S + kSampleBlock - 1) / kSampleBlock;
  parallel_for(nb, threads, [&](i64 blk) {
    const i64 s0 = blk * kSampleBlock, s1 = std::min(S, s0 + kSampleBlock);
    const i64 m = s1 - s0;
    SampleEval<Law> ev[kSampleBlock];
    State st[kSampleBlock];
    bool live[kSampleBlock];
    const ScanList<Law>* lists[kSampleBlock];
    i64 longest = 0;
    for (i64 q = 0; q < m; ++q) {
      lists[q] = &list_of(s0 + q);
      ev[q].bind(*lists[q], samples + (s0 + q) * Law::P);
      init(s0 + q, st[q]);
      live[q] = true;
      longest = std::max(longest, lists[q]->size());
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
    for (i64 q = 0; q < m; ++q) done(s0 + q, st[q], *lists[q]);
  }, 1);
}

// The candidate lists of one plan in scan form: `full` always, `pruned` when pruning is on and some sample's
// law is monotone (lists are built only when a sample needs them).
template <class Law>
struct PlanLists {
  ScanList<Law> full, pruned;
  std::vector<unsigned char> use_pruned;  // [S]
  PlanLists(const GridTable& t, const Candidates& c, const double* samples, i64 S, const PlanOptions& po,
            int threads)
      : use_pruned(S, 0) {
    bool any_full = false, any_pruned = false;
    for (i64 s = 0; s < S; ++s) {
      use_pruned[s] = po.prune && Monotone<Law>::strictly_decreasing(samples + s * Law::P);
      (use_pruned[s] ? any_pruned : any_full) = true;
    }
    if (any_full) full = ScanList<Law>(t, c.full, threads);
    if (any_pruned) pruned = ScanList<Law>(t, c.pruned, threads);
  }
  const ScanList<Law>& of(i64 s) const { return use_pruned[s] ? pruned : full; }
};

struct PlanOut {
  i64* index;     // [S] best configuration (-1: none admissible)
  double* loss;   // [S]
  double* cost;   // [S]
  double* N;      // [S]
  double* D;      // [S]
};

// Per-sample optimum (LOSS or COST objective). `c` from candidates(t, po.objective, po.prune).
template <class Law>
void plan_reduce(const GridTable& t, const Candidates& c, const double* samples, i64 S, const PlanOptions& po,
                 const PlanOut& out, int threads) {
  const PlanLists<Law> L(t, c, samples, S, po, threads);
  auto list_of = [&](i64 s) -> const ScanList<Law>& { return L.of(s); };
  auto store = [&](i64 s, i64 j, double loss, const ScanList<Law>& l) {
    const i64 best = j >= 0 ? l.config[j] : -1;
    out.index[s] = best;
    out.loss[s] = best >= 0 ? loss : kNaN;
    out.cost[s] = best >= 0 ? t.cost[best] : kNaN;
    out.N[s] = best >= 0 ? t.N[best] : kNaN;
    out.D[s] = best >= 0 ? t.D[best] : kNaN;
  };
  if (po.objective == OBJ_LOSS) {
    scan_samples<Law, ArgminState>(samples, S, threads, list_of, [](i64, ArgminState&) {},
                                   [&](i64 s, const ArgminState& st, const ScanList<Law>& l) {
                                     store(s, st.best, st.best_loss, l);
                                   });
  } else {
    scan_samples<Law, FirstBelowState>(samples, S, threads, list_of,
                                       [&](i64, FirstBelowState& st) { st.target = po.target; },
                                       [&](i64 s, const FirstBelowState& st, const ScanList<Law>& l) {
                                         store(s, st.best, st.best_loss, l);
                                       });
  }
}

// Per-sample (cost, loss) Pareto sets, CSR: offsets[S+1], config indices and losses. `c` must come from
// candidates(t, OBJ_COST, po.prune) (cost order).
template <class Law>
void plan_pareto(const GridTable& t, const Candidates& c, const double* samples, i64 S, const PlanOptions& po,
                 std::vector<i64>& offsets, std::vector<i64>& index, std::vector<double>& loss, int threads) {
  const PlanLists<Law> L(t, c, samples, S, po, threads);
  std::vector<std::vector<i64>> idx(S);
  std::vector<std::vector<double>> val(S);
  scan_samples<Law, RecordState>(
      samples, S, threads, [&](i64 s) -> const ScanList<Law>& { return L.of(s); }, [](i64, RecordState&) {},
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
