"""API and CLI traps of issue #15, each reproduced: predict's index, the bnsl alias, unsigned exponents of
user laws, swapped x columns, a CLI fit whose every curve failed, help texts, readable numbers, reprs."""
import argparse
import warnings

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit import evals
from lawfit.cli import build_parser, main


# ---- predict keeps the caller's index -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def curves():
    df = lawfit.datasets.synthetic_power_law(3, seed=1)
    res = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    return df, res


def test_predict_keeps_the_callers_index(curves):
    df, res = curves
    plain = res.predict(df)["y_pred"].to_numpy()
    odd = df.sample(frac=1.0, random_state=3).set_index(pd.Index([f"r{i}" for i in range(len(df))]))
    pred = res.predict(odd)
    assert pred.index.equals(odd.index)
    odd["pred"] = res.predict(odd).y_pred  # aligned by label: no NaN, each row its own prediction
    back = odd.sort_values(["curve", "x"])["pred"].to_numpy()
    np.testing.assert_allclose(back, plain, rtol=1e-12)
    # Every path of predict: the delta method, the bootstrap, BootstrapResult.predict.
    sub = df.iloc[5:25]
    assert res.predict(sub, interval=0.9).index.equals(sub.index)
    bs = lawfit.fit(df, "power_law", x="x", y="y", by="curve").bootstrap(n=20, seed=0)
    assert bs.predict(sub, interval=0.9).index.equals(sub.index)
    assert bs.fit.predict(sub, interval=0.9).index.equals(sub.index)
    # A dict (no index of its own) gets 0..n-1.
    d = {"curve": np.array([0, 1]), "x": np.array([2.0, 3.0])}
    assert list(res.predict(d).index) == [0, 1]


def test_predict_calibrated_keeps_the_callers_index():
    df = lawfit.datasets.synthetic_chinchilla(n=60, seed=2)
    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log")
    new = df.iloc[:4].set_index(pd.Index([10, 11, 12, 13]))
    out = res.predict(new, interval=0.9, calibrate="holdout")
    assert out.index.equals(new.index) and out["k"].notna().all()


# ---- bnsl ------------------------------------------------------------------------------------------------------
def test_bnsl_resolves_as_an_alias(tmp_path, capsys):
    assert lawfit.get_law("bnsl") is lawfit.get_law("bnsl1")
    assert lawfit.bnsl() is lawfit.get_law("bnsl1") and lawfit.bnsl(breaks=2) is lawfit.get_law("bnsl2")
    with pytest.raises(ValueError, match="breaks must be 1 or 2"):
        lawfit.bnsl(breaks=3)
    with pytest.raises(ValueError, match="breaks must be an integer"):
        lawfit.bnsl(breaks=1.5)
    assert main(["laws", "bnsl"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bnsl1:") and "alias of bnsl1" in out
    assert main(["laws"]) == 0
    assert "bnsl = bnsl1" in capsys.readouterr().out
    x = np.geomspace(1, 1e5, 40)
    y = 0.5 + 3 * x ** -0.2 * (1 + (x / 100) ** (1 / 0.5)) ** (-0.3 * 0.5)
    data = tmp_path / "b.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(data, index=False)
    assert main(["fit", str(data), "--law", "bnsl", "--x", "x", "--y", "y", "-q"]) == 0


# ---- user laws: an exponent written without a sign ---------------------------------------------------------------
def test_unsigned_exponent_starts_from_both_signs():
    """'E + A*N^alpha' with a negative alpha: the default starts (all positive) ended at MAX_ITER with a 189% error."""
    rng = np.random.default_rng(0)
    N = np.geomspace(1e6, 1e9, 30)
    df = pd.DataFrame({"N": N, "loss": (1.7 + 400 * N ** -0.3) * np.exp(rng.normal(0, 0.005, N.size))})
    truth = 1.7 + 400 * 1e11 ** -0.3
    for formula in ("E + A*N^alpha", "E + A*exp(alpha*log(N))"):
        law = lawfit.Law(formula, inputs=["N"])
        assert min(law.grid[law.params.index("alpha")]) < 0
        res = lawfit.fit(df, law, x="N", y="loss")
        assert res.status.iloc[0] == "CONVERGED"
        assert res.params.iloc[0]["alpha"] == pytest.approx(-0.3, abs=0.02)
        assert res.predict({"N": [1e11]})["y_pred"].iloc[0] == pytest.approx(truth, rel=0.02)
    # A sign written in the formula, or bounds, say which sign: those grids are unchanged or one-signed.
    assert lawfit.Law("E + A*N^-alpha", inputs=["N"]).grid[2] == (0.1, 0.3, 1.0)
    assert lawfit.Law("a + b*exp(-k*t)", inputs=["t"]).grid[2] == (0.1, 0.3, 1.0)
    neg = lawfit.Law("E + A*N^alpha", inputs=["N"], bounds={"alpha": (None, 0)})
    assert neg.grid[2] == (-1.0, -0.3, -0.1)
    assert lawfit.Law("E + A*N^alpha", inputs=["N"], bounds={"alpha": (0, None)}).grid[2] == (0.1, 0.3, 1.0)


# ---- x columns named like the law's inputs, in another order --------------------------------------------------
def test_swapped_x_columns_warn(tmp_path, capsys):
    df = lawfit.datasets.synthetic_chinchilla(n=40, seed=0)
    with pytest.warns(UserWarning, match=r"matched by position, so the law reads column 'D' as 'N'"):
        lawfit.fit(df, "chinchilla", x=["D", "N"], y="loss", space="log")
    law = lawfit.Law("E + A*N^-a + B*D^-b", inputs=["N", "D"])
    with pytest.warns(UserWarning, match="another order"):
        lawfit.fit(df, law, x=["D", "N"], y="loss", space="log")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log")  # in order: no warning
        lawfit.fit(df.rename(columns={"N": "params", "D": "tokens"}), "chinchilla", x=["tokens", "params"],
                   y="loss", space="log")  # other names: nothing to go by
    data = tmp_path / "runs.csv"
    df.to_csv(data, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["fit", str(data), "--law", "chinchilla", "--x", "D,N", "--y", "loss", "-q"]) == 0
    err = capsys.readouterr().err
    assert "lawfit fit: warning: x=['D', 'N'] names the inputs of law 'chinchilla' in another order" in err


# ---- a CLI fit whose every curve failed ------------------------------------------------------------------------
def test_cli_fit_every_curve_failed_exits_nonzero_naming_the_rows(tmp_path, capsys):
    data = tmp_path / "one.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [2.0, 1.5, np.nan, 1.2, 1.1]}).to_csv(data, index=False)
    assert main(["fit", str(data), "--law", "power_law", "--x", "x", "--y", "y"]) == 1
    err = capsys.readouterr().err
    assert "every curve failed (NON_FINITE=1)" in err
    assert "row 2 (line 4 of" in err and "non-finite y (y=nan)" in err and "--nan-policy omit" in err
    assert main(["fit", str(data), "--law", "power_law", "--x", "x", "--y", "y", "--nan-policy", "omit", "-q"]) == 0
    # y <= 0 in log space, x outside the law's domain (chinchilla needs N, D > 0).
    df = lawfit.datasets.synthetic_chinchilla(n=12, seed=0)
    df.loc[3, "loss"] = -1.0
    df.loc[7, "N"] = 0.0
    data = tmp_path / "runs.csv"
    df.to_csv(data, index=False)
    assert main(["fit", str(data), "--law", "chinchilla", "--x", "N,D", "--y", "loss", "--space", "log", "-q"]) == 1
    err = capsys.readouterr().err
    assert "every curve failed (INVALID_INPUT=1)" in err
    assert "row 3 (line 5" in err and "y <= 0 cannot be fitted in log space (loss=-1.0)" in err
    assert "row 7 (line 9" in err and "x outside the domain of law 'chinchilla' (N=0.0, D=" in err
    # Too few points: no row to blame, the count is said.
    data = tmp_path / "two.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [2.0, 1.5]}).to_csv(data, index=False)
    assert main(["fit", str(data), "--law", "power_law", "--x", "x", "--y", "y", "-q"]) == 1
    assert "power_law has 3 parameters" in capsys.readouterr().err
    # Some curves fit: exit 0.
    df = lawfit.datasets.synthetic_power_law(2, seed=1)
    df.loc[0, "y"] = np.nan
    df.to_csv(tmp_path / "two_curves.csv", index=False)
    assert main(["fit", str(tmp_path / "two_curves.csv"), "--law", "power_law", "--x", "x", "--y", "y", "--by",
                 "curve", "-q"]) == 0


def test_bad_rows_names_each_cause():
    df = pd.DataFrame({"x": [1.0, np.inf, 3.0, 4.0, -1.0], "y": [1.0, 1.0, 0.0, 1.0, 1.0],
                       "w": [1.0, 1.0, 1.0, -2.0, 1.0]})
    from lawfit.fitting import bad_rows

    bad = bad_rows(df, "power_law", x="x", y="y", weight="w", space="log")
    assert bad["row"].tolist() == [1, 2, 3, 4]
    assert bad["reason"].tolist()[:3] == ["non-finite x (x=inf)", "y <= 0 cannot be fitted in log space (y=0.0)",
                                          "negative weight (w=-2.0)"]
    assert bad["reason"].iloc[3].startswith("x outside the domain of law 'power_law' (x=-1.0)")


# ---- CLI help, numbers, reprs ----------------------------------------------------------------------------------
def _actions(parser, path=("lawfit",)):
    for act in parser._actions:
        if isinstance(act, argparse._SubParsersAction):
            for name, sub in act.choices.items():
                yield from _actions(sub, path + (name,))
        elif not isinstance(act, argparse._HelpAction):
            yield " ".join(path), act


def test_every_cli_flag_has_help():
    missing = [f"{cmd} {act.option_strings or act.dest}" for cmd, act in _actions(build_parser()) if not act.help]
    assert missing == []


def test_evals_help_is_user_help(capsys):
    with pytest.raises(SystemExit):
        main(["evals", "--help"])
    out = capsys.readouterr().out
    assert "lawfit evals passk FILE" in out and "--help" in out
    for dev in (":func:", "add_parsers", "lawfit.cli", "``"):
        assert dev not in out


def test_cost_prints_readable_numbers(capsys, tmp_path):
    args = ["cost", "--n-layers", "32", "--d-model", "4096", "--n-heads", "32", "--tokens", "1e12"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "43467669504000000000000" not in out and "4.34677e+22" in out
    assert "n_layers                       32" in out  # integers stay integers
    assert main(args + ["--out", str(tmp_path / "c.csv")]) == 0  # the CSV keeps every digit
    assert pd.read_csv(tmp_path / "c.csv")["flops_train"].iloc[0] == 43467669504000000000000.0


def test_coverage_result_has_a_repr():
    rng = np.random.default_rng(0)
    n = np.full(40, 100)
    c = rng.binomial(100, rng.beta(0.3, 3, 40))
    r = repr(evals.coverage(n, c, n_boot=20))
    assert r.startswith("<CoverageResult method='aggregate' status=CONVERGED a=") and "20 bootstrap replicates" in r
    assert "object at 0x" not in r


@pytest.mark.parametrize("call, match", [
    (lambda: lawfit.Law("a*x^b", inputs=["x"], bounds={"a": (np.float64(3), np.float64(1))}),
     r"bounds\['a'\] = \(3.0, 1.0\): need lower <= upper"),
    (lambda: lawfit.Law("a*x^b", inputs=["x"], start={"a": np.str_("x")}), r"start\['a'\] must be a number, got 'x'$"),
    (lambda: lawfit.Law("a*x^b", inputs=["x"], scale={"a": np.str_("lg")}), r"must be 'log' or 'linear', got 'lg'$"),
    (lambda: lawfit.fit(lawfit.datasets.synthetic_power_law(1), "power_law", x="x", y="y",
                        bounds={"E": np.array([1.0, 2.0, 3.0])}), r"pair, got \[1.0, 2.0, 3.0\]$"),
    (lambda: lawfit.fit(lawfit.datasets.synthetic_power_law(1), "power_law", x="x", y="y", loss=np.str_("l3")),
     r"unknown loss 'l3'"),
    (lambda: lawfit.fit(lawfit.datasets.synthetic_power_law(1), "power_law", x="x", y="y", shared=[np.str_("Q")]),
     r"shared: unknown parameter 'Q'"),
    (lambda: lawfit.get_law(np.str_("nope")), r"unknown law 'nope'"),
    (lambda: lawfit.Law("a*x^b", inputs=["x"], bounds={np.str_("Q"): (0, 1)}), r"unknown parameter 'Q'"),
    (lambda: evals.pass_curve([10], [3], [1], kind=np.str_("zz")), r"got 'zz'$"),
    (lambda: evals.fit_irt(np.eye(4), np.str_("3pl")), r"got '3pl'$"),
])
def test_messages_show_plain_numbers(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "np." not in str(info.value) and "array(" not in str(info.value)


def test_predict_calibrate_message_plain(curves):
    df, res = curves
    with pytest.raises(ValueError, match=r"got 'x'$"):
        res.predict(df, interval=0.9, calibrate=np.str_("x"))
