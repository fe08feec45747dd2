"""lawfit.extrapolation: Bayesian learning-curve extrapolation, early-stopping decisions, chained forecasts.

The model is Domhan, Springenberg and Hutter 2015's weighted ensemble of parametric learning-curve families
(pow3, pow4, loglog_linear, log_power, janoschek, mmf, weibull, exp4, ilog2, vap, hill3) with Gaussian noise,
a prior that rejects curves that do not improve or leave the metric's range, and recency-weighted likelihood.
All curves are handled at once: each family is least-squares fitted to every curve in one batched call, then
an affine-invariant ensemble sampler (stretch moves, with a fraction of differential-evolution moves) runs every
curve's walkers in parallel in C++. The walkers start at the posterior's scale (per-family Laplace covariances
from the least-squares Jacobians, at a log-normal spread of noise levels), not in a tiny ball around the
least-squares fit, so a few hundred steps give an honest predictive (a ball in ~50 dimensions is still
expanding after thousands of steps).

Each curve is mapped to a normalised scale where larger is better (a loss is flipped) and the observed values
span [0.2, 0.8]; results are mapped back, so losses, percent accuracies and flat curves need no special care.
Points with step < 1 (e.g. epoch 0, before training) are ignored.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from ._args import (INT32_LIMIT, check_alloc, check_int, check_label, check_prob, check_real, check_seed,
                    resolve_threads, show)
from ._data import as_list, has_column, key_index, make_batch, plain, to_pandas
from ._native import _core
from ._progress import with_progress
from ._status import Status
from .catalogue import get_law
from . import distributed
from .distributed import is_distributed
from .uncertainty import norm_cdf, sorted_quantile

_FAMS = [name for name, _ in _core.domhan_families()]
_NP = [p for _, p in _core.domhan_families()]
_OFF = np.concatenate([[0], np.cumsum(_NP)]).astype(int)
_PSUM = int(_OFF[-1])
_K = len(_FAMS)
_DIM = _PSUM + _K + 1
FAMILY_SETS = {
    "domhan": ("pow3", "pow4", "loglog_linear", "log_power", "janoschek", "mmf", "weibull", "exp4", "ilog2", "vap",
               "hill3"),
    "lcpfn": ("pow3", "ilog2", "janoschek"),
    "all": tuple(_FAMS),
}
_LO, _HI = 0.2, 0.8  # observed values span this range on the normalised scale
_OVERFLOW_SPAN = 1e3  # normalised units the forecast must be able to reach without overflow in the user's units
_SIGMA_MIN_REL = 1e-3  # noise floor, relative to the metric's unit
_CHOL_OFF = np.concatenate([[0], np.cumsum(np.square(_NP))]).astype(int)  # packed P x P start factors
_RIDGE_REL, _RIDGE_ABS = 0.1, 0.1
# Least-squares starts of the families: the sampler only needs a point inside the posterior's bulk and the
# local curvature there, so the fits use at most _LSQ_STARTS grid starts and loose tolerances.
_LSQ_STARTS, _LSQ_TOL, _LSQ_MAX_ITER = 8, 1e-6, 30
_NOISE_STREAM = 0x4E4F495345  # Philox stream of the predictive's observation noise ("NOISE"; steps use < 2^47)


def _lsq_starts(spec) -> np.ndarray:
    """The family's default start grid, thinned evenly to at most _LSQ_STARTS rows."""
    st = np.asarray(spec.default_starts(), dtype=np.float64)
    if len(st) > _LSQ_STARTS:
        st = st[np.unique(np.linspace(0, len(st) - 1, _LSQ_STARTS).round().astype(int))]
    return np.ascontiguousarray(st)  # start prior per parameter: sd _RIDGE_REL * (|p| + _RIDGE_ABS)


def _families(families) -> np.ndarray:
    names = FAMILY_SETS.get(families) if isinstance(families, str) else None
    if names is None:
        if isinstance(families, str):
            if families in _FAMS:
                names = (families,)
            else:
                raise ValueError(f"families: unknown set or family {show(families)}; sets {sorted(FAMILY_SETS)}, "
                                 f"families {_FAMS}")
        else:
            if isinstance(families, (bytes, dict)) or not hasattr(families, "__iter__"):
                raise ValueError(f"families must be a set name ({', '.join(sorted(FAMILY_SETS))}), a family name or a "
                                 f"list of family names, got {type(families).__name__} {show(families)}")
            names = tuple(families)
    bad = [show(f) for f in names if not isinstance(f, str) or f not in _FAMS]
    if not names:
        raise ValueError(f"families must name at least one family; choose from {_FAMS}")
    if bad:
        raise ValueError(f"families: unknown family name(s) {', '.join(bad)}; choose from {_FAMS}")
    return np.array([f in names for f in _FAMS])


def _start_factors(t, seg, offsets, init, active, active_fams) -> np.ndarray:
    """Per curve and family, the lower-triangular factor [C, sum P_k^2] of the covariance the sampler draws
    its starting walkers from: the Laplace (Gauss-Newton) covariance of the family's parameters at their
    least-squares fit, with the recency-weighted likelihood at the start's noise sigma, regularised by a weak
    Gaussian (sd 0.1 (|p| + 0.1)) in the directions the data do not determine, and widened by sqrt(active
    families): with independent deviations of K families their weighted mean (the ensemble) deviates about
    as much as one family fitted alone."""
    C = init.shape[0]
    chol = np.zeros((C, int(_CHOL_OFF[-1])))
    if len(t) == 0:
        return chol
    counts = np.diff(offsets)
    pos = np.arange(len(t)) - offsets[:-1][seg]
    nn = counts[seg].astype(np.float64)
    rw = 10.0 ** (pos / nn)
    rw *= nn / np.bincount(seg, weights=rw, minlength=C)[seg]
    sig2 = init[:, -1] ** 2
    widen = np.sqrt(np.maximum(active.sum(axis=1), 1))
    X1 = np.ascontiguousarray(t.reshape(-1, 1))
    starts = offsets[:-1][counts > 0]
    for k, name in enumerate(_FAMS):
        if not active_fams[k] or not active[:, k].any():
            continue
        P = _NP[k]
        pk = init[:, _OFF[k]:_OFF[k + 1]]
        J = np.asarray(get_law(name)._eval(X1, np.ascontiguousarray(pk[seg]), grad=True))[:, 1:]
        J = np.where(np.isfinite(J), J, 0.0) * np.sqrt(rw)[:, None]
        A = np.zeros((C, P, P))
        A[counts > 0] = np.add.reduceat(J[:, :, None] * J[:, None, :], starts, axis=0)
        with np.errstate(all="ignore"):
            tau = _RIDGE_REL * (np.abs(pk) + _RIDGE_ABS)
            info = A / sig2[:, None, None] + np.eye(P)[None] / (tau ** 2)[:, :, None]
            info = np.where(np.isfinite(info), info, 0.0) + 1e-12 * np.eye(P)[None]
            w_, V = np.linalg.eigh(info)
            w_ = np.maximum(w_, 1e-300)
            cov = np.einsum("cij,cj,ckj->cik", V, 1.0 / w_, V)
            cov = 0.5 * (cov + np.swapaxes(cov, 1, 2)) + 1e-300 * np.eye(P)[None]
            L = _batched_cholesky(cov)
        L = np.where(np.isfinite(L), L, 0.0) * widen[:, None, None]
        chol[:, _CHOL_OFF[k]:_CHOL_OFF[k + 1]] = np.where(active[:, k][:, None], L.reshape(C, -1), 0.0)
    return chol


def _batched_cholesky(cov: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a batch [C, P, P] (small P), column by column, vectorised over the batch. A
    matrix that is not numerically positive definite gets the diagonal factor sqrt(diag) instead, decided per
    matrix: one curve's failure never changes another curve's factor (and hence its walkers' starts)."""
    C, P, _ = cov.shape
    L = np.zeros_like(cov)
    ok = np.ones(C, dtype=bool)
    with np.errstate(all="ignore"):
        for j in range(P):
            d = cov[:, j, j] - np.einsum("ck,ck->c", L[:, j, :j], L[:, j, :j])
            ok &= np.isfinite(d) & (d > 0)
            ljj = np.sqrt(np.where(ok, d, 1.0))
            L[:, j, j] = ljj
            if j + 1 < P:
                L[:, j + 1:, j] = (cov[:, j + 1:, j] - np.einsum("cik,ck->ci", L[:, j + 1:, :j], L[:, j, :j])) / ljj[:, None]
    ok &= np.isfinite(L).all(axis=(1, 2))
    diag = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))[:, :, None] * np.eye(P)[None]
    return np.where(ok[:, None, None], L, diag)


def _autocorr_time(trace: np.ndarray) -> np.ndarray:
    """Integrated autocorrelation time of each row (Sokal's automatic window, c = 5), vectorised by FFT."""
    C, T = trace.shape
    out = np.full(C, np.nan)
    ok = np.isfinite(trace).all(axis=1) & (T > 1)
    if not ok.any():
        return out
    x = trace[ok] - trace[ok].mean(axis=1, keepdims=True)
    n = 1 << int(np.ceil(np.log2(2 * T)))
    f = np.fft.rfft(x, n=n, axis=1)
    acf = np.fft.irfft(f * np.conj(f), n=n, axis=1)[:, :T]
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = acf / acf[:, :1]
    taus = 2.0 * np.cumsum(acf, axis=1) - 1.0
    m = np.arange(T)[None, :]
    win = m >= 5.0 * taus
    first = np.where(win.any(axis=1), win.argmax(axis=1), T - 1)
    tau = taus[np.arange(len(first)), first]
    tau = np.where(np.isfinite(tau), np.maximum(tau, 1.0), 1.0)  # a constant trace has tau 1
    out[ok] = tau
    return out


class Extrapolation:
    """Posterior of the learning-curve ensemble for every curve (see :func:`extrapolate`).

    Attributes: ``samples`` [curves, S, dim] posterior draws of (family parameters, weights, sigma) on the
    normalised scale; ``families`` the families used; ``diagnostics`` a DataFrame with status, acceptance rate
    and integrated autocorrelation time per curve; ``summary`` the predictive at the horizon.
    """

    def __init__(self, keys, by, x, y, horizon, active, samples, status, accept, tau, worst, scale, sign,
                 n_points, last_x, last_y, seed, quantiles, hashes):
        self.keys, self.by, self.x, self.y = keys, by, x, y
        self.horizon = horizon
        self.active = active
        self.samples = samples
        self._status = status
        self.acceptance = accept
        self.tau = tau
        self._worst, self._scale, self._sign = worst, scale, sign
        self.n_points, self.last_x, self.last_y = n_points, last_x, last_y
        self.seed = seed
        self.quantiles = tuple(quantiles)
        self._hashes = hashes  # uint64 [C] random-stream keys of the curves (_data.curve_hashes)

    @property
    def index(self) -> pd.Index:
        return key_index(self.keys, self.by)

    @property
    def n_curves(self) -> int:
        return self.samples.shape[0]

    @property
    def families(self) -> list:
        return [f for f, a in zip(_FAMS, self.active.any(axis=0)) if a]

    @property
    def ok(self) -> np.ndarray:
        return self._status == Status.CONVERGED

    @property
    def status(self) -> pd.Series:
        names = [Status(int(s)).name for s in self._status]
        return pd.Series(names, index=self.index, name="status")

    @property
    def mode(self) -> pd.Series:
        """"max" (larger is better) or "min" per curve: as given, or inferred from the curve's own trend."""
        return pd.Series(np.where(self._sign > 0, "max", "min"), index=self.index, name="mode")

    @property
    def diagnostics(self) -> pd.DataFrame:
        return pd.DataFrame({"status": self.status.to_numpy(), "mode": self.mode.to_numpy(),
                             "acceptance": self.acceptance, "tau": self.tau, "n_points": self.n_points},
                            index=self.index)

    # ---- scale mapping ---------------------------------------------------------------------------
    def _to_user(self, z: np.ndarray) -> np.ndarray:
        """Normalised scale -> the user's metric; z has curves on axis 0."""
        sh = (-1,) + (1,) * (z.ndim - 1)
        return self._sign.reshape(sh) * (self._worst.reshape(sh) + (z - _LO) * self._scale.reshape(sh) / (_HI - _LO))

    def _to_norm(self, v: np.ndarray) -> np.ndarray:
        sh = (-1,) + (1,) * (v.ndim - 1)
        return _LO + (self._sign.reshape(sh) * v - self._worst.reshape(sh)) * (_HI - _LO) / self._scale.reshape(sh)

    def _steps(self, steps) -> np.ndarray:
        s = np.asarray(steps, dtype=np.float64)
        if s.ndim == 0:
            s = np.full((self.n_curves, 1), float(s))
        elif s.ndim == 1:
            s = np.tile(s, (self.n_curves, 1))
        if s.shape[0] != self.n_curves:
            raise ValueError(f"steps: expected a scalar, a 1-d array, or one row per curve ({self.n_curves})")
        if np.any(~(s >= 1)):
            raise ValueError("steps must be >= 1")
        return np.ascontiguousarray(s)

    def mean_samples(self, steps, normalised: bool = False) -> np.ndarray:
        """Ensemble value (without observation noise) of every posterior draw at ``steps``: [curves, S, T]."""
        t = self._steps(steps)
        mu = _core.ensemble_eval(self.samples, self.active.astype(np.uint8), t, 0)
        return mu if normalised else self._to_user(mu)

    def predictive_samples(self, steps, normalised: bool = False) -> np.ndarray:
        """Posterior predictive draws (ensemble value + Gaussian noise) at ``steps``: [curves, S, T]."""
        mu = self.mean_samples(steps, normalised=True)
        sig = self.samples[:, :, -1][:, :, None]
        C, S, T = mu.shape  # noise from the curve's own Philox stream: independent of the other curves
        eps = _core.keyed_normals(self._hashes, self.seed, _NOISE_STREAM, S * T).reshape(C, S, T)
        z = mu + sig * eps
        return z if normalised else self._to_user(z)

    def predict(self, steps=None, quantiles: Optional[Sequence[float]] = None) -> pd.DataFrame:
        """Posterior predictive at ``steps`` (default: the horizon) for every curve: the ``by`` columns, the x
        column, ``mean``, ``std`` and one column per quantile (``q05``, ``q50``, ``q95`` by default)."""
        qs = self.quantiles if quantiles is None else _quantiles(quantiles)
        t = self._steps(self.horizon[:, None] if steps is None else steps)
        d = self.predictive_samples(t)  # [C, S, T]
        C, S, T = d.shape
        ds = np.sort(np.where(np.isfinite(d), d, np.nan), axis=1)
        k = np.sum(~np.isnan(ds), axis=1)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = np.nansum(ds, axis=1) / k
            dev = ds - mean[:, None, :]
            # scaled by the largest deviation, so that values of ~1e300 do not overflow when squared
            m = np.max(np.where(np.isnan(dev), 0.0, np.abs(dev)), axis=1)
            ms = np.where(m > 0, m, 1.0)
            std = m * np.sqrt(np.nansum((dev / ms[:, None, :]) ** 2, axis=1) / np.maximum(k - 1, 1))
        out = self.keys.loc[np.repeat(np.arange(C), T)].reset_index(drop=True) if self.by else pd.DataFrame(
            {"curve": np.repeat(np.arange(C), T)})
        out[self.x] = t.reshape(-1)
        out["mean"] = mean.reshape(-1)
        out["std"] = np.where(k > 1, std, np.nan).reshape(-1)
        for q in qs:
            out[f"q{round(100 * q):02d}"] = sorted_quantile(ds, q).reshape(-1)
        return out

    @property
    def summary(self) -> pd.DataFrame:
        """Predictive at the horizon, one row per curve, with the diagnostics."""
        p = self.predict()
        p.index = self.index
        p = p.drop(columns=[c for c in self.by if c in p.columns] + (["curve"] if not self.by else []))
        return pd.concat([p, self.diagnostics], axis=1)

    def log_likelihood(self, steps, values) -> np.ndarray:
        """Log posterior predictive density of observed ``values`` [curves] (or [curves, T]) at ``steps``:
        log mean_s N(v | mu_s, sigma_s^2), in the user's units. NaN for failed curves."""
        t = self._steps(steps)
        v = np.asarray(values, dtype=np.float64).reshape(self.n_curves, -1)
        mu = self.mean_samples(t, normalised=True)  # [C, S, T]
        z = self._to_norm(v)[:, None, :]
        sig = self.samples[:, :, -1][:, :, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            lp = -0.5 * ((z - mu) / sig) ** 2 - np.log(sig) - 0.5 * np.log(2 * np.pi)
            m = np.max(np.where(np.isfinite(lp), lp, -np.inf), axis=1, keepdims=True)
            m = np.where(np.isfinite(m), m, 0.0)
            k = np.sum(np.isfinite(lp), axis=1)
            ll = m[:, 0] + np.log(np.nansum(np.exp(lp - m), axis=1) / k)
            ll = ll + np.log((_HI - _LO) / self._scale)[:, None]  # Jacobian of the normalisation
        ll = np.where(self.ok[:, None] & (k > 0), ll, np.nan)
        return ll[:, 0] if ll.shape[1] == 1 else ll

    def __repr__(self) -> str:
        return f"<Extrapolation curves={self.n_curves} ok={int(self.ok.sum())} families={len(self.families)}>"


def _per_curve(v, C: int, name: str, index: Optional[pd.Index] = None) -> np.ndarray:
    """A scalar, an array in curve order, or a Series indexed by the curves' keys -> [C] floats."""
    if isinstance(v, pd.Series) and index is not None:
        r = v.reindex(index)
        if r.isna().any():
            raise ValueError(f"{name}: no value for curve {show(r.index[np.flatnonzero(r.isna().to_numpy())[0]])}")
        try:
            return r.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers, got dtype {r.dtype}") from None
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or one number per curve, got {type(v).__name__} {plain(v)!r}") from None
    if a.ndim == 0:
        return np.full(C, float(a))
    a = a.reshape(-1)
    if len(a) != C:
        raise ValueError(f"{name}: expected a scalar or one value per curve ({C}), got {len(a)}")
    return a


def _quantiles(q) -> tuple:
    """``quantiles``: a sequence of levels in (0, 1), as a tuple of floats."""
    if isinstance(q, (str, bytes)) or not hasattr(q, "__iter__"):
        raise ValueError(f"quantiles must be a sequence of levels in (0, 1), e.g. (0.05, 0.5, 0.95), got "
                         f"{type(q).__name__} {plain(q)!r}")
    out = tuple(check_prob("quantiles", v) for v in q)
    if not out:
        raise ValueError("quantiles must hold at least one level in (0, 1)")
    return out


def _metric_range(ymin: np.ndarray, ymax: np.ndarray, is_max: np.ndarray, bounds) -> tuple:
    """The metric's range (lower [C], upper [C]) of every curve: ``bounds`` when given, else inferred from the
    curve's own observed values (ymin, ymax [C]; NaN for an empty curve), so no curve's range depends on
    another's: [0, 1] or [0, 100] for accuracy-like curves inside them, [0, inf) for non-negative values,
    unbounded otherwise."""
    C = len(ymin)
    if bounds is not None:
        lo, hi = (float(bounds[0]) if bounds[0] is not None else -np.inf,
                  float(bounds[1]) if bounds[1] is not None else np.inf)
        if not lo < hi:
            raise ValueError(f"bounds: lower must be < upper, got {show(bounds)}")
        return np.full(C, lo), np.full(C, hi)
    with np.errstate(invalid="ignore"):
        nonneg = ymin >= 0
        lo = np.where(nonneg, 0.0, -np.inf)
        hi = np.where(is_max & nonneg & (ymax <= 1), 1.0,
                      np.where(is_max & nonneg & (ymax <= 100), 100.0, np.inf))
    return lo, hi


@with_progress("lawfit extrapolate")
def extrapolate(
    data,
    *,
    x: str,
    y: str,
    by: Union[None, str, Sequence[str]] = None,
    horizon,
    families: Union[str, Sequence[str]] = "domhan",
    samples: int = 1000,
    seed: int = 0,
    mode: Optional[str] = None,
    bounds: Optional[tuple] = None,
    walkers: Optional[int] = None,
    steps: int = 200,
    burn: Optional[int] = None,
    de_fraction: float = 0.2,
    init_spread: float = 1.0,
    init_sigma: float = 1.0,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
    threads: Optional[int] = None,
    reference=None,
    schedule=None,
    lr: Optional[str] = None,
    match_within=None,
    loo_group=None,
    compute: bool = True,
):
    """Posterior predictive of every learning curve of ``data`` at later steps.

    Parameters
    ----------
    x, y, by: step column (epochs/steps, >= 1; smaller steps are ignored), metric column, curve key column(s).
    horizon: the step to extrapolate to: a scalar, an array in curve order, or a Series indexed by the curve
        keys; also the t_max of the improvement prior. It must exceed each curve's last observed step: a curve
        observed at or beyond its horizon is not sampled and gets the status INVALID_INPUT (NaN samples and
        predictions), like any other curve that cannot be extrapolated; the other curves are unaffected. A curve
        whose values come within a factor ~1e3 of the largest double (e.g. 1e308), so that its forecast would
        overflow, gets the status NON_FINITE.
    families: "domhan" (the 11 families of Domhan et al. 2015), "lcpfn" (pow3, ilog2, janoschek), "all", or a
        list of family names.
    samples: posterior draws kept per curve (curves x samples x dim x 8 bytes must fit in memory, else
        ValueError before anything is allocated). seed: chains are keyed by (seed, hash of the curve's key,
        step); an integer in [0, 2**64).
    quantiles: levels in (0, 1) of the quantile columns of :meth:`Extrapolation.predict` (checked here).
    threads: worker threads (None or 0, the default: all cores; at most 4 x the cores are used).
    mode: "max" (accuracy-like) or "min" (loss-like) for every curve; default: inferred per curve from its own
        trend (the mean of its last third of points against its first third; ties give "max"), reported in
        ``Extrapolation.mode``. Give it when known: a short noisy curve can look like the opposite.
    bounds: the metric's range (lower, upper); default, per curve from its own values: [0, 1] or [0, 100] for
        accuracy-like curves inside them, [0, inf) for non-negative values, unbounded otherwise.
    Each curve is normalised, ranged and sampled on its own (random streams keyed by the hash of its key), so
    adding or removing other curves never changes its forecast.
    walkers, steps, burn: sampler settings (defaults: walkers 2 * dim + 2, where dim counts the parameters,
        weights and sigma of the families in use (98 for "domhan"); 200 steps; burn steps // 2). walkers >= 3; an odd
        count is rounded up to the next even one (the stretch move updates two halves of the ensemble in turn).
    de_fraction: fraction of steps (default 0.2) that use the differential-evolution move (ter Braak 2006)
        instead of the stretch move (Goodman & Weare 2010); both are affine-invariant ensemble moves.
    init_spread, init_sigma: where the walkers start. Each walker draws sigma log-normally around the
        least-squares ensemble's residual RMS (sd of log sigma: ``init_sigma``), and each family's parameters
        from its least-squares fit's Laplace covariance at that sigma, widened by sqrt(families) and
        multiplied by ``init_spread``; weights from a flat Dirichlet. Starting at the posterior's scale, the
        chains need no long expansion phase and the predictive is not overconfident after few steps.
        ``init_spread=0`` starts in a 1e-3 relative ball around the least-squares start instead (Domhan's and
        emcee's habit; needs thousands of steps).
    reference: other curves of the same sweep observed to the horizon (finished runs), in the same columns. With
        it the forecast is sweep-aware: each curve is forecast from its nearest reference curves and its
        quantiles are calibrated on the reference (split-conformal), and a :class:`lawfit.reference.
        ReferenceForecast` is returned (``summary``, ``predict()``, ``baselines``, ``skill(truth)``,
        ``prob_better(best)``); the sampler settings are not used. See docs/forecasting.md.
        ``reference="self"``: the curves of this call are the reference. Curves observed to the horizon (at
        least 20) serve as the reference for the shorter ones. If there are fewer, every curve is cut earlier and
        the cut curves are their own reference.
        The ensemble is backtested on them, which gives a shrinkage toward the last value and split-conformal
        quantiles; a curve that has not moved keeps its last value. This costs about twice the plain call. It
        returns a ReferenceForecast, whose forecasts depend on the batch as a whole, by design.
    match_within, loo_group: with a reference, ``by`` column(s): a neighbour must share the target's values of
        ``match_within`` (e.g. the metric, when one call holds several), and the reference's leave-one-out
        calibration leaves out every curve that shares the held-out curve's ``loo_group`` values (e.g. the run:
        its other metrics are near-copies that would make the intervals too narrow).
    schedule, lr: schedule-aware forecasts of loss curves (x counts optimizer steps, integers >= 0). ``schedule``:
        the runs' learning-rate schedule, a :class:`lawfit.schedules.Schedule` (``lawfit.schedules.cosine(total=,
        warmup=, final=)``, ``linear``, ``wsd``, ``constant``; its fields may name columns); or ``lr``: a column
        holding the LR of each row, where rows without a value of ``y`` carry the planned LR of future steps (held
        constant past the last row). Each curve is then forecast with the LR-annealing law of Tissue et al. 2024
        (the catalogue's lr_annealing) under a prior on its annealing gain, from the reference curves (empirical
        Bayes, split-conformal quantiles) or, without one, the default measured on the OLMo ladder; returns a
        :class:`lawfit.reference.ReferenceForecast` (method "lr_annealing ..."). The sampler settings are not used
        (``samples``: predictive draws per curve). See docs/forecasting.md.
    compute: for a Dask DataFrame / Ray Dataset ``data`` (run partition by partition on the current cluster, the same
        results: :mod:`lawfit.distributed`), False returns a lazy frame of the per-curve ``summary`` instead.
    """
    if compute is not True or is_distributed(data):  # a Dask DataFrame / Ray Dataset: lawfit.distributed
        return distributed.dispatch("extrapolate", locals())
    if mode not in (None, "max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {show(mode)}")
    samples = check_int("samples", samples, 1)
    seed = check_seed(seed, op="extrapolate")
    threads = resolve_threads(threads, op="extrapolate")
    steps = check_int("steps", steps, 1, INT32_LIMIT)
    burn = steps // 2 if burn is None else check_int("burn", burn, 0, steps)
    if walkers is not None:
        walkers = check_int("walkers", walkers, 3, INT32_LIMIT - 1)  # (an odd count is rounded up: at least 4)
    de_fraction = check_real("de_fraction", de_fraction)
    if not 0.0 <= de_fraction <= 1.0:
        raise ValueError(f"de_fraction must be in [0, 1], got {show(de_fraction)}")
    init_spread, init_sigma = check_real("init_spread", init_spread), check_real("init_sigma", init_sigma)
    if not (init_spread >= 0 and init_sigma >= 0):
        raise ValueError(f"init_spread and init_sigma must be >= 0, got {show(init_spread)}, {show(init_sigma)}")
    quantiles = _quantiles(quantiles)
    x, y = check_label("x", x), check_label("y", y)
    df = to_pandas(data)
    for c, role in [(x, "x"), (y, "y")] + [(c, "by") for c in as_list(by)]:
        if not has_column(df, c, role):
            raise ValueError(f"{role} column {show(c)} not found; columns are: {', '.join(map(str, df.columns))}")
    if (match_within is not None or loo_group is not None) and (reference is None or isinstance(reference, str)
                                                                or schedule is not None or lr is not None):
        raise ValueError("match_within and loo_group shape the nearest-reference forecast: they need reference= "
                         "a frame of finished curves (and no schedule= / lr=)")
    if schedule is not None or lr is not None:
        from .schedule_forecast import forecast_schedule

        lr = None if lr is None else check_label("lr", lr)
        return forecast_schedule(df, reference, x=x, y=y, by=as_list(by), horizon=horizon, schedule=schedule, lr=lr,
                                 mode=mode or "min", quantiles=quantiles, samples=samples, seed=seed,
                                 threads=threads, per_curve=_per_curve)
    if isinstance(reference, str) and reference == "self":
        from .reference import forecast_self

        kw = dict(families=families, samples=samples, seed=seed, bounds=bounds, walkers=walkers, steps=steps,
                  burn=burn, de_fraction=de_fraction, init_spread=init_spread, init_sigma=init_sigma,
                  threads=threads or None)
        return forecast_self(df, x=x, y=y, by=as_list(by), horizon=horizon, mode=mode, quantiles=quantiles,
                             threads=threads, per_curve=_per_curve, ensemble_kw=kw)
    if reference is not None:
        from .reference import forecast_from_reference

        return forecast_from_reference(df, reference, x=x, y=y, by=as_list(by), horizon=horizon, mode=mode,
                                       quantiles=quantiles, threads=threads, per_curve=_per_curve,
                                       match_within=match_within, loo_group=loo_group)
    active_fams = _families(families)
    tcol = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=np.float64)
    ycol = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(tcol) & (tcol >= 1) & np.isfinite(ycol)
    b = make_batch(df.assign(**{x: tcol, y: ycol}), [x], y, by, None, "status")
    # Rows that do not take part get weight 0 and are then dropped from the CSR arrays.
    keep_b = keep if b.order is None else keep[b.order]
    counts = np.bincount(np.repeat(np.arange(b.n_curves), np.diff(b.offsets))[keep_b], minlength=b.n_curves)
    offsets = np.zeros(b.n_curves + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    t = np.ascontiguousarray(b.X[keep_b, 0])
    yv = np.ascontiguousarray(b.y[keep_b])
    C = b.n_curves
    seg = np.repeat(np.arange(C), counts)
    # Sort each curve by step.
    order = np.lexsort((t, seg))
    t, yv = t[order], yv[order]
    nz = counts > 0
    starts = offsets[:-1]

    def reduce(fn, v, empty=np.nan):
        out = np.full(C, empty)
        if nz.any():
            out[nz] = fn.reduceat(v, starts[nz])
        return out

    if mode is None:
        # Per curve, from its own trend: the mean of its last third of points against its first third.
        pos = np.arange(len(yv)) - starts[seg] if len(yv) else np.zeros(0, dtype=np.int64)
        third = np.maximum(counts // 3, 1)
        head = reduce(np.add, np.where(pos < third[seg], yv, 0.0), 0.0)
        tail = reduce(np.add, np.where(pos >= (counts - third)[seg], yv, 0.0), 0.0)
        is_max = ~(tail < head)  # ties and empty curves: "max"
    else:
        is_max = np.full(C, mode == "max")
    sign = np.where(is_max, 1.0, -1.0)
    lo_m, hi_m = _metric_range(reduce(np.minimum, yv), reduce(np.maximum, yv), is_max, bounds)
    sy = yv * sign[seg]
    worst = reduce(np.minimum, sy)
    best = reduce(np.maximum, sy)
    ymag = reduce(np.maximum, np.abs(yv))
    # Unit of the metric: its range when bounded, else the curve's magnitude. The observed span is floored
    # at 1% of it (flat curves) and the noise sigma at 0.1% of it.
    unit = np.where(np.isfinite(hi_m - lo_m), hi_m - lo_m, np.maximum(ymag, 1e-12))
    unit = np.where(np.isfinite(unit) & (unit > 0), unit, 1.0)
    scale = np.maximum(best - worst, 1e-2 * unit)
    scale = np.where(np.isfinite(scale), scale, 1.0)
    worst = np.where(np.isfinite(worst), worst, 0.0)
    sigma_min = np.minimum(_SIGMA_MIN_REL * unit * (_HI - _LO) / scale, 0.5)
    z = _LO + (sy - worst[seg]) * (_HI - _LO) / scale[seg]
    # Metric range on the normalised scale (flipped for "min").
    rlo_u, rhi_u = np.where(is_max, lo_m, -hi_m), np.where(is_max, hi_m, -lo_m)
    with np.errstate(invalid="ignore"):
        rlo = _LO + (rlo_u - worst) * (_HI - _LO) / scale
        rhi = _LO + (rhi_u - worst) * (_HI - _LO) / scale
    rlo = np.where(np.isnan(rlo), -np.inf, rlo)
    rhi = np.where(np.isnan(rhi), np.inf, rhi)
    hz = _per_curve(horizon, C, "horizon", key_index(b.keys, b.by))
    if np.any(~(hz >= 1)):
        raise ValueError("horizon must be >= 1")
    last_x = reduce(np.maximum, t)
    # A horizon at or before a curve's last observed step is no extrapolation: that curve gets the status
    # INVALID_INPUT (NaN samples) and is not sampled; the other curves are not affected.
    in_sample = nz & ~(hz > last_x)
    # A curve whose values span or reach nearly the largest double (e.g. 1e308) cannot be mapped back from the
    # normalised scale without overflowing (its forecast would be inf or NaN): it is not sampled either and gets
    # the status NON_FINITE.
    with np.errstate(over="ignore", invalid="ignore"):
        overflow = nz & ~np.isfinite(np.abs(worst) + _OVERFLOW_SPAN * scale / (_HI - _LO))
    # The sampler's output: samples [C, samples, dim] and the trace [C, steps - burn], float64.
    check_alloc("extrapolate", float(C) * (samples * _DIM + (steps - burn)) * 8.0,
                f"samples={samples} draws x {C} curve(s) x {_DIM} coordinates",
                "Lower samples (1000 draws give stable quantiles) or extrapolate fewer curves at a time.")
    tmax = np.maximum(hz, np.where(np.isfinite(last_x), last_x, 1.0))

    # 1. Least-squares fit of every family to every curve (one batched call per family).
    init = np.zeros((C, _DIM))
    active = np.zeros((C, _K), dtype=bool)
    X1 = t.reshape(-1, 1)
    for k, name in enumerate(_FAMS):
        if not active_fams[k]:
            continue
        spec = get_law(name)
        lo_b = np.array(spec.lower, dtype=np.float64)
        hi_b = np.array(spec.upper, dtype=np.float64)
        r = spec._fit(offsets=offsets, x=X1, y=z, w=None, lower=lo_b, upper=hi_b,
                      starts=_lsq_starts(spec), project_linear=True, seed=int(seed), loss=0, delta=1.0,
                      space=0, ftol=_LSQ_TOL, xtol=_LSQ_TOL, gtol=_LSQ_TOL, max_iter=_LSQ_MAX_ITER,
                      threads=int(threads or 0), want_cov=False, varpro=False)
        p = np.asarray(r["params"])
        st = np.asarray(r["status"])
        ok = (st == Status.CONVERGED) | (st == Status.MAX_ITER)
        p = np.where(ok[:, None], p, np.asarray(spec.default_starts()[0])[None, :])
        p = np.where(np.isfinite(p), p, 0.0)
        ends = np.column_stack([np.full(C, 2.0), tmax]).reshape(-1, 1)
        v = np.asarray(spec._eval(np.ascontiguousarray(ends), np.ascontiguousarray(np.repeat(p, 2, axis=0)))).reshape(C, 2)
        with np.errstate(invalid="ignore"):
            valid = ok & (v[:, 0] <= v[:, 1]) & (v[:, 1] >= rlo) & (v[:, 1] <= rhi) & np.isfinite(v).all(axis=1)
            valid &= np.all((p >= lo_b) & (p <= hi_b), axis=1)
        init[:, _OFF[k]:_OFF[k + 1]] = p
        active[:, k] = valid
    # A curve that no family fits as an improving curve (e.g. one that gets worse) starts from a constant at
    # its mean, as pow3 (a = 0) or ilog2 (a = 0) when one of them is in the ensemble.
    none = (~active.any(axis=1)) & (counts > 0)
    zmean = reduce(np.add, z, 0.0) / np.maximum(counts, 1)
    none &= (zmean >= rlo) & (zmean <= rhi)
    for name, const in (("pow3", lambda m: np.column_stack([m, 0 * m, 0 * m + 1.0])),
                        ("ilog2", lambda m: np.column_stack([m, 0 * m]))):
        k = _FAMS.index(name)
        if active_fams[k] and none.any():
            init[none, _OFF[k]:_OFF[k + 1]] = const(zmean[none])
            active[none, k] = True
            none[:] = False
    n_act = active.sum(axis=1)
    init[:, _PSUM:_PSUM + _K] = np.where(active, 1.0 / np.maximum(n_act, 1)[:, None], 0.0)
    # Initial sigma: RMS residual of the initial ensemble.
    res = np.zeros(len(t))
    for k in range(_K):
        if not active_fams[k]:
            continue
        spec = get_law(_FAMS[k])
        pk = np.ascontiguousarray(init[seg, _OFF[k]:_OFF[k + 1]])
        fk = np.asarray(spec._eval(np.ascontiguousarray(X1), pk)) if len(t) else np.zeros(0)
        res += np.where(active[seg, k], init[seg, _PSUM + k] * np.where(np.isfinite(fk), fk, 0.0), 0.0)
    rms = np.sqrt(reduce(np.add, (z - res) ** 2, 0.0) / np.maximum(counts, 1))
    init[:, -1] = np.clip(np.where(np.isfinite(rms), rms, 0.01), 2 * sigma_min, 1.0)

    chol = _start_factors(t, seg, offsets, init, active, active_fams) if init_spread > 0 else None
    active[in_sample | overflow] = False  # not sampled (the sampler fails a curve without families at once)

    # 2. The sampler, all curves at once.
    dim_act = (active * (np.array(_NP) + 1)).sum(axis=1) + 1
    W = walkers if walkers is not None else int(2 * max(int(dim_act.max()) if C else 1, 1) + 2)
    W += W % 2
    burn_ = burn
    out = _core.mcmc_domhan(offsets, np.ascontiguousarray(t), np.ascontiguousarray(z), np.ascontiguousarray(tmax),
                            np.ascontiguousarray(rlo), np.ascontiguousarray(rhi), np.ascontiguousarray(init),
                            np.ascontiguousarray(active.astype(np.uint8)), np.ascontiguousarray(sigma_min), W, int(steps), burn_,
                            samples, seed, threads, de_fraction,
                            chol if init_spread > 0 else None, float(init_spread), float(init_sigma),
                            keys=b.hashes)
    status = np.asarray(out["status"]).astype(np.int64)
    status[in_sample] = int(Status.INVALID_INPUT)
    status[overflow & ~in_sample] = int(Status.NON_FINITE)
    tau = _autocorr_time(np.asarray(out["trace"]))
    last_y = np.where(nz, yv[np.maximum(offsets[1:] - 1, 0)] if len(yv) else np.nan, np.nan)
    ex = Extrapolation(b.keys, b.by, x, y, hz, active, np.asarray(out["samples"]), status,
                       np.asarray(out["accept"]), tau, worst, scale, sign, counts, last_x, last_y, seed, quantiles,
                       b.hashes)
    # The sampler's inputs on the normalised scale (for baselines and diagnostics).
    ex.problem = dict(offsets=offsets, t=t, z=z, t_max=tmax, range_lo=rlo, range_hi=rhi, init=init, active=active,
                      sigma_min=sigma_min, walkers=W, steps=steps, burn=burn_, init_chol=chol)
    return ex


@with_progress("lawfit should_stop")
def should_stop(
    data,
    *,
    x: str,
    y: str,
    by: Union[None, str, Sequence[str]] = None,
    horizon,
    best: float,
    mode: str = "max",
    threshold: float = 0.05,
    level: float = 0.9,
    criterion: str = "conservative",
    std_threshold: Optional[float] = None,
    reference=None,
    **kwargs,
) -> pd.DataFrame:
    """Domhan et al. 2015's early-stopping rule for every curve: stop when P(y(horizon) beats ``best``) <
    ``threshold`` (see :func:`decide` for the full criterion: no best yet, optimistic / conservative, the
    predictive-sd threshold). Without ``reference`` the probability comes from the single-curve ensemble,
    mean_s [1 - Phi((best - f_s(horizon)) / sigma_s)]; with ``reference`` (finished runs of the same sweep) from
    the sweep-aware, calibrated forecast (``extrapolate(..., reference=)``).

    Returns a DataFrame indexed by curve: ``stop`` (bool; a curve whose forecast failed never stops), ``reason``,
    ``p_better``, ``predicted``, ``low``/``high`` (central ``level`` interval), ``sd`` and ``status``. Extra keyword
    arguments go to :func:`extrapolate`."""
    if is_distributed(data) or kwargs.get("compute", True) is not True:  # Dask / Ray: lawfit.distributed
        return distributed.dispatch("should_stop", locals())
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {show(mode)}")
    threshold, level = check_prob("threshold", threshold), check_prob("level", level)
    ex = extrapolate(data, x=x, y=y, by=by, horizon=horizon, mode=mode, reference=reference, **kwargs)
    return decide(ex, best, threshold=threshold, level=level, criterion=criterion, std_threshold=std_threshold)


CRITERIA = ("conservative", "optimistic")


def decide(ex, best, threshold: float = 0.05, level: float = 0.9, criterion: str = "conservative",
           std_threshold: Optional[float] = None) -> pd.DataFrame:
    """The stop/continue decision of :func:`should_stop` from an existing forecast: an :class:`Extrapolation`
    (single-curve ensemble) or a :class:`lawfit.reference.ReferenceForecast` (``extrapolate(..., reference=)``),
    so that one forecast serves many decisions (a pruner, several thresholds).

    Domhan et al. 2015's criterion: with p = P(value at the horizon beats ``best``),
      * no best yet (``best`` None or NaN for the curve): continue;
      * p < ``threshold``: stop (the run is unlikely to become the best);
      * criterion="optimistic" also stops a run whose outcome is already known: predictive sd at the horizon
        (central ``level`` interval width / (2 z)) below ``std_threshold`` (in y units; Domhan: 0.005 on a 0-1
        accuracy); "conservative" (default) only stops on p.
    Returns ``stop``, ``reason`` (continue / no best yet / unlikely to beat best / outcome known / forecast
    failed), ``p_better``, ``predicted``, ``low``/``high`` (central ``level`` interval), ``sd`` and ``status``."""
    from statistics import NormalDist

    from .reference import ReferenceForecast

    threshold, level = check_prob("threshold", threshold), check_prob("level", level)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {list(CRITERIA)}, got {show(criterion)}")
    if criterion == "optimistic":
        if std_threshold is None:
            raise ValueError("criterion='optimistic' needs std_threshold (the predictive sd, in y units, below which "
                             "a run's outcome counts as known; Domhan et al. used 0.005 on accuracy in [0, 1])")
        std_threshold = check_real("std_threshold", std_threshold)
        if not std_threshold >= 0:
            raise ValueError(f"std_threshold must be >= 0, got {show(std_threshold)}")
    if not isinstance(ex, (Extrapolation, ReferenceForecast)):
        raise TypeError(f"decide: ex must be an Extrapolation or a ReferenceForecast, got {type(ex).__name__}")
    C = ex.n_curves
    if best is None:
        bst = np.full(C, np.nan)
    else:
        bst = _per_curve(best, C, "best", ex.index)
    q = ((1 - level) / 2, 1 - (1 - level) / 2)
    if isinstance(ex, ReferenceForecast):
        p = ex.prob_better(bst)
        predicted = ex.median.copy()
        low, high = ex.quantiles_at(q).T
    else:
        mu = ex.mean_samples(ex.horizon[:, None], normalised=True)[:, :, 0]  # [C, S]
        sig = ex.samples[:, :, -1]
        bz = ex._to_norm(bst.reshape(C, 1))  # [C, 1]: larger is better on this scale
        with np.errstate(invalid="ignore", divide="ignore"):
            pbs = 1.0 - norm_cdf((bz - mu) / sig)
        k = np.sum(np.isfinite(pbs), axis=1)
        p = np.where(k > 0, np.nansum(np.where(np.isfinite(pbs), pbs, 0.0), axis=1) / np.maximum(k, 1), np.nan)
        pr = ex.predict(quantiles=q)
        qcols = [c for c in pr.columns if c.startswith("q")]
        predicted, low, high = pr["mean"].to_numpy(), pr[qcols[0]].to_numpy(), pr[qcols[-1]].to_numpy()
    sd = (high - low) / (2.0 * NormalDist().inv_cdf(q[1]))
    has_best = np.isfinite(bst)
    ok = ex.ok & np.isfinite(predicted)
    unlikely = ok & has_best & np.isfinite(p) & (p < threshold)
    known = ok & (criterion == "optimistic") & np.isfinite(sd) & (sd < (std_threshold or 0.0)) & ~unlikely
    reason = np.where(~ok, "forecast failed", np.where(unlikely, "unlikely to beat best",
                      np.where(known, "outcome known", np.where(has_best, "continue", "no best yet"))))
    return pd.DataFrame({
        "stop": unlikely | known,
        "reason": reason,
        "p_better": np.where(has_best, p, np.nan),
        "predicted": predicted,
        "low": low,
        "high": high,
        "sd": sd,
        "status": ex.status.to_numpy(),
    }, index=ex.index)


# ---- chained forecasts -----------------------------------------------------------------------------
def _param_draws(res, n: int, rng) -> np.ndarray:
    """[curves, n, P] parameter draws: bootstrap samples when present, else the normal approximation."""
    S = res.bootstrap_samples
    if S is not None:
        idx = rng.integers(0, S.shape[1], size=n)
        return S[:, idx, :]
    P = res.law.n_params
    cov = np.where(np.isfinite(res._cov), res._cov, 0.0) + 1e-300 * np.eye(P)
    w, V = np.linalg.eigh(cov)
    L = V * np.sqrt(np.clip(w, 0, None))[:, None, :]
    e = rng.standard_normal((res.n_curves, n, P))
    return res._params[:, None, :] + np.einsum("cij,cnj->cni", L, e)


def chain_predict(first, second, new_data, *, level: float = 0.9, samples: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Two-step forecast, e.g. the OLMo ladder: ``first`` predicts an intermediate quantity (the loss from
    (N, D)), ``second`` maps it to the target (accuracy from loss). Uncertainty is carried through both steps
    by sampling: parameter draws of each fit (its bootstrap samples when :meth:`FitResult.bootstrap` was run,
    else the normal approximation from its covariance) are combined draw by draw.

    ``new_data`` needs the first fit's x and by columns, and the second fit's by columns (if any). Returns the
    rows' keys and x with ``mid_pred``/``mid_low``/``mid_high`` (step 1) and ``y_pred``/``y_low``/``y_high``,
    with the index of ``new_data`` (as :meth:`FitResult.predict`: ``df["acc"] = chain_predict(f1, f2, df).y_pred``
    lines up; a dict or an Arrow table gets 0..n-1)."""
    level = check_prob("level", level)
    samples = check_int("samples", samples, 1)
    seed = check_seed(seed, op="chain_predict")
    if len(second.options["x"]) != 1:
        raise ValueError("chain_predict: the second fit must take one input (the first fit's output)")
    rng = np.random.default_rng(seed)
    x1 = list(first.options["x"])
    df, i1, X1 = first._rows(new_data, x1)
    m = len(df)
    # Parameter draws of both fits and the [rows, samples] values of both steps (and their sorted copies).
    check_alloc("chain_predict", 8.0 * samples * (first.n_curves * first.law.n_params
                                                  + second.n_curves * second.law.n_params + 6.0 * m),
                f"samples={samples} draws x {m} row(s)", "Lower samples or predict fewer rows at a time.")
    i2 = second._rows(df.assign(**{second.options["x"][0]: 1.0}), list(second.options["x"]))[1]
    th1 = _param_draws(first, samples, rng)  # [C1, S, P1]
    th2 = _param_draws(second, samples, rng)  # [C2, S, P2]
    Xr = np.ascontiguousarray(np.repeat(X1, samples, axis=0))
    mid = np.asarray(first.law._eval(Xr, np.ascontiguousarray(th1[i1].reshape(-1, first.law.n_params))))
    fin = np.asarray(second.law._eval(np.ascontiguousarray(mid.reshape(-1, 1)),
                                      np.ascontiguousarray(th2[i2].reshape(-1, second.law.n_params))))
    mid, fin = mid.reshape(m, samples), fin.reshape(m, samples)
    a = (1 - level) / 2
    out = df[[*first.by, *x1]].copy()  # the caller's index, as FitResult.predict keeps it
    P1 = np.ascontiguousarray(first._params[i1])
    mid_hat = np.asarray(first.law._eval(X1, P1)) if m else np.zeros(0)
    fin_hat = np.asarray(second.law._eval(np.ascontiguousarray(mid_hat.reshape(-1, 1)),
                                          np.ascontiguousarray(second._params[i2]))) if m else np.zeros(0)
    ms = np.sort(np.where(np.isfinite(mid), mid, np.nan), axis=1)
    fs = np.sort(np.where(np.isfinite(fin), fin, np.nan), axis=1)
    out["mid_pred"], out["mid_low"], out["mid_high"] = mid_hat, sorted_quantile(ms, a), sorted_quantile(ms, 1 - a)
    out["y_pred"], out["y_low"], out["y_high"] = fin_hat, sorted_quantile(fs, a), sorted_quantile(fs, 1 - a)
    return out


__all__ = ["extrapolate", "should_stop", "decide", "chain_predict", "Extrapolation", "FAMILY_SETS", "CRITERIA"]
