"""lawfit.evals: cheap, exact and interval-carrying evaluation statistics.

* :func:`pass_at_k`, :func:`pass_hat_k`: the unbiased estimators over a whole (problems x k) grid in one
  native call, in log space (exact to a few ulps; ``k > n`` raises instead of returning 1.0).
* :func:`pass_curve`: the mean over problems with an interval from a bootstrap over problems or from a Beta
  posterior per problem; :func:`pass_posterior`: per-problem posterior means and intervals.
* :func:`coverage`: coverage extrapolation, aggregate ``c(k) = exp(a k^b)`` (the catalogue law ``coverage``)
  or distributional (beta-binomial), with intervals, samples needed for a target and cost per solved problem.
* :func:`passuntil`, :func:`fit_passuntil`: PassUntil estimators and the task scaling law (catalogue law
  ``passuntil``).
* :func:`fit_irt`: batched Rasch / 2PL / multidimensional 2PL; :class:`IRTModel` estimates abilities,
  selects anchor items (tinyBenchmarks) and runs adaptive tests.

All numerical loops are in C++ (``csrc/core/evals``); nothing here loops over problems, items or models.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ._args import (COUNT_LIMIT, INT32_LIMIT, check_alloc, check_int, check_prob, check_real, check_seed,
                    resolve_threads, show)
from ._data import curve_hashes
from ._native import _core
from ._progress import with_progress
from ._status import Status

__all__ = [
    "pass_at_k",
    "pass_hat_k",
    "pass_curve",
    "pass_posterior",
    "coverage",
    "CoverageResult",
    "sample_cost",
    "passuntil",
    "fit_passuntil",
    "fit_irt",
    "IRTModel",
    "ItemSelection",
    "responses_from_long",
]

_KINDS = {"pass@k": 0, "pass^k": 1}


def _threads(threads: Optional[int]) -> int:
    """None or 0: all cores; at most 4 x the cores are used (lawfit._args.resolve_threads)."""
    return resolve_threads(threads)


def _int_array(v, name: str) -> np.ndarray:
    """Integer counts as a C-contiguous int64 vector; floats must be whole numbers."""
    try:
        a = np.asarray(v)
    except (ValueError, TypeError):  # ragged nested lists
        raise ValueError(f"argument {name!r} must be a scalar or a 1-D array of counts, got a ragged nested list") from None
    if a.dtype.kind in "USVcmMO" and not (a.dtype.kind == "O" and all(
            isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
            for x in np.atleast_1d(a).ravel())):
        raise ValueError(f"argument {name!r} must hold integer counts, got {a.dtype} values {show(v, 60)}")
    if a.dtype == bool:
        a = a.astype(np.int64)
    if a.ndim > 1:
        raise ValueError(f"argument {name!r} must be a scalar or a 1-D array, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.signedinteger):
        # Floats, unsigned and Python integers too large for int64 (object arrays): checked as floats, then
        # below 2**63 (the native core's int64), before any cast can wrap around.
        try:
            f = a.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"argument {name!r} must hold integer counts") from None
        if not np.all(np.isfinite(f)) or np.any(f != np.round(f)):
            raise ValueError(f"argument {name!r} must hold whole-number counts (no NaN, no fractions)")
        big = np.abs(f) >= float(COUNT_LIMIT)
        if np.any(big):
            i = int(np.flatnonzero(np.atleast_1d(big))[0])
            bad = np.atleast_1d(a)[i]
            raise ValueError(f"argument {name!r} must hold counts below 2**63, got {int(bad)}"
                             + (f" (entry {i})" if a.ndim else ""))
        a = np.atleast_1d(a).astype(np.int64) if np.issubdtype(a.dtype, np.integer) else f
    return np.ascontiguousarray(np.atleast_1d(a).astype(np.int64))


def _check_counts(n: np.ndarray, c: np.ndarray, k: Optional[np.ndarray]) -> None:
    if n.size == 0:
        raise ValueError("argument 'n' is empty")
    if c.shape != n.shape:
        raise ValueError(f"arguments 'n' and 'c' must have the same length ({n.size} vs {c.size})")
    if np.any(n < 1):
        i = int(np.flatnonzero(n < 1)[0])
        raise ValueError(f"argument 'n' must be >= 1 (problem {i}: n={int(n[i])})")
    if np.any(c < 0):
        i = int(np.flatnonzero(c < 0)[0])
        raise ValueError(f"argument 'c' must be >= 0 (problem {i}: c={int(c[i])})")
    if np.any(c > n):
        i = int(np.flatnonzero(c > n)[0])
        raise ValueError(f"argument 'c' must be <= n (problem {i}: c={int(c[i])} > n={int(n[i])})")
    if k is not None:
        if k.size == 0:
            raise ValueError("argument 'k' is empty")
        if np.any(k < 1):
            raise ValueError(f"argument 'k' must be >= 1, got {int(k.min())}")
        if int(k.max()) > int(n.min()):
            raise ValueError(
                f"argument 'k' = {int(k.max())} exceeds n = {int(n.min())} (the number of samples of problem "
                f"{int(np.argmin(n))}); pass@k is undefined for k > n"
            )


def _broadcast_nc(n, c) -> tuple:
    """n and c as int64 vectors of one length (a scalar broadcasts against the other)."""
    nn, cc = _int_array(n, "n"), _int_array(c, "c")
    if nn.size == 1 and cc.size > 1:
        nn = np.full(cc.shape, nn[0], dtype=np.int64)
    elif cc.size == 1 and nn.size > 1:
        cc = np.full(nn.shape, cc[0], dtype=np.int64)
    return nn, cc


def _grid(kind: int, n, c, k, threads) -> np.ndarray:
    (nn, cc), kk = _broadcast_nc(n, c), _int_array(k, "k")  # (checks the arguments first)
    scalar_p = np.ndim(n) == 0 and np.ndim(c) == 0
    scalar_k = np.ndim(k) == 0
    _check_counts(nn, cc, kk)
    g, _ = _core.evals_pass_grid(kind, nn, cc, kk, True, _threads(threads))
    if scalar_p and scalar_k:
        return float(g[0, 0])
    if scalar_p:
        return g[0]
    if scalar_k:
        return g[:, 0]
    return g


def pass_at_k(n, c, k, *, threads: Optional[int] = None):
    """Unbiased pass@k = 1 - C(n-c, k)/C(n, k) (Chen et al. 2021) for every problem and every k.

    ``n`` (samples per problem) and ``c`` (correct samples) are scalars or length-P arrays (a scalar ``n``
    broadcasts); ``k`` is a scalar or a length-K array. Returns a float, a [P] or [K] vector, or a [P, K]
    array. ``k > n`` raises ValueError (the common implementation silently returns 1.0)."""
    return _grid(0, n, c, k, threads)


def pass_hat_k(n, c, k, *, threads: Optional[int] = None):
    """pass^k = C(c, k)/C(n, k): the chance that k samples drawn without replacement are all correct."""
    return _grid(1, n, c, k, threads)


def _prior(prior) -> tuple:
    if isinstance(prior, str):
        table = {"jeffreys": (0.5, 0.5), "uniform": (1.0, 1.0)}
        if prior not in table:
            raise ValueError(f"prior must be 'jeffreys', 'uniform' or a pair (a0, b0), got {show(prior)}")
        return table[prior]
    try:
        a0, b0 = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(f"prior must be 'jeffreys', 'uniform' or a pair (a0, b0), got {show(prior)}") from None
    if not (a0 > 0 and b0 > 0):
        raise ValueError(f"prior parameters must be > 0, got {show(prior)}")
    return a0, b0


def _level(level: float) -> float:
    return check_prob("level", level)


def _kind(kind: str) -> int:
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {list(_KINDS)}, got {show(kind)}")
    return _KINDS[kind]


def pass_curve(
    n,
    c,
    k,
    *,
    kind: str = "pass@k",
    interval: Optional[str] = "bootstrap",
    level: float = 0.95,
    n_boot: int = 1000,
    prior="jeffreys",
    seed: int = 0,
    threads: Optional[int] = None,
) -> pd.DataFrame:
    """Mean pass@k (or pass^k) over problems for each k, with an interval.

    interval: ``"bootstrap"`` resamples problems (``n_boot`` replicates, Philox-keyed by ``seed``);
    ``"beta"`` draws every problem's rate from its Beta posterior (``prior`` = "jeffreys", "uniform" or
    (a0, b0)) and reports the posterior-mean curve with the equal-tailed interval of the draws; ``None``.
    Returns a DataFrame with columns k, estimate, low, high (no low/high when interval is None)."""
    kd = _kind(kind)
    (nn, cc), kk = _broadcast_nc(n, c), _int_array(k, "k")
    _check_counts(nn, cc, kk)
    th = _threads(threads)
    seed = check_seed(seed, op="pass_curve")
    if interval is not None:
        n_boot = check_int("n_boot", n_boot, 2)
        check_alloc("pass_curve", 8.0 * n_boot * kk.size * 2, f"n_boot={n_boot} replicates x {kk.size} k",
                    "Lower n_boot.")
    _, mean = _core.evals_pass_grid(kd, nn, cc, kk, False, th)
    out = pd.DataFrame({"k": kk, "estimate": mean})
    if interval is None:
        return out
    lv = _level(level)
    q = [0.5 - lv / 2, 0.5 + lv / 2]
    if interval == "bootstrap":
        draws = _core.evals_pass_bootstrap(kd, nn, cc, kk, n_boot, seed, th)
    elif interval == "beta":
        a0, b0 = _prior(prior)
        pm, _, _, draws = _core.evals_pass_posterior(kd, nn, cc, kk, a0, b0, lv, n_boot, seed, th)
        out["estimate"] = pm.mean(axis=0)
    else:
        raise ValueError(f"interval must be 'bootstrap', 'beta' or None, got {show(interval)}")
    lo, hi = np.quantile(draws, q, axis=0)
    out["low"], out["high"] = lo, hi
    return out


def pass_posterior(
    n, c, k, *, kind: str = "pass@k", prior="jeffreys", level: float = 0.95, threads: Optional[int] = None
) -> pd.DataFrame:
    """Per-problem Beta posterior (rate ~ Beta(c + a0, n - c + b0)) of pass@k or pass^k: long DataFrame with
    columns problem, k, mean (posterior mean, closed form), low, high (equal-tailed, exact quantiles)."""
    kd = _kind(kind)
    (nn, cc), kk = _broadcast_nc(n, c), _int_array(k, "k")
    _check_counts(nn, cc, kk)
    a0, b0 = _prior(prior)
    mean, lo, hi, _ = _core.evals_pass_posterior(kd, nn, cc, kk, a0, b0, _level(level), 0, 0, _threads(threads))
    P, K = mean.shape
    return pd.DataFrame(
        {
            "problem": np.repeat(np.arange(P), K),
            "k": np.tile(kk, P),
            "mean": mean.ravel(),
            "low": lo.ravel(),
            "high": hi.ravel(),
        }
    )


# ---- coverage extrapolation -----------------------------------------------------------------------------


def _quantiles(v: np.ndarray, q) -> tuple:
    """np.quantile(v, q, axis=0) (linear interpolation) for values that may be infinite: between two equal values
    (inf and inf included) the quantile is that value, not inf - inf = NaN."""
    with np.errstate(invalid="ignore"):
        lin = np.quantile(v, q, axis=0)
    lo = np.quantile(v, q, axis=0, method="lower")
    hi = np.quantile(v, q, axis=0, method="higher")
    out = np.where(lo == hi, lo, lin)
    return out[0], out[1]


def _fit_k_grid(nmin: int, n_points: int = 24) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, nmin, n_points)).astype(np.int64))


class CoverageResult:
    """A fitted coverage curve with bootstrap replicates (row 0 of the replicate table is the fit to the data).

    method "aggregate": c(k) = exp(a k^b) fitted to the observed mean pass@k curve (catalogue law
    ``coverage``); "beta": per-problem rates ~ Beta(alpha, beta) fitted by beta-binomial likelihood,
    c(k) = 1 - B(alpha, beta + k)/B(alpha, beta), whose power-law exponent for large k is alpha;
    "scaled_beta": rates p = s u with u ~ Beta(alpha, beta) and the upper end s <= 1 fitted too (a scaled Beta
    on [0, s]), c(k) = 1 - E[(1 - s u)^k], large-k exponent alpha as well."""

    def __init__(self, method: str, replicates: pd.DataFrame, observed: pd.DataFrame, level: float):
        self.method = method
        self.replicates = replicates  # columns: replicate, parameters..., status
        self.observed = observed  # columns k, coverage (observed mean pass@k on the fit grid)
        self.level = level

    @property
    def params(self) -> pd.DataFrame:
        """Point estimate (fit to the data) and the bootstrap interval of each parameter. Every table of a
        CoverageResult (params, predict, samples_for, cost_per_solved) has a ``status`` column: the
        :class:`lawfit.Status` name of the fit to the data (NaN estimates come with a failed status)."""
        names = {"aggregate": ["a", "b"], "beta": ["alpha", "beta"], "scaled_beta": ["alpha", "beta", "s"]}[self.method]
        ok = self._ok()
        q = [0.5 - self.level / 2, 0.5 + self.level / 2]
        rows = []
        for p in names:
            v = self.replicates[p].to_numpy()
            lo, hi = _quantiles(v[ok], q) if ok.sum() > 1 else (np.nan, np.nan)
            rows.append({"param": p, "estimate": v[0], "low": lo, "high": hi})
        out = pd.DataFrame(rows)
        if self.method != "aggregate":
            # The large-k exponent of -log coverage ~ failure ~ k^-alpha.
            v = self.replicates["alpha"].to_numpy()
            lo, hi = _quantiles(v[ok], q) if ok.sum() > 1 else (np.nan, np.nan)
            out = pd.concat([out, pd.DataFrame([{"param": "exponent", "estimate": v[0], "low": lo, "high": hi}])])
        out = out.reset_index(drop=True)
        out["status"] = self.status
        return out

    @property
    def status(self) -> str:
        return Status(int(self.replicates["status"].iloc[0])).name

    def __repr__(self) -> str:
        est = ", ".join(f"{r.param}={r.estimate:.4g} [{r.low:.4g}, {r.high:.4g}]"
                        for r in self.params.itertuples(index=False))
        k = self.observed["k"].to_numpy() if "k" in self.observed and len(self.observed) else None
        ks = f", observed k={int(k.min())}..{int(k.max())}" if k is not None else ""
        return (f"<CoverageResult method={self.method!r} status={self.status} {est} ({self.level:g} intervals from "
                f"{len(self.replicates) - 1} bootstrap replicates{ks})>")

    def _ok(self) -> np.ndarray:
        """Bootstrap replicates (row 0, the fit to the data, excluded) that enter the intervals: those whose fit
        succeeded, and (aggregate) those whose resample solved no problem at all (coverage 0 at every k)."""
        st = self.replicates["status"].to_numpy()
        ok = (st == int(Status.CONVERGED)) | (st == int(Status.MAX_ITER))
        if "zero" in self.replicates:
            ok |= self.replicates["zero"].to_numpy(dtype=bool)
        ok[0] = False
        return ok

    def _curves(self, k: np.ndarray) -> np.ndarray:
        """Coverage of every replicate at k: [R, K]."""
        kf = np.ascontiguousarray(np.asarray(k, dtype=np.float64))
        if self.method == "aggregate":
            a = self.replicates["a"].to_numpy()[:, None]
            b = self.replicates["b"].to_numpy()[:, None]
            return np.exp(a * kf[None, :] ** b)
        al = np.ascontiguousarray(self.replicates["alpha"].to_numpy(dtype=np.float64))
        be = np.ascontiguousarray(self.replicates["beta"].to_numpy(dtype=np.float64))
        sc = (np.ascontiguousarray(self.replicates["s"].to_numpy(dtype=np.float64))
              if self.method == "scaled_beta" else None)
        # 1 - failure(k), with failure(k) from log-gammas: rounding can give -1e-15 for a coverage of 0
        return np.clip(_core.evals_betabinom_coverage(al, be, kf, sc), 0.0, 1.0) + 0.0  # (+ 0.0: no -0.0)

    def predict(self, k) -> pd.DataFrame:
        """Coverage at k (any positive values, extrapolation included): columns k, coverage, low, high."""
        kf = np.atleast_1d(np.asarray(k, dtype=np.float64))
        if kf.ndim != 1 or np.any(~(kf > 0)):
            raise ValueError("argument 'k' must be positive numbers")
        C = self._curves(kf)
        ok = self._ok()
        q = [0.5 - self.level / 2, 0.5 + self.level / 2]
        lo, hi = _quantiles(C[ok], q) if ok.sum() > 1 else (np.full(kf.size, np.nan),) * 2
        return pd.DataFrame({"k": kf, "coverage": C[0], "low": lo, "high": hi, "status": self.status})

    def samples_for(self, target) -> pd.DataFrame:
        """Samples per problem needed to reach each target coverage: columns target, k, low, high (inf when the
        fitted curve never reaches the target)."""
        t = np.atleast_1d(np.asarray(target, dtype=np.float64))
        if np.any(~((t > 0) & (t < 1))):
            raise ValueError("argument 'target' must be coverage levels in (0, 1)")
        if self.method == "aggregate":
            a = self.replicates["a"].to_numpy()[:, None]
            b = self.replicates["b"].to_numpy()[:, None]
            # b = 0 (the bound: a constant curve exp(a)) as -0.0, the limit b -> 0- of k = (log t / a)^(1/b): 0 when
            # exp(a) >= t (reached at once), inf when exp(a) < t (never); a = -inf (coverage 0) gives inf.
            b = np.where(b == 0, -0.0, b)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                K = (np.log(t)[None, :] / a) ** (1.0 / b)
            K = np.where(np.isfinite(K), K, np.inf)
        else:
            grid = np.geomspace(1.0, 1e15, 3001)
            C = self._curves(grid)  # [R, G], increasing in k
            K = np.empty((C.shape[0], t.size))
            for_j = np.arange(C.shape[0])[:, None]
            idx = (C[:, :, None] < t[None, None, :]).sum(axis=1)  # first grid point reaching target
            idx_c = np.clip(idx, 1, grid.size - 1)
            c0, c1 = C[for_j, idx_c - 1], C[for_j, idx_c]
            g0, g1 = np.log(grid[idx_c - 1]), np.log(grid[idx_c])
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.clip((t[None, :] - c0) / (c1 - c0), 0, 1)
            K = np.exp(g0 + frac * (g1 - g0))
            K = np.where(idx >= grid.size, np.inf, np.where(idx == 0, 1.0, K))
        ok = self._ok()
        q = [0.5 - self.level / 2, 0.5 + self.level / 2]
        lo, hi = _quantiles(K[ok], q) if ok.sum() > 1 else (np.full(t.size, np.nan),) * 2
        return pd.DataFrame({"target": t, "k": K[0], "low": lo, "high": hi, "status": self.status})

    def cost_per_solved(
        self,
        k,
        cost_per_sample: Union[float, Sequence[float], Callable, None] = None,
        *,
        model: Optional[Mapping] = None,
        tokens_per_sample: Optional[float] = None,
        hardware="h100-sxm",
        **assumptions,
    ) -> pd.DataFrame:
        """Expected cost per solved problem when every problem gets k samples: k * cost_per_sample / c(k).

        ``cost_per_sample`` is a number, one number per k, or a callable ``f(k) -> cost of one sample``.
        Or price a sample with the cost model (:func:`lawfit.cost.evaluate`): ``model`` is the sampling model's
        architecture (n_layers, d_model, n_heads, ... as for the cost model), ``tokens_per_sample`` the tokens
        generated per sample, ``hardware`` and the keyword ``assumptions`` (infer_batch, infer_context,
        efficiency_memory, price, ...) as for :func:`lawfit.cost.evaluate`; one sample then costs the model's
        ``cost_infer_usd`` for ``tokens_per_sample`` decoded tokens (USD). Columns k, coverage,
        cost_per_sample, cost_per_problem, cost_per_solved, low, high (the interval of cost_per_solved from the
        coverage interval)."""
        pr = self.predict(k)
        kf = pr["k"].to_numpy()
        if model is not None:
            if cost_per_sample is not None:
                raise ValueError("give either cost_per_sample or model (with tokens_per_sample), not both")
            cost_per_sample = sample_cost(model, tokens_per_sample, hardware=hardware, **assumptions)
        elif tokens_per_sample is not None or assumptions:
            raise ValueError("tokens_per_sample, hardware and cost-model assumptions need model=")
        if cost_per_sample is None:
            cost_per_sample = 1.0
        cps = cost_per_sample(kf) if callable(cost_per_sample) else cost_per_sample
        cps = np.broadcast_to(np.asarray(cps, dtype=np.float64), kf.shape)
        if np.any(~(cps >= 0)):
            raise ValueError("argument 'cost_per_sample' must be >= 0")
        per_problem = kf * cps
        with np.errstate(divide="ignore"):
            out = pd.DataFrame(
                {
                    "k": kf,
                    "coverage": pr["coverage"],
                    "cost_per_sample": cps,
                    "cost_per_problem": per_problem,
                    "cost_per_solved": per_problem / pr["coverage"].to_numpy(),
                    "low": per_problem / pr["high"].to_numpy(),
                    "high": per_problem / pr["low"].to_numpy(),
                    "status": self.status,
                }
            )
        return out


def sample_cost(model: Mapping, tokens_per_sample, *, hardware="h100-sxm", **assumptions) -> float:
    """USD of one sample of ``tokens_per_sample`` generated tokens from ``model`` (an architecture for
    :func:`lawfit.cost.evaluate`: n_layers, d_model, n_heads, ...), by the cost model's decode roofline
    (``cost_infer_usd`` with inference_tokens = tokens_per_sample; ``assumptions`` as for evaluate)."""
    from . import cost as _cost

    if not isinstance(model, Mapping):
        raise ValueError("model must be a mapping of architecture fields (n_layers, d_model, n_heads, ...)")
    if tokens_per_sample is None:
        raise ValueError("tokens_per_sample is required to price a sample with the cost model")
    t = float(tokens_per_sample)
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"tokens_per_sample must be a positive number, got {show(tokens_per_sample)}")
    if "inference_tokens" in assumptions:
        raise ValueError("inference_tokens is set by tokens_per_sample")
    cfg = {"tokens": 1.0, **dict(model)}  # training tokens do not enter the inference cost
    r = _cost.evaluate(cfg, hardware, inference_tokens=t, outputs=["cost_infer_usd"], include_config=False,
                       **assumptions)
    return float(r["cost_infer_usd"].iloc[0])


def coverage(
    n,
    c,
    *,
    method: str = "aggregate",
    fit_k=None,
    level: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
    threads: Optional[int] = None,
) -> CoverageResult:
    """Fit a coverage (pass@k vs k) curve to per-problem counts and extrapolate it.

    method ``"aggregate"``: the observed mean pass@k at ``fit_k`` (default: ~24 log-spaced k in [1, min n])
    is fitted with ``c(k) = exp(a k^b)`` in log space; each bootstrap replicate (problems resampled) is fitted
    as another curve of the same batched fit. ``"beta"``: beta-binomial maximum likelihood for the
    distribution of per-problem rates (scale fixed at 1), bootstrapped over problems in C++. ``"scaled_beta"``:
    the same with the Beta's upper end s fitted (rates p = s u, u ~ Beta; REFERENCE.md section 3), for problem
    sets whose rates stay below 1. The beta-binomial needs a problem with n >= 2 samples and at least 2 problems
    (n >= 3 and 3 problems for "scaled_beta"): with fewer, the result has the status TOO_FEW_POINTS.
    """
    nn, cc = _broadcast_nc(n, c)
    _check_counts(nn, cc, None)
    lv = _level(level)
    n_boot = check_int("n_boot", n_boot, 0)
    seed = check_seed(seed, op="coverage")
    th = _threads(threads)
    kk = _fit_k_grid(int(nn.min())) if fit_k is None else _int_array(fit_k, "fit_k")
    _check_counts(nn, cc, kk)
    # Replicates: the [n_boot + 1, k] curves and their long table (aggregate), or the parameter draws (beta).
    check_alloc("coverage", 64.0 * (n_boot + 1) * max(kk.size, 4), f"n_boot={n_boot} replicates x {kk.size} k",
                "Lower n_boot.")
    _, mean = _core.evals_pass_grid(0, nn, cc, kk, False, th)
    observed = pd.DataFrame({"k": kk, "coverage": mean})
    if method == "aggregate":
        from .fitting import fit as _fit

        curves = [mean[None, :]]
        if n_boot > 0:
            curves.append(_core.evals_pass_bootstrap(0, nn, cc, kk, n_boot, seed, th))
        Y = np.concatenate(curves, axis=0)  # [R, K]
        R = Y.shape[0]
        df = pd.DataFrame({"replicate": np.repeat(np.arange(R), kk.size), "k": np.tile(kk, R).astype(float),
                           "coverage": Y.ravel()})
        # Points with zero coverage carry no information in log space; drop them.
        # Coverage is 0 at every k or at none (pass@k > 0 for every k once a problem was solved): a replicate whose
        # resample solved no problem has nothing to fit in log space. It is no failed fit but the curve c(k) = 0
        # (a = -inf, b = 0; status TOO_FEW_POINTS, column ``zero``) and it counts in the intervals: leaving those
        # replicates out truncated the bootstrap distribution at its low end, so that for c = [0, 0, 10] the
        # interval started exactly at the point estimate (and excluded it after rounding).
        zero = ~(Y > 0).any(axis=1)
        if zero[0]:
            raise ValueError("coverage: argument 'c' is 0 for every problem (none was ever solved); nothing to fit")
        df = df[df["coverage"] > 0]
        res = _fit(df, "coverage", x="k", y="coverage", by="replicate", space="log", threads=threads, seed=seed)
        p = res.params.reindex(np.arange(R))
        st = res.status_code.reindex(np.arange(R)).fillna(int(Status.NOT_RUN)).astype(int).to_numpy()
        a, b = p["a"].to_numpy(), p["b"].to_numpy()
        a, b, st = np.where(zero, -np.inf, a), np.where(zero, 0.0, b), np.where(zero, int(Status.TOO_FEW_POINTS), st)
        reps = pd.DataFrame({"replicate": np.arange(R), "a": a, "b": b, "status": st, "zero": zero})
        return CoverageResult("aggregate", reps, observed, lv)
    if method in ("beta", "scaled_beta"):
        scaled = method == "scaled_beta"
        names = ["alpha", "beta"] + (["s"] if scaled else [])
        # The counts of problems sampled n times reveal the first n moments of the rate distribution only: with
        # every n = 1 the data fix the mean rate alone (alpha / (alpha + beta) for any concentration), and the
        # scaled Beta's three parameters need n >= 3 for some problem; and a distribution of rates needs at least as
        # many problems as it has parameters. Unidentified: status TOO_FEW_POINTS, NaN parameters (the fit would
        # otherwise stop anywhere along the flat ridge and report CONVERGED).
        if int(nn.max()) < len(names) or nn.size < len(names):
            R = n_boot + 1
            reps = pd.DataFrame({"replicate": np.arange(R), **{p: np.full(R, np.nan) for p in names},
                                 "status": np.full(R, int(Status.TOO_FEW_POINTS))})
            return CoverageResult(method, reps, observed, lv)
        pairs, group_of = np.unique(np.stack([nn, cc], axis=1), axis=0, return_inverse=True)
        gn = np.ascontiguousarray(pairs[:, 0])
        gc = np.ascontiguousarray(pairs[:, 1])
        w = np.ascontiguousarray(np.bincount(group_of.ravel(), minlength=len(pairs)).astype(np.float64))
        f = _core.evals_betabinom_fit(gn, gc, w, scaled=scaled)
        al, be, sc, st = [f["alpha"]], [f["beta"]], [f["s"]], [f["status"]]
        if n_boot > 0:
            ba, bb, bsc, bs = _core.evals_betabinom_bootstrap(
                np.ascontiguousarray(group_of.ravel().astype(np.int64)), gn, gc, n_boot, seed, 200, 1e-10, th,
                scaled=scaled)
            al += list(ba)
            be += list(bb)
            sc += list(bsc)
            st += list(bs)
        cols = {"replicate": np.arange(len(al)), "alpha": al, "beta": be}
        if scaled:
            cols["s"] = sc
        reps = pd.DataFrame({**cols, "status": st})
        return CoverageResult(method, reps, observed, lv)
    raise ValueError(f"method must be 'aggregate', 'beta' or 'scaled_beta', got {show(method)}")


# ---- PassUntil --------------------------------------------------------------------------------------------


def passuntil(successes, trials, target=None, *, level: float = 0.95, threads: Optional[int] = None) -> pd.DataFrame:
    """PassUntil estimators per item (Hu et al. 2023): each item was sampled until ``target`` successes or
    its budget ran out, giving ``successes`` in ``trials``.

    Columns: mle (s/r), unbiased ((s-1)/(r-1) when sampling stopped at the target with s >= 2, else NaN),
    low/high (Clopper-Pearson at ``level``), posterior_mean (Jeffreys), censored (no success seen: the rate
    is only bounded above by ``high``), estimate (unbiased where defined, else mle; posterior mean when
    censored, so that it stays positive for log-space fits)."""
    s, r = _int_array(successes, "successes"), _int_array(trials, "trials")
    if s.shape != r.shape:
        raise ValueError(f"arguments 'successes' and 'trials' must have the same length ({s.size} vs {r.size})")
    if np.any(r < 1):
        raise ValueError("argument 'trials' must be >= 1")
    if np.any(s < 0):
        raise ValueError("argument 'successes' must be >= 0")
    if np.any(s > r):
        raise ValueError("argument 'successes' must be <= trials")
    if target is None:
        t = np.full(s.shape, -1, dtype=np.int64)
    else:
        t = _int_array(target, "target")
        if t.size == 1:
            t = np.full(s.shape, t[0], dtype=np.int64)
        if t.shape != s.shape or np.any(t < 1):
            raise ValueError("argument 'target' must be >= 1 and have one value per item (or be a scalar)")
        if np.any(s > t):
            raise ValueError("argument 'successes' exceeds 'target' for some item")
    mle, unb, lo, hi, pm, cens = _core.evals_passuntil(s, r, t, _level(level), _threads(threads))
    est = np.where(np.isfinite(unb), unb, mle)
    est = np.where(cens.astype(bool), pm, est)
    return pd.DataFrame({"successes": s, "trials": r, "mle": mle, "unbiased": unb, "low": lo, "high": hi,
                         "posterior_mean": pm, "censored": cens.astype(bool), "estimate": est})


def fit_passuntil(
    data,
    *,
    size: str = "N",
    successes: str = "successes",
    trials: str = "trials",
    target: Optional[str] = None,
    by: Union[None, str, Sequence[str]] = None,
    **fit_kw,
):
    """Task scaling law PU(N) = exp(-c N^-alpha) (catalogue law ``passuntil``) from per-item PassUntil counts.

    ``data`` has one row per (model size, item): the size column, successes, trials (and optionally the
    target). Items are pooled per size (and ``by`` group) by the mean of their PassUntil estimates, then every
    group's curve is fitted in log space in one batched call. Returns the :class:`lawfit.FitResult`; the pooled
    table is in ``result.passuntil_points``."""
    from ._data import as_list, to_pandas
    from .fitting import fit as _fit

    df = to_pandas(data, name="data")
    for col, role in [(size, "size"), (successes, "successes"), (trials, "trials")] + (
        [(target, "target")] if target else []
    ):
        if col not in df.columns:
            raise ValueError(f"{role} column {show(col)} not found; columns are: {', '.join(map(str, df.columns))}")
    est = passuntil(df[successes].to_numpy(), df[trials].to_numpy(),
                    None if target is None else df[target].to_numpy())
    keys = as_list(by)
    work = df[keys + [size]].copy()
    work["pu"] = est["estimate"].to_numpy()
    pts = work.groupby(keys + [size], sort=True, as_index=False)["pu"].mean()
    fit_kw.setdefault("space", "log")
    res = _fit(pts, "passuntil", x=size, y="pu", by=keys or None, **fit_kw)
    res.passuntil_points = pts
    return res


# ---- item response theory ---------------------------------------------------------------------------------

_MODELS = {"rasch": 0, "1pl": 0, "2pl": 1, "mirt": 2, "m2pl": 2}


def responses_from_long(data, *, model: str = "model", item: str = "item", correct: str = "correct") -> pd.DataFrame:
    """Long table (one row per model x item) -> wide models x items DataFrame with NaN for missing."""
    from ._data import to_pandas

    df = to_pandas(data, name="data")
    for col in (model, item, correct):
        if col not in df.columns:
            raise ValueError(f"column {show(col)} not found; columns are: {', '.join(map(str, df.columns))}")
    if df.duplicated([model, item]).any():
        raise ValueError(f"data has more than one row for some ({model}, {item}) pair")
    return df.pivot(index=model, columns=item, values=correct)


def _responses(responses, name: str = "responses") -> tuple:
    """-> (int8 matrix with -1 for missing, row labels, column labels). Accepts 0/1/bool with NaN or -1."""
    rows = cols = None
    if isinstance(responses, pd.DataFrame):
        rows, cols = responses.index, responses.columns
        arr = responses.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = np.asarray(responses)
    if arr.ndim != 2:
        raise ValueError(f"argument {name!r} must be a 2-D models x items matrix, got {arr.ndim} dimension(s)")
    if arr.dtype == np.int8:
        Y = arr
    else:
        try:
            f = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"argument {name!r} must hold 0, 1 and missing (NaN or -1)") from None
        miss = np.isnan(f) | (f == -1)
        good = miss | (f == 0) | (f == 1)
        if not good.all():
            bad = np.argwhere(~good)[0]
            raise ValueError(
                f"argument {name!r} must hold only 0, 1 or missing (NaN or -1); entry {tuple(int(v) for v in bad)} "
                f"is {show(arr[tuple(bad)])}"
            )
        Y = np.where(miss, -1, f).astype(np.int8)
    if Y.dtype == np.int8 and (np.any(Y < -1) or np.any(Y > 1)):
        raise ValueError(f"argument {name!r} must hold only 0, 1 or missing (-1)")
    if rows is None:
        rows = pd.RangeIndex(Y.shape[0], name="model")
        cols = pd.RangeIndex(Y.shape[1], name="item")
    return np.ascontiguousarray(Y), rows, cols


@dataclass
class ItemSelection:
    """A reduced item set: item positions, their weights (sum 1) and how they were chosen.

    ``pirt_mse`` is the p-IRT squared error on the training models answering only these items; gp-IRT uses
    it to weigh p-IRT against the anchor estimator (see :meth:`IRTModel.estimate`)."""

    items: np.ndarray
    weights: np.ndarray
    method: str
    labels: Optional[np.ndarray] = None  # cluster of every item (k-means)
    pirt_mse: float = float("nan")  # p-IRT squared error on the training models (gp-IRT)

    def to_frame(self, columns=None) -> pd.DataFrame:
        names = np.asarray(columns)[self.items] if columns is not None else self.items
        return pd.DataFrame({"item": names, "position": self.items, "weight": self.weights})


def _with_dropped(out: pd.DataFrame, labels, keep) -> pd.DataFrame:
    """The table of the fitted rows ``out`` spread over all ``labels`` (NaN where ``keep`` is False)."""
    if keep is None or keep.all():
        return out
    full = pd.DataFrame(np.nan, index=pd.Index(labels, name=out.index.name), columns=out.columns)
    full.iloc[np.flatnonzero(keep)] = out.to_numpy()
    return full


class IRTModel:
    """A fitted IRT model. ``items``: DataFrame of discriminations (a, or a1..aD) and difficulties b with
    standard errors; ``abilities``: theta (and se) per model. P(correct) = sigmoid(a . theta - b)."""

    def __init__(self, model: str, native: dict, rows, cols, Y: np.ndarray):
        self.model = model
        self._a = np.ascontiguousarray(native["a"])
        self._b = np.ascontiguousarray(native["b"])
        self._theta = np.ascontiguousarray(native["theta"])
        self._se_a, self._se_b, self._se_theta = native["se_a"], native["se_b"], native["se_theta"]
        self.objective = float(native["objective"])
        self.iterations = int(native["iterations"])
        self.status = Status(int(native["status"])).name
        self.model_names, self.item_names = rows, cols
        # All models / items with those that had no response (set by fit_irt), and which were fitted.
        self._all_rows, self._all_cols, self._keep_rows, self._keep_cols = rows, cols, None, None
        self._Y = Y

    @property
    def dim(self) -> int:
        return self._a.shape[1]

    def _acols(self) -> list:
        return ["a"] if self.dim == 1 else [f"a{d + 1}" for d in range(self.dim)]

    @property
    def items(self) -> pd.DataFrame:
        out = pd.DataFrame(self._a, columns=self._acols(), index=self.item_names)
        out["b"] = self._b
        for j, cn in enumerate(self._acols()):
            out[f"se_{cn}"] = self._se_a[:, j]
        out["se_b"] = self._se_b
        if self.model == "rasch":
            out = out.drop(columns=["a", "se_a"])
        out.index.name = self.item_names.name or "item"
        return _with_dropped(out, self._all_cols, self._keep_cols)

    @property
    def abilities(self) -> pd.DataFrame:
        cols = ["theta"] if self.dim == 1 else [f"theta{d + 1}" for d in range(self.dim)]
        out = pd.DataFrame(self._theta, columns=cols, index=self.model_names)
        for j, cn in enumerate(cols):
            out[f"se_{cn}"] = self._se_theta[:, j]
        out.index.name = self.model_names.name or "model"
        return _with_dropped(out, self._all_rows, self._keep_rows)

    def __repr__(self) -> str:
        return (f"IRTModel({self.model}, dim={self.dim}, models={self._theta.shape[0]}, items={self._b.size}, "
                f"status={self.status}, iterations={self.iterations})")

    def predict_proba(self, theta=None) -> np.ndarray:
        """P(correct) for abilities theta [M, D] (default: the fitted models) on every item: [M, I]."""
        T = self._theta if theta is None else np.atleast_2d(np.asarray(theta, dtype=np.float64))
        if T.shape[1] != self.dim:
            raise ValueError(f"argument 'theta' must have {self.dim} column(s)")
        return 1.0 / (1.0 + np.exp(-(T @ self._a.T - self._b)))

    def item_information(self, theta=None) -> np.ndarray:
        """Fisher information a.a P (1 - P) of every item averaged over abilities (default: the fitted models'
        abilities, summarised by 64 quantiles so the cost is O(items))."""
        T = self._theta if theta is None else np.atleast_2d(np.asarray(theta, dtype=np.float64))
        if T.shape[1] != self.dim:
            raise ValueError(f"argument 'theta' must have {self.dim} column(s)")
        if T.shape[0] > 64 and self.dim == 1:
            T = np.quantile(T[:, 0], (np.arange(64) + 0.5) / 64)[:, None]
        P = self.predict_proba(T)  # [G, I]
        return (self._a ** 2).sum(axis=1) * (P * (1 - P)).mean(axis=0)

    def _item_positions(self, items, K: int) -> Optional[np.ndarray]:
        if items is None:
            if K != self._b.size:
                raise ValueError(f"argument 'responses' has {K} columns but the model has {self._b.size} items; "
                                 "pass 'items' (the columns' item positions or an ItemSelection)")
            return None
        if isinstance(items, ItemSelection):
            items = items.items
        pos = np.asarray(items)
        if pos.dtype.kind not in "iu":
            idx = pd.Index(self.item_names).get_indexer(pos)
            if np.any(idx < 0):
                raise ValueError(f"argument 'items' names unknown item(s): {show(pos[idx < 0][:5])}")
            pos = idx
        pos = np.ascontiguousarray(pos.astype(np.int64))
        if pos.ndim != 1 or pos.size != K:
            raise ValueError(f"argument 'items' must list one item per column of 'responses' ({K})")
        if np.any((pos < 0) | (pos >= self._b.size)):
            raise ValueError("argument 'items' holds positions outside the model's items")
        return pos

    def abilities_for(self, responses, items=None, *, threads: Optional[int] = None) -> pd.DataFrame:
        """MAP abilities (N(0, I) prior, Newton) of many models at once from their responses to ``items``."""
        Y, rows, _ = _responses(responses)
        pos = self._item_positions(items, Y.shape[1])
        th, se = _core.evals_irt_abilities(Y, pos, self._a, self._b, 50, _threads(threads))
        cols = ["theta"] if self.dim == 1 else [f"theta{d + 1}" for d in range(self.dim)]
        out = pd.DataFrame(th, columns=cols, index=rows)
        for j, cn in enumerate(cols):
            out[f"se_{cn}"] = se[:, j]
        return out

    def select_items(
        self,
        n_items: int = 100,
        *,
        method: str = "kmeans",
        responses=None,
        se_stop: float = 0.3,
        min_items: int = 5,
        seed: int = 0,
        threads: Optional[int] = None,
    ):
        """Choose a reduced item set.

        method ``"kmeans"`` (tinyBenchmarks): cluster the items on their standardised parameters (a, b) into
        ``n_items`` clusters; the anchor of each cluster is its item nearest the centroid, weighted by the
        cluster's share of items. ``"kmeans-info"``: the same strata, each represented by its most informative
        item (Fisher information averaged over the training abilities). ``"optimal"`` (unidimensional): greedy
        choice of the items that most reduce the expected posterior variance of the full-benchmark score over the
        training models' abilities, sum_g T'(theta_g)^2 / (1 + sum_anchors info_k(theta_g)) with T the mean item
        curve, using discriminations shrunk to their empirical-Bayes means (so that items whose a is overestimated
        are not favoured); each item is assigned to its nearest anchor in standardised (a, b) and the anchors are
        weighted by these stratum sizes. ``"random"``: a uniform sample with equal weights. All return an
        :class:`ItemSelection` and precompute the gp-IRT mixing statistic on the training models.
        ``"adaptive"``: computerised adaptive testing of each model in ``responses`` (models x all items):
        maximum Fisher information at the current MAP ability, stopping once SE <= ``se_stop`` (after
        ``min_items``) or after ``n_items``; returns a DataFrame (model, n_items, theta, se, score = mean P_i(theta) over
        all items, pirt = answers on administered items + P_i(theta) elsewhere, items administered)."""
        th = _threads(threads)
        I = self._b.size
        n_items = check_int("argument 'n_items'", n_items, 1)
        if n_items > I:
            raise ValueError(f"argument 'n_items' must be in [1, {I}], got {n_items}")
        min_items = check_int("argument 'min_items'", min_items, 0)
        seed = check_seed(seed, op="select_items")
        if method == "adaptive":
            if responses is None:
                raise ValueError("method='adaptive' needs 'responses' (models x all items) to answer the test")
            Y, rows, _ = _responses(responses)
            if Y.shape[1] != I:
                raise ValueError(f"argument 'responses' must have one column per item ({I}), got {Y.shape[1]}")
            if not se_stop > 0:
                raise ValueError("argument 'se_stop' must be > 0")
            order, nused, theta, se = _core.evals_irt_adaptive(Y, self._a, self._b, float(se_stop), int(min_items),
                                                               int(n_items), th)
            score = _core.evals_irt_mean_prob(theta, None, self._a, self._b, th)
            # p-IRT on the administered items: observed answers + predicted probabilities of the rest.
            used = order >= 0
            o = np.where(used, order, 0)
            eta = np.einsum("mkd,md->mk", self._a[o], theta) - self._b[o]
            p_seen = np.where(used, 1.0 / (1.0 + np.exp(-eta)), 0.0).sum(axis=1)
            y_seen = np.where(used, np.take_along_axis(Y, o, axis=1), 0).sum(axis=1)
            pirt = (y_seen + score * I - p_seen) / I
            out = pd.DataFrame({"n_items": nused, "theta": theta[:, 0], "se": se.max(axis=1), "score": score,
                                "pirt": pirt}, index=rows)
            out["items"] = list(order)
            return out
        if method == "kmeans":
            F = np.column_stack([self._a, self._b]) if self.model != "rasch" else self._b[:, None].copy()
            sd = F.std(axis=0)
            F = np.ascontiguousarray((F - F.mean(axis=0)) / np.where(sd > 0, sd, 1.0))
            labels, _, anchors, sizes = _core.evals_kmeans(F, int(n_items), int(seed), 100, th)
            keep = anchors >= 0
            sel = ItemSelection(anchors[keep], sizes[keep] / sizes[keep].sum(), "kmeans", labels)
        elif method == "kmeans-info":
            # Same strata as "kmeans", but each cluster is represented by its most informative item: the largest
            # Fisher information a.a p (1 - p) averaged over the training models' abilities.
            F = np.column_stack([self._a, self._b]) if self.model != "rasch" else self._b[:, None].copy()
            sd = F.std(axis=0)
            F = np.ascontiguousarray((F - F.mean(axis=0)) / np.where(sd > 0, sd, 1.0))
            labels, _, _, sizes = _core.evals_kmeans(F, int(n_items), int(seed), 100, th)
            info = self.item_information()
            order = np.lexsort((np.arange(I), -info, labels))
            first = np.ones(I, dtype=bool)
            first[1:] = labels[order][1:] != labels[order][:-1]
            pos = order[first].astype(np.int64)
            w = sizes[labels[pos]].astype(np.float64)
            srt = np.argsort(pos)
            sel = ItemSelection(np.ascontiguousarray(pos[srt]), w[srt] / w.sum(), "kmeans-info", labels)
        elif method == "optimal":
            if self.dim != 1:
                raise ValueError("method='optimal' needs a unidimensional model (rasch or 2pl)")
            pos = self._optimal_items(int(n_items))
            F = np.column_stack([self._a, self._b])
            sd = F.std(axis=0)
            F = (F - F.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
            # every item joins its nearest anchor in standardised (a, b): anchor weights = stratum sizes
            labels = np.argmin(((F[:, None, :] - F[pos][None, :, :]) ** 2).sum(axis=2), axis=1)
            labels[pos] = np.arange(pos.size)
            sizes = np.bincount(labels, minlength=pos.size).astype(np.float64)
            sel = ItemSelection(pos, sizes / sizes.sum(), "optimal", labels)
        elif method == "random":
            rng = np.random.default_rng(seed)
            pos = np.sort(rng.choice(I, size=int(n_items), replace=False)).astype(np.int64)
            sel = ItemSelection(pos, np.full(pos.size, 1.0 / pos.size), "random")
        else:
            raise ValueError(
                f"method must be 'kmeans', 'kmeans-info', 'optimal', 'random' or 'adaptive', got {show(method)}")
        # gp-IRT statistic: squared error of p-IRT on the training models, from their anchor answers alone.
        Ytr = np.ascontiguousarray(self._Y[:, sel.items])
        full = _row_means(self._Y)
        est = self._estimates(Ytr, sel, th, pirt_mse=None)
        sel.pirt_mse = float(np.nanmean((est["pirt"].to_numpy() - full) ** 2))
        return sel

    def _optimal_items(self, K: int, grid: int = 64) -> np.ndarray:
        """Greedy anchors minimising sum_g T'(theta_g)^2 / (1 + info of the anchors at theta_g) over ``grid``
        quantiles of the training abilities (a step per anchor, vectorised over items)."""
        ah, b = self._a[:, 0], self._b
        se = np.where(np.isfinite(self._se_a[:, 0]), self._se_a[:, 0], np.inf)
        v = max(float(ah.var() - np.mean(np.where(np.isfinite(se), se, 0.0) ** 2)), 1e-3)
        a = ah.mean() + (ah - ah.mean()) * v / (v + se ** 2)  # empirical-Bayes shrunk discriminations
        bs = b * np.divide(a, ah, out=np.ones_like(a), where=ah != 0)  # same location b/a
        g = np.quantile(self._theta[:, 0], (np.arange(grid) + 0.5) / grid)
        P = 1.0 / (1.0 + np.exp(-(np.outer(g, a) - bs)))
        info = a ** 2 * P * (1 - P)  # [G, I]
        s2 = ((a * P * (1 - P)).mean(axis=1)) ** 2  # T'(theta_g)^2
        tot = np.ones(grid)  # N(0, 1) prior precision
        chosen = np.zeros(a.size, dtype=bool)
        out = np.empty(K, dtype=np.int64)
        for t in range(K):  # K greedy steps, each over all items at once
            gain = (s2[:, None] * info / (tot[:, None] * (tot[:, None] + info))).sum(axis=0)
            gain[chosen] = -np.inf
            i = int(np.argmax(gain))
            out[t], chosen[i] = i, True
            tot += info[:, i]
        return np.sort(out)

    def _estimates(self, Y: np.ndarray, sel: ItemSelection, th: int, pirt_mse) -> pd.DataFrame:
        pos = sel.items
        I = self._b.size
        theta, se = _core.evals_irt_abilities(Y, pos, self._a, self._b, 50, th)
        seen = Y >= 0
        n_seen = seen.sum(axis=1)
        Yf = np.where(seen, Y, 0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            naive = Yf.sum(axis=1) / n_seen
            w = np.where(seen, sel.weights[None, :], 0.0)
            anchor = (w * Yf).sum(axis=1) / w.sum(axis=1)
        # p-IRT (tinyBenchmarks): lam * mean(seen) + (1 - lam) * mean over every item the model did not answer of
        # P_i(theta), lam = |seen| / I, i.e. (sum of the answers + sum of the predictions elsewhere) / I. The
        # anchors' stratum weights do not enter p-IRT (every item is counted once, answered or predicted); they
        # enter the anchor estimator and gp-IRT. Unidimensional models: the expectations over the posterior of
        # theta (N(0, 1) prior, 61-node grid), not the plug-in at the MAP; multidimensional: plug-in at the MAP.
        if self.dim == 1:
            _, _, p_all, pirt = _core.evals_irt_posterior_scores(Y, pos, self._a, self._b, 61, th)
        else:
            I = self._b.size
            p_all = _core.evals_irt_mean_prob(theta, None, self._a, self._b, th)  # mean over all items
            Pk = 1.0 / (1.0 + np.exp(-(theta @ self._a[pos].T - self._b[pos])))
            pirt = (Yf.sum(axis=1) + p_all * I - np.where(seen, Pk, 0.0).sum(axis=1)) / I
        out = pd.DataFrame({"naive": naive, "anchor": anchor, "irt": p_all, "pirt": pirt, "theta": theta[:, 0],
                            "se_theta": se[:, 0], "n_seen": n_seen})
        if pirt_mse is not None:
            # gp-IRT: inverse-variance mix of the anchor estimator (variance sum_k w_k^2 P_k (1 - P_k), with
            # P_k from the fitted IRT) and p-IRT (error measured on the training models).
            P = 1.0 / (1.0 + np.exp(-(theta @ self._a[pos].T - self._b[pos])))
            w = np.where(seen, sel.weights[None, :], 0.0)
            w = w / w.sum(axis=1, keepdims=True)
            v_anchor = (w ** 2 * P * (1 - P)).sum(axis=1)
            lam_gp = pirt_mse / (pirt_mse + v_anchor) if np.isfinite(pirt_mse) else np.zeros_like(v_anchor)
            out["gpirt"] = lam_gp * anchor + (1 - lam_gp) * pirt
            out["lambda_gp"] = lam_gp
        return out

    def estimate(self, responses, items=None, *, threads: Optional[int] = None) -> pd.DataFrame:
        """Full-benchmark score estimates for many models from their responses to a reduced item set.

        ``responses``: models x len(items) (0/1, NaN or -1 for missing); ``items``: an :class:`ItemSelection`
        (from :meth:`select_items`) or item positions/names (equal weights). Columns: naive (mean of the
        answered items), anchor (cluster-weighted mean), irt (mean over all items of P_i(theta_MAP)), pirt
        (tinyBenchmarks p-IRT), gpirt (mix of anchor and p-IRT), theta, se_theta, n_seen."""
        Y, rows, _ = _responses(responses)
        if isinstance(items, ItemSelection):
            sel = items
            if sel.items.size != Y.shape[1]:
                raise ValueError(f"argument 'responses' must have one column per selected item ({sel.items.size})")
        else:
            pos = self._item_positions(items, Y.shape[1])
            pos = np.arange(self._b.size, dtype=np.int64) if pos is None else pos
            sel = ItemSelection(pos, np.full(pos.size, 1.0 / pos.size), "given")
            full = _row_means(self._Y)
            est = self._estimates(np.ascontiguousarray(self._Y[:, pos]), sel, _threads(threads), None)
            sel.pirt_mse = float(np.nanmean((est["pirt"].to_numpy() - full) ** 2))
        out = self._estimates(Y, sel, _threads(threads), sel.pirt_mse)
        out.index = rows
        return out


def _row_means(Y: np.ndarray) -> np.ndarray:
    seen = Y >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen, Y, 0).sum(axis=1) / seen.sum(axis=1)


@with_progress("lawfit fit_irt")
def fit_irt(
    responses,
    model: str = "2pl",
    *,
    dim: int = 1,
    max_iter: int = 200,
    tol: float = 1e-4,
    prior_a=(1.0, 2.0),
    prior_b_sd: float = 3.0,
    method: str = "jmap",
    quadrature: int = 61,
    seed: int = 0,
    threads: Optional[int] = None,
) -> IRTModel:
    """Fit an IRT model to a models x items response matrix (0/1; NaN or -1 for missing), all at once.

    model: ``"rasch"`` (P = sigmoid(theta - b)), ``"2pl"`` (sigmoid(a theta - b)) or ``"mirt"``
    (multidimensional 2PL with ``dim`` ability dimensions). Joint MAP by alternating Newton steps (abilities
    per model, item parameters per item, in parallel) with a N(0, I) prior on abilities, ``a ~ N(prior_a)``
    (mean, sd; multidimensional: mean 0 beyond the first dimension) and ``b ~ N(0, prior_b_sd^2)``.
    Identifiability: abilities standardised every sweep (mean 0, unit sd / identity covariance), each
    dimension's discriminations sum to >= 0, and (multidimensional) abilities rotated to the principal axes
    of the loadings. Converged when the largest relative parameter change < ``tol``.

    ``method="mml"`` (2PL only): marginal maximum likelihood (Bock-Aitkin EM) with abilities integrated out
    against N(0, 1) on ``quadrature`` grid nodes in [-6, 6], the same priors on a and b; abilities are then the
    posterior means (EAP) with posterior sds. MML is the standard when models answer few items each (joint
    estimation inflates discriminations there); with hundreds of items per model both give the same items."""
    if model not in _MODELS:
        raise ValueError(f"model must be one of {sorted(_MODELS)}, got {show(model)}")
    code = _MODELS[model]
    name = {0: "rasch", 1: "2pl", 2: "mirt"}[code]
    dim = check_int("dim", dim, 1)
    if code == 2 and not (1 <= dim <= 8):
        raise ValueError(f"dim must be in [1, 8], got {dim}")
    if code != 2 and dim != 1:
        raise ValueError(f"dim applies to model='mirt' only (got dim={dim} with model={show(model)})")
    try:
        if isinstance(prior_a, (str, bytes)):
            raise TypeError
        a_mean, a_sd = (check_real("prior_a", v) for v in prior_a)
    except (TypeError, ValueError):
        raise ValueError(f"prior_a must be a (mean, sd) pair of numbers, got {show(prior_a)}") from None
    if not (np.isfinite(a_mean) and np.isfinite(a_sd) and a_sd > 0):
        raise ValueError(f"prior_a must be a (mean, sd) pair with a finite mean and sd > 0, got {show(prior_a)}")
    prior_b_sd = check_real("prior_b_sd", prior_b_sd)
    if not (np.isfinite(prior_b_sd) and prior_b_sd > 0):
        raise ValueError(f"prior_b_sd must be a finite number > 0, got {prior_b_sd!r}")
    max_iter = min(check_int("max_iter", max_iter, 1), INT32_LIMIT - 1)
    if not check_real("tol", tol) > 0:
        raise ValueError(f"tol must be > 0, got {show(tol)}")
    if method not in ("jmap", "mml"):
        raise ValueError(f"method must be 'jmap' or 'mml', got {show(method)}")
    if method == "mml" and code != 1:
        raise ValueError(f"method='mml' is implemented for model='2pl' only (got model={show(model)})")
    quadrature = check_int("quadrature", quadrature, 5)
    if quadrature > 401:
        raise ValueError(f"quadrature must be in [5, 401], got {quadrature}")
    seed = check_seed(seed, op="fit_irt")
    Y, rows, cols = _responses(responses)
    # Models and items without a single response carry no information; left in, they would move the others
    # (abilities are standardised over all models). They are fitted without, and reported with NaN estimates.
    seen = Y >= 0
    keep_r, keep_c = seen.any(axis=1), seen.any(axis=0)
    if keep_r.sum() < 2 or keep_c.sum() < 1:
        raise ValueError(f"argument 'responses' needs at least 2 models and 1 item with observed answers, got "
                         f"{int(keep_r.sum())} model(s) and {int(keep_c.sum())} item(s) with any (shape {Y.shape})")
    all_rows, all_cols = rows, cols
    if not (keep_r.all() and keep_c.all()):
        Y, rows, cols = np.ascontiguousarray(Y[np.ix_(keep_r, keep_c)]), rows[keep_r], cols[keep_c]
    item_keys = curve_hashes(pd.DataFrame({"item": np.asarray(cols)}), ["item"])
    nat = _core.evals_irt_fit(Y, code, dim, max_iter, float(tol), a_mean, a_sd, float(prior_b_sd),
                              seed, _threads(threads), 1 if method == "mml" else 0, quadrature, item_keys=item_keys)
    m = IRTModel(name, nat, rows, cols, Y)
    m._all_rows, m._all_cols, m._keep_rows, m._keep_cols = all_rows, all_cols, keep_r, keep_c
    return m


def read_responses(path) -> pd.DataFrame:
    """A wide CSV/Parquet of responses: first column = model name, other columns = items."""
    from ._data import to_pandas

    if not os.path.exists(os.fspath(path)):
        raise ValueError(f"responses: file not found: {path}")
    df = to_pandas(path, name="responses")
    return df.set_index(df.columns[0])
