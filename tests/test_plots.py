"""Plots render (matplotlib, Agg backend) and show what they claim."""
import numpy as np
import pytest

import lawfit

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_fitresult_plot_draws_data_and_one_line_per_curve(tmp_path):
    df = lawfit.datasets.synthetic_power_law(4, noise=0.01)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    ax = r.plot(df)
    assert len(ax.lines) == 4 and len(ax.collections) == 4
    x, y = ax.lines[0].get_data()
    p = r.params.iloc[0]
    np.testing.assert_allclose(y, p["E"] + p["A"] * x ** -p["alpha"], rtol=1e-12)
    ax.figure.savefig(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 1000
    plt.close("all")
    # Without data the fitted curves span each curve's observed x range.
    ax = r.plot()
    assert len(ax.lines) == 4
    assert ax.lines[0].get_data()[0].min() == pytest.approx(1.0)
    plt.close("all")


def test_multi_input_plot_and_frontier(tmp_path):
    df = lawfit.datasets.synthetic_chinchilla(n=80)
    r = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")
    ax = r.plot(df)
    assert len(ax.lines) == 1
    plt.close("all")
    lawfit.planning.plot_frontier(r, path=tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").stat().st_size > 1000
    plt.close("all")


def test_cli_plots(tmp_path, capsys):
    from lawfit.cli import main

    assert main(["demo", "--plot", str(tmp_path / "demo.png")]) == 0
    assert (tmp_path / "demo.png").stat().st_size > 1000
    r = lawfit.fit(lawfit.datasets.synthetic_chinchilla(n=80), "chinchilla", x=["N", "D"], y="loss")
    r.save(tmp_path / "fit.json")
    assert main(["plan", str(tmp_path / "fit.json"), "--budget", "1e24", "--plot", str(tmp_path / "plan.png")]) == 0
    assert (tmp_path / "plan.png").stat().st_size > 1000
    plt.close("all")
