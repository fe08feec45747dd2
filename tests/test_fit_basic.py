import numpy as np
import pandas as pd
import pytest

import lawfit


def test_build_info_and_version():
    info = lawfit.build_info()
    assert info["version"] == lawfit.__version__
    assert info["hardware_threads"] >= 1
    assert isinstance(info["cuda"], bool)


def test_chinchilla_recovers_hoffmann_noiseless():
    df = lawfit.datasets.synthetic_chinchilla(noise=0.0)
    r = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")
    assert r.status.iloc[0] == "CONVERGED"
    for k, v in lawfit.datasets.HOFFMANN.items():
        assert r.params[k].iloc[0] == pytest.approx(v, rel=1e-6)


def test_power_law_many_curves_recovers_truth():
    df = lawfit.datasets.synthetic_power_law(300, noise=0.0)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    truth = df.groupby("curve")[["E", "A", "alpha"]].first()
    assert (r.status == "CONVERGED").all()
    np.testing.assert_allclose(r.params.to_numpy(), truth.to_numpy(), rtol=1e-6)


def test_predict_and_roundtrip(tmp_path):
    df = lawfit.datasets.synthetic_power_law(5, noise=0.01)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    p = r.predict(df)
    assert list(p.columns) == ["curve", "x", "y_pred"]
    E, A, al = (r.params.loc[df["curve"], k].to_numpy() for k in ["E", "A", "alpha"])
    np.testing.assert_allclose(p["y_pred"], E + A * df["x"].to_numpy() ** -al, rtol=1e-12)
    path = tmp_path / "fit.json"
    r.save(path)
    r2 = lawfit.load_result(path)
    pd.testing.assert_frame_equal(r.params, r2.params)
    pd.testing.assert_frame_equal(r2.predict(df), p)
