#pragma once
#include "core/laws/law.hpp"

namespace lawfit::laws {

// Err(L) = eps - k * exp(-gamma * L): downstream top-1 error from the language-modelling loss L.
// Gadre et al. 2024, "Language models scale reliably with over-training and on downstream tasks"
// (arXiv:2403.08540). eps and k enter linearly (k > 0, optimised in log space); gamma > 0 in log space.
struct ErrorFromLoss {
  static constexpr const char* name = "error_from_loss";
  static constexpr const char* formula = "eps - k * exp(-gamma * L)";
  static constexpr const char* citation =
      "Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks, "
      "arXiv:2403.08540";
  static constexpr int P = 3, D = 1;
  static constexpr const char* params[P] = {"eps", "k", "gamma"};
  static constexpr const char* inputs[D] = {"L"};
  static constexpr double lower[P] = {-kInf, 0.0, 0.0};
  static constexpr double upper[P] = {kInf, kInf, 100.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LOG};
  static constexpr bool linear[P] = {true, true, false};
  static constexpr int amplitude[P] = {-1, -1, 1};
  static constexpr Axis grid[P] = {{1, {0.8}}, {1, {1.0}}, {8, {0.05, 0.15, 0.4, 0.8, 1.5, 3.0, 6.0, 12.0}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double e = std::exp(-p[2] * x[0]);
    if (g) {
      g[0] = 1.0;
      g[1] = -e;
      g[2] = p[1] * x[0] * e;
    }
    return p[0] - p[1] * e;
  }
};

// Acc(L) = a / (1 + exp(-k*(L - L0))) + b: task accuracy from the task loss L (a in [-1, 0], b in [0, 1];
// accuracy falls from b towards a + b as L grows). OLMo 2 ladder, step 2: Bhagia et al. 2024, "Establishing
// Task Scaling Laws via Compute-Efficient Model Ladders" (arXiv:2412.04403), who add the point (L = 0,
// Acc = task maximum) to each fit. a and b enter linearly; k > 0 is optimised in log space.
struct SigmoidFromLoss {
  static constexpr const char* name = "sigmoid_from_loss";
  static constexpr const char* formula = "a / (1 + exp(-k*(L - L0))) + b";
  static constexpr const char* citation =
      "Bhagia et al. 2024 (OLMo ladder), Establishing Task Scaling Laws via Compute-Efficient Model Ladders, "
      "arXiv:2412.04403";
  static constexpr int P = 4, D = 1;
  static constexpr const char* params[P] = {"a", "k", "L0", "b"};
  static constexpr const char* inputs[D] = {"L"};
  static constexpr double lower[P] = {-1.0, 0.0, -kInf, 0.0};
  static constexpr double upper[P] = {0.0, 1000.0, kInf, 1.0};
  static constexpr Scale scale[P] = {LINEAR, LOG, LINEAR, LINEAR};
  static constexpr bool linear[P] = {true, false, false, true};
  static constexpr Axis grid[P] = {{1, {-0.5}},
                                   {6, {0.5, 1.5, 3.0, 6.0, 12.0, 30.0}},
                                   {8, {0.2, 0.5, 0.8, 1.1, 1.5, 2.0, 3.0, 5.0}},
                                   {1, {0.8}}};

  LAWFIT_HD static bool domain(const double* x) { return x[0] >= 0.0; }
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    const double d = x[0] - p[2];
    const double s = sigmoid(p[1] * d);
    if (g) {
      const double ds = p[0] * s * sigmoid(-p[1] * d);  // a * s * (1 - s)
      g[0] = s;
      g[1] = ds * d;
      g[2] = -ds * p[1];
      g[3] = 1.0;
    }
    return p[0] * s + p[3];
  }
};

}  // namespace lawfit::laws
