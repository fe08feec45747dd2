"""Generate every lawfit.plot figure as a PNG in docs/plots/ (about 20 s on 2 cores).

    PYTHONPATH=python python docs/plots/make_plots.py [OUT_DIR]

Data: the OLMo model ladder and LCBench shipped in lawfit.datasets (real runs), synthetic power-law curves,
and, for the evaluation plots (no evaluation data is shipped), seeded synthetic problems and responses. Needs
matplotlib (pip install 'lawfit[plot]').
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np
import pandas as pd

import lawfit
from lawfit import evals
from lawfit import plot as lplot
from lawfit.demo import _hoffmann_grid

OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent
DPI = 100
SIZES = ["190M", "370M", "760M", "1B", "3B"]


def out(name: str) -> pathlib.Path:
    return OUT / name


def ladder_final() -> pd.DataFrame:
    lad = lawfit.datasets.olmo_ladder()
    return lad[~lad["rerun"]].sort_values("step").groupby("run").tail(1)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    final = ladder_final()

    # 1. One-input law, real data: final C4 loss against tokens for each OLMo ladder size, extrapolated to 3x the
    #    tokens, with residual-bootstrap bands.
    r = lawfit.fit(final, "power_law", x="D", y="c4_loss", by="size")
    r.bootstrap(n=1000, method="residual", seed=0)
    lplot.curves(r, final, curves=SIZES, path=out("fit_olmo_tokens.png"),
                 title="OLMo ladder: C4 loss = E + A D^-alpha per model size")

    # 2. Many curves: 15 synthetic power laws, each its own colour.
    syn = lawfit.datasets.synthetic_power_law(15, noise=0.02, seed=1)
    rs = lawfit.fit(syn, "power_law", x="x", y="y", by="curve")
    lplot.curves(rs, syn, max_curves=15, path=out("fit_many_curves.png"),
                 title="15 synthetic power-law curves (a colour each, never repeated)")

    # 3-6. Two-input law on the OLMo ladder (Hoffmann's procedure, as in `lawfit demo`), bootstrapped.
    rc = lawfit.fit(final, "chinchilla", x=["N", "D"], y="c4_loss", loss="huber", delta=1e-3, space="log",
                    starts=_hoffmann_grid())
    rc.bootstrap(n=400, seed=0)
    lplot.contours(rc, final, path=out("contours_olmo.png"),
                   title="OLMo ladder: Chinchilla law, iso-loss contours and compute-optimal frontier")
    lplot.iso_flop(rc, data=final, path=out("isoflop_olmo.png"))
    lplot.frontier(rc, data=final, path=out("frontier_olmo.png"))
    lplot.diagnostics(rc, final, path=out("diagnostics_olmo.png"))

    # 7-8. Learning-curve forecasts on LCBench: six runs cut at epoch 10, forecast to epoch 50.
    lc = lawfit.datasets.lcbench()
    lc = lc[lc["epoch"].between(1, 50)]
    show = lc[lc["trial"].isin([1, 3, 7, 12, 20, 33])]
    early = show[show["epoch"] <= 10]
    ex = lawfit.extrapolate(early, x="epoch", y="val_accuracy", by="trial", horizon=50, seed=0)
    lplot.fan(ex, early, truth=show, path=out("fan_lcbench.png"))
    done = lc[lc["trial"].between(100, 600)]
    sw = lawfit.extrapolate(early, x="epoch", y="val_accuracy", by="trial", horizon=50, reference=done)
    lplot.fan(sw, early, y="val_accuracy", truth=show, path=out("fan_lcbench_reference.png"))

    # 9. Coverage (synthetic: 500 problems, 100 samples each, per-problem rates ~ Beta(0.35, 3)).
    rng = np.random.default_rng(7)
    n = np.full(500, 100)
    c = rng.binomial(100, rng.beta(0.35, 3.0, size=500))
    cov = {"c(k) = exp(a k^b)": evals.coverage(n, c, n_boot=200, seed=1),
           "Beta-distributed rates": evals.coverage(n, c, method="beta", n_boot=200, seed=1),
           "pass_curve": evals.pass_curve(n, c, [1, 3, 10, 30, 100])}
    lplot.coverage(cov, targets=[0.8], path=out("coverage.png"),
                   title="coverage of 500 synthetic problems, extrapolated from 100 samples each")

    # 10. IRT item curves (synthetic 2PL: 80 models x 60 items).
    th = rng.normal(size=(80, 1))
    a = rng.uniform(0.4, 2.5, size=(60, 1))
    b = rng.normal(0, 1.2, size=60)
    Y = (rng.random((80, 60)) < 1 / (1 + np.exp(-(th @ a.T - b)))).astype(float)
    irt = evals.fit_irt(pd.DataFrame(Y, index=[f"model{i}" for i in range(80)],
                                     columns=[f"item{j}" for j in range(60)]), model="2pl")
    lplot.item_curves(irt, max_items=8, path=out("irt_items.png"))

    for p in sorted(OUT.glob("*.png")):
        print(f"{p.name:32s} {p.stat().st_size / 1024:6.1f} KB")
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
