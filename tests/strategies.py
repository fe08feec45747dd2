"""Shared test helpers: one realistic case per catalogue law, and hypothesis strategies over them.

A case gives a realistic truth, the law's native inputs at plausible points (for gradient checks), a frame
of raw x columns for recovery fits, and one point outside the law's domain. Every law in
``lawfit.laws()`` must have a case here: the catalogue tests fail for a law without one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from hypothesis import strategies as st


@dataclass
class LawCase:
    truth: dict  # parameter -> value (a realistic fit)
    native_x: Callable  # (rng, n) -> [n, D] points inside the domain, in the law's own inputs
    frame: Callable  # () -> dict of raw x columns for a recovery fit (y is computed from the truth)
    bad_x: tuple  # one raw x row outside the domain
    # Parameters that the data cannot identify separately (recovery then checks the fitted curve instead).
    unidentified: tuple = ()
    rtol: float = 1e-4
    note: str = ""
    param_jitter: float = 0.2  # relative perturbation of the truth for gradient checks
    extra: dict = field(default_factory=dict)


def _t_uniform(lo=1.0, hi=200.0):
    return lambda rng, n: rng.uniform(lo, hi, size=(n, 1))


def _t_grid(n=50):
    return lambda: {"t": np.arange(1.0, n + 1.0)}


def _log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size=n))


def _nd_native(rng, n):
    return np.column_stack([_log_uniform(rng, 1e7, 1e11, n), _log_uniform(rng, 1e9, 1e12, n)])


def _nd_grid():
    N = np.repeat(np.geomspace(2e7, 1.6e10, 8), 6)
    D = np.tile(np.geomspace(2e9, 6e11, 6), 8)
    return {"N": N, "D": D}


def _lc(truth, **kw):
    return LawCase(truth=truth, native_x=_t_uniform(), frame=_t_grid(), bad_x=(0.5,), **kw)


CASES: dict = {
    "power_law": LawCase(
        truth={"E": 1.7, "A": 12.0, "alpha": 0.3},
        native_x=lambda rng, n: _log_uniform(rng, 1e3, 1e9, n)[:, None],
        frame=lambda: {"x": np.geomspace(1e3, 1e9, 30)},
        bad_x=(-1.0,),
    ),
    "chinchilla": LawCase(
        truth={"E": 1.69337368, "A": 406.401018, "B": 410.722827, "alpha": 0.33917084, "beta": 0.2849083},
        native_x=_nd_native,
        frame=_nd_grid,
        bad_x=(0.0, 1e9),
    ),
    "coverage": LawCase(
        truth={"a": -1.3, "b": -0.45},
        native_x=lambda rng, n: _log_uniform(rng, 1.0, 1e4, n)[:, None],
        frame=lambda: {"k": np.geomspace(1, 1e4, 25)},
        bad_x=(0.0,),
    ),
    "passuntil": LawCase(
        truth={"c": 300.0, "alpha": 0.3},
        native_x=lambda rng, n: _log_uniform(rng, 1e7, 1e11, n)[:, None],
        frame=lambda: {"N": np.geomspace(1e7, 1e11, 20)},
        bad_x=(-5.0,),
    ),
    # Learning-curve families (Domhan et al. 2015), t = 1..50.
    "pow3": _lc({"c": 0.85, "a": 0.6, "alpha": 0.45}),
    "pow4": _lc({"c": 0.9, "a": 2.0, "b": 1.0, "alpha": 0.5}),
    "loglog_linear": _lc({"a": 0.3, "b": 1.2}),
    "log_power": _lc({"a": 0.8, "b": 1.5, "c": -1.2}),
    "janoschek": _lc({"alpha": 0.82, "beta": 0.1, "kappa": 0.15, "delta": 0.7}),
    "mmf": _lc({"alpha": 0.85, "beta": 0.1, "kappa": 0.2, "delta": 1.3}),
    "weibull": _lc({"alpha": 0.8, "beta": 0.1, "kappa": 0.08, "delta": 0.9}),
    "exp3": _lc({"c": 0.85, "a": 0.08, "b": -0.5}),
    "exp4": _lc({"c": 0.88, "a": 0.4, "b": -0.3, "alpha": 0.6}),
    "ilog2": _lc({"c": 0.9, "a": 0.35}),
    "vap": _lc({"a": -0.3, "b": -0.8, "c": 0.05}),
    "hill3": _lc({"theta": 0.85, "eta": 1.2, "kappa": 4.0}),
}


def case_for(name: str) -> LawCase:
    if name not in CASES:
        raise LookupError(f"law {name!r} has no test case: add one to tests/strategies.py CASES")
    return CASES[name]


def jittered_params(case: LawCase, spec, rng) -> np.ndarray:
    """The truth, each parameter perturbed by up to +-param_jitter (relative), kept inside the bounds."""
    p = np.array([case.truth[k] for k in spec.params], dtype=float)
    p = p * (1.0 + case.param_jitter * rng.uniform(-1.0, 1.0, size=p.shape))
    lo, hi = np.array(spec.lower), np.array(spec.upper)
    return np.clip(p, np.where(np.isfinite(lo), lo + 1e-12, -np.inf), np.where(np.isfinite(hi), hi, np.inf))


seeds = st.integers(min_value=0, max_value=2**32 - 1)
