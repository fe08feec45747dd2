"""Schedule-aware forecasts of loss curves: ``lawfit.extrapolate(..., schedule=)`` or ``lr=``.

A loss curve under a decaying learning rate keeps falling as the LR anneals; a saturating family fitted to the
prefix cannot know that. Given the schedule (named: lawfit.schedules; or an LR column whose future rows carry
the planned LR), each curve is modelled by the LR-annealing law of Tissue et al. 2024,
    L(s) = L0 + A S1(s)^-alpha - C S2(s),
S1, S2 the schedule integrals (exact step sums, C++). The annealing coefficient C is barely identified by a
prefix on which the LR has hardly decayed, so it carries a prior on the relative annealing gain
g = C S2(horizon) / |last observed value| and on log alpha:
* with a ``reference`` (finished runs of the sweep, same columns and schedule fields): empirical Bayes, the
  median and spread (1.4826 MAD, floored) of alpha and g of the reference curves' own full-curve fits, g taken at
  the same fraction of the run as the targets' cut; 5-fold cross-fitted when the reference is forecast for
  calibration;
* without: :data:`DEFAULT_PRIOR`, measured on the OLMo ladder's 190M-1B runs (bench/bench_schedule.py).
The posterior (core/sample/annealing.hpp: a grid over alpha, exact Gaussian posteriors of L0, A, C, serially
correlated residuals accounted for) gives predictive draws at the horizon; their median is the forecast. The
quantiles are split-conformal: the reference curves, cut at the targets' fraction of the run, are forecast the
same way and their scores z = (truth - median) / scale calibrate median + z_q scale (scale: the draws' 90% width /
3.29); without a reference the scores are :data:`DEFAULT_SCORES`, those of the same procedure on the OLMo ladder's
190M-1B runs. Returns a :class:`lawfit.reference.ReferenceForecast`. See docs/forecasting.md.
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ._data import as_list, key_index, make_batch, to_pandas
from ._native import _core
from ._status import Status
from .reference import ReferenceForecast, _conformal_quantile
from .schedules import Schedule, features

# Prior without a reference: alpha (median) and the sd of log alpha; the relative annealing gain g and its sd.
# Measured by bench/bench_schedule.py (prior_check) on the validation cross-entropy and bits-per-byte curves of
# the OLMo ladder's 190M-1B runs (cosine to 10% of the peak), full-curve fits, sds widened x1.5.
DEFAULT_PRIOR = {"alpha": 0.601, "sd_log_alpha": 0.62, "gain": 0.0455, "sd_gain": 0.0501}
# Calibration scores without a reference: quantiles (levels 0.01 .. 0.99) of the scores of the same procedure
# with DEFAULT_PRIOR on those runs cut at 20% and 40% (bench/bench_schedule.py).
DEFAULT_SCORES = np.array([
    -4.467, -2.517, -2.286, -2.037, -1.889, -1.619, -1.493, -1.398, -1.321, -1.239, -1.153,
    -1.102, -1.043, -0.989, -0.933, -0.845, -0.788, -0.725, -0.692, -0.654, -0.614, -0.575,
    -0.541, -0.511, -0.472, -0.448, -0.411, -0.368, -0.335, -0.297, -0.262, -0.249, -0.228,
    -0.192, -0.156, -0.129, -0.109, -0.08, -0.059, -0.028, -0.015, 0.004, 0.037, 0.057,
    0.078, 0.096, 0.116, 0.142, 0.175, 0.201, 0.224, 0.248, 0.278, 0.322, 0.37,
    0.397, 0.429, 0.454, 0.474, 0.505, 0.529, 0.576, 0.597, 0.628, 0.663, 0.691,
    0.718, 0.743, 0.785, 0.81, 0.841, 0.902, 0.947, 0.997, 1.052, 1.103, 1.16,
    1.215, 1.261, 1.322, 1.375, 1.406, 1.441, 1.489, 1.55, 1.615, 1.716, 1.829,
    1.936, 2.119, 2.242, 2.368, 2.537, 2.758, 2.96, 3.125, 3.319, 3.698, 4.128,
])
_FOLDS = 5
_MAX_BUCKETS = 32
_SD_LOG_ALPHA_MIN, _SD_GAIN_MIN = 0.1, 0.005


def _prepare(df: pd.DataFrame, *, x: str, y: str, by, lr: Optional[str], schedule: Optional[Schedule], horizon,
             per_curve, threads) -> dict:
    """Per curve: observed rows (t, v) with their (S1, S2); (S1, S2) at the horizon; ends; a status for curves
    whose steps or schedule cannot be used."""
    cols = [x] + ([lr] if lr else [])
    named = [v for v in (schedule.fields().values() if schedule is not None else ()) if isinstance(v, str)]
    for c in cols + named + [y] + list(by):
        if c not in df.columns:
            raise ValueError(f"column {c!r} not found; columns are: {', '.join(map(str, df.columns))}")
    xcols = cols + [c for c in dict.fromkeys(named) if c not in cols]
    conv = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64) for c in xcols + [y]}
    b = make_batch(df.assign(**conv), xcols, y, by, None, "status")
    C = b.n_curves
    off = b.offsets
    seg = np.repeat(np.arange(C), np.diff(off))
    t, v = b.X[:, 0], b.y
    index = key_index(b.keys, b.by)
    hz = per_curve(horizon, C, "horizon", index) if horizon is not None else None
    bad = np.zeros(C, dtype=bool)

    def column(name):
        if name not in xcols:
            return None
        a = b.X[:, xcols.index(name)]
        first = np.full(C, np.nan)
        nz = np.diff(off) > 0
        first[nz] = a[off[:-1][nz]]
        varies = np.zeros(C, dtype=bool)
        np.logical_or.at(varies, seg, ~(a == first[seg]))
        if varies.any():
            k = int(np.flatnonzero(varies)[0])
            raise ValueError(f"schedule: column {name!r} must hold one value per curve; curve "
                             f"{index[k]!r} has several")
        return first

    # Observed rows: finite step and value; plan rows (lr only): finite step and LR, no value.
    fin_t = np.isfinite(t)
    obs = fin_t & np.isfinite(v)
    if hz is None:  # reference: its horizon is its last observed step
        hz = np.full(C, np.nan)
        nz = np.bincount(seg[obs], minlength=C) > 0
        mx = np.full(C, -np.inf)
        np.maximum.at(mx, seg[obs], t[obs])
        hz[nz] = mx[nz]
    if lr:
        lrv = b.X[:, 1]
        plan = fin_t & np.isfinite(lrv) & (t <= hz[seg])
        rows = np.flatnonzero(plan)
        # The horizon row: the LR of the last row at or before it (held past the last row).
        hz_ok = np.isfinite(hz)
        ext_seg = np.flatnonzero(hz_ok)
        rs = seg[rows]
        order = np.lexsort((t[rows], rs))
        rows = rows[order]
        rs = seg[rows]
        last_row = np.full(C, -1)
        last_row[rs] = rows  # (sorted: the last assignment per curve is its largest step)
        has_plan = last_row >= 0
        ext = ext_seg[has_plan[ext_seg] & (t[np.maximum(last_row[ext_seg], 0)] < hz[ext_seg])]
        T = np.concatenate([t[rows], hz[ext]])
        L = np.concatenate([lrv[rows], lrv[last_row[ext]]])
        S = np.concatenate([rs, ext])
        src = np.concatenate([rows, np.full(len(ext), -1)])
        o2 = np.lexsort((T, S))
        T, L, S, src = T[o2], L[o2], S[o2], src[o2]
        offs = np.zeros(C + 1, dtype=np.int64)
        np.cumsum(np.bincount(S, minlength=C), out=offs[1:])
        from ._transforms import lr_annealing_features

        F = lr_annealing_features(offs, np.column_stack([T, L]), threads=threads, invalid="nan")
        bad |= np.bincount(S[~np.isfinite(F).all(axis=1)], minlength=C) > 0
        at_h = T == hz[S]
        S1h = np.full(C, np.nan)
        S2h = np.full(C, np.nan)
        S1h[S[at_h]], S2h[S[at_h]] = F[at_h, 0], F[at_h, 1]
        keep = (src >= 0) & obs[np.maximum(src, 0)]
        ot, ov, os_ = T[keep], v[src[keep]], S[keep]
        oF = F[keep]
    else:
        fields = schedule.resolve(C, column=column, per_curve=per_curve, index=index)
        rows = np.flatnonzero(obs & (t <= hz[seg]))
        rs = seg[rows]
        T = np.concatenate([t[rows], hz[np.isfinite(hz)]])
        S = np.concatenate([rs, np.flatnonzero(np.isfinite(hz))])
        src = np.concatenate([rows, np.full(int(np.isfinite(hz).sum()), -1)])
        o2 = np.lexsort(((src < 0), T, S))  # a horizon row after an observed row at the same step
        T, S, src = T[o2], S[o2], src[o2]
        dup = np.zeros(len(T), dtype=bool)
        dup[1:] = (T[1:] == T[:-1]) & (S[1:] == S[:-1])
        # Features at the unique steps of each curve, then spread back to the duplicates.
        u = ~dup
        offs = np.zeros(C + 1, dtype=np.int64)
        np.cumsum(np.bincount(S[u], minlength=C), out=offs[1:])
        Fu, err = features(offs, T[u], fields, threads=threads)
        bad |= err != 0
        F = Fu[np.cumsum(u) - 1]
        at_h = src < 0
        S1h = np.full(C, np.nan)
        S2h = np.full(C, np.nan)
        S1h[S[at_h]], S2h[S[at_h]] = F[at_h, 0], F[at_h, 1]
        keep = src >= 0
        ot, ov, os_ = T[keep], v[src[keep]], S[keep]
        oF = F[keep]
    counts = np.bincount(os_, minlength=C)
    o_off = np.zeros(C + 1, dtype=np.int64)
    np.cumsum(counts, out=o_off[1:])
    nz = counts > 0
    last_x = np.full(C, np.nan)
    last = np.full(C, np.nan)
    last_x[nz] = ot[o_off[1:][nz] - 1]
    last[nz] = ov[o_off[1:][nz] - 1]
    mx = np.full(C, -np.inf)
    mn = np.full(C, np.inf)
    np.maximum.at(mx, os_, ov)
    np.minimum.at(mn, os_, ov)
    # Observations beyond the horizon: no extrapolation (INVALID_INPUT), as in lawfit.extrapolate.
    beyond = np.bincount(seg[obs & ~(t <= hz[seg])], minlength=C) > 0
    return dict(b=b, C=C, index=index, off=o_off, t=ot, v=ov, S1=np.ascontiguousarray(oF[:, 0]),
                S2=np.ascontiguousarray(oF[:, 1]), S1h=S1h, S2h=S2h, hz=hz, last_x=last_x, last=last, mx=mx, mn=mn,
                bad=bad | beyond | ~np.isfinite(hz) | ~(S1h > 0), nz=nz)


def _posterior(p: dict, prior: dict, *, samples: int, seed: int, threads: int, idx=None, off=None, rows=None,
               cut_value=None):
    """Predictive draws [C', samples] at the horizon of the curves idx (all by default), observed rows ``rows``
    (default: all of them), from the prior (alpha, sd_log_alpha, gain, sd_gain; the gain relative to |the value at
    the cut|: ``cut_value`` [C'] when the rows are a cut of the curves, else their last observed value)."""
    C = p["C"]
    idx = np.arange(C) if idx is None else idx
    if off is None:
        off, rows = p["off"], np.arange(len(p["t"]))
    S1h, S2h = p["S1h"][idx], p["S2h"][idx]
    lastv = p["last"][idx] if cut_value is None else cut_value
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # (a tiny S2h gives inf: handled below)
        unit = np.abs(lastv) / np.where(S2h > 0, S2h, np.nan)
    unit = np.where(np.isfinite(unit), unit, np.inf)
    mu_C = np.where(np.isfinite(unit), prior["gain"] * unit, 0.0)
    sd_C = np.where(np.isfinite(unit), prior["sd_gain"] * unit, np.inf)
    keys = p["b"].hashes[idx] if getattr(p["b"], "hashes", None) is not None else None
    out = _core.annealing_posterior(np.ascontiguousarray(off), np.ascontiguousarray(p["S1"][rows]),
                                    np.ascontiguousarray(p["S2"][rows]), np.ascontiguousarray(p["v"][rows]),
                                    np.ascontiguousarray(np.broadcast_to(np.log(prior["alpha"]), (len(idx),)), dtype=np.float64),
                                    np.ascontiguousarray(np.broadcast_to(prior["sd_log_alpha"], (len(idx),)), dtype=np.float64),
                                    np.ascontiguousarray(mu_C, dtype=np.float64),
                                    np.ascontiguousarray(sd_C, dtype=np.float64), int(samples), int(seed),
                                    threads=int(threads), keys=None if keys is None else np.ascontiguousarray(keys))
    d = out["draws"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        pred = d[:, :, 0] + d[:, :, 1] * S1h[:, None] ** (-d[:, :, 3]) - d[:, :, 2] * S2h[:, None] + out["noise"]
    return pred, out


def _summarise(pred: np.ndarray) -> tuple:
    """(median, scale) of predictive draws: scale = 90% width / 3.29 (the sd of a normal), floored."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failed curves: all-NaN rows, NaN by design
        q05, q50, q95 = np.nanquantile(pred, [0.05, 0.5, 0.95], axis=1) if pred.size else (np.zeros(0),) * 3
    scale = np.maximum((q95 - q05) / 3.29, 1e-12 * np.maximum(np.abs(q50), 1e-300))
    return q50, scale


def _cut(p: dict, idx: np.ndarray, frac: float) -> tuple:
    """CSR rows of curves idx observed up to frac x their horizon: (offsets, rows, value at the cut)."""
    starts, ends = p["off"][idx], p["off"][idx + 1]
    lim = frac * p["hz"][idx]
    n0 = ends - starts
    o0 = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(n0, out=o0[1:])
    rows = np.repeat(starts, n0) + (np.arange(int(o0[-1])) - np.repeat(o0[:-1], n0))
    seg = np.repeat(np.arange(len(idx)), n0)
    keep = p["t"][rows] <= lim[seg]
    rows, seg = rows[keep], seg[keep]
    n = np.bincount(seg, minlength=len(idx))
    off = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(n, out=off[1:])
    cutv = np.full(len(idx), np.nan)
    cutv[n > 0] = p["v"][rows[off[1:][n > 0] - 1]]
    return off, rows, cutv


def _reference_prior(rp: dict, frac: float, members: np.ndarray, fits: dict) -> dict:
    """Empirical-Bayes prior from the reference curves ``members``: robust centre and spread of log alpha and of
    the relative gain at the cut fraction ``frac``."""
    la, gain = fits["log_alpha"][members], fits["gain"][members]
    _, _, cutv = _cut(rp, np.flatnonzero(members), frac)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = gain / np.abs(cutv)
    ok = np.isfinite(la) & np.isfinite(g)
    la, g = la[ok], g[ok]
    if len(la) < 4:
        return dict(DEFAULT_PRIOR)

    def robust(a, floor):
        m = float(np.median(a))
        return m, max(1.4826 * float(np.median(np.abs(a - m))), floor)

    mla, sla = robust(la, _SD_LOG_ALPHA_MIN)
    mg, sg = robust(g, _SD_GAIN_MIN)
    return {"alpha": float(np.exp(mla)), "sd_log_alpha": sla, "gain": mg, "sd_gain": sg}


def _reference_fits(rp: dict, seed: int, threads: int) -> dict:
    """Full-curve fits of the reference (weak prior): median alpha and the annealing gain C S2(end) per curve."""
    C = rp["C"]
    weak = {"alpha": 0.5, "sd_log_alpha": np.inf, "gain": 0.0, "sd_gain": np.inf}
    _, out = _posterior(rp, weak, samples=200, seed=seed, threads=threads)
    d = out["draws"]
    ok = out["status"] == Status.CONVERGED
    la = np.full(C, np.nan)
    gain = np.full(C, np.nan)
    la[ok] = np.log(np.median(d[ok, :, 3], axis=1))
    gain[ok] = np.median(d[ok, :, 2], axis=1) * rp["S2h"][ok]
    return {"log_alpha": la, "gain": gain}


def forecast_schedule(data, reference, *, x: str, y: str, by, horizon, schedule: Optional[Schedule],
                      lr: Optional[str], mode: Optional[str], quantiles: Sequence[float], samples: int, seed: int,
                      threads: int, per_curve) -> ReferenceForecast:
    """The schedule-aware path of :func:`lawfit.extrapolate` (``schedule`` or ``lr`` given)."""
    if schedule is not None and lr is not None:
        raise ValueError("give schedule= or lr=, not both")
    if schedule is not None and not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a lawfit.schedules.Schedule (e.g. lawfit.schedules.cosine(total=...)), "
                         f"got {type(schedule).__name__}")
    by = as_list(by)
    df = to_pandas(data)
    ref_self = isinstance(reference, str) and reference == "self"
    p = _prepare(df, x=x, y=y, by=by, lr=lr, schedule=schedule, horizon=horizon, per_curve=per_curve,
                 threads=threads)
    C = p["C"]
    rp = None
    if ref_self:
        done = p["nz"] & (p["last_x"] >= p["hz"])
        reference = None
        if done.sum() >= 20:
            keys = p["b"].keys.iloc[np.flatnonzero(done)]
            mask = pd.MultiIndex.from_frame(df[by]).isin(pd.MultiIndex.from_frame(keys)) if by else np.ones(len(df), bool)
            reference = df[mask]
    if reference is not None:
        rf = to_pandas(reference, name="reference")
        rp = _prepare(rf, x=x, y=y, by=by, lr=lr, schedule=schedule, horizon=None, per_curve=per_curve,
                      threads=threads)
        usable = ~rp["bad"] & rp["nz"]
        if usable.sum() < 4:
            raise ValueError(f"reference: needs at least 4 usable curves (observed to their end, with the schedule "
                             f"columns), got {int(usable.sum())}")
    status = np.full(C, int(Status.NOT_RUN))
    status[~p["nz"]] = int(Status.TOO_FEW_POINTS)
    live = p["nz"] & ~p["bad"] & (p["hz"] > p["last_x"])
    status[p["nz"] & ~live] = int(Status.INVALID_INPUT)
    Q = len(quantiles)
    median, scale = np.full(C, np.nan), np.full(C, np.nan)
    qz = np.full((C, Q), np.nan)
    zcal = np.full(C, -1)
    method = np.full(C, "", dtype=object)
    cal_sets = []
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(live, p["last_x"] / p["hz"], np.nan)
    if rp is None:
        pred, out = _posterior(p, DEFAULT_PRIOR, samples=samples, seed=seed, threads=threads)
        med, sc = _summarise(pred)
        median[live], scale[live] = med[live], sc[live]
        cal_sets.append(np.asarray(DEFAULT_SCORES))
        zcal[live] = 0
        qz[live] = [_conformal_quantile(cal_sets[0], q) if 0.01 <= q <= 0.99 else
                    np.quantile(cal_sets[0], q) for q in quantiles]
        method[live] = "lr_annealing (default prior)"
        ok_post = out["status"] == Status.CONVERGED
    else:
        fits = _reference_fits(rp, seed, threads)
        r_ok = np.isfinite(fits["log_alpha"]) & ~rp["bad"] & rp["nz"]
        # Buckets: the targets' cut fractions, quantised to 1/64 (more than 32: grouped by quantiles).
        fq = np.round(frac * 64) / 64
        levels = np.unique(fq[live])
        if len(levels) > _MAX_BUCKETS:
            edges = np.unique(np.quantile(fq[live], np.linspace(0, 1, _MAX_BUCKETS + 1)))
            fq = np.where(live, edges[np.clip(np.searchsorted(edges, fq, side="right") - 1, 0, len(edges) - 1)],
                          np.nan)
            levels = np.unique(fq[live])
        ok_post = np.zeros(C, dtype=bool)
        ridx = np.flatnonzero(r_ok)
        fold = np.arange(len(ridx)) % _FOLDS
        for g, f in enumerate(levels):
            members = live & (fq == f)
            # Calibration: every reference curve cut at f, forecast with the prior of the other folds.
            zs = []
            for k in range(_FOLDS):
                test = ridx[fold == k]
                if not len(test):
                    continue
                train = np.zeros(rp["C"], dtype=bool)
                train[ridx[fold != k]] = True
                prior = _reference_prior(rp, f, train, fits)
                coff, crows, cutv = _cut(rp, test, f)
                has = np.diff(coff) >= 5
                pr, _ = _posterior(rp, prior, samples=samples, seed=seed, threads=threads, idx=test, off=coff,
                                   rows=crows, cut_value=cutv)
                m_r, s_r = _summarise(pr)
                truth = rp["v"][rp["off"][test + 1] - 1]
                with np.errstate(invalid="ignore", divide="ignore"):
                    zs.append(((truth - m_r) / s_r)[has])
            z = np.sort(np.concatenate(zs)) if zs else np.zeros(0)
            z = z[np.isfinite(z)]
            if not all(np.isfinite(_conformal_quantile(z, q)) for q in quantiles):
                need = int(np.ceil(1.0 / min(min(quantiles), 1 - max(quantiles)))) - 1
                raise ValueError(f"reference: {len(z)} usable reference curve(s) cannot calibrate the quantiles "
                                 f"{[float(q) for q in quantiles]}; they need at least {need}")
            cal_sets.append(z)
            prior = _reference_prior(rp, f, r_ok, fits)
            idx = np.flatnonzero(members)
            sub_off, rows, _ = _cut(p, idx, np.inf)  # (every observed row)
            pr, out = _posterior(p, prior, samples=samples, seed=seed, threads=threads, idx=idx, off=sub_off,
                                 rows=rows)
            med, sc = _summarise(pr)
            median[idx], scale[idx] = med, sc
            qz[idx] = [_conformal_quantile(z, q) for q in quantiles]
            zcal[idx] = g
            method[idx] = f"lr_annealing + reference (alpha {prior['alpha']:.2f}, gain {prior['gain']:.3f})"
            ok_post[idx] = out["status"] == Status.CONVERGED
    post_status = np.where(ok_post, int(Status.CONVERGED), int(Status.TOO_FEW_POINTS))
    with np.errstate(invalid="ignore", over="ignore"):
        reported = np.column_stack([median[:, None], median[:, None] + qz * scale[:, None]])
    fin = np.isfinite(reported).all(axis=1)
    status = np.where(live, np.where(post_status == int(Status.CONVERGED),
                                     np.where(fin, int(Status.CONVERGED), int(Status.NON_FINITE)), post_status),
                      status)
    median[status != int(Status.CONVERGED)] = np.nan
    best = np.where(mode == "max", p["mx"], p["mn"]) if mode in ("max", "min") else p["mn"]
    best = np.where(p["nz"], best, np.nan)
    res = ReferenceForecast(p["b"].keys, p["b"].by, x, p["hz"], p["last_x"], median, scale, qz, quantiles, status,
                            method, p["last"], best, zcal)
    res.calibration = cal_sets
    res.mode = "max" if mode == "max" else "min"
    return res
