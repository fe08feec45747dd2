"""Fixed and tied parameters: ``lawfit.fit(..., fixed={"alpha": 0.34}, tie={"beta": "alpha"})``.

**Fixed** parameters are held at a value (one for all curves, or one per curve) by giving them equal lower and upper
bounds: the native solvers hold such a parameter where it is (its start is clamped to the value), leave it out of the
covariance (its standard error is NaN) and condition the others' covariance on its value, so a fit with ``fixed=``
equals a fit of the law with the value written in. :attr:`lawfit.FitResult.fixed` says which parameters were fixed.

**Tied** parameters are functions of the others: ``tie={"beta": "alpha"}`` (beta equals alpha),
``tie={"B": "2*A"}`` or any :class:`lawfit.Law` expression of the law's other, untied parameters. The native laws have
fixed parameter lists, so a tie is fitted as a :class:`lawfit.Law` whose formula is the law's with each tied parameter
replaced by its expression in parentheses (a built-in law's formula text, see :func:`catalogue_law`; the laws whose
formula text lawfit.Law cannot read, or whose text does not evaluate to the native law, refuse ties with a
ValueError naming them). The result (:class:`TiedLaw`) reports every parameter of the law: a tied parameter's value is
its expression at the fitted parameters, and its row and column of the covariance are the delta method's,
``C_full = G C G^T`` with ``G = d(all parameters) / d(free parameters)``: for an equality tie its standard error equals
its partner's and their correlation is 1. A tied parameter's own bounds do not apply (bound its partner); it is not
free (``k`` of :meth:`lawfit.FitResult.report` does not count it).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Dict, Optional

import numpy as np
import pandas as pd

from ._args import show
from .catalogue import LawSpec

# Internal input name of a tie expression compiled as a one-input Law (``(expr) + 0*_tie_x``).
_DUMMY = "lawfit_tie_input_"


# ---- built-in laws as lawfit.Law formulas -----------------------------------------------------------------------
def _split_top(text: str) -> list:
    """``text`` split at the commas outside parentheses and brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _substitute(formula: str, subs: Dict[str, str]) -> str:
    """``formula`` with each name token in ``subs`` (not a function call) replaced by ``(subs[name])``, using the
    formula grammar's own tokens (so ``1e5`` or ``alpha2`` are never touched by a substitution of ``e`` or ``alpha``).
    """
    from .formula import _tokenize

    toks = _tokenize(formula)
    out, last = [], 0
    for i, (kind, text, pos) in enumerate(toks):
        if kind != "name" or text not in subs:
            continue
        nxt = toks[i + 1]
        if nxt[0] == "op" and nxt[1] == "(":
            continue  # a function of that name
        out.append(formula[last:pos])
        out.append(f"({subs[text]})")
        last = pos + len(text)
    out.append(formula[last:])
    return "".join(out)


def catalogue_formula(spec: LawSpec) -> str:
    """The formula text of a catalogue law rewritten in :class:`lawfit.Law`'s grammar: ``[ ]`` as parentheses,
    ``ln`` as ``log``, primed names (``N'``) as ``N_prime`` and the definitions after the main expression
    (``..., s = (t/kappa)^eta``) substituted into it. The text is not checked here (see :func:`catalogue_law`)."""
    f = spec.formula.replace("[", "(").replace("]", ")")
    f = re.sub(r"\bln\s*\(", "log(", f)
    f = re.sub(r"([A-Za-z_][A-Za-z0-9_]*)'", r"\1_prime", f)
    parts = _split_top(f)
    main, defs = parts[0], {}
    for p in parts[1:]:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)", p, flags=re.S)
        if m is None:
            raise ValueError(f"cannot read the definition {p!r}")
        defs[m.group(1)] = m.group(2).strip()
    for _ in range(len(defs) + 1):  # definitions may use each other
        new = re.sub(r"\b([A-Za-z_][A-Za-z0-9_]*)\b", lambda m: f"({defs[m.group(1)]})" if m.group(1) in defs
                     else m.group(1), main)
        if new == main:
            break
        main = new
    return main


def _law_kwargs(spec: LawSpec, params) -> dict:
    """Bounds, start grid and scales of ``params`` of ``spec``, as :class:`lawfit.Law` keywords."""
    j = {p: spec.params.index(p) for p in params}
    return dict(
        bounds={p: (float(spec.lower[j[p]]), float(spec.upper[j[p]])) for p in params},
        start={p: list(spec.grid[j[p]]) for p in params},
        scale={p: spec.scale[j[p]] for p in params},
    )


def _check_same(spec: LawSpec, law) -> Optional[str]:
    """None when ``law`` evaluates like the native ``spec`` on a grid of inputs and starts; else what differs."""
    d = len(spec.inputs)
    vals = np.array([0.3, 0.7, 2.0, 15.0, 300.0, 1e4, 1e7])
    X = np.ascontiguousarray(np.array(np.meshgrid(*[vals] * d)).reshape(d, -1).T)
    starts = spec.default_starts()
    pick = np.unique(np.linspace(0, len(starts) - 1, min(len(starts), 8)).astype(int))
    P = np.ascontiguousarray(np.repeat(starts[pick], len(X), axis=0))
    XX = np.ascontiguousarray(np.tile(X, (len(pick), 1)))
    with np.errstate(all="ignore"):
        a = np.asarray(spec._eval(XX, P), dtype=np.float64)
        b = np.asarray(law._eval(XX, P), dtype=np.float64)
    fa, fb = np.isfinite(a), np.isfinite(b)
    both = fa & fb
    if not both.any():
        return "no point of the check grid gives a finite value"
    bad = (fa != fb) | (both & ~np.isclose(a, b, rtol=1e-9, atol=0.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return f"it gives {b[i]!r} where the native law gives {a[i]!r}"
    return None


@lru_cache(maxsize=None)
def _catalogue_law_cached(name: str):
    from .formula import Law
    from .catalogue import get_law

    spec = get_law(name)
    try:
        text = catalogue_formula(spec)
        law = Law(text, inputs=list(spec.inputs), params=list(spec.params), name=spec.name,
                  **_law_kwargs(spec, spec.params))
    except ValueError as exc:
        raise ValueError(f"law {spec.name!r}: its formula {spec.formula!r} cannot be written as a lawfit.Law "
                         f"({str(exc).splitlines()[0]}); write the law with the tie substituted as a lawfit.Law "
                         "yourself") from None
    why = _check_same(spec, law)
    if why is not None:
        raise ValueError(f"law {spec.name!r}: its formula text {spec.formula!r}, read as the lawfit.Law "
                         f"{text!r}, does not evaluate to the native law ({why}); write the law with the tie "
                         "substituted as a lawfit.Law yourself")
    return text, law


def catalogue_law(spec: LawSpec):
    """The :class:`lawfit.Law` of a catalogue law (its formula text in Law's grammar, :func:`catalogue_formula`; the
    catalogue's bounds, start grid and scales), checked to evaluate to the native law on a grid of inputs and the
    law's default starts. Raises ValueError naming the law when its text cannot be read as a Law
    (``data_constrained``: its inputs are derived) or evaluates otherwise."""
    return _catalogue_law_cached(spec.name)[1]


def base_formula(spec: LawSpec) -> str:
    """The formula of ``spec`` in :class:`lawfit.Law`'s grammar (a user law's own, a catalogue law's rewritten)."""
    from .formula import Law

    if isinstance(spec, Law):
        return spec.formula
    return _catalogue_law_cached(spec.name)[0]


# ---- tied parameters ------------------------------------------------------------------------------------------------
def _check_tie(base: LawSpec, tie) -> Dict[str, str]:
    if not isinstance(tie, dict) or not tie:
        raise ValueError(f"tie must be a non-empty dict {{param: expression}}, e.g. {{'beta': 'alpha'}}, got "
                         f"{type(tie).__name__} {show(tie)}")
    out = {}
    for k, v in tie.items():
        if k not in base.params:
            raise ValueError(f"tie: unknown parameter {show(k)}; {base.name} has {list(base.params)}")
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
            raise ValueError(f"tie[{k!r}] = {show(v)} is a number: hold a parameter at a value with fixed="
                             f"{{{k!r}: {show(v)}}}")
        if not isinstance(v, str):
            raise ValueError(f"tie[{k!r}] must be an expression of the other parameters (a string such as 'alpha' "
                             f"or '2*A'), got {type(v).__name__} {show(v)}")
        out[k] = v
    return out


class TiedLaw(LawSpec):
    """A law with some parameters tied to the others (``lawfit.fit(..., tie={"beta": "alpha"})``).

    It has the parameters, inputs, name and evaluation of ``base`` (a tied parameter is computed from its
    expression, so the base law evaluates it as is); fits go through a :class:`lawfit.Law` of the free parameters
    (``reduced``) whose formula has each tied parameter replaced by its expression. ``tie``: {param: expression}.
    """

    def __init__(self, base: LawSpec, tie: dict):
        from .formula import Law, compile_formula

        if isinstance(base, TiedLaw):
            raise ValueError("tie: the law already has ties; give them all in one tie= dict")
        tie = _check_tie(base, tie)
        free = [p for p in base.params if p not in tie]
        if not free:
            raise ValueError("tie: every parameter is tied; at least one must be free")
        exprs = {}
        for k, text in tie.items():
            try:
                c = compile_formula(text, [], None)
            except ValueError as exc:
                msg = str(exc).replace("formula:", f"tie[{k!r}]:", 1)
                if "no parameters to fit" in msg:
                    msg = f"tie[{k!r}] = {text!r} names no parameter: hold a parameter at a value with fixed="
                raise ValueError(msg) from None
            names = list(c["params"])
            for nm in names:
                if nm in base.inputs or nm in (base.raw_inputs or ()):
                    raise ValueError(f"tie[{k!r}] = {text!r} uses the input {nm!r}: a tie is an expression of "
                                     "parameters")
                if nm not in base.params:
                    raise ValueError(f"tie[{k!r}] = {text!r} names {nm!r}, not a parameter of {base.name} "
                                     f"({list(base.params)})")
                if nm in tie:
                    why = "itself" if nm == k else f"{nm!r}, which is tied too"
                    raise ValueError(f"tie[{k!r}] = {text!r} uses {why}: a tie is an expression of the free "
                                     f"parameters ({free})")
            law = Law(f"({text}) + 0*{_DUMMY}", inputs=[_DUMMY], params=names)
            exprs[k] = (law, np.array([free.index(nm) for nm in names], dtype=np.int64))
        formula = _substitute(base_formula(base), tie)
        kw = _law_kwargs(base, free)
        try:
            reduced = Law(formula, inputs=list(base.inputs), params=free, name=f"{base.name} (tied)", **kw)
        except ValueError as exc:
            raise ValueError(f"tie: the law {base.name!r} with {self._describe(tie)} substituted, {formula!r}, "
                             f"cannot be fitted: {str(exc).splitlines()[0]}") from None
        P = base.n_params
        lower = tuple(-np.inf if p in tie else base.lower[j] for j, p in enumerate(base.params))
        upper = tuple(np.inf if p in tie else base.upper[j] for j, p in enumerate(base.params))
        LawSpec.__init__(
            self, name=base.name, formula=f"{base.formula}; {self._describe(tie)}", citation=base.citation,
            params=base.params, inputs=base.inputs, lower=lower, upper=upper, scale=base.scale, linear=base.linear,
            grid=base.grid, transform=base.transform, raw_inputs=base.raw_inputs, paper=base.paper)
        keep = np.array([base.params.index(p) for p in free], dtype=np.int64)
        tied = np.array([base.params.index(p) for p in tie], dtype=np.int64)
        for k, v in (("base", base), ("tie", dict(tie)), ("reduced", reduced), ("_exprs", exprs),
                     ("_keep", keep), ("_tied_idx", tied), ("_P", P)):
            object.__setattr__(self, k, v)

    @staticmethod
    def _describe(tie: dict) -> str:
        return ", ".join(f"{k} = {v}" for k, v in tie.items())

    @property
    def tied(self) -> tuple:
        """Names of the tied parameters."""
        return tuple(self.tie)

    def __repr__(self) -> str:
        return f"TiedLaw({self.base!r}, tie={self.tie!r})"

    # ---- the map from the free parameters to all of them ------------------------------------------------------
    def expand(self, red: np.ndarray, jacobian: bool = False):
        """All parameters [..., P] from the free ones [..., P_free] (a tied one is its expression); with
        ``jacobian``, also G = d(all) / d(free), [..., P, P_free]."""
        red = np.asarray(red, dtype=np.float64)
        shape = red.shape[:-1]
        R = np.ascontiguousarray(red.reshape(-1, red.shape[-1]))
        m, Pf = R.shape
        full = np.full((m, self._P), np.nan)
        full[:, self._keep] = R
        G = None
        if jacobian:
            G = np.zeros((m, self._P, Pf))
            G[:, self._keep, np.arange(Pf)] = 1.0
        ones = np.ones((m, 1))
        for k, (law, cols) in self._exprs.items():
            j = self.params.index(k)
            vg = law._eval(ones, np.ascontiguousarray(R[:, cols]), jacobian) if m else np.empty((0, 1 + len(cols)))
            vg = np.asarray(vg, dtype=np.float64).reshape(m, -1)
            full[:, j] = vg[:, 0]
            if jacobian:
                G[:, j, cols] = vg[:, 1:]
        full = full.reshape(*shape, self._P)
        if jacobian:
            return full, G.reshape(*shape, self._P, Pf)
        return full

    def _reduce(self, kw: dict) -> dict:
        kw = dict(kw)
        k = self._keep
        for name in ("lower", "upper", "starts", "rand_lo", "rand_hi", "params"):
            if kw.get(name) is not None:
                kw[name] = np.ascontiguousarray(np.asarray(kw[name], dtype=np.float64)[..., k])
        if kw.get("shared") is not None:
            kw["shared"] = np.ascontiguousarray(np.asarray(kw["shared"])[k])
        return kw

    def _expand_fit(self, out: dict, lower, upper) -> dict:
        out = dict(out)
        red = np.asarray(out["params"], dtype=np.float64)
        full, G = self.expand(red, jacobian=True)
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), red.shape)
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), red.shape)
        ab_red = np.isfinite(red) & ((red <= lo) | (red >= hi))
        ab = np.zeros(full.shape, dtype=bool)
        ab[:, self._keep] = ab_red
        # A tied parameter whose expression depends on no free (not at a bound) parameter is not free either.
        dep = (G != 0) & ~ab_red[:, None, :]
        ab[:, self._tied_idx] = np.isfinite(full[:, self._tied_idx]) & ~dep[:, self._tied_idx, :].any(axis=2)
        cov = out.get("cov")
        if cov is not None:
            c = np.asarray(cov, dtype=np.float64)
            c0 = np.where(np.isfinite(c), c, 0.0)
            fc = np.einsum("bip,bpq,bjq->bij", G, c0, G)
            ok = np.isfinite(np.diagonal(c, axis1=1, axis2=2)).any(axis=1)  # curves with a covariance at all
            bad = ab | ~ok[:, None] | ~np.isfinite(full)
            fc[bad[:, :, None] | bad[:, None, :]] = np.nan
            out["cov"] = fc
        out["params"] = full
        out["at_bound"] = ab
        return out

    # ---- native entry points: through the reduced Law -------------------------------------------------------
    def _fit(self, **kw) -> dict:
        kw = self._reduce(kw)
        return self._expand_fit(self.reduced._fit(**kw), kw["lower"], kw["upper"])

    def _fit_shared(self, **kw) -> dict:
        kw = self._reduce(kw)
        return self._expand_fit(self.reduced._fit_shared(**kw), kw["lower"], kw["upper"])

    def _bootstrap(self, **kw) -> tuple:
        p, st = self.reduced._bootstrap(**self._reduce(kw))
        return self.expand(p), st

    def _eval(self, X: np.ndarray, P: np.ndarray, grad: bool = False) -> np.ndarray:
        # The tied parameters hold their expressions' values, so the base law evaluates them as is; its gradient
        # with respect to all parameters, contracted with the covariance C_full = G C G^T, gives the delta method
        # of the free parameters.
        return self.base._eval(X, P, grad)

    def default_starts(self) -> np.ndarray:
        return np.ascontiguousarray(self.expand(self.reduced.default_starts()))

    def to_json(self) -> dict:
        return {"kind": "tied", "base": self.base.to_json(), "tie": dict(self.tie)}


def tied_mask(law: LawSpec) -> np.ndarray:
    """[P] bool: the tied parameters of ``law`` (none unless it is a :class:`TiedLaw`)."""
    names = getattr(law, "tie", None) or {}
    return np.array([p in names for p in law.params], dtype=bool)


# ---- fixed parameters -----------------------------------------------------------------------------------------------
def apply_fixed(spec: LawSpec, fixed, keys: pd.DataFrame, by: list, lo, hi, bounds=None, shared=()) -> tuple:
    """(lower, upper) with the parameters of ``fixed`` held: lower = upper = the value (per curve where it varies).

    fixed: {param: value}; a value is a number (every curve), a pandas Series indexed by curve (the labels of the
    result's index: the ``by`` value, a tuple for several ``by`` columns; curves it does not list, and NaN
    entries, leave the parameter free for that curve) or an array with one value per curve in the result's curve
    order (NaN: free)."""
    from ._data import key_index

    if fixed is None:
        return lo, hi
    if not isinstance(fixed, dict):
        raise ValueError(f"fixed must be a dict {{param: value}}, e.g. {{'alpha': 0.34}}, got {type(fixed).__name__} "
                         f"{show(fixed)}")
    P = spec.n_params
    B = len(keys)
    tie = getattr(spec, "tie", None) or {}
    given = list(bounds.keys()) if isinstance(bounds, dict) else (
        list(bounds.columns) if isinstance(bounds, pd.DataFrame) else [])
    bnames = {p for p in spec.params if any(c in (p, f"{p}_lower", f"{p}_upper") for c in given)}
    lo = np.array(lo, dtype=np.float64)
    hi = np.array(hi, dtype=np.float64)
    for k, v in fixed.items():
        if k not in spec.params:
            raise ValueError(f"fixed: unknown parameter {show(k)}; {spec.name} has {list(spec.params)}")
        if k in tie:
            raise ValueError(f"fixed: {k!r} is tied (tie[{k!r}] = {tie[k]!r}); fix the parameter(s) it is tied to")
        if k in shared:
            raise ValueError(f"fixed: {k!r} is also in shared; a fixed parameter takes its value on every curve")
        if k in bnames:
            raise ValueError(f"fixed: {k!r} also has bounds; give it either bounds or a fixed value")
        j = spec.params.index(k)
        if isinstance(v, pd.Series):
            idx = key_index(keys, by)
            pos = idx.get_indexer(v.index)
            if (pos < 0).any():
                bad = v.index[int(np.flatnonzero(pos < 0)[0])]
                raise ValueError(f"fixed[{k!r}]: the Series names the curve {show(bad)}, which is not in the data "
                                 f"(its index holds curve labels, the {'/'.join(map(str, by)) or 'curve'} values)")
            if len(set(pos.tolist())) != len(pos):
                raise ValueError(f"fixed[{k!r}]: the Series names a curve twice")
            vals = np.full(B, np.nan)
            try:
                vals[pos] = v.to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"fixed[{k!r}]: the Series must hold numbers") from None
        elif np.ndim(v) == 0:
            try:
                val = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"fixed[{k!r}] must be a number, a Series by curve or an array per curve, got "
                                 f"{type(v).__name__} {show(v)}") from None
            if isinstance(v, bool) or not np.isfinite(val):
                raise ValueError(f"fixed[{k!r}] must be a finite number, got {show(v)}")
            vals = np.full(B, val)
        else:
            try:
                vals = np.asarray(v, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise ValueError(f"fixed[{k!r}]: an array of values must hold numbers") from None
            if len(vals) != B:
                raise ValueError(f"fixed[{k!r}]: an array needs one value per curve ({B}), got {len(vals)}; a "
                                 "Series indexed by curve picks the curves by label")
        if np.isinf(vals).any():
            raise ValueError(f"fixed[{k!r}]: values must be finite (NaN leaves a curve's parameter free)")
        held = ~np.isnan(vals)
        if spec.scale[j] == "log" and (vals[held] <= 0).any():
            raise ValueError(f"fixed[{k!r}]: {k!r} is positive by definition (optimised on a log scale); got "
                             f"{show(float(vals[held][vals[held] <= 0][0]))}")
        if held.all() and np.all(vals == vals[0]) and lo.ndim == 1:
            lo[j] = hi[j] = vals[0]
            continue
        if lo.ndim == 1:
            lo, hi = np.tile(lo, (B, 1)), np.tile(hi, (B, 1))
        lo[held, j] = vals[held]
        hi[held, j] = vals[held]
    return np.ascontiguousarray(lo), np.ascontiguousarray(hi)


def fixed_mask(bounds, shape) -> np.ndarray:
    """[curves, P] bool: lower == upper (a fixed parameter), from the (lower, upper) a fit used."""
    if bounds is None:
        return np.zeros(shape, dtype=bool)
    lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), shape) for v in bounds)
    return lo == hi


__all__ = ["TiedLaw", "apply_fixed", "catalogue_formula", "catalogue_law", "fixed_mask", "tied_mask"]
