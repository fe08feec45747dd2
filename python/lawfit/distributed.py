"""lawfit.distributed: fit, bootstrap, extrapolate and price on a Dask or Ray cluster, partition by partition.

``lawfit.fit``, ``FitResult.bootstrap``, ``lawfit.extrapolate``, ``lawfit.should_stop``, ``lawfit.cost.evaluate``
and ``lawfit.plan`` take a Dask DataFrame or a Ray Dataset wherever they take a table, with the same arguments, and
run on the current cluster (the ``dask.distributed.Client`` in use, else Dask's local scheduler; ``ray.init()``)::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")
    runs = lawfit.io.read_runs("s3://bucket/runs/")            # a lazy Dask DataFrame, long format
    res = lawfit.fit(runs, "pow3", x="step", y="loss", by="run")   # a FitResult, tables computed
    boot = res.bootstrap(n=1000)                                # per-partition bootstraps
    table = lawfit.fit(runs, "pow3", x="step", y="loss", by="run", compute=False)  # lazy per-curve results
    lawfit.io.write(table, "s3://bucket/fits/", like="s3://bucket/runs/")

How the work is split (docs/scale-out.md):

1. Regroup. Every row is tagged with its position (input partition, row within it); the rows are shuffled by the
   curve key, so that every partition holds whole curves (Dask: ``DataFrame.shuffle(on=by)``; Ray: ``groupby`` on a
   bucket of the curve's key hash). In a task the rows are put back in their input order, so each curve's points
   are in the order the in-memory call sees them.
2. Run. One task per partition calls the in-memory function on it. A task is a pure function of its partition
   and arguments: the engines may rerun it (a worker died, a result was lost) and get the same result.
3. Combine. The per-curve results are put in key order, the order of the in-memory call's curves.

Results are identical to the in-memory call on the same rows: every random stream (random starts, bootstrap
resamples, MCMC chains, predictive noise) is keyed by (seed, hash of the curve's key), never by the curve's
position or partition. Two settings of the in-memory calls depend on the whole batch, and are taken from the whole
batch here: extrapolate's default walker count (2 x the largest dimension of any curve + 2; partitions whose own
count is smaller are rerun with the batch's), and fit's random-start range with per-curve bounds (refused).

Memory: a task holds one partition (its rows and its curves' results); ``partitions=`` sets how many partitions
the curves are shuffled into (default: as many as the input has). ``compute=False`` returns a lazy Dask DataFrame /
Ray Dataset of per-curve results that never meets the client; ``compute=True`` (the default) gathers the per-curve
results (not the data) into the usual result objects.
"""
from __future__ import annotations

import math
import pickle
from typing import Optional

import numpy as np
import pandas as pd

PART, ROW, BUCKET, PAYLOAD = "_lawfit_part", "_lawfit_row", "_lawfit_bucket", "_lawfit_payload"
_HELPERS = (PART, ROW, BUCKET)


# ---- what is distributed -------------------------------------------------------------------------------------
def engine_of(data) -> Optional[str]:
    """"dask" for a Dask DataFrame, "ray" for a Ray Dataset, None otherwise (nothing is imported)."""
    mod = type(data).__module__ or ""
    if mod.startswith(("dask.", "dask_expr")) and hasattr(data, "npartitions") and hasattr(data, "columns"):
        return "dask"
    if mod.startswith("ray.data") and hasattr(data, "groupby") and hasattr(data, "map_batches"):
        return "ray"
    return None


def is_distributed(data) -> bool:
    """Whether ``data`` is a Dask DataFrame or a Ray Dataset (the hook of the public entry points)."""
    return engine_of(data) is not None


def dispatch(op: str, args: dict):
    """The hook at the top of the public entry points: ``args`` are the entry point's arguments (its locals() on
    entry). Runs the distributed form of ``op``; refuses compute=False for in-memory data."""
    args = dict(args)
    extra = args.pop("kwargs", None) if op == "should_stop" else args.pop("assumptions", None) \
        if op in ("cost.evaluate", "plan") else None
    args.update(extra or {})
    compute = args.pop("compute", True)
    if not isinstance(compute, (bool, np.bool_)):
        raise ValueError(f"{op}: compute must be True or False, got {type(compute).__name__} {compute!r}")
    data_arg = {"cost.evaluate": "configs", "plan": "grid"}.get(op, "data")
    if not is_distributed(args.get(data_arg)):
        hint = ("; a lazy frame of a grid: lawfit.distributed.evaluate(grid, compute=False)"
                if type(args.get(data_arg)).__name__ == "Grid" else "")
        raise ValueError(f"{op}: compute=False applies to a Dask DataFrame or a Ray Dataset (lazy per-curve "
                         f"results); {data_arg} of type {type(args.get(data_arg)).__name__} is computed at once{hint}")
    fn = {"fit": fit, "extrapolate": extrapolate, "should_stop": should_stop, "cost.evaluate": evaluate,
          "plan": plan}[op]
    if op == "plan":
        return fn(**args)
    return fn(**args, compute=bool(compute))


def _progress_requested() -> bool:
    """Whether the caller asked for progress=True (the with_progress wrapper of the entry point set its flag)."""
    from ._progress import _active

    return bool(getattr(_active, "on", False))


def _task_threads(threads) -> int:
    """Native threads of one task: the engines run one task per worker thread / CPU, so None means 1."""
    from ._args import resolve_threads

    return 1 if threads is None else resolve_threads(threads)


# ---- the regrouped data ---------------------------------------------------------------------------------------
def _tag(df: pd.DataFrame, partition_info=None) -> pd.DataFrame:
    """The rows of one input partition with their position: (input partition, row within it)."""
    number = partition_info["number"] if partition_info else 0
    return df.assign(**{PART: np.full(len(df), number, dtype=np.int64), ROW: np.arange(len(df), dtype=np.int64)})


def _whole(df: pd.DataFrame) -> pd.DataFrame:
    """A regrouped partition as the in-memory call sees it: rows in their input order, helper columns dropped."""
    keep = [c for c in df.columns if c not in _HELPERS]
    if PART in df.columns and len(df) > 1:
        key = (df[PART].to_numpy().astype(np.int64) << np.int64(32)) | df[ROW].to_numpy().astype(np.int64)
        if not bool(np.all(key[1:] > key[:-1])):  # (rows already in input order are taken as they are)
            return df.iloc[np.argsort(key, kind="stable")][keep].reset_index(drop=True)
    return df[keep].reset_index(drop=True)


def _bucket_of(df: pd.DataFrame, by: list, k: int) -> np.ndarray:
    """The bucket (0..k-1) of every row's curve: its key hash (lawfit's own, the same on every machine) mod k."""
    from ._data import curve_hashes

    if not by:
        return np.zeros(len(df), dtype=np.int64)
    return (curve_hashes(df[by].reset_index(drop=True), by) % np.uint64(k)).astype(np.int64)


def _tag_block(block: pd.DataFrame, number: int) -> pd.DataFrame:
    return _tag(block, {"number": number})


def _ray_keep(batch: pd.DataFrame, buckets: list) -> pd.DataFrame:
    return batch[batch[BUCKET].isin(buckets)]


def _ray_empty(schema) -> pd.DataFrame:
    """An empty pandas frame with a Ray Dataset's columns and types: from its Arrow schema, or, for datasets of
    pandas blocks in older Ray releases (PandasBlockSchema: names and numpy dtypes), from those."""
    base = getattr(schema, "base_schema", schema)
    if hasattr(base, "empty_table"):
        return base.empty_table().to_pandas()
    return pd.DataFrame({n: pd.Series(dtype=t) for n, t in zip(base.names, base.types)})


def _ray_prepare(batch: pd.DataFrame, by: list, k: int) -> pd.DataFrame:
    return batch.assign(**{BUCKET: _bucket_of(batch, by, k)})


class Regrouped:
    """The rows of a Dask DataFrame / Ray Dataset regrouped so that every partition holds whole curves.

    ``run(fn, args)`` calls ``fn(partition, args)`` on every partition (a pandas DataFrame of whole curves in their
    input row order) and returns the results (compute=True) or a lazy frame of the per-curve tables fn returns."""

    def __init__(self, data, columns, by, partitions=None, shuffle=True, op="fit"):
        from ._args import check_int

        self.engine = engine_of(data)
        self.by = list(by)
        cols = list(dict.fromkeys([c for c in columns if c is not None]))
        have = list(data.columns) if self.engine == "dask" else list(data.columns())
        for c in cols:
            if c not in have:
                raise ValueError(f"{op}: column {c!r} not found; columns are: {', '.join(map(str, have))}")
        if partitions is not None:
            partitions = check_int("partitions", partitions, 1, op=op)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"{op}: shuffle must be True or False, got {type(shuffle).__name__} {shuffle!r}")
        self.shuffle = bool(shuffle)
        if self.engine == "dask":
            ddf = data[cols]
            meta = _tag(ddf._meta)
            tagged = ddf.map_partitions(_tag, meta=meta)
            n = partitions or ddf.npartitions
            if not self.by:
                tagged = tagged.repartition(npartitions=1)
            elif self.shuffle:
                tagged = tagged.shuffle(on=self.by, npartitions=n)
            self.frame = tagged
            self.npartitions = tagged.npartitions
        else:
            import ray

            # Ray Data keeps no row order of its own: the input's blocks are taken in the dataset's order
            # (preserve_order) as pandas frames in the object store (which spills to disk), each tagged with its
            # position, then grouped by a bucket of the curve's key hash.
            ds = data.select_columns(cols)
            ds.context.execution_options.preserve_order = True
            tag = ray.remote(_tag_block)
            refs = [tag.remote(ref, i) for i, ref in enumerate(ds.to_pandas_refs())]
            if partitions is None:
                cpus = int(ray.cluster_resources().get("CPU", 1))
                partitions = max(1, 2 * cpus)
            k = partitions if self.by else 1
            self.npartitions = k
            tagged = ray.data.from_pandas_refs(refs) if refs else ray.data.from_pandas(_tag(_ray_empty(ds.schema())))
            self.frame = tagged.map_batches(_ray_prepare, fn_kwargs={"by": self.by, "k": k}, batch_format="pandas",
                                            batch_size=None)

    def meta(self) -> pd.DataFrame:
        """An empty frame with the user's columns (for building the meta of lazy results)."""
        if self.engine == "dask":
            return _whole(self.frame._meta)
        return _whole(_ray_empty(self.frame.schema()))

    def run(self, fn, args=(), *, compute=True, meta=None, progress=False, only=None):
        """fn(partition, *args) on every partition (or the partitions ``only``): a list of the results (compute=True;
        partitions in order) or a lazy frame of the tables fn returns (compute=False; ``meta`` their empty form)."""
        if self.engine == "dask":
            return self._run_dask(fn, args, compute, meta, progress, only)
        return self._run_ray(fn, args, compute, meta, progress, only)

    # -- Dask --
    def _run_dask(self, fn, args, compute, meta, progress, only):
        import dask

        if not compute:
            return self.frame.map_partitions(_frame_task, fn, args, meta, meta=meta, align_dataframes=False)
        parts = self.frame.to_delayed()
        shared = dask.delayed(args, pure=True, traverse=False)
        idx = range(len(parts)) if only is None else only
        tasks = [dask.delayed(_payload_task, pure=True)(parts[i], fn, shared) for i in idx]
        return _dask_compute(tasks, progress)

    # -- Ray --
    def _run_ray(self, fn, args, compute, meta, progress, only):
        ds = self.frame
        if only is not None:
            ds = ds.map_batches(_ray_keep, fn_args=(sorted(int(i) for i in only),), batch_format="pandas",
                                batch_size=None)
        ds.context.enable_progress_bars = bool(progress)
        grouped = ds.groupby(BUCKET, num_partitions=max(1, min(self.npartitions, 200)))
        if not compute:
            return grouped.map_groups(_ray_frame_group, fn_kwargs={"fn": fn, "args": args, "empty": meta},
                                      batch_format="pandas")
        out = grouped.map_groups(_ray_payload_group, fn_kwargs={"fn": fn, "args": args}, batch_format="pandas")
        table = out.to_pandas()
        res = {}
        for b, blob in zip(table[BUCKET].to_numpy(), table[PAYLOAD]):
            res[int(b)] = pickle.loads(blob)
        idx = range(self.npartitions) if only is None else only
        return [res.get(int(i)) for i in idx]


def _payload_task(part: pd.DataFrame, fn, args):
    df = _whole(part)
    return fn(df, *args) if len(df) else None


def _frame_task(part: pd.DataFrame, fn, args, empty=None):
    df = _whole(part)
    if not len(df):
        return empty if empty is not None else fn(df, *args)
    out = fn(df, *args)
    if empty is not None:  # the dtypes of the lazy frame's meta (Dask's string columns are pyarrow strings)
        cast = {c: empty[c].dtype for c in out.columns if c in empty.columns and out[c].dtype != empty[c].dtype}
        if cast:
            out = out.astype(cast)
    return out


def _ray_payload_group(group: pd.DataFrame, fn, args) -> pd.DataFrame:
    b = int(group[BUCKET].iloc[0]) if len(group) else -1
    out = _payload_task(group, fn, args)
    return pd.DataFrame({BUCKET: np.array([b], dtype=np.int64),
                         PAYLOAD: [pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)]})


def _ray_frame_group(group: pd.DataFrame, fn, args, empty=None) -> pd.DataFrame:
    return _frame_task(group, fn, args, empty)


def _dask_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _dask_compute(tasks, progress: bool) -> list:
    """Compute delayed tasks on the current Client (progress: distributed's bar) or Dask's local scheduler
    (progress: dask.diagnostics.ProgressBar)."""
    import dask

    client = _dask_client()
    if client is not None:
        futures = client.compute(tasks)
        if progress:
            from distributed import progress as _progress_bar

            _progress_bar(futures)
        return client.gather(futures)
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return list(dask.compute(*tasks))
    return list(dask.compute(*tasks))


# ---- combining per-partition results ---------------------------------------------------------------------------
def _key_order(keys_list: list, by: list, op: str) -> tuple:
    """(keys in key order, codes) of the curves of all partitions: codes[i] is the key-order position of curve i of
    the partitions' concatenation. A curve found in two partitions (shuffle=False on rows that were not grouped)
    raises ValueError."""
    from ._data import curve_codes, plain

    keys = pd.concat(keys_list, ignore_index=True) if len(keys_list) > 1 else keys_list[0].reset_index(drop=True)
    if not by:
        if len(keys) > 1:
            raise ValueError(f"{op}: the single curve (by=None) was found in {len(keys)} partitions")
        return keys, np.zeros(len(keys), dtype=np.int64)
    codes, uniq = curve_codes(keys, by)
    if len(uniq) != len(keys):
        dup = np.flatnonzero(np.bincount(codes) > 1)[0]
        r = int(np.flatnonzero(codes == dup)[0])
        what = ", ".join(f"{c}={plain(keys[c].iloc[r])!r}" for c in by)
        raise ValueError(f"{op}: curve {what} is split across partitions; regroup the rows (shuffle=True, the "
                         "default) or give partitions that hold whole curves")
    order = np.argsort(codes, kind="stable")
    return keys.iloc[order].reset_index(drop=True), codes


def _in_key_order(arrays: list, codes: np.ndarray) -> np.ndarray:
    """Per-curve arrays of the partitions (curves on axis 0), concatenated and put in key order."""
    a = np.concatenate(arrays, axis=0) if len(arrays) > 1 else np.asarray(arrays[0])
    out = np.empty_like(a)
    out[codes] = a
    return out


def _csr_in_key_order(offsets_list, arrays_list, codes) -> tuple:
    """CSR blocks of the partitions (offsets, [row arrays...]) joined and put in key order."""
    from ._data import csr_in_key_order

    sizes = [np.diff(o) for o in offsets_list]
    counts = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    cols = [np.concatenate([a[j] for a in arrays_list], axis=0) for j in range(len(arrays_list[0]))]
    X = cols[0]
    rest = cols[1:] + [None] * (2 - len(cols[1:]))
    o, X, y, w = csr_in_key_order(offsets, X, rest[0], rest[1], codes.astype(np.int64))
    return o, X, y, w


# ---- fit -------------------------------------------------------------------------------------------------------
_FIT_ARGS = ("x", "y", "by", "weight", "loss", "delta", "space", "starts", "bounds", "shared", "max_iter", "ftol",
             "xtol", "gtol", "threads", "seed", "nan_policy", "device")


def _per_curve_table(v, by: list) -> bool:
    """Whether starts / bounds ``v`` is a table with the ``by`` columns (per-curve values)."""
    if not by or v is None or isinstance(v, (int, np.integer, float, np.ndarray, list, tuple)):
        return False
    if isinstance(v, dict):
        return any(k in v for k in by)
    from ._data import to_pandas

    try:
        df = to_pandas(v, name="table")
    except ValueError:
        return False
    return all(c in df.columns for c in by)


def _subset_for(part: pd.DataFrame, table, by: list):
    """The rows of a per-curve table (starts / bounds) whose curve is in this partition, and how many there were."""
    from ._data import curve_codes, lookup_curves, to_pandas

    t = to_pandas(table, name="table")
    _, keys = curve_codes(part, by)
    idx = lookup_curves(keys, by, t)
    keep = idx >= 0
    return t.loc[keep].reset_index(drop=True), int(keep.sum())


def _starts_array(df: pd.DataFrame, table: pd.DataFrame, by: list, law, S: int) -> tuple:
    """Per-curve starts of one partition's curves as lawfit.fit builds them from a starts table ([curves, S, P] in
    key order, NaN rows skipped, curves without a row starting at the law's default), with S the largest number of
    rows of any curve in the whole table: a curve with several starts is polished by the solver, so S must be the
    batch's, not the partition's. Returns (array, rows of the table used)."""
    from ._data import curve_codes, lookup_curves
    from .catalogue import get_law
    from .fitting import starts_by_curve

    spec = get_law(law)
    _, keys = curve_codes(df, by)
    idx = lookup_curves(keys, by, table)
    keep = idx >= 0
    idx = idx[keep]
    vals = np.column_stack([table[p].to_numpy(dtype=np.float64)[keep] for p in spec.params])
    return starts_by_curve(spec, idx, vals, len(keys), S), int(keep.sum())


def _fit_partition(df: pd.DataFrame, law, kw: dict):
    """lawfit.fit on one partition's whole curves, with per-curve starts / bounds reduced to its curves."""
    from .fitting import fit as _fit

    kw = dict(kw)
    by = kw.get("by") or []
    matched = {}
    if kw.pop("_bounds_per_curve", False):
        kw["bounds"], matched["bounds"] = _subset_for(df, kw["bounds"], by)
    if kw.pop("_starts_per_curve", False):
        kw["starts"], matched["starts"] = _starts_array(df, kw["starts"], by, law, kw["_starts_rows"])
    kw.pop("_starts_rows", None)
    if any(isinstance(v, pd.Series) for v in (kw.get("fixed") or {}).values()):
        # fixed values per curve: the entries of this partition's curves (the client checks that every entry
        # named a curve of the data)
        from ._data import curve_codes, key_index

        idx = key_index(curve_codes(df, by)[1], by)
        fixed = {}
        for p, v in kw["fixed"].items():
            if isinstance(v, pd.Series):
                v = v[v.index.isin(idx)]
                matched[f"fixed:{p}"] = len(v)
            fixed[p] = v
        kw["fixed"] = fixed
    kw["threads"] = _task_threads(kw.get("threads"))
    return _fit(df, law, **kw), matched


def _fit_task(df: pd.DataFrame, law, kw: dict) -> dict:
    """One partition's fit as a compact payload: the per-curve arrays of the FitResult (not the data)."""
    res, matched = _fit_partition(df, law, kw)
    return {
        "law": res.law if kw.get("tie") else None, "keys": res.keys, "options": res.options, "matched": matched,
        "params": res._params, "cost": res._cost, "cov": res._cov, "iters": res._iters, "status": res._status,
        "best_start": res._best, "n_points": res._npts, "at_bound": res.at_bound.to_numpy(),
        "x_range": res._xrange, "lower": np.asarray(res._bounds[0]), "upper": np.asarray(res._bounds[1]),
    }


def _fit_frame(df: pd.DataFrame, law, kw: dict) -> pd.DataFrame:
    """One partition's per-curve table: FitResult.to_frame() with the key columns as columns."""
    res, _ = _fit_partition(df, law, kw)
    return _result_frame(res)


def _result_frame(res) -> pd.DataFrame:
    out = res.to_frame()
    out.insert(len(res.law.params) * 2 + 2, "status_code", res._status)
    return out.reset_index()


def _empty_fit_frame(law, by: list, meta: pd.DataFrame) -> pd.DataFrame:
    """The empty per-curve table of a fit (the meta of compute=False), built from a one-curve dummy result."""
    from .catalogue import get_law
    from .result import FitResult

    spec = get_law(law)
    P = spec.n_params
    keys = meta[by].iloc[:0].copy() if by else pd.DataFrame(index=pd.RangeIndex(0))
    keys = pd.concat([keys, _dummy_row(keys)], ignore_index=True) if by else pd.DataFrame(index=pd.RangeIndex(1))
    nat = dict(params=np.zeros((1, P)), cost=np.zeros(1), cov=np.zeros((1, P, P)), iters=np.zeros(1, np.int64),
               status=np.zeros(1, np.int64), best_start=np.zeros(1, np.int64), n_points=np.zeros(1, np.int64),
               at_bound=np.zeros((1, P), bool), x_range=np.zeros((1, 1, 2)))
    return _result_frame(FitResult(spec, keys, by, nat, {})).iloc[:0]


def _dummy_row(empty: pd.DataFrame) -> pd.DataFrame:
    """One row with the dtypes of an empty frame (a placeholder value per column)."""
    cols = {}
    for c in empty.columns:
        dt = empty[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            cats = dt.categories if len(dt.categories) else pd.Index(["_"])
            cols[c] = pd.Categorical([cats[0]], categories=cats)
        elif pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt):
            cols[c] = np.zeros(1, dtype=dt) if isinstance(dt, np.dtype) else pd.array([0], dtype=dt)
        else:
            cols[c] = pd.Series(["_"], dtype=dt)
    return pd.DataFrame(cols)


class _FitPlan:
    """How a distributed fit was run: kept on its FitResult (``_distributed``) so that bootstrap and the BCa
    jackknife run per partition, refitting each partition (a pure function of it) before resampling."""

    def __init__(self, regrouped: Regrouped, law, kw: dict):
        self.regrouped = regrouped
        self.law = law
        self.kw = kw

    def __getstate__(self):  # a pickled FitResult keeps its tables, not the cluster's graph
        return {"regrouped": None, "law": self.law, "kw": self.kw}

    def _need(self, what: str):
        if self.regrouped is None:
            raise ValueError(f"{what} needs the fitted data: this FitResult of a distributed fit was unpickled "
                             "without it; refit with lawfit.fit on the Dask DataFrame / Ray Dataset")

    def bootstrap(self, result, n=4000, method="pairs", seed=0, threads=None, progress=False):
        """FitResult.bootstrap of a distributed fit: every partition refitted and bootstrapped where it lies."""
        from ._args import check_seed, is_int, resolve_threads, show
        from ._data import plain
        from .uncertainty import METHODS

        if not is_int(n) or n < 1:
            raise ValueError(f"n must be a positive integer, got {type(n).__name__} {plain(n)!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {show(method)}")
        seed = check_seed(seed, op="bootstrap")
        if threads is not None:
            resolve_threads(threads, op="bootstrap")
        self._need("bootstrap")
        outs = self.regrouped.run(_bootstrap_task, (self.law, self.kw, dict(n=int(n), method=method, seed=seed,
                                                                          threads=threads)),
                                  progress=progress or _progress_requested())
        outs = [o for o in outs if o is not None]
        _, codes = _key_order([o["keys"] for o in outs], result.by, "bootstrap")
        samples = _in_key_order([o["samples"] for o in outs], codes)
        status = _in_key_order([o["status"] for o in outs], codes)
        b = DistributedBootstrap(result, samples, status, method, seed, _task_threads(threads))
        result.bootstrap_samples = samples
        return b

    def jackknife(self, result) -> np.ndarray:
        self._need("BCa intervals")
        outs = [o for o in self.regrouped.run(_jackknife_task, (self.law, self.kw)) if o is not None]
        _, codes = _key_order([o["keys"] for o in outs], result.by, "bootstrap")
        R = max(o["J"].shape[1] for o in outs)
        P = outs[0]["J"].shape[2]
        padded = []
        for o in outs:  # rows past a curve's own points are NaN (as in one call with the longest curve)
            J = np.full((o["J"].shape[0], R, P), np.nan)
            J[:, : o["J"].shape[1]] = o["J"]
            padded.append(J)
        return _in_key_order(padded, codes)


def _bootstrap_task(df, law, kw, bkw) -> dict:
    from .uncertainty import bootstrap as _bootstrap

    res, _ = _fit_partition(df, law, kw)
    b = _bootstrap(res, n=bkw["n"], method=bkw["method"], seed=bkw["seed"], threads=_task_threads(bkw["threads"]))
    return {"keys": res.keys, "samples": b.samples, "status": b.status}


def _bootstrap_frame(df, law, kw, bkw) -> pd.DataFrame:
    """Per-curve bootstrap summary: <param>_se, <param>_low / <param>_high at ``level``, n_failed."""
    from .uncertainty import bootstrap as _bootstrap

    res, _ = _fit_partition(df, law, kw)
    b = _bootstrap(res, n=bkw["n"], method=bkw["method"], seed=bkw["seed"], threads=_task_threads(bkw["threads"]))
    out = pd.concat([b.stderr.add_suffix("_se"), b.interval(bkw["level"])], axis=1)
    out["n_failed"] = b.n_failed.to_numpy()
    out["status"] = res.status.to_numpy()
    return out.reset_index()


def _jackknife_task(df, law, kw) -> dict:
    from .uncertainty import BootstrapResult

    res, _ = _fit_partition(df, law, kw)
    b = BootstrapResult(res, np.zeros((res.n_curves, 0, res.law.n_params)), np.zeros((res.n_curves, 0)), "pairs",
                        0, 1)
    return {"keys": res.keys, "J": b._jackknife()}


def _bootstrap_result_class():
    from .uncertainty import BootstrapResult

    class DistributedBootstrap(BootstrapResult):
        """A BootstrapResult of a distributed fit: the BCa jackknife runs per partition too."""

        def _jackknife(self) -> np.ndarray:
            if self.fit.options.get("shared"):
                return super()._jackknife()
            if self._jack is None:
                self._jack = self.fit._distributed.jackknife(self.fit)
            return self._jack

        def resample_counts(self, curve: int, replicates=None) -> np.ndarray:
            raise ValueError("resample_counts needs the fitted rows, which stay on the cluster for a distributed fit; "
                             "fit the curve's rows in memory (lawfit.fit) and bootstrap that")

    return DistributedBootstrap


def DistributedBootstrap(*args, **kw):  # noqa: N802 - a factory: uncertainty is imported on first use
    return _bootstrap_result_class()(*args, **kw)


def _check_fit_args(law, kw: dict, op: str = "fit") -> tuple:
    """Refuse what a partitioned fit cannot reproduce; mark per-curve starts / bounds tables."""
    from ._data import as_list

    by = as_list(kw.get("by"))
    if as_list(kw.get("shared")):
        raise ValueError(f"{op}: shared parameters join every curve in one fit, which partitions cannot split; "
                         "compute the data first (ddf.compute() / ds.to_pandas()) and fit it in memory")
    for name in ("starts", "bounds"):
        per = _per_curve_table(kw.get(name), by)
        kw[f"_{name}_per_curve"] = per
        if per:
            from ._data import curve_codes, to_pandas

            kw[name] = to_pandas(kw[name], name=name)
            if name == "starts":  # the most start rows of any curve (the batch's start count)
                codes, _ = curve_codes(kw[name], by)
                kw["_starts_rows"] = max(1, int(np.bincount(codes).max()) if len(codes) else 1)
    if kw.get("tie") and kw["_starts_per_curve"]:
        raise ValueError(f"{op}: per-curve starts with tie= are not supported on a Dask DataFrame / Ray Dataset; give "
                         "starts for every curve (a dict or a table without the by columns)")
    for p, v in (kw.get("fixed") or {}).items():
        if not (isinstance(v, pd.Series) or np.ndim(v) == 0):
            raise ValueError(f"{op}: fixed[{p!r}] for a Dask DataFrame / Ray Dataset must be a number or a pandas "
                             "Series indexed by the curves' keys (an array in curve order cannot be split across "
                             "partitions)")
    st = kw.get("starts")
    if kw["_bounds_per_curve"] and isinstance(st, (int, np.integer)) and not isinstance(st, bool):
        raise ValueError(f"{op}: random starts (starts=int) with per-curve bounds draw from the range common to all "
                         "curves of the batch, which a partition does not know; give bounds as a dict, or starts as "
                         "a table")
    return by, kw


def fit(data, law, *, x, y, by=None, weight=None, loss="l2", delta=None, space="linear", starts=None, bounds=None,
        fixed=None, tie=None, shared=None, max_iter=None, ftol=1e-8, xtol=1e-8, gtol=1e-8, threads=None, seed=0,
        nan_policy="status", progress=False, device="cpu", compute=True, partitions=None, shuffle=True,
        solver="varpro", scan=None):
    """:func:`lawfit.fit` of a Dask DataFrame or a Ray Dataset, partition-parallel on the current cluster.

    The arguments are those of lawfit.fit, plus ``compute`` (False: a lazy Dask DataFrame / Ray Dataset of the
    per-curve table, the columns of FitResult.to_frame() with the key columns and ``status_code``), ``partitions``
    (how many partitions the curves are shuffled into; default the input's) and ``shuffle`` (False: the input's
    partitions already hold whole curves; a curve found in two partitions then raises ValueError). ``threads``: native
    threads per task (default 1: the engine runs a task per worker thread). Returns a FitResult identical to the
    in-memory call's (parameters, statuses, covariances, iterations) whose ``bootstrap`` runs per partition."""
    from ._data import as_list
    from .catalogue import get_law

    spec = get_law(law)
    kw = {k: v for k, v in dict(x=x, y=y, by=by, weight=weight, loss=loss, delta=delta, space=space, starts=starts,
                                bounds=bounds, fixed=fixed, tie=tie, shared=shared, max_iter=max_iter, ftol=ftol,
                                xtol=xtol, gtol=gtol, threads=threads, seed=seed, nan_policy=nan_policy,
                                device=device, solver=solver, scan=scan).items()}
    by, kw = _check_fit_args(law, kw)
    kw["by"] = by or None
    cols = [*as_list(x), y, *by, weight]
    rg = Regrouped(data, cols, by, partitions, shuffle, op="fit")
    progress = bool(progress) or _progress_requested()
    if not compute:
        return rg.run(_fit_frame, (spec, kw), compute=False, meta=_empty_fit_frame(spec, by, rg.meta()))
    outs = [o for o in rg.run(_fit_task, (spec, kw), progress=progress) if o is not None]
    if not outs:
        raise ValueError("data is empty: no rows to fit")
    return _combine_fit(outs, spec, by, kw, rg)


def _combine_fit(outs, spec, by, kw, rg):
    from .result import FitResult

    for name in ("starts", "bounds"):
        if kw.get(f"_{name}_per_curve"):
            table = kw[name]
            got = sum(o["matched"].get(name, 0) for o in outs)
            if got != len(table):
                raise ValueError(f"{name}: {len(table) - got} row(s) name a curve that is not in the data")
    for p, v in (kw.get("fixed") or {}).items():
        if isinstance(v, pd.Series):
            got = sum(o["matched"].get(f"fixed:{p}", 0) for o in outs)
            if got != len(v):
                raise ValueError(f"fixed[{p!r}]: {len(v) - got} entr(ies) of the Series name a curve that is not in "
                                 "the data (its index holds curve labels, the curve values)")
    keys, codes = _key_order([o["keys"] for o in outs], by, "fit")
    native = {k: _in_key_order([o[k] for o in outs], codes)
              for k in ("params", "cost", "cov", "iters", "status", "best_start", "n_points", "at_bound")}
    d = max(o["x_range"].shape[1] for o in outs)
    native["x_range"] = _in_key_order([o["x_range"] if o["x_range"].shape[1] == d else
                                       np.full((len(o["cost"]), d, 2), np.nan) for o in outs], codes)
    res = FitResult(outs[0]["law"] or spec, keys, by, native, outs[0]["options"])
    if outs[0]["lower"].ndim == 2:
        res._bounds = (_in_key_order([o["lower"] for o in outs], codes),
                       _in_key_order([o["upper"] for o in outs], codes))
    else:
        res._bounds = (outs[0]["lower"], outs[0]["upper"])
    res._distributed = _FitPlan(rg, spec, kw)
    return res


def bootstrap(data, law, *, n=4000, method="pairs", seed=0, level=0.9, compute=True, partitions=None, shuffle=True,
              progress=False, **fit_kw):
    """Fit and bootstrap a Dask DataFrame / Ray Dataset in one pass: every partition is fitted (``fit_kw``, the
    arguments of lawfit.fit) and bootstrapped (``n``, ``method``, ``seed``; replicate r of a curve is keyed by
    (seed, the curve's key hash, r), as in memory). compute=True: a BootstrapResult (its ``fit`` the FitResult);
    compute=False: a lazy per-curve table of bootstrap standard errors (<param>_se), ``level`` percentile
    intervals (<param>_low / _high), ``n_failed`` and the fit's ``status``."""
    from ._args import check_prob, check_seed, is_int
    from ._data import as_list, plain
    from .catalogue import get_law

    spec = get_law(law)
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive integer, got {type(n).__name__} {plain(n)!r}")
    seed = check_seed(seed, op="bootstrap")
    level = check_prob("level", level, op="bootstrap")
    if compute:
        res = fit(data, law, compute=True, partitions=partitions, shuffle=shuffle, progress=progress, **fit_kw)
        return res.bootstrap(n=n, method=method, seed=seed, threads=fit_kw.get("threads"), progress=progress)
    kw = dict(fit_kw)
    by, kw = _check_fit_args(law, kw, "bootstrap")
    kw["by"] = by or None
    rg = Regrouped(data, [*as_list(kw["x"]), kw["y"], *by, kw.get("weight")], by, partitions, shuffle, op="bootstrap")
    bkw = dict(n=int(n), method=method, seed=seed, threads=kw.get("threads"), level=level)
    meta = _empty_bootstrap_frame(spec, by, rg.meta(), level)
    return rg.run(_bootstrap_frame, (spec, kw, bkw), compute=False, meta=meta)


def _empty_bootstrap_frame(spec, by, meta, level) -> pd.DataFrame:
    from .catalogue import get_law

    spec = get_law(spec)
    cols = {c: meta[c].iloc[:0] for c in by} if by else {"curve": pd.Series(dtype=np.int64)}
    for p in spec.params:
        cols[f"{p}_se"] = pd.Series(dtype=np.float64)
    for p in spec.params:
        cols[f"{p}_low"] = pd.Series(dtype=np.float64)
        cols[f"{p}_high"] = pd.Series(dtype=np.float64)
    cols["n_failed"] = pd.Series(dtype=np.int64)
    cols["status"] = pd.Series(dtype=_empty_fit_frame(spec, by, meta)["status"].dtype)
    return pd.DataFrame(cols)


# ---- extrapolate / should_stop ---------------------------------------------------------------------------------
def _check_per_curve(name: str, v, op: str):
    """horizon / best: a scalar, None or a Series indexed by the curves' keys (an array in curve order cannot be
    split across partitions)."""
    if v is None or isinstance(v, pd.Series) or np.ndim(v) == 0:
        return v
    raise ValueError(f"{op}: {name} for a Dask DataFrame / Ray Dataset must be a scalar or a pandas Series indexed by "
                     "the curves' keys (an array in curve order cannot be split across partitions)")


def _ex_kw(kw: dict, op: str) -> dict:
    for name in ("reference", "schedule", "lr", "match_within", "loo_group"):
        if kw.get(name) is not None:
            raise ValueError(f"{op}: {name}= forecasts of a Dask DataFrame / Ray Dataset are not supported (a "
                             "sweep-aware forecast depends on the batch as a whole); compute the data first")
        kw.pop(name, None)
    kw["horizon"] = _check_per_curve("horizon", kw.get("horizon"), op)
    return kw


def _walkers_of(ex) -> int:
    return int(ex.problem["walkers"])


def _extrapolate_task(df, kw) -> dict:
    from .extrapolation import extrapolate as _extrapolate

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    ex = _extrapolate(df, **kw)
    return {"ex": ex, "walkers": _walkers_of(ex)}


def _extrapolate_frame(df, kw) -> pd.DataFrame:
    from .extrapolation import extrapolate as _extrapolate

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    return _extrapolate(df, **kw).summary.reset_index()


def _walkers_task(df, kw) -> int:
    """The walker count extrapolate would choose for this partition, from a run without sampling (the families'
    least-squares fits decide which families are active; 1 step, 1 sample, 4 walkers)."""
    from .extrapolation import extrapolate as _extrapolate

    kw = dict(kw, samples=1, steps=1, burn=0, walkers=4, threads=_task_threads(kw.get("threads")))
    ex = _extrapolate(df, **kw)
    from .extrapolation import _NP

    dim = (ex.active * (np.array(_NP) + 1)).sum(axis=1) + 1
    W = int(2 * max(int(dim.max()) if len(dim) else 1, 1) + 2)
    return W + W % 2


def _should_stop_task(df, kw, dkw) -> dict:
    from .extrapolation import decide, extrapolate as _extrapolate

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    ex = _extrapolate(df, **kw)
    return {"table": decide(ex, **dkw), "keys": ex.keys, "walkers": _walkers_of(ex)}


def _should_stop_frame(df, kw, dkw) -> pd.DataFrame:
    from .extrapolation import decide, extrapolate as _extrapolate

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    return decide(_extrapolate(df, **kw), **dkw).reset_index()


def _fixed_walkers(rg: Regrouped, kw: dict, progress: bool) -> int:
    """The batch's walker count, from a first pass without sampling (for the lazy forms)."""
    ws = [w for w in rg.run(_walkers_task, (kw,), progress=progress) if w is not None]
    return max(ws) if ws else 4


def _run_with_batch_walkers(rg: Regrouped, fn, args_of, kw: dict, progress: bool) -> list:
    """Run fn on every partition with extrapolate's default walker count; the partitions whose own count is below
    the batch's (2 x the largest dimension of any curve + 2, as one in-memory call) are rerun with it."""
    outs = rg.run(fn, args_of(kw), progress=progress)
    if kw.get("walkers") is not None:
        return outs
    ws = [o["walkers"] for o in outs if o is not None]
    if not ws:
        return outs
    W = max(ws)
    redo = [i for i, o in enumerate(outs) if o is not None and o["walkers"] != W]
    if redo:
        again = rg.run(fn, args_of(dict(kw, walkers=W)), progress=progress, only=redo)
        for i, o in zip(redo, again):
            outs[i] = o
    return outs


def _regroup_curves(data, x, y, by, partitions, shuffle, kw, progress, compute, op):
    """The curves of an extrapolation (extrapolate, should_stop) regrouped by the engine; for a lazy result the
    walker count is fixed here (kw["walkers"]), since partitions cannot agree on it later."""
    from ._data import as_list

    by = as_list(by)
    rg = Regrouped(data, [x, y, *by], by, partitions, shuffle, op=op)
    progress = bool(progress) or _progress_requested()
    if not compute and kw.get("walkers") is None:
        kw["walkers"] = _fixed_walkers(rg, kw, progress)
    return by, rg, progress


def extrapolate(data, *, x, y, by=None, horizon, families="domhan", samples=1000, seed=0, mode=None, bounds=None,
                walkers=None, steps=200, burn=None, de_fraction=0.2, init_spread=1.0, init_sigma=1.0,
                quantiles=(0.05, 0.5, 0.95), threads=None, reference=None, schedule=None, lr=None, match_within=None,
                loo_group=None, compute=True, partitions=None, shuffle=True, progress=False):
    """:func:`lawfit.extrapolate` of a Dask DataFrame or a Ray Dataset, partition-parallel: an Extrapolation
    identical to the in-memory call's (samples, statuses, predictive quantiles), or with compute=False a lazy table
    of ``Extrapolation.summary`` per curve (the key columns, the predictive at the horizon, the diagnostics).
    ``horizon``: a scalar or a Series indexed by the curves' keys. The sweep-aware forms (reference=, schedule=,
    lr=) depend on the whole batch and are refused."""
    from ._data import as_list

    kw = dict(x=x, y=y, by=as_list(by) or None, horizon=horizon, families=families, samples=samples, seed=seed,
              mode=mode, bounds=bounds, walkers=walkers, steps=steps, burn=burn, de_fraction=de_fraction,
              init_spread=init_spread, init_sigma=init_sigma, quantiles=quantiles, threads=threads,
              reference=reference, schedule=schedule, lr=lr, match_within=match_within, loo_group=loo_group)
    kw = _ex_kw(kw, "extrapolate")
    by, rg, progress = _regroup_curves(data, x, y, by, partitions, shuffle, kw, progress, compute, "extrapolate")
    if not compute:
        return rg.run(_extrapolate_frame, (kw,), compute=False, meta=_empty_extrapolation_frame(rg, kw))
    outs = _run_with_batch_walkers(rg, _extrapolate_task, lambda k: (k,), kw, progress)
    outs = [o for o in outs if o is not None]
    if not outs:
        raise ValueError("extrapolate: data is empty: no rows")
    return _combine_extrapolation([o["ex"] for o in outs], by)


def _combine_extrapolation(parts: list, by: list):
    from .extrapolation import Extrapolation

    keys, codes = _key_order([e.keys for e in parts], by, "extrapolate")
    first = parts[0]
    cat = lambda name: _in_key_order([getattr(e, name) for e in parts], codes)  # noqa: E731
    ex = Extrapolation(keys, first.by, first.x, first.y, cat("horizon"), cat("active"), cat("samples"),
                       cat("_status"), cat("acceptance"), cat("tau"), cat("_worst"), cat("_scale"), cat("_sign"),
                       cat("n_points"), cat("last_x"), cat("last_y"), first.seed, first.quantiles, cat("_hashes"))
    pr = [e.problem for e in parts]
    offsets, t, z, _ = _csr_in_key_order([p["offsets"] for p in pr], [(p["t"].reshape(-1, 1), p["z"]) for p in pr],
                                         codes)
    problem = dict(offsets=offsets, t=np.ascontiguousarray(t[:, 0]), z=z)
    for k in ("t_max", "range_lo", "range_hi", "init", "active", "sigma_min"):
        problem[k] = _in_key_order([p[k] for p in pr], codes)
    for k in ("walkers", "steps", "burn"):
        problem[k] = pr[0][k]
    chol = [p["init_chol"] for p in pr]
    problem["init_chol"] = None if any(c is None for c in chol) else _in_key_order(chol, codes)
    ex.problem = problem
    return ex


def _empty_extrapolation_frame(rg: Regrouped, kw: dict) -> pd.DataFrame:
    from .extrapolation import _quantiles

    by = as_by(kw)
    meta = rg.meta()
    cols = {c: meta[c].iloc[:0] for c in by} if by else {"curve": pd.Series(dtype=np.int64)}
    cols[kw["x"]] = pd.Series(dtype=np.float64)
    cols["mean"] = pd.Series(dtype=np.float64)
    cols["std"] = pd.Series(dtype=np.float64)
    for q in _quantiles(kw["quantiles"]):
        cols[f"q{round(100 * q):02d}"] = pd.Series(dtype=np.float64)
    s = pd.Series(["x"]).iloc[:0]
    cols["status"] = s
    cols["mode"] = s
    cols["acceptance"] = pd.Series(dtype=np.float64)
    cols["tau"] = pd.Series(dtype=np.float64)
    cols["n_points"] = pd.Series(dtype=np.int64)
    return pd.DataFrame(cols)


def as_by(kw: dict) -> list:
    from ._data import as_list

    return as_list(kw.get("by"))


def should_stop(data, *, x, y, by=None, horizon, best, mode="max", threshold=0.05, level=0.9,
                criterion="conservative", std_threshold=None, reference=None, compute=True, partitions=None,
                shuffle=True, progress=False, **kwargs):
    """:func:`lawfit.should_stop` of a Dask DataFrame or a Ray Dataset: each partition is extrapolated and decided
    where it lies; returns the decision table (indexed by curve, identical to the in-memory call's) or with
    compute=False a lazy one with the key columns as columns. ``horizon`` and ``best``: scalars or Series indexed by
    the curves' keys."""
    from ._args import check_prob
    from ._data import as_list

    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    threshold, level = check_prob("threshold", threshold), check_prob("level", level)
    kw = dict(kwargs, x=x, y=y, by=as_list(by) or None, horizon=horizon, mode=mode, reference=reference)
    kw = _ex_kw(kw, "should_stop")
    dkw = dict(best=_check_per_curve("best", best, "should_stop"), threshold=threshold, level=level,
               criterion=criterion, std_threshold=std_threshold)
    by, rg, progress = _regroup_curves(data, x, y, by, partitions, shuffle, kw, progress, compute, "should_stop")
    if not compute:
        meta = _empty_decisions(by, rg.meta())
        return rg.run(_should_stop_frame, (kw, dkw), compute=False, meta=meta)
    outs = _run_with_batch_walkers(rg, _should_stop_task, lambda k: (k, dkw), kw, progress)
    outs = [o for o in outs if o is not None]
    if not outs:
        raise ValueError("should_stop: data is empty: no rows")
    keys, codes = _key_order([o["keys"] for o in outs], by, "should_stop")
    table = pd.concat([o["table"] for o in outs])
    order = np.empty(len(codes), dtype=np.int64)
    order[codes] = np.arange(len(codes))
    return table.iloc[order]


def _empty_decisions(by, meta) -> pd.DataFrame:
    s = pd.Series(["x"]).iloc[:0]
    cols = {c: meta[c].iloc[:0] for c in by} if by else {"curve": pd.Series(dtype=np.int64)}
    cols.update({"stop": pd.Series(dtype=bool), "reason": s, "p_better": pd.Series(dtype=np.float64),
                 "predicted": pd.Series(dtype=np.float64), "low": pd.Series(dtype=np.float64),
                 "high": pd.Series(dtype=np.float64), "sd": pd.Series(dtype=np.float64), "status": s})
    return pd.DataFrame(cols)


# ---- cost.evaluate / plan --------------------------------------------------------------------------------------
def _evaluate_part(df, kw) -> pd.DataFrame:
    from .cost import evaluate as _evaluate

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    out = _evaluate(df, **kw)
    if isinstance(out, pd.DataFrame):
        out.index = df.index
    return out


def _evaluate_payload(df, kw):
    return _evaluate_part(df.reset_index(drop=True), kw)


def evaluate(configs, hardware="h100-sxm", *, dtype="bf16", outputs=None, include_config=True, as_frame=True,
             threads=0, device="cpu", compute=True, chunk_rows=None, engine=None, progress=False, **assumptions):
    """:func:`lawfit.cost.evaluate` of a Dask DataFrame / Ray Dataset of configurations (rows are independent: no
    shuffle; each partition is evaluated where it lies), or of a :func:`lawfit.cost.grid` cut into chunks of
    ``chunk_rows`` configurations (default 2**20) run as tasks. compute=True: the in-memory call's DataFrame (or
    dict with as_frame=False); compute=False: a lazy frame, indexed like the configurations (a grid: by flat
    configuration index, as iter_evaluate)."""
    from .cost import Grid, evaluate as _evaluate

    kw = dict(hardware=hardware, dtype=dtype, outputs=outputs, include_config=include_config, as_frame=True,
              threads=threads, device=device, **assumptions)
    progress = bool(progress) or _progress_requested()
    if isinstance(configs, Grid):
        return _evaluate_grid(configs, kw, as_frame, compute, chunk_rows, engine, progress)
    eng = engine_of(configs)
    _evaluate(configs.head(1) if eng == "dask" else pd.DataFrame(configs.take(1)), **dict(kw, threads=1))  # checks
    if eng == "dask":
        if not compute:
            meta = _evaluate_part(configs._meta_nonempty.iloc[:1], kw).iloc[:0]
            meta.attrs.clear()
            return configs.map_partitions(_evaluate_part, kw, meta=meta)
        import dask

        tasks = [dask.delayed(_evaluate_payload, pure=True)(p, kw) for p in configs.to_delayed()]
        parts = _dask_compute(tasks, progress)
    else:
        if not compute:
            return configs.map_batches(_evaluate_payload, fn_kwargs={"kw": kw}, batch_format="pandas",
                                       batch_size=None)
        parts = list(configs.map_batches(_ray_evaluate_blob, fn_kwargs={"kw": kw}, batch_format="pandas",
                                         batch_size=None).to_pandas()[PAYLOAD].map(pickle.loads))
    return _join_evaluated(parts, as_frame)


def _ray_evaluate_blob(batch, kw) -> pd.DataFrame:
    return pd.DataFrame({PAYLOAD: [pickle.dumps(_evaluate_payload(batch, kw), protocol=pickle.HIGHEST_PROTOCOL)]})


def _join_evaluated(parts: list, as_frame: bool):
    parts = [p for p in parts if p is not None]
    attrs = dict(parts[0].attrs)
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    out.attrs.clear()
    out.attrs.update(attrs)
    if as_frame:
        return out
    from .cost import _BOOL_OUTPUTS, OUTPUTS

    res = {c: out[c].to_numpy() for c in out.columns if c in OUTPUTS}
    for o in _BOOL_OUTPUTS & set(res):
        res[o] = res[o].astype(bool)
    res["conventions"] = attrs
    return res


def _grid_chunks(grid, rows: int) -> list:
    """(start, stop, sub-grid axes) of a grid cut into chunks of at most ``rows`` configurations (contiguous runs of
    the flat index, each a grid of its own)."""
    from .cost import FIELDS, _chunks, _fields

    values, strides, n, mode = _fields(grid)
    return [(s0, s1, dict(zip(FIELDS, v))) for s0, s1, v, _ in _chunks(values, strides, n, mode, rows)]


def _evaluate_chunk(s0, s1, axes, kw) -> pd.DataFrame:
    from .cost import Grid, evaluate as _evaluate

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    out = _evaluate(Grid(**axes), **kw)
    out.index = pd.RangeIndex(s0, s1)
    return out


def _default_engine(engine) -> str:
    if engine is not None:
        if engine not in ("dask", "ray"):
            raise ValueError(f"engine must be 'dask' or 'ray', got {engine!r}")
        return engine
    try:
        import ray

        if ray.is_initialized():
            return "ray"
    except ImportError:
        pass
    return "dask"


def _evaluate_grid(grid, kw, as_frame, compute, chunk_rows, engine, progress):
    from ._args import check_int
    from .cost import evaluate as _evaluate

    rows = 1 << 20 if chunk_rows is None else check_int("chunk_rows", chunk_rows, 1, op="cost.evaluate")
    chunks = _grid_chunks(grid, rows)
    if not chunks:
        return _evaluate(grid, **dict(kw, as_frame=as_frame))
    _evaluate_chunk(0, 1, {k: v[:1] for k, v in chunks[0][2].items()}, kw)  # the arguments checked here
    eng = _default_engine(engine)
    if eng == "dask":
        import dask
        import dask.dataframe as dd

        if not compute:
            meta = _evaluate_chunk(0, 1, {k: v[:1] for k, v in chunks[0][2].items()}, kw).iloc[:0]
            meta.attrs.clear()
            divisions = [c[0] for c in chunks] + [chunks[-1][1] - 1]
            return dd.from_map(_evaluate_chunk, [c[0] for c in chunks], [c[1] for c in chunks],
                               [c[2] for c in chunks], kw=kw, meta=meta, divisions=divisions)
        tasks = [dask.delayed(_evaluate_chunk, pure=True)(s0, s1, axes, kw) for s0, s1, axes in chunks]
        parts = _dask_compute(tasks, progress)
    else:
        import ray

        task = ray.remote(_evaluate_chunk)
        if not compute:
            raise ValueError("cost.evaluate: compute=False on a grid builds a lazy Dask DataFrame (engine='dask')")
        parts = ray.get([task.remote(s0, s1, axes, kw) for s0, s1, axes in chunks])
    return _join_evaluated(parts, as_frame)


def _light_fit(fit):
    """A FitResult without its fitted rows (what a planning task needs: parameters, statuses, samples)."""
    import copy

    f = copy.copy(fit)
    f._batch = None
    f._batch_perm = None
    f._distributed = None
    return f


def _plan_part(table_or_grid, fit, budget, kw) -> dict:
    from .planning import plan as _plan

    kw = dict(kw)
    kw["threads"] = _task_threads(kw.get("threads"))
    out = _plan(fit, budget, grid=table_or_grid, **kw)
    attrs = {k: v for k, v in out.attrs.items() if k != "samples"}
    return {"table": out, "samples": out.attrs.get("samples"), "attrs": attrs}


def _plan_frame_task(df, fit, budget, kw):
    return _plan_part(df.reset_index(drop=True), fit, budget, kw)


def _plan_chunk_task(s0, s1, axes, fit, budget, kw):
    from .cost import Grid

    return _plan_part(Grid(**axes), fit, budget, kw)


def plan(fit, budget, *, grid, chunk_rows=None, engine=None, progress=False, **kw):
    """:func:`lawfit.plan` with ``grid`` a Dask DataFrame / Ray Dataset of configurations, or a
    :func:`lawfit.cost.grid` cut into chunks of ``chunk_rows`` configurations (default 2**22) run as tasks on the
    current cluster (``engine``: "dask" or "ray"; default ray when ray.init() was called). Every chunk is planned
    for every curve; the chunks' optima are reduced per curve (and per parameter sample) to the best, ties to the
    lowest flat index, as the single native pass does, so the table equals the in-memory call's."""
    from .cost import Grid
    from .planning import plan as _plan

    progress = bool(progress) or _progress_requested()
    light = _light_fit(fit)
    kw = dict(kw)
    if kw.get("device", "cpu") != "cpu":
        _plan(light, budget, grid=None, **kw)  # the in-memory call's refusal
    if isinstance(grid, Grid):
        from ._args import check_int

        rows = 1 << 22 if chunk_rows is None else check_int("chunk_rows", chunk_rows, 1, op="plan")
        chunks = _grid_chunks(grid, rows)
        starts = [c[0] for c in chunks]
        eng = _default_engine(engine)
        if eng == "dask":
            import dask

            lf = dask.delayed(light, pure=True, traverse=False)
            tasks = [dask.delayed(_plan_chunk_task, pure=True)(s0, s1, axes, lf, budget, kw) for s0, s1, axes in chunks]
            parts = _dask_compute(tasks, progress)
        else:
            import ray

            task = ray.remote(_plan_chunk_task)
            ref = ray.put(light)
            parts = ray.get([task.remote(s0, s1, axes, ref, budget, kw) for s0, s1, axes in chunks])
    else:
        eng = engine_of(grid)
        if eng == "dask":
            import dask

            lens = list(grid.map_partitions(len).compute())
            starts = list(np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64))
            lf = dask.delayed(light, pure=True, traverse=False)
            tasks = [dask.delayed(_plan_frame_task, pure=True)(p, lf, budget, kw) for p in grid.to_delayed()]
            parts = _dask_compute(tasks, progress)
        else:
            import ray

            blocks = list(grid.iter_batches(batch_size=None, batch_format="pandas"))
            lens = [len(b) for b in blocks]
            starts = list(np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64))
            task = ray.remote(_plan_frame_task)
            ref = ray.put(light)
            parts = ray.get([task.remote(b, ref, budget, kw) for b in blocks])
    return _reduce_plans(parts, starts, fit, kw)


def _reduce_plans(parts: list, starts: list, fit, kw) -> pd.DataFrame:
    """The per-curve optimum over chunks: the smallest objective (loss, or cost with objective="cost"), ties to
    the lowest flat index; n_admissible summed; intervals recomputed from the per-sample optima."""
    from .planning import _add_intervals

    objective = kw.get("objective", "loss")
    key = "loss" if objective == "loss" else "cost"
    tables = [p["table"] for p in parts]
    base = tables[0]
    B = len(base)
    cols = ["index", "N", "D", "loss", "cost"]
    best = _best_over_chunks([t[cols].to_numpy(dtype=np.float64) for t in tables], starts, cols.index(key))
    out = base.copy()
    for j, c in enumerate(cols):
        out[c] = best[:, j].astype(np.int64) if c == "index" else best[:, j]
    out["n_admissible"] = np.sum([t["n_admissible"].to_numpy() for t in tables], axis=0)
    if parts[0]["samples"] is not None:
        per0 = parts[0]["samples"]
        scols = ["index", "N", "D", "loss", "cost"]
        sb = _best_over_chunks([p["samples"][scols].to_numpy(dtype=np.float64) for p in parts], starts,
                               scols.index(key))
        per = per0.copy()
        for j, c in enumerate(scols):
            per[c] = sb[:, j].astype(np.int64) if c == "index" else sb[:, j]
        iv = [c for c in out.columns if c.endswith(("_low", "_high"))]
        out = out.drop(columns=iv)
        _add_intervals(out, per, ["N", "D", "loss", "cost"], B, kw.get("interval", 0.9))
        out.attrs["samples"] = per
    out = out[list(base.columns)]
    samples = out.attrs.get("samples")
    out.attrs.clear()
    if samples is not None:  # (first, as the in-memory call sets it)
        out.attrs["samples"] = samples
    out.attrs.update(parts[0]["attrs"])
    return out


def _best_over_chunks(arrays: list, starts: list, j: int) -> np.ndarray:
    """Row-wise best over chunks of [rows, (index, ...)] tables: the smallest column j (NaN and no admissible
    configuration, index -1, never win), ties to the lowest flat index (chunk start + local index)."""
    best = None
    for a, s0 in zip(arrays, starts):
        a = a.copy()
        ok = a[:, 0] >= 0
        a[ok, 0] += s0
        v = np.where(ok & ~np.isnan(a[:, j]), a[:, j], np.inf)
        if best is None:
            best, bv, bok = a, v, ok
            continue
        better = ok & (~bok | (v < bv) | ((v == bv) & (a[:, 0] < best[:, 0])))
        best = np.where(better[:, None], a, best)
        bv = np.where(better, v, bv)
        bok = bok | ok
    return best


__all__ = ["is_distributed", "engine_of", "fit", "bootstrap", "extrapolate", "should_stop", "evaluate", "plan",
           "Regrouped"]
