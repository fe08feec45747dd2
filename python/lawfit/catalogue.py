"""lawfit.catalogue: the law catalogue, metadata of the built-in laws (defined once, in C++ under csrc/core/laws/).

Each law is a :class:`LawSpec`. ``lawfit.laws()`` lists them as a DataFrame; ``get_law(name)`` returns one.
User-written laws (:class:`lawfit.Law`) share the same interface.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pandas as pd

from ._args import check_int, show
from ._native import _core


@dataclass(frozen=True)
class LawSpec:
    """A law that the native solvers can fit: parameter and input names, default bounds and starts."""

    name: str
    formula: str
    citation: str
    params: tuple
    inputs: tuple
    lower: tuple
    upper: tuple
    scale: tuple  # "linear" or "log" per parameter (log: optimised as log p, p > 0)
    linear: tuple  # f is linear in this parameter (solved exactly from grid starts)
    grid: tuple  # default start values per parameter
    # Optional transform of the raw x columns before fitting/evaluating (e.g. lr_annealing turns
    # (step, lr) into the schedule integrals); called with (offsets, X) and returns a new X.
    transform: Optional[Callable] = field(default=None, compare=False, repr=False)
    raw_inputs: Optional[tuple] = None  # names of the raw x columns when transform is set

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def x_names(self) -> tuple:
        """Names of the x columns the user passes (raw inputs when the law transforms them)."""
        return self.raw_inputs if self.raw_inputs is not None else self.inputs

    # --- native entry points (overridden by formula laws) ---------------------------------------
    def _fit(self, **kw) -> dict:
        return _core.fit_law(self.name, **kw)

    def _fit_shared(self, **kw) -> dict:
        return _core.fit_law_shared(self.name, **kw)

    def _bootstrap(self, **kw) -> tuple:
        return _core.bootstrap_law(self.name, **kw)

    def _eval(self, X: np.ndarray, P: np.ndarray, grad: bool = False) -> np.ndarray:
        return _core.law_eval(self.name, X, P, grad)

    def to_json(self) -> dict:
        return {"kind": "builtin", "name": self.name}

    # --- starts ----------------------------------------------------------------------------------
    def default_starts(self) -> np.ndarray:
        """Cartesian product of the grid axes of the non-linear parameters, [S, P]."""
        axes = [self.grid[j][:1] if self.linear[j] else self.grid[j] for j in range(self.n_params)]
        return np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(-1, self.n_params)

    def random_range(self, lower: np.ndarray, upper: np.ndarray) -> tuple:
        """Range for random starts: the bounds, narrowed to the default grid's span where a bound is open."""
        lo = np.empty(self.n_params)
        hi = np.empty(self.n_params)
        for j in range(self.n_params):
            g = np.asarray(self.grid[j], dtype=float)
            glo, ghi = float(g.min()), float(g.max())
            if glo == ghi:  # a single grid value: widen around it
                if self.scale[j] == "log" and glo > 0:
                    glo, ghi = glo / 100.0, glo * 100.0
                else:
                    glo, ghi = glo - 1.0, glo + 1.0
            lo[j] = lower[j] if np.isfinite(lower[j]) else glo
            hi[j] = upper[j] if np.isfinite(upper[j]) else max(ghi, lo[j])
            if self.scale[j] == "log" and lo[j] <= 0:
                lo[j] = min(glo, hi[j]) if glo > 0 else hi[j] * 1e-6
        return lo, hi


def _from_native(d: dict) -> LawSpec:
    return LawSpec(
        name=d["name"],
        formula=d["formula"],
        citation=d["citation"],
        params=tuple(d["params"]),
        inputs=tuple(d["inputs"]),
        lower=tuple(d["lower"]),
        upper=tuple(d["upper"]),
        scale=tuple(d["scale"]),
        linear=tuple(d["linear"]),
        grid=tuple(tuple(a) for a in d["grid"]),
    )


_CATALOGUE: dict = {d["name"]: _from_native(d) for d in _core.law_catalogue()}
# Python-side adjustments (input transforms) are attached by lawfit._transforms at import time.


def register_transform(name: str, fn: Callable, raw_inputs: tuple) -> None:
    """Attach an input transform to a catalogue law (used by laws whose inputs are derived per curve).

    ``fn(offsets, X, invalid="raise")`` maps a CSR batch of raw input rows to the law's inputs; with
    ``invalid="nan"`` it gives the rows of a curve it cannot transform NaN instead of raising (lawfit.fit then
    gives that curve the status INVALID_INPUT)."""
    spec = _CATALOGUE[name]
    _CATALOGUE[name] = LawSpec(**{**spec.__dict__, "transform": fn, "raw_inputs": tuple(raw_inputs)})


def apply_transform(spec: LawSpec, offsets, X, invalid: str = "raise"):
    """``spec.transform(offsets, X, invalid=invalid)``; a transform registered without the ``invalid`` keyword
    always raises on a curve it cannot take."""
    import inspect

    try:
        takes = "invalid" in inspect.signature(spec.transform).parameters
    except (TypeError, ValueError):
        takes = False
    return spec.transform(offsets, X, invalid=invalid) if takes else spec.transform(offsets, X)


# Other names of catalogue laws: the name people use for a family, resolved to its member (``get_law``, the CLI).
ALIASES = {"bnsl": "bnsl1"}


def resolve_name(name: str) -> str:
    """The catalogue name of ``name`` (an alias, see :data:`ALIASES`, or the name itself)."""
    return ALIASES.get(name, name)


def get_law(law) -> LawSpec:
    """A LawSpec from a catalogue name (or an alias: "bnsl" is "bnsl1") or a user-written :class:`lawfit.Law`
    (returned as is)."""
    if isinstance(law, LawSpec):
        return law
    if not isinstance(law, str):
        raise ValueError(f"law must be a catalogue name or a lawfit.Law, got {type(law).__name__}")
    name = resolve_name(law)
    if name not in _CATALOGUE:
        raise ValueError(f"unknown law {show(law)}; known laws: {', '.join(_CATALOGUE)} (aliases: "
                         f"{', '.join(f'{a} = {b}' for a, b in ALIASES.items())})")
    return _CATALOGUE[name]


def bnsl(breaks: int = 1) -> LawSpec:
    """The broken neural scaling law (Caballero et al. 2022) with ``breaks`` breaks: the catalogue's ``bnsl1``
    (1, also ``get_law("bnsl")``) or ``bnsl2`` (2). For more breaks, write it as a :class:`lawfit.Law`."""
    n = check_int("breaks", breaks, 1, op="bnsl")
    if n not in (1, 2):
        raise ValueError(f"bnsl: breaks must be 1 or 2 (the catalogue's bnsl1 and bnsl2), got {n}; write a law "
                         "with more breaks as a lawfit.Law formula")
    return _CATALOGUE[f"bnsl{n}"]


def laws() -> pd.DataFrame:
    """The catalogue: one row per built-in law with its formula, parameters, inputs and citation."""
    rows = [
        {
            "name": s.name,
            "formula": s.formula,
            "params": ", ".join(s.params),
            "inputs": ", ".join(s.x_names),
            "citation": s.citation,
        }
        for s in _CATALOGUE.values()
    ]
    return pd.DataFrame(rows).set_index("name")
