"""Profile-likelihood and Wald intervals (FitResult.profile_interval, FitResult.conf_interval): equal to lmfit's
conf_interval on least-squares fits, equal to the Wald interval for a linear model, batched over curves."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.intervals import f1_quantile, threshold
from lawfit.catalogue import LawSpec

TIGHT = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15, max_iter=2000)


def _power_data(seed=3, n=40, noise=0.05):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1, 1e4, n)
    y = 1.5 + 8.0 * x ** -0.4 + rng.normal(0, noise, n)
    return pd.DataFrame({"x": x, "y": y, "w": rng.uniform(0.5, 2.0, n)})


def test_f1_quantile_equals_scipy():
    stats = pytest.importorskip("scipy.stats")
    for dof in [1, 2, 3, 7, 36, 250, 5000]:
        for level in [0.5, 0.6827, 0.9, 0.95, 0.99, 0.999]:
            assert f1_quantile(level, dof) == pytest.approx(stats.f.ppf(level, 1, dof), rel=1e-10)
    assert threshold(0.95, [10, 0, 10], "chi2")[0] == pytest.approx(stats.chi2.ppf(0.95, 1), rel=1e-12)
    assert np.isnan(threshold(0.95, [0], "f")[0])


@pytest.mark.parametrize("weighted", [False, True])
def test_profile_equals_lmfit_conf_interval(weighted):
    lmfit = pytest.importorskip("lmfit")
    df = _power_data()
    res = lawfit.fit(df, "power_law", x="x", y="y", weight="w" if weighted else None, **TIGHT)

    def f(x, E, A, alpha):
        return E + A * x ** -alpha

    model = lmfit.Model(f, independent_vars=["x"])
    pars = model.make_params(**res.params.iloc[0].to_dict())
    out = model.fit(df["y"].to_numpy(), pars, x=df["x"].to_numpy(), method="leastsq",
                    weights=np.sqrt(df["w"].to_numpy()) if weighted else None,
                    fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=0.0))
    for level in (0.6827, 0.95):
        ci = out.conf_interval(sigmas=[level])
        ours = res.conf_interval(method="profile", level=level)
        for p in ("E", "A", "alpha"):
            (_, lo), (_, best), (_, hi) = ci[p]
            assert ours[f"{p}_low"].iloc[0] == pytest.approx(lo, rel=1e-3)
            assert ours[f"{p}_high"].iloc[0] == pytest.approx(hi, rel=1e-3)
        one = res.profile_interval("alpha", level=level)
        assert list(one.columns) == ["value", "low", "high", "low_status", "high_status"]
        assert one["low_status"].iloc[0] == "ok" and one["high_status"].iloc[0] == "ok"
        assert one["low"].iloc[0] == ours["alpha_low"].iloc[0]


def test_profile_equals_lmfit_in_log_space():
    """space="log": the profile of the residuals log y - log f, as lmfit's fit of log y by log f."""
    lmfit = pytest.importorskip("lmfit")
    df = _power_data(seed=5, noise=0.02)
    res = lawfit.fit(df, "power_law", x="x", y="y", space="log", **TIGHT)

    def logf(x, E, A, alpha):
        return np.log(E + A * x ** -alpha)

    model = lmfit.Model(logf, independent_vars=["x"])
    out = model.fit(np.log(df["y"].to_numpy()), model.make_params(**res.params.iloc[0].to_dict()),
                    x=df["x"].to_numpy(), method="leastsq", fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=0.0))
    ci = out.conf_interval(sigmas=[0.95])
    ours = res.conf_interval(method="profile")
    for p in ("E", "A", "alpha"):
        assert ours[f"{p}_low"].iloc[0] == pytest.approx(ci[p][0][1], rel=1e-3)
        assert ours[f"{p}_high"].iloc[0] == pytest.approx(ci[p][2][1], rel=1e-3)


@pytest.mark.parametrize("dist", ["f", "chi2"])
def test_linear_model_profile_equals_wald(dist):
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 30)
    df = pd.DataFrame({"x": np.tile(x, 3), "y": np.concatenate([2 + 0.5 * x + rng.normal(0, s, 30) for s in
                                                                 (0.1, 0.3, 1.0)]),
                       "run": np.repeat(["a", "b", "c"], 30)})
    res = lawfit.fit(df, lawfit.Law("c + b*x", inputs="x"), x="x", y="y", by="run", **TIGHT)
    prof = res.conf_interval(method="profile", dist=dist, level=0.9)
    wald = res.conf_interval(method="wald", dist=dist, level=0.9)
    pd.testing.assert_frame_equal(prof, wald, rtol=1e-7, atol=0)
    # the Wald ends: value +- t_{n-k} (or z) x stderr
    stats = pytest.importorskip("scipy.stats")
    c = stats.t.ppf(0.95, 28) if dist == "f" else stats.norm.ppf(0.95)
    np.testing.assert_allclose(wald["b_high"], res.params["b"] + c * res.stderr["b"], rtol=1e-10)


def test_profile_is_batched_and_per_curve(monkeypatch):
    """All curves, parameters and sides go through one native fit per step, and a curve's interval does not depend
    on the other curves."""
    lc = lawfit.datasets.synthetic_power_law(40, seed=2)
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", **TIGHT)
    calls = []
    orig = LawSpec._fit

    def counting(self, **kw):
        calls.append(len(kw["offsets"]) - 1)
        return orig(self, **kw)

    monkeypatch.setattr(LawSpec, "_fit", counting)
    ci = res.conf_interval(method="profile")
    assert len(calls) <= 12 and calls[1] == 40 * 3 * 2, calls  # the optimum, then every (curve, param, side)
    monkeypatch.setattr(LawSpec, "_fit", orig)
    for c in (0, 17, 39):
        one = lawfit.fit(lc[lc.curve == c], "power_law", x="x", y="y", **TIGHT)
        np.testing.assert_allclose(one.conf_interval(method="profile").iloc[0].to_numpy(),
                                   ci.loc[c].to_numpy(), rtol=1e-6)
    sub = res.conf_interval(method="profile", curves=[17, 3])
    assert list(sub.index) == [17, 3]
    np.testing.assert_allclose(sub.to_numpy(), ci.loc[[17, 3]].to_numpy(), rtol=1e-6)


def test_profile_fixed_bound_and_tied():
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    fx = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed={"E": 0.8})
    pe = fx.profile_interval("E")
    assert pe["low"].isna().all() and (pe["low_status"] == "fixed").all()
    assert (fx.profile_interval("alpha")["low_status"] == "ok").all()
    # alpha pushed onto its upper bound: that end is the bound
    ab = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", bounds={"alpha": (0.0, 0.2)})
    assert ab.at_bound["alpha"].all()
    pa = ab.profile_interval("alpha")
    assert (pa["high_status"] == "bound").all() and (pa["high"] == 0.2).all() and (pa["low"] < 0.2).all()
    df = lawfit.datasets.synthetic_chinchilla(n=120, seed=1)
    t = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", tie={"beta": "alpha", "B": "2*A"})
    with pytest.raises(ValueError, match="'beta' is tied"):
        t.profile_interval("beta")
    ci = t.conf_interval(method="profile", params=["beta", "B", "E"])
    alpha = t.profile_interval("alpha")
    A = t.profile_interval("A")
    assert ci["beta_low"].iloc[0] == pytest.approx(alpha["low"].iloc[0], rel=1e-12)
    assert ci["B_high"].iloc[0] == pytest.approx(2 * A["high"].iloc[0], rel=1e-12)
    assert list(ci.columns) == ["beta_low", "beta_high", "B_low", "B_high", "E_low", "E_high"]


def test_profile_refuses_what_it_cannot_do(tmp_path):
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve")
    with pytest.raises(ValueError, match="unknown parameter 'zz'"):
        res.profile_interval("zz")
    with pytest.raises(ValueError, match="dist must be 'f'"):
        res.profile_interval("E", dist="t")
    with pytest.raises(ValueError, match="curves names 99"):
        res.profile_interval("E", curves=[99])
    with pytest.raises(ValueError, match="method must be 'wald' or 'profile'"):
        res.conf_interval(method="bootstrap")
    with pytest.raises(ValueError, match="least-squares fit"):
        lawfit.fit(lc, "power_law", x="x", y="y", by="curve", loss="huber").profile_interval("E")
    with pytest.raises(ValueError, match="shared parameters"):
        lawfit.fit(lc, "power_law", x="x", y="y", by="curve", shared="alpha").profile_interval("E")
    res.save(tmp_path / "r.json")
    with pytest.raises(ValueError, match="needs the fitted data"):
        lawfit.load_result(tmp_path / "r.json").profile_interval("E")
    # Wald intervals need no data
    w = lawfit.load_result(tmp_path / "r.json").conf_interval()
    pd.testing.assert_frame_equal(w, res.conf_interval())
