"""One curve never moves another: random streams keyed by the curve's key, per-curve normalisation.

Bad curves (NaN, inf, one point, odd scales, the opposite trend) are inserted before, between and after the
good curves in key order; every good curve's result must stay bit-identical, for every thread count.
"""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit._data import curve_hashes
from lawfit.evals import fit_irt
from lawfit.extrapolation import extrapolate

THREADS = (1, 2, 3, 7)


def good_power_law(n=8, pts=15, seed=0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1, 1000, pts)
    rows = []
    for i in range(n):
        E, A, al = rng.uniform(1, 2), rng.uniform(2, 6), rng.uniform(0.2, 0.8)
        y = (E + A * x ** -al) * np.exp(0.01 * rng.standard_normal(pts))
        rows.append(pd.DataFrame({"run": f"run-{2 * i:02d}", "x": x, "y": y}))
    return pd.concat(rows, ignore_index=True)


def bad_curves():
    """Curves whose keys sort first ("aaa"), between good ones ("run-03") and last ("zzz")."""
    return pd.concat([
        pd.DataFrame({"run": "aaa", "x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, np.nan, 2.0, 3.0]}),
        pd.DataFrame({"run": "run-03", "x": [5.0], "y": [1.0]}),
        pd.DataFrame({"run": "run-07", "x": [1.0, np.inf, 3.0, 4.0], "y": [1.0, 2.0, 3.0, 4.0]}),
        pd.DataFrame({"run": "run-09", "x": np.geomspace(1, 1e3, 10), "y": 1e9 * np.geomspace(1, 1e3, 10) ** 0.5}),
        pd.DataFrame({"run": "zzz", "x": np.arange(1.0, 8.0), "y": -np.arange(1.0, 8.0)}),
    ], ignore_index=True)


def with_bad(df, bad=None, seed=1):
    """The good curves with the bad ones mixed in, curves in a shuffled order (each curve's rows kept in order:
    a curve's own point order is part of its input)."""
    both = pd.concat([bad_curves() if bad is None else bad, df], ignore_index=True)
    runs = both.run.unique()
    rank = dict(zip(np.random.default_rng(seed).permutation(runs), range(len(runs))))
    return both.iloc[np.argsort(both.run.map(rank).to_numpy(), kind="stable")].reset_index(drop=True)


def good_rows(table, good_keys):
    return table.loc[good_keys]


def test_curve_hashes_are_stable_and_dtype_blind():
    k = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    h = curve_hashes(k, ["a", "b"])
    assert h.dtype == np.uint64 and len(set(h.tolist())) == 3
    # the same keys in another order, as floats: the same hashes
    k2 = pd.DataFrame({"a": [3.0, 1.0, 2.0], "b": ["z", "x", "y"]})
    assert curve_hashes(k2, ["a", "b"]).tolist() == [h[2], h[0], h[1]]
    # categories and objects hash as their values
    k3 = pd.DataFrame({"a": pd.array([1, 2, 3], dtype="Int64"), "b": pd.Categorical(["x", "y", "z"])})
    assert curve_hashes(k3, ["a", "b"]).tolist() == h.tolist()
    # a pinned value: changing it changes every user's random streams (a documented, deliberate break only)
    assert int(curve_hashes(pd.DataFrame({"trial": [7]}), ["trial"])[0]) == int(
        curve_hashes(pd.DataFrame({"trial": [7.0]}), ["trial"])[0])
    assert int(curve_hashes(pd.DataFrame({"trial": ["run-7"]}), ["trial"])[0]) == 1915088854976094600


@pytest.mark.parametrize("starts", [None, 6])
def test_fit_isolated_from_bad_curves(starts):
    good = good_power_law()
    keys = sorted(good.run.unique())
    kw = dict(x="x", y="y", by="run", starts=starts, seed=5)
    ref = lawfit.fit(good, "power_law", threads=1, **kw).to_frame()
    assert (ref.status == "CONVERGED").all()
    for th in THREADS:
        mixed = lawfit.fit(with_bad(good), "power_law", threads=th, **kw).to_frame()
        assert set(mixed.index) == set(keys) | {"aaa", "run-03", "run-07", "run-09", "zzz"}
        pd.testing.assert_frame_equal(good_rows(mixed, keys), ref, check_exact=True)
        assert mixed.loc["aaa", "status"] == "NON_FINITE" and mixed.loc["run-03", "status"] == "TOO_FEW_POINTS"


def test_random_starts_follow_the_key_not_the_position():
    """A curve renamed so that it sorts elsewhere keeps its draws only when its key is unchanged: the same key
    in another batch gives the same best start; another key gives other starts."""
    good = good_power_law(n=3)
    one = good[good.run == "run-02"]
    a = lawfit.fit(good, "power_law", x="x", y="y", by="run", starts=5, seed=2)
    b = lawfit.fit(one, "power_law", x="x", y="y", by="run", starts=5, seed=2)
    pd.testing.assert_frame_equal(a.to_frame().loc[["run-02"]], b.to_frame(), check_exact=True)


@pytest.mark.parametrize("method", ["pairs", "residual"])
def test_bootstrap_isolated_from_bad_curves(method):
    good = good_power_law(n=5)
    keys = sorted(good.run.unique())
    ref = lawfit.fit(good, "power_law", x="x", y="y", by="run").bootstrap(n=64, method=method, seed=3, threads=1)
    for th in THREADS:
        res = lawfit.fit(with_bad(good), "power_law", x="x", y="y", by="run")
        bs = res.bootstrap(n=64, method=method, seed=3, threads=th)
        pos = [list(res.index).index(k) for k in keys]
        assert bs.samples[pos].tobytes() == ref.samples.tobytes()
        assert np.array_equal(bs.status[pos], ref.status)


def lc_good(n=5, t_obs=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(1, t_obs + 1, dtype=float)
    rows = []
    for i in range(n):
        c, a, al = rng.uniform(0.6, 0.9), rng.uniform(0.2, 0.5), rng.uniform(0.3, 1.0)
        y = c - a * t ** -al + 0.005 * rng.standard_normal(t_obs)
        rows.append(pd.DataFrame({"run": f"run-{2 * i:02d}", "step": t, "v": y}))
    return pd.concat(rows, ignore_index=True)


def lc_bad():
    t = np.arange(1, 13, dtype=float)
    return pd.concat([
        pd.DataFrame({"run": "aaa", "step": t, "v": np.where(t == 4, np.nan, 100 * (0.5 + 0.02 * t))}),  # percent
        pd.DataFrame({"run": "run-03", "step": t, "v": 5.0 - 0.1 * t}),  # a loss: the opposite trend
        pd.DataFrame({"run": "run-05", "step": [1.0], "v": [0.3]}),
        pd.DataFrame({"run": "run-07", "step": t, "v": 1e6 * (1 + 0.01 * t)}),  # another scale entirely
        pd.DataFrame({"run": "zzz", "step": t, "v": np.full(12, np.nan)}),
    ], ignore_index=True)


def test_extrapolate_isolated_from_bad_curves():
    good = lc_good()
    keys = sorted(good.run.unique())
    kw = dict(x="step", y="v", by="run", horizon=40, steps=120, samples=100, seed=9)
    ref = extrapolate(good, threads=1, **kw)
    ref_pred = ref.predict([20, 40]).set_index(["run", "step"])
    for th in THREADS:
        mixed_df = with_bad(good, lc_bad(), seed=2)
        ex = extrapolate(mixed_df, threads=th, **kw)
        pos = [list(ex.index).index(k) for k in keys]
        assert ex.samples[pos].tobytes() == ref.samples.tobytes()
        pred = ex.predict([20, 40]).set_index(["run", "step"])
        pd.testing.assert_frame_equal(pred.loc[ref_pred.index], ref_pred, check_exact=True)
        # the mode is inferred per curve and reported
        assert ex.mode["run-03"] == "min" and (ex.mode[keys] == "max").all()


def test_irt_isolated_from_empty_models_and_items():
    rng = np.random.default_rng(0)
    M, I = 60, 25
    theta = rng.standard_normal(M)
    a, b = rng.uniform(0.5, 2, I), rng.standard_normal(I)
    Y = (rng.uniform(size=(M, I)) < 1 / (1 + np.exp(-(theta[:, None] * a - b)))).astype(float)
    df = pd.DataFrame(Y, index=[f"m{i}" for i in range(M)], columns=[f"i{j}" for j in range(I)])
    ref = fit_irt(df, "2pl")
    big = df.copy()
    big.loc["empty-model"] = np.nan
    big.insert(0, "empty-item", np.nan)
    big = big.loc[["empty-model"] + list(df.index)]
    m = fit_irt(big, "2pl")
    # (rename_axis: pandas < 3 names the result of .loc[Index] after the key, pandas 3 after the frame)
    items = m.items.loc[df.columns].rename_axis(m.items.index.name)
    abilities = m.abilities.loc[df.index].rename_axis(m.abilities.index.name)
    pd.testing.assert_frame_equal(items, ref.items, check_exact=True)
    pd.testing.assert_frame_equal(abilities, ref.abilities, check_exact=True)
    assert m.items.loc["empty-item"].isna().all() and m.abilities.loc["empty-model"].isna().all()
    with pytest.raises(ValueError, match="responses"):
        fit_irt(pd.DataFrame(np.full((4, 3), np.nan)), "2pl")


def test_absurd_thread_counts_are_capped_not_fatal():
    good = good_power_law(n=40)
    ref = lawfit.fit(good, "power_law", x="x", y="y", by="run", starts=3, threads=1)
    big = lawfit.fit(good, "power_law", x="x", y="y", by="run", starts=3, threads=10**6)
    pd.testing.assert_frame_equal(big.to_frame(), ref.to_frame(), check_exact=True)
    bs1 = ref.bootstrap(n=50, threads=1)
    bs2 = ref.bootstrap(n=50, threads=10**6)
    assert bs1.samples.tobytes() == bs2.samples.tobytes()
    info = lawfit.build_info()
    assert info["max_threads"] == 4 * info["hardware_threads"]
