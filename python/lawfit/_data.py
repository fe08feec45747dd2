"""Input conversion: any table-like input -> a pandas DataFrame -> CSR arrays for the native core.

Conversions build new arrays (a table's columns are gathered into one row-major float64 matrix), once
per call, vectorised; nothing here loops over curves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ._args import show


def to_pandas(data, *, name: str = "data") -> pd.DataFrame:
    """pandas / polars DataFrame, pyarrow Table, dict of arrays (scalars broadcast; a dict of scalars is one row),
    or a CSV / Parquet path -> pandas."""
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
            return pd.DataFrame(cols)
        except ValueError as exc:
            raise ValueError(f"{name}: the arrays of the dict must all have the same length ({exc})") from None
    mod = type(data).__module__
    if mod.startswith("polars"):
        return data.to_pandas()
    if mod.startswith("pyarrow"):
        return data.to_pandas()
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    raise ValueError(
        f"{name}: unsupported type {type(data).__name__}; pass a pandas or polars DataFrame, a pyarrow "
        "Table, a dict of arrays or a CSV/Parquet path"
    )


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
        raise ValueError(f"{role} column {col!r} not found; columns are: {', '.join(map(str, df.columns))}")
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise ValueError(f"{role} column {col!r} must be numeric, got dtype {s.dtype}")
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class Batch:
    """A CSR batch: curve b owns rows offsets[b]:offsets[b+1] of X, y, w."""

    offsets: np.ndarray  # int64 [B+1]
    X: np.ndarray  # float64 [n, d] C-contiguous
    y: Optional[np.ndarray]  # float64 [n]
    w: Optional[np.ndarray]  # float64 [n]
    keys: pd.DataFrame  # one row per curve: the `by` columns (empty columns when by is None)
    by: list
    order: Optional[np.ndarray]  # rows of the input table, in batch order (None: the table's own order)

    @property
    def n_curves(self) -> int:
        return len(self.offsets) - 1

    @property
    def hashes(self) -> np.ndarray:
        """uint64 [B] random-stream keys of the curves (:func:`curve_hashes`), computed once."""
        h = self.__dict__.get("_hashes")
        if h is None:
            h = self.__dict__["_hashes"] = curve_hashes(self.keys, self.by)
        return h


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
            raise ValueError(f"by column {c!r} not found; columns are: {', '.join(map(str, df.columns))}")
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


def make_batch(
    df: pd.DataFrame,
    x: Sequence[str],
    y: Optional[str],
    by: Sequence[str],
    weight: Optional[str] = None,
    nan_policy: str = "status",
) -> Batch:
    if nan_policy not in ("status", "omit", "raise"):
        raise ValueError(f"nan_policy must be 'status', 'omit' or 'raise', got {show(nan_policy)}")
    by = as_list(by)
    if len(x) == 1:
        X = numeric_column(df, x[0], "x").reshape(-1, 1)  # a view: no copy of the column
    else:
        X = np.column_stack([numeric_column(df, c, "x") for c in x]) if x else np.empty((len(df), 0))
    yv = numeric_column(df, y, "y") if y is not None else None
    wv = numeric_column(df, weight, "weight") if weight is not None else None
    codes, keys, run_starts = curve_layout(df, by)
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
    if run_starts is not None and all_finite:
        # Rows grouped by a sorted key, nothing dropped: the offsets are the run boundaries.
        offsets = np.empty(B + 1, dtype=np.int64)
        offsets[0], offsets[-1] = 0, len(df)
        offsets[1:-1] = run_starts
        Xo = np.ascontiguousarray(X, dtype=np.float64)
        yo = np.ascontiguousarray(yv) if yv is not None else None
        wo = np.ascontiguousarray(wv) if wv is not None else None
        return Batch(offsets, Xo, yo, wo, keys, by, None)
    if codes is None:
        codes = _codes_from_runs(run_starts, len(df))
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
    if len(codes) < 2 or bool(np.all(codes[1:] >= codes[:-1])):
        # Rows already grouped in key order (the usual layout): no reordering, no gather copies.
        Xo = np.ascontiguousarray(X, dtype=np.float64)
        yo = np.ascontiguousarray(yv) if yv is not None else None
        wo = np.ascontiguousarray(wv) if wv is not None else None
        return Batch(offsets, Xo, yo, wo, keys.reset_index(drop=True), by, rows)
    order = np.argsort(codes, kind="stable")
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
            raise ValueError(f"by column {c!r} is missing from the new data")
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
