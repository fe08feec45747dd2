"""FitResult.report(): goodness-of-fit statistics with lmfit's definitions (chisqr, redchi, aic, bic, rsquared),
checked against lmfit itself on the same least-squares fits, and the `lawfit fit --report` CLI."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.cli import main

STATS = ["chisqr", "redchi", "aic", "bic", "rsquared"]


def _lmfit_stats(model_fn, x, y, start, weights=None, fixed=()):
    """lmfit's statistics of a least-squares fit of model_fn(x, **params) to y, started at ``start``."""
    lmfit = pytest.importorskip("lmfit")
    model = lmfit.Model(model_fn, independent_vars=["x"])
    params = model.make_params(**{k: float(v) for k, v in start.items()})
    for name in fixed:
        params[name].vary = False
    out = model.fit(y, params, x=x, weights=weights, method="leastsq",
                    fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=0.0))
    return {s: float(getattr(out, s)) for s in STATS}, out


def _check(rep_row, lm, tol=1e-8):
    for s in STATS:
        assert rep_row[s] == pytest.approx(lm[s], rel=tol, abs=tol), s


def test_report_equals_lmfit_l2_weighted_linear_space():
    pytest.importorskip("lmfit")
    rng = np.random.default_rng(3)
    x = np.geomspace(1, 1e4, 40)
    y = 1.5 + 8.0 * x ** -0.4 + rng.normal(0, 0.02, x.size)
    w = rng.uniform(0.5, 2.0, x.size)
    df = pd.DataFrame({"x": x, "y": y, "w": w})
    res = lawfit.fit(df, "power_law", x="x", y="y", weight="w", ftol=1e-15, xtol=1e-15, gtol=1e-15)
    assert res.ok.all() and not res.at_bound.to_numpy().any()
    rep = res.report().iloc[0]

    def f(x, E, A, alpha):
        return E + A * x ** -alpha

    # lmfit multiplies the residuals by its weights: sqrt of lawfit's, which multiply the squared residuals.
    lm, out = _lmfit_stats(f, x, y, res.params.iloc[0], weights=np.sqrt(w))
    np.testing.assert_allclose(res.params.iloc[0].to_numpy(), [out.params[p].value for p in ("E", "A", "alpha")],
                               rtol=1e-6)
    _check(rep, lm)
    assert rep["k"] == out.nvarys == 3 and rep["dof"] == out.nfree and rep["n_points"] == out.ndata
    assert rep["objective"] == pytest.approx(0.5 * rep["chisqr"], rel=1e-12)  # the objective is 0.5 x SSE
    assert rep["noise_sd"] == pytest.approx(np.sqrt(lm["redchi"]), rel=1e-8)


def test_report_equals_lmfit_log_space_chinchilla():
    pytest.importorskip("lmfit")
    df = lawfit.datasets.synthetic_chinchilla(n=80, seed=4)
    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log", ftol=1e-15, xtol=1e-15, gtol=1e-15)
    rep = res.report().iloc[0]
    X = df[["N", "D"]].to_numpy().T

    def logf(x, E, A, B, alpha, beta):  # the fit in log space: log y against log f
        return np.log(E + A / x[0] ** alpha + B / x[1] ** beta)

    lm, _ = _lmfit_stats(logf, X, np.log(df["loss"].to_numpy()), res.params.iloc[0])
    _check(rep, lm)
    # R^2 is lmfit's: of the data in the fitted space (log loss), unweighted.
    r = np.log(df["loss"]) - np.log(res.predict(df)["y_pred"])
    ly = np.log(df["loss"])
    assert rep["rsquared"] == pytest.approx(1 - (r ** 2).sum() / ((ly - ly.mean()) ** 2).sum(), rel=1e-10)
    assert rep["resid_rms"] == pytest.approx(np.sqrt((r ** 2).mean()), rel=1e-10)
    assert rep["resid_max_abs"] == pytest.approx(np.abs(r).max(), rel=1e-10)


def test_report_fixed_parameter_is_not_free_like_lmfit_vary_false():
    pytest.importorskip("lmfit")
    lc = lawfit.datasets.synthetic_power_law(1, seed=5)
    E0 = float(lc["E"].iloc[0])
    res = lawfit.fit(lc, "power_law", x="x", y="y", bounds={"E": (E0, E0)}, ftol=1e-15, xtol=1e-15, gtol=1e-15)
    rep = res.report().iloc[0]
    assert rep["k"] == 2 and rep["at_bound"] == "E"

    def f(x, E, A, alpha):
        return E + A * x ** -alpha

    lm, out = _lmfit_stats(f, lc["x"].to_numpy(), lc["y"].to_numpy(), res.params.iloc[0], fixed=("E",))
    assert out.nvarys == 2
    _check(rep, lm)
    # E is fixed: no correlation with it; the pair reported is the free one.
    assert rep["max_corr_pair"] == "A,alpha"
    c = res.correlations()
    assert np.isnan(c.loc["E", "A"]) and c.loc["A", "A"] == 1.0


def test_report_many_curves_robust_loss_and_correlations():
    lc = lawfit.datasets.synthetic_power_law(5, seed=1)
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", loss="huber", delta=0.05)
    rep = res.report()
    assert list(rep.index) == list(res.index) and rep.index.name == "curve"
    # Robust losses: the statistics of the plain residuals (not the robust objective).
    pred = res.predict(lc)
    r = lc["y"].to_numpy() - pred["y_pred"].to_numpy()
    chi = pd.Series(r ** 2).groupby(lc["curve"].to_numpy()).sum()
    np.testing.assert_allclose(rep["chisqr"].to_numpy(), chi.to_numpy(), rtol=1e-10)
    assert (rep["objective"] < 0.5 * rep["chisqr"] + 1e-15).all()  # huber discounts the large residuals
    # The compact correlation column is the largest |corr| of each curve's matrix.
    for key in res.index:
        c = res.correlations(key).to_numpy()
        off = np.abs(c[np.triu_indices(3, 1)])
        assert abs(rep.loc[key, "max_corr"]) == pytest.approx(off.max())
    with pytest.raises(ValueError, match="has 5 curves; name one"):
        res.correlations()
    with pytest.raises(ValueError, match="curve must be one label"):
        res.correlations("nope")


def test_to_frame_report_columns_keep_the_old_ones():
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve")
    old = res.to_frame()
    new = res.to_frame(report=True)
    pd.testing.assert_frame_equal(new[old.columns], old)
    for c in ["k", "dof", "chisqr", "redchi", "noise_sd", "aic", "bic", "rsquared", "resid_rms", "resid_max_abs",
              "max_corr", "max_corr_pair"]:
        assert c in new.columns
    assert list(old.columns) == list(new.columns[:len(old.columns)])


def test_report_of_a_loaded_result_needs_the_data(tmp_path):
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve")
    res.save(tmp_path / "f.json")
    back = lawfit.load_result(tmp_path / "f.json")
    with pytest.raises(ValueError, match="pass data="):
        back.report()
    shuffled = lc.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(back.report(data=shuffled), res.report(), rtol=1e-10)


def test_report_failed_curve_and_text_form():
    lc = lawfit.datasets.synthetic_power_law(2, seed=2)
    lc.loc[lc.index[0], "y"] = np.nan
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve")
    rep = res.report()
    assert rep["status"].tolist() == ["NON_FINITE", "CONVERGED"]
    assert rep.iloc[0][["chisqr", "aic", "rsquared"]].isna().all() and pd.isna(rep.iloc[0]["k"])
    assert np.isfinite(rep.iloc[1][STATS].to_numpy(dtype=float)).all()
    text = res.report(format="text")
    for word in ["chisqr = sum w r^2", "redchi", "aic = n ln(chisqr/n) + 2k", "rsquared", "0.5 x", "NON_FINITE"]:
        assert word in text
    one = lawfit.fit(lc[lc.curve == 1], "power_law", x="x", y="y")
    assert "C(" in one.report(format="text")  # a single curve lists its correlations
    with pytest.raises(ValueError, match="format must be 'frame' or 'text'"):
        res.report(format="html")


def test_cli_fit_report(tmp_path, capsys):
    lc = lawfit.datasets.synthetic_power_law(2, seed=2)
    data = tmp_path / "c.csv"
    lc.to_csv(data, index=False)
    out = tmp_path / "p.csv"
    assert main(["fit", str(data), "--law", "power_law", "--x", "x", "--y", "y", "--by", "curve", "--report",
                 "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lawfit report of 'power_law'" in printed and "redchi" in printed and "rsquared" in printed
    tab = pd.read_csv(out, index_col=0)
    assert {"chisqr", "redchi", "aic", "bic", "rsquared", "E_se"} <= set(tab.columns)
