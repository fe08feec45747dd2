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

from ._args import check_alloc, check_prob, check_seed, is_int, resolve_threads
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
    if result._batch is None or result._bounds is None:
        raise ValueError(
            "bootstrap needs the fitted data: this FitResult has none (it was loaded from a file or built by "
            "hand); refit with lawfit.fit"
        )
    shared = result.options.get("shared") or []
    offsets, X, y, w = result._batch
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
            raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
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
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
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
