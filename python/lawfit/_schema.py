"""The FitResult file (written by :meth:`FitResult.save`, read by :func:`lawfit.load_result`), checked field by
field when it is read, so that a damaged file fails at once with one ValueError naming the field, never later
(when ``.params`` is read) and never with a KeyError, a JSONDecodeError or a pandas error.

Schema version 1: a JSON object with

* ``format``: ``"lawfit.FitResult/1"``; ``schema_version``: 1 (files written before the field existed have none
  and are read as version 1);
* ``law``: ``{"kind": "builtin", "name": ...}``, a formula law (``Law.to_json``) or a tied law (below);
* ``by``: the curve key columns; ``keys``: ``{column: [value per curve]}``, the curves' keys, all distinct;
* ``options``: the fit's options; ``x`` (one column per law input) and ``y`` are required;
* per curve (B = the length of ``status``, at least 1): ``status`` (codes of :class:`lawfit.Status`), ``params``
  [B][P] and ``cov`` [B][P][P] (numbers, null for NaN; a CONVERGED or MAX_ITER curve has finite parameters),
  ``cost`` [B] (>= 0 or null), ``iters`` [B] and ``n_points`` [B] (integers >= 0), ``best_start`` [B]
  (integers >= -1), and optionally ``x_range`` [B][d][2] (numbers or null), ``at_bound`` [B][P] (0 or 1) and
  ``fixed`` [B][P] (0 or 1: held fixed in the fit);
* a law with tied parameters: ``{"kind": "tied", "base": <a builtin or formula law>, "tie": {param: expression}}``.

Unknown fields are ignored (a later minor addition stays readable).
"""
from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from ._args import SEED_LIMIT, is_int
from ._status import Status

FORMAT = "lawfit.FitResult/1"
SCHEMA_VERSION = 1
_REQUIRED = ("law", "by", "keys", "options", "status", "params", "cost", "cov", "iters", "best_start", "n_points")
_LOSSES = ("l2", "linear", "huber", "soft_l1", "cauchy")
_SPACES = ("linear", "log")


def _jtype(v) -> str:
    """The JSON type of a parsed value, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


class _Checker:
    def __init__(self, path):
        self.where = f"load_result: {os.fspath(path)}"

    def error(self, msg: str) -> ValueError:
        return ValueError(f"{self.where}: {msg}")

    def field(self, name: str, msg: str) -> ValueError:
        return self.error(f"field {name!r} {msg}")

    # ---- structure ----------------------------------------------------------------------------------------
    def nested(self, name: str, v, dims: tuple, axes: tuple) -> np.ndarray:
        """Nested lists of exactly ``dims`` (axes: what each level counts), as an object array."""

        def at(idx) -> str:
            return "".join(f", {a} {i}" for a, i in zip(axes, idx)).replace(", ", " at ", 1)

        def walk(x, level, idx):
            if not isinstance(x, list):
                shape = (f"a list of {dims[0]} values (one per curve)" if len(dims) == 1 else
                         f"nested lists of shape {list(dims)} ({' x '.join(axes)})")
                raise self.field(name, f"must be {shape}, got {_jtype(x)}{at(idx)}")
            if len(x) != dims[level] and level == 0:
                raise self.field(name, f"has {len(x)} entries, expected {dims[0]} (one per curve, as field 'status')")
            if len(x) != dims[level]:
                raise self.field(name, f"must hold {dims[level]} values per {axes[level - 1]} (one per {axes[level]}), "
                                       f"got {len(x)}{at(idx)}")
            if level + 1 < len(dims):
                for i, y in enumerate(x):
                    walk(y, level + 1, idx + (i,))

        walk(v, 0, ())
        try:
            arr = np.array(v, dtype=object)
        except ValueError:  # leaves that are lists of unequal lengths
            arr = None
        if arr is None or arr.shape != dims:  # leaves that are lists
            raise self.field(name, f"must hold numbers (or null) at depth {len(dims)}, not lists")
        return arr

    def leaves(self, name: str, arr: np.ndarray, integer: bool, axes: tuple) -> np.ndarray:
        """The leaves as float64 (numbers, null -> NaN) or int64 (integers only)."""
        allowed = {int} if integer else {int, float, type(None)}
        flat = arr.ravel()
        if not set(map(type, flat)) <= allowed:
            i = next(j for j, x in enumerate(flat) if type(x) not in allowed)
            idx = np.unravel_index(i, arr.shape)
            where = ", ".join(f"{a} {int(k)}" for a, k in zip(axes, idx))
            what = "integers" if integer else "numbers or null"
            raise self.field(name, f"must hold {what}, got {_jtype(flat[i])} at {where}")
        try:
            if integer:
                return flat.astype(np.int64).reshape(arr.shape)
            out = np.where(np.equal(flat, None), np.nan, flat)
            return out.astype(np.float64).reshape(arr.shape)
        except (OverflowError, TypeError, ValueError):
            raise self.field(name, "holds a number out of range") from None

    def per_curve(self, d: dict, name: str, dims: tuple, axes: tuple, integer: bool = False) -> np.ndarray:
        return self.leaves(name, self.nested(name, d[name], dims, axes), integer, axes)

    def at_least(self, name: str, a: np.ndarray, lo: int, what: str) -> None:
        bad = np.flatnonzero(a < lo)
        if bad.size:
            b = int(bad[0])
            raise self.field(name, f"must hold {what}, got {int(a[b])} at curve {b}")

    def names(self, name: str, v, allow_none: bool = False) -> list:
        if not isinstance(v, list) or not all(isinstance(s, str) or (allow_none and s is None) for s in v):
            raise self.field(name, f"must be a list of names (strings), got {_jtype(v)}")
        return v


def _parse(path, ck: _Checker):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ck.error("file not found") from None
    except OSError as exc:
        raise ck.error(f"cannot read the file ({exc.strerror or exc})") from None
    not_result = "not a lawfit result JSON (FitResult.save and `lawfit fit -o` write one)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ck.error(f"{not_result}: the file is not text") from None
    if not text.strip():
        raise ck.error(f"{not_result}: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        why = f"invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        if exc.pos >= len(text.rstrip()) - 2:  # the error is where the text stops
            why += f"; the JSON stops early, at byte {len(raw)}: a truncated file?"
        hint = ""
        if not first.startswith(("{", "[")) and ("," in first or "\t" in first):
            hint = ("; it looks like a CSV table: give the fit's JSON file (e.g. `lawfit predict FIT.json DATA.csv`, "
                    "FIT.json from `lawfit fit -o FIT.json`)")
        raise ck.error(f"{not_result}: {why}{hint}") from None
    except RecursionError:
        raise ck.error(f"{not_result}: the JSON is nested too deeply") from None


def _law(d: dict, ck: _Checker):
    lj = d["law"]
    if isinstance(lj, dict) and lj.get("kind") == "tied":
        from .constraints import TiedLaw

        base = _law_object(lj.get("base"), ck, "law.base")
        tie = lj.get("tie")
        if not isinstance(tie, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tie.items()):
            raise ck.field("law.tie", f"must be an object {{param: expression}}, got {_jtype(tie)}")
        try:
            return TiedLaw(base, tie)
        except ValueError as exc:
            raise ck.field("law.tie", f"is not a valid tie of {base.name!r}: {exc}") from None
    return _law_object(lj, ck, "law")


def _law_object(lj, ck: _Checker, field: str):
    """A builtin or formula law from its JSON object (field: where it sits, for messages)."""
    from .catalogue import get_law

    if not isinstance(lj, dict):
        raise ck.field(field, f"must be an object with a 'kind', got {_jtype(lj)}")
    kind = lj.get("kind")
    if kind == "builtin":
        name = lj.get("name")
        if not isinstance(name, str):
            raise ck.field(f"{field}.name", f"must be the name of a catalogue law, got {_jtype(name)}")
        try:
            return get_law(name)
        except ValueError as exc:
            raise ck.field(f"{field}.name", f"names no law of this lawfit ({exc})") from None
    if kind != "formula":
        raise ck.field(f"{field}.kind", f"must be 'builtin', 'formula' or 'tied', got {_jtype(kind)}")
    from .formula import Law

    if not isinstance(lj.get("formula"), str):
        raise ck.field(f"{field}.formula", f"must be a string, got {_jtype(lj.get('formula'))}")
    ck.names(f"{field}.inputs", lj.get("inputs"))
    if lj.get("params") is not None:
        ck.names(f"{field}.params", lj.get("params"))
    for k in ("bounds", "start", "scale"):
        if lj.get(k) is not None and not isinstance(lj.get(k), dict):
            raise ck.field(f"{field}.{k}", f"must be an object keyed by parameter, got {_jtype(lj.get(k))}")
    for k, v in (lj.get("bounds") or {}).items():
        if not (isinstance(v, list) and len(v) == 2 and all(t is None or type(t) in (int, float) for t in v)):
            raise ck.field(f"{field}.bounds.{k}", f"must be a [lower, upper] pair of numbers or null, got {_jtype(v)}")
    if lj.get("name") is not None and not isinstance(lj.get("name"), str):
        raise ck.field(f"{field}.name", f"must be a string or null, got {_jtype(lj.get('name'))}")
    try:
        return Law.from_json(lj)
    except (ValueError, TypeError, KeyError) as exc:
        raise ck.field(field, f"is not a valid formula law: {exc}") from None


def _options(d: dict, law, by: list, ck: _Checker) -> dict:
    o = d["options"]
    if not isinstance(o, dict):
        raise ck.field("options", f"must be an object, got {_jtype(o)}")
    for k in ("x", "y"):
        if k not in o:
            raise ck.field(f"options.{k}", "is missing")
    x = o["x"]
    if not isinstance(x, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in x):
        raise ck.field("options.x", f"must be a list of column names, got {_jtype(x)}")
    if len(x) != len(law.x_names):
        raise ck.field("options.x", f"must name {len(law.x_names)} column(s) for law {law.name!r} "
                                    f"({', '.join(law.x_names)}), got {len(x)}")
    if not (isinstance(o["y"], (str, int)) and not isinstance(o["y"], bool)):
        raise ck.field("options.y", f"must be a column name, got {_jtype(o['y'])}")
    if "loss" in o and o["loss"] not in _LOSSES:
        raise ck.field("options.loss", f"must be one of {list(_LOSSES)}, got {_jtype(o['loss'])}")
    if "space" in o and o["space"] not in _SPACES:
        raise ck.field("options.space", f"must be one of {list(_SPACES)}, got {_jtype(o['space'])}")
    if "delta" in o and not (type(o["delta"]) in (int, float) and o["delta"] > 0):
        raise ck.field("options.delta", f"must be a positive number, got {_jtype(o['delta'])}")
    for k in ("ftol", "xtol", "gtol"):
        if k in o and not (type(o[k]) in (int, float) and o[k] >= 0):
            raise ck.field(f"options.{k}", f"must be a number >= 0, got {_jtype(o[k])}")
    if "max_iter" in o and not (is_int(o["max_iter"]) and o["max_iter"] >= 1):
        raise ck.field("options.max_iter", f"must be an integer >= 1, got {_jtype(o['max_iter'])}")
    if "seed" in o and not (is_int(o["seed"]) and 0 <= o["seed"] < SEED_LIMIT):
        raise ck.field("options.seed", f"must be an integer in [0, 2**64), got {_jtype(o['seed'])}")
    if "shared" in o:
        shared = o["shared"] if o["shared"] is not None else []
        ck.names("options.shared", shared)
        bad = [p for p in shared if p not in law.params]
        if bad:
            raise ck.field("options.shared", f"names {bad[0]!r}, not a parameter of {law.name!r} ({list(law.params)})")
    if "by" in o and o["by"] != by:
        raise ck.field("options.by", f"must equal field 'by' ({by}), got {_jtype(o['by'])}")
    return o


def read_result(path) -> tuple:
    """(law, keys, by, native, options) of a FitResult file, checked against the schema (see the module doc)."""
    import pandas as pd

    ck = _Checker(path)
    d = _parse(path, ck)
    if not isinstance(d, dict):
        raise ck.error(f"not a lawfit result JSON: expected an object {{...}} at the top, got {_jtype(d)}")
    if "format" not in d:
        raise ck.error(f"not a lawfit FitResult file: field 'format' is missing (expected {FORMAT!r})")
    if d["format"] != FORMAT:
        raise ck.field("format", f"must be {FORMAT!r} (a lawfit FitResult file), got {_jtype(d['format'])}")
    ver = d.get("schema_version", 1)
    if not is_int(ver) or ver < 1:
        raise ck.field("schema_version", f"must be a positive integer, got {_jtype(ver)}")
    if ver > SCHEMA_VERSION:
        raise ck.field("schema_version", f"is {ver}, newer than this lawfit reads ({SCHEMA_VERSION}); upgrade lawfit")
    for k in _REQUIRED:
        if k not in d:
            raise ck.field(k, "is missing")
    law = _law(d, ck)
    P = law.n_params

    by = d["by"]
    if not isinstance(by, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in by):
        raise ck.field("by", f"must be a list of column names, got {_jtype(by)}")
    if len(set(map(str, by))) != len(by):
        raise ck.field("by", f"names a column twice: {by}")

    st = d["status"]
    if not isinstance(st, list):
        raise ck.field("status", f"must be a list of status codes, one per curve, got {_jtype(st)}")
    B = len(st)
    if B == 0:
        raise ck.field("status", "is empty (a fit has at least one curve)")
    status = ck.per_curve(d, "status", (B,), ("curve",), integer=True)
    codes = [int(s) for s in Status]
    bad = np.flatnonzero(~np.isin(status, codes))
    if bad.size:
        b = int(bad[0])
        raise ck.field("status", f"must hold codes of lawfit.Status ({min(codes)}..{max(codes)}), got {int(status[b])} "
                                 f"at curve {b}")

    kd = d["keys"]
    if not isinstance(kd, dict):
        raise ck.field("keys", f"must be an object {{column: [value per curve]}}, got {_jtype(kd)}")
    cols = {}
    for c in by:
        v = kd.get(str(c))
        if v is None:
            raise ck.field("keys", f"has no values for the by column {c!r}")
        if not isinstance(v, list) or len(v) != B:
            raise ck.field(f"keys.{c}", f"must hold {B} values (one per curve, as 'status'), got {_jtype(v)}")
        i = next((j for j, x in enumerate(v) if x is not None and type(x) not in (str, int, float, bool)), None)
        if i is not None:
            raise ck.field(f"keys.{c}", f"must hold scalar key values, got {_jtype(v[i])} at curve {i}")
        cols[c] = v
    if by:
        seen: dict = {}
        for b, key in enumerate(zip(*(cols[c] for c in by))):
            if key in seen:
                raise ck.field("keys", f"names the curve {key if len(by) > 1 else key[0]!r} twice (curves {seen[key]} "
                                       f"and {b}); every curve has its own key")
            seen[key] = b

    params = ck.per_curve(d, "params", (B, P), ("curve", "parameter"))
    cov = ck.per_curve(d, "cov", (B, P, P), ("curve", "parameter", "parameter"))
    cost = ck.per_curve(d, "cost", (B,), ("curve",))
    iters = ck.per_curve(d, "iters", (B,), ("curve",), integer=True)
    best = ck.per_curve(d, "best_start", (B,), ("curve",), integer=True)
    npts = ck.per_curve(d, "n_points", (B,), ("curve",), integer=True)
    ck.at_least("iters", iters, 0, "iteration counts >= 0")
    ck.at_least("n_points", npts, 0, "point counts >= 0")
    ck.at_least("best_start", best, -1, "start indices >= -1")
    neg = np.flatnonzero(cost < 0)
    if neg.size:
        raise ck.field("cost", f"must hold objective values >= 0 (or null), got {float(cost[neg[0]])!r} at curve "
                               f"{int(neg[0])}")
    ok = np.isin(status, [int(Status.CONVERGED), int(Status.MAX_ITER)])
    nonfinite = ok[:, None] & ~np.isfinite(params)
    if nonfinite.any():
        b, j = (int(v) for v in np.argwhere(nonfinite)[0])
        raise ck.field("params", f"must be finite for a curve with status {Status(int(status[b])).name}, got "
                                 f"null/NaN at curve {b}, parameter {law.params[j]!r}")
    x_range = None
    if d.get("x_range") is not None:
        xr = d["x_range"]
        dd = len(xr[0]) if isinstance(xr, list) and xr and isinstance(xr[0], list) else 0
        if dd < 1:
            raise ck.field("x_range", f"must be nested lists [curve][x column][min, max], got {_jtype(xr)}")
        x_range = ck.per_curve(d, "x_range", (B, dd, 2), ("curve", "x column", "bound"))

    def flags(name):
        """An optional [curve][parameter] matrix of 0 / 1 flags, as bool (None when absent)."""
        if d.get(name) is None:
            return None
        a = ck.per_curve(d, name, (B, P), ("curve", "parameter"), integer=True)
        bad = np.flatnonzero((a != 0) & (a != 1))
        if bad.size:
            raise ck.field(name, f"must hold 0 or 1, got {int(a.ravel()[bad[0]])}")
        return a.astype(bool)

    at_bound = flags("at_bound")
    fixed = flags("fixed")

    options = _options(d, law, by, ck)
    keys = pd.DataFrame(cols) if by else pd.DataFrame(index=pd.RangeIndex(B))
    native = {"params": params, "cost": cost, "cov": cov, "iters": iters, "status": status, "best_start": best,
              "n_points": npts, "x_range": x_range, "at_bound": at_bound, "fixed": fixed}
    return law, keys, by, native, options


__all__ = ["FORMAT", "SCHEMA_VERSION", "read_result"]
