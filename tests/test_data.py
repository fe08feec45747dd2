"""Input conversion: curve grouping matches pandas groupby (sorted keys, NaN keys kept last)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lawfit
from lawfit._data import curve_codes


@pytest.mark.parametrize("by", [["a"], ["b"], ["c"], ["a", "b"], ["c", "a", "b"]])
def test_curve_codes_match_groupby(by):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(["x", "y", None], 1000), "b": rng.integers(0, 5, 1000).astype(float),
                       "c": rng.integers(0, 3, 1000)})
    df.loc[::7, "b"] = np.nan
    for frame in (df, df.sort_values(by, kind="stable")):  # unsorted, and sorted (the numeric fast path)
        _check_codes(frame, by)


def _check_codes(df, by):
    codes, keys = curve_codes(df, by)
    g = df.groupby(by, sort=True, dropna=False, observed=True)
    np.testing.assert_array_equal(codes, g.ngroup().to_numpy())
    ref = g.size().reset_index()[by]
    pd.testing.assert_frame_equal(keys.reset_index(drop=True), ref, check_dtype=False, check_column_type=False)


def test_polars_and_pyarrow_inputs_give_the_same_fit():
    pa = pytest.importorskip("pyarrow")
    df = lawfit.datasets.synthetic_power_law(5, noise=0.01)
    ref = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    for data in (pa.Table.from_pandas(df), {k: df[k].to_numpy() for k in df.columns}):
        r = lawfit.fit(data, "power_law", x="x", y="y", by="curve")
        np.testing.assert_array_equal(r.params.to_numpy(), ref.params.to_numpy())
    pl = pytest.importorskip("polars")
    r = lawfit.fit(pl.from_pandas(df), "power_law", x="x", y="y", by="curve")
    np.testing.assert_array_equal(r.params.to_numpy(), ref.params.to_numpy())


def test_row_order_does_not_change_the_fit():
    df = lawfit.datasets.synthetic_power_law(30, noise=0.01, seed=3)
    shuffled = df.sample(frac=1.0, random_state=1)
    a = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    b = lawfit.fit(shuffled.sort_values("curve", kind="stable"), "power_law", x="x", y="y", by="curve")
    c = lawfit.fit(shuffled, "power_law", x="x", y="y", by="curve")
    np.testing.assert_allclose(b.params.to_numpy(), c.params.to_numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(a.params.to_numpy(), c.params.to_numpy(), rtol=1e-6)
    p = c.predict(shuffled)
    np.testing.assert_array_equal(p["curve"].to_numpy(), shuffled["curve"].to_numpy())


def _same_fit(a, b):
    """Every per-curve output bit-identical, the same keys in the same order."""
    pd.testing.assert_index_equal(a.index, b.index)
    for k in ("_params", "_cost", "_cov", "_iters", "_status", "_best", "_npts", "_xrange"):
        assert getattr(a, k).tobytes() == getattr(b, k).tobytes(), k


def _blocks_shuffled(df, by, seed=0):
    """df's rows grouped by curve, the curves in a random order (points kept in order within a curve)."""
    codes = df.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
    perm = np.random.default_rng(seed).permutation(codes.max() + 1)
    return df.iloc[np.argsort(perm[codes], kind="stable")].reset_index(drop=True)


def test_dict_and_arrow_give_the_pandas_fit_bit_for_bit():
    pa = pytest.importorskip("pyarrow")
    df = lawfit.datasets.synthetic_power_law(40, noise=0.02, seed=4)
    df.loc[5, "y"] = np.nan  # a NON_FINITE curve
    for kw in ({}, {"starts": 3, "seed": 5}, {"loss": "huber", "space": "log"}):
        ref = lawfit.fit(df, "power_law", x="x", y="y", by="curve", **kw)
        cols = {k: df[k].to_numpy() for k in df.columns}
        big = pa.Table.from_pandas(df)
        for data in (cols, big, pa.table(cols), pa.table(cols).to_batches()[0],
                     pa.Table.from_batches(pa.table(cols).to_batches(max_chunksize=77))):  # several chunks
            _same_fit(lawfit.fit(data, "power_law", x="x", y="y", by="curve", **kw), ref)


def test_dict_and_arrow_columns_are_used_in_place():
    pa = pytest.importorskip("pyarrow")
    df = lawfit.datasets.synthetic_power_law(10, seed=1)
    cols = {k: df[k].to_numpy() for k in ("curve", "x", "y")}
    for data in (cols, pa.table(cols)):
        r = lawfit.fit(data, "power_law", x="x", y="y", by="curve")
        offsets, X, y, w = r._batch
        assert np.shares_memory(X, cols["x"]) and np.shares_memory(y, cols["y"])
    # Only the columns a fit reads are converted (a struct column here is not).
    t = pa.table({**cols, "blob": pa.array([{"a": 1}] * len(df))})
    _same_fit(lawfit.fit(t, "power_law", x="x", y="y", by="curve"), lawfit.fit(df, "power_law", x="x", y="y", by="curve"))


def test_arrow_non_numeric_and_nullable_key_columns_convert_as_to_pandas():
    pa = pytest.importorskip("pyarrow")
    df = lawfit.datasets.synthetic_power_law(12, seed=2)
    df["name"] = np.array(["a", "b", "c"])[df["curve"].to_numpy() % 3]
    df["k"] = (df["curve"] // 3).astype("Int64")  # nullable: pandas metadata in the table
    df.loc[df["curve"] == 11, "k"] = pd.NA
    for by in (["name", "k"], ["k"]):
        t = pa.Table.from_pandas(df)
        ref = lawfit.fit(t.to_pandas(), "power_law", x="x", y="y", by=by)
        r = lawfit.fit(t, "power_law", x="x", y="y", by=by)
        _same_fit(r, ref)
        pd.testing.assert_frame_equal(r.keys, ref.keys)
    plain_table = pa.table({c: df[c].to_numpy() for c in ("name", "curve", "x", "y")})
    r = lawfit.fit(plain_table, "power_law", x="x", y="y", by=["name", "curve"])
    _same_fit(r, lawfit.fit(plain_table.to_pandas(), "power_law", x="x", y="y", by=["name", "curve"]))


@pytest.mark.parametrize("by", [["curve"], ["g", "curve"], ["name"], ["fkey"]])
def test_rows_grouped_in_another_order_fit_in_place_bit_for_bit(by):
    df = lawfit.datasets.synthetic_power_law(50, noise=0.02, seed=6)
    df["g"] = df["curve"] % 4
    df["name"] = "c" + (df["curve"] * 7 % 50).astype(str)
    df["fkey"] = df["curve"].astype(float)
    df.loc[df["curve"] == 3, "fkey"] = np.nan  # a NaN key: its curve last
    df.loc[17, "x"] = np.inf
    srt = df.sort_values(by, kind="stable", na_position="last").reset_index(drop=True)
    grp = _blocks_shuffled(df, by)
    assert not grp[by].equals(srt[by])
    lo = srt.groupby(by, dropna=False, sort=True).size().reset_index()[by]
    lo["alpha_lower"] = 0.1
    for kw in ({}, {"starts": 4, "seed": 9}, {"bounds": lo}, {"weight": "E"}, {"nan_policy": "omit"}):
        a = lawfit.fit(srt, "power_law", x="x", y="y", by=by, **kw)
        b = lawfit.fit(grp, "power_law", x="x", y="y", by=by, **kw)
        _same_fit(a, b)
    # Per-curve starts, resampling and predictions on the in-place fit.
    st = a.params.reset_index()
    a = lawfit.fit(srt, "power_law", x="x", y="y", by=by, starts=st)
    b = lawfit.fit(grp, "power_law", x="x", y="y", by=by, starts=st)
    _same_fit(a, b)
    assert b._batch_perm is not None and a._batch_perm is None
    ba, bb = a.bootstrap(n=50, seed=2), b.bootstrap(n=50, seed=2)
    assert ba.samples.tobytes() == bb.samples.tobytes()
    pd.testing.assert_frame_equal(a.predict(grp), b.predict(grp))


def test_grouped_batch_layout():
    from lawfit._data import make_batch

    df = pd.DataFrame({"k": [5, 5, 2, 2, 2, 9], "x": np.arange(6.0), "y": np.arange(6.0)})
    b = make_batch(df, ["x"], "y", ["k"], permute=True)
    np.testing.assert_array_equal(b.offsets, [0, 2, 5, 6])
    np.testing.assert_array_equal(b.perm, [1, 0, 2])  # runs 5, 2, 9 are curves 1, 0, 2 of keys [2, 5, 9]
    assert b.keys["k"].tolist() == [2, 5, 9]
    s = b.in_key_order()
    np.testing.assert_array_equal(s.offsets, [0, 3, 5, 6])
    np.testing.assert_array_equal(s.X[:, 0], [2, 3, 4, 0, 1, 5])
    s2 = make_batch(df, ["x"], "y", ["k"])  # without permute: gathered into key order
    np.testing.assert_array_equal(s2.offsets, s.offsets)
    np.testing.assert_array_equal(s2.X, s.X)
    np.testing.assert_array_equal(s2.order, [2, 3, 4, 0, 1, 5])
    # A key that comes back after another: not grouped, rows reordered.
    df2 = pd.DataFrame({"k": [5, 2, 5, 2], "x": np.arange(4.0), "y": np.arange(4.0)})
    b2 = make_batch(df2, ["x"], "y", ["k"], permute=True)
    assert b2.perm is None
    np.testing.assert_array_equal(b2.X[:, 0], [1, 3, 0, 2])


_RUN_DTYPES = ["int64", "int32", "uint64", "uint32", "float64", "float32"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_RUN_DTYPES), st.lists(st.integers(0, 3), max_size=400), st.integers(0, 2**32 - 1),
       st.integers(1, 4))
def test_key_runs_match_numpy(dtype, values, seed, threads):
    from lawfit import _core

    a = np.asarray(values, dtype=np.float64)
    if dtype.startswith("float") and len(a):  # NaN keys (equal to each other) and -0.0 (equal to 0.0)
        r = np.random.default_rng(seed).random(len(a))
        a[r < 0.2] = np.nan
        a[(r >= 0.2) & (r < 0.3)] = -0.0
    a = a.astype(dtype)
    starts, keys, increasing = _core.key_runs(a, threads)
    if len(a) == 0:
        assert len(starts) == 0 and len(keys) == 0
        return
    d = a[1:] != a[:-1]
    if dtype.startswith("float"):
        d &= ~(np.isnan(a[1:]) & np.isnan(a[:-1]))
    ref = np.flatnonzero(d) + 1
    np.testing.assert_array_equal(starts, ref)
    first = a[np.r_[0, ref]]
    assert keys.dtype == a.dtype
    np.testing.assert_array_equal(keys, first)  # (NaN equal to NaN)
    assert increasing == bool(np.all(first[1:] > first[:-1]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(_RUN_DTYPES), min_size=1, max_size=3), st.integers(0, 300), st.integers(0, 2**32 - 1),
       st.integers(1, 4))
def test_key_run_starts_of_several_columns_match_numpy(dtypes, n, seed, threads):
    from lawfit import _core

    rng = np.random.default_rng(seed)
    cols = []
    for dt in dtypes:
        a = np.repeat(rng.integers(0, 3, n), rng.integers(1, 4, n))[:n].astype(np.float64)
        if dt.startswith("float") and n:
            a[rng.random(n) < 0.15] = np.nan
        cols.append(a.astype(dt))
    starts = _core.key_run_starts(cols, threads)
    change = np.zeros(max(n - 1, 0), bool)
    for a in cols:
        d = a[1:] != a[:-1]
        if a.dtype.kind == "f":
            d &= ~(np.isnan(a[1:]) & np.isnan(a[:-1]))
        change |= d
    np.testing.assert_array_equal(starts, np.flatnonzero(change) + 1)


def test_key_runs_long_column_in_chunks():
    from lawfit import _core

    # Long enough to be scanned in several chunks in parallel, with runs crossing the chunk boundaries.
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 40, 60_000)
    v = np.repeat(np.cumsum(rng.integers(1, 3, len(lengths))), lengths)
    for threads in (1, 2, 3):
        starts, keys, increasing = _core.key_runs(v, threads)
        np.testing.assert_array_equal(starts, np.cumsum(lengths)[:-1])
        np.testing.assert_array_equal(keys, v[np.r_[0, starts]])
        assert increasing
    v2 = v.copy()
    v2[-1] = -1  # the last run's key below the one before: not increasing
    assert not _core.key_runs(v2, 2)[2]
    with pytest.raises(ValueError, match="int32, int64"):
        _core.key_runs(np.array(["a", "b"]), 1)
    with pytest.raises(ValueError, match="1-D"):
        _core.key_runs(np.zeros((2, 2)), 1)
    # Several columns, in parallel chunks: a run ends where either column changes.
    v3 = np.repeat(np.arange(len(lengths)) % 2, lengths)
    both = _core.key_run_starts([v3, v], 3)
    np.testing.assert_array_equal(both, _core.key_runs(v, 1)[0])  # (v3 changes only where v does)
    with pytest.raises(ValueError, match="differ in length"):
        _core.key_run_starts([v, v[:-1]], 1)
    with pytest.raises(ValueError, match="int32, int64"):
        _core.key_run_starts([v, np.array(["a"] * len(v))], 1)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint32", "float64", "float32", "int16"])
@pytest.mark.parametrize("layout", ["sorted", "blocks", "interleaved", "singletons"])
def test_native_grouping_equals_numpy_grouping(monkeypatch, dtype, layout):
    from lawfit import _data

    rng = np.random.default_rng(11)
    keys = rng.permutation(40)[:30].astype(np.float64)
    if dtype.startswith("float"):
        keys[5] = np.nan
    lengths = rng.integers(1, 6, len(keys)) if layout != "singletons" else np.ones(len(keys), int)
    order = {"sorted": np.argsort(keys, kind="stable"), "blocks": np.arange(len(keys)),
             "interleaved": np.arange(len(keys)), "singletons": np.arange(len(keys))}[layout]
    col = np.repeat(keys[order], lengths[order])
    if layout == "interleaved":  # a key that comes back after another: not grouped
        col = np.r_[col, col[:3]]
    df = pd.DataFrame({"k": col.astype(dtype)})
    df["k2"] = (np.arange(len(df)) // 7 % 2).astype("int32")  # a second key that splits some runs
    df["g"] = np.floor(col / 3).astype(np.float64)  # a coarser key: (g, k) increases where k does
    got = {by: _data._grouping(df, list(by), 2) for by in (("k",), ("k", "k2"), ("k2", "k"), ("g", "k"))}
    if layout == "sorted" and not dtype.startswith("float") and dtype != "int16":  # the runs are the curves in order
        run_starts = _data._native_runs(df, ["g", "k"], 1)[0]
        assert _data._run_keys(df, ["g", "k"], run_starts)[1]  # (the runs' lexicographic order test)
        assert got[("g", "k")][2] is None and got[("g", "k")][3] is None
    monkeypatch.setattr(_data, "_native_runs", lambda *a: None)
    for by, g0 in got.items():
        ref = _data._grouping(df, list(by), 2)
        pd.testing.assert_frame_equal(g0[0], ref[0])
        pd.testing.assert_frame_equal(g0[0], curve_codes(df, list(by))[1])  # (every row factorised)
        for g, r in zip(g0[1:], ref[1:]):
            assert (g is None) == (r is None)
            if g is not None:
                np.testing.assert_array_equal(g, r)


def test_result_index_is_built_once():
    from lawfit._data import key_index

    df = lawfit.datasets.synthetic_power_law(12, noise=0.02, seed=4)
    df["g"] = df["curve"] % 3
    r = lawfit.fit(df, "power_law", x="x", y="y", by=["g", "curve"])
    ix = r.index
    assert r.index is ix and r.params.index is ix and r.status.index is ix
    assert ix.equals(key_index(r.keys, r.by))
    # A new key table (another object) gets its own index.
    r.keys = r.keys.assign(curve=r.keys["curve"] + 100)
    assert r.index is not ix and r.index.equals(key_index(r.keys, r.by))
    assert r.params.index.get_level_values("curve").min() >= 100
