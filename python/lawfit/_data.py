"""Input conversion: any table-like input -> a pandas DataFrame -> CSR arrays for the native core.

Conversions copy only where the native core needs another layout, once per call, vectorised; nothing here loops
over curves. A dict of numpy arrays becomes a DataFrame over the caller's arrays (no copy); an Arrow table gives
the columns a call needs, numeric columns without nulls in one chunk read in place. Rows already grouped by curve
(curves contiguous, in key order or not) are not reordered: the CSR offsets are the runs' boundaries, and a float64
column (one x input, y, weight) is passed to the native core as the caller's own array.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ._args import show


def to_pandas(data, *, name: str = "data", columns: Optional[Sequence] = None) -> pd.DataFrame:
    """pandas / polars DataFrame, pyarrow Table, dict of arrays (scalars broadcast; a dict of scalars is one row),
    or a CSV / Parquet path -> pandas.

    A dict of arrays is wrapped without copying its arrays. ``columns``: the columns the caller reads; a pyarrow
    Table or RecordBatch holding all of them converts only those (numeric columns without nulls, in one chunk,
    without a copy); otherwise the whole table is converted."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise ValueError(f"{name}: file not found: {path}")
        low = path.lower()
        if low.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if low.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            return pd.read_csv(path, sep="\t" if low.endswith(".tsv") else ",")
        raise ValueError(f"{name}: cannot tell the format of {path} (use .csv, .csv.gz, .tsv or .parquet)")
    if isinstance(data, dict):
        cols = {}
        for k, v in data.items():
            try:
                a = np.asarray(v)
            except ValueError:  # ragged nested lists
                raise ValueError(f"{name}: entry {k!r} of the dict must be a scalar or a 1-D array, got a ragged "
                                 "nested list") from None
            if a.ndim > 1:
                raise ValueError(f"{name}: entry {k!r} of the dict must be a scalar or a 1-D array, got shape "
                                 f"{a.shape}")
            cols[k] = a
        if cols and all(a.ndim == 0 for a in cols.values()):
            cols = {k: a.reshape(1) for k, a in cols.items()}  # a dict of scalars: one row
        try:
            # copy=False: the frame's columns are the caller's arrays (pandas would otherwise copy them into
            # 2-D blocks, one per dtype).
            return pd.DataFrame(cols, copy=False)
        except ValueError as exc:
            raise ValueError(f"{name}: the arrays of the dict must all have the same length ({exc})") from None
    mod = type(data).__module__
    if mod.startswith("polars"):
        return data.to_pandas()
    if mod.startswith("pyarrow"):
        if columns is not None and hasattr(data, "column_names") and hasattr(data, "column"):
            df = _arrow_columns(data, columns)
            if df is not None:
                return df
        return data.to_pandas()
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    raise ValueError(
        f"{name}: unsupported type {type(data).__name__}; pass a pandas or polars DataFrame, a pyarrow "
        "Table, a dict of arrays or a CSV/Parquet path"
    )


def _arrow_numeric(col) -> Optional[np.ndarray]:
    """An integer or float Arrow column without nulls as numpy: in place for one chunk (one copy, joining them,
    for several); None for any other column."""
    import pyarrow as pa

    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)) or col.null_count:
        return None
    chunks = col.chunks if hasattr(col, "chunks") else [col]
    if len(chunks) == 1:
        return chunks[0].to_numpy(zero_copy_only=True)
    return col.to_numpy()


def _arrow_columns(table, columns) -> Optional[pd.DataFrame]:
    """The named columns of a pyarrow Table / RecordBatch as pandas, converted as ``table.to_pandas()`` would
    convert them; None (convert the whole table) when a column is missing or when the table's pandas metadata
    gives a column another dtype than its plain conversion."""
    import pyarrow as pa

    names = list(dict.fromkeys(columns))
    have = set(table.column_names)
    if any(not isinstance(c, str) or c not in have for c in names) or len(have) != len(table.column_names):
        return None
    meta = table.schema.pandas_metadata
    numpy_type = {m.get("field_name", m.get("name")): m.get("numpy_type") for m in meta["columns"]} if meta else None
    out = {}
    for c in names:
        col = table.column(c)
        arr = _arrow_numeric(col)
        if arr is not None and (numpy_type is None or numpy_type.get(c) == str(arr.dtype)):
            out[c] = arr
        elif numpy_type is None:
            out[c] = pa.table({c: col}).to_pandas()[c]  # (a table of one column: no copy of the others)
        else:
            return None
    return pd.DataFrame(out, copy=False)


def plain(v):
    """A numpy scalar as the Python value (so messages read curve=4, not np.int64(4))."""
    return v.item() if hasattr(v, "item") else v


def as_list(cols) -> list:
    """Column name(s) as a list: None -> [], one label (a string, a number, ...) -> [label]."""
    if cols is None:
        return []
    if isinstance(cols, (str, bytes)) or not hasattr(cols, "__iter__"):
        return [cols]
    return list(cols)


def has_column(df: pd.DataFrame, col, role: str) -> bool:
    """Whether ``col`` is a column of df; ValueError naming the role when ``col`` cannot be a column name."""
    try:
        return col in df.columns
    except TypeError:
        raise ValueError(f"{role} must name column(s), got {type(col).__name__} {plain(col)!r}") from None


def numeric_column(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    if not has_column(df, col, role):
        raise ValueError(f"{role} column {plain(col)!r} not found; columns are: {', '.join(map(str, df.columns))}")
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise ValueError(f"{role} column {plain(col)!r} must be numeric, got dtype {s.dtype}")
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class Batch:
    """A CSR batch: CSR curve i owns rows offsets[i]:offsets[i+1] of X, y, w.

    The curves are those of ``keys`` (one row per curve, in key order). Without ``perm`` the CSR curves are in key
    order; with ``perm`` (make_batch(..., permute=True) on rows grouped by curve but not in key order) CSR curve i
    is curve ``perm[i]`` of ``keys``: the rows stayed where they were and the caller reorders the per-curve results
    (:meth:`in_key_order` gives the rows in key order, copying them)."""

    offsets: np.ndarray  # int64 [B+1]
    X: np.ndarray  # float64 [n, d] C-contiguous
    y: Optional[np.ndarray]  # float64 [n]
    w: Optional[np.ndarray]  # float64 [n]
    keys: pd.DataFrame  # one row per curve: the `by` columns (empty columns when by is None)
    by: list
    order: Optional[np.ndarray]  # rows of the input table, in batch order (None: the table's own order)
    perm: Optional[np.ndarray] = None  # int64 [B]: the key-order index of each CSR curve (None: the identity)

    @property
    def n_curves(self) -> int:
        return len(self.offsets) - 1

    @property
    def hashes(self) -> np.ndarray:
        """uint64 [B] random-stream keys of the curves (:func:`curve_hashes`) in key order, computed once."""
        h = self.__dict__.get("_hashes")
        if h is None:
            h = self.__dict__["_hashes"] = curve_hashes(self.keys, self.by)
        return h

    def in_key_order(self) -> "Batch":
        """This batch with the CSR curves in key order (itself when they already are; else the rows gathered)."""
        if self.perm is None:
            return self
        offsets, X, y, w = csr_in_key_order(self.offsets, self.X, self.y, self.w, self.perm)
        return Batch(offsets, X, y, w, self.keys, self.by, None)


def inverse_permutation(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm), dtype=perm.dtype)
    return inv


def csr_in_key_order(offsets, X, y, w, perm) -> tuple:
    """(offsets, X, y, w) of a CSR batch whose curve i is curve perm[i], rearranged so that curve j comes j-th."""
    inv = inverse_permutation(perm)  # inv[j]: the CSR position of curve j
    counts = np.diff(offsets)[inv]
    out = np.zeros(len(inv) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    rows = np.repeat(offsets[:-1][inv] - out[:-1], counts)
    rows += np.arange(len(rows), dtype=np.int64)
    take = lambda a: None if a is None else np.ascontiguousarray(a[rows])  # noqa: E731
    return out, take(X), take(y), take(w)


def _factorize_sorted(col: pd.Series) -> tuple:
    """pd.factorize(sort=True, NaN kept last) as (codes, uniques, None); for a numeric column already in
    order, (None, uniques, run_starts) instead: the rows where a new value begins, so that the caller can
    build CSR offsets without a per-row code array."""
    if pd.api.types.is_integer_dtype(col.dtype) or pd.api.types.is_float_dtype(col.dtype):
        v = col.to_numpy()
        if len(v) and (v.dtype.kind != "f" or not np.isnan(v).any()) and bool(np.all(v[1:] >= v[:-1])):
            starts = np.flatnonzero(v[1:] != v[:-1]) + 1
            return None, pd.Index(v[np.r_[0, starts]], dtype=col.dtype), starts
    codes, uniq = pd.factorize(col, sort=True, use_na_sentinel=False)
    return codes, uniq, None


def _codes_from_runs(run_starts: np.ndarray, n: int) -> np.ndarray:
    bounds = np.r_[0, run_starts, n]
    return np.repeat(np.arange(len(bounds) - 1, dtype=np.int64), np.diff(bounds))


def curve_layout(df: pd.DataFrame, by: Sequence[str]) -> tuple:
    """(codes, keys, run_starts): the curve code of every row and the key table, curves sorted by key (NaN keys
    last, as groupby with dropna=False), vectorised: one factorisation per column, combined by their
    mixed-radix index. When the rows are already grouped by a single sorted numeric key, codes is None and
    run_starts gives the first row of every curve but the first (else run_starts is None)."""
    if not by:
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1)), None
    for c in by:
        if not has_column(df, c, "by"):
            raise ValueError(f"by column {plain(c)!r} not found; columns are: {', '.join(map(str, df.columns))}")
    parts = [_factorize_sorted(df[c]) for c in by]
    if len(parts) == 1:
        codes, uniq, run_starts = parts[0]
        return (None if codes is None else codes.astype(np.int64, copy=False)), pd.DataFrame({by[0]: uniq}), run_starts
    parts = [(_codes_from_runs(r, len(df)) if c is None else c, u) for c, u, r in parts]
    dims = [max(len(u), 1) for _, u in parts]
    if np.prod(np.array(dims, dtype=float)) >= 2.0**62:  # mixed radix would overflow: let pandas group
        g = df.groupby(list(by), sort=True, dropna=False, observed=True)
        return g.ngroup().to_numpy(dtype=np.int64), g.size().reset_index()[list(by)], None
    flat = np.ravel_multi_index([c for c, _ in parts], dims)
    uniq_flat, codes = np.unique(flat, return_inverse=True)
    digits = np.unravel_index(uniq_flat, dims)
    keys = pd.DataFrame({c: np.asarray(u)[d] if len(u) else u for c, (_, u), d in zip(by, parts, digits)})
    return codes.astype(np.int64, copy=False), keys, None


def curve_codes(df: pd.DataFrame, by: Sequence[str]) -> tuple:
    """(codes, keys) of :func:`curve_layout`, with the per-row codes always materialised."""
    codes, keys, run_starts = curve_layout(df, by)
    return (_codes_from_runs(run_starts, len(df)) if codes is None else codes), keys


def _key_changes(df: pd.DataFrame, by: Sequence[str]) -> Optional[np.ndarray]:
    """bool [n-1]: whether row i+1 has another key than row i (NaN equal to NaN), from the ``by`` columns' values
    in place; None when a ``by`` column is not a plain numpy int / float / bool column."""
    change = None
    for c in by:
        dt = df[c].dtype
        if not (isinstance(dt, np.dtype) and dt.kind in "biuf"):
            return None
        v = df[c].to_numpy()
        d = v[1:] != v[:-1]
        if dt.kind == "f":
            d &= ~(np.isnan(v[1:]) & np.isnan(v[:-1]))
        change = d if change is None else (change | d)
    return change


# dtypes of a ``by`` column whose runs the native scan finds (_core.key_runs)
_RUN_DTYPES = tuple(np.dtype(t) for t in ("int64", "int32", "uint64", "uint32", "float64", "float32"))


def _run_column(df: pd.DataFrame, c) -> Optional[np.ndarray]:
    """The values of ``by`` column c as the native scan reads them (a native numeric dtype, contiguous), else None."""
    col = df[c]
    if not (isinstance(col.dtype, np.dtype) and col.dtype in _RUN_DTYPES):
        return None
    v = col.to_numpy()
    return v if v.ndim == 1 and v.flags.c_contiguous and v.dtype.isnative else None


def _native_runs(df: pd.DataFrame, by: Sequence[str], threads: int) -> Optional[tuple]:
    """(run_starts, keys, increasing) of the ``by`` columns by the native scan (one pass over the rows, in parallel)
    when every one is of a native numeric dtype, else None. One column: keys (its runs' keys, [array]) and increasing
    come from the scan itself; several: None, None (see _run_keys)."""
    if len(df) < 2:
        return None
    cols = [_run_column(df, c) for c in by]
    if any(v is None for v in cols):
        return None
    from . import _core
    if len(cols) == 1:
        run_starts, keys, increasing = _core.key_runs(cols[0], threads)
        return run_starts, [keys], increasing
    return _core.key_run_starts(cols, threads), None, None


def _run_keys(df: pd.DataFrame, by: Sequence[str], run_starts: np.ndarray) -> tuple:
    """(keys, increasing): each run's key (one array per ``by`` column, gathered from the run's first row) and whether
    they increase from run to run (lexicographically, by[0] first), so that the runs are the curves in key order."""
    first = np.r_[0, run_starts]
    keys = [df[c].to_numpy()[first] for c in by]
    above, equal = np.zeros(len(first) - 1, dtype=bool), np.ones(len(first) - 1, dtype=bool)
    for k in keys:  # (NaN compares neither above nor equal: such keys go the general way)
        above |= equal & (k[1:] > k[:-1])
        equal &= k[1:] == k[:-1]
    return keys, bool(above.all())


def _grouping(df: pd.DataFrame, by: Sequence[str], threads: int = 0) -> tuple:
    """(keys, run_starts, run_codes, codes): the key table (curves in key order, NaN keys last) and either the
    runs of rows when every curve's rows are contiguous -- run_starts, the first row of every run but the first,
    and run_codes, the curve of every run (None: run i is curve i) -- or else the curve of every row (codes).

    Grouped rows never get per-row codes when the ``by`` columns are plain numeric: the runs come from comparing
    neighbouring rows (``by`` columns of native numeric dtypes: the native scan, on ``threads`` threads; other
    numeric ones: numpy), and only one row per run is factorised, none where the runs' keys increase."""
    n = len(df)
    for c in by:
        if not has_column(df, c, "by"):
            raise ValueError(f"by column {plain(c)!r} not found; columns are: {', '.join(map(str, df.columns))}")
    runs = _native_runs(df, by, threads)
    if runs is None:
        change = _key_changes(df, by) if n >= 2 else None
        if change is not None and 2 * (int(np.count_nonzero(change)) + 1) <= n:
            runs = np.flatnonzero(change) + 1, None, None
        del change
    # (mostly runs of one row: factorising the rows directly is cheaper)
    if runs is not None and 2 * (len(runs[0]) + 1) <= n:
        run_starts, keys, increasing = runs
        if keys is None:
            keys, increasing = _run_keys(df, by, run_starts)
        if increasing:  # runs in increasing key order (the usual layout): no factorising
            # (keys: new arrays of the columns' dtypes, the frame's own)
            return pd.DataFrame(dict(zip(by, keys)), copy=False), run_starts, None, None
        return _runs_grouping(df, by, run_starts, n)
    codes, keys = curve_codes(df, by)
    if n >= 2:
        change = codes[1:] != codes[:-1]
        if int(np.count_nonzero(change)) + 1 == len(keys):
            run_starts = np.flatnonzero(change) + 1
            rcodes = codes[np.r_[0, run_starts]]
            sorted_ = bool(np.all(rcodes[1:] > rcodes[:-1]))
            return keys, run_starts, (None if sorted_ else rcodes), None
    return keys, None, None, codes


def _runs_grouping(df: pd.DataFrame, by: Sequence[str], run_starts: np.ndarray, n: int) -> tuple:
    """_grouping's result from the runs of equal keys (run_starts) when their keys are not in increasing order:
    one row per run factorised."""
    first = np.r_[0, run_starts]
    rcodes, keys = curve_codes(df[list(by)].iloc[first].reset_index(drop=True), by)
    if len(keys) == len(first):  # every curve one run
        sorted_ = bool(np.all(rcodes[1:] > rcodes[:-1]))
        return keys, run_starts, (None if sorted_ else rcodes), None
    return keys, None, None, np.repeat(rcodes, np.diff(np.r_[first, n]))


def make_batch(
    df: pd.DataFrame,
    x: Sequence[str],
    y: Optional[str],
    by: Sequence[str],
    weight: Optional[str] = None,
    nan_policy: str = "status",
    *,
    permute: bool = False,
    threads: int = 0,
) -> Batch:
    """The CSR batch of df's rows, curves by ``by``. ``permute``: rows grouped by curve but not in key order stay
    where they are (Batch.perm says which curve each run is) instead of being gathered into key order. ``threads``:
    the native scan's threads (0: all)."""
    seen = []
    for c in by or ():
        if any(c is s or (type(c) is type(s) and c == s) for s in seen):  # (labels may be unhashable: checked later)
            raise ValueError(f"by names column {show(c)} twice")
        seen.append(c)
    if nan_policy not in ("status", "omit", "raise"):
        raise ValueError(f"nan_policy must be 'status', 'omit' or 'raise', got {show(nan_policy)}")
    by = as_list(by)
    if len(x) == 1:
        X = numeric_column(df, x[0], "x").reshape(-1, 1)  # a view: no copy of the column
    else:
        X = np.column_stack([numeric_column(df, c, "x") for c in x]) if x else np.empty((len(df), 0))
    yv = numeric_column(df, y, "y") if y is not None else None
    wv = numeric_column(df, weight, "weight") if weight is not None else None
    n = len(df)
    if by:
        keys, run_starts, run_codes, codes = _grouping(df, by, threads)
    else:
        keys, run_starts, run_codes, codes = pd.DataFrame(index=pd.RangeIndex(1)), np.empty(0, np.int64), None, None
    B = len(keys)
    if nan_policy == "status":
        # Rows stay where they are: the native fit gives curves with non-finite values the status NON_FINITE.
        all_finite = True
    else:
        finite = np.isfinite(X).all(axis=1) if X.shape[1] != 1 else np.isfinite(X[:, 0])
        if yv is not None:
            finite &= np.isfinite(yv)
        if wv is not None:
            finite &= np.isfinite(wv)
        all_finite = bool(finite.all())
    if codes is None and all_finite and (run_codes is None or permute):
        # Rows grouped by curve, nothing dropped: the offsets are the run boundaries, the columns used in place.
        offsets = np.empty(len(run_starts) + 2, dtype=np.int64)
        offsets[0], offsets[-1] = 0, n
        offsets[1:-1] = run_starts
        Xo = np.ascontiguousarray(X, dtype=np.float64)
        yo = np.ascontiguousarray(yv) if yv is not None else None
        wo = np.ascontiguousarray(wv) if wv is not None else None
        return Batch(offsets, Xo, yo, wo, keys, by, None, run_codes)
    if codes is None:
        rc = run_codes if run_codes is not None else np.arange(B, dtype=np.int64)
        codes = np.repeat(rc, np.diff(np.r_[0, run_starts, n]))
    rows = None
    if not all_finite:
        if nan_policy == "raise":
            bad = int(np.flatnonzero(~finite)[0])
            cols = [c for c in x if not np.isfinite(X[bad, list(x).index(c)])]
            if yv is not None and not np.isfinite(yv[bad]):
                cols.append(y)
            if wv is not None and not np.isfinite(wv[bad]):
                cols.append(weight)
            where = ", ".join(f"{c}={plain(df[c].iloc[bad])!r}" for c in by) if by else "the single curve"
            raise ValueError(
                f"non-finite value in column(s) {', '.join(map(repr, cols))} at row {bad} (curve {where}); "
                f"{int((~finite).sum())} row(s) affected. Use nan_policy='omit' to drop them or 'status' to "
                "flag the curves"
            )
        if nan_policy == "omit":
            keep = finite
            codes = codes[keep]
            X, yv = X[keep], (yv[keep] if yv is not None else None)
            wv = wv[keep] if wv is not None else None
            rows = np.flatnonzero(keep)
    counts = np.bincount(codes, minlength=B)
    offsets = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    del counts
    if len(codes) < 2 or bool(np.all(codes[1:] >= codes[:-1])):
        # Rows already grouped in key order (the usual layout): no reordering, no gather copies.
        Xo = np.ascontiguousarray(X, dtype=np.float64)
        yo = np.ascontiguousarray(yv) if yv is not None else None
        wo = np.ascontiguousarray(wv) if wv is not None else None
        return Batch(offsets, Xo, yo, wo, keys.reset_index(drop=True), by, rows)
    order = np.argsort(codes, kind="stable")
    del codes  # (the gathers below need only the order)
    Xo = np.ascontiguousarray(X[order], dtype=np.float64)
    yo = np.ascontiguousarray(yv[order]) if yv is not None else None
    wo = np.ascontiguousarray(wv[order]) if wv is not None else None
    return Batch(offsets, Xo, yo, wo, keys.reset_index(drop=True), by, order if rows is None else rows[order])


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _column_hash(col: pd.Series) -> np.ndarray:
    """uint64 hash of every value of one key column, the same for equal values whatever the dtype they came in:
    integral numbers (int, bool, or floats with integral values such as 3.0) hash as int64, other floats as
    float64 (-0.0 as 0.0, every NaN alike), anything else (strings, categories, dates) as its str()."""
    from pandas.util import hash_array

    v = col.to_numpy()
    if v.dtype.kind in "biu":
        return hash_array(v.astype(np.int64, copy=False), categorize=False)
    if v.dtype.kind == "f":
        v = v.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(v) & (np.floor(v) == v) & (np.abs(v) < 2.0**63)
        hi = hash_array(np.where(integral, v, 0.0).astype(np.int64), categorize=False)
        hf = hash_array(np.where(np.isnan(v), np.nan, v + 0.0), categorize=False)
        return np.where(integral, hi, hf)
    return hash_array(col.astype(str).to_numpy(dtype=object), categorize=False)


def curve_hashes(keys: pd.DataFrame, by: Sequence[str]) -> np.ndarray:
    """The random-stream key of every curve: a stable 64-bit hash of its ``by`` values (uint64 [B]).

    Random starts, bootstrap replicates and MCMC chains of a curve are drawn from Philox streams keyed by
    (seed, this hash, ...), never by the curve's position, so adding, removing or reordering other curves, or
    splitting the data into partitions, leaves a curve's draws unchanged. Equal keys hash equally across
    processes and machines (pandas' hash_array: SipHash with a fixed key for strings, a fixed mix for
    numbers); a single curve (no ``by``) has the hash of the empty key."""
    by = as_list(by)
    n = len(keys)
    h = np.full(n, np.uint64(0x6C617766697421), dtype=np.uint64)  # "lawfit!"
    with np.errstate(over="ignore"):
        for c in by:
            h = _splitmix(h * _MIX + _column_hash(keys[c]))
    return np.ascontiguousarray(h)


def key_index(keys: pd.DataFrame, by: list) -> pd.Index:
    if not by:
        return pd.RangeIndex(len(keys), name="curve")
    if len(by) == 1:
        return pd.Index(keys[by[0]].to_numpy(), name=by[0])
    return pd.MultiIndex.from_frame(keys[by])


def lookup_curves(keys: pd.DataFrame, by: list, df: pd.DataFrame) -> np.ndarray:
    """Curve index (into keys) of each row of df by its `by` columns; -1 where the curve is unknown."""
    if not by:
        return np.zeros(len(df), dtype=np.int64)
    for c in by:
        if c not in df.columns:
            raise ValueError(f"by column {plain(c)!r} is missing from the new data")
    if len(by) == 1:
        probe_values = df[by[0]].to_numpy()
        key_values = keys[by[0]].to_numpy()
        if len(probe_values) == len(key_values) and probe_values.dtype == key_values.dtype and np.array_equal(
            probe_values, key_values
        ):
            return np.arange(len(key_values), dtype=np.int64)  # one row per curve, in curve order
    idx = key_index(keys, by)
    if len(by) == 1:
        probe = pd.Index(df[by[0]].to_numpy())
    else:
        probe = pd.MultiIndex.from_frame(df[by])
    return idx.get_indexer(probe).astype(np.int64)
