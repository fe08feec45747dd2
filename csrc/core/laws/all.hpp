// The law catalogue: every built-in law, in the order `lawfit.laws()` lists them.
// To add a law: write its header (see law.hpp), include it here and add it to LAWFIT_FOR_EACH_LAW.
#pragma once
#include "core/laws/chinchilla.hpp"
#include "core/laws/coverage.hpp"
#include "core/laws/power_law.hpp"

#define LAWFIT_FOR_EACH_LAW(X) \
  X(PowerLaw)                  \
  X(Chinchilla)                \
  X(Coverage)                  \
  X(PassUntil)
