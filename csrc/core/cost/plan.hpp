// Planning over a grid of configurations with a fitted law L(N, D) and parameter samples theta_s:
//
//   objective LOSS: per sample, argmin_g L(N_g, D_g; theta_s) over configurations with cost_g <= budget
//   objective COST: per sample, argmin_g cost_g over configurations with L(N_g, D_g; theta_s) <= target
//   pareto:         per sample, the (cost, loss) Pareto set: configurations in increasing cost whose loss
//                   beats every cheaper one
//
// Fused: the law is evaluated for each (sample, configuration) pair inside the reduction, so nothing of
// size samples x grid is ever stored; memory is O(grid) for the per-configuration N, D, cost (computed once)
// plus O(samples) outputs. Parallel over samples, each sample reduced by one thread in a fixed order, so
// results are identical for any thread count. Ties go to the lowest configuration index.
//
// Dominance pruning (exact): if a sample's law is strictly decreasing in N and in D (e.g. chinchilla with
// A, B, alpha, beta > 0), a configuration whose (N, D) is dominated by another admissible one (N' >= N,
// D' >= D, and for COST/pareto also cost' <= cost earlier in the cost order) can never be the optimum, so
// the scan for that sample runs over the non-dominated configurations only. The candidate lists are built
// once, independent of the samples; samples whose law is not known to be monotone scan the full list.
#pragma once
#include <algorithm>
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

inline GridTable grid_table(const Fields& f, i64 G, const Assumptions& a, const PlanOptions& po, int threads) {
  GridTable t;
  t.N.resize(G);
  t.D.resize(G);
  t.cost.resize(G);
  t.ok.resize(G);
  parallel_for(G, threads, [&](i64 i) {
    const Config c = f.config(i);
    double o[N_OUTPUTS];
    evaluate_one(c, a, o);
    const Counts k = counts(c);
    t.N[i] = params_for_6nd(c, k, po.n_convention);
    t.D[i] = c.tokens;
    const double cost = po.unit == UNIT_USD ? o[O_COST_TOTAL] : o[O_FLOPS_TOTAL];
    t.cost[i] = cost;
    bool ok = std::isfinite(cost) && t.D[i] > 0;
    if (po.require_fit) ok = ok && o[O_FITS_MEMORY] != 0.0;
    if (po.require_slo) ok = ok && o[O_MEETS_SLO] != 0.0;
    if (po.objective == OBJ_LOSS) ok = ok && cost <= po.budget;
    t.ok[i] = ok ? 1 : 0;
  }, 8192);
  return t;
}

// Candidate lists in scan order: `full` (every admissible configuration) and `pruned` (non-dominated).
struct Candidates {
  std::vector<i64> full, pruned;
};

inline Candidates candidates(const GridTable& t, int objective) {
  Candidates c;
  const i64 G = static_cast<i64>(t.ok.size());
  for (i64 i = 0; i < G; ++i)
    if (t.ok[i]) c.full.push_back(i);
  if (objective == OBJ_LOSS) {
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

struct PlanOut {
  i64* index;     // [S] best configuration (-1: none admissible)
  double* loss;   // [S]
  double* cost;   // [S]
  double* N;      // [S]
  double* D;      // [S]
};

template <class Law>
void plan_reduce(const GridTable& t, const Candidates& c, const double* samples, i64 S, const PlanOptions& po,
                 const PlanOut& out, int threads) {
  parallel_for(S, threads, [&](i64 s) {
    const double* p = samples + s * Law::P;
    const bool mono = po.prune && Monotone<Law>::strictly_decreasing(p);
    const std::vector<i64>& list = mono ? c.pruned : c.full;
    i64 best = -1;
    double best_loss = kInf;
    for (i64 i : list) {
      const double x[2] = {t.N[i], t.D[i]};
      const double l = Law::eval(x, p, nullptr);
      if (po.objective == OBJ_LOSS) {
        if (l < best_loss) {
          best_loss = l;
          best = i;
        }
      } else if (l <= po.target) {
        best = i;
        best_loss = l;
        break;  // the list is in increasing cost
      }
    }
    out.index[s] = best;
    out.loss[s] = best >= 0 ? best_loss : kNaN;
    out.cost[s] = best >= 0 ? t.cost[best] : kNaN;
    out.N[s] = best >= 0 ? t.N[best] : kNaN;
    out.D[s] = best >= 0 ? t.D[best] : kNaN;
  }, 1);
}

// Per-sample (cost, loss) Pareto sets, CSR: offsets[S+1], config indices and losses. `c` must come from
// candidates(t, OBJ_COST) (cost order).
template <class Law>
void plan_pareto(const GridTable& t, const Candidates& c, const double* samples, i64 S, const PlanOptions& po,
                 std::vector<i64>& offsets, std::vector<i64>& index, std::vector<double>& loss, int threads) {
  std::vector<std::vector<i64>> idx(S);
  std::vector<std::vector<double>> val(S);
  parallel_for(S, threads, [&](i64 s) {
    const double* p = samples + s * Law::P;
    const bool mono = po.prune && Monotone<Law>::strictly_decreasing(p);
    const std::vector<i64>& list = mono ? c.pruned : c.full;
    double best = kInf;
    for (i64 i : list) {
      const double x[2] = {t.N[i], t.D[i]};
      const double l = Law::eval(x, p, nullptr);
      if (l < best) {
        best = l;
        idx[s].push_back(i);
        val[s].push_back(l);
      }
    }
  }, 1);
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
