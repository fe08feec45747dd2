"""lawfit.fitting: ``lawfit.fit``, fit one law to many curves at once (one native call, GIL released, all cores)."""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from ._args import INT32_LIMIT, check_alloc, check_int, check_label, check_real, check_seed, resolve_threads, show
from ._data import as_list, inverse_permutation, lookup_curves, make_batch, plain, to_pandas
from . import _device
from ._device import check_device
from ._native import _core
from ._progress import check_progress, progress_bar
from ._status import Status
from .constraints import TiedLaw, apply_fixed
from .catalogue import LawSpec, apply_transform, get_law
from . import distributed
from .distributed import is_distributed
from .result import FitResult

LOSSES = {"l2": 0, "linear": 0, "huber": 1, "soft_l1": 2, "cauchy": 3}
SPACES = {"linear": 0, "log": 1}


def _bounds(spec: LawSpec, bounds, keys: pd.DataFrame, by: list) -> tuple:
    lo = np.array(spec.lower, dtype=np.float64)
    hi = np.array(spec.upper, dtype=np.float64)
    if bounds is None:
        return lo, hi
    if isinstance(bounds, pd.DataFrame) or (
        isinstance(bounds, dict) and any(k in bounds for k in by) and by
    ):
        # Per-curve bounds: by columns plus <param>_lower / <param>_upper columns.
        bdf = to_pandas(bounds, name="bounds")
        idx = lookup_curves(keys, by, bdf) if by else np.zeros(len(bdf), dtype=np.int64)
        B = len(keys)
        L = np.tile(lo, (B, 1))
        H = np.tile(hi, (B, 1))
        known = {f"{p}_lower" for p in spec.params} | {f"{p}_upper" for p in spec.params} | set(by)
        extra = set(map(str, bdf.columns)) - known
        if extra:
            raise ValueError(
                f"bounds: unknown column(s) {sorted(extra)}; expected the by columns and <param>_lower/<param>_upper "
                f"for params {list(spec.params)}"
            )
        ok = idx >= 0
        if not ok.all():
            raise ValueError(f"bounds: row {int(np.flatnonzero(~ok)[0])} names a curve that is not in the data")
        for j, p in enumerate(spec.params):
            if f"{p}_lower" in bdf:
                L[idx, j] = bdf[f"{p}_lower"].to_numpy(dtype=float)
            if f"{p}_upper" in bdf:
                H[idx, j] = bdf[f"{p}_upper"].to_numpy(dtype=float)
        lo, hi = L, H
    elif isinstance(bounds, dict):
        for k, v in bounds.items():
            if k not in spec.params:
                raise ValueError(f"bounds: unknown parameter {show(k)}; {spec.name} has {list(spec.params)}")
            try:
                a, b = (float(t) if t is not None else np.nan for t in v)
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{k!r}] must be a (lower, upper) pair, got {show(v)}") from None
            j = spec.params.index(k)
            lo[j] = -np.inf if np.isnan(a) else a
            hi[j] = np.inf if np.isnan(b) else b
    else:
        raise ValueError("bounds must be a dict {param: (lower, upper)} or a DataFrame of per-curve bounds")
    bad = ~(lo <= hi)
    if np.any(bad):
        j = int(np.flatnonzero(bad.reshape(-1, spec.n_params).any(axis=0))[0])
        raise ValueError(f"bounds: lower > upper for parameter {spec.params[j]!r}")
    for j in range(spec.n_params):
        if spec.scale[j] == "log" and np.any(np.asarray(hi).reshape(-1, spec.n_params)[:, j] <= 0):
            raise ValueError(f"bounds: parameter {spec.params[j]!r} is positive by definition; its upper bound must be > 0")
    return np.ascontiguousarray(lo), np.ascontiguousarray(hi)


def _check_tied_args(spec: TiedLaw, bounds, shared) -> None:
    """A tied parameter has no bounds or shared flag of its own."""
    names = []
    if isinstance(bounds, dict):
        names = [k for k in bounds if k in spec.tie]
    elif isinstance(bounds, pd.DataFrame):
        names = [p for p in spec.tie if f"{p}_lower" in bounds.columns or f"{p}_upper" in bounds.columns]
    if names:
        raise ValueError(f"bounds: {names[0]!r} is tied (tie[{names[0]!r}] = {spec.tie[names[0]]!r}) and takes no "
                         "bounds of its own; bound the parameter(s) it is tied to")
    for p in as_list(shared):
        if p in spec.tie:
            raise ValueError(f"shared: {p!r} is tied (tie[{p!r}] = {spec.tie[p]!r}); share the parameter(s) it is "
                             "tied to")


def _starts(spec: LawSpec, starts, keys: pd.DataFrame, by: list, lo, hi) -> dict:
    if starts is None:
        return {"starts": spec.default_starts(), "project_linear": True}
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        if starts < 1:
            raise ValueError(f"starts: the number of random starts must be >= 1, got {int(starts)}")
        # The native solver keeps every start's result of a block of curves (at most ~2^18 (curve, start) pairs,
        # at least one curve): refuse a count whose block could not fit in memory before allocating it.
        S, P = int(starts), spec.n_params
        nb = min(max(len(keys), 1), max(1, (1 << 18) // S))
        check_alloc("fit", nb * S * (8.0 * P + 16.0), f"starts={S} random starts x {P} parameters",
                    "Use fewer random starts (a few dozen per curve are plenty).")
        glo = np.asarray(lo).reshape(-1, spec.n_params).max(axis=0)
        ghi = np.asarray(hi).reshape(-1, spec.n_params).min(axis=0)
        rlo, rhi = spec.random_range(glo, ghi)
        return {"n_random": int(starts), "rand_lo": rlo, "rand_hi": rhi, "project_linear": True}
    if isinstance(starts, (bool, np.bool_, float, np.floating)):
        raise ValueError(
            "starts must be None, an integer (random starts per curve), a DataFrame / dict with a column per "
            f"parameter or an [S, P] array, got {type(starts).__name__} {plain(starts)!r}"
        )
    if isinstance(starts, (list, tuple)):
        try:
            starts = np.asarray(starts, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("starts: a list of starts must be numbers, [S, P] (a row per start)") from None
    sdf = to_pandas(starts, name="starts") if not isinstance(starts, np.ndarray) else None
    if sdf is None:
        arr = np.asarray(starts, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if isinstance(spec, TiedLaw) and arr.shape[-1] == len(spec._keep):  # the free parameters' columns
            full = np.zeros(arr.shape[:-1] + (spec.n_params,))
            full[..., spec._keep] = arr
            arr = full
        if arr.shape[-1] != spec.n_params:
            raise ValueError(f"starts: last dimension must be {spec.n_params} ({', '.join(spec.params)})")
        return {"starts": np.ascontiguousarray(arr), "project_linear": False}
    tied = getattr(spec, "tie", None) or {}  # a tied parameter's start is not used: its column may be omitted
    missing = [p for p in spec.params if p not in sdf.columns and p not in tied]
    if missing:
        raise ValueError(f"starts: missing column(s) for parameter(s) {missing} of {spec.name}")
    per_curve = bool(by) and all(c in sdf.columns for c in by)
    vals = np.column_stack([sdf[p].to_numpy(dtype=np.float64) if p in sdf.columns else np.zeros(len(sdf))
                            for p in spec.params])  # (faster than sdf[cols])
    if not per_curve:
        return {"starts": np.ascontiguousarray(vals), "project_linear": False}
    idx = lookup_curves(keys, by, sdf)
    if np.any(idx < 0):
        raise ValueError(f"starts: row {int(np.flatnonzero(idx < 0)[0])} names a curve that is not in the data")
    B = len(keys)
    if len(idx) == B and np.array_equal(idx, np.arange(B)):  # one start per curve, in curve order
        return {"starts": np.ascontiguousarray(vals.reshape(B, 1, spec.n_params)), "project_linear": False}
    return {"starts": starts_by_curve(spec, idx, vals, B), "project_linear": False}


def starts_by_curve(spec, idx: np.ndarray, vals: np.ndarray, B: int, S: Optional[int] = None) -> np.ndarray:
    """[B, S, P] starts from table rows ``vals`` [n, P] of curves ``idx`` [n] (in row order per curve). S: the
    largest number of rows of a curve (default) or a given larger count; curves with fewer starts get NaN rows,
    which the solver skips, and curves without a row start at the law's default grid start."""
    counts = np.bincount(idx, minlength=B)
    S = max(int(counts.max()) if len(idx) else 1, 1) if S is None else S
    arr = np.full((B, S, spec.n_params), np.nan)
    order = np.argsort(idx, kind="stable")
    first = np.zeros(B, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    rank = np.arange(len(idx)) - first[idx[order]]
    arr[idx[order], rank] = vals[order]
    empty = counts == 0
    if empty.any():
        arr[empty, 0] = spec.default_starts()[0]
    return np.ascontiguousarray(arr)


def _transformed(spec: LawSpec, batch) -> tuple:
    """(the law's inputs from the raw x rows, refused [B]) for a law with a per-curve transform (lr_annealing).

    One curve never spoils the others: a curve with a non-finite raw value gets NaN inputs (status NON_FINITE,
    whatever the transform would make of it), and a curve the transform cannot take (e.g. steps that do not
    increase) gets NaN inputs and, after the fit, the status INVALID_INPUT (``refused``), instead of an error for
    the whole batch."""
    raw = batch.X
    Xt = np.array(apply_transform(spec, batch.offsets, raw, invalid="nan"), dtype=np.float64)
    raw_ok = np.isfinite(raw).all(axis=1)
    Xt[~raw_ok] = np.nan
    seg = np.repeat(np.arange(batch.n_curves), np.diff(batch.offsets))
    B = batch.n_curves
    nonfinite = np.bincount(seg[~raw_ok], minlength=B) > 0
    refused = (np.bincount(seg[raw_ok & ~np.isfinite(Xt).all(axis=1)], minlength=B) > 0) & ~nonfinite
    return np.ascontiguousarray(Xt), refused


def fit(
    data,
    law: Union[str, LawSpec],
    *,
    x: Union[str, Sequence[str]],
    y: str,
    by: Union[None, str, Sequence[str]] = None,
    weight: Optional[str] = None,
    loss: str = "l2",
    delta: Optional[float] = None,
    space: str = "linear",
    starts=None,
    bounds=None,
    fixed: Optional[dict] = None,
    tie: Optional[dict] = None,
    shared: Union[None, str, Sequence[str]] = None,
    max_iter: Optional[int] = None,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    threads: Optional[int] = None,
    seed: int = 0,
    nan_policy: str = "status",
    progress: bool = False,
    device: str = "cpu",
    compute: bool = True,
    solver: str = "varpro",
    scan: Union[int, str, None] = None,
) -> FitResult:
    """Fit ``law`` to every curve of ``data`` at once.

    Parameters
    ----------
    data: pandas or polars DataFrame, pyarrow Table, dict of arrays, or a CSV/Parquet path. A dict's numpy arrays
        and an Arrow table's numeric columns (no nulls, one chunk) are read in place, and rows grouped by curve
        (in any curve order) are not reordered: a float64 column the law reads as is (one x, y, weight) is not
        copied, and the result keeps a reference to it for :meth:`FitResult.bootstrap`.
    law: a catalogue name (see :func:`lawfit.laws`) or a :class:`lawfit.Law`.
    x: the input column(s), in the order of the law's inputs (e.g. ``["N", "D"]`` for chinchilla). Columns are
        matched by position, not by name: x=["D", "N"] feeds column D to the law's input N. When the columns carry
        the law's input names in another order, a UserWarning says so (the fit still goes by position).
    y: the observed column.
    by: column(s) identifying curves; each distinct value is fitted separately. None: one curve.
    weight: column of non-negative per-point weights (they multiply squared residuals).
    loss: "l2", "huber", "soft_l1" or "cauchy" (scipy.optimize.least_squares conventions).
    delta: the robust loss's scale (scipy's f_scale); default 1.0. Chinchilla used huber, delta=1e-3, log space.
    space: "linear" (y - f) or "log" (log y - log f) residuals.
    starts: None (the law's default grid, linear parameters solved exactly), an int n (n random starts per
        curve inside the bounds, drawn from the Philox stream of (``seed``, the curve's key hash), so a curve's
        starts do not depend on the other curves), or a DataFrame / dict with a column per parameter (a grid tried
        on every curve; a dict of scalars, e.g. ``{"E": 2, "A": 100, "alpha": 0.3}``, is one start for every curve;
        with the ``by`` column(s) present, starts per curve). The best start wins per curve.
    bounds: {param: (lower, upper)} for all curves, or a DataFrame with the ``by`` columns and
        ``<param>_lower`` / ``<param>_upper`` columns for per-curve bounds.
    fixed: {param: value}: hold parameters at values instead of fitting them (lmfit's ``vary=False``). A value is a
        number (every curve), a pandas Series indexed by curve (labels of the result's index; curves it omits, and
        NaN entries, leave the parameter free there) or an array of one value per curve in the result's curve
        order. A fixed parameter is fitted with lower = upper = the value: its standard error is NaN, the others'
        covariance is conditional on it (the fit equals one of the law with the value written in), it is not
        counted in ``k`` of :meth:`FitResult.report`, and :attr:`FitResult.fixed` flags it. Not with ``bounds``
        or ``shared`` for the same parameter.
    tie: {param: expression}: parameters that are functions of the others, e.g. ``{"beta": "alpha"}`` (one exponent
        for both terms of chinchilla) or ``{"B": "2*A"}``; an expression is a :class:`lawfit.Law` formula of the
        law's free parameters. The fit is that of the law with each tied parameter replaced by its expression (a
        :class:`lawfit.Law`, see :mod:`lawfit.constraints`; a built-in law whose formula text lawfit.Law cannot
        read raises ValueError); the result reports every parameter, a tied one with its expression's value and
        delta-method standard error (an equality tie: its partner's). A tied parameter takes no bounds, start,
        fixed value or shared flag of its own (starts may omit its column). CPU only.
    shared: parameter name(s) to share across all curves (one value fitted jointly), the others per curve.
    max_iter, ftol, xtol, gtol: solver limits (scipy conventions); max_iter defaults to 200.
    threads: worker threads (None or 0, the default: all cores; at most 4 x the cores are used).
    seed: the random starts' seed, an integer in [0, 2**64).
    nan_policy: "status" (curves with NaN/inf get status NON_FINITE), "omit" (drop those rows), "raise".
    progress: show a progress bar over the native loops (tqdm when installed, else a plain stderr bar).
        Ctrl-C interrupts the fit within ~50 ms whether or not a bar is shown.
    device: "cpu" (default) or "cuda": run the solver on the current CUDA device (built-in laws, no ``shared``).
        The CSR arrays built from ``data`` (host memory) are copied to the device for the call and the results
        copied back; ``threads`` is ignored. Same starts (Philox streams), statuses and best start as on the CPU;
        parameters agree to about 1e-7 relative (the CPU evaluates exp/log with vector math and sums in lanes,
        the device with its own exp/log, point by point: the last bits differ and the stopping test may fall one
        iteration apart).
        A build without CUDA raises ValueError, a CUDA build without a usable device RuntimeError.
        (Device-resident inputs, e.g. torch CUDA tensors, go to the native ``lawfit._cuda.fit_law_cuda``
        directly: offsets/x/y/w exposing ``__cuda_array_interface__`` are read in place.)
    compute: for a Dask DataFrame / Ray Dataset ``data`` (fitted partition by partition on the current cluster, the
        same results: :mod:`lawfit.distributed`), False returns a lazy frame of the per-curve table instead.
    solver: "varpro" (default): for l2 fits in linear space of a law with linear parameters (``lawfit.laws()``'s
        ``linear`` column, a formula's terms), variable projection: those parameters are solved exactly at every
        step and Levenberg-Marquardt iterates on the others, then a last LM pass on all parameters confirms the
        optimum; every other fit is plain LM. "lm": Levenberg-Marquardt on all parameters always. Both end at an
        optimum of the same problem; from poor starts they may reach different local optima.
    scan: which of several starts to solve, where VarPro applies (every start is first ranked by its projected
        cost: one evaluation, the linear parameters solved). "auto" (default, also None): the local minima of the
        projected cost over the start grid (the default grid or one given as a [S, P] array; neighbours are the
        adjacent values along each nonlinear parameter's axis), i.e. one solve per basin the grid resolves, usually
        one; with several, the best is polished at tight tolerances. Per-curve or random starts have no grid: every
        start is solved. An integer k >= 1: the best k by projected cost (ties go to the lower start). "all": every
        start (the others get no solve in the two ranked modes). Measured on the 2,000 hard power-law curves of
        bench/bench_varpro.py, see bench/README.md for the counts against the full grid. Fits where VarPro does
        not apply solve every start. CPU only (device="cuda" solves every start).
    """
    if compute is not True or is_distributed(data):  # a Dask DataFrame / Ray Dataset: lawfit.distributed
        return distributed.dispatch("fit", locals())
    spec = get_law(law)
    check_device(device, "fit")
    if tie is not None:
        if device == "cuda":
            raise ValueError("fit: tie= fits a lawfit.Law of the free parameters, which runs on the CPU; use "
                             "device='cpu'")
        spec = TiedLaw(spec, tie)
        _check_tied_args(spec, bounds, shared)
    if device == "cuda":
        if spec.to_json().get("kind") != "builtin":
            raise ValueError("fit: device='cuda' supports the built-in laws (lawfit.laws()); fit a lawfit.Law "
                             "formula with device='cpu'")
        if shared is not None and as_list(shared):
            raise ValueError("fit: device='cuda' does not support shared parameters; use device='cpu'")
    xs = as_list(x)
    if len(xs) != len(spec.x_names):
        raise ValueError(
            f"law {spec.name!r} takes {len(spec.x_names)} input column(s) ({', '.join(spec.x_names)}); got x={show(xs)}"
        )
    warn_swapped_inputs(spec, xs)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {show(loss)}; choose from {sorted(set(LOSSES) - {'linear'})}")
    if space not in SPACES:
        raise ValueError(f"unknown space {show(space)}; choose 'linear' or 'log'")
    delta = 1.0 if delta is None else check_real("delta", delta)
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be a positive number, got {delta!r}")
    max_iter = 200 if max_iter is None else check_int("max_iter", max_iter, 1)
    tols = {}
    for name, v in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        t = check_real(name, v)
        if not t >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {t!r}")
        tols[name] = t
    ftol, xtol, gtol = tols["ftol"], tols["xtol"], tols["gtol"]
    threads = resolve_threads(threads)
    seed = check_seed(seed)
    if solver not in ("varpro", "lm"):
        raise ValueError(f"solver must be 'varpro' or 'lm', got {show(solver)}")
    scan_native = _scan_mode(scan)
    y = check_label("y", y)
    weight = check_label("weight", weight, optional=True)
    shared_names = as_list(shared)
    # Only the columns the fit reads are converted (an Arrow table's others are left alone); a dict's arrays and
    # an Arrow table's numeric columns are read in place.
    df = to_pandas(data, columns=[*xs, y, *as_list(by), *([weight] if weight is not None else [])])
    if len(df) == 0:
        raise ValueError("data is empty: no rows to fit")
    # Rows grouped by curve in another order than the keys' are fitted where they are (permute), the per-curve
    # results put in key order afterwards; joint fits and transformed inputs take the rows in key order.
    permute = not shared_names and spec.transform is None
    batch = make_batch(df, xs, y, as_list(by), weight, nan_policy, permute=permute, threads=int(threads or 0))
    del df
    X = batch.X
    refused = None
    if spec.transform is not None:
        X, refused = _transformed(spec, batch)
    lo, hi = _bounds(spec, bounds, batch.keys, batch.by)
    if fixed is not None:
        lo, hi = apply_fixed(spec, fixed, batch.keys, batch.by, lo, hi, bounds=bounds, shared=shared_names)
    st = _starts(spec, starts, batch.keys, batch.by, lo, hi)
    common = dict(
        loss=LOSSES[loss],
        delta=float(delta),
        space=SPACES[space],
        ftol=float(ftol),
        xtol=float(xtol),
        gtol=float(gtol),
        max_iter=min(max_iter, INT32_LIMIT - 1),
        threads=threads,
        seed=seed,
        varpro=solver == "varpro",
        scan=scan_native,
    )
    for p in shared_names:
        if p not in spec.params:
            raise ValueError(f"shared: unknown parameter {show(p)}; {spec.name} has {list(spec.params)}")
    with progress_bar(check_progress(progress), f"lawfit fit {spec.name}"):
        if shared_names:
            from .shared import fit_shared

            out = fit_shared(spec, batch, X, lo, hi, st, shared_names, common)
        else:
            out = _fit_native(spec, batch, X, lo, hi, st, common, device)
    if refused is not None and refused.any():
        out = dict(out)
        out["status"] = np.where(refused, int(Status.INVALID_INPUT), np.asarray(out["status"])).astype(
            np.asarray(out["status"]).dtype)
        out["params"] = np.where(refused[:, None], np.nan, np.asarray(out["params"], dtype=np.float64))
    options = dict(x=xs, y=y, by=batch.by, weight=weight, loss=loss, delta=float(delta), space=space,
                   shared=shared_names, max_iter=int(max_iter), ftol=ftol, xtol=xtol, gtol=gtol, seed=int(seed),
                   solver=solver, scan={-1: "auto", 0: "all"}.get(scan_native, scan_native))
    if batch.perm is not None:  # CSR order -> key order, one array at a time
        inv = inverse_permutation(batch.perm)
        for k, v in out.items():
            if isinstance(v, np.ndarray) and v.ndim and len(v) == batch.n_curves:
                out[k] = v[inv]
                del v
    res = FitResult(spec, batch.keys, batch.by, out, options)
    del out
    # Kept for resampling (FitResult.bootstrap): the CSR batch as fitted (the caller's arrays where they were used
    # in place), and the bounds.
    res._batch = (batch.offsets, X, batch.y, batch.w)
    res._batch_perm = batch.perm
    res._bounds = (lo, hi)
    return res


def _scan_mode(scan) -> int:
    """fit's ``scan`` as the native fit's (core/fit/batch.hpp StartSpec::scan): -1 auto, 0 all, k."""
    if scan is None or (isinstance(scan, str) and scan == "auto"):
        return -1
    if isinstance(scan, str) and scan == "all":
        return 0
    if isinstance(scan, str):
        raise ValueError(f"scan must be 'auto', 'all' or an integer >= 1, got {show(scan)}")
    return check_int("scan", scan, 1)


def _fit_native(spec, batch, X, lo, hi, st, common, device="cpu") -> dict:
    """One native call over the whole batch (the CSR order of the batch; per-curve inputs reordered to it)."""
    if device == "cuda":
        common = {k: v for k, v in common.items() if k not in ("threads", "scan")}

        def native(**kw):
            return _device.cuda_module().fit_law_cuda(spec.name, **kw)
    else:
        native = spec._fit
    per_curve_bounds = np.ndim(lo) == 2
    st = dict(st)
    # The curves' random-stream keys draw random starts only: explicit starts (a grid included) never read them.
    hashes = batch.hashes if st.get("starts") is None else None
    if batch.perm is not None:  # per-curve inputs, given in key order, in CSR order
        p = batch.perm
        hashes = None if hashes is None else hashes[p]
        if per_curve_bounds:
            lo, hi = lo[p], hi[p]
        if st.get("starts") is not None and st["starts"].ndim == 3:
            st["starts"] = st["starts"][p]
    if st.get("starts") is not None:
        st["starts"] = np.ascontiguousarray(st["starts"])
    return native(
        offsets=np.ascontiguousarray(batch.offsets),
        x=X,
        y=batch.y,
        w=batch.w,
        lower=np.ascontiguousarray(lo),
        upper=np.ascontiguousarray(hi),
        keys=None if hashes is None else np.ascontiguousarray(hashes),
        **st,
        **common,
    )


def warn_swapped_inputs(spec: LawSpec, xs: list) -> None:
    """Warn when the x columns are the law's input names in another order (x=["D", "N"] for chinchilla's (N, D)):
    columns go by position, so the law would read D as N."""
    names = list(spec.x_names)
    try:
        same = len(xs) == len(names) > 1 and sorted(map(str, xs)) == sorted(names) and list(map(str, xs)) != names
    except TypeError:
        same = False
    if same:
        pairs = ", ".join(f"column {c!r} as {n!r}" for c, n in zip(xs, names) if str(c) != n)
        warnings.warn(
            f"x={[str(c) for c in xs]} names the inputs of law {spec.name!r} in another order than the law's "
            f"({', '.join(names)}); x columns are matched by position, so the law reads {pairs}. "
            f"Pass x={names} if the columns hold what their names say.", UserWarning, stacklevel=3)


def bad_rows(data, law, *, x, y, weight=None, space: str = "linear") -> pd.DataFrame:
    """The rows of ``data`` that make their curve fail whatever the parameters: NaN/inf in an x, y or weight column
    (status NON_FINITE), a negative weight, y <= 0 in log space, x outside the law's domain (INVALID_INPUT). Returns
    a DataFrame with ``row`` (position in ``data``) and ``reason``, in row order. The domain is checked by the
    native core (each row a curve of its own, one call); laws with an input transform are checked for the rest."""
    spec = get_law(law)
    df = to_pandas(data)
    xs = as_list(x)
    from ._data import numeric_column

    X = np.column_stack([numeric_column(df, c, "x") for c in xs]) if xs else np.empty((len(df), 0))
    yv = numeric_column(df, y, "y")
    wv = numeric_column(df, weight, "weight") if weight is not None else None
    n = len(df)
    reason = np.full(n, "", dtype=object)

    def flag(mask, text_fn):
        for i in np.flatnonzero(mask & (reason == "")):
            reason[i] = text_fn(int(i))

    def vals(i, cols, arr):
        return ", ".join(f"{c}={show(float(v))}" for c, v in zip(cols, arr))

    xbad = ~np.isfinite(X).all(axis=1)
    flag(xbad, lambda i: f"non-finite x ({vals(i, xs, X[i])})")
    flag(~np.isfinite(yv), lambda i: f"non-finite y ({y}={show(float(yv[i]))})")
    if wv is not None:
        flag(~np.isfinite(wv), lambda i: f"non-finite weight ({weight}={show(float(wv[i]))})")
        flag(wv < 0, lambda i: f"negative weight ({weight}={show(float(wv[i]))})")
    used = np.ones(n, dtype=bool) if wv is None else ~(wv == 0)
    if space == "log":
        flag(used & (yv <= 0), lambda i: f"y <= 0 cannot be fitted in log space ({y}={show(float(yv[i]))})")
    check = np.flatnonzero(used & (reason == "") & ~xbad)
    if spec.transform is None and check.size:
        Xc = np.ascontiguousarray(X[check])
        m = len(check)
        P = spec.n_params
        out = spec._fit(offsets=np.arange(m + 1, dtype=np.int64), x=Xc, y=np.ones(m), w=None,
                        lower=np.ascontiguousarray(spec.lower, dtype=np.float64),
                        upper=np.ascontiguousarray(spec.upper, dtype=np.float64),
                        keys=np.zeros(m, dtype=np.uint64), starts=spec.default_starts()[:1].reshape(1, P),
                        project_linear=False, loss=0, delta=1.0, space=0, ftol=1e-8, xtol=1e-8, gtol=1e-8,
                        max_iter=1, threads=0, seed=0)
        dom = np.asarray(out["status"]) == int(Status.INVALID_INPUT)
        names = list(spec.x_names)
        for j, i in zip(np.flatnonzero(dom), check[dom]):
            reason[i] = f"x outside the domain of law {spec.name!r} ({vals(int(i), names, Xc[j])})"
    rows = np.flatnonzero(reason != "")
    return pd.DataFrame({"row": rows.astype(np.int64), "reason": reason[rows].astype(str)})
