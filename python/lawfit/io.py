"""lawfit.io: partitioned Parquet datasets of run histories in, per-curve results out.

    runs = lawfit.io.read_runs("s3://bucket/runs/")              # lazy Dask DataFrame (engine="ray": Ray Dataset)
    table = lawfit.fit(runs, "pow3", x="step", y="loss", by=["sweep", "run"], compute=False)
    lawfit.io.write(table, "s3://bucket/fits/", like="s3://bucket/runs/")   # partitioned by sweep, as the input

A run-history dataset is long format: one row per (run, step) observation, the curve key in one or more columns,
stored as a directory of Parquet files, optionally hive-partitioned (``sweep=3/part-0.parquet``). Paths are local
or any fsspec URL (s3://, gs://, abfs://, ...; ``storage_options`` go to fsspec).

Hive partition columns come back with the type of their values (integers as int64, other values as strings), not
as categoricals, so that a curve's key, and hence its random streams, are the same as in the table the dataset was
written from; ``engine="pandas"`` reads the same frame eagerly.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
import pandas as pd

ENGINES = ("dask", "ray", "pandas")


def _pyarrow_dataset(path, storage_options=None, filesystem=None):
    import pyarrow.dataset as pads

    fs, root = _filesystem(path, storage_options, filesystem)
    return pads.dataset(root, format="parquet", partitioning="hive", filesystem=fs)


def _filesystem(path, storage_options=None, filesystem=None) -> tuple:
    """(pyarrow-usable filesystem or None, path within it) of a local path or fsspec URL."""
    p = os.fspath(path)
    if filesystem is not None:
        return filesystem, p
    if "://" not in p or p.startswith("file://"):
        return None, p[len("file://"):] if p.startswith("file://") else p
    import fsspec
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs, root = fsspec.core.url_to_fs(p, **(storage_options or {}))
    return PyFileSystem(FSSpecHandler(fs)), root


def partition_columns(path, storage_options=None) -> list:
    """The hive partition columns of a Parquet dataset (``key=value`` directories), outermost first."""
    return list(_partition_types(path, storage_options))


def _partition_types(path, storage_options=None) -> dict:
    """{column: "int" | "float" | "str"}: the hive partition columns and the type pyarrow infers from their values."""
    import pyarrow as pa

    ds = _pyarrow_dataset(path, storage_options)
    part = getattr(ds, "partitioning", None)
    if part is None or part.schema is None:
        return {}
    out = {}
    for f in part.schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        out[f.name] = "int" if pa.types.is_integer(t) else "float" if pa.types.is_floating(t) else "str"
    return out


def read_runs(path, *, columns: Optional[Sequence[str]] = None, filters=None, engine: str = "dask",
              storage_options: Optional[dict] = None, blocksize: Optional[int] = None):
    """Read a (partitioned) Parquet dataset of run histories, lazily.

    path: a directory (hive-partitioned or flat), a file, or an fsspec URL. columns: the columns to read (default
    all); filters: pyarrow / Dask row filters (e.g. ``[("sweep", "==", 3)]``) applied while reading.
    engine: "dask" (default: a lazy Dask DataFrame, one partition per file or row group, read by
    ``dask.dataframe.read_parquet``), "ray" (a lazy Ray Dataset, ``ray.data.read_parquet``) or "pandas" (the same
    table read at once, through ``pyarrow.dataset``: the in-memory twin of the lazy forms).
    blocksize: Dask only: split files into partitions of about this many bytes (``split_row_groups="adaptive"``).
    Hive partition columns are plain int64 / string columns (see the module's note)."""
    if engine not in ENGINES:
        raise ValueError(f"read_runs: engine must be one of {list(ENGINES)}, got {engine!r}")
    cols = None if columns is None else list(columns)
    parts = _partition_types(path, storage_options) if _is_dir(path, storage_options) else {}
    if engine == "pandas":
        ds = _pyarrow_dataset(path, storage_options)
        expr = _filter_expression(filters)
        table = ds.to_table(columns=cols, filter=expr)
        return _plain_partitions(table.to_pandas(), parts)
    if engine == "dask":
        import dask.dataframe as dd

        kw = {}
        if blocksize is not None:
            kw.update(split_row_groups="adaptive", blocksize=blocksize)
        ddf = dd.read_parquet(os.fspath(path), columns=cols, filters=filters, storage_options=storage_options,
                              dataset={"partitioning": "hive"} if parts else None, **kw)
        todo = {c: t for c, t in parts.items() if c in ddf.columns}
        if todo:
            meta = _plain_partitions(ddf._meta, todo)
            ddf = ddf.map_partitions(_plain_partitions, todo, meta=meta)
        return ddf
    import ray

    kw = {}
    if filters is not None:
        kw["filter"] = _filter_expression(filters)
    fs, root = _filesystem(path, storage_options)
    ds = ray.data.read_parquet(root, columns=cols, filesystem=fs, partitioning=ray.data.datasource.Partitioning(
        "hive") if parts else None, **kw)
    todo = {c: t for c, t in parts.items() if cols is None or c in cols}
    if todo:
        ds = ds.map_batches(_plain_partitions, fn_args=(todo,), batch_format="pandas", batch_size=None)
    return ds


def _is_dir(path, storage_options=None) -> bool:
    p = os.fspath(path)
    if "://" not in p or p.startswith("file://"):
        return os.path.isdir(p[len("file://"):] if p.startswith("file://") else p)
    import fsspec

    fs, root = fsspec.core.url_to_fs(p, **(storage_options or {}))
    return fs.isdir(root)


def _filter_expression(filters):
    """pyarrow's compute expression of DNF filters [(col, op, value), ...] (or a list of such lists, OR-ed)."""
    if filters is None:
        return None
    import pyarrow.parquet as pq

    return pq.filters_to_expression(filters)


def _plain_partitions(df: pd.DataFrame, types: dict) -> pd.DataFrame:
    """Hive partition columns (categorical / dictionary, or strings on Ray) as plain columns of the type pyarrow
    infers from the directory names (``types``: column -> "int" | "float" | "str"): int64, float64 or strings."""
    out = {}
    for c, t in types.items():
        if c not in df.columns:
            continue
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(s.cat.categories.dtype) if t != "str" else s.astype(str)
        if t == "int" and s.dtype != np.int64:
            out[c] = s.astype(np.int64)
        elif t == "float" and s.dtype != np.float64:
            out[c] = s.astype(np.float64)
        elif t == "str" and not (pd.api.types.is_string_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)):
            out[c] = s.astype(str)
        elif s is not df[c]:
            out[c] = s
    return df.assign(**out) if out else df


def _result_table(results) -> object:
    """A per-curve table of any lawfit result: a DataFrame (FitResult.to_frame(), Extrapolation.summary,
    BootstrapResult intervals; the key columns as columns) or a lazy frame as it is."""
    from .distributed import engine_of

    if engine_of(results) is not None or isinstance(results, pd.DataFrame):
        return results
    if hasattr(results, "to_frame") and hasattr(results, "law"):  # FitResult
        from .distributed import _result_frame

        return _result_frame(results)
    if hasattr(results, "summary") and hasattr(results, "samples") and not callable(results.summary):  # Extrapolation
        return results.summary.reset_index()
    if hasattr(results, "interval") and hasattr(results, "fit"):  # BootstrapResult
        out = pd.concat([results.stderr.add_suffix("_se"), results.interval()], axis=1)
        out["n_failed"] = results.n_failed.to_numpy()
        return out.reset_index()
    raise ValueError(f"write: cannot write a {type(results).__name__}; pass a FitResult, an Extrapolation, a "
                     "BootstrapResult, a pandas DataFrame or a lazy frame of per-curve results")


def write(results, path, *, partition_on: Optional[Sequence[str]] = None, like=None,
          storage_options: Optional[dict] = None, overwrite: bool = False):
    """Write per-curve results to a Parquet dataset at ``path`` (local or fsspec URL).

    results: a FitResult, Extrapolation, BootstrapResult or DataFrame (written from this process), or a lazy
    Dask DataFrame / Ray Dataset of per-curve results (``compute=False``; each partition written by the worker that
    holds it, never collected). partition_on: hive partition columns of the output; ``like``: a dataset path whose
    hive partition columns (those present among the results' columns) partition the output, so results are
    partitioned like the runs they came from. overwrite: replace an existing dataset at ``path``."""
    from .distributed import engine_of

    table = _result_table(results)
    cols = list(table.columns) if engine_of(table) != "ray" else list(table.columns())
    parts = list(partition_on or [])
    if like is not None:
        parts += [c for c in partition_columns(like, storage_options) if c in cols and c not in parts]
    missing = [c for c in parts if c not in cols]
    if missing:
        raise ValueError(f"write: partition column(s) {missing} are not columns of the results ({cols})")
    eng = engine_of(table)
    if eng == "dask":
        table.to_parquet(os.fspath(path), partition_on=parts or None, storage_options=storage_options,
                         write_index=False, overwrite=overwrite)
        return path
    if eng == "ray":
        fs, root = _filesystem(path, storage_options)
        table.write_parquet(root, filesystem=fs, partition_cols=parts or None)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = _filesystem(path, storage_options)
    if overwrite:
        _remove(path, storage_options)
    tab = pa.Table.from_pandas(table, preserve_index=False)
    if parts:
        pq.write_to_dataset(tab, root, partition_cols=parts, filesystem=fs)
    else:
        if fs is None:
            os.makedirs(root, exist_ok=True)
        else:
            fs.create_dir(root, recursive=True)
        pq.write_table(tab, f"{root.rstrip('/')}/part-0.parquet", filesystem=fs)
    return path


def _remove(path, storage_options=None) -> None:
    import shutil

    p = os.fspath(path)
    if "://" not in p:
        if os.path.isdir(p):
            shutil.rmtree(p)
        return
    import fsspec

    fs, root = fsspec.core.url_to_fs(p, **(storage_options or {}))
    if fs.exists(root):
        fs.rm(root, recursive=True)


__all__ = ["read_runs", "write", "partition_columns"]
