// Robust losses, in scipy.optimize.least_squares conventions: with z = (r / delta)^2 the cost of one
// residual r is 0.5 * delta^2 * rho(z); l2 is 0.5 * r^2 whatever delta. Huber is then the textbook Huber
// loss (0.5 r^2 inside |r| <= delta, delta * (|r| - delta / 2) outside), as used by Hoffmann et al. 2022.
#pragma once
#include "core/common.hpp"

namespace lawfit::fit {

struct Rho {
  double v, d1, d2;  // rho(z), rho'(z), rho''(z)
};

LAWFIT_HD inline Rho robust_rho(Loss loss, double z) {
  switch (loss) {
    case HUBER:
      if (z <= 1.0) return {z, 1.0, 0.0};
      {
        const double s = std::sqrt(z);
        return {2.0 * s - 1.0, 1.0 / s, -0.5 / (z * s)};
      }
    case SOFT_L1: {
      const double t = 1.0 + z, s = std::sqrt(t);
      return {2.0 * (s - 1.0), 1.0 / s, -0.5 / (t * s)};
    }
    case CAUCHY: {
      const double t = 1.0 + z;
      return {std::log1p(z), 1.0 / t, -1.0 / (t * t)};
    }
    case L2:
    default:
      return {z, 1.0, 0.0};
  }
}

// Cost of one (already weight-scaled) residual.
LAWFIT_HD inline double residual_cost(Loss loss, double delta, double r) {
  if (loss == L2) return 0.5 * r * r;
  const double z = (r / delta) * (r / delta);
  return 0.5 * delta * delta * robust_rho(loss, z).v;
}

}  // namespace lawfit::fit
