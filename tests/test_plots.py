"""Plots render (matplotlib, Agg backend) and show what they claim."""
import sys

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit._native import _core
from strategies import case_for, wsd_rows

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

from lawfit import plot as lplot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def by_gid(ax, gid, kind="lines"):
    arts = ax.lines if kind == "lines" else ax.collections
    return [a for a in arts if a.get_gid() == gid]


def legend_texts(ax_or_fig):
    leg = ax_or_fig.get_legend() if hasattr(ax_or_fig, "get_legend") else None
    if leg is None:
        legs = getattr(ax_or_fig, "legends", [])
        leg = legs[0] if legs else None
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


def written(path, min_bytes=8000):
    assert path.exists() and path.stat().st_size > min_bytes, path
    return path.stat().st_size


def inside(band, xy, tol=1e-9):
    """Every point of xy [n, 2] lies in the band's polygon (a fill_between PolyCollection) up to tol (data units)."""
    p = band.get_paths()[0]
    verts = p.vertices
    lo_hi = {}
    for x, y in verts:
        lo, hi = lo_hi.get(x, (np.inf, -np.inf))
        lo_hi[x] = (min(lo, y), max(hi, y))
    for x, y in xy:
        lo, hi = lo_hi[x]
        if not (lo - tol <= y <= hi + tol):
            return False
    return True


@pytest.fixture(scope="module")
def power():
    df = lawfit.datasets.synthetic_power_law(4, noise=0.01)
    return df, lawfit.fit(df, "power_law", x="x", y="y", by="curve")


@pytest.fixture(scope="module")
def chin():
    df = lawfit.datasets.synthetic_chinchilla(n=80)
    return df, lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")


@pytest.fixture(scope="module")
def chin_boot():
    df = lawfit.datasets.synthetic_chinchilla(n=80)
    r = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")
    r.bootstrap(n=200, seed=0)
    return df, r


# ---- style --------------------------------------------------------------------------------------------------
def test_colors_never_repeat():
    assert [to_hex(c) for c in lplot.colors(8)] == [c.lower() for c in lplot.PALETTE]
    for n in (1, 9, 15, 40):
        assert len({to_hex(c, keep_alpha=True) for c in lplot.colors(n)}) == n


def test_import_lawfit_does_not_import_matplotlib_and_a_missing_matplotlib_says_how_to_install(power, monkeypatch):
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import sys, lawfit; print('matplotlib' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'lawfit\[plot\]'"):
        lplot.curves(power[1], power[0])


# ---- fit vs data ------------------------------------------------------------------------------------------------
def test_fitresult_plot_draws_data_fit_and_extrapolation_per_curve(power, tmp_path):
    df, r = power
    ax = r.plot(df)
    fits, exts = by_gid(ax, "fit"), by_gid(ax, "extrapolation")
    assert len(fits) == 4 and len(exts) == 4 and len(by_gid(ax, "data", "collections")) == 4
    p = r.params.iloc[0]
    for line in (fits[0], exts[0]):
        x, y = line.get_data()
        np.testing.assert_allclose(y, p["E"] + p["A"] * x ** -p["alpha"], rtol=1e-12)
    # The fitted line covers the data; the dashed part extends it to 3x the largest x (extend=3).
    assert fits[0].get_data()[0].min() == pytest.approx(1.0) and fits[0].get_data()[0].max() == pytest.approx(1000.0)
    assert exts[0].get_data()[0].max() == pytest.approx(3000.0)
    assert exts[0].get_data()[0].max() > 2.9 * df["x"].max()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # a power law
    texts = legend_texts(ax)
    assert "data" in texts and "extrapolation" in texts and any("delta method" in t for t in texts)
    assert "curve=0" in texts
    ax.figure.savefig(tmp_path / "fit.png")
    written(tmp_path / "fit.png")
    # Without data the fitted curves start at each curve's observed x range; extend and xlim move the end.
    ax = r.plot(extend=10)
    assert by_gid(ax, "fit")[0].get_data()[0].min() == pytest.approx(1.0)
    assert by_gid(ax, "extrapolation")[0].get_data()[0].max() == pytest.approx(1e4)
    ax = lplot.curves(r, xlim=(0.5, 2e5), band=False)
    assert by_gid(ax, "extrapolation")[0].get_data()[0].max() == pytest.approx(2e5)
    assert not by_gid(ax, "band", "collections")


def test_band_contains_the_fitted_line_delta_and_bootstrap(tmp_path):
    df = lawfit.datasets.synthetic_power_law(3, noise=0.03, seed=4)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    ax = lplot.curves(r, df, path=tmp_path / "delta.png")
    bands = by_gid(ax, "band", "collections")
    assert len(bands) == 3
    for band, fit_line, ext in zip(bands, by_gid(ax, "fit"), by_gid(ax, "extrapolation")):
        assert inside(band, np.column_stack(fit_line.get_data())) and inside(band, np.column_stack(ext.get_data()))
    written(tmp_path / "delta.png")
    r.bootstrap(n=300, seed=1)
    ax = lplot.curves(r, df, level=0.8)
    assert any("80% interval of the law (bootstrap)" == t for t in legend_texts(ax))
    # the band is the bootstrap interval of FitResult.predict at every x of the line
    v = by_gid(ax, "band", "collections")[0].get_paths()[0].vertices
    x = np.unique(v[:, 0])
    pred = r.predict(pd.DataFrame({"curve": 0, "x": x}), interval=0.8)
    lo = np.array([v[v[:, 0] == xi, 1].min() for xi in x])
    hi = np.array([v[v[:, 0] == xi, 1].max() for xi in x])
    np.testing.assert_allclose(lo, pred["y_low"], rtol=1e-12)
    np.testing.assert_allclose(hi, pred["y_high"], rtol=1e-12)


def test_fifteen_curves_fifteen_colours(tmp_path):
    df = lawfit.datasets.synthetic_power_law(15, noise=0.01, seed=2)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    ax = r.plot(df, max_curves=15, path=tmp_path / "many.png")
    fits = by_gid(ax, "fit")
    assert len(fits) == 15
    assert len({to_hex(f.get_color(), keep_alpha=True) for f in fits}) == 15
    # each curve's data, line, extrapolation and band share the curve's colour
    for f, e, d in zip(fits, by_gid(ax, "extrapolation"), by_gid(ax, "data", "collections")):
        assert to_hex(f.get_color()) == to_hex(e.get_color()) == to_hex(d.get_facecolor()[0])
    assert written(tmp_path / "many.png") < 150_000


def test_learning_curve_law_linear_axes_when_asked(tmp_path):
    lc = lawfit.datasets.lcbench()
    lc = lc[lc["trial"].lt(3) & lc["epoch"].between(1, 50)]
    r = lawfit.fit(lc, "pow3", x="epoch", y="val_accuracy", by="trial", bounds={"c": (0, 100), "a": (-100, 100)})
    ax = r.plot(lc, logx=False, extend=1.0)
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert not by_gid(ax, "extrapolation") and "extrapolation" not in legend_texts(ax)
    ax = r.plot(lc)
    assert ax.get_xscale() == "log"  # pow3 is a power law in t


def test_transform_law_is_drawn_at_the_observed_rows():
    spec = lawfit.get_law("lr_annealing")
    rows = wsd_rows(2000, 1e-3, every=20)
    X = np.column_stack([rows["step"], rows["lr"]])
    truth = np.array([case_for("lr_annealing").truth[p] for p in spec.params])
    y = _core.law_eval(spec.name, np.ascontiguousarray(spec.transform(np.array([0, len(X)]), X)), truth, False)
    df = pd.DataFrame({"step": rows["step"], "lr": rows["lr"], "loss": y})
    r = lawfit.fit(df, "lr_annealing", x=["step", "lr"], y="loss")
    ax = r.plot(df)
    (line,) = by_gid(ax, "fit")
    x, yl = line.get_data()
    np.testing.assert_array_equal(x, np.sort(df["step"].to_numpy()))  # monotone in step: no zig-zag
    np.testing.assert_allclose(yl, y, rtol=1e-6)
    with pytest.raises(ValueError, match="pass the data"):
        r.plot()


# ---- two-input laws -------------------------------------------------------------------------------------------
def test_two_input_law_plots_contours_with_the_data_and_frontier(chin, tmp_path):
    df, r = chin
    ax = r.plot(df, path=tmp_path / "contours.png")
    sets = [c for c in ax.collections if isinstance(c, ContourSet)] or [
        c for c in ax.get_children() if isinstance(c, ContourSet)]
    assert sets
    for cs in sets:
        assert np.all(np.diff(cs.levels) > 0)  # contour levels increase
    assert not by_gid(ax, "fit")  # no zig-zag line through the data
    (pts,) = by_gid(ax, "data", "collections")
    np.testing.assert_allclose(pts.get_offsets(), df[["N", "D"]].to_numpy())
    (fr,) = by_gid(ax, "frontier")
    N, D = fr.get_data()
    opt = lawfit.planning.optimal(r, 6 * N * D)
    np.testing.assert_allclose(opt["N"], N, rtol=1e-9)
    assert len(by_gid(ax, "iso_flop")) >= 1
    assert not by_gid(ax, "frontier_band", "patches")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlim()[1] > df["N"].max() * 2.9  # extended beyond the data (extend=3)
    assert written(tmp_path / "contours.png") < 150_000


def test_contours_frontier_interval_after_bootstrap(chin_boot):
    df, r = chin_boot
    ax = lplot.contours(r, df)
    (band,) = [p for p in ax.patches if p.get_gid() == "frontier_band"]
    assert "90% interval of the frontier (bootstrap)" in legend_texts(ax)
    assert len(band.get_xy()) > 4


def test_iso_flop_marks_each_minimum(chin, tmp_path):
    df, r = chin
    C = [1e19, 1e21, 1e23]
    ax = lplot.iso_flop(r, C, data=df, path=tmp_path / "isoflop.png")
    lines, mins = by_gid(ax, "iso_flop"), by_gid(ax, "minimum", "collections")
    assert len(lines) == 3 and len(mins) == 3
    opt = lawfit.planning.optimal(r, C)
    for line, m, n_opt in zip(lines, mins, opt["N"]):
        x, y = line.get_data()
        (mx, my), = m.get_offsets()
        assert my == pytest.approx(np.min(y)) and mx == x[np.argmin(y)]
        assert mx == pytest.approx(n_opt, rel=0.06)  # the grid's resolution around N_opt
    assert [f"C = {c:.1e} FLOPs" for c in C] == legend_texts(ax)[:3]
    written(tmp_path / "isoflop.png")
    ax = lplot.iso_flop(r)  # default budgets from the data's compute range
    assert len(by_gid(ax, "iso_flop")) >= 3


def test_frontier_with_and_without_interval(chin, chin_boot, tmp_path):
    df, r = chin
    ax = lawfit.planning.plot_frontier(r, path=tmp_path / "frontier.png")
    assert not by_gid(ax, "band_N", "collections")
    written(tmp_path / "frontier.png")
    df, rb = chin_boot
    ax = lplot.frontier(rb, data=df)
    (bN,), (bD,) = by_gid(ax, "band_N", "collections"), by_gid(ax, "band_D", "collections")
    (lN,), (lD,) = by_gid(ax, "frontier_N"), by_gid(ax, "frontier_D")
    assert inside(bN, np.column_stack(lN.get_data()), tol=1e-6 * lN.get_data()[1].max())
    assert inside(bD, np.column_stack(lD.get_data()), tol=1e-6 * lD.get_data()[1].max())
    assert any("interval over the bootstrap" in t for t in legend_texts(ax))
    assert len(by_gid(ax, "data", "collections")) == 2
    ax = lplot.frontier(rb, interval=None)
    assert not by_gid(ax, "band_N", "collections")


# ---- goodness of fit -------------------------------------------------------------------------------------------
def test_predicted_vs_observed_and_residuals(chin, tmp_path):
    df, r = chin
    ax = lplot.predicted_vs_observed(r, df)
    (pts,) = by_gid(ax, "data", "collections")
    np.testing.assert_allclose(pts.get_offsets()[:, 0], df["loss"])
    np.testing.assert_allclose(pts.get_offsets()[:, 1], r.predict(df)["y_pred"])
    (ident,) = by_gid(ax, "identity")
    np.testing.assert_array_equal(*ident.get_data())
    ax = lplot.residuals(r, df, kind="hist")
    heights = [p.get_height() * p.get_width() for p in ax.patches]
    assert sum(heights) == pytest.approx(1.0)  # a density over all 80 points
    ax = lplot.residuals(r, df, kind="x")
    (pts,) = by_gid(ax, "data", "collections")
    np.testing.assert_allclose(pts.get_offsets()[:, 1], df["loss"] - r.predict(df)["y_pred"], atol=1e-12)
    fig = lplot.diagnostics(r, df, path=tmp_path / "diag.png")
    assert len(fig.axes) == 3
    written(tmp_path / "diag.png")
    with pytest.raises(ValueError, match="kind"):
        lplot.residuals(r, df, kind="qq")


def test_log_space_residuals_and_three_input_law_dispatch():
    case = case_for("dcpt")
    cols = case.frame()
    spec = lawfit.get_law("dcpt")
    X = np.column_stack([cols[c] for c in spec.x_names])
    y = _core.law_eval("dcpt", np.ascontiguousarray(X), np.array([case.truth[p] for p in spec.params]), False)
    df = pd.DataFrame({**cols, "loss": y * np.exp(0.01 * np.random.default_rng(0).standard_normal(len(y)))})
    r = lawfit.fit(df, "dcpt", x=["N", "D", "r"], y="loss", space="log")
    ax = r.plot(df)  # three inputs: predicted against observed
    assert by_gid(ax, "identity")
    ax = lplot.residuals(r, df, kind="x")
    (pts,) = by_gid(ax, "data", "collections")
    np.testing.assert_allclose(pts.get_offsets()[:, 1], np.log(df["loss"]) - np.log(r.predict(df)["y_pred"]))
    assert "log y − log f" in ax.get_ylabel()
    with pytest.raises(ValueError, match="pass the data"):
        r.plot()


# ---- learning-curve forecasts ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lcb():
    lc = lawfit.datasets.lcbench()
    lc = lc[lc["epoch"].between(1, 50)]
    sel = lc[lc["trial"] < 4]
    early = sel[sel["epoch"] <= 12]
    return lc, sel, early


def test_fan_of_an_extrapolation(lcb, tmp_path):
    lc, sel, early = lcb
    ex = lawfit.extrapolate(early, x="epoch", y="val_accuracy", by="trial", horizon=50, samples=400, steps=120)
    # the per-curve copy used to draw a few curves predicts exactly what the whole forecast does
    sub = lplot._subset(ex, np.array([2]))
    t = np.array([[13.0, 30.0, 50.0]])
    np.testing.assert_array_equal(sub.predictive_samples(t), ex.predictive_samples(np.repeat(t, 4, axis=0))[2:3])
    fig = lplot.fan(ex, early, truth=sel, path=tmp_path / "fan.png")
    axs = [a for a in fig.axes if a.get_visible()]
    assert len(axs) == 4
    for ax in axs:
        (med,) = by_gid(ax, "median")
        (b50,), (b90,) = by_gid(ax, "band50", "collections"), by_gid(ax, "band90", "collections")
        xy = np.column_stack(med.get_data())
        assert inside(b90, xy) and inside(b50, xy)
        assert med.get_data()[0].max() == pytest.approx(50.0)  # to the horizon
        assert by_gid(ax, "truth")
    texts = legend_texts(fig)
    assert {"predictive median", "50% predictive interval", "90% predictive interval", "truth (full curve)"} <= set(texts)
    written(tmp_path / "fan.png")
    # one curve into a given Axes
    _, ax = plt.subplots()
    assert lplot.fan(ex, early, curves=[3], ax=ax, levels=(0.8,)) is ax
    assert by_gid(ax, "band80", "collections")
    with pytest.raises(ValueError, match="one curve"):
        lplot.fan(ex, early, ax=ax)


def test_fan_of_a_reference_forecast(lcb, tmp_path):
    lc, sel, early = lcb
    done = lc[lc["trial"].between(100, 300)]
    sw = lawfit.extrapolate(early, x="epoch", y="val_accuracy", by="trial", horizon=50, reference=done)
    truth = sel[sel["epoch"] == 50].set_index("trial")["val_accuracy"]
    with pytest.raises(ValueError, match="give y="):
        lplot.fan(sw, early)
    fig = lplot.fan(sw, early, y="val_accuracy", truth=truth, path=tmp_path / "fan_ref.png")
    q = sw.quantiles_at([0.05, 0.25, 0.5, 0.75, 0.95])
    for j, ax in enumerate(a for a in fig.axes if a.get_visible()):
        (med,) = by_gid(ax, "median", "collections")
        (b90,), (b50,) = by_gid(ax, "band90"), by_gid(ax, "band50")
        m = med.get_offsets()[0, 1]
        assert m == pytest.approx(q[j, 2])
        assert b90.get_data()[1].min() <= b50.get_data()[1].min() <= m <= b50.get_data()[1].max() <= b90.get_data()[1].max()
        (star,) = by_gid(ax, "truth", "collections")
        assert star.get_offsets()[0, 1] == pytest.approx(truth.iloc[j])
    written(tmp_path / "fan_ref.png")


# ---- evaluation ----------------------------------------------------------------------------------------------------
def test_coverage_curves(tmp_path):
    rng = np.random.default_rng(7)
    n = np.full(400, 100)
    c = rng.binomial(100, rng.beta(0.35, 3.0, size=400))
    ca = lawfit.evals.coverage(n, c, n_boot=60, seed=1)
    cb = lawfit.evals.coverage(n, c, method="beta", n_boot=60, seed=1)
    pc = lawfit.evals.pass_curve(n, c, [1, 10, 100], n_boot=100)
    ax = lplot.coverage({"aggregate": ca, "beta-binomial": cb, "mean pass@k": pc}, targets=[0.8],
                        path=tmp_path / "coverage.png")
    fits, exts, bands = by_gid(ax, "fit"), by_gid(ax, "extrapolation"), by_gid(ax, "band", "collections")
    assert len(fits) == len(exts) == len(bands) == 2
    assert len({to_hex(f.get_color()) for f in fits}) == 2
    for f, e, b in zip(fits, exts, bands):
        assert f.get_data()[0].max() == pytest.approx(100.0) and e.get_data()[0].max() == pytest.approx(1000.0)
        assert inside(b, np.column_stack(f.get_data()), tol=1e-12)
    # the samples needed for 80% coverage, marked at the target
    marks = [ln for ln in by_gid(ax, "target") if ln.get_marker() == "o"]
    need = [ca.samples_for([0.8])["k"].iloc[0], cb.samples_for([0.8])["k"].iloc[0]]
    np.testing.assert_allclose([float(m.get_data()[0][0]) for m in marks], need)
    assert all(float(m.get_data()[1][0]) == 0.8 for m in marks)
    assert "aggregate (aggregate fit)" in legend_texts(ax)
    written(tmp_path / "coverage.png")


def test_irt_item_curves(tmp_path):
    rng = np.random.default_rng(3)
    M, I = 50, 30
    th = rng.normal(size=(M, 1))
    a = rng.uniform(0.5, 2.5, size=(I, 1))
    b = rng.normal(0, 1, size=I)
    Y = (rng.random((M, I)) < 1 / (1 + np.exp(-(th @ a.T - b)))).astype(float)
    m = lawfit.evals.fit_irt(pd.DataFrame(Y, columns=[f"q{j}" for j in range(I)]))
    ax = lplot.item_curves(m, max_items=6, path=tmp_path / "irt.png")
    lines = by_gid(ax, "icc")
    assert len(lines) == 6 and len({to_hex(ln.get_color()) for ln in lines}) == 6
    items = m.items
    for ln, label in zip(lines, legend_texts(ax)):
        x, p = ln.get_data()
        name = label.split(" ")[0]
        aa, bb = items.loc[name, "a"], items.loc[name, "b"]
        np.testing.assert_allclose(p, 1 / (1 + np.exp(-(aa * x - bb))), rtol=1e-12)
        assert np.all(np.diff(p) > 0)
    (rug,) = by_gid(ax, "abilities")
    assert len(rug.get_data()[0]) == M
    ax = lplot.item_curves(m, items=["q3", "q7"])
    assert len(by_gid(ax, "icc")) == 2 and legend_texts(ax)[0].startswith("q3 (a=")
    written(tmp_path / "irt.png")


# ---- CLI ------------------------------------------------------------------------------------------------------------
def test_cli_plots_say_where_they_wrote(tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    from lawfit.cli import main

    saved = []
    real = Figure.savefig

    def spy(self, *a, **k):
        saved.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(Figure, "savefig", spy)
    assert main(["demo", "--plot", str(tmp_path / "demo.png")]) == 0
    written(tmp_path / "demo.png")
    assert f"wrote the figure to {tmp_path / 'demo.png'}" in capsys.readouterr().out
    texts = legend_texts(saved[-1].axes[0])
    assert any("OLMo-2-7B target" in t for t in texts) and any("OLMo-2-13B target" in t for t in texts)
    assert any("OLMo-2-7B predicted, 90% interval" in t for t in texts)
    r = lawfit.fit(lawfit.datasets.synthetic_chinchilla(n=80), "chinchilla", x=["N", "D"], y="loss")
    r.save(tmp_path / "fit.json")
    assert main(["plan", str(tmp_path / "fit.json"), "--budget", "1e24", "--plot", str(tmp_path / "plan.png")]) == 0
    written(tmp_path / "plan.png")
    assert f"wrote the compute-optimal frontier plot to {tmp_path / 'plan.png'}" in capsys.readouterr().out
    assert main(["plan", str(tmp_path / "fit.json"), "--budget", "1e24", "--json", "--plot",
                 str(tmp_path / "plan2.png")]) == 0
    out = capsys.readouterr()
    import json

    json.loads(out.out)  # stdout stays JSON; the note goes to stderr
    assert "plan2.png" in out.err


def test_cli_extrapolate_plot(tmp_path, capsys):
    from lawfit.cli import main

    lc = lawfit.datasets.lcbench()
    lc[lc["trial"].lt(2) & lc["epoch"].between(1, 8)].to_csv(tmp_path / "runs.csv", index=False)
    png = tmp_path / "fans.png"
    assert main(["extrapolate", str(tmp_path / "runs.csv"), "--x", "epoch", "--y", "val_accuracy", "--by", "trial",
                 "--horizon", "50", "-q", "--plot", str(png)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("trial,")  # the forecast CSV on stdout, the note on stderr
    assert f"wrote the forecast fans to {png}" in out.err
    written(png)
