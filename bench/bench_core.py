"""Core fit benchmarks (issue: core engine), lawfit vs scipy measured side by side in one run.

  many-curves: 5,000 power_law curves x 20 points, 1% noise, the same start per curve:
               lawfit (one batched call) vs a scipy.optimize.curve_fit loop; then lawfit alone at 1,000,000 curves.
  chinchilla:  Huber(1e-3) on log loss, Hoffmann's 4,500-start grid, 240 synthetic points:
               lawfit vs scipy L-BFGS-B over the same grid, with scipy's default finite-difference gradient and
               with the analytic gradient; best objectives compared.

Run: python bench/bench_core.py [--quick] [--repeats 4]   (writes bench/results/core.json)
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import lawfit  # noqa: E402
from _machine import machine  # noqa: E402
from baselines.scipy_fit import chinchilla_lbfgs_grid, curve_fit_loop  # noqa: E402
from lawfit.demo import _hoffmann_grid  # noqa: E402


def many_curves(n_curves, seed=0):
    df = lawfit.datasets.synthetic_power_law(n_curves, n_points=20, seed=seed, noise=0.01)
    truth = df.groupby("curve")[["E", "A", "alpha"]].first().to_numpy()
    p0 = truth * np.random.default_rng(seed + 1).uniform(0.8, 1.2, truth.shape)
    return df, p0


def bench_many(n=5000, big=1_000_000):
    df, p0 = many_curves(n)
    starts = pd.DataFrame({"curve": np.arange(n), "E": p0[:, 0], "A": p0[:, 1], "alpha": p0[:, 2]})
    offsets = np.arange(0, 20 * n + 1, 20)
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=starts)  # warm-up
    t_l = []
    for _ in range(20):
        t0 = time.perf_counter()
        r = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=starts)
        t_l.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = curve_fit_loop(x, y, offsets, p0)
    t_s = time.perf_counter() - t0
    agree = np.nanmax(np.abs(r.params.to_numpy() - ref) / np.abs(ref))
    out = {"curves": n, "points_per_curve": 20, "lawfit_s": min(t_l), "curve_fit_loop_s": t_s,
           "ratio": t_s / min(t_l), "lawfit_repeats": "best of 20", "max_rel_param_diff_vs_curve_fit": float(agree),
           "lawfit_converged": int((r.status == "CONVERGED").sum())}
    # Native call alone (no pandas conversion), to show where the time goes.
    st = np.ascontiguousarray(p0[:, None, :])
    spec = lawfit.get_law("power_law")
    kw = dict(offsets=offsets.astype(np.int64), x=np.ascontiguousarray(x), y=np.ascontiguousarray(y),
              lower=np.array(spec.lower), upper=np.array(spec.upper), starts=st)
    t_n = []
    for _ in range(20):
        t0 = time.perf_counter()
        lawfit._native._core.fit_law("power_law", **kw)
        t_n.append(time.perf_counter() - t0)
    out["lawfit_native_s"] = min(t_n)
    if big:
        dfb, p0b = many_curves(big, seed=5)
        sb = pd.DataFrame({"curve": np.arange(big), "E": p0b[:, 0], "A": p0b[:, 1], "alpha": p0b[:, 2]})
        t0 = time.perf_counter()
        rb = lawfit.fit(dfb, "power_law", x="x", y="y", by="curve", starts=sb)
        tb = time.perf_counter() - t0
        offb = np.arange(0, 20 * big + 1, 20, dtype=np.int64)
        t0 = time.perf_counter()
        lawfit._native._core.fit_law("power_law", offsets=offb, x=np.ascontiguousarray(dfb["x"].to_numpy()),
                                     y=np.ascontiguousarray(dfb["y"].to_numpy()), lower=np.array(spec.lower),
                                     upper=np.array(spec.upper), starts=np.ascontiguousarray(p0b[:, None, :]))
        tn = time.perf_counter() - t0
        out.update({"big_curves": big, "big_lawfit_s": tb, "big_fits_per_s": big / tb,
                    "big_native_s": tn, "big_native_fits_per_s": big / tn,
                    "big_converged_fraction": float((rb.status == "CONVERGED").mean())})
    return out


def bench_chinchilla(n_grid=None):
    df = lawfit.datasets.synthetic_chinchilla(n=240, seed=0, noise=0.01)
    grid = _hoffmann_grid()
    if n_grid:
        grid = grid.sample(n_grid, random_state=0)
    lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", starts=grid[:10])
    t_l = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", starts=grid)
        t_l.append(time.perf_counter() - t0)
    t_l = min(t_l)
    g = np.column_stack([np.log(grid["A"]), np.log(grid["B"]), np.log(grid["E"]), grid["alpha"], grid["beta"]])
    N, D, L = df["N"].to_numpy(), df["D"].to_numpy(), df["loss"].to_numpy()
    out = {"points": 240, "starts": len(grid), "lawfit_s": t_l}
    obj_l = float(r.objective.iloc[0])  # 0.5 * sum rho = sum of textbook Huber terms: the same objective
    out["lawfit_objective"] = obj_l
    out["lawfit_params"] = {k: float(v) for k, v in r.params.iloc[0].items()}
    for name, analytic in (("finite_difference_gradient", False), ("analytic_gradient", True)):
        t0 = time.perf_counter()
        fbest, xbest = chinchilla_lbfgs_grid(N, D, L, g, analytic_gradient=analytic)
        t_s = time.perf_counter() - t0
        out[name] = {"scipy_lbfgsb_s": t_s, "ratio": t_s / t_l, "scipy_objective": float(fbest),
                     "lawfit_objective_no_worse": bool(obj_l <= fbest * (1 + 1e-12)),
                     "scipy_params": dict(zip(["E", "A", "B", "alpha", "beta"],
                                              [float(np.exp(xbest[2])), float(np.exp(xbest[0])),
                                               float(np.exp(xbest[1])), float(xbest[3]), float(xbest[4])]))}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    ap.add_argument("--repeats", type=int, default=4,
                    help="independent runs of the 5,000-curve comparison (lawfit and the curve_fit loop each time)")
    a = ap.parse_args()
    res = {"machine": machine(), "lawfit": lawfit.build_info()}
    res["many_curves"] = bench_many(500 if a.quick else 5000, 20000 if a.quick else 1_000_000)
    print(json.dumps(res["many_curves"], indent=2))
    res["many_curves_repeats"] = [bench_many(500 if a.quick else 5000, 0) for _ in range(max(a.repeats, 1) - 1)]
    print("many-curves ratios:", [round(r["ratio"]) for r in [res["many_curves"]] + res["many_curves_repeats"]])
    res["chinchilla_grid"] = bench_chinchilla(200 if a.quick else None)
    print(json.dumps(res["chinchilla_grid"], indent=2))
    if not a.quick:
        out = pathlib.Path(__file__).parent / "results" / "core.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
