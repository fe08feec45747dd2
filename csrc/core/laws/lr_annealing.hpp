#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// L(s) = L0 + A * S1^-alpha - C * S2: loss along a training run under any learning-rate schedule.
// Tissue et al. 2024, "Scaling Law with Learning Rate Annealing" (arXiv:2408.11029). The law's inputs are the
// schedule integrals at step s,
//   S1 = sum_{i<=s} eta_i  (forward area),   S2 = sum_{i<=s} m_i,  m_i = lam*m_{i-1} + (eta_{i-1} - eta_i)
// (annealing area, lam = 0.999), computed per curve from raw (step, lr) rows by lr_annealing_features below.
// L0, A and C enter linearly (A > 0 in log space); alpha > 0.
struct LrAnnealing {
  static constexpr const char* name = "lr_annealing";
  static constexpr const char* formula = "L0 + A * S1^-alpha - C * S2";
  static constexpr const char* citation =
      "Tissue et al. 2024, Scaling Law with Learning Rate Annealing, arXiv:2408.11029";
  static constexpr int P = 4, D = 2;
  static constexpr const char* params[P] = {"L0", "A", "C", "alpha"};
  static constexpr const char* inputs[D] = {"S1", "S2"};
  static constexpr double lower[P] = {-kInf, 0.0, -kInf, 0.0};
  static constexpr double upper[P] = {kInf, kInf, kInf, 10.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR, LOG};
  static constexpr bool linear[P] = {true, true, true, false};
  static constexpr int amplitude[P] = {-1, -1, -1, 1};
  static constexpr Axis grid[P] = {
      {1, {2.0}}, {1, {1.0}}, {1, {1.0}}, {8, {0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.1, 1.6}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] > 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double l1 = std::log(x[0]);
    const double t = std::exp(-p[3] * l1);  // S1^-alpha
    if (g) {
      g[0] = 1.0;
      g[1] = t;
      g[2] = -x[1];
      g[3] = -p[1] * t * l1;
    }
    return p[0] + p[1] * t - p[2] * x[1];
  }
};

// Outcome of the per-curve feature computation.
enum LrFeatureError : std::int32_t { LR_OK = 0, LR_NOT_INCREASING = 1, LR_BAD_STEP = 2 };

// Schedule integrals (S1, S2) of one curve at each of its observed rows.
//
// Rows k = 0..n-1 hold (step_k, lr_k), steps strictly increasing non-negative integers. Training steps are
// numbered 1, 2, ...; the learning rate is piecewise constant between observed rows: every unobserved step
// takes the LR of the last observed row before it, and the steps before the first row take the first row's LR.
// Warmup (all steps before the first row at which the LR reaches its maximum over the curve) counts as the
// maximum LR (Tissue et al.). eta_0 = eta_1, so m starts at 0. Across a gap of g unobserved steps with constant
// LR the momentum only decays, which is summed in closed form: S2 += m*lam*(1 - lam^g)/(1 - lam), m *= lam^g.
// A row at step 0 has S1 = S2 = 0 (no step taken; outside the law's domain). x[n, 2] row-major, out[n, 2].
// Returns LR_OK, or the first error (the row order or a step value), leaving out unspecified.
LAWFIT_HD inline LrFeatureError lr_annealing_features(const double* x, i64 n, double lam, double* out) {
  if (n <= 0) return LR_OK;
  i64 peak = 0;
  for (i64 k = 0; k < n; ++k) {
    const double s = x[2 * k];
    if (std::isfinite(s) && (s < 0.0 || s != std::floor(s))) return LR_BAD_STEP;
    if (k > 0 && !(s > x[2 * (k - 1)])) {
      if (std::isfinite(s) && std::isfinite(x[2 * (k - 1)])) return LR_NOT_INCREASING;
    }
    if (x[2 * k + 1] > x[2 * peak + 1]) peak = k;
  }
  const double lr_max = x[2 * peak + 1];
  double cur = 0.0, S1 = 0.0, S2 = 0.0, m = 0.0;
  double eta_prev = peak > 0 ? lr_max : x[1];
  for (i64 k = 0; k < n; ++k) {
    const double s = x[2 * k];
    const double eta = k < peak ? lr_max : x[2 * k + 1];
    if (!std::isfinite(s) || !std::isfinite(eta)) {
      // Not finite: this row and every later one (the integrals depend on the whole prefix).
      for (i64 q = k; q < n; ++q) out[2 * q] = out[2 * q + 1] = kNaN;
      return LR_OK;
    }
    if (s == 0.0) {
      out[2 * k] = 0.0;
      out[2 * k + 1] = 0.0;
      continue;
    }
    const double gap = s - cur - 1.0;  // unobserved steps at eta_prev
    if (gap > 0.0) {
      const double lg = std::pow(lam, gap);
      S1 += gap * eta_prev;
      S2 += (lam == 1.0) ? m * gap : m * lam * (1.0 - lg) / (1.0 - lam);
      m *= lg;
    }
    S1 += eta;
    m = lam * m + (eta_prev - eta);
    S2 += m;
    eta_prev = eta;
    cur = s;
    out[2 * k] = S1;
    out[2 * k + 1] = S2;
  }
  return LR_OK;
}


// Named learning-rate schedules (lawfit.schedules): the LR at training step s = 1, 2, ... Linear warm-up from 0 to
// `peak` over the first `warmup` steps, then, up to step `total`:
//   CONSTANT: peak;
//   COSINE:   final + (peak - final) (1 + cos(pi u)) / 2,   u = (s - warmup) / (total - warmup);
//   LINEAR:   peak - (peak - final) u;
//   WSD:      peak until `total - decay`, then down to `final` over the last `decay` steps, in the shape
//             `shape` (0 linear, 1 cosine, 2 one minus square root: Hagele et al. 2024);
// and `final` after `total` (peak for CONSTANT).
enum ScheduleKind : std::int32_t { SCHED_CONSTANT = 0, SCHED_COSINE = 1, SCHED_LINEAR = 2, SCHED_WSD = 3 };

struct ScheduleSpec {
  std::int32_t kind = SCHED_CONSTANT;
  double warmup = 0.0, total = 1.0, peak = 1.0, final_lr = 0.0, decay = 0.0;
  std::int32_t shape = 0;
};

LAWFIT_HD inline double schedule_lr(const ScheduleSpec& sc, double s) {
  if (sc.warmup > 0.0 && s <= sc.warmup) return sc.peak * s / sc.warmup;
  if (sc.kind == SCHED_CONSTANT) return sc.peak;
  if (s >= sc.total) return sc.final_lr;
  double u;
  int shape = 0;
  if (sc.kind == SCHED_WSD) {
    const double start = sc.total - sc.decay;
    if (s <= start || sc.decay <= 0.0) return sc.peak;
    u = (s - start) / sc.decay;
    shape = sc.shape;
  } else {
    const double span = sc.total - sc.warmup;
    u = span > 0.0 ? (s - sc.warmup) / span : 1.0;
    shape = sc.kind == SCHED_COSINE ? 1 : 0;
  }
  u = u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
  const double f = shape == 1 ? 0.5 * (1.0 + std::cos(3.14159265358979323846 * u))
                              : (shape == 2 ? 1.0 - std::sqrt(u) : 1.0 - u);
  return sc.final_lr + (sc.peak - sc.final_lr) * f;
}

// Schedule integrals (S1, S2) of lr_annealing at the steps x[0..n) (strictly increasing non-negative integers)
// under a named schedule, summed exactly over every training step 1..x[n-1] with lr_annealing_features'
// conventions (warm-up steps count as the peak LR, eta_0 = eta_1, step 0 gives (0, 0)). O(x[n-1]) per curve;
// steps beyond max_step are refused (LR_BAD_STEP) so a typo cannot start a loop of 10^15 steps.
LAWFIT_HD inline LrFeatureError schedule_features(const ScheduleSpec& sc, const double* x, i64 n, double lam,
                                                  double max_step, double* out) {
  for (i64 k = 0; k < n; ++k) {
    const double s = x[k];
    if (!std::isfinite(s) || s < 0.0 || s != std::floor(s) || s > max_step) return LR_BAD_STEP;
    if (k > 0 && !(s > x[k - 1])) return LR_NOT_INCREASING;
  }
  double S1 = 0.0, S2 = 0.0, m = 0.0, eta_prev = 0.0;
  i64 k = 0;
  while (k < n && x[k] == 0.0) out[2 * k] = out[2 * k + 1] = 0.0, ++k;
  const i64 last = n > 0 ? static_cast<i64>(x[n - 1]) : 0;
  for (i64 s = 1; s <= last && k < n; ++s) {
    const double sd = static_cast<double>(s);
    const double eta = (sc.warmup > 0.0 && sd <= sc.warmup) ? sc.peak : schedule_lr(sc, sd);
    if (s == 1) eta_prev = eta;
    S1 += eta;
    m = lam * m + (eta_prev - eta);
    S2 += m;
    eta_prev = eta;
    if (sd == x[k]) {
      out[2 * k] = S1;
      out[2 * k + 1] = S2;
      ++k;
    }
  }
  return LR_OK;
}

}  // namespace lawfit::laws
