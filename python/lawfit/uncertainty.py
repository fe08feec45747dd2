"""lawfit.uncertainty: bootstrap of a batched fit.

Every replicate of every curve is one refit, warm-started from the full fit and solved by the same C++
Levenberg-Marquardt solver; all replicates of all curves run as one parallel native batch. Replicate r of
curve b draws its resample from a counter-based Philox stream keyed by (seed, hash of b's key, r), so the samples
are bit-identical for any thread count and whatever other curves the fit holds.

    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log")
    boot = res.bootstrap(n=4000)             # also sets res.bootstrap_samples
    boot.interval(0.9)                       # E_low, E_high, A_low, ...
    res.predict(new, interval=0.9)           # y_pred, y_low, y_high from the bootstrap samples
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from ._args import check_alloc, check_prob, check_seed, is_int, resolve_threads, show
from ._status import Status
from ._native import _core
from ._progress import with_progress
from ._data import curve_hashes, plain

METHODS = {"pairs": 0, "residual": 1}
_JACKKNIFE = 2
_LOSSES = {"l2": 0, "linear": 0, "huber": 1, "soft_l1": 2, "cauchy": 3}
_SPACES = {"linear": 0, "log": 1}


# ---- vectorised normal distribution (no scipy at runtime) ----------------------------------------
def norm_cdf(z) -> np.ndarray:
    """Standard normal CDF, elementwise (relative error < 1.2e-7)."""
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * _erfc(-z / np.sqrt(2.0))


def _erfc(x: np.ndarray) -> np.ndarray:
    # Numerical Recipes erfcc (Chebyshev fit), relative error < 1.2e-7 everywhere.
    ax = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * ax)
    poly = -ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2.0 - r)


def norm_ppf(p) -> np.ndarray:
    """Standard normal quantile, elementwise (Acklam's approximation + one Halley step); NaN outside (0, 1)."""
    p = np.asarray(p, dtype=np.float64)
    a = [-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00]
    b = [-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01]
    c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00]
    d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00]
    with np.errstate(invalid="ignore", divide="ignore"):
        pc = np.clip(p, 1e-300, 1 - 1e-16)
        q = np.sqrt(-2 * np.log(np.minimum(pc, 1 - pc)))
        tail = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        tail = np.where(pc < 0.5, tail, -tail)
        r = (pc - 0.5) ** 2
        qq = pc - 0.5
        mid = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * qq / (
            ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        x = np.where((pc > 0.02425) & (pc < 1 - 0.02425), mid, tail)
        e = norm_cdf(x) - pc
        u = e * np.sqrt(2 * np.pi) * np.exp(x * x / 2)
        x = x - u / (1 + x * u / 2)
    return np.where((p > 0) & (p < 1), x, np.nan)


def sorted_quantile(s: np.ndarray, q, axis: int = 1) -> np.ndarray:
    """Quantiles along ``axis`` of an array sorted along it with NaNs last (numpy's sort puts them there),
    at levels ``q`` (a scalar or an array broadcastable to the result). Linear interpolation (numpy's default
    method) among the finite values; NaN where a slice has none."""
    s = np.moveaxis(s, axis, -1)
    k = np.sum(~np.isnan(s), axis=-1)
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), k.shape)
    pos = np.clip(q, 0.0, 1.0) * np.maximum(k - 1, 0)
    pos = np.where(np.isnan(q), 0.0, pos)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
    frac = pos - lo
    vlo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    vhi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    out = vlo + frac * (vhi - vlo)
    return np.where((k > 0) & ~np.isnan(q), out, np.nan)


# ---- the bootstrap ----------------------------------------------------------------------------------
def _native_args(result) -> dict:
    if result._fitted_batch() is None or result._bounds is None:
        raise ValueError(
            "bootstrap needs the fitted data: this FitResult has none (it was loaded from a file or built by "
            "hand); refit with lawfit.fit"
        )
    shared = result.options.get("shared") or []
    offsets, X, y, w = result._fitted_batch()
    lo, hi = result._bounds
    o = result.options
    return dict(
        offsets=offsets, x=np.ascontiguousarray(X, dtype=np.float64), y=y, w=w,
        lower=np.ascontiguousarray(lo, dtype=np.float64), upper=np.ascontiguousarray(hi, dtype=np.float64),
        params=np.ascontiguousarray(result._params), status=np.ascontiguousarray(result._status, dtype=np.int32),
        loss=_LOSSES[o.get("loss", "l2")], delta=float(o.get("delta", 1.0)), space=_SPACES[o.get("space", "linear")],
        ftol=float(o.get("ftol", 1e-8)), xtol=float(o.get("xtol", 1e-8)), gtol=float(o.get("gtol", 1e-8)),
        max_iter=int(o.get("max_iter", 200)),
        # a joint fit: every replicate refits all curves together, the shared parameters common to them
        shared=np.array([p in shared for p in result.law.params], dtype=bool) if shared else None,
        keys=curve_hashes(result.keys, result.by),
        varpro=o.get("solver", "varpro") == "varpro",  # the fit's solver
    )


class BootstrapResult:
    """Bootstrap replicates of a :class:`lawfit.FitResult`.

    Attributes
    ----------
    samples: float array [curves, n, params]; NaN rows are replicates that could not be fitted (e.g. a pairs
        resample with fewer distinct points than parameters) or curves whose full fit failed.
    status: int array [curves, n] of :class:`lawfit.Status` codes per replicate.
    """

    def __init__(self, fit, samples: np.ndarray, status: np.ndarray, method: str, seed: int, threads: int):
        self.fit = fit
        self.samples = samples
        self.status = status
        self.method = method
        self.seed = seed
        self._threads = threads
        self._jack = None

    @property
    def n(self) -> int:
        return self.samples.shape[1]

    @property
    def n_failed(self) -> pd.Series:
        """Replicates per curve without parameters (NaN)."""
        return pd.Series(np.isnan(self.samples).any(axis=2).sum(axis=1), index=self.fit.index, name="n_failed")

    @property
    def stderr(self) -> pd.DataFrame:
        """Bootstrap standard error of each parameter (std over the finite replicates)."""
        s = self.samples
        k = np.sum(~np.isnan(s), axis=1)
        m = np.where(k > 0, np.nansum(s, axis=1) / np.maximum(k, 1), np.nan)
        v = np.nansum((s - m[:, None, :]) ** 2, axis=1) / np.maximum(k - 1, 1)
        return pd.DataFrame(np.where(k > 1, np.sqrt(v), np.nan), index=self.fit.index, columns=list(self.fit.law.params))

    def resample_counts(self, curve: int, replicates=None) -> np.ndarray:
        """Pairs bootstrap: how many times each point of curve number ``curve`` (its position in the fit, 0-based)
        was drawn in the given replicates (default: all), int64 [replicates, points], points in the order of the
        curve's rows in the data (zero-weight points are never drawn). A replicate's parameters are the fit of
        those rows repeated that many times (a weight multiplies the loss, so a count of k is k copies)."""
        if self.method != "pairs":
            raise ValueError(f"resample_counts: only pairs replicates resample points (this one is {self.method!r})")
        B = self.fit.n_curves
        if not is_int(curve) or not 0 <= int(curve) < B:
            raise ValueError(f"curve must be an integer in [0, {B}), got {type(curve).__name__} {plain(curve)!r}")
        reps = np.arange(self.n) if replicates is None else np.atleast_1d(np.asarray(replicates))
        if reps.size and not (np.issubdtype(reps.dtype, np.integer) and reps.min() >= 0 and reps.max() < self.n):
            raise ValueError(f"replicates must be integers in [0, {self.n})")
        offsets, _, _, w = self.fit._fitted_batch()
        a, b = int(offsets[curve]), int(offsets[curve + 1])
        used = np.ones(b - a, dtype=bool) if w is None else np.asarray(w[a:b]) > 0
        key = int(curve_hashes(self.fit.keys, self.fit.by)[curve])
        return _core.pairs_counts(used, key, int(self.seed), reps.astype(np.int64))

    def __repr__(self) -> str:
        return f"<BootstrapResult law={self.fit.law.name!r} curves={self.samples.shape[0]} n={self.n} method={self.method!r}>"

    def _jackknife(self) -> np.ndarray:
        if self.fit.options.get("shared"):
            raise ValueError("BCa intervals need a jackknife, which is not defined for fits with shared parameters; "
                             "use method='percentile'")
        if self._jack is None:
            a = _native_args(self.fit)
            R = int(np.diff(a["offsets"]).max()) if len(a["offsets"]) > 1 else 1
            p, _ = self.fit.law._bootstrap(n=max(R, 1), method=_JACKKNIFE, seed=0, threads=self._threads, **a)
            self._jack = p
        return self._jack

    def interval(self, level: float = 0.9, method: str = "percentile") -> pd.DataFrame:
        """Two-sided ``level`` interval of every parameter: columns ``<param>_low``, ``<param>_high``, indexed
        like ``FitResult.params``. ``method``: "percentile", or "bca" (bias-corrected and accelerated, Efron
        1987; the acceleration comes from a jackknife computed once, in one batched native call)."""
        level = check_prob("level", level)
        if method not in ("percentile", "bca"):
            raise ValueError(f"method must be 'percentile' or 'bca', got {show(method)}")
        s = np.sort(self.samples, axis=1)
        alpha = (1 - level) / 2
        if method == "percentile":
            lo = sorted_quantile(s, alpha)
            hi = sorted_quantile(s, 1 - alpha)
        else:
            theta = self.fit._params  # [C, P]
            valid = ~np.isnan(self.samples)
            k = valid.sum(axis=1)
            below = np.sum(np.where(valid, self.samples < theta[:, None, :], False), axis=1)
            equal = np.sum(np.where(valid, self.samples == theta[:, None, :], False), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = (below + 0.5 * equal) / k
                z0 = norm_ppf(np.clip(frac, 0.5 / np.maximum(k, 1), 1 - 0.5 / np.maximum(k, 1)))
                J = self._jackknife()
                jk = np.sum(~np.isnan(J), axis=1)
                jm = np.nansum(J, axis=1) / np.maximum(jk, 1)
                dlt = np.where(np.isnan(J), 0.0, jm[:, None, :] - J)
                num = np.sum(dlt ** 3, axis=1)
                den = 6.0 * np.sum(dlt ** 2, axis=1) ** 1.5
                acc = np.where(den > 0, num / den, 0.0)
                zl, zh = norm_ppf(alpha), norm_ppf(1 - alpha)
                ql = norm_cdf(z0 + (z0 + zl) / (1 - acc * (z0 + zl)))
                qh = norm_cdf(z0 + (z0 + zh) / (1 - acc * (z0 + zh)))
            lo = sorted_quantile(s, ql)
            hi = sorted_quantile(s, qh)
        cols, vals = [], []
        for j, p in enumerate(self.fit.law.params):
            cols += [f"{p}_low", f"{p}_high"]
            vals += [lo[:, j], hi[:, j]]
        return pd.DataFrame(np.column_stack(vals) if vals else None, index=self.fit.index, columns=cols)

    def predict(self, new_data, interval: float = 0.9) -> pd.DataFrame:
        """Same as ``FitResult.predict(new_data, interval)`` with these samples."""
        saved = self.fit.bootstrap_samples
        self.fit.bootstrap_samples = self.samples
        try:
            return self.fit.predict(new_data, interval=interval)
        finally:
            self.fit.bootstrap_samples = saved


@with_progress("lawfit bootstrap")
def bootstrap(result, n: int = 4000, method: str = "pairs", seed: int = 0, threads: Optional[int] = None) -> BootstrapResult:
    """Bootstrap every curve of a fit: ``n`` replicates per curve, each refitted from the full fit.

    method: "pairs" (resample the curve's points with replacement, as Epoch AI's Chinchilla replication) or
        "residual" (keep x, add resampled residuals of the full fit to the fitted values, in the fit's space).
    seed: replicate r of a curve uses the Philox stream (seed, hash of the curve's key, r): results depend neither
        on ``threads`` nor on the other curves of the fit. An integer in [0, 2**64).
    threads: worker threads (None or 0, the default: all cores; at most 4 x the cores are used).
    Memory: the samples take curves x n x params x 8 bytes; an ``n`` whose output would not fit in this machine's
    memory raises ValueError before anything is allocated.
    A fit with ``shared`` parameters is bootstrapped jointly: replicate r resamples every curve and refits them
    together, so the shared parameters stay common to all curves (percentile intervals; BCa is not defined).
    """
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive integer, got {type(n).__name__} {plain(n)!r}")
    n = int(n)
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {show(method)}")
    threads = resolve_threads(threads, op="bootstrap")
    seed = check_seed(seed, op="bootstrap")
    a = _native_args(result)
    B, P = result.n_curves, result.law.n_params
    # The output: params [curves, n, P] float64 and status [curves, n] (int32), allocated at once.
    check_alloc("bootstrap", float(B) * n * (8.0 * P + 4.0),
                f"n={n} replicates x {B} curve(s) x {P} parameters",
                "Lower n (a few thousand replicates give stable 90% intervals) or bootstrap fewer curves at a time.")
    p, st = result.law._bootstrap(n=n, method=METHODS[method], seed=seed, threads=threads, **a)
    return BootstrapResult(result, p, st, method, seed, threads)


def bootstrap_predict(result, X: np.ndarray, idx: np.ndarray, level: float) -> tuple:
    """(low, median, high) of the law at rows X[m] of curves idx[m] over the bootstrap samples of
    ``result`` (a central ``level`` interval). Evaluated in one native call per block of rows."""
    S = result.bootstrap_samples
    if S is None:
        raise ValueError("bootstrap_predict: the result has no bootstrap samples; call result.bootstrap() first")
    m = len(idx)
    R, P = S.shape[1], S.shape[2]
    out = np.full((3, m), np.nan)
    alpha = (1 - level) / 2
    step = max(1, (1 << 22) // max(R, 1))
    for a in range(0, m, step):
        b = min(m, a + step)
        Xr = np.ascontiguousarray(np.repeat(X[a:b], R, axis=0))
        Pr = np.ascontiguousarray(S[idx[a:b]].reshape(-1, P))
        v = np.asarray(result.law._eval(Xr, Pr)).reshape(b - a, R)
        v = np.sort(np.where(np.isfinite(v), v, np.nan), axis=1)
        out[0, a:b] = sorted_quantile(v, alpha)
        out[1, a:b] = sorted_quantile(v, 0.5)
        out[2, a:b] = sorted_quantile(v, 1 - alpha)
    return out[0], out[1], out[2]


__all__ = ["bootstrap", "BootstrapResult", "bootstrap_predict", "METHODS", "norm_cdf", "norm_ppf"]


# ---- ladder-calibrated prediction intervals -----------------------------------------------------------------
def _segment_median(values: np.ndarray, seg: np.ndarray, n_seg: int) -> np.ndarray:
    """Median of values per segment id (NaN for empty segments), vectorised: one lexsort."""
    order = np.lexsort((values, seg))
    v, s = values[order], seg[order]
    counts = np.bincount(s, minlength=n_seg)
    first = np.zeros(n_seg, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    out = np.full(n_seg, np.nan)
    has = counts > 0
    lo = first[has] + (counts[has] - 1) // 2
    hi = first[has] + counts[has] // 2
    out[has] = 0.5 * (v[lo] + v[hi])
    return out


def _fit_space(y: np.ndarray, space: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(y) if space == "log" else y


def predictive_spread(result, X: np.ndarray, idx: np.ndarray, params: np.ndarray, cov: np.ndarray,
                      at_bound: np.ndarray, sigma: np.ndarray) -> tuple:
    """(f, sd) at rows X of curves idx: the law's value and the sd of a new observation in the fit's space
    (delta-method variance of the fitted value, parameters at a bound held fixed, plus the noise variance
    sigma[curve]^2)."""
    space = result.options.get("space", "linear")
    vg = result.law._eval(X, np.ascontiguousarray(params[idx]), True)
    f, g = vg[:, 0], vg[:, 1:]
    if space == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            g = g / f[:, None]
    c = cov[idx]
    ab = at_bound[idx]
    c = np.where(ab[:, :, None] | ab[:, None, :], 0.0, c)
    var = np.einsum("ni,nij,nj->n", g, c, g)
    return f, np.sqrt(np.clip(var, 0, None) + sigma[idx] ** 2)


def _noise_sd(result, params, offsets, X, y, used) -> np.ndarray:
    """Robust noise scale per curve in the fit's space: 1.4826 x the median absolute residual of the used rows."""
    B = len(offsets) - 1
    seg = np.repeat(np.arange(B), np.diff(offsets))
    space = result.options.get("space", "linear")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(_fit_space(y, space) - _fit_space(result.law._eval(X, np.ascontiguousarray(params[seg])), space))
    return 1.4826 * _segment_median(r[used], seg[used], B)


def holdout_factors(result, rungs: int = 1) -> pd.DataFrame:
    """Ladder calibration of a fitted law (``FitResult.predict(..., calibrate="holdout")``).

    Per curve: the rows of the ``rungs`` largest rungs (the largest values of the law's first input, e.g. N) are
    left out,
    the law is refitted on the other rows (one batched native fit, weights 0 on the held-out rows, started at
    the full fit), and the held-out rows are predicted as new observations. The factor is
    k = max(1, sqrt(mean(z^2))) with z = (observed - predicted) / predictive sd in the fit's space: how much further
    off the extrapolation to the top rung was than its own interval allowed (misfit of the law, not only noise).
    Returns a frame per curve: ``k``, ``n_holdout`` (rows held out), ``rms_z``; k is NaN where fewer than two rungs
    or too few points remain."""
    if not is_int(rungs) or rungs < 1:
        raise ValueError(f"rungs must be a positive integer, got {type(rungs).__name__} {plain(rungs)!r}")
    if result.law.transform is not None or result.options.get("shared"):
        raise ValueError("calibrate='holdout' needs a law without an input transform and a fit without shared parameters")
    batch = result._fitted_batch()
    if batch is None or result._bounds is None:
        raise ValueError("calibrate='holdout' needs the fitted data: refit with lawfit.fit (a loaded result has none)")
    offsets, X, y, w = batch
    B, P = result.n_curves, result.law.n_params
    n = np.diff(offsets)
    seg = np.repeat(np.arange(B), n)
    used = np.ones(len(y), dtype=bool) if w is None else np.asarray(w) > 0
    # Rung rank from the top per curve: distinct values of the first input among the used rows.
    ur = np.flatnonzero(used)
    pairs, inv = np.unique(np.column_stack([seg[ur].astype(np.float64), X[ur, 0]]), axis=0, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    last = np.searchsorted(pairs[:, 0], np.arange(B), side="right") - 1  # last distinct pair of each curve
    rank = np.full(len(y), np.iinfo(np.int64).max)
    rank[ur] = last[seg[ur]] - inv
    held = used & (rank < rungs)
    remain = np.bincount(seg[used & ~held], minlength=B)
    ok = result.ok & (remain > P) & (np.bincount(seg[held], minlength=B) > 0)
    w_hold = np.where(held, 0.0, 1.0 if w is None else np.asarray(w, dtype=np.float64))
    a = _native_args(result)
    lo, hi = result._bounds
    start = result._params[:, None, :]  # the full fit (NaN for failed curves: those are not run)
    hold = result.law._fit(
        offsets=a["offsets"], x=a["x"], y=a["y"], w=np.ascontiguousarray(w_hold),
        lower=a["lower"], upper=a["upper"], keys=a["keys"], starts=np.ascontiguousarray(start),
        project_linear=False, loss=a["loss"], delta=a["delta"], space=a["space"], ftol=a["ftol"], xtol=a["xtol"],
        gtol=a["gtol"], max_iter=a["max_iter"], threads=0, seed=0, varpro=a["varpro"],
    )
    hp = np.asarray(hold["params"], dtype=np.float64)
    hst = np.asarray(hold["status"])
    ok &= (hst == Status.CONVERGED) | (hst == Status.MAX_ITER)
    hcov = np.asarray(hold["cov"], dtype=np.float64)
    lo2 = np.broadcast_to(np.asarray(lo, dtype=np.float64), hp.shape)
    hi2 = np.broadcast_to(np.asarray(hi, dtype=np.float64), hp.shape)
    h_ab = np.isfinite(hp) & ((hp <= lo2) | (hp >= hi2))
    sigma = _noise_sd(result, hp, offsets, X, y, used & ~held)
    rows = np.flatnonzero(held & ok[seg])
    f, sd = predictive_spread(result, np.ascontiguousarray(X[rows]), seg[rows], hp, hcov, h_ab, sigma)
    space = result.options.get("space", "linear")
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = ((_fit_space(y[rows], space) - _fit_space(f, space)) / sd) ** 2
    good = np.isfinite(z2)
    cnt = np.bincount(seg[rows][good], minlength=B)
    ssum = np.bincount(seg[rows][good], weights=z2[good], minlength=B)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.where(ok & (cnt > 0), np.sqrt(ssum / np.maximum(cnt, 1)), np.nan)
    k = np.where(np.isfinite(rms), np.maximum(rms, 1.0), np.nan)
    # How far the held-out rung lies beyond the rows that remained (log of the first input): the reference
    # distance at which k was measured.
    x1 = X[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        top_all = _segment_max(np.where(used, x1, -np.inf), offsets)
        top_fit = _segment_max(np.where(used & ~held, x1, -np.inf), offsets)
        dist = np.where(ok, np.log(top_all / top_fit), np.nan)
    return pd.DataFrame({"k": k, "n_holdout": np.bincount(seg[held], minlength=B), "rms_z": rms,
                         "x_top": top_all, "log_distance": dist}, index=result.index)


def _segment_max(v: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    B = len(offsets) - 1
    out = np.full(B, -np.inf)
    nz = np.diff(offsets) > 0
    if nz.any():
        out[nz] = np.maximum.reduceat(v, offsets[:-1][nz])
    return out
