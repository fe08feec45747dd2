"""Per-curve status codes returned by every batched operation (mirrors ``lawfit::Status`` in C++)."""
from __future__ import annotations

import enum


class Status(enum.IntEnum):
    CONVERGED = 0  #: a tolerance (ftol, xtol or gtol) was met
    MAX_ITER = 1  #: iteration limit reached; parameters are the best found so far
    SINGULAR = 2  #: the normal equations could not be solved at the start
    NON_FINITE = 3  #: NaN/inf in the curve's data, or the model is not finite at every start
    TOO_FEW_POINTS = 4  #: fewer points than free parameters (includes empty curves)
    INVALID_INPUT = 5  #: x outside the law's domain, y <= 0 in log space, negative weight, bad bounds
    NOT_RUN = 6  #: skipped (no usable start)

    @property
    def ok(self) -> bool:
        return self in (Status.CONVERGED, Status.MAX_ITER)


STATUS_NAMES = [s.name for s in Status]
