import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.uncertainty import bootstrap, norm_cdf, norm_ppf, sorted_quantile


@pytest.fixture(scope="module")
def chin():
    df = lawfit.datasets.synthetic_chinchilla(n=240, seed=1)
    return lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log")


@pytest.fixture(scope="module")
def plaw():
    df = lawfit.datasets.synthetic_power_law(20, n_points=25, noise=0.01, seed=3)
    return df, lawfit.fit(df, "power_law", x="x", y="y", by="curve")


@pytest.mark.parametrize("method", ["pairs", "residual"])
def test_deterministic_any_thread_count(chin, plaw, method):
    for r in (chin, plaw[1]):
        a = bootstrap(r, n=300, method=method, seed=7, threads=1)
        b = bootstrap(r, n=300, method=method, seed=7, threads=2)
        assert a.samples.tobytes() == b.samples.tobytes()
        c = bootstrap(r, n=300, method=method, seed=8, threads=2)
        assert not np.array_equal(a.samples, c.samples, equal_nan=True)


def test_shapes_interval_and_predict(plaw):
    df, r = plaw
    b = r.bootstrap(n=400, seed=1)
    assert b.samples.shape == (20, 400, 3)
    assert r.bootstrap_samples is b.samples
    for method in ("percentile", "bca"):
        iv = b.interval(0.9, method=method)
        assert list(iv.columns) == ["E_low", "E_high", "A_low", "A_high", "alpha_low", "alpha_high"]
        assert iv.index.equals(r.params.index)
        for p in ("E", "A", "alpha"):
            assert (iv[f"{p}_low"] <= iv[f"{p}_high"]).all()
    pred = r.predict(df, interval=0.9)
    assert list(pred.columns) == ["curve", "x", "y_pred", "y_low", "y_high"]
    assert (pred["y_low"] <= pred["y_pred"] + 1e-9).mean() > 0.95
    assert (pred["y_high"] >= pred["y_pred"] - 1e-9).mean() > 0.95


def test_bootstrap_se_matches_covariance(plaw):
    # Well-specified L2 fit with many points: bootstrap and asymptotic standard errors agree roughly.
    _, r = plaw
    b = bootstrap(r, n=1000, method="residual", seed=2)
    ratio = (b.stderr / r.stderr).to_numpy()
    assert np.nanmedian(ratio) == pytest.approx(1.0, abs=0.25)


def test_warm_start_gives_full_fit_on_identity_resample(chin):
    # Jackknife replicates move little from the full fit (each drops one of 240 points).
    b = bootstrap(chin, n=10, seed=0)
    J = b._jackknife()
    assert J.shape[1] == 240
    rel = np.abs(J[0] - chin._params[0]) / np.abs(chin._params[0])
    assert np.nanmax(rel) < 0.5


def test_failed_curve_gets_nan_and_others_unaffected():
    df = lawfit.datasets.synthetic_power_law(3, n_points=10, seed=0)
    df.loc[df["curve"] == 1, "y"] = np.nan
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    b = bootstrap(r, n=50)
    assert np.isnan(b.samples[1]).all()
    assert (b.status[1] == lawfit.Status.NOT_RUN).all()
    assert np.isfinite(b.samples[[0, 2]]).all()
    r2 = lawfit.fit(df[df["curve"] != 1], "power_law", x="x", y="y", by="curve")
    b2 = bootstrap(r2, n=50)
    # Curve 2 of the first batch is curve index 2; streams are keyed by curve index, so compare curve 0.
    assert np.array_equal(b.samples[0], b2.samples[0])


def test_errors(chin):
    with pytest.raises(ValueError, match="method"):
        bootstrap(chin, n=10, method="wild")
    with pytest.raises(ValueError, match="n must be"):
        bootstrap(chin, n=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap(chin, n=10).interval(1.5)
    loaded = lawfit.FitResult(chin.law, chin.keys, chin.by,
                              {"params": chin._params, "cost": chin._cost, "iters": chin._iters,
                               "status": chin._status, "n_points": chin._npts}, chin.options)
    with pytest.raises(ValueError, match="fitted data"):
        loaded.bootstrap(n=10)


def test_normal_helpers():
    z = np.linspace(-6, 6, 101)
    from statistics import NormalDist

    nd = NormalDist()
    np.testing.assert_allclose(norm_cdf(z), [nd.cdf(v) for v in z], rtol=2e-6, atol=1e-12)
    p = np.array([1e-10, 1e-4, 0.01, 0.05, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(norm_ppf(p), [nd.inv_cdf(v) for v in p], rtol=1e-6, atol=2e-7)
    assert np.isnan(norm_ppf([0.0, 1.0])).all()
    s = np.sort(np.array([[3.0, np.nan, 1.0, 2.0]]), axis=1)
    assert sorted_quantile(s, 0.5)[0] == 2.0
    assert np.isnan(sorted_quantile(np.full((1, 3), np.nan), 0.5)[0])
    rng = np.random.default_rng(0)
    v = np.sort(rng.normal(size=(4, 101)), axis=1)
    np.testing.assert_allclose(sorted_quantile(v, 0.05), np.quantile(v, 0.05, axis=1))


@pytest.mark.parametrize("method", ["pairs", "residual"])
def test_formula_law_bootstrap_matches_builtin(plaw, method):
    """A lawfit.Law with the built-in's formula, bounds and scales draws the same resamples (Philox keyed by seed,
    curve, replicate) and refits them: replicates agree with the built-in law's to rounding, BCa intervals too.
    (With A on a linear scale the solver's path differs, VarPro hands over to LM earlier: replicates then agree to the
    solver's tolerance, a few 1e-6 in ill-conditioned ones, not to rounding.)"""
    df, ref = plaw
    law = lawfit.Law("E + A * x^-alpha", inputs="x", bounds={"A": (0, None), "alpha": (0, 10)}, scale={"A": "log"})
    fit = lawfit.fit(df, law, x="x", y="y", by="curve")
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params.to_numpy(), rtol=1e-7)
    a = bootstrap(ref, n=200, method=method, seed=4)
    b = bootstrap(fit, n=200, method=method, seed=4)
    assert b.samples.shape == a.samples.shape and np.isfinite(b.samples).all()
    np.testing.assert_allclose(b.samples, a.samples, rtol=1e-6, atol=1e-9)
    ia, ib = a.interval(0.9, method="bca"), b.interval(0.9, method="bca")
    np.testing.assert_allclose(ib.to_numpy(), ia.to_numpy(), rtol=1e-5)
    p = fit.predict(df.head(40), interval=0.9)
    assert (p["y_low"] <= p["y_pred"]).all() and (p["y_pred"] <= p["y_high"]).all()


@pytest.mark.parametrize("method", ["pairs", "residual"])
def test_shared_fit_bootstrap(method):
    """Joint replicates: the shared exponent is one value per replicate, the output does not depend on the
    thread count, and the bootstrap spread of the shared exponent agrees with its delta-method standard error."""
    rng = np.random.default_rng(5)
    t = np.arange(1, 31, dtype=float)
    rows = []
    for s in range(6):  # six seeds of one run: one exponent, per-seed E and A
        y = 2.0 + rng.uniform(1, 2) * t ** -0.6 + 0.01 * rng.standard_normal(t.size)
        rows.append(pd.DataFrame({"seed": s, "t": t, "loss": y}))
    df = pd.concat(rows, ignore_index=True)
    fit = lawfit.fit(df, "power_law", x="t", y="loss", by="seed", shared="alpha")
    assert (fit.status == "CONVERGED").all()
    a = bootstrap(fit, n=400, method=method, seed=3, threads=1)
    b = bootstrap(fit, n=400, method=method, seed=3, threads=2)
    assert a.samples.tobytes() == b.samples.tobytes()
    al = a.samples[:, :, 2]
    assert np.isfinite(al).all()
    np.testing.assert_array_equal(al, np.broadcast_to(al[:1], al.shape))  # shared within each replicate
    se_boot = np.std(al[0], ddof=1)
    se_delta = float(fit.stderr["alpha"].iloc[0])
    assert 0.7 < se_boot / se_delta < 1.4
    iv = a.interval(0.9)
    assert (iv["alpha_low"] < fit.params["alpha"]).all() and (fit.params["alpha"] < iv["alpha_high"]).all()
    with pytest.raises(ValueError, match="shared"):
        a.interval(0.9, method="bca")
    # the same joint bootstrap for a user formula
    law = lawfit.Law("E + A * t^-alpha", inputs="t", bounds={"A": (0, None), "alpha": (0, 10)})
    ff = lawfit.fit(df, law, x="t", y="loss", by="seed", shared="alpha")
    c = bootstrap(ff, n=400, method=method, seed=3)
    np.testing.assert_allclose(c.samples, a.samples, rtol=1e-5)
