// Sweep-aware forecasting: nearest reference curves of every partial curve.
//
// Assumptions: targets and references are CSR batches of (step, value) sorted by step within each curve
// (the Python layer sorts them). For target i, every reference curve r that covers the target's observed steps
// and its horizon (by linear interpolation between the reference's own points; no extrapolation) is scored by
// the recency-weighted mean squared difference of values at the target's steps,
//   d(i, r) = sum_j w_j (y_ij - R_r(t_ij))^2 / sum_j w_j,  w_j = recency^-(n_i - 1 - j)  (last point weight 1),
// on the raw scale: curves of one sweep share the metric, so levels are informative (e.g. accuracy stuck at
// the majority class). The K nearest (ties to the lower reference index, so the output is deterministic and
// independent of the thread count) give two forecasts each at the target's horizon H_i:
//   raw:    R_r(H_i)                               (the neighbour's own outcome),
//   anchor: y_i,last + R_r(H_i) - R_r(t_i,last)    (the target's last value plus the neighbour's later change).
// exclude[i] (optional) names one reference never used for target i: leave-one-out on the reference itself.
// Groups (optional integer codes): with match, reference r is a candidate for target i only if
// match.ref[r] == match.tgt[i] (e.g. the same metric); with leave, r is never used if leave.ref[r] == leave.tgt[i]
// (leave-one-group-out: e.g. every metric of the held-out run, whose near-copies would flatter the calibration).
// Parallel over targets; no allocation per reference.
#pragma once
#include <algorithm>
#include <vector>

#include "core/common.hpp"

namespace lawfit::sample {

struct SeriesBatch {
  const i64* offsets;  // [C+1]
  i64 C;
  const double* t;  // [n_total] steps, sorted within each curve
  const double* y;  // [n_total]
};

struct GroupCodes {
  const i64* tgt = nullptr;  // [nt]
  const i64* ref = nullptr;  // [R]
  bool on() const { return tgt && ref; }
};

struct NeighbourOutput {
  double* raw;     // [nt, K] NaN where fewer than K references qualify
  double* anchor;  // [nt, K]
  double* dist;    // [nt, K]
  i64* index;      // [nt, K] reference index, -1 where none
};

// Value of curve c of `s` at step x by linear interpolation; NaN outside its observed steps. `hint` is the
// position to start the forward search from (steps are visited in increasing order per target).
inline double interp_at(const SeriesBatch& s, i64 c, double x, i64& hint) {
  const i64 a = s.offsets[c], b = s.offsets[c + 1];
  if (b == a || !(x >= s.t[a]) || !(x <= s.t[b - 1])) return kNaN;
  i64 k = std::max(hint, a);
  while (k + 1 < b && s.t[k + 1] < x) ++k;
  hint = k;
  if (s.t[k] == x) return s.y[k];
  if (k + 1 >= b) return s.y[k];
  const double t0 = s.t[k], t1 = s.t[k + 1];
  if (t1 == x) return s.y[k + 1];
  const double u = (x - t0) / (t1 - t0);
  return s.y[k] + u * (s.y[k + 1] - s.y[k]);
}

inline void nearest_references(const SeriesBatch& tg, const SeriesBatch& ref, const double* horizon /* [nt] */,
                               const i64* exclude /* [nt] or null */, int K, double recency,
                               const NeighbourOutput& out, int threads, GroupCodes match = {},
                               GroupCodes leave = {}) {
  parallel_for(tg.C, threads, [&](i64 i) {
    const i64 a = tg.offsets[i], n = tg.offsets[i + 1] - a;
    thread_local std::vector<double> w;
    thread_local std::vector<std::pair<double, i64>> best;  // (distance, reference), sorted ascending
    best.clear();
    for (int k = 0; k < K; ++k) {
      out.raw[i * K + k] = out.anchor[i * K + k] = out.dist[i * K + k] = kNaN;
      out.index[i * K + k] = -1;
    }
    if (n == 0 || !std::isfinite(horizon[i])) return;
    w.resize(n);
    double wsum = 0.0;
    for (i64 j = 0; j < n; ++j) {
      w[j] = std::pow(recency, -static_cast<double>(n - 1 - j));
      wsum += w[j];
    }
    const double t_last = tg.t[a + n - 1], y_last = tg.y[a + n - 1];
    for (i64 r = 0; r < ref.C; ++r) {
      if (exclude && exclude[i] == r) continue;
      if (match.on() && match.ref[r] != match.tgt[i]) continue;
      if (leave.on() && leave.ref[r] == leave.tgt[i]) continue;
      i64 hint = ref.offsets[r];
      double d = 0.0;
      bool ok = true;
      const double bound = best.size() == static_cast<size_t>(K) ? best.back().first * wsum : kInf;
      for (i64 j = 0; j < n && ok; ++j) {
        const double v = interp_at(ref, r, tg.t[a + j], hint);
        if (!std::isfinite(v)) ok = false;
        const double e = tg.y[a + j] - v;
        d += w[j] * e * e;
        if (d > bound) ok = false;  // cannot enter the K nearest
      }
      if (!ok) continue;
      i64 h2 = ref.offsets[r];
      if (!std::isfinite(interp_at(ref, r, horizon[i], h2))) continue;  // does not reach the horizon
      d /= wsum;
      const std::pair<double, i64> item{d, r};
      if (best.size() < static_cast<size_t>(K)) {
        best.insert(std::upper_bound(best.begin(), best.end(), item), item);
      } else if (item < best.back()) {
        best.pop_back();
        best.insert(std::upper_bound(best.begin(), best.end(), item), item);
      }
    }
    for (size_t k = 0; k < best.size(); ++k) {
      const i64 r = best[k].second;
      i64 h = ref.offsets[r];
      const double at_last = interp_at(ref, r, t_last, h);
      h = ref.offsets[r];
      const double at_h = interp_at(ref, r, horizon[i], h);
      out.raw[i * K + k] = at_h;
      out.anchor[i * K + k] = y_last + (at_h - at_last);
      out.dist[i * K + k] = best[k].first;
      out.index[i * K + k] = r;
    }
  });
}

}  // namespace lawfit::sample
