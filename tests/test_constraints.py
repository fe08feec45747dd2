"""fixed= and tie= in lawfit.fit: a fixed parameter is the law with the value written in, a tie the law with the
expression substituted (parameters and standard errors to 1e-7 or better, the objective to 1e-10); both are reported and
leave the covariance."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.constraints import TiedLaw, catalogue_formula, catalogue_law
from lawfit.catalogue import _CATALOGUE

TIGHT = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15, max_iter=2000)
CHIN_BOUNDS = {"E": (0, None), "A": (0, None), "B": (0, None)}
CHIN_SCALE = {"E": "log", "A": "log", "B": "log"}


@pytest.fixture(scope="module")
def chin():
    return lawfit.datasets.synthetic_chinchilla(n=240, seed=0)


def _close(a, b, rtol=1e-8):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=0)


def test_fixed_equals_the_law_with_the_value_written_in(chin):
    res = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", fixed={"alpha": 0.34}, **TIGHT)
    law = lawfit.Law("E + A/N^0.34 + B/D^beta", inputs=["N", "D"], bounds={**CHIN_BOUNDS, "beta": (0, 5)},
                     scale=CHIN_SCALE)
    ref = lawfit.fit(chin, law, x=["N", "D"], y="loss", **TIGHT)
    free = ["E", "A", "B", "beta"]
    # (1e-7: B's standard error is 43% of it here, a valley along which rounding in the solvers' small systems moves
    # the two fits apart by ~4e-8 of B at the same objective to 20 digits)
    _close(res.params[free].iloc[0], ref.params[free].iloc[0], rtol=1e-7)
    _close(res.stderr[free].iloc[0], ref.stderr[free].iloc[0], rtol=1e-7)
    assert res.params["alpha"].iloc[0] == 0.34 and np.isnan(res.stderr["alpha"].iloc[0])
    assert np.isnan(res.covariance[0, 3]).all() and np.isnan(res.covariance[0, :, 3]).all()
    assert res.objective.iloc[0] == pytest.approx(ref.objective.iloc[0], rel=1e-10)
    assert res.fixed.loc[0].to_dict() == {"E": False, "A": False, "B": False, "alpha": True, "beta": False}
    row = res.to_frame().iloc[0]
    assert row["fixed"] == "alpha" and row["at_bound"] == "alpha"
    rep = res.report().iloc[0]
    assert rep["k"] == 4 and rep["fixed"] == "alpha"
    assert rep["aic"] == pytest.approx(ref.report()["aic"].iloc[0], rel=1e-8)
    assert "fixed (not fitted" in res.summary() and "alpha = 0.34" in res.summary()
    # the same with bounds (v, v): one mechanism
    viab = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", bounds={"alpha": (0.34, 0.34)}, **TIGHT)
    assert viab.fixed["alpha"].iloc[0]
    _close(viab.params.iloc[0], res.params.iloc[0], rtol=1e-12)


def test_fixed_for_a_user_law(chin):
    law = lawfit.Law("E + A*N^-alpha + B*D^-beta", inputs=["N", "D"],
                     bounds={**CHIN_BOUNDS, "alpha": (0, 2), "beta": (0, 2)}, scale=CHIN_SCALE)
    res = lawfit.fit(chin, law, x=["N", "D"], y="loss", fixed={"beta": 0.28, "E": 1.7}, **TIGHT)
    ref_law = lawfit.Law("1.7 + A*N^-alpha + B*D^-0.28", inputs=["N", "D"],
                         bounds={"A": (0, None), "B": (0, None), "alpha": (0, 2)}, scale={"A": "log", "B": "log"})
    ref = lawfit.fit(chin, ref_law, x=["N", "D"], y="loss", **TIGHT)
    free = ["A", "B", "alpha"]
    # (A lies along a flat direction: the two fits stop within rounding of each other there, measured 1.3e-8 of A,
    # 1.6e-7 of its standard error, objectives equal to 2e-15, A's standard error 1.6e-8 apart; hence an atol of 1e-6
    # standard errors on the parameters and 1e-7 on the standard errors)
    got, want, se = (t[free].iloc[0].to_numpy(dtype=float) for t in (res.params, ref.params, ref.stderr))
    assert np.all(np.abs(got - want) <= 1e-8 * np.abs(want) + 1e-6 * se), (got, want, se)
    _close(res.stderr[free].iloc[0], ref.stderr[free].iloc[0], rtol=1e-7)
    assert res.to_frame()["fixed"].iloc[0] == "E,beta"
    assert res.report()["k"].iloc[0] == 3


def test_fixed_per_curve_series_and_array():
    lc = lawfit.datasets.synthetic_power_law(4, seed=2)
    by_curve = pd.Series([0.3, np.nan, 0.5], index=[0, 1, 3])  # curve 2 absent, curve 1 NaN: both free
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed={"alpha": by_curve}, **TIGHT)
    assert res.fixed["alpha"].tolist() == [True, False, False, True]
    assert res.params["alpha"].loc[[0, 3]].tolist() == [0.3, 0.5]
    assert np.isnan(res.stderr["alpha"].loc[[0, 3]]).all() and np.isfinite(res.stderr["alpha"].loc[[1, 2]]).all()
    free = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", **TIGHT)
    _close(res.params.loc[[1, 2]], free.params.loc[[1, 2]], rtol=1e-10)  # one curve's fixed value changes no other
    one = lawfit.fit(lc[lc.curve == 3], "power_law", x="x", y="y", fixed={"alpha": 0.5}, **TIGHT)
    _close(res.params.loc[3], one.params.iloc[0], rtol=1e-10)
    arr = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed={"alpha": [0.3, np.nan, np.nan, 0.5]}, **TIGHT)
    pd.testing.assert_frame_equal(arr.params, res.params)
    assert res.summary().count("alpha per curve on 2 of 4 curves") == 1


def test_fixed_round_trips_and_bootstrap_holds_it(tmp_path):
    lc = lawfit.datasets.synthetic_power_law(2, seed=2)
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed={"E": 0.9})
    res.save(tmp_path / "r.json")
    back = lawfit.load_result(tmp_path / "r.json")
    pd.testing.assert_frame_equal(back.fixed, res.fixed)
    assert back.to_frame()["fixed"].tolist() == ["E", "E"]
    bs = res.bootstrap(n=50, seed=1)
    assert np.all(bs.samples[:, :, 0][np.isfinite(bs.samples[:, :, 0])] == 0.9)


@pytest.mark.parametrize("bad, match", [
    ({"zz": 1.0}, "unknown parameter 'zz'"),
    ({"alpha": "x"}, r"fixed\['alpha'\] must be a number"),
    ({"alpha": np.inf}, "finite"),
    ({"A": -1.0}, "positive by definition"),
    ({"alpha": [0.3, 0.4]}, "one value per curve"),
    ({"alpha": pd.Series([0.3], index=[99])}, "curve 99, which is not in the data"),
])
def test_fixed_bad_arguments(bad, match):
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    with pytest.raises(ValueError, match=match):
        lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed=bad)


def test_fixed_conflicts():
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    with pytest.raises(ValueError, match="also has bounds"):
        lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed={"alpha": 0.3}, bounds={"alpha": (0, 1)})
    with pytest.raises(ValueError, match="also in shared"):
        lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed={"alpha": 0.3}, shared="alpha")
    with pytest.raises(ValueError, match="fixed must be a dict"):
        lawfit.fit(lc, "power_law", x="x", y="y", by="curve", fixed=0.3)
    # with shared parameters: the others stay joint, the fixed one held on every curve
    res = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", shared="alpha", fixed={"E": 0.8})
    assert (res.params["E"] == 0.8).all() and res.params["alpha"].nunique() == 1


def test_tie_chinchilla_equals_one_exponent_law(chin):
    res = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", tie={"beta": "alpha"}, **TIGHT)
    law = lawfit.Law("E + A/N^alpha + B/D^alpha", inputs=["N", "D"], bounds={**CHIN_BOUNDS, "alpha": (0, 5)},
                     scale=CHIN_SCALE)
    ref = lawfit.fit(chin, law, x=["N", "D"], y="loss", **TIGHT)
    for p in ["E", "A", "B", "alpha"]:
        # The two tapes differ (the tie rewrites the expression), so with FMA contraction (the AVX2 kernels) they
        # round differently in the last bits; Chinchilla's valley is flat (J^T J condition ~1e9), so the optimum
        # and the SEs of the two fits agree to 1e-7, not to the last bits.
        _close(res.params[p].iloc[0], ref.params[p].iloc[0], rtol=1e-7)
        _close(res.stderr[p].iloc[0], ref.stderr[p].iloc[0], rtol=1e-7)
    assert res.params["beta"].iloc[0] == res.params["alpha"].iloc[0]
    assert res.stderr["beta"].iloc[0] == pytest.approx(res.stderr["alpha"].iloc[0], rel=1e-12)
    assert res.correlations().loc["alpha", "beta"] == pytest.approx(1.0)
    assert list(res.params.columns) == ["E", "A", "B", "alpha", "beta"]
    assert res.tied == {"beta": "alpha"} and isinstance(res.law, TiedLaw) and res.law.name == "chinchilla"
    rep = res.report().iloc[0]
    assert rep["k"] == 4 and rep["max_corr_pair"] != "alpha,beta"
    assert rep["bic"] == pytest.approx(ref.report()["bic"].iloc[0], rel=1e-8)
    assert "tied (not free" in res.summary() and "beta = alpha" in res.summary()
    # predictions and delta-method bands are those of the one-exponent law
    p1, p2 = res.predict(chin, interval=0.9), ref.predict(chin, interval=0.9)
    for c in ["y_pred", "y_low", "y_high"]:
        _close(p1[c], p2[c], rtol=1e-7)


def test_tie_expression_and_user_law():
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    law = lawfit.Law("E + A*x^-alpha + C*x^-gamma", inputs="x", bounds={"alpha": (0, 3), "gamma": (0, 6)})
    res = lawfit.fit(lc, law, x="x", y="y", by="curve", tie={"C": "A", "gamma": "2*alpha"}, **TIGHT)
    ref = lawfit.fit(lc, lawfit.Law("E + A*x^-alpha + A*x^-(2*alpha)", inputs="x", bounds={"alpha": (0, 3)}),
                     x="x", y="y", by="curve", **TIGHT)
    _close(res.params[["E", "A", "alpha"]], ref.params[["E", "A", "alpha"]])
    _close(res.stderr[["E", "A", "alpha"]], ref.stderr[["E", "A", "alpha"]])
    _close(res.params["gamma"], 2 * res.params["alpha"], rtol=1e-15)
    _close(res.stderr["gamma"], 2 * res.stderr["alpha"], rtol=1e-12)  # delta method: |d gamma / d alpha| = 2
    _close(res.stderr["C"], res.stderr["A"], rtol=1e-12)
    assert (res.report()["k"] == 3).all()


def test_tied_result_round_trips_and_bootstraps(chin, tmp_path):
    res = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", tie={"B": "2*A"})
    res.save(tmp_path / "t.json")
    back = lawfit.load_result(tmp_path / "t.json")
    assert isinstance(back.law, TiedLaw) and back.tied == {"B": "2*A"}
    pd.testing.assert_frame_equal(back.params, res.params)
    pd.testing.assert_frame_equal(back.predict(chin.head(5), interval=0.9), res.predict(chin.head(5), interval=0.9))
    bs = res.bootstrap(n=100, seed=3)
    s = bs.samples[0]
    ok = np.isfinite(s).all(axis=1)
    assert ok.sum() > 90
    _close(s[ok, 2], 2 * s[ok, 1], rtol=1e-12)  # every replicate keeps the tie


def test_tie_with_starts_shared_and_fixed(chin):
    st = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", tie={"beta": "alpha"},
                    starts={"E": 1.5, "A": 300, "B": 500, "alpha": 0.3}, **TIGHT)  # no start for the tied beta
    ref = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", tie={"beta": "alpha"}, **TIGHT)
    _close(st.params, ref.params, rtol=1e-7)
    fx = lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", tie={"beta": "alpha"}, fixed={"alpha": 0.3}, **TIGHT)
    assert fx.params["beta"].iloc[0] == 0.3
    # beta's expression depends on a fixed parameter only: not free either
    assert np.isnan(fx.stderr[["alpha", "beta"]].to_numpy()).all() and fx.at_bound["beta"].iloc[0]
    assert fx.report()["k"].iloc[0] == 3
    lc = lawfit.datasets.synthetic_power_law(3, seed=2)
    sh = lawfit.fit(lc, "power_law", x="x", y="y", by="curve", shared="alpha", tie={"E": "A/10"})
    assert sh.params["alpha"].nunique() == 1
    _close(sh.params["E"], sh.params["A"] / 10, rtol=1e-15)


@pytest.mark.parametrize("kw, match", [
    (dict(tie={"beta": "gamma"}), "names 'gamma', not a parameter"),
    (dict(tie={"beta": "beta"}), "uses itself"),
    (dict(tie={"beta": "alpha", "alpha": "E"}), "tied too"),
    (dict(tie={"beta": 0.3}), "is a number: hold a parameter at a value with fixed="),
    (dict(tie={"beta": "N"}), "uses the input 'N'"),
    (dict(tie={"beta": "2"}), "names no parameter"),
    (dict(tie={"zz": "alpha"}), "unknown parameter 'zz'"),
    (dict(tie={"beta": "alpha +"}), "unexpected end"),
    (dict(tie={"beta": "alpha"}, fixed={"beta": 0.3}), "'beta' is tied"),
    (dict(tie={"beta": "alpha"}, bounds={"beta": (0, 1)}), "takes no bounds of its own"),
    (dict(tie={"beta": "alpha"}, shared="beta"), "share the parameter"),
    (dict(tie="beta=alpha"), "tie must be a non-empty dict"),
])
def test_tie_bad_arguments(chin, kw, match):
    with pytest.raises(ValueError, match=match):
        lawfit.fit(chin, "chinchilla", x=["N", "D"], y="loss", **kw)


def test_tie_refused_for_a_law_whose_formula_is_not_a_law():
    df = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8] * 2, "D": [1e9] * 8, "U": [1e9] * 8, "loss": np.linspace(3, 2, 8)})
    with pytest.raises(ValueError, match="law 'data_constrained': its formula .* cannot be written as a lawfit.Law"):
        lawfit.fit(df, "data_constrained", x=["N", "D", "U"], y="loss", tie={"beta": "alpha"})


def test_catalogue_formulas_read_as_laws_evaluate_to_the_native_laws():
    """Every catalogue law but data_constrained (whose inputs are derived) reads as a Law equal to the native law."""
    refused = []
    for name, spec in _CATALOGUE.items():
        try:
            law = catalogue_law(spec)
        except ValueError:
            refused.append(name)
            continue
        assert law.params == spec.params and law.inputs == spec.inputs
    assert refused == ["data_constrained"]
    assert catalogue_formula(_CATALOGUE["hill3"]) == "theta * ((t/kappa)^eta) / (1 + ((t/kappa)^eta))"
    assert catalogue_formula(_CATALOGUE["kaplan"]) == "((Nc/N)^(aN/aD) + Dc/D)^aD"
    assert catalogue_formula(_CATALOGUE["vap"]) == "exp(a + b/t + c*log(t))"


def test_cli_fixed_and_tie(tmp_path, capsys):
    from lawfit.cli import main

    lc = lawfit.datasets.synthetic_power_law(2, seed=2)
    path = tmp_path / "lc.csv"
    lc.to_csv(path, index=False)
    out = tmp_path / "p.csv"
    assert main(["fit", str(path), "--law", "power_law", "--x", "x", "--y", "y", "--by", "curve",
                 "--fixed", "E=0.9", "--csv", str(out), "-q"]) == 0
    tab = pd.read_csv(out)
    assert (tab["E"] == 0.9).all() and tab["E_se"].isna().all() and (tab["fixed"] == "E").all()
    law = tmp_path / "chin.csv"
    lawfit.datasets.synthetic_chinchilla(n=120, seed=0).to_csv(law, index=False)
    assert main(["fit", str(law), "--law", "chinchilla", "--x", "N,D", "--y", "loss", "--tie", "beta=alpha"]) == 0
    assert "tied (not free; value and SE from the expression): beta = alpha" in capsys.readouterr().out
    assert main(["fit", str(path), "--law", "power_law", "--x", "x", "--y", "y", "--fixed", "E"]) == 2
    assert "--fixed expects NAME=VALUE" in capsys.readouterr().err
