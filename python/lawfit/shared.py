"""Joint fits with parameters shared across curves (the native solver eliminates the per-curve blocks)."""
from __future__ import annotations

import numpy as np


def fit_shared(spec, batch, X, lo, hi, st: dict, shared: list, common: dict) -> dict:
    """One joint fit over all curves of ``batch``: parameters in ``shared`` take one value for all curves.

    Starts are joint: the default grid, explicit [S, P] starts (per-curve starts are not meaningful for a
    joint fit), or ``n`` random joint starts drawn from ``seed``. The best joint objective wins."""
    if st.get("starts") is not None and np.ndim(st["starts"]) == 3:
        raise ValueError("starts: a fit with shared parameters takes starts common to all curves (no by columns)")
    if st.get("starts") is None:  # random joint starts
        rng = np.random.default_rng(common["seed"])
        lo_r, hi_r = st["rand_lo"], st["rand_hi"]
        u = rng.random((st["n_random"], spec.n_params))
        logs = np.array([s == "log" and l > 0 for s, l in zip(spec.scale, lo_r)])
        with np.errstate(divide="ignore", invalid="ignore"):
            lin = lo_r + u * (hi_r - lo_r)
            lg = np.exp(np.log(lo_r) + u * (np.log(hi_r) - np.log(lo_r)))
        starts = np.ascontiguousarray(np.where(logs, lg, lin))
    else:
        starts = np.ascontiguousarray(st["starts"], dtype=np.float64)
    mask = np.array([p in shared for p in spec.params], dtype=bool)
    return spec._fit_shared(
        shared=mask,
        offsets=batch.offsets,
        x=X,
        y=batch.y,
        w=batch.w,
        lower=lo,
        upper=hi,
        starts=starts,
        project_linear=bool(st.get("project_linear", False)),
        **common,
    )
