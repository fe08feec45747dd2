"""Per-curve input transforms of catalogue laws, attached to the catalogue at import time.

lr_annealing (Tissue et al. 2024) is fitted on raw ``step`` and ``lr`` columns: each curve's rows become the
schedule integrals (S1, S2) in C++ (one call for the whole batch, parallel over curves).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._args import resolve_threads
from .catalogue import register_transform
from ._native import _core

LR_ANNEALING_LAMBDA = 0.999


def lr_annealing_features(offsets, X, lam: float = LR_ANNEALING_LAMBDA, threads: Optional[int] = None, *,
                          invalid: str = "raise") -> np.ndarray:
    """(S1, S2) per row for lr_annealing from raw (step, lr) rows of a CSR batch.

    Parameters
    ----------
    offsets: int64 [B+1], curve b owns rows offsets[b]:offsets[b+1].
    X: float64 [n, 2], columns (step, lr); within each curve the steps must be strictly increasing
        non-negative integers. Every curve must start at the beginning of its run: S1 and S2 integrate the
        schedule from step 1, with the LR held constant between observed rows and warmup counted as the
        maximum LR.
    lam: the momentum decay of the annealing area (0.999 in the paper).
    invalid: "raise" (ValueError naming the first curve whose steps are not increasing non-negative integers) or
        "nan" (that curve's rows get NaN features; lawfit.fit uses this to give the curve a status).

    Returns float64 [n, 2]: S1 (forward area) and S2 (annealing area) at each row's step.
    """
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    Xa = np.ascontiguousarray(X, dtype=np.float64)
    if Xa.ndim != 2 or Xa.shape[1] != 2:
        raise ValueError(f"lr_annealing: x must have two columns (step, lr), got shape {Xa.shape}")
    out, err = _core.lr_annealing_features(off, Xa, float(lam), resolve_threads(threads, op="lr_annealing"))
    bad = np.flatnonzero(err)
    if bad.size and invalid == "nan":
        rows = np.repeat(np.asarray(err) != 0, np.diff(off))
        out = np.array(out, dtype=np.float64, copy=True)
        out[rows] = np.nan
        return out
    if bad.size:
        b = int(bad[0])
        if err[b] == 1:
            raise ValueError(
                f"lr_annealing: column 'step' must be strictly increasing within each curve; curve {b} is not "
                "(sort the rows by step)"
            )
        raise ValueError(f"lr_annealing: column 'step' must hold non-negative integers; curve {b} does not")
    return out


def _lr_annealing_transform(offsets, X, invalid: str = "raise") -> np.ndarray:
    return lr_annealing_features(offsets, X, invalid=invalid)


register_transform("lr_annealing", _lr_annealing_transform, raw_inputs=("step", "lr"))
