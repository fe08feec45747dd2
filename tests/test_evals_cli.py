"""lawfit evals CLI, through the main entry point (lawfit.cli.main)."""
import numpy as np
import pandas as pd

from lawfit import evals
from lawfit.cli import main as cli_main


def test_cli_passk_coverage_irt(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = np.full(200, 50)
    c = rng.binomial(50, rng.beta(0.4, 2, size=200))
    pd.DataFrame({"n": n, "c": c}).to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "passk.csv"
    assert cli_main(["evals", "passk", str(tmp_path / "p.csv"), "--k", "1,10,50", "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert df["k"].tolist() == [1, 10, 50] and {"low", "high"} <= set(df.columns)
    assert cli_main(["evals", "passk", str(tmp_path / "p.csv"), "--k", "51"]) == 2
    assert "exceeds" in capsys.readouterr().err
    out = tmp_path / "cov.csv"
    assert cli_main(["evals", "coverage", str(tmp_path / "p.csv"), "--predict", "100,1000", "--target", "0.5",
                           "--n-boot", "20", "-o", str(out)]) == 0
    for table in ("params", "predict", "samples_for"):  # one table per file
        assert "table" not in pd.read_csv(tmp_path / f"cov_{table}.csv").columns
    assert not (tmp_path / "cov_cost_per_solved.csv").exists()
    assert cli_main(["evals", "coverage", str(tmp_path / "p.csv"), "--predict", "10,100", "--n-boot", "20",
                           "--sampler", "n_layers=32,d_model=4096,n_heads=32", "--tokens-per-sample", "512",
                           "--table", "cost_per_solved", "-o", str(out)]) == 0
    cps = pd.read_csv(out)
    one = evals.sample_cost(dict(n_layers=32, d_model=4096, n_heads=32), 512)
    np.testing.assert_allclose(cps["cost_per_sample"], one)
    np.testing.assert_allclose(cps["cost_per_solved"], cps["k"] * one / cps["coverage"])
    assert cli_main(["evals", "coverage", str(tmp_path / "p.csv"), "--predict", "10", "--n-boot", "20",
                           "--sampler", "n_layers=32,d_model"]) == 2
    assert "--sampler" in capsys.readouterr().err
    th = rng.normal(size=(60, 1))
    P = 1 / (1 + np.exp(-(th - rng.normal(size=(1, 40)))))
    Y = pd.DataFrame((rng.random(P.shape) < P).astype(float), columns=[f"q{i}" for i in range(40)])
    Y.iloc[0, 0] = np.nan
    Y.insert(0, "model", [f"m{j}" for j in range(60)])
    Y.to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "items.csv"
    assert cli_main(["evals", "irt", str(tmp_path / "r.csv"), "--model", "2pl", "-o", str(out),
                           "--abilities", str(tmp_path / "ab.csv")]) == 0
    items = pd.read_csv(out)
    assert len(items) == 40 and {"a", "b"} <= set(items.columns)
    assert len(pd.read_csv(tmp_path / "ab.csv")) == 60
    out = tmp_path / "anchors.csv"
    assert cli_main(["evals", "anchors", str(tmp_path / "r.csv"), "--n-items", "10", "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == 10
