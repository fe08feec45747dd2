"""`lawfit demo`: the main job on the data shipped with lawfit."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from . import datasets
from .fitting import fit


def _hoffmann_grid() -> pd.DataFrame:
    """Hoffmann et al.'s 4,500-start grid, in lawfit's natural parameters (E, A, B = exp(e, a, b))."""
    al, be, e, a, b = np.meshgrid(np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5), np.arange(-1, 1.01, 0.5),
                                  np.arange(0, 26, 5), np.arange(0, 26, 5), indexing="ij")
    return pd.DataFrame({"E": np.exp(e.ravel()), "A": np.exp(a.ravel()), "B": np.exp(b.ravel()),
                         "alpha": al.ravel(), "beta": be.ravel()})


def run(plot: str | None = None, threads: int | None = None) -> int:
    print("lawfit demo: every fit below is one batched native call.\n")

    # 1. Scaling law on the OLMo ladder, predicting the 7B and 13B runs.
    ladder = datasets.olmo_ladder()
    final = ladder[~ladder["rerun"]].sort_values("step").groupby("run").tail(1)
    t0 = time.perf_counter()
    res = fit(final, "chinchilla", x=["N", "D"], y="c4_loss", loss="huber", delta=1e-3, space="log",
              starts=_hoffmann_grid(), threads=threads)
    dt = time.perf_counter() - t0
    p = res.params.iloc[0]
    print(f"[1] Chinchilla law on the final C4 loss of {len(final)} OLMo ladder runs (190M-3B),")
    print(f"    Huber(1e-3) on log loss from Hoffmann's 4,500-start grid: {dt * 1e3:.0f} ms")
    print("    " + ", ".join(f"{k}={v:.4g}" for k, v in p.items()))
    targets = datasets.olmo_targets().sort_values("step").groupby("run").tail(1)
    # A 90% interval for a new run, calibrated on the ladder: the fit is repeated without the 3B rung, and the
    # interval widens by how far that extrapolation missed (k >= 1).
    pred = res.predict(targets[["N", "D"]], interval=0.9, calibrate="holdout")
    for (_, t), (_, q) in zip(targets.iterrows(), pred.iterrows()):
        err = (q["y_pred"] - t["c4_loss"]) / t["c4_loss"]
        print(f"    {t['run']:>11} (N={t['N']:.3g}, D={t['D']:.3g}): predicted {q['y_pred']:.3f} "
              f"[90% {q['y_low']:.3f}, {q['y_high']:.3f}, ladder-calibrated k={q['k']:.2f}], "
              f"actual {t['c4_loss']:.3f} ({err:+.1%})")

    # 2. Many learning curves at once: every LCBench run (accuracy in percent, so c is bounded by 100).
    lc = datasets.lcbench()
    lc = lc[lc["epoch"].between(1, 50)]
    t0 = time.perf_counter()
    lres = fit(lc, "pow3", x="epoch", y="val_accuracy", by="trial", bounds={"c": (0, 100), "a": (-100, 100)},
               threads=threads)
    dt = time.perf_counter() - t0
    counts = lres.status.value_counts()
    rmse = np.sqrt(2 * lres.objective / lres.n_points)
    print(f"\n[2] pow3 learning curves (c - a t^-alpha) on all {lres.n_curves} LCBench configurations "
          f"({len(lc)} points): {dt * 1e3:.0f} ms ({lres.n_curves / dt:,.0f} curves/s, 8 starts per curve)")
    print("    status: " + ", ".join(f"{k}={v}" for k, v in counts[counts > 0].items())
          + f"; median RMSE {np.nanmedian(rmse):.3f} accuracy points")

    # 3. Known truth: recover Hoffmann's parameters from synthetic data.
    syn = datasets.synthetic_chinchilla(n=240, seed=0, noise=0.0)
    sres = fit(syn, "chinchilla", x=["N", "D"], y="loss", space="log")
    rel = max(abs(sres.params.iloc[0][k] / v - 1) for k, v in datasets.HOFFMANN.items())
    print(f"\n[3] Noiseless synthetic Chinchilla data (240 points): Hoffmann's parameters recovered, "
          f"max relative error {rel:.1e}")

    if plot:
        _figure(plot, res, final, targets, pred, lres, lc)
        print(f"\nwrote the figure to {plot}")
    return 0



def _figure(path, res, ladder, targets, pred, lres, lc) -> None:
    """The demo's figure: the Chinchilla fit on the ladder with the held-out 7B / 13B targets and their predicted
    90% intervals, and pow3 fits of six LCBench curves (lawfit.plot.curves)."""
    from . import plot as lplot

    with lplot.style():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12.5, 4.6), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2)
        C = 6 * ladder["N"] * ladder["D"]
        ax0.scatter(C, ladder["c4_loss"], s=16, color="0.45", label=f"ladder runs, observed (fitted: {len(ladder)})",
                    zorder=3)
        ax0.scatter(C, res.predict(ladder[["N", "D"]])["y_pred"], s=18, marker="x", color="black", linewidths=0.9,
                    label="ladder runs, Chinchilla fit", zorder=4)
        cols = lplot.colors(len(targets))
        for j, ((_, t), (_, q)) in enumerate(zip(targets.iterrows(), pred.iterrows())):
            ct = 6 * t["N"] * t["D"]
            ax0.scatter([ct], [t["c4_loss"]], s=110, marker="*", color=cols[j], edgecolor="black", linewidths=0.5,
                        zorder=6, label=f"{t['run']} target (held out), observed")
            ax0.errorbar([ct * 1.15], [q["y_pred"]], yerr=[[q["y_pred"] - q["y_low"]], [q["y_high"] - q["y_pred"]]],
                         fmt="D", markersize=5, color=cols[j], capsize=3, zorder=5,
                         label=f"{t['run']} predicted, 90% interval (ladder-calibrated)")
        ax0.set_xscale("log")
        ax0.set_xlabel("training compute 6 N D (FLOPs)")
        ax0.set_ylabel("C4 loss")
        ax0.set_title("OLMo ladder: Chinchilla law, extrapolated to the 7B and 13B runs")
        ax0.legend(loc="upper right")
        lplot.curves(lres, lc[lc["trial"] < 6], ax=ax1, curves=range(6), logx=False, extend=1.0,
                     title="LCBench: pow3 fits of 6 configurations")
        fig.savefig(path, dpi=110, bbox_inches="tight")
