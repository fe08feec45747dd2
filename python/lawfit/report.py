"""Goodness-of-fit statistics of a FitResult (``FitResult.report()``), with lmfit's definitions.

Per curve, from the residuals of the fitted points (those with positive weight) in the fitted space
(``r = y - f`` for space="linear", ``r = log y - log f`` for space="log"), with weights w (1 without weights):

- ``n_points``: n, the points with positive weight;
- ``k``: the free parameters, those not at a bound (:attr:`FitResult.at_bound`) and not tied
  (:attr:`FitResult.tied`): a fixed parameter (``fixed=``, or lower == upper), one the fit left on a bound and a
  tied one are not free, as in the covariance, whose residual variance is chisqr / (n - k). lmfit counts a varying parameter that ended on a bound in its ``nvarys``; lawfit does not.
  A parameter shared across curves (``shared=``) counts in every curve's k.
- ``dof``: n - k (lmfit's ``nfree``);
- ``objective``: the solver's cost, 0.5 x sum w loss(r) (scipy.optimize.least_squares' ``cost``): for l2, 0.5 x
  chisqr (half the weighted sum of squared errors);
- ``chisqr``: sum w r^2 (lmfit's ``chisqr`` with lmfit weights sqrt(w), its residuals being multiplied by them);
- ``redchi``: chisqr / (n - k) (NaN when n <= k); ``noise_sd``: sqrt(redchi), the residual standard deviation of
  a point of unit weight, in the fitted space;
- ``aic``: n ln(chisqr / n) + 2k, ``bic``: n ln(chisqr / n) + ln(n) k (lmfit's, chisqr floored at 1e-250 n);
- ``rsquared``: 1 - sum r^2 / sum (y' - mean y')^2 with y' the data in the fitted space (log y in log space),
  unweighted, as lmfit >= 1.3 defines it (lmfit 1.2 divided the weighted residuals by the unweighted total);
  NaN when all y' are equal;
- ``resid_rms``, ``resid_max_abs``: root mean square and largest absolute plain residual r (unweighted);
- ``max_corr``, ``max_corr_pair``: the largest parameter correlation (in absolute value, shown with its sign) and
  the pair it belongs to, from the covariance (parameters at a bound have none);
  :meth:`FitResult.correlations` gives the whole matrix of a curve;
- ``at_bound``: the parameters on a bound, comma-separated; ``fixed``: those of them held fixed
  (:attr:`FitResult.fixed`).

Robust losses (huber, soft_l1, cauchy): the statistics are those of the plain residuals r of the robust fit, as if
it were a least-squares fit (chisqr = sum w r^2, not the robust objective): an outlier the loss discounted still
counts in chisqr, AIC, BIC and R^2. ``objective`` is the robust one. A failed curve (status not CONVERGED or
MAX_ITER) has NaN statistics.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

COLUMNS = ["n_points", "k", "dof", "objective", "chisqr", "redchi", "noise_sd", "aic", "bic", "rsquared",
           "resid_rms", "resid_max_abs", "max_corr", "max_corr_pair", "at_bound", "fixed", "status"]
CHUNK_POINTS = 1 << 20  # points evaluated at once (the law's values and parameters per point stay this small)


def _chunks(offsets: np.ndarray, size: int = CHUNK_POINTS):
    """Runs of whole curves [b0, b1) of about ``size`` points each (a larger curve alone)."""
    B = len(offsets) - 1
    b0 = 0
    while b0 < B:
        b1 = int(np.searchsorted(offsets, offsets[b0] + size, side="right")) - 1
        b1 = min(max(b1, b0 + 1), B)
        yield b0, b1
        b0 = b1


def _points(result, data):
    """(offsets, X, y, w) of the points to judge the fit on, the curves in the result's order."""
    if data is None:
        batch = result._fitted_batch()
        if batch is None:
            raise ValueError("report: this result holds no data (it was loaded from a file): pass data=, the table "
                             "it was fitted to, with its by, x, y (and weight) columns")
        return batch
    from ._data import numeric_column

    opts = result.options
    df, idx, X = result._rows(data, list(opts["x"]))
    y = numeric_column(df, opts["y"], "y")
    w = numeric_column(df, opts["weight"], "weight") if opts.get("weight") is not None else None
    order = np.argsort(idx, kind="stable")
    offsets = np.zeros(result.n_curves + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx, minlength=result.n_curves), out=offsets[1:])
    return offsets, np.ascontiguousarray(X[order]), y[order], None if w is None else w[order]


def residual_sums(result, data=None) -> dict:
    """Per-curve sums of the residuals of ``result`` (see the module's docstring), [curves] arrays: n, chisqr,
    ssr (sum r^2), sst (sum (y' - mean y')^2), max_abs."""
    offsets, X, y, w = _points(result, data)
    B = result.n_curves
    log = result.options.get("space", "linear") == "log"
    out = {k: np.zeros(B) for k in ("n", "chisqr", "ssr", "sst")}
    out["max_abs"] = np.full(B, np.nan)
    params = result._params
    for b0, b1 in _chunks(np.asarray(offsets)):
        a, z = int(offsets[b0]), int(offsets[b1])
        if z == a:
            continue
        counts = np.diff(offsets[b0:b1 + 1])
        seg = np.repeat(np.arange(b1 - b0), counts)
        f = result.law._eval(np.ascontiguousarray(X[a:z]), np.ascontiguousarray(params[b0:b1][seg]))
        yy = np.asarray(y[a:z], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ys = np.log(yy) if log else yy
            r = ys - (np.log(f) if log else f)
        ww = np.ones(z - a) if w is None else np.asarray(w[a:z], dtype=np.float64)
        used = (ww > 0) & np.isfinite(r) & np.isfinite(ww)
        r0 = np.where(used, r, 0.0)
        ys0 = np.where(used, ys, 0.0)
        nb = b1 - b0
        n = np.bincount(seg, weights=used.astype(np.float64), minlength=nb)
        out["n"][b0:b1] = n
        out["chisqr"][b0:b1] = np.bincount(seg, weights=np.where(used, ww, 0.0) * r0 * r0, minlength=nb)
        out["ssr"][b0:b1] = np.bincount(seg, weights=r0 * r0, minlength=nb)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.bincount(seg, weights=ys0, minlength=nb) / n
        dev = np.where(used, ys0 - mean[seg], 0.0)
        out["sst"][b0:b1] = np.bincount(seg, weights=dev * dev, minlength=nb)
        nz = counts > 0
        mx = np.full(nb, np.nan)
        mx[nz] = np.maximum.reduceat(np.where(used, np.abs(r0), -np.inf), (offsets[b0:b1] - a)[nz])
        out["max_abs"][b0:b1] = np.where(np.isfinite(mx), mx, np.nan)
    return out


def correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrices [curves, P, P] from covariances (NaN rows/columns stay NaN; a zero variance gives NaN)."""
    d = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = cov / (d[:, :, None] * d[:, None, :])
    c = np.clip(c, -1.0, 1.0)
    ii = np.arange(cov.shape[1])
    c[:, ii, ii] = np.where(np.isfinite(d) & (d > 0), 1.0, np.nan)
    return c


def _max_corr(result) -> tuple:
    """(signed largest |correlation|, 'p,q' names of its pair) per curve; NaN and '' where there is none."""
    params = list(result.law.params)
    B, P = result.n_curves, len(params)
    iu, ju = np.triu_indices(P, k=1)
    if len(iu) == 0 or B == 0:
        return np.full(B, np.nan), np.full(B, "", dtype=object)
    from .constraints import tied_mask

    c = correlation(result._cov)
    tm = tied_mask(result.law)  # a tied parameter's correlation with its partner (1 for an equality) says nothing
    c[:, tm, :] = np.nan
    c[:, :, tm] = np.nan
    c = c[:, iu, ju]
    a = np.where(np.isfinite(c), np.abs(c), -1.0)
    j = np.argmax(a, axis=1)
    val = c[np.arange(B), j]
    has = a[np.arange(B), j] >= 0
    names = np.array([f"{params[p]},{params[q]}" for p, q in zip(iu, ju)], dtype=object)
    return np.where(has, val, np.nan), np.where(has, names[j], "")


def report_frame(result, data=None) -> pd.DataFrame:
    """The table of :meth:`FitResult.report` (see the module's docstring for the columns)."""
    s = residual_sums(result, data)
    ok = result.ok
    ab = result.at_bound.to_numpy()
    n = s["n"]
    from .constraints import tied_mask

    k = (result.law.n_params - (ab | tied_mask(result.law)[None, :]).sum(axis=1)).astype(np.float64)
    dof = n - k
    with np.errstate(divide="ignore", invalid="ignore"):
        chisqr = s["chisqr"]
        redchi = np.where(dof > 0, chisqr / dof, np.nan)
        ll = n * np.log(np.maximum(chisqr, 1e-250 * n) / n)
        aic = ll + 2 * k
        bic = ll + np.log(n) * k
        r2 = np.where(s["sst"] > 0, 1.0 - s["ssr"] / s["sst"], np.nan)
        rms = np.sqrt(s["ssr"] / n)
    good = ok & (n > 0)
    mc, mp = _max_corr(result)

    def col(v):
        return np.where(good, v, np.nan)

    frame = result.to_frame()
    out = pd.DataFrame(
        {
            "n_points": result._npts,
            "k": pd.array(np.where(ok, k, np.nan), dtype="Int64"),
            "dof": pd.array(np.where(ok, dof, np.nan), dtype="Int64"),
            "objective": result._cost,
            "chisqr": col(chisqr),
            "redchi": col(redchi),
            "noise_sd": col(np.sqrt(redchi)),
            "aic": col(aic),
            "bic": col(bic),
            "rsquared": col(r2),
            "resid_rms": col(rms),
            "resid_max_abs": col(s["max_abs"]),
            "max_corr": np.where(ok, mc, np.nan),
            "max_corr_pair": np.where(ok, mp, ""),
            "at_bound": frame["at_bound"].to_numpy(),
            "fixed": frame["fixed"].to_numpy(),
            "status": result.status.to_numpy(),
        },
        index=result.index,
    )
    if data is not None:
        out["n_points"] = n.astype(np.int64)  # the points of the data given
    return out


def definitions(result) -> list:
    """Lines saying how the statistics of a report were computed."""
    opts = result.options
    loss, space = opts.get("loss", "l2"), opts.get("space", "linear")
    r = "log y - log f" if space == "log" else "y - f"
    w = f"weights w from column {opts['weight']!r}" if opts.get("weight") is not None else "w = 1 (no weights)"
    lines = [
        f"  residuals r = {r} (space={space}), {w}; n = points with w > 0; "
        "k = free parameters (not at a bound, not tied; fixed ones and those left on a bound are not free)",
        "  objective = 0.5 x sum w loss(r) (scipy's cost" + ("; 0.5 x chisqr for l2)" if loss in ("l2", "linear") else
                                                            f"; loss={loss}, delta={opts.get('delta')})"),
        "  chisqr = sum w r^2; redchi = chisqr/(n-k); noise_sd = sqrt(redchi); aic = n ln(chisqr/n) + 2k; "
        "bic = n ln(chisqr/n) + ln(n) k (lmfit's)",
        "  rsquared = 1 - sum r^2 / sum (y' - mean y')^2, y' the data in the fitted space, unweighted (lmfit >= 1.3)",
    ]
    if loss not in ("l2", "linear"):
        lines.append(f"  {loss} loss: chisqr, redchi, aic, bic and rsquared are those of the plain residuals of the "
                     "robust fit (outliers the loss discounted count in full)")
    return lines


def report_text(result, data=None, max_rows: int = 20, min_correl: float = 0.1) -> str:
    """The report as text: how the statistics are defined, a table of the first ``max_rows`` curves and, for a
    single curve, its parameter correlations above ``min_correl`` in absolute value (lmfit's fit_report style)."""
    tab = report_frame(result, data)
    lines = [f"lawfit report of {result.law.name!r}: {result.law.formula}",
             f"  {result.n_curves} curve(s), {int(np.nansum(tab['n_points']))} points; loss={result.options.get('loss')}"]
    lines += definitions(result)
    shown = tab.head(max_rows)
    with pd.option_context("display.width", 200, "display.max_columns", 50,
                           "display.float_format", "{:.6g}".format):
        lines.append(shown.to_string())
    if result.n_curves > max_rows:
        lines.append(f"  ... {result.n_curves - max_rows} more curve(s)")
    if result.n_curves == 1:
        c = correlation(result._cov)[0]
        params = list(result.law.params)
        pairs = [(abs(c[i, j]), params[i], params[j], c[i, j]) for i in range(len(params))
                 for j in range(i + 1, len(params)) if np.isfinite(c[i, j]) and abs(c[i, j]) > min_correl]
        if pairs:
            lines.append(f"  correlations (|corr| > {min_correl:g}):")
            for _, p, q, v in sorted(pairs, reverse=True):
                lines.append(f"    C({p}, {q}) = {v:+.4f}")
    elif result.n_curves > 1:
        lines.append("  FitResult.correlations(curve) gives a curve's correlation matrix")
    return "\n".join(lines)


def correlations(result, curve: Optional[object] = None) -> pd.DataFrame:
    """The parameter correlation matrix of one curve (a label of ``result.index``; None for a single curve)."""
    if curve is None:
        if result.n_curves != 1:
            raise ValueError(f"correlations: the result has {result.n_curves} curves; name one, e.g. "
                             f"correlations({_label(result.index[0]) if result.n_curves else '...'})")
        b = 0
    else:
        try:
            b = result.index.get_loc(curve)
        except (KeyError, TypeError, pd.errors.InvalidIndexError):
            b = None
        if not isinstance(b, (int, np.integer)):
            from ._args import show

            raise ValueError(f"correlations: curve must be one label of the result's index ({result.index.name or 'by'} "
                             f"values), got {show(curve)}")
    params = list(result.law.params)
    return pd.DataFrame(correlation(result._cov[b:b + 1])[0], index=params, columns=params)


def _label(v) -> str:
    from ._args import show

    return show(v)
