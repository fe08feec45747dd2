"""The solver kernels' CPU levels side by side (issue 14): the same fits with LAWFIT_CPU=baseline (x86-64 baseline,
scalar libm) and LAWFIT_CPU=avx2 (AVX2 + FMA, libmvec vector math), each level in its own child process, runs
interleaved, min of --repeats x 3 calls.

Problems (double precision, 2 threads, identical data and starts):
- power_law: 100,000 curves x 20 points from near-truth starts (one start per curve), the native call;
- power_law default grid: 20,000 curves x 20 points, the law's default start grid, the native call;
- gaussian peak: `lawfit.Law("a*exp(-(x-b)^2/(2*c^2)) + d")`, 50,000 curves x 20 points (a user formula);
- chinchilla: one curve, Hoffmann et al.'s 4,500-start grid, Huber on log loss.

    PYTHONPATH=python python bench/bench_dispatch.py [--repeats 5]   # writes bench/results/dispatch.json
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, sys, time
import numpy as np
import pandas as pd
import lawfit

rng = np.random.default_rng(0)
def power_law_frame(B, n=20):
    x = np.tile(np.geomspace(10, 1e4, n), B)
    E = rng.uniform(1, 3, B); A = rng.uniform(5, 50, B); al = rng.uniform(0.2, 0.8, B)
    y = np.repeat(E, n) + np.repeat(A, n) * x ** -np.repeat(al, n)
    y = y * (1 + 0.01 * rng.standard_normal(B * n))
    return pd.DataFrame({"curve": np.repeat(np.arange(B), n), "x": x, "y": y}), np.c_[E, A, al]

pl, truth = power_law_frame(100_000)
starts = truth[:, None, :] * 1.05
pl_small, _ = power_law_frame(20_000)
g = 50_000
xg = np.tile(np.linspace(-3, 3, 20), g)
a, b, c, d = rng.uniform(1, 3, g), rng.uniform(-0.5, 0.5, g), rng.uniform(0.5, 1.5, g), rng.uniform(0, 1, g)
yg = np.repeat(a, 20) * np.exp(-(xg - np.repeat(b, 20)) ** 2 / (2 * np.repeat(c, 20) ** 2)) + np.repeat(d, 20)
yg = yg + 0.01 * rng.standard_normal(g * 20)
gauss = pd.DataFrame({"curve": np.repeat(np.arange(g), 20), "x": xg, "y": yg})
law = lawfit.Law("a*exp(-(x-b)^2/(2*c^2)) + d", inputs="x")
gstarts = np.c_[a, b, c, d][:, None, :] * 1.05
ch = lawfit.datasets.synthetic_chinchilla(n=240, seed=0)

from lawfit._native import _core
spec = lawfit.catalogue.get_law("power_law")
lo, hi = np.asarray(spec.lower, float), np.asarray(spec.upper, float)
def native(frame, st):
    B = frame["curve"].nunique(); n = len(frame) // B
    off = np.arange(0, B * n + 1, n, dtype=np.int64)
    return dict(offsets=off, x=frame["x"].to_numpy(), y=frame["y"].to_numpy(), lower=lo, upper=hi, starts=st)
pl_args = native(pl, starts)
grid_args = native(pl_small, np.asarray(spec.default_starts(), float))

def run(name):
    t = time.perf_counter()
    if name == "power_law_100k":  # the native call: what the CPU level changes
        r = _core.fit_law("power_law", **pl_args, threads=2, want_cov=False)
        check = float(np.nanmean(r["params"]))
    elif name == "power_law_grid_20k":
        r = _core.fit_law("power_law", **grid_args, threads=2, want_cov=False)
        check = float(np.nanmean(r["params"]))
    elif name == "gaussian_formula_50k":
        r = lawfit.fit(gauss, law, x="x", y="y", by="curve", starts=gstarts, threads=2)
        check = float(np.nanmean(r.params.to_numpy()))
    else:
        r = lawfit.fit(ch, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", threads=2)
        check = float(np.nanmean(r.params.to_numpy()))
    return time.perf_counter() - t, check

names = ["power_law_100k", "power_law_grid_20k", "gaussian_formula_50k", "chinchilla_grid"]
for nm in names:
    run(nm)  # warm-up
out = {}
for nm in names:
    runs = [run(nm) for _ in range(3)]
    out[nm] = (min(r[0] for r in runs), runs[0][1])
out["info"] = {k: lawfit.build_info()[k] for k in ("cpu_level", "vector_math", "kernel_flags")}
json.dump(out, sys.stdout)
"""


def child(level):
    env = dict(os.environ, LAWFIT_CPU=level)
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from _machine import machine

    levels = ["baseline", "avx2"]
    best = {lv: {} for lv in levels}
    info = {}
    for _ in range(args.repeats):
        for lv in levels:
            res = child(lv)
            info[lv] = res.pop("info")
            for k, (dt, cost) in res.items():
                if k not in best[lv] or dt < best[lv][k][0]:
                    best[lv][k] = (dt, cost)
    out = {"machine": machine(), "repeats": args.repeats, "levels": info,
           "seconds": {lv: {k: v[0] for k, v in best[lv].items()} for lv in levels},
           "mean_param": {lv: {k: v[1] for k, v in best[lv].items()} for lv in levels}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "dispatch.json").write_text(json.dumps(out, indent=2))
    print(f"{'problem':24s} {'baseline s':>11s} {'avx2 s':>9s} {'speed-up':>9s}")
    for k in best["baseline"]:
        b, a = best["baseline"][k][0], best["avx2"][k][0]
        print(f"{k:24s} {b:11.3f} {a:9.3f} {b / a:8.2f}x")


if __name__ == "__main__":
    main()
