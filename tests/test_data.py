"""Input conversion: curve grouping matches pandas groupby (sorted keys, NaN keys kept last)."""
import numpy as np
import pandas as pd
import pytest

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
