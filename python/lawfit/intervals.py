"""Confidence intervals of fitted parameters: Wald (from the covariance) and profile likelihood.

**Profile** (:meth:`lawfit.FitResult.profile_interval`, ``conf_interval(method="profile")``): for a parameter p of
a curve, the profile chi-square chisqr(v) is the least chisqr (sum w r^2) of the curve with p held at v and the other
parameters refitted. The interval is the set of v with

    (chisqr(v) - chisqr_min) / s^2  <=  q,      s^2 = chisqr_min / (n - k)

(chisqr(v) - chisqr_min = 2 (cost(v) - cost_min), cost the solver's objective; s^2 the residual variance of the fit,
n the points with positive weight, k its free parameters as in :meth:`lawfit.FitResult.report`). The threshold q is

- ``dist="f"`` (default): the ``level`` quantile of F(1, n - k), lmfit's ``conf_interval`` (its F-test of the fit
  with p fixed against the best fit: F = (chisqr(v)/chisqr_min - 1) (n - k) / 1), i.e. t_{n-k}^2 (the interval of
  a linear model is then its t-based Wald interval, ``p ± t_{n-k} se``);
- ``dist="chi2"``: the ``level`` quantile of chi2(1), Wilks' likelihood-ratio calibration with the noise variance
  taken as known, s^2 (a linear model's interval is then ``p ± z se``).

The ends are found by a bracketing search and Illinois regula falsi on sqrt(statistic) - sqrt(q) (linear in v for
a linear model, so the first step already lands on the end), all curves, parameters and both sides at once: every
step is one native fit of a batch in which each (curve, parameter, side) is a copy of the curve with that parameter
held (lower = upper = v) and the others refitted from the best fit and from the previous step's solution.

Profiles need a least-squares fit (``loss="l2"``, either ``space``; residuals in the fitted space) with the fitted
data at hand (not a loaded result), and no ``shared`` parameters. A tied parameter has no profile of its own (profile
the parameters it is tied to); a fixed one has none (NaN, status ``"fixed"``).

Status of each end: ``"ok"`` (the statistic crosses q there), ``"bound"`` (it stays below q up to the parameter's
bound: the end is the bound), ``"open"`` (no crossing within the search, which widened the step up to 60 times:
the end is ±inf), ``"fixed"``, ``"failed"`` (the curve's fit, or a refit, failed; n <= k) and ``"max_iter"`` (not
converged in ``max_steps``: the last estimate).
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from ._args import check_prob, show

DISTS = ("f", "chi2")


# ---- quantiles without scipy ----------------------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        de = d * c
        h *= de
        if abs(de - 1.0) < 1e-16:
            break
    return h


def _betainc(a: float, b: float, x: float, xc: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, with xc = 1 - x given separately (for precision)."""
    if x <= 0.0:
        return 0.0
    if xc <= 0.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(xc)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, xc) / b


def f1_cdf(f: float, dof: float) -> float:
    """P(F <= f) for F ~ F(1, dof) (= P(|T| <= sqrt f), T ~ t_dof)."""
    if f <= 0.0:
        return 0.0
    return 1.0 - _betainc(dof / 2.0, 0.5, dof / (dof + f), f / (dof + f))


def f1_quantile(level: float, dof: float) -> float:
    """The ``level`` quantile of F(1, dof), t_dof(1/2 + level/2)^2 (bisection on log f; ~1e-13 relative)."""
    if not (0.0 < level < 1.0) or not dof > 0:
        return float("nan")
    lo, hi = math.log(1e-14), math.log(1e14)
    for _ in range(120):
        mid = 0.5 * (lo + hi)
        if f1_cdf(math.exp(mid), dof) < level:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def threshold(level: float, dof, dist: str = "f") -> np.ndarray:
    """The threshold q of the statistic (chisqr - chisqr_min) / s^2 per curve: F(1, dof) or chi2(1) quantile."""
    dof = np.atleast_1d(np.asarray(dof, dtype=np.float64))
    if dist == "chi2":
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        return np.where(dof > 0, z * z, np.nan)
    out = np.full(dof.shape, np.nan)
    for v in np.unique(dof[dof > 0]):
        out[dof == v] = f1_quantile(level, float(v))
    return out


# ---- shared checks ----------------------------------------------------------------------------------------------------
def _names(result, params, op: str, allow_tied: bool) -> list:
    law = result.law
    tie = getattr(law, "tie", None) or {}
    if params is None:
        return [p for p in law.params if allow_tied or p not in tie]
    names = [params] if isinstance(params, str) else list(params)
    for p in names:
        if p not in law.params:
            raise ValueError(f"{op}: unknown parameter {show(p)}; {law.name} has {list(law.params)}")
        if p in tie and not allow_tied:
            raise ValueError(f"{op}: {p!r} is tied (tie[{p!r}] = {tie[p]!r}) and has no profile of its own; profile "
                             "the parameter(s) it is tied to")
    if len(set(names)) != len(names):
        raise ValueError(f"{op}: a parameter is named twice in {names}")
    return names


def _curves(result, curves, op: str) -> np.ndarray:
    if curves is None:
        return np.arange(result.n_curves)
    one = not isinstance(curves, (list, tuple, np.ndarray, pd.Index)) or (
        isinstance(curves, tuple) and isinstance(result.index, pd.MultiIndex))
    labels = [curves] if one else list(curves)
    pos = result.index.get_indexer(labels)
    if (pos < 0).any():
        raise ValueError(f"{op}: curves names {show(labels[int(np.flatnonzero(pos < 0)[0])])}, not a label of the "
                         f"result's index ({result.index.name or 'by'} values)")
    return pos.astype(np.int64)


def _dof(result) -> np.ndarray:
    from .constraints import tied_mask

    ab = result.at_bound.to_numpy() | tied_mask(result.law)[None, :]
    k = result.law.n_params - ab.sum(axis=1)
    return (result._npts - k).astype(np.float64)


def _check_dist(dist, op):
    if dist not in DISTS:
        raise ValueError(f"{op}: dist must be 'f' (lmfit's F test) or 'chi2', got {show(dist)}")


# ---- Wald ------------------------------------------------------------------------------------------------------------
def wald(result, params=None, level: float = 0.95, dist: str = "f", curves=None) -> pd.DataFrame:
    """``p ± c se`` per curve and parameter with c = t_{n-k}(1/2 + level/2) (``dist="f"``) or the normal quantile
    (``dist="chi2"``): the intervals a profile gives for a linear model. Columns ``<p>_low``, ``<p>_high``."""
    level = check_prob("level", level)
    _check_dist(dist, "conf_interval")
    names = _names(result, params, "conf_interval", allow_tied=True)
    sel = _curves(result, curves, "conf_interval")
    c = np.sqrt(threshold(level, _dof(result)[sel], dist))
    se = result.stderr.to_numpy()[sel]
    p = result._params[sel]
    out = {}
    for name in names:
        j = result.law.params.index(name)
        out[f"{name}_low"] = p[:, j] - c * se[:, j]
        out[f"{name}_high"] = p[:, j] + c * se[:, j]
    return pd.DataFrame(out, index=result.index[sel])


# ---- profile ---------------------------------------------------------------------------------------------------------
_OK, _BOUND, _OPEN, _FIXED, _FAILED, _MAXIT, _RUN = range(7)
STATUS = np.array(["ok", "bound", "open", "fixed", "failed", "max_iter", "running"], dtype=object)


def profile(result, params=None, level: float = 0.95, dist: str = "f", curves=None, rtol: float = 1e-6,
            max_steps: int = 100, threads: Optional[int] = None) -> dict:
    """Profile-likelihood intervals (see the module's docstring). Returns {param: DataFrame with value, low, high,
    low_status, high_status, indexed by curve}."""
    from ._args import check_int, resolve_threads
    from ._status import Status
    from .fitting import LOSSES, SPACES

    op = "profile_interval"
    level = check_prob("level", level)
    _check_dist(dist, op)
    max_steps = check_int("max_steps", max_steps, 1)
    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
        raise ValueError(f"{op}: rtol must be a number in (0, 1), got {show(rtol)}")
    o = result.options
    if o.get("loss", "l2") not in ("l2", "linear"):
        raise ValueError(f"{op}: a profile needs a least-squares fit (loss='l2'); this fit used loss={o.get('loss')!r} "
                         "(use conf_interval(method='wald') or FitResult.bootstrap)")
    if o.get("shared"):
        raise ValueError(f"{op}: a fit with shared parameters is one joint fit; profiles of its curves are not "
                         "supported")
    batch = result._fitted_batch()
    if batch is None or result._bounds is None:
        raise ValueError(f"{op} needs the fitted data: this result has none (it was loaded from a file); refit with "
                         "lawfit.fit")
    threads = resolve_threads(threads, op=op)
    names = _names(result, params, op, allow_tied=False)
    sel = _curves(result, curves, op)
    law = result.law
    B, P = result.n_curves, law.n_params
    offsets, X, y, w = batch
    offsets = np.asarray(offsets, dtype=np.int64)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lo_all = np.broadcast_to(np.asarray(result._bounds[0], dtype=np.float64), (B, P))
    hi_all = np.broadcast_to(np.asarray(result._bounds[1], dtype=np.float64), (B, P))
    jidx = np.array([law.params.index(p) for p in names], dtype=np.int64)
    fixed = result.fixed.to_numpy()
    dof = _dof(result)
    q = threshold(level, dof, dist)
    common = dict(loss=LOSSES["l2"], delta=float(o.get("delta", 1.0)), space=SPACES[o.get("space", "linear")],
                  ftol=min(float(o.get("ftol", 1e-8)), 1e-12), xtol=min(float(o.get("xtol", 1e-8)), 1e-12),
                  gtol=min(float(o.get("gtol", 1e-8)), 1e-12), max_iter=max(int(o.get("max_iter", 200)), 1000),
                  threads=threads, seed=0)

    def refit(tb: np.ndarray, lower: np.ndarray, upper: np.ndarray, starts: np.ndarray) -> tuple:
        """One native fit of copies of curves tb (bounds and starts per copy): (cost, params, ok)."""
        counts = np.diff(offsets)[tb]
        off = np.zeros(len(tb) + 1, dtype=np.int64)
        np.cumsum(counts, out=off[1:])
        rows = np.repeat(offsets[:-1][tb] - off[:-1], counts) + np.arange(int(off[-1]))
        out = law._fit(offsets=off, x=np.ascontiguousarray(X[rows]), y=np.ascontiguousarray(y[rows]),
                       w=None if w is None else np.ascontiguousarray(np.asarray(w, dtype=np.float64)[rows]),
                       lower=np.ascontiguousarray(lower), upper=np.ascontiguousarray(upper),
                       starts=np.ascontiguousarray(starts), project_linear=False, want_cov=False, keys=None, **common)
        st = np.asarray(out["status"])
        ok = (st == int(Status.CONVERGED)) | (st == int(Status.MAX_ITER))
        return np.asarray(out["cost"], dtype=np.float64), np.asarray(out["params"], dtype=np.float64), ok

    # Tasks: (curve, parameter, side), curve-major.
    nb, nj = len(sel), len(jidx)
    tb = np.repeat(sel, nj * 2)
    tj = np.tile(np.repeat(jidx, 2), nb)
    ts = np.tile(np.array([-1.0, 1.0]), nb * nj)
    T = len(tb)
    p0 = result._params[tb, tj]
    se = result.stderr.to_numpy()[tb, tj]
    tlo, thi = lo_all[tb, tj], hi_all[tb, tj]
    log_scale = np.array([law.scale[j] == "log" for j in tj], dtype=bool)
    status = np.full(T, _RUN, dtype=np.int64)
    end = np.full(T, np.nan)
    curve_ok = result.ok[tb] & (dof[tb] > 0) & np.isfinite(q[tb])
    status[~curve_ok] = _FAILED
    status[curve_ok & fixed[tb, tj]] = _FIXED
    # the best fit, refitted tightly (the minimum the statistic is measured from)
    good = sel[result.ok[sel]]
    cost_min = result._cost.copy()
    if len(good):
        c, _, okr = refit(good, lo_all[good], hi_all[good], result._params[good][:, None, :])
        cost_min[good] = np.where(okr & (c < cost_min[good]), c, cost_min[good])
    sq = np.sqrt(q[tb])
    # an end on the bound the estimate sits on
    on = (status == _RUN) & (((ts < 0) & (p0 <= tlo)) | ((ts > 0) & (p0 >= thi)))
    status[on], end[on] = _BOUND, np.where(ts[on] < 0, tlo[on], thi[on])
    scale = np.where(np.isfinite(se) & (se > 0), se, np.maximum(np.abs(p0) * 0.1, 1e-6))
    v = p0 + ts * np.where(np.isfinite(se) & (se > 0), sq * se, scale)
    a, ga = p0.copy(), -sq  # inside point (statistic 0 at the optimum)
    b, gb = np.full(T, np.nan), np.full(T, np.nan)  # outside point, once found
    last = np.zeros(T, dtype=np.int64)  # side replaced last in the bracket: -1 a, +1 b
    expands = np.zeros(T, dtype=np.int64)
    sol = result._params[tb].copy()  # the previous solution of each task

    def clamp(v, t):
        """Candidates v of tasks t inside the bounds; a log-scale parameter never reaches 0 (from the inside point
        a, it goes 10x closer each step)."""
        v = np.minimum(np.maximum(v, tlo[t]), thi[t])
        return np.where(log_scale[t] & (v <= 0), a[t] * 0.1, v)

    v = clamp(v, np.arange(T))
    for _ in range(max_steps):
        act = np.flatnonzero(status == _RUN)
        if not len(act):
            break
        cb, cj = tb[act], tj[act]
        lower = lo_all[cb].copy()
        upper = hi_all[cb].copy()
        lower[np.arange(len(act)), cj] = v[act]
        upper[np.arange(len(act)), cj] = v[act]
        starts = np.stack([result._params[cb], sol[act]], axis=1)
        c, pr, okr = refit(cb, lower, upper, starts)
        sol[act] = np.where(okr[:, None], pr, sol[act])
        stat = (c - cost_min[cb]) / cost_min[cb] * dof[cb]  # (chisqr - chisqr_min) / s^2, chisqr = 2 cost
        with np.errstate(invalid="ignore"):
            g = np.sqrt(np.maximum(stat, 0.0)) - sq[act]
        bad = ~okr | ~np.isfinite(g)
        status[act[bad]] = _FAILED
        act, g, vv, stat = act[~bad], g[~bad], v[act[~bad]], stat[~bad]
        converged = np.abs(g) <= rtol
        status[act[converged]], end[act[converged]] = _OK, vv[converged]
        act, g, vv, stat = act[~converged], g[~converged], vv[~converged], stat[~converged]
        inside = g < 0
        bracketed = np.isfinite(b[act])
        # -- not bracketed yet: widen (or stop on a bound)
        m = ~bracketed & inside
        if m.any():
            t = act[m]
            a[t], ga[t] = vv[m], g[m]
            hit = (vv[m] <= tlo[t]) | (vv[m] >= thi[t])
            status[t[hit]], end[t[hit]] = _BOUND, vv[m][hit]
            expands[t] += 1
            opened = ~hit & (expands[t] > 60)
            to = t[opened]
            edge = np.where(ts[to] < 0, tlo[to], thi[to])  # a log-scale parameter approaching its bound 0
            status[to], end[to] = np.where(np.isfinite(edge), _BOUND, _OPEN), np.where(np.isfinite(edge), edge,
                                                                                       ts[to] * np.inf)
            go = t[~hit & ~opened]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = sq[go] / np.sqrt(np.maximum(stat[m][~hit & ~opened], 0.0))
            factor = np.clip(np.where(np.isfinite(ratio), ratio, 10.0), 1.5, 10.0)
            v[go] = clamp(p0[go] + (v[go] - p0[go]) * factor, go)
        m = ~bracketed & ~inside
        b[act[m]], gb[act[m]] = vv[m], g[m]
        # -- bracketed before: Illinois update
        m = bracketed & inside
        t = act[m]
        a[t], ga[t] = vv[m], g[m]
        gb[t] = np.where(last[t] == -1, gb[t] * 0.5, gb[t])
        last[t] = -1
        m = bracketed & ~inside
        t = act[m]
        b[t], gb[t] = vv[m], g[m]
        ga[t] = np.where(last[t] == 1, ga[t] * 0.5, ga[t])
        last[t] = 1
        # -- next candidate of the bracketed tasks: regula falsi, or done when the bracket is tight
        t = act[np.isfinite(b[act])]
        tight = np.abs(b[t] - a[t]) <= rtol * scale[t]
        nxt = b[t] - gb[t] * (b[t] - a[t]) / (gb[t] - ga[t])
        status[t[tight]], end[t[tight]] = _OK, nxt[tight]
        v[t[~tight]] = nxt[~tight]
    run = status == _RUN
    status[run] = _MAXIT
    end[run] = np.where(np.isfinite(b[run]), b[run] - gb[run] * (b[run] - a[run]) / (gb[run] - ga[run]), a[run])
    out = {}
    idx = result.index[sel]
    for k, name in enumerate(names):
        m = tj == jidx[k]
        lo_m, hi_m = m & (ts < 0), m & (ts > 0)
        low, high = end[lo_m], end[hi_m]
        frame = pd.DataFrame({
            "value": result._params[sel, jidx[k]],
            "low": low,
            "high": high,
            "low_status": pd.Categorical(STATUS[status[lo_m]], categories=list(STATUS[:6])),
            "high_status": pd.Categorical(STATUS[status[hi_m]], categories=list(STATUS[:6])),
        }, index=idx)
        out[name] = frame
    return out


__all__ = ["f1_cdf", "f1_quantile", "threshold", "wald", "profile", "STATUS"]
