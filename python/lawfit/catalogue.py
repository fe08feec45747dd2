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
    # How the paper writes this law (see PaperForm); None for user-written laws.
    paper: Optional["PaperForm"] = field(default=None, compare=False, repr=False)

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

    # --- the paper's symbols ------------------------------------------------------------------------
    @property
    def paper_symbols(self) -> Optional[dict]:
        """{lawfit parameter: the paper's symbol for it}, e.g. overtrain's ``{"alpha": "a", "beta": "b",
        "b": "eta", "E": "E"}`` (lawfit's ``b`` is the paper's eta, not its b); None where no paper is recorded
        (user-written laws). :attr:`paper` has the paper's formula, its order and how each value converts."""
        return None if self.paper is None else self.paper.symbols_of(self.params)

    @property
    def paper_order(self) -> Optional[tuple]:
        """The paper's symbols in the paper's order (None where no paper is recorded)."""
        return None if self.paper is None else self.paper.order_of(self.params)

    def to_paper(self, params) -> pd.DataFrame:
        """Fitted parameters in the paper's symbols and order: ``params`` is a table with a column per lawfit
        parameter (``FitResult.params``, a dict of values or arrays); the result keeps its index. Values are
        converted where the paper's parameter is not lawfit's (overtrain's a = alpha * 6^(-b/2), eta = -b/2)."""
        if self.paper is None:
            raise ValueError(f"to_paper: law {self.name!r} has no recorded paper form")
        df = params if isinstance(params, pd.DataFrame) else pd.DataFrame(
            {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in dict(params).items()})
        missing = [p for p in self.params if p not in df.columns]
        if missing:
            raise ValueError(f"to_paper: params has no column {missing[0]!r} (law {self.name!r} has parameters "
                             f"{', '.join(self.params)})")
        cols = {p: df[p].to_numpy(dtype=np.float64) for p in self.params}
        out = self.paper.convert(cols) if self.paper.convert is not None else {
            self.paper.symbols_of(self.params)[p]: v for p, v in cols.items()}
        order = self.paper.order_of(self.params)
        return pd.DataFrame({k: out[k] for k in order}, index=df.index)

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


@dataclass(frozen=True)
class PaperForm:
    """How a catalogue law is written in its paper, where lawfit's names or order differ from it.

    ``symbols``: {lawfit parameter: (the paper's symbol, how it relates)}; a parameter not listed is the paper's
    own symbol. ``order``: the paper's symbols in the paper's order (None: lawfit's order). ``convert``: maps
    {lawfit parameter: values} to {paper symbol: values} where values change, not just names (overtrain)."""

    formula: str  # the paper's equation, in the paper's symbols
    symbols: dict = field(default_factory=dict)
    order: Optional[tuple] = None
    order_source: str = ""  # where the paper's order is taken from, when given
    note: str = ""
    convert: Optional[Callable] = field(default=None, compare=False, repr=False)

    def symbols_of(self, params: tuple) -> dict:
        return {p: self.symbols[p][0] if p in self.symbols else p for p in params}

    def order_of(self, params: tuple) -> tuple:
        return self.order if self.order is not None else tuple(self.symbols_of(params)[p] for p in params)

    def same_as(self, params: tuple) -> bool:
        """True when the paper uses lawfit's names in lawfit's order."""
        return not self.symbols and (self.order is None or self.order == tuple(params))


def _overtrain_to_paper(c: dict) -> dict:
    eta = -c["b"] / 2.0
    with np.errstate(over="ignore", invalid="ignore"):
        return {"E": c["E"], "a": c["alpha"] * 6.0 ** eta, "b": c["beta"], "eta": eta}


# The paper's form of each catalogue law (the paper is the law's citation, in its C++ header). A law whose paper
# uses lawfit's names and order has a PaperForm with its formula only. Where lawfit follows the authors' code
# rather than the paper, the code is named (Gadre et al.: mlfoundations/scaling, scaling/laws.py powlaw_ours;
# Bhagia et al.: allenai/OLMo-ladder, src/scaling/fitting_functions.py sigmoid_fit).
PAPERS = {
    "power_law": PaperForm(
        "eps(m) = alpha * m^beta_g + gamma, beta_g < 0 (generalization error vs training set size m)",
        symbols={"E": ("gamma", "gamma = E, the irreducible error"),
                 "A": ("alpha", "alpha = A: the paper's alpha is the coefficient"),
                 "alpha": ("beta_g", "beta_g = -alpha: the paper's exponent is negative")},
        order=("alpha", "beta_g", "gamma"), order_source="the paper's formula",
        note="lawfit's alpha is the exponent (positive); Hestness et al.'s alpha is the coefficient",
        convert=lambda c: {"alpha": c["A"], "beta_g": -c["alpha"], "gamma": c["E"]}),
    "chinchilla": PaperForm("L(N, D) = E + A/N^alpha + B/D^beta"),
    "coverage": PaperForm("c = exp(a * k^b) (coverage after k samples)"),
    "passuntil": PaperForm("PU(N) = exp(-c * N^-alpha)"),
    "kaplan": PaperForm(
        "L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (eq. 1.5)",
        symbols={"Nc": ("N_c", "N_c = Nc"), "Dc": ("D_c", "D_c = Dc"), "aN": ("alpha_N", "alpha_N = aN"),
                 "aD": ("alpha_D", "alpha_D = aD")}),
    "overtrain": PaperForm(
        "L(C, M) = E + (a * M^eta + b * M^-eta) * C^-eta, C = 6*N*D, M = D/N",
        symbols={"alpha": ("a", "a = alpha * 6^(-b/2) (alpha is A of L = E + A*N^b + B*D^b)"),
                 "beta": ("b", "b = beta"),
                 "b": ("eta", "eta = -b/2: lawfit's b is the exponent of N and D, not the paper's b"),
                 "E": ("E", "E = E")},
        order=("E", "a", "b", "eta"), order_source="the paper's formula",
        note="lawfit's names and order (alpha, beta, b, E) are those of the authors' code (mlfoundations/scaling, "
             "powlaw_ours), which fits L(N, D) = alpha * N^b + beta * 6^(b/2) * D^b + E",
        convert=_overtrain_to_paper),
    "error_from_loss": PaperForm("Err(L) = eps - k * exp(-gamma * L)"),
    "sigmoid_from_loss": PaperForm(
        "Acc(L) = a / (1 + exp(-k * (L - L0))) + b (L: the task loss of step 1)",
        order=("a", "L0", "k", "b"),
        order_source="the authors' code (allenai/OLMo-ladder sigmoid_fit, p = [a, x0, k, b] with x0 = L0)",
        note="the symbols are the paper's, only the order differs: pass starts, bounds and fixed values by name"),
    "bnsl1": PaperForm("y = a + b * x^-c0 * prod_i (1 + (x/d_i)^(1/f_i))^(-c_i * f_i), one break"),
    "bnsl2": PaperForm("y = a + b * x^-c0 * prod_i (1 + (x/d_i)^(1/f_i))^(-c_i * f_i), two breaks"),
    "dcpt": PaperForm("L(N, D, r) = E + A/N^alpha + B * r^eta / D^beta + C / (r + eps)^gamma"),
    "data_constrained": PaperForm(
        "L = E + A/N'^alpha + B/D'^beta, D' = U_D + U_D * R_D* * (1 - exp(-R_D / R_D*)), N' likewise",
        symbols={"RN": ("R_N*", "R_N* = RN"), "RD": ("R_D*", "R_D* = RD")}),
    "lr_annealing": PaperForm("L(s) = L0 + A * S1^-alpha - C * S2"),
    **{n: PaperForm(f) for n, f in [
        ("pow3", "c - a * t^-alpha"), ("pow4", "c - (a*t + b)^-alpha"), ("loglog_linear", "ln(a * ln(t) + b)"),
        ("log_power", "a / (1 + exp(c * (ln(t) - b)))"), ("janoschek", "alpha - (alpha - beta) * exp(-kappa * t^delta)"),
        ("mmf", "alpha - (alpha - beta) / (1 + (kappa*t)^delta)"),
        ("weibull", "alpha - (alpha - beta) * exp(-(kappa*t)^delta)"), ("exp3", "c - exp(-a*t + b)"),
        ("exp4", "c - exp(-a * t^alpha + b)"), ("ilog2", "c - a / ln(t + 1)"), ("vap", "exp(a + b/t + c * ln(t))"),
        ("hill3", "theta * s / (1 + s), s = (t/kappa)^eta")]},
}


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
        paper=PAPERS.get(d["name"]),
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
