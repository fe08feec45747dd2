// The law catalogue: every built-in law, in the order `lawfit.laws()` lists them.
// To add a law: write its header (see law.hpp), include it here and add it to LAWFIT_FOR_EACH_LAW.
#pragma once
#include "core/laws/chinchilla.hpp"
#include "core/laws/coverage.hpp"
#include "core/laws/exp3.hpp"
#include "core/laws/exp4.hpp"
#include "core/laws/hill3.hpp"
#include "core/laws/ilog2.hpp"
#include "core/laws/janoschek.hpp"
#include "core/laws/log_power.hpp"
#include "core/laws/loglog_linear.hpp"
#include "core/laws/mmf.hpp"
#include "core/laws/pow3.hpp"
#include "core/laws/pow4.hpp"
#include "core/laws/power_law.hpp"
#include "core/laws/vap.hpp"
#include "core/laws/weibull.hpp"

// Scaling laws first, then the learning-curve families of Domhan et al. 2015.
#define LAWFIT_FOR_EACH_LAW(X) \
  X(PowerLaw)                  \
  X(Chinchilla)                \
  X(Coverage)                  \
  X(PassUntil)                 \
  X(Pow3)                      \
  X(Pow4)                      \
  X(LogLogLinear)              \
  X(LogPower)                  \
  X(Janoschek)                 \
  X(Mmf)                       \
  X(Weibull)                   \
  X(Exp3)                      \
  X(Exp4)                      \
  X(Ilog2)                     \
  X(Vap)                       \
  X(Hill3)
