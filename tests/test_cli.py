"""The lawfit command line, run in-process through lawfit.cli.main."""
import json

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.cli import main


def test_fit_predict_roundtrip(tmp_path, capsys):
    df = lawfit.datasets.synthetic_power_law(4, noise=0.0, seed=2)
    data = tmp_path / "curves.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "fit.json"
    params = tmp_path / "params.csv"
    assert main(["fit", str(data), "--law", "power_law", "--x", "x", "--y", "y", "--by", "curve",
                 "-o", str(out), "--csv", str(params)]) == 0
    printed = capsys.readouterr().out
    assert "CONVERGED=4" in printed
    tab = pd.read_csv(params, index_col=0)
    truth = df.groupby("curve")[["E", "A", "alpha"]].first()
    np.testing.assert_allclose(tab[["E", "A", "alpha"]].to_numpy(), truth.to_numpy(), rtol=1e-6)
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(out), str(data), "-o", str(pred), "--interval", "0.9"]) == 0
    p = pd.read_csv(pred)
    np.testing.assert_allclose(p["y_pred"], df["y"], rtol=1e-6)
    assert (p["y_low"] <= p["y_pred"]).all() and (p["y_pred"] <= p["y_high"]).all()


def test_fit_options_bounds_starts_and_errors(tmp_path, capsys):
    df = lawfit.datasets.synthetic_chinchilla(n=60, noise=0.0)
    data = tmp_path / "runs.csv"
    df.to_csv(data, index=False)
    assert main(["fit", str(data), "--law", "chinchilla", "--x", "N,D", "--y", "loss", "--loss", "huber",
                 "--delta", "1e-3", "--space", "log", "--bounds", "alpha=0:1", "beta=0:", "-q",
                 "-o", str(tmp_path / "f.json")]) == 0
    saved = json.loads((tmp_path / "f.json").read_text())
    assert saved["law"] == {"kind": "builtin", "name": "chinchilla"}
    assert main(["fit", str(data), "--law", "nope", "--x", "N,D", "--y", "loss"]) == 2
    assert "unknown law 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", str(data), "--law", "chinchilla", "--x", "N,D", "--y", "loss", "--bounds", "alpha"])


def test_laws_and_version(capsys):
    assert main(["laws"]) == 0
    out = capsys.readouterr().out
    for name in ["chinchilla", "pow3", "bnsl2", "lr_annealing"]:
        assert name in out
    assert main(["laws", "chinchilla"]) == 0
    assert "Hoffmann" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == lawfit.__version__


def test_demo_runs_on_shipped_data(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "OLMo-2-7B" in out and "CONVERGED=2000" in out
    # The 7B (before and after its anneal) / 13B predictions are printed with their error against the actual final
    # loss: within 5%.
    errs = [float(line.rsplit("(", 1)[1].rstrip("%)\n")) for line in out.splitlines() if "actual" in line]
    assert len(errs) == 3 and all(abs(e) < 5 for e in errs)
    assert "OLMo-2-7B-anneal" in out
