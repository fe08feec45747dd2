"""Sweep-aware forecasts: partial curves forecast from reference curves of the same sweep, with split-conformal
intervals calibrated on the reference itself.

    ex = lawfit.extrapolate(running, x="epoch", y="acc", by="trial", horizon=50, reference=finished)
    ex.summary                    # q50 (the forecast), quantiles, the baselines (last value, best so far)
    ex.skill(truth)               # MAE of the forecast and of the baselines, interval coverage

Method (docs/forecasting.md has the argument and the measurements):
1. Neighbours (C++, core/sample/reference.hpp): for every target curve, the K reference curves nearest to it
   at its observed steps (recency-weighted squared differences on the raw metric: runs of one sweep share its
   scale, so levels carry information), each giving two forecasts at the horizon: its own outcome ("raw") and
   the target's last value plus its later change ("anchor").
2. Choice by predictive skill: the reference curves, cut at the targets' last step, are forecast from the
   other reference curves (leave-one-out); on one half of them the combination (recency, raw / anchor / their
   mean, k nearest) with the lowest mean absolute error is chosen.
3. Calibration: on the other half, the scores z = (truth - median) / (spread + floor) of the chosen forecasts
   give the predictive quantiles median + z_q (spread + floor) of every target (split-conformal with a
   normalised score: coverage holds for targets exchangeable with the reference, whatever the curves' shape).
Targets are calibrated per distinct (last step, horizon); more than 32 distinct pairs are grouped by last step.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ._data import key_index, make_batch, to_pandas
from ._native import _core
from ._status import Status

K_MAX = 40  # neighbours computed per curve
_KS = (5, 10, 20, 40)  # candidate neighbourhood sizes
_RECENCY = (1.0, 1.15, 1.35)  # candidate recency factors (weight of a point = recency^-(points after it))
_KINDS = ("raw", "anchor", "mean")
_MAX_BUCKETS = 32


def _series(df: pd.DataFrame, x: str, y: str, by, name: str):
    """(batch, offsets, t, v): the curves of df as CSR (step, value) sorted by step; non-finite rows dropped."""
    tcol = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=np.float64)
    ycol = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=np.float64)
    b = make_batch(df.assign(**{x: tcol, y: ycol}), [x], y, by, None, "status")
    t, v = b.X[:, 0], b.y
    seg = np.repeat(np.arange(b.n_curves), np.diff(b.offsets))
    keep = np.isfinite(t) & np.isfinite(v)
    seg, t, v = seg[keep], t[keep], v[keep]
    order = np.lexsort((t, seg))
    seg, t, v = seg[order], t[order], v[order]
    counts = np.bincount(seg, minlength=b.n_curves)
    offsets = np.zeros(b.n_curves + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return b, offsets, np.ascontiguousarray(t), np.ascontiguousarray(v)


def _truncate(offsets, t, v, cut: float):
    """The curves' points with step <= cut, as CSR."""
    keep = t <= cut
    seg = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    counts = np.bincount(seg[keep], minlength=len(offsets) - 1)
    off = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off, np.ascontiguousarray(t[keep]), np.ascontiguousarray(v[keep])


def _interp_at(offsets, t, v, x: float) -> np.ndarray:
    """Each curve's value at step x by linear interpolation (NaN outside its steps), vectorised."""
    C = len(offsets) - 1
    out = np.full(C, np.nan)
    n = np.diff(offsets)
    ok = n > 0
    if not ok.any():
        return out
    first, last = offsets[:-1], offsets[1:] - 1
    inside = ok & (t[np.where(ok, first, 0)] <= x) & (t[np.where(ok, last, 0)] >= x)
    seg = np.repeat(np.arange(C), n)
    # position of the last point with step <= x in each curve
    le = np.where(t <= x, np.arange(len(t)), -1)
    k = np.full(C, -1)
    np.maximum.at(k, seg, le)
    k1 = np.minimum(k + 1, last)
    idx = np.flatnonzero(inside)
    kk, k2 = k[idx], k1[idx]
    t0, t1 = t[kk], t[k2]
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(t1 > t0, (x - t0) / (t1 - t0), 0.0)
    out[idx] = v[kk] + u * (v[k2] - v[kk])
    return out


def _neighbours(tg, ref, horizon, recency, exclude=None, threads=0) -> dict:
    return _core.nearest_references(tg[0], tg[1], tg[2], ref[0], ref[1], ref[2],
                                    np.ascontiguousarray(horizon, dtype=np.float64),
                                    exclude, K_MAX, float(recency), int(threads))


def _combine(nb: dict, kind: str, k: int) -> tuple:
    """(median, spread) of the k nearest neighbours' forecasts of one kind; spread = q80 - q20."""
    f = nb["raw"] if kind == "raw" else nb["anchor"] if kind == "anchor" else 0.5 * (nb["raw"] + nb["anchor"])
    f = f[:, :k]
    with np.errstate(invalid="ignore"), _quiet():
        med = np.nanmedian(f, axis=1)
        spread = np.nanquantile(f, 0.8, axis=1) - np.nanquantile(f, 0.2, axis=1)
    return med, spread


class _quiet:
    """Silences numpy's all-NaN-slice RuntimeWarning (rows without neighbours are NaN by design)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *a):
        return self._w.__exit__(*a)


def _conformal_quantile(z: np.ndarray, q: float) -> float:
    """Split-conformal quantile of the scores z at level q (finite-sample rank: ceil((n+1) q) above the median,
    floor((n+1) q) below), so the interval between two such levels covers at least their difference."""
    z = np.sort(z[np.isfinite(z)])
    n = len(z)
    if n == 0:
        return np.nan
    if q >= 0.5:
        r = int(np.ceil((n + 1) * q))
        return z[min(r, n) - 1] if r <= n else np.inf
    r = int(np.floor((n + 1) * q))
    return z[r - 1] if r >= 1 else -np.inf


class ReferenceForecast:
    """Forecasts of partial curves from reference curves (see :func:`lawfit.extrapolate` with ``reference``).

    ``summary``: one row per curve with the forecast (``q50``), the quantiles, the method chosen for the curve's
    cut, and the baselines ``last`` (last observed value) and ``best_so_far`` (best observed value, by ``mode``).
    ``z``: the calibration scores of each cut (dict), for :meth:`prob_better`. Status per curve: CONVERGED, NOT_RUN
    (no neighbours or calibration scores), TOO_FEW_POINTS (no observed point), NON_FINITE (the point forecast
    overflows, e.g. values near 1e308)."""

    def __init__(self, keys, by, x, horizon, last_x, median, scale, qz, quantiles, status, method, last, best,
                 zcal):
        self.keys, self.by, self.x = keys, by, x
        self.horizon, self.last_x = horizon, last_x
        self.median, self.scale = median, scale
        self._qz = qz  # [C, Q] calibrated score quantiles per curve
        self.quantiles = tuple(quantiles)
        self._status = status
        self.method = method
        self.last, self.best = last, best
        self._zcal = zcal  # [C] index into self.calibration (sorted scores per bucket)
        self.calibration = []

    @property
    def index(self) -> pd.Index:
        return key_index(self.keys, self.by)

    @property
    def n_curves(self) -> int:
        return len(self.median)

    @property
    def ok(self) -> np.ndarray:
        return self._status == Status.CONVERGED

    @property
    def status(self) -> pd.Series:
        return pd.Series([Status(int(s)).name for s in self._status], index=self.index, name="status")

    def predict(self) -> pd.DataFrame:
        """The forecast at the horizon: the by columns, x, ``q50`` and one column per quantile."""
        out = self.keys.reset_index(drop=True).copy() if self.by else pd.DataFrame({"curve": np.arange(self.n_curves)})
        out[self.x] = self.horizon
        for j, q in enumerate(self.quantiles):
            with np.errstate(over="ignore", invalid="ignore"):  # (a NON_FINITE curve's forecast overflows)
                out[f"q{round(100 * q):02d}"] = self.median + self._qz[:, j] * self.scale
        if "q50" not in out.columns:
            out["q50"] = self.median
        return out

    @property
    def baselines(self) -> pd.DataFrame:
        """The trivial forecasts every report is judged against: last observed value, best value so far."""
        return pd.DataFrame({"last": self.last, "best_so_far": self.best}, index=self.index)

    @property
    def summary(self) -> pd.DataFrame:
        p = self.predict()
        p.index = self.index
        p = p.drop(columns=[c for c in self.by if c in p.columns] + (["curve"] if not self.by else []))
        p["method"] = self.method
        p["status"] = self.status.to_numpy()
        return pd.concat([p, self.baselines], axis=1)

    def prob_better(self, best) -> np.ndarray:
        """P(value at the horizon > ``best``) per curve (``best``: scalar or [C]) from the calibrated predictive
        (the empirical distribution of median + z scale over the curve's calibration scores)."""
        bst = np.broadcast_to(np.asarray(best, dtype=np.float64), (self.n_curves,))
        out = np.full(self.n_curves, np.nan)
        for g, z in enumerate(self.calibration):
            m = (self._zcal == g) & self.ok
            if not m.any() or len(z) == 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                zt = (bst[m] - self.median[m]) / self.scale[m]
            out[m] = 1.0 - np.searchsorted(z, zt, side="right") / len(z)
        return out

    def skill(self, truth) -> pd.DataFrame:
        """Mean absolute error of the forecast (q50) and of the baselines against the true values at the
        horizon (a Series indexed by curve key, or an array in curve order), the ratios to the last-value
        baseline, and the coverage of the central interval between the outermost quantiles."""
        tr = truth.reindex(self.index).to_numpy(dtype=np.float64) if isinstance(truth, pd.Series) else np.asarray(
            truth, dtype=np.float64).reshape(-1)
        return skill_table(tr, self.predict(), self.last, self.best, self.quantiles)

    def __repr__(self) -> str:
        return f"<ReferenceForecast curves={self.n_curves} ok={int(self.ok.sum())}>"


def skill_table(truth, pred: pd.DataFrame, last, best, quantiles) -> pd.DataFrame:
    """One row: MAE of q50, last value and best so far; their ratios to the last value; interval coverage."""
    ok = np.isfinite(truth) & np.isfinite(pred["q50"].to_numpy())
    t = truth[ok]
    e = {"forecast": np.abs(pred["q50"].to_numpy()[ok] - t).mean(), "last": np.abs(last[ok] - t).mean(),
         "best_so_far": np.abs(best[ok] - t).mean()}
    row = {"curves": int(ok.sum()), "mae_forecast": e["forecast"], "mae_last": e["last"],
           "mae_best_so_far": e["best_so_far"], "ratio_to_last": e["forecast"] / e["last"],
           "ratio_best_so_far_to_last": e["best_so_far"] / e["last"]}
    qs = sorted(quantiles)
    if len(qs) >= 2:
        lo = pred[f"q{round(100 * qs[0]):02d}"].to_numpy()[ok]
        hi = pred[f"q{round(100 * qs[-1]):02d}"].to_numpy()[ok]
        row[f"coverage_{round(100 * (qs[-1] - qs[0]))}"] = float(np.mean((t >= lo) & (t <= hi)))
        row["below"] = float(np.mean(t < lo))
        row["above"] = float(np.mean(t > hi))
    return pd.DataFrame([row])


def forecast_from_reference(data, reference, *, x: str, y: str, by, horizon, mode: Optional[str],
                            quantiles: Sequence[float], threads: int, per_curve) -> ReferenceForecast:
    """The sweep-aware path of :func:`lawfit.extrapolate` (``reference`` given)."""
    df, rf = to_pandas(data), to_pandas(reference, name="reference")
    for c in [x, y] + list(by or []):
        if c not in rf.columns:
            raise ValueError(f"reference: column {c!r} not found; it needs the same columns as data "
                             f"({', '.join(map(str, rf.columns))})")
    b, off, t, v = _series(df, x, y, by, "data")
    rb, roff, rt, rv = _series(rf, x, y, by, "reference")
    C = b.n_curves
    if rb.n_curves < 4:
        raise ValueError(f"reference: needs at least 4 curves observed to the horizon, got {rb.n_curves}")
    hz = per_curve(horizon, C, "horizon", key_index(b.keys, b.by))
    n = np.diff(off)
    nz = n > 0
    last_x = np.where(nz, t[np.maximum(off[1:] - 1, 0)], np.nan)
    last = np.where(nz, v[np.maximum(off[1:] - 1, 0)], np.nan)
    sign = -1.0 if mode == "min" else 1.0
    best = np.full(C, np.nan)
    if nz.any():
        best[nz] = sign * np.maximum.reduceat(sign * v, off[:-1][nz])
    # Calibration buckets: distinct (last step, horizon); too many: grouped by last step (lower edge of a bin).
    cut = np.where(nz, last_x, np.nan)
    if len(np.unique(np.column_stack([cut, hz])[nz], axis=0)) > _MAX_BUCKETS:
        edges = np.unique(np.nanquantile(cut[nz], np.linspace(0, 1, _MAX_BUCKETS + 1)))
        cut = np.where(nz, edges[np.clip(np.searchsorted(edges, cut, side="right") - 1, 0, len(edges) - 1)], np.nan)
    pairs = np.unique(np.column_stack([cut, hz])[nz], axis=0) if nz.any() else np.zeros((0, 2))
    Q = len(quantiles)
    median = np.full(C, np.nan)
    scale = np.full(C, np.nan)
    qz = np.full((C, Q), np.nan)
    method = np.full(C, "", dtype=object)
    zcal = np.full(C, -1)
    status = np.where(nz, int(Status.NOT_RUN), int(Status.TOO_FEW_POINTS))
    cal_sets = []
    tg = (off, t, v)
    for g, (c, h) in enumerate(pairs):
        members = nz & (cut == c) & (hz == h)
        # The reference cut at c, each forecast from the others; truth = its value at the horizon.
        rtr = _truncate(roff, rt, rv, c)
        truth_r = _interp_at(roff, rt, rv, h)
        hr = np.full(rb.n_curves, h)
        excl = np.arange(rb.n_curves, dtype=np.int64)
        nbs = {rec: _neighbours(rtr, (roff, rt, rv), hr, rec, excl, threads) for rec in _RECENCY}
        sel = np.arange(rb.n_curves) % 2 == 0  # choose on the even half, calibrate on the odd half
        best_err, choice = np.inf, None
        for rec, nb in nbs.items():
            for kind in _KINDS:
                for k in _KS:
                    med_r, _ = _combine(nb, kind, k)
                    e = np.abs(med_r - truth_r)[sel]
                    e = e[np.isfinite(e)]
                    if len(e) and e.mean() < best_err:
                        best_err, choice = e.mean(), (rec, kind, k)
        if choice is None:
            continue
        rec, kind, k = choice
        med_r, spr_r = _combine(nbs[rec], kind, k)
        spread_all = np.nanquantile(truth_r, 0.75) - np.nanquantile(truth_r, 0.25) if np.isfinite(truth_r).any() else 0
        floor = max(0.01 * float(spread_all), 1e-12)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (truth_r - med_r) / (spr_r + floor)
        z = np.sort(z[~sel & np.isfinite(z)])
        cal_sets.append(z)
        idx = np.flatnonzero(members)
        sub = _take(tg, idx)
        nb_t = _neighbours(sub, (roff, rt, rv), hz[idx], rec, None, threads)
        med_t, spr_t = _combine(nb_t, kind, k)
        median[idx] = med_t
        scale[idx] = spr_t + floor
        qz[idx] = [_conformal_quantile(z, q) for q in quantiles]
        method[idx] = f"{kind} k={k} recency={rec:g}"
        zcal[idx] = g
        # The point forecast as reported (q50 when 0.5 is a level, else the median): values near the largest double
        # overflow there (e.g. a last value of 1e300 and a spread of the same size): NON_FINITE, not CONVERGED.
        with np.errstate(invalid="ignore", over="ignore"):
            point = med_t + (qz[idx][:, list(quantiles).index(0.5)] * scale[idx] if 0.5 in quantiles else 0.0)
        status[idx] = np.where(~np.isfinite(med_t) | (len(z) == 0), int(Status.NOT_RUN),
                               np.where(np.isfinite(point), int(Status.CONVERGED), int(Status.NON_FINITE)))
    out = ReferenceForecast(b.keys, b.by, x, hz, last_x, median, scale, qz, quantiles, status, method, last, best,
                            zcal)
    out.calibration = cal_sets
    return out


def _take(tg, idx):
    """The CSR curves idx of tg = (offsets, t, v)."""
    off, t, v = tg
    n = np.diff(off)[idx]
    o = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(n, out=o[1:])
    rows = np.repeat(off[:-1][idx], n) + (np.arange(o[-1]) - np.repeat(o[:-1], n))
    return o, np.ascontiguousarray(t[rows]), np.ascontiguousarray(v[rows])


__all__ = ["ReferenceForecast", "forecast_from_reference", "skill_table"]
