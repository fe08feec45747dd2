"""Learning-rate schedules, for schedule-aware forecasts of loss curves (``lawfit.extrapolate(..., schedule=)``).

    sched = lawfit.schedules.cosine(total=10_000, warmup=500, final=0.1)      # peak 1.0 by default
    sched.lr([1, 500, 5_000, 10_000])                                          # the LR at those steps
    ex = lawfit.extrapolate(df, x="step", y="loss", by="run", horizon=10_000, schedule=sched)

Every field may also be a column name of the data (one value per curve, e.g. ``total="total_steps"``), an array
in curve order or a Series indexed by the curves' keys, so the runs of one sweep can differ in length.

Shapes (steps s = 1, 2, ...; linear warm-up from 0 to ``peak`` over the first ``warmup`` steps, then up to
``total``): ``constant`` (peak), ``cosine`` (final + (peak - final)(1 + cos(pi u))/2, u the fraction of the
post-warm-up span), ``linear`` (peak - (peak - final) u), ``wsd`` (warm-up, stable at peak, then a decay over the
last ``decay`` steps, or fraction of ``total`` when decay < 1, in the shape linear, cosine or sqrt: 1 - sqrt(u),
Hagele et al. 2024); after ``total``, ``final``. The formulas are computed in C++ (core/laws/lr_annealing.hpp),
which also sums the schedule integrals S1, S2 of the lr_annealing law exactly over every step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ._args import resolve_threads
from ._native import _core

KINDS = {"constant": 0, "cosine": 1, "linear": 2, "wsd": 3}
SHAPES = {"linear": 0, "cosine": 1, "sqrt": 2}
MAX_STEP = 1e9  # steps beyond this are refused (the integrals are summed step by step)


@dataclass(frozen=True)
class Schedule:
    """A named learning-rate schedule. Build it with :func:`cosine`, :func:`linear`, :func:`wsd` or
    :func:`constant`. Fields: a number, a column name of the data (constant within each curve), an array in
    curve order or a Series indexed by curve keys."""

    kind: str
    total: Any = None
    warmup: Any = 0.0
    peak: Any = 1.0
    final: Any = 0.0
    decay: Any = 0.0
    shape: str = "linear"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"schedule kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"schedule shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.kind != "constant" and self.total is None:
            raise ValueError(f"a {self.kind} schedule needs total= (the step at which the decay ends)")
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in self.fields().values()):
            self.resolve(1)  # numbers are checked now (columns and per-curve values when the data is known)

    def fields(self) -> dict:
        return {"warmup": self.warmup, "total": self.total if self.total is not None else np.inf,
                "peak": self.peak, "final": self.final, "decay": self.decay}

    def resolve(self, C: int, column=None, per_curve=None, index=None) -> dict:
        """Per-curve float arrays [C] of every field (and kind, shape codes), checked. ``column(name)`` gives a
        column's per-curve value (or None when the name is no column); ``per_curve(v, C, name, index)`` reads
        arrays and Series."""
        out = {}
        for name, v in self.fields().items():
            if isinstance(v, str):
                a = column(v) if column is not None else None
                if a is None:
                    raise ValueError(f"schedule: {name}={v!r} is not a column of the data")
            elif per_curve is not None:
                a = per_curve(v, C, f"schedule {name}", index)
            else:
                a = np.broadcast_to(np.asarray(v, dtype=np.float64), (C,)).copy()
            out[name] = np.asarray(a, dtype=np.float64)
        if np.any(~np.isfinite(out["warmup"]) | (out["warmup"] < 0)):
            raise ValueError("schedule: warmup must be a finite number of steps >= 0")
        if np.any(~(out["peak"] > 0) | ~np.isfinite(out["peak"])):
            raise ValueError("schedule: peak must be a finite LR > 0")
        if np.any(~np.isfinite(out["final"]) | (out["final"] < 0) | (out["final"] > out["peak"])):
            raise ValueError("schedule: final must be a finite LR in [0, peak]")
        if self.kind != "constant":
            if np.any(~np.isfinite(out["total"]) | ~(out["total"] > out["warmup"])):
                raise ValueError("schedule: total must be a finite step count larger than warmup")
        if self.kind == "wsd":
            d = out["decay"]
            d = np.where(d < 1, d * out["total"], d)
            if np.any(~np.isfinite(d) | ~(d > 0) | (d > out["total"] - out["warmup"])):
                raise ValueError("schedule: a wsd schedule needs 0 < decay <= total - warmup (steps, or a fraction "
                                 "of total when < 1)")
            out["decay"] = d
        out["kind"] = np.full(C, KINDS[self.kind], dtype=np.int32)
        out["shape"] = np.full(C, SHAPES[self.shape], dtype=np.int32)
        return out

    def lr(self, steps) -> np.ndarray:
        """The learning rate at ``steps`` (numbers; every field must be a number)."""
        s = np.asarray(steps, dtype=np.float64)
        if any(isinstance(v, str) or np.ndim(v) > 0 for v in self.fields().values()):
            raise ValueError("Schedule.lr needs numeric fields (this schedule reads columns or per-curve values)")
        f = self.resolve(1)
        w, T, pk, fl, dc = (float(f[k][0]) for k in ("warmup", "total", "peak", "final", "decay"))
        with np.errstate(invalid="ignore", divide="ignore"):
            warm = np.where(s <= w, pk * s / max(w, 1e-300), np.nan) if w > 0 else np.full(s.shape, np.nan)
            if self.kind == "constant":
                rest = np.full(s.shape, pk)
            else:
                if self.kind == "wsd":
                    u = np.clip((s - (T - dc)) / dc, 0, 1)
                    shape = self.shape
                else:
                    u = np.clip((s - w) / (T - w), 0, 1)
                    shape = "cosine" if self.kind == "cosine" else "linear"
                g = {"cosine": 0.5 * (1 + np.cos(np.pi * u)), "sqrt": 1 - np.sqrt(u), "linear": 1 - u}[shape]
                rest = np.where(s >= T, fl, fl + (pk - fl) * g)
        return np.where(np.isfinite(warm), warm, rest)

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.fields().items() if not (k == "decay" and self.kind != "wsd")]
        if self.kind == "wsd":
            parts.append(f"shape={self.shape!r}")
        return f"Schedule.{self.kind}({', '.join(parts)})"


def cosine(total, *, warmup=0.0, peak=1.0, final=0.0) -> Schedule:
    """Cosine decay from ``peak`` to ``final`` at step ``total``, after a linear warm-up of ``warmup`` steps."""
    return Schedule("cosine", total=total, warmup=warmup, peak=peak, final=final)


def linear(total, *, warmup=0.0, peak=1.0, final=0.0) -> Schedule:
    """Linear decay from ``peak`` to ``final`` at step ``total``, after a linear warm-up."""
    return Schedule("linear", total=total, warmup=warmup, peak=peak, final=final)


def wsd(total, *, decay=0.2, warmup=0.0, peak=1.0, final=0.0, shape: str = "linear") -> Schedule:
    """Warm-up, stable, decay: constant ``peak`` until the last ``decay`` steps (a fraction of ``total`` when
    < 1), then down to ``final`` at ``total`` in the shape "linear", "cosine" or "sqrt" (1 - sqrt)."""
    return Schedule("wsd", total=total, warmup=warmup, peak=peak, final=final, decay=decay, shape=shape)


def constant(*, warmup=0.0, peak=1.0) -> Schedule:
    """Constant ``peak`` after a linear warm-up."""
    return Schedule("constant", total=None, warmup=warmup, peak=peak, final=peak)


def features(offsets, steps, fields: dict, lam: float = 0.999, threads: Optional[int] = None) -> tuple:
    """(S1, S2 [n, 2], error [C]) of lr_annealing at CSR ``steps`` (strictly increasing non-negative integers per
    curve) under per-curve schedule ``fields`` (from :meth:`Schedule.resolve`); error: 0 ok, 1 steps not
    increasing, 2 a step that is not a non-negative integer (or beyond 1e9); the rows of a curve with an error are
    NaN."""
    C = len(offsets) - 1
    f = {k: np.ascontiguousarray(np.broadcast_to(np.asarray(v), (C,))) for k, v in fields.items()}
    out, err = _core.schedule_features(np.ascontiguousarray(offsets, dtype=np.int64),
                                       np.ascontiguousarray(steps, dtype=np.float64), f["kind"].astype(np.int32),
                                       f["warmup"].astype(np.float64), f["total"].astype(np.float64),
                                       f["peak"].astype(np.float64), f["final"].astype(np.float64),
                                       f["decay"].astype(np.float64), f["shape"].astype(np.int32), float(lam),
                                       MAX_STEP, resolve_threads(threads, op="schedule"))
    out, err = np.asarray(out), np.asarray(err)
    if err.any():  # (the native call leaves a failed curve's rows unwritten: whatever the memory held)
        out[np.repeat(err != 0, np.diff(np.asarray(offsets, dtype=np.int64)))] = np.nan
    return out, err


__all__ = ["Schedule", "cosine", "linear", "wsd", "constant", "features"]
