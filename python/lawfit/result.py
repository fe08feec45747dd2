"""FitResult: per-curve parameters, uncertainty, status and predictions of a batched fit."""
from __future__ import annotations

import json
from statistics import NormalDist
from typing import Optional

import numpy as np
import pandas as pd

from ._args import check_prob, show
from ._data import key_index, lookup_curves, numeric_column, plain, to_pandas
from ._schema import FORMAT, SCHEMA_VERSION
from ._status import STATUS_NAMES, Status
from .catalogue import LawSpec, apply_transform


class FitResult:
    """The outcome of :func:`lawfit.fit`: one row per curve, indexed by the ``by`` column(s)."""

    def __init__(self, law: LawSpec, keys: pd.DataFrame, by: list, native: dict, options: dict):
        self.law = law
        self.keys = keys.reset_index(drop=True)
        self.by = list(by)
        self.options = dict(options)
        self._params = np.asarray(native["params"], dtype=np.float64)
        self._cost = np.asarray(native["cost"], dtype=np.float64)
        cov = native.get("cov")
        P = law.n_params
        self._cov = (
            np.asarray(cov, dtype=np.float64) if cov is not None else np.full((len(self._cost), P, P), np.nan)
        )
        self._iters = np.asarray(native["iters"], dtype=np.int64)
        self._status = np.asarray(native["status"], dtype=np.int64)
        best = native.get("best_start")
        self._best = np.asarray(best, dtype=np.int64) if best is not None else np.full(len(self._cost), -1, np.int64)
        self._npts = np.asarray(native["n_points"], dtype=np.int64)
        self.bootstrap_samples = None  # filled by FitResult.bootstrap (lawfit.uncertainty)
        self._batch = None  # (offsets, X, y, w) as fitted; set by lawfit.fit, not saved
        self._batch_perm = None  # when set, CSR curve i of _batch is curve _batch_perm[i] (see _fitted_batch)
        self._bounds = None  # (lower, upper) as fitted
        self._distributed = None  # lawfit.distributed._FitPlan of a fit of a Dask DataFrame / Ray Dataset
        ab = native.get("at_bound")  # [curves, P] parameter at a bound of the fit (from a saved fit)
        self._at_bound = np.asarray(ab, dtype=bool) if ab is not None else None
        fx = native.get("fixed")  # [curves, P] parameter held fixed (from a saved fit)
        self._fixed_saved = np.asarray(fx, dtype=bool) if fx is not None else None
        xr = native.get("x_range")  # [curves, d, 2]: observed min and max of each x column (from a saved fit)
        self._xrange_saved = np.asarray(xr, dtype=np.float64) if xr is not None else None

    @property
    def _xrange(self) -> np.ndarray:
        """Observed [min, max] of each x column per curve, [curves, d, 2] (for plots; computed on demand)."""
        if self._xrange_saved is None:
            if self._batch is None:
                return np.full((self.n_curves, 1, 2), np.nan)
            offsets, X = self._batch[0], self._batch[1]
            B, d = len(offsets) - 1, X.shape[1]
            out = np.full((B, d, 2), np.nan)
            nz = np.diff(offsets) > 0
            if d and nz.any():
                starts = offsets[:-1][nz]
                with np.errstate(invalid="ignore"):
                    out[nz, :, 0] = np.fmin.reduceat(X, starts, axis=0)
                    out[nz, :, 1] = np.fmax.reduceat(X, starts, axis=0)
            perm = getattr(self, "_batch_perm", None)
            if perm is not None:  # CSR order -> curve order
                out[perm] = out.copy()
            self._xrange_saved = out
        return self._xrange_saved

    def _fitted_batch(self):
        """(offsets, X, y, w) of the fitted data with the curves in this result's order, or None. A fit whose rows
        were grouped by curve in another order kept them in place; they are gathered here (once, on demand)."""
        perm = getattr(self, "_batch_perm", None)  # (absent from results pickled by earlier versions)
        if self._batch is not None and perm is not None:
            from ._data import csr_in_key_order

            self._batch = csr_in_key_order(*self._batch, perm)
            self._batch_perm = None
        return self._batch

    # ---- tables ----------------------------------------------------------------------------------
    @property
    def index(self) -> pd.Index:
        """The curves' keys as the index of every per-curve table (an Index of the ``by`` column, a MultiIndex of
        several). Built once and kept while ``keys`` and ``by`` are the same objects (a MultiIndex of 10^6 curves
        takes 40-90 ms to build, and every table reads it)."""
        cache = self.__dict__.get("_index_cache")
        if cache is None or cache[0] is not self.keys or cache[1] != list(self.by):
            cache = (self.keys, list(self.by), key_index(self.keys, self.by))
            self._index_cache = cache
        return cache[2]

    @property
    def n_curves(self) -> int:
        return len(self._cost)

    @property
    def params(self) -> pd.DataFrame:
        """Fitted parameters: a row per curve, a column per parameter (NaN where the fit failed)."""
        return pd.DataFrame(self._params, index=self.index, columns=list(self.law.params))

    @property
    def stderr(self) -> pd.DataFrame:
        """Standard errors: sqrt of the covariance diagonal."""
        d = np.sqrt(np.clip(np.diagonal(self._cov, axis1=1, axis2=2), 0, None))
        d[~np.isfinite(np.diagonal(self._cov, axis1=1, axis2=2))] = np.nan
        return pd.DataFrame(d, index=self.index, columns=list(self.law.params))

    @property
    def at_bound(self) -> pd.DataFrame:
        """Per curve and parameter: does the fitted value sit on a bound of the fit (a fixed parameter, with equal
        lower and upper bounds, included)? Such a parameter is not free: its standard error is NaN and the
        covariance of the others is conditional on its value."""
        ab = self._at_bound
        if ab is None:
            if self._bounds is None:
                ab = np.zeros(self._params.shape, dtype=bool)
            else:
                lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), self._params.shape) for v in self._bounds)
                ab = np.isfinite(self._params) & ((self._params <= lo) | (self._params >= hi))
            self._at_bound = ab
        return pd.DataFrame(ab, index=self.index, columns=list(self.law.params))

    @property
    def fixed(self) -> pd.DataFrame:
        """Per curve and parameter: was the parameter held fixed (``fixed=`` of :func:`lawfit.fit`, or bounds with
        lower == upper)? A fixed parameter is also :attr:`at_bound`: its standard error is NaN, the others'
        covariance is conditional on its value, and it is not counted in ``k`` of :meth:`report`."""
        fx = getattr(self, "_fixed_saved", None)  # (absent from results pickled by earlier versions)
        if fx is None:
            from .constraints import fixed_mask

            fx = fixed_mask(self._bounds, self._params.shape)
            if self._bounds is not None:
                self._fixed_saved = fx
        return pd.DataFrame(fx, index=self.index, columns=list(self.law.params))

    @property
    def tied(self) -> dict:
        """The ties of the fit (``tie=`` of :func:`lawfit.fit`), {param: expression}; {} without ties. A tied
        parameter's value is its expression at the fitted parameters, its standard error the delta method's
        (an equality tie: its partner's); it is not counted in ``k`` of :meth:`report`."""
        return dict(getattr(self.law, "tie", None) or {})

    @property
    def covariance(self) -> np.ndarray:
        """Parameter covariance per curve, [curves, P, P]: for l2, inv(J^T W J) times the residual variance
        (scipy's curve_fit); for robust losses (huber, soft_l1, cauchy) the sandwich H^-1 M H^-1 n / (n - k).
        Rows and columns of parameters at a bound (:attr:`at_bound`, fixed ones included) are NaN and the others'
        covariance is conditional on them. A tied parameter (:attr:`tied`) has the delta method's rows and
        columns, G C G^T with G the derivatives of every parameter with respect to the free ones."""
        return self._cov

    @property
    def objective(self) -> pd.Series:
        """Final cost per curve: 0.5 * sum of w * loss(residual) (scipy.optimize.least_squares' ``cost``): for l2,
        half the weighted sum of squared errors (0.5 x ``chisqr`` of :meth:`report`)."""
        return pd.Series(self._cost, index=self.index, name="objective")

    @property
    def status(self) -> pd.Series:
        """Status name per curve (see :class:`lawfit.Status`)."""
        cat = pd.Categorical.from_codes(self._status, categories=STATUS_NAMES)
        return pd.Series(cat, index=self.index, name="status")

    @property
    def status_code(self) -> pd.Series:
        return pd.Series(self._status, index=self.index, name="status_code")

    @property
    def iterations(self) -> pd.Series:
        return pd.Series(self._iters, index=self.index, name="iterations")

    @property
    def n_points(self) -> pd.Series:
        return pd.Series(self._npts, index=self.index, name="n_points")

    @property
    def best_start(self) -> pd.Series:
        return pd.Series(self._best, index=self.index, name="best_start")

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of curves with usable parameters (CONVERGED or MAX_ITER)."""
        return (self._status == Status.CONVERGED) | (self._status == Status.MAX_ITER)

    def to_frame(self, report: bool = False, data=None) -> pd.DataFrame:
        """Parameters, standard errors (``<param>_se``), objective (0.5 x the weighted sum of the loss of the
        residuals: for l2, half the weighted sum of squared errors), status, iterations, point counts, the
        parameters at a bound (``at_bound``, comma-separated names) and the fixed ones (``fixed``, a subset of
        ``at_bound``: see :attr:`fixed`). A tied parameter (:attr:`tied`) has its value and standard error.

        report=True adds the goodness-of-fit columns of :meth:`report` (k, dof, chisqr, redchi, noise_sd, aic, bic,
        rsquared, resid_rms, resid_max_abs, max_corr, max_corr_pair); ``data`` as in :meth:`report`."""
        se = self.stderr.add_suffix("_se")
        out = pd.concat([self.params, se], axis=1)
        out["objective"] = self._cost
        out["status"] = self.status.to_numpy()
        out["iterations"] = self._iters
        out["n_points"] = self._npts
        out["at_bound"] = _names(self.at_bound.to_numpy(), self.law.params, out.index)
        out["fixed"] = _names(self.fixed.to_numpy(), self.law.params, out.index)
        if report:
            rep = self.report(data=data)
            for c in rep.columns:
                if c not in out.columns:
                    out[c] = rep[c].to_numpy()
        return out

    def report(self, data=None, format: str = "frame", max_rows: int = 20):
        """Goodness of fit per curve, with lmfit's definitions: n_points, k (free parameters: those not at a bound),
        dof, objective, chisqr (sum w r^2), redchi (chisqr / (n - k)), noise_sd (sqrt(redchi)), aic, bic, rsquared,
        resid_rms, resid_max_abs, max_corr and max_corr_pair (the most correlated pair of parameters), at_bound,
        status. Residuals r are in the fitted space (log y - log f for space="log"); for robust losses the
        statistics are those of the plain residuals. The definitions in full: :mod:`lawfit.report`.

        data: the table to compute the residuals on (default: the data of the fit; a result loaded from a file
        needs it). format: "frame" (a DataFrame indexed like :attr:`params`) or "text" (a printable report: the
        definitions, a table of the first ``max_rows`` curves, a single curve's correlations)."""
        from .report import report_frame, report_text

        if format == "frame":
            return report_frame(self, data)
        if format == "text":
            return report_text(self, data, max_rows=max_rows)
        from ._args import show

        raise ValueError(f"report: format must be 'frame' or 'text', got {show(format)}")

    def correlations(self, curve=None) -> pd.DataFrame:
        """Parameter correlation matrix of one curve ([P, P] DataFrame), from the covariance: ``curve`` is a label
        of :attr:`index` (the ``by`` value, a tuple for several ``by`` columns; None when there is one curve).
        Parameters at a bound have NaN rows and columns."""
        from .report import correlations

        return correlations(self, curve)

    def summary(self, max_rows: int = 20) -> str:
        counts = pd.Series(pd.Categorical.from_codes(self._status, categories=STATUS_NAMES)).value_counts()
        counts = counts[counts > 0]
        lines = [
            f"lawfit fit of {self.law.name!r}: {self.law.formula}",
            f"  {self.n_curves} curve(s), {int(self._npts.sum())} points; loss={self.options.get('loss')}"
            f" (delta={self.options.get('delta')}), space={self.options.get('space')}",
            "  status: " + ", ".join(f"{k}={v}" for k, v in counts.items()),
            "  objective = 0.5 x sum of w * loss(residual) (for l2: half the weighted sum of squared errors); "
            "goodness of fit: FitResult.report()",
        ]
        fx = self.fixed.to_numpy()
        if fx.any():
            parts = []
            for j, p in enumerate(self.law.params):
                if not fx[:, j].any():
                    continue
                vals = np.unique(self._params[fx[:, j], j])
                where = "" if fx[:, j].all() else f" on {int(fx[:, j].sum())} of {self.n_curves} curves"
                parts.append(f"{p} = {vals[0]:.6g}{where}" if len(vals) == 1 else f"{p} per curve{where}")
            lines.append("  fixed (not fitted; SE NaN, the others' covariance conditional on them): " + ", ".join(parts))
        if self.tied:
            lines.append("  tied (not free; value and SE from the expression): "
                         + ", ".join(f"{k} = {v}" for k, v in self.tied.items()))
        tab = self.to_frame().head(max_rows)
        with pd.option_context("display.width", 200, "display.max_columns", 50, "display.float_format", "{:.6g}".format):
            lines.append(tab.to_string())
        if self.n_curves > max_rows:
            lines.append(f"  ... {self.n_curves - max_rows} more curve(s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        ok = int(self.ok.sum())
        return f"<FitResult law={self.law.name!r} curves={self.n_curves} ok={ok}>"

    # ---- prediction ------------------------------------------------------------------------------
    def _rows(self, new_data, x_cols) -> tuple:
        df = to_pandas(new_data, name="new_data")
        idx = lookup_curves(self.keys, self.by, df)
        if np.any(idx < 0):
            r = int(np.flatnonzero(idx < 0)[0])
            what = ", ".join(f"{c}={plain(df[c].iloc[r])!r}" for c in self.by)
            raise ValueError(f"new_data row {r}: no fitted curve with {what}")
        X = np.column_stack([numeric_column(df, c, "x") for c in x_cols]) if x_cols else np.empty((len(df), 0))
        if self.law.transform is not None:
            # Transform per curve, in curve order, then restore the row order.
            order = np.argsort(idx, kind="stable")
            counts = np.bincount(idx, minlength=self.n_curves)
            offsets = np.zeros(self.n_curves + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            raw = np.ascontiguousarray(X[order])
            Xt = np.array(apply_transform(self.law, offsets, raw, invalid="nan"), dtype=np.float64)
            raw_ok = np.isfinite(raw).all(axis=1)
            Xt[~raw_ok] = np.nan  # a non-finite input gives a NaN prediction, as for any law
            refused = np.flatnonzero(raw_ok & ~np.isfinite(Xt).all(axis=1))
            if refused.size:
                # The transform cannot take this curve's rows (e.g. lr_annealing's steps out of order): its reason,
                # from the curve's rows alone, with the curve named by its key.
                b = int(np.searchsorted(offsets, refused[0], side="right") - 1)
                key = ", ".join(f"{c}={plain(self.keys[c].iloc[b])!r}" for c in self.by) or "the single curve"
                rows = raw[offsets[b]:offsets[b + 1]]
                try:
                    self.law.transform(np.array([0, len(rows)], dtype=np.int64), rows)
                    reason = "its rows cannot be transformed"
                except ValueError as exc:
                    reason = str(exc).split("; curve")[0]
                raise ValueError(f"new_data: the rows of curve {key}: {reason}") from None
            X = np.empty_like(Xt)
            X[order] = Xt
        return df, idx, np.ascontiguousarray(X, dtype=np.float64)

    def predict(self, new_data, interval: Optional[float] = None, calibrate: Optional[str] = None,
                rungs: int = 1) -> pd.DataFrame:
        """Predict y for each row of ``new_data`` (the ``by`` column(s) pick the curve; the x columns are
        those used in the fit). Returns the ``by`` and x columns and ``y_pred``, with the index of ``new_data``
        (a pandas DataFrame's own index, so ``df["pred"] = res.predict(df).y_pred`` lines up; other inputs get
        0..n-1); with ``interval=level``
        also ``y_low``/``y_high``: from bootstrap samples when :meth:`bootstrap` was run, otherwise from the
        covariance by the delta method (normal approximation; parameters at a bound held fixed). Both are
        intervals for the law's value (the mean), not for a new observation.

        calibrate="holdout" (with ``interval``): a ladder-calibrated prediction interval for a new run, for
        scaling-law extrapolation. The fit is repeated without the largest rung of the ladder (the rows with the
        largest value of the first input, e.g. N); the factor k >= 1 by which that extrapolation missed the
        held-out rows beyond its own predictive spread (:func:`lawfit.uncertainty.holdout_factors`) widens the
        interval of a new observation at the requested rows: half-width z k sqrt(var f + sigma^2) in the fit's
        space (sigma: robust noise scale of the residuals). Adds the column ``k``."""
        x_cols = list(self.options["x"])
        df, idx, X = self._rows(new_data, x_cols)
        P = np.ascontiguousarray(self._params[idx])
        out = df[[*self.by, *x_cols]].copy() if len(df) else pd.DataFrame(columns=[*self.by, *x_cols])
        if calibrate is not None and calibrate != "holdout":
            raise ValueError(f"calibrate must be None or 'holdout', got {show(calibrate)}")
        if interval is None:
            if calibrate is not None:
                raise ValueError("calibrate='holdout' calibrates an interval: give interval=level as well")
            out["y_pred"] = self.law._eval(X, P) if len(df) else np.empty(0)
            return out
        interval = check_prob("interval", interval)
        z = NormalDist().inv_cdf(0.5 + interval / 2)
        if calibrate == "holdout":
            from .uncertainty import _fit_space, _noise_sd, holdout_factors, predictive_spread

            hf = holdout_factors(self, rungs)
            # The excess miss (k - 1) grows with the distance of the extrapolation, measured in units of the
            # held-out rung's distance (log of the first input beyond the largest fitted value; at least 1).
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.log(X[:, 0] / hf["x_top"].to_numpy()[idx]) / hf["log_distance"].to_numpy()[idx]
            d = np.where(np.isfinite(d), np.maximum(d, 1.0), 1.0)
            k = 1.0 + (hf["k"].to_numpy()[idx] - 1.0) * d
            offsets, Xb, yb, wb = self._fitted_batch()
            used = np.ones(len(yb), dtype=bool) if wb is None else np.asarray(wb) > 0
            sigma = _noise_sd(self, self._params, offsets, Xb, yb, used)
            f, sd = predictive_spread(self, X, idx, self._params, self._cov, self.at_bound.to_numpy(), sigma)
            half = z * k * sd
            out["y_pred"] = f
            if self.options.get("space", "linear") == "log":
                out["y_low"], out["y_high"] = f * np.exp(-half), f * np.exp(half)
            else:
                out["y_low"], out["y_high"] = f - half, f + half
            out["k"] = k
            return out
        if self.bootstrap_samples is not None:
            from .uncertainty import bootstrap_predict

            lo, mid, hi = bootstrap_predict(self, X, idx, interval)
            out["y_pred"] = self.law._eval(X, P)
            out["y_low"], out["y_high"] = lo, hi
            return out
        vg = self.law._eval(X, P, True)
        g = vg[:, 1:]
        c = self._cov[idx]
        ab = self.at_bound.to_numpy()[idx]
        c = np.where(ab[:, :, None] | ab[:, None, :], 0.0, c)  # a parameter on a bound is held fixed
        var = np.einsum("ni,nij,nj->n", g, c, g)
        se = np.sqrt(np.clip(var, 0, None))
        out["y_pred"] = vg[:, 0]
        out["y_low"] = vg[:, 0] - z * se
        out["y_high"] = vg[:, 0] + z * se
        return out

    # ---- planning --------------------------------------------------------------------------------
    def optimal(self, compute, **kw):
        """Compute-optimal (N, D) and loss for each curve at training compute ``compute`` (a number or an array),
        under C = k N D (k=6): closed form for chinchilla, numeric for any law of (N, D). Returns a DataFrame with
        the ``by`` columns, ``compute``, ``N``, ``D``, ``loss``; see :func:`lawfit.planning.optimal`."""
        from .planning import optimal

        return optimal(self, compute, **kw)

    # ---- uncertainty -----------------------------------------------------------------------------
    def bootstrap(self, n: int = 4000, method: str = "pairs", seed: int = 0, threads: Optional[int] = None,
                  progress: bool = False):
        """Bootstrap every curve (see :func:`lawfit.uncertainty.bootstrap`); keeps the samples so that
        ``predict(..., interval=level)`` uses them. Returns a :class:`lawfit.uncertainty.BootstrapResult`.
        A fit of a Dask DataFrame / Ray Dataset is bootstrapped partition by partition on the cluster (the same
        samples: :mod:`lawfit.distributed`)."""
        if getattr(self, "_distributed", None) is not None:  # a distributed fit: per-partition bootstraps
            return self._distributed.bootstrap(self, n=n, method=method, seed=seed, threads=threads, progress=progress)
        from .uncertainty import bootstrap

        res = bootstrap(self, n=n, method=method, seed=seed, threads=threads, progress=progress)
        self.bootstrap_samples = res.samples
        return res

    def profile_interval(self, param, level: float = 0.95, curves=None, dist: str = "f", rtol: float = 1e-6,
                         max_steps: int = 100, threads: Optional[int] = None) -> pd.DataFrame:
        """Profile-likelihood confidence interval of ``param`` per curve (lmfit's ``conf_interval``): the values v
        with (chisqr(v) - chisqr_min) / s^2 <= q, chisqr(v) the least chisqr with ``param`` held at v and the other
        parameters refitted, s^2 = chisqr_min / (n - k) the residual variance, q the ``level`` quantile of
        F(1, n - k) (``dist="f"``, lmfit's F test) or of chi2(1) (``dist="chi2"``). All curves and both ends are
        searched at once, one native fit of the whole batch per step, to ``rtol`` times the standard error.

        Returns a DataFrame indexed like :attr:`params` (the ``curves`` labels given, default all) with ``value``,
        ``low``, ``high``, ``low_status`` and ``high_status`` ("ok", "bound": the profile stays below q up to the
        parameter's bound, "open": no crossing and no bound (±inf), "fixed", "failed", "max_iter"). Needs the fit's
        data (not a loaded result), loss="l2" and no shared parameters; definitions in :mod:`lawfit.intervals`."""
        from .intervals import profile

        return profile(self, [param], level=level, dist=dist, curves=curves, rtol=rtol, max_steps=max_steps,
                       threads=threads)[param]

    def conf_interval(self, params=None, level: float = 0.95, method: str = "wald", dist: str = "f",
                      curves=None, **kw) -> pd.DataFrame:
        """Confidence intervals of the parameters (default all) per curve: columns ``<param>_low``, ``<param>_high``.

        method="wald": value ± c x stderr, c = t_{n-k} quantile (``dist="f"``) or the normal one (``dist="chi2"``),
        from :attr:`covariance` (the sandwich for robust losses). method="profile": :meth:`profile_interval` of
        every parameter (one batched search for all of them), the same calibration by ``dist`` (a linear model's
        profile interval is its Wald interval); ``kw`` go to it. A tied parameter whose expression depends on one
        parameter gets the image of that parameter's profile interval (NaN for an expression of several); fixed
        parameters have NaN ends."""
        from .intervals import profile, wald

        if method == "wald":
            if kw:
                raise ValueError(f"conf_interval: method='wald' takes no {sorted(kw)}")
            return wald(self, params, level=level, dist=dist, curves=curves)
        if method != "profile":
            raise ValueError(f"conf_interval: method must be 'wald' or 'profile', got {show(method)}")
        tie = self.tied
        names = list(self.law.params) if params is None else ([params] if isinstance(params, str) else list(params))
        own = [p for p in names if p not in tie]
        own += [q for q in (_tied_partner(self.law, p) for p in names if p in tie) if q is not None and q not in own]
        prof = profile(self, own, level=level, dist=dist, curves=curves, **kw) if own else {}
        cols = {}
        for p in names:
            if p in tie:  # a tied parameter: the image of its partner's interval (an expression of one parameter)
                cols.update(_tied_ends(self, p, prof, curves))
                continue
            cols[f"{p}_low"] = prof[p]["low"].to_numpy()
            cols[f"{p}_high"] = prof[p]["high"].to_numpy()
        index = next(iter(prof.values())).index if prof else self.index[_sel(self, curves)]
        return pd.DataFrame(cols, index=index)

    # ---- persistence -----------------------------------------------------------------------------
    def to_json(self) -> dict:
        def arr(a):
            return np.where(np.isfinite(a), a, None).tolist() if a.dtype.kind == "f" else a.tolist()

        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "law": self.law.to_json(),
            "by": self.by,
            "keys": {c: self.keys[c].tolist() for c in self.by},
            "options": self.options,
            "params": arr(self._params),
            "cost": arr(self._cost),
            "cov": arr(self._cov),
            "iters": self._iters.tolist(),
            "status": self._status.tolist(),
            "best_start": self._best.tolist(),
            "n_points": self._npts.tolist(),
            "x_range": arr(self._xrange),
            "at_bound": self.at_bound.to_numpy().astype(int).tolist(),
            "fixed": self.fixed.to_numpy().astype(int).tolist(),
        }

    def save(self, path) -> None:
        """Write the result as JSON (read back with :func:`lawfit.load_result`)."""
        with open(path, "w") as f:
            json.dump(self.to_json(), f)

    # ---- plotting --------------------------------------------------------------------------------
    def plot(self, data=None, *, ax=None, max_curves: int = 12, logx="auto", logy="auto", **kw):
        """Plot the fit (matplotlib: the ``plot`` extra), by :func:`lawfit.plot.result`: for a law of one input,
        the data (if given) and each curve's fitted law extended beyond the data (``extend=3``: dashed to 3x the
        largest x) with its bootstrap or delta-method band (:func:`lawfit.plot.curves`; ``logx``/``logy``: True,
        False or "auto"); for a law of two inputs, iso-loss contours with the data and the compute-optimal
        frontier (:func:`lawfit.plot.contours`); for more inputs, predicted against observed. Further keywords
        (``path=``, ``band=``, ``level=``, ``curves=``, ``curve=``, ...) go to that function. Returns the Axes."""
        from . import plot as _plot

        return _plot.result(self, data, ax=ax, max_curves=max_curves, logx=logx, logy=logy, **kw)


def _sel(result, curves) -> np.ndarray:
    from .intervals import _curves

    return _curves(result, curves, "conf_interval")


def _tied_partner(law, p: str):
    """The free parameter a tied parameter's expression depends on, when it depends on exactly one; else None."""
    _, cols = law._exprs[p]
    return law.params[law._keep[cols[0]]] if len(cols) == 1 else None


def _tied_ends(result, p: str, prof: dict, curves) -> dict:
    """The profile interval of a tied parameter whose expression g depends on one free parameter: the image under g
    of that parameter's profile interval (exact: the profile of g(theta) is theta's, mapped), the least and largest
    value of g on 65 points across it. NaN for an expression of several parameters."""
    law = result.law
    sel = _sel(result, curves)
    partner = _tied_partner(law, p)
    if partner is None:
        return {f"{p}_low": np.full(len(sel), np.nan), f"{p}_high": np.full(len(sel), np.nan)}
    j = list(law.params[k] for k in law._keep).index(partner)
    lo, hi = prof[partner]["low"].to_numpy(), prof[partner]["high"].to_numpy()
    t = np.linspace(0.0, 1.0, 65)
    with np.errstate(invalid="ignore"):
        grid = lo[:, None] + (hi - lo)[:, None] * t[None, :]  # [curves, 65]
    red = np.repeat(result._params[sel][:, law._keep][:, None, :], len(t), axis=1)
    red[:, :, j] = grid
    vals = law.expand(red)[:, :, law.params.index(p)]
    ok = np.isfinite(grid).all(axis=1)
    with np.errstate(invalid="ignore"):
        low = np.where(ok, vals.min(axis=1), np.nan)
        high = np.where(ok, vals.max(axis=1), np.nan)
    return {f"{p}_low": low, f"{p}_high": high}


def _names(mask: np.ndarray, params, index) -> pd.Series:
    """Comma-separated names of the parameters flagged in ``mask`` [curves, P], per curve."""
    names = np.full(len(mask), "", dtype=object)
    for j, p in enumerate(params):  # a column per parameter, vectorised over curves
        names = np.where(mask[:, j], names + ("," if j else "") + p, names)
    return pd.Series(names, index=index).str.lstrip(",")


def load_result(path) -> FitResult:
    """Read a FitResult written by :meth:`FitResult.save`.

    The file is checked against its schema (lawfit._schema; version 1, files without ``schema_version`` included)
    before anything is built: a truncated or damaged file, or one that is not a lawfit result (a CSV table, any
    other JSON), raises one ValueError naming the file and the offending field."""
    from ._schema import read_result

    law, keys, by, native, options = read_result(path)
    return FitResult(law, keys, by, native, options)
