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

import warnings
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ._data import key_index, make_batch, to_pandas
from ._native import _core
from ._status import Status

K_MAX = 40  # neighbours computed per curve
_KS = (3, 5, 7, 10, 15, 20, 30, 40)  # candidate neighbourhood sizes
_RECENCY = (1.0, 1.15, 1.35)  # candidate recency factors (weight of a point = recency^-(points after it))
_KINDS = ("raw", "anchor", "mean")
_MAX_BUCKETS = 32


def _series(df: pd.DataFrame, x: str, y: str, by):
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


def _ends(off, t, v, mode: Optional[str]) -> tuple:
    """Per CSR curve (NaN when empty): last observed step, last value, best value so far (by mode)."""
    nz = np.diff(off) > 0
    last_x = np.where(nz, t[np.maximum(off[1:] - 1, 0)], np.nan)
    last = np.where(nz, v[np.maximum(off[1:] - 1, 0)], np.nan)
    sign = -1.0 if mode == "min" else 1.0
    best = np.full(len(nz), np.nan)
    if nz.any():
        best[nz] = sign * np.maximum.reduceat(sign * v, off[:-1][nz])
    return last_x, last, best


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


def _neighbours(tg, ref, horizon, recency, exclude=None, threads=0, match=None, leave=None) -> dict:
    """The K_MAX nearest references of every target; match / leave: (target codes, reference codes) or None."""
    m = match if match is not None else (None, None)
    lv = leave if leave is not None else (None, None)
    return _core.nearest_references(tg[0], tg[1], tg[2], ref[0], ref[1], ref[2],
                                    np.ascontiguousarray(horizon, dtype=np.float64),
                                    exclude, K_MAX, float(recency), int(threads), m[0], m[1], lv[0], lv[1])


def _group_codes(tkeys: pd.DataFrame, rkeys: pd.DataFrame, cols, name: str, by) -> Optional[tuple]:
    """Integer codes (targets [C], reference [R]) of the curves' values of the by columns ``cols`` (None: no
    grouping), equal codes for equal values across the two."""
    cols = [] if cols is None else ([cols] if isinstance(cols, str) else list(cols))
    if not cols:
        return None
    for c in cols:
        if c not in (by or []):
            raise ValueError(f"{name}: {c!r} is not one of the by columns ({', '.join(map(str, by or [])) or 'none'}); "
                             f"it must be a property of whole curves")
    both = pd.concat([tkeys[cols], rkeys[cols]], ignore_index=True)
    codes = pd.MultiIndex.from_frame(both.astype(object)).factorize()[0].astype(np.int64)
    return np.ascontiguousarray(codes[:len(tkeys)]), np.ascontiguousarray(codes[len(tkeys):])


def _combine(nb: dict, kind: str, k: int) -> tuple:
    """(median, spread) of the k nearest neighbours' forecasts of one kind; spread = q80 - q20."""
    f = nb["raw"] if kind == "raw" else nb["anchor"] if kind == "anchor" else 0.5 * (nb["raw"] + nb["anchor"])
    f = f[:, :k]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no neighbours) are NaN by design
        med = np.nanmedian(f, axis=1)
        spread = np.nanquantile(f, 0.8, axis=1) - np.nanquantile(f, 0.2, axis=1)
    return med, spread


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
        self.mode = "max"  # larger is better (set by forecast_from_reference)

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

    def quantiles_at(self, levels: Sequence[float]) -> np.ndarray:
        """[C, L] the calibrated predictive's quantiles at any levels (median + z_q scale, z_q the split-conformal
        quantile of the curve's calibration scores), not only the forecast's own ``quantiles``."""
        out = np.full((self.n_curves, len(levels)), np.nan)
        for g, z in enumerate(self.calibration):  # one pass per calibration bucket (distinct cut), not per curve
            m = self._zcal == g
            if m.any() and len(z):
                zq = np.array([_conformal_quantile(z, q) for q in levels])
                out[m] = self.median[m, None] + zq[None, :] * self.scale[m, None]
        return out

    def prob_better(self, best, mode: Optional[str] = None) -> np.ndarray:
        """P(the value at the horizon is better than ``best``) per curve (``best``: scalar or [C]) from the calibrated
        predictive (the empirical distribution of median + z scale over the curve's calibration scores). Better is
        strictly larger for mode "max", strictly smaller for "min" (default: the forecast's mode)."""
        mode = self.mode if mode is None else mode
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        bst = np.broadcast_to(np.asarray(best, dtype=np.float64), (self.n_curves,))
        out = np.full(self.n_curves, np.nan)
        for g, z in enumerate(self.calibration):  # one pass per calibration bucket (distinct cut), not per curve
            m = (self._zcal == g) & self.ok
            if not m.any() or len(z) == 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                zt = (bst[m] - self.median[m]) / self.scale[m]
            if mode == "max":
                out[m] = 1.0 - np.searchsorted(z, zt, side="right") / len(z)
            else:
                out[m] = np.searchsorted(z, zt, side="left") / len(z)
            out[m & ~np.isfinite(bst)] = np.nan
        return out

    def log_likelihood(self, truth) -> np.ndarray:
        """Log predictive density of the true values at the horizon, per curve (a Series indexed by curve key, or
        an array in curve order). The predictive is the calibrated one: median + z scale with z distributed like
        the curve's calibration scores, smoothed by a Gaussian kernel (Silverman's bandwidth h), with the mass
        1/(n+1) that split-conformal leaves beyond the n scores on a Cauchy component (scale: the scores' IQR):
        log p(y) = log[(1 - e) mean_i N(z_y - z_i; 0, h^2) + e Cauchy(z_y)] - log scale, z_y = (y - median) / scale.
        NaN for failed curves and for curves forecast as observed (zero scale)."""
        tr = truth.reindex(self.index).to_numpy(dtype=np.float64) if isinstance(truth, pd.Series) else np.asarray(
            truth, dtype=np.float64).reshape(-1)
        out = np.full(self.n_curves, np.nan)
        for g, z in enumerate(self.calibration):  # one pass per calibration bucket, vectorised over its curves
            m = (self._zcal == g) & self.ok & (self.scale > 0) & np.isfinite(tr)
            z = z[np.isfinite(z)]
            if not m.any() or len(z) < 2:
                continue
            sd = float(np.std(z, ddof=1))
            iqr = float(np.subtract(*np.percentile(z, [75, 25])))
            h = 0.9 * min(sd, iqr / 1.34 if iqr > 0 else sd) * len(z) ** -0.2
            if not h > 0:
                continue
            zt = (tr[m] - self.median[m]) / self.scale[m]
            e = -0.5 * ((zt[:, None] - z[None, :]) / h) ** 2
            top = e.max(axis=1)  # log-sum-exp: finite far in the tails too
            log_kde = top + np.log(np.exp(e - top[:, None]).mean(axis=1)) - np.log(h * np.sqrt(2 * np.pi))
            # Split-conformal leaves mass 1/(n+1) beyond the observed scores: a Cauchy component of that weight
            # (scale: the scores' interquartile range) carries it, so a truth far outside costs a finite amount.
            eps = 1.0 / (len(z) + 1)
            sc = max(iqr, h)
            log_tail = -np.log(np.pi * sc * (1.0 + (zt / sc) ** 2))
            logdens = np.logaddexp(np.log1p(-eps) + log_kde, np.log(eps) + log_tail)
            out[m] = logdens - np.log(self.scale[m])
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
                            quantiles: Sequence[float], threads: int, per_curve, match_within=None,
                            loo_group=None) -> ReferenceForecast:
    """The sweep-aware path of :func:`lawfit.extrapolate` (``reference`` given). ``match_within``: by column(s) a
    neighbour must share with its target (e.g. the metric); ``loo_group``: by column(s) whose groups are left out
    together in the reference's leave-one-out (e.g. the run, whose other metrics are near-copies)."""
    df, rf = to_pandas(data), to_pandas(reference, name="reference")
    for c in [x, y] + list(by or []):
        if c not in rf.columns:
            raise ValueError(f"reference: column {c!r} not found; it needs the same columns as data "
                             f"({', '.join(map(str, rf.columns))})")
    b, off, t, v = _series(df, x, y, by)
    rb, roff, rt, rv = _series(rf, x, y, by)
    C = b.n_curves
    if rb.n_curves < 4:
        raise ValueError(f"reference: needs at least 4 curves observed to the horizon, got {rb.n_curves}")
    hz = per_curve(horizon, C, "horizon", key_index(b.keys, b.by))
    match = _group_codes(b.keys, rb.keys, match_within, "match_within", by)
    leave_r = _group_codes(rb.keys, rb.keys, loo_group, "loo_group", by)
    match_r = None if match is None else (match[1], match[1])
    n = np.diff(off)
    nz = n > 0
    last_x, last, best = _ends(off, t, v, mode)
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
        nbs = {rec: _neighbours(rtr, (roff, rt, rv), hr, rec, excl, threads, match_r, leave_r) for rec in _RECENCY}
        # Choose on one half, calibrate on the other; with loo_group the halves are whole groups (a group's curves
        # are alike, so a group split across the halves would let the choice see the calibration's curves).
        sel = (leave_r[1] if leave_r is not None else np.arange(rb.n_curves)) % 2 == 0
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
        zall = np.sort(z[np.isfinite(z)])
        z = np.sort(z[~sel & np.isfinite(z)])
        if not all(np.isfinite(_conformal_quantile(z, q)) for q in quantiles):
            # Too few held-out scores for the outer quantiles (q = 0.95 needs 19): calibrate on every reference
            # curve's leave-one-out score, the even half included (slightly optimistic: that half chose the method).
            z = zall
            if not all(np.isfinite(_conformal_quantile(z, q)) for q in quantiles):
                need = int(np.ceil(1.0 / min(min(quantiles), 1 - max(quantiles)))) - 1
                raise ValueError(f"reference: {len(z)} usable reference curve(s) cannot calibrate the quantiles "
                                 f"{[float(q) for q in quantiles]}; they need at least {need} (or ask for less "
                                 "extreme quantiles)")
        cal_sets.append(z)
        idx = np.flatnonzero(members)
        sub = _take(tg, idx)
        nb_t = _neighbours(sub, (roff, rt, rv), hz[idx], rec, None, threads,
                           None if match is None else (np.ascontiguousarray(match[0][idx]), match[1]))
        med_t, spr_t = _combine(nb_t, kind, k)
        median[idx] = med_t
        scale[idx] = spr_t + floor
        qz[idx] = [_conformal_quantile(z, q) for q in quantiles]
        method[idx] = f"{kind} k={k} recency={rec:g}"
        zcal[idx] = g
        # The reported quantiles (and the median): values near the largest double overflow there (e.g. a last
        # value of 1e300 and a spread of the same size): NON_FINITE, not CONVERGED.
        with np.errstate(invalid="ignore", over="ignore"):
            reported = np.column_stack([med_t[:, None], med_t[:, None] + qz[idx] * scale[idx][:, None]])
        status[idx] = np.where(~np.isfinite(med_t) | (len(z) == 0), int(Status.NOT_RUN),
                               np.where(np.isfinite(reported).all(axis=1), int(Status.CONVERGED),
                                        int(Status.NON_FINITE)))
    out = ReferenceForecast(b.keys, b.by, x, hz, last_x, median, scale, qz, quantiles, status, method, last, best,
                            zcal)
    out.calibration = cal_sets
    out.mode = "min" if mode == "min" else "max"
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


# ---- no reference: the call's own curves, cut earlier, calibrate the single-curve ensemble ------------------
_SHRINK = np.linspace(0.0, 1.0, 21)


def _flat(off, t, v, frac: float = 0.5) -> np.ndarray:
    """Curves whose values did not move over the last ``frac`` of their observed steps (quantised metrics that
    plateaued): max == min there."""
    C = len(off) - 1
    seg = np.repeat(np.arange(C), np.diff(off))
    n = np.diff(off)
    last = np.where(n > 0, t[np.maximum(off[1:] - 1, 0)], np.nan)
    first = np.where(n > 0, t[np.minimum(off[:-1], max(len(t) - 1, 0))], np.nan)
    tail = t >= (last - frac * (last - first))[seg]
    hi = np.full(C, -np.inf)
    lo = np.full(C, np.inf)
    np.maximum.at(hi, seg[tail], v[tail])
    np.minimum.at(lo, seg[tail], v[tail])
    return (n >= 3) & (hi == lo)


def _ensemble_at(extrapolate, off, t, v, keys, by, x, y, horizon, mode, kw) -> tuple:
    """(q05, q50, q95, status) of the single-curve ensemble for CSR curves (keys: the batch's key frame)."""
    C = len(off) - 1
    n = np.diff(off)
    cols = {c: np.repeat(keys[c].to_numpy(), n) for c in by} if by else {}
    df = pd.DataFrame({**cols, x: t, y: v})
    hz = pd.Series(horizon, index=key_index(keys, by)) if by else float(horizon[0])
    ex = extrapolate(df, x=x, y=y, by=by or None, horizon=hz, mode=mode, quantiles=(0.05, 0.5, 0.95), **kw)
    # Curves without points are absent from ex: align by key.
    idx = key_index(keys, by)
    s = ex.summary.reindex(idx)
    st = ex.status.reindex(idx)
    ok = (st == "CONVERGED").to_numpy() | (st == "MAX_ITER").to_numpy()
    return (s["q05"].to_numpy(dtype=np.float64), s["q50"].to_numpy(dtype=np.float64),
            s["q95"].to_numpy(dtype=np.float64), ok & (n > 0) if C else ok)


def forecast_backtest(b, off, t, v, hz, *, x: str, y: str, mode: Optional[str], quantiles: Sequence[float],
                      ensemble_kw: dict) -> ReferenceForecast:
    """``extrapolate(..., reference="self")`` when too few curves reached the horizon: the curves of the call (the
    batch b and its CSR series off, t, v from :func:`_series`; horizons hz per curve) are their own reference.

    1. The single-curve ensemble forecasts every curve to the horizon (median m, central 90% half-width s).
    2. Backtest: every curve cut earlier (at last^2 / horizon, which keeps the real forecast's horizon ratio, and at
       least at its 4th step) is forecast, by the same ensemble, to its last observed step, where the truth is
       known.
    3. From the backtest, one shrinkage w toward the last observed value (median = last + w (m - last), w on a
       grid in [0, 1]: the smallest whose absolute error pooled over curves is within 1% of the least; a curve
       whose values have not moved over the second half of its prefix keeps its last value) and split-conformal
       scores z = (truth - median) / s, separately for flat and moving curves.
    4. The forecast: median = last + w (m - last) (last for flat curves), quantile q = median + z_q s.
    Where the prefix is too short to keep the real horizon ratio, the backtest looks less far ahead; the ensemble's
    own spread grows with the horizon and carries the rest (docs/forecasting.md measures the coverage)."""
    from .extrapolation import extrapolate

    by = b.by
    C = b.n_curves
    n = np.diff(off)
    nz = n > 0
    last_x, last, best = _ends(off, t, v, mode)
    # 1. The forecast to the horizon.
    q05, m, q95, ok = _ensemble_at(extrapolate, off, t, v, b.keys, by, x, y, hz, mode, ensemble_kw)
    # 2. The backtest: half of each prefix, forecast to its last step.
    # The backtest's cut keeps the real forecast's horizon ratio where the prefix allows (last^2 / horizon, e.g.
    # 8 -> 20 for 20 -> 50), and at least 4 points (the 4th step).
    fourth = np.where(n >= 4, t[np.minimum(off[:-1] + 3, max(len(t) - 1, 0))], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        cut = np.fmax(last_x * last_x / hz, fourth)
    seg = np.repeat(np.arange(C), n)
    boff, bt, bv = _truncate_each(off, t, v, cut[seg] if len(seg) else cut)
    bn = np.diff(boff)
    blast = np.where(bn > 0, bv[np.maximum(boff[1:] - 1, 0)], np.nan)
    b05, bm, b95, bok = _ensemble_at(extrapolate, boff, bt, bv, b.keys, by, x, y, last_x, mode, ensemble_kw)
    bok &= (bn >= 3) & (last_x > cut)
    # 3. Shrinkage and scores.
    bflat = _flat(boff, bt, bv)
    flat = _flat(off, t, v)
    use = bok & np.isfinite(bm) & np.isfinite(blast) & ~bflat
    errs = [np.abs(blast[use] + w * (bm[use] - blast[use]) - last[use]).sum() for w in _SHRINK]
    # The backtest's error is flat near its minimum, and the backtest horizon is not the real one: take the
    # smallest shrinkage within 1% of the best (the conservative end, nearer the last value).
    errs = np.asarray(errs)
    w = float(_SHRINK[int(np.flatnonzero(errs <= 1.01 * errs.min())[0])]) if use.any() else 0.0
    spread_all = np.nanmedian(np.concatenate([(q95 - q05)[ok], (b95 - b05)[bok]])) if (ok.any() or bok.any()) else 1.0
    floor = max(0.01 * float(spread_all if np.isfinite(spread_all) else 1.0), 1e-12)
    bmed = np.where(bflat, blast, blast + w * (bm - blast))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (last - bmed) / (0.5 * (b95 - b05) + floor)
    cal_sets = [np.sort(z[bok & ~bflat & np.isfinite(z)]), np.sort(z[bok & bflat & np.isfinite(z)])]
    if len(cal_sets[1]) < 20:  # too few flat curves to calibrate them apart
        cal_sets[1] = np.sort(z[bok & np.isfinite(z)])
    # 4. The forecast.
    median = np.where(flat, last, last + w * (m - last))
    scale = 0.5 * (q95 - q05) + floor
    zcal = np.where(flat, 1, 0)
    Q = len(quantiles)
    qz = np.full((C, Q), np.nan)
    for g in (0, 1):  # two calibration sets (moving, flat), not a loop over curves
        sel = zcal == g
        # The median stays the shrunk forecast: the backtest's median score (a bias at the backtest's horizon)
        # does not carry over to the real horizon; the other quantiles are the scores' (split-conformal).
        zq = [_conformal_quantile(cal_sets[g], q) for q in quantiles]
        qz[sel] = [0.0 if q == 0.5 else (min(v, 0.0) if q < 0.5 else max(v, 0.0)) for q, v in zip(quantiles, zq)]
    good = ok & nz & np.isfinite(median) & np.isfinite(scale)
    status = np.where(good, int(Status.CONVERGED), np.where(nz, int(Status.NOT_RUN), int(Status.TOO_FEW_POINTS)))
    method = np.where(flat, "backtest: flat, last value", f"backtest: ensemble shrunk w={w:g}").astype(object)
    out = ReferenceForecast(b.keys, by, x, hz, last_x, np.where(good, median, np.nan), scale, qz, quantiles, status,
                            method, last, best, zcal)
    out.calibration = cal_sets
    out.mode = "min" if mode == "min" else "max"
    out.shrink = w
    return out


def _truncate_each(offsets, t, v, cut_rows: np.ndarray):
    """The curves' points with step <= their own cut (cut_rows: the cut of each row's curve), as CSR."""
    keep = t <= cut_rows
    seg = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    counts = np.bincount(seg[keep], minlength=len(offsets) - 1)
    off = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off, np.ascontiguousarray(t[keep]), np.ascontiguousarray(v[keep])


_MIN_SELF_REFERENCE = 20  # curves of the call observed to the horizon needed to serve as the others' reference


def _csr_frame(keys: pd.DataFrame, by, off, t, v, x: str, y: str, sel: np.ndarray) -> pd.DataFrame:
    """The long table of the selected CSR curves (their keys repeated per point)."""
    n = np.diff(off)
    mask = np.zeros(len(n), dtype=bool)
    mask[sel] = True
    rows = np.repeat(mask, n)
    cols = {c: np.repeat(keys[c].to_numpy(), n)[rows] for c in by}
    return pd.DataFrame({**cols, x: t[rows], y: v[rows]})


def forecast_self(data, *, x: str, y: str, by, horizon, mode: Optional[str], quantiles: Sequence[float],
                  threads: int, per_curve, ensemble_kw: dict) -> ReferenceForecast:
    """``extrapolate(..., reference="self")``. Curves of the call observed to the horizon (at least 20) are the
    reference of the others (the sweep-aware forecast); their own forecast is their observed value there.
    Otherwise (all curves cut) the ensemble is calibrated by a backtest on the batch (:func:`forecast_backtest`)."""
    df = to_pandas(data)
    b, off, t, v = _series(df, x, y, by)
    by = b.by
    C = b.n_curves
    hz = per_curve(horizon, C, "horizon", key_index(b.keys, by))
    n = np.diff(off)
    nz = n > 0
    last_x, last, best = _ends(off, t, v, mode)
    done = nz & (last_x >= hz)
    todo = np.flatnonzero(nz & ~done)
    if not by or done.sum() < _MIN_SELF_REFERENCE or todo.size == 0:
        return forecast_backtest(b, off, t, v, hz, x=x, y=y, mode=mode, quantiles=quantiles,
                                 ensemble_kw=ensemble_kw)
    ref = _csr_frame(b.keys, by, off, t, v, x, y, np.flatnonzero(done))
    tgt = _csr_frame(b.keys, by, off, t, v, x, y, todo)
    fr = forecast_from_reference(tgt, ref, x=x, y=y, by=by, horizon=pd.Series(hz[todo], index=key_index(
        b.keys.iloc[todo], by)), mode=mode, quantiles=quantiles, threads=threads, per_curve=per_curve)
    Q = len(quantiles)
    median, scale = np.full(C, np.nan), np.full(C, np.nan)
    qz = np.full((C, Q), np.nan)
    status = np.where(nz, int(Status.NOT_RUN), int(Status.TOO_FEW_POINTS))
    method = np.full(C, "", dtype=object)
    zcal = np.full(C, -1)
    median[todo], scale[todo], qz[todo] = fr.median, fr.scale, fr._qz
    status[todo], method[todo], zcal[todo] = fr._status, fr.method, fr._zcal
    # The finished curves: their observed value at the horizon (one pass per distinct horizon).
    di = np.flatnonzero(done)
    sub_off = np.zeros(di.size + 1, dtype=np.int64)
    np.cumsum(n[di], out=sub_off[1:])
    rows = np.repeat(done, n)
    st, sv = t[rows], v[rows]
    for h in np.unique(hz[di]):
        m = hz[di] == h
        median[di[m]] = _interp_at(sub_off, st, sv, float(h))[m]
    scale[di], qz[di] = 0.0, 0.0
    status[di] = np.where(np.isfinite(median[di]), int(Status.CONVERGED), int(Status.NOT_RUN))
    method[di] = "observed"
    zcal[di] = len(fr.calibration)
    out = ReferenceForecast(b.keys, by, x, hz, last_x, median, scale, qz, quantiles, status, method, last, best, zcal)
    out.calibration = list(fr.calibration) + [np.zeros(1)]
    out.mode = fr.mode
    return out
