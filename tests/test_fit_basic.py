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


@pytest.mark.parametrize("law", ["power_law", lawfit.Law("E + A * x^-alpha", inputs=["x"], bounds={"A": (0, None), "alpha": (0, 10)})])
def test_per_curve_tasks_and_per_start_tasks_agree(law):
    """Many curves run one task per curve (validation, input preparation and all starts fused); few curves
    with many starts run a task per (curve, start). 24 curves take the first path with 1 thread and the
    second with 4 (fewer than 8 curves per thread): results, covariances and statuses must be identical,
    with a bad curve, zero-weight points outside the domain and per-curve bounds in the batch."""
    df = lawfit.datasets.synthetic_power_law(24, n_points=15, noise=0.02, seed=11)
    df["w"] = 1.0
    first = df.groupby("curve").head(1).index
    df.loc[first[:5], "w"] = 0.0
    df.loc[first[:5], "x"] = -1.0  # outside the domain, but weight 0: ignored
    df.loc[df.index[df.curve == 7][3], "y"] = np.nan  # one bad curve
    bounds = pd.DataFrame({"curve": np.arange(24), "alpha_lower": 0.0, "alpha_upper": np.linspace(0.3, 2.0, 24)})
    kw = dict(x="x", y="y", by="curve", weight="w", starts=3, seed=5, bounds=bounds)
    a = lawfit.fit(df, law, threads=1, **kw)
    b = lawfit.fit(df, law, threads=4, **kw)
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
    np.testing.assert_array_equal(a.covariance, b.covariance)
    np.testing.assert_array_equal(a.objective.to_numpy(), b.objective.to_numpy())
    assert (a.status == b.status).all()
    assert a.status.loc[7] == "NON_FINITE" and (a.status.drop(7) == "CONVERGED").all()


@pytest.mark.parametrize("law", ["power_law", lawfit.Law("E + A * x^-alpha", inputs=["x"], bounds={"A": (0, None), "alpha": (0, 10)})])
@pytest.mark.parametrize("how", [dict(), dict(scan="all"), dict(starts=np.array([[2.0, 100.0, 0.3]]))])
def test_curves_sharing_x_fit_as_alone(law, how):
    """Curves with the same x values replay the evaluations at their common starts (a ranked grid's, the first of
    each solve from a start shared by every curve; StartMemo in core/fit/lm.hpp) instead of repeating them. A curve's
    result must not depend on that: the same bits whether its neighbours share its x or not, at any thread count,
    on curves of two accumulation blocks (40 points), with a bad curve among them."""
    rng = np.random.default_rng(3)
    x = np.geomspace(1, 1000, 40)
    B = 48
    E, A, al = rng.uniform(1, 3, B), 10 ** rng.uniform(0, 2, B), rng.uniform(0.2, 1.0, B)
    y = (E[:, None] + A[:, None] * x ** -al[:, None]) * (1 + 0.01 * rng.standard_normal((B, 40)))
    y[17, 5] = np.nan
    shared = pd.DataFrame({"curve": np.repeat(np.arange(B) * 2.0, 40), "x": np.tile(x, B), "y": y.ravel()})
    # The same curves with a curve of other x values between each two (keys 1, 3, 5, ...): no two neighbours share x.
    other = pd.DataFrame({"curve": np.repeat(np.arange(B) * 2.0 + 1.0, 40),
                          "x": np.tile(x, B) * np.repeat(1.0 + 0.01 * np.arange(1, B + 1), 40), "y": y.ravel()})
    mixed = pd.concat([shared, other]).sort_values("curve", kind="stable")
    kw = dict(x="x", y="y", by="curve", **how)
    ref = lawfit.fit(shared, law, threads=1, **kw)
    backwards = shared.sort_values("curve", ascending=False, kind="stable")  # (each curve's points in order)
    for df, threads in ((shared, 2), (mixed, 1), (mixed, 2), (backwards, 2)):
        r = lawfit.fit(df, law, threads=threads, **kw)
        np.testing.assert_array_equal(r.params.loc[ref.params.index].to_numpy(), ref.params.to_numpy())
        np.testing.assert_array_equal(r.objective.loc[ref.params.index].to_numpy(), ref.objective.to_numpy())
        assert (r.status.loc[ref.params.index] == ref.status).all()
    assert ref.status.loc[34.0] == "NON_FINITE" and (ref.status.drop(34.0) == "CONVERGED").all()
    np.testing.assert_allclose(ref.params["alpha"].drop(34.0), np.delete(al, 17), rtol=0.1)


@pytest.mark.parametrize("loss,space", [("l2", "linear"), ("huber", "log")])
def test_zero_weights_equal_dropped_points(loss, space):
    """Points with weight 0 (some outside the law's domain) leave the fit exactly as if they were dropped, on
    curves longer than the solver's 32-point block (its contiguous and its listed-points paths both run),
    with non-unit weights elsewhere."""
    rng = np.random.default_rng(4)
    df = lawfit.datasets.synthetic_power_law(30, n_points=70, noise=0.02, seed=4)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    zero = rng.random(len(df)) < 0.2
    zero[df.groupby("curve").head(40).index[:40]] = False  # curve 0: its first block has no zero weight
    df.loc[zero, "w"] = 0.0
    df.loc[zero & (rng.random(len(df)) < 0.5), "x"] = -1.0  # outside the domain, weight 0: never evaluated
    kw = dict(x="x", y="y", by="curve", weight="w", loss=loss, delta=0.05, space=space, starts=2, seed=1,
              ftol=1e-13, xtol=1e-13, gtol=1e-13, max_iter=500)
    a = lawfit.fit(df, "power_law", **kw)
    b = lawfit.fit(df[~zero], "power_law", **kw)
    assert (a.status == "CONVERGED").all() and (b.status == "CONVERGED").all()
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(a.objective.to_numpy(), b.objective.to_numpy(), rtol=1e-10)
