"""API traps of issue #15 left after test_traps.py: no function hides a module of the same name, the parameter map
to each paper's symbols, a catalogue listing that fits a terminal, one table per CSV."""
import importlib
import pkgutil
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.cli import main


# ---- functions and modules never share a name ------------------------------------------------------------------
def test_no_function_hides_a_module():
    clashes = [m.name for m in pkgutil.iter_modules(lawfit.__path__)
               if hasattr(lawfit, m.name) and not isinstance(getattr(lawfit, m.name), types.ModuleType)]
    assert clashes == []


def test_extrapolation_module_and_functions():
    m = importlib.import_module("lawfit.extrapolation")
    assert lawfit.extrapolation is m
    assert callable(lawfit.extrapolate) and lawfit.extrapolate is m.extrapolate
    assert lawfit.decide is m.decide and lawfit.should_stop is m.should_stop
    assert lawfit.chain_predict is m.chain_predict and "chain_predict" in lawfit.__all__
    assert lawfit.extrapolation.Extrapolation.__module__ == "lawfit.extrapolation"
    import lawfit.extrapolation as alias

    assert alias is m


def test_fitting_module_and_function():
    m = importlib.import_module("lawfit.fitting")
    assert lawfit.fitting is m and lawfit.fit is m.fit and callable(lawfit.fit)
    assert callable(lawfit.fitting.bad_rows)
    import lawfit.fitting as alias

    assert alias is m


def test_every_import_path_gives_the_same_object():
    # A fresh interpreter, so that the order of imports is the user's: the submodule imported first, then the package.
    code = ("import lawfit.extrapolation as e, lawfit.fitting as f, lawfit, types;"
            "assert isinstance(e, types.ModuleType) and isinstance(f, types.ModuleType);"
            "assert lawfit.extrapolate is e.extrapolate and lawfit.fit is f.fit;"
            "from lawfit import extrapolation, fitting; assert extrapolation is e and fitting is f")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_catalogue_module_and_function():
    m = importlib.import_module("lawfit.catalogue")
    assert lawfit.catalogue is m and lawfit.laws is m.laws and lawfit.get_law is m.get_law
    assert lawfit.laws().index.name == "name"


# ---- the paper's symbols -----------------------------------------------------------------------------------------
def _eval(spec, X, P):
    X = np.ascontiguousarray(np.atleast_2d(X).reshape(len(X), -1), dtype=np.float64)
    return np.asarray(spec._eval(X, np.ascontiguousarray(np.broadcast_to(P, (len(X), len(P))), dtype=np.float64)))


def test_every_catalogue_law_has_its_papers_symbols():
    for name in lawfit.laws().index:
        spec = lawfit.get_law(name)
        assert spec.paper is not None, name
        assert list(spec.paper_symbols) == list(spec.params), name
        assert sorted(spec.paper_order) == sorted(spec.paper_symbols.values()), name
        vals = {p: np.array([0.5 + j]) for j, p in enumerate(spec.params)}
        out = spec.to_paper(vals)
        assert list(out.columns) == list(spec.paper_order)
        if spec.paper.convert is None:  # a rename: the same values under the paper's names
            for p, sym in spec.paper_symbols.items():
                assert out[sym].iloc[0] == vals[p][0]


def test_overtrain_maps_to_gadre_et_al():
    spec = lawfit.get_law("overtrain")
    assert spec.params == ("alpha", "beta", "b", "E")  # unchanged: saved results keep their meaning
    assert spec.paper_symbols == {"alpha": "a", "beta": "b", "b": "eta", "E": "E"}
    assert spec.paper_order == ("E", "a", "b", "eta")
    theta = pd.DataFrame({"alpha": [400.0, 80.0], "beta": [900.0, 30.0], "b": [-0.3, -0.15], "E": [1.7, 2.1]},
                         index=pd.Index(["c4", "rpj"], name="data"))
    paper = spec.to_paper(theta)
    assert list(paper.columns) == ["E", "a", "b", "eta"] and paper.index.equals(theta.index)
    N = np.array([1e8, 4e8, 1.4e9, 7e9])
    D = np.array([2e9, 3e10, 9e11, 1.4e11])
    C, M = 6 * N * D, D / N
    for key in theta.index:
        t, p = theta.loc[key], paper.loc[key]
        ours = _eval(spec, np.column_stack([N, D]), t[list(spec.params)].to_numpy())
        theirs = p.E + (p.a * M ** p.eta + p.b * M ** -p.eta) * C ** -p.eta  # L(C, M) of the paper
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_power_law_maps_to_hestness_et_al():
    spec = lawfit.get_law("power_law")
    assert spec.paper_symbols == {"E": "gamma", "A": "alpha", "alpha": "beta_g"}
    p = spec.to_paper({"E": 1.5, "A": 3.0, "alpha": 0.3}).iloc[0]
    m = np.geomspace(1e3, 1e9, 7)
    np.testing.assert_allclose(_eval(spec, m, [1.5, 3.0, 0.3]), p.alpha * m ** p.beta_g + p.gamma, rtol=1e-12)
    assert p.beta_g == -0.3


def test_sigmoid_from_loss_order_of_bhagia_et_al():
    spec = lawfit.get_law("sigmoid_from_loss")
    assert spec.params == ("a", "k", "L0", "b")
    assert spec.paper_symbols == {"a": "a", "k": "k", "L0": "L0", "b": "b"}
    assert spec.paper_order == ("a", "L0", "k", "b")
    out = spec.to_paper({"a": -0.6, "k": 5.0, "L0": 1.2, "b": 0.9})
    assert list(out.columns) == ["a", "L0", "k", "b"] and out.iloc[0].tolist() == [-0.6, 1.2, 5.0, 0.9]


def test_paper_symbols_of_fitted_and_user_laws():
    df = lawfit.datasets.synthetic_chinchilla(n=40, seed=0)
    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log")
    pd.testing.assert_frame_equal(res.law.to_paper(res.params), res.params)
    tied = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log", tie={"beta": "alpha"})
    assert tied.law.paper_symbols == res.law.paper_symbols
    user = lawfit.Law("E + A*N^-a", inputs=["N"])
    assert user.paper_symbols is None and user.paper_order is None
    with pytest.raises(ValueError, match="no recorded paper form"):
        user.to_paper({"E": 1.0, "A": 1.0, "a": 0.3})
    with pytest.raises(ValueError, match="params has no column 'beta'"):
        lawfit.get_law("overtrain").to_paper({"alpha": 1.0, "b": -0.3, "E": 1.0})


def test_cli_laws_shows_the_papers_symbols(capsys):
    assert main(["laws", "overtrain"]) == 0
    out = capsys.readouterr().out
    assert "the paper writes: L(C, M) = E + (a * M^eta + b * M^-eta) * C^-eta" in out
    assert "b -> eta" in out and "alpha -> a" in out and "a = alpha * 6^(-b/2)" in out
    assert "order in the paper's formula: E, a, b, eta; lawfit's: alpha, beta, b, E" in out
    assert main(["laws", "sigmoid_from_loss"]) == 0
    out = capsys.readouterr().out
    assert "a, L0, k, b; lawfit's: a, k, L0, b" in " ".join(out.split())
    assert main(["laws", "chinchilla"]) == 0
    assert "same symbols as lawfit's" in capsys.readouterr().out


# ---- `lawfit laws` fits 100 columns ------------------------------------------------------------------------------
def test_cli_laws_fits_100_columns(capsys):
    assert main(["laws"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    lines = out.splitlines()
    assert lines[0].split() == ["name", "inputs", "parameters", "paper"]
    for name in lawfit.laws().index:
        assert any(line.startswith(name + " ") for line in lines), name
    assert any(line.startswith("chinchilla") and line.rstrip().endswith("Hoffmann et al. 2022") for line in lines)
    assert any(line.startswith("bnsl2") and line.rstrip().endswith("Caballero et al. 2022") for line in lines)
    for name in lawfit.laws().index:  # the detail of every law too
        assert main(["laws", name]) == 0
        assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 100, name


# ---- `lawfit evals coverage`: one table per file -----------------------------------------------------------------
@pytest.fixture()
def samples(tmp_path):
    rng = np.random.default_rng(0)
    n = np.full(200, 50)
    pd.DataFrame({"n": n, "c": rng.binomial(50, rng.beta(0.4, 2, size=200))}).to_csv(tmp_path / "p.csv", index=False)
    return tmp_path / "p.csv"


def test_evals_coverage_writes_one_table_per_file(samples, tmp_path, capsys):
    base = ["evals", "coverage", str(samples), "--predict", "10,100", "--target", "0.5,0.6", "--n-boot", "20",
            "--cost-per-sample", "0.01"]
    assert main(base + ["-o", str(tmp_path / "cov")]) == 0
    tables = {t: pd.read_csv(tmp_path / f"cov_{t}.csv") for t in ("params", "predict", "samples_for",
                                                                    "cost_per_solved")}
    assert "wrote " in capsys.readouterr().out
    assert tables["params"]["param"].tolist() == ["a", "b"]
    assert tables["predict"]["k"].tolist() == [10, 100] and "coverage" in tables["predict"]
    assert tables["samples_for"]["target"].tolist() == [0.5, 0.6]
    assert tables["cost_per_solved"]["cost_per_sample"].eq(0.01).all()
    for t in tables.values():  # each file is one table: no column that says which, no empty cells of another's
        assert "table" not in t.columns and not t.drop(columns=["low", "high"], errors="ignore").isna().any().any()
    # -o FILE.parquet: Parquet files with the same prefix.
    pytest.importorskip("pyarrow")
    assert main(base + ["-o", str(tmp_path / "c.parquet")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "c_predict.parquet"), tables["predict"])


def test_evals_coverage_one_table_to_stdout(samples, capsys):
    assert main(["evals", "coverage", str(samples), "--predict", "10,100", "--n-boot", "20", "--table",
                 "predict"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "k,coverage,low,high,status" and len(out.splitlines()) == 3
    assert main(["evals", "coverage", str(samples), "--n-boot", "20", "--table", "samples_for"]) == 2
    assert "--table samples_for needs --target" in capsys.readouterr().err
    # Neither -o nor --table: each table printed under its name, readable.
    assert main(["evals", "coverage", str(samples), "--predict", "10", "--n-boot", "20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("params:\n") and "\npredict:\n" in out


def test_evals_coverage_help_documents_the_tables(capsys):
    with pytest.raises(SystemExit):
        main(["evals", "coverage", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "PREFIX_params.csv, PREFIX_predict.csv" in out and "--table" in out and "one per file" in out


# ---- leftovers of the traps ------------------------------------------------------------------------------
def test_chain_predict_keeps_the_callers_index():
    rng = np.random.default_rng(0)
    N = np.geomspace(1e8, 1e10, 20)
    f1 = lawfit.fit(pd.DataFrame({"N": N, "loss": 1.8 + 300 * N ** -0.3 * np.exp(0.01 * rng.standard_normal(20))}),
                    "power_law", x="N", y="loss")
    L = np.linspace(2.0, 4.0, 20)
    f2 = lawfit.fit(pd.DataFrame({"L": L, "acc": 0.3 + 1.2 / L + 0.002 * rng.standard_normal(20)}), "power_law",
                    x="L", y="acc")
    new = pd.DataFrame({"N": [3e10, 7e10, 1e11]}, index=pd.Index(["13B", "32B", "70B"], name="model"))
    out = lawfit.chain_predict(f1, f2, new, samples=200)
    assert out.index.equals(new.index)
    new["acc"] = lawfit.chain_predict(f1, f2, new, samples=200).y_pred  # lines up by label: no NaN
    assert new["acc"].notna().all()
    np.testing.assert_allclose(new["acc"].to_numpy(), out["y_pred"].to_numpy())
    assert list(lawfit.chain_predict(f1, f2, {"N": [3e10, 7e10]}, samples=50).index) == [0, 1]


@pytest.mark.parametrize("call, match", [
    (lambda df: lawfit.fit(df, "power_law", x=np.str_("zz"), y="y"), r"x column 'zz' not found"),
    (lambda df: lawfit.fit(df, "power_law", x="x", y="y", by=np.str_("q")), r"by column 'q' not found"),
    (lambda df: lawfit.extrapolate(df, x="x", y="y", by="curve", horizon=50, mode=np.str_("up")),
     r"mode must be 'max' or 'min', got 'up'$"),
    (lambda df: lawfit.should_stop(df, x="x", y="y", by="curve", horizon=50, best=1.0, criterion=np.str_("z")),
     r"got 'z'$"),
])
def test_messages_show_plain_values(call, match):
    df = lawfit.datasets.synthetic_power_law(2, seed=1)
    with pytest.raises(ValueError, match=match) as info:
        call(df)
    assert "np." not in str(info.value)


def test_cli_file_errors_exit_2_without_a_traceback(tmp_path, capsys):
    df = lawfit.datasets.synthetic_power_law(1, seed=1)
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["fit", str(tmp_path / "d.csv"), "--law", "power_law", "--x", "x", "--y", "y", "-q", "-o",
                 str(tmp_path / "no" / "such" / "dir" / "f.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lawfit fit: error: ") and "f.json" in err and "Traceback" not in err
    pd.DataFrame({"n": [10, 10, 10], "c": [1, 2, 5]}).to_csv(tmp_path / "s.csv", index=False)
    assert main(["evals", "coverage", str(tmp_path / "s.csv"), "--n-boot", "5", "-o", str(tmp_path / "x")]) == 0
    capsys.readouterr()
    assert main(["evals", "coverage", str(tmp_path / "s.csv"), "--n-boot", "5",
                 "-o", str(tmp_path / "nodir" / "cov")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lawfit evals: error: ") and "nodir" in err and "Traceback" not in err
