"""The solver kernels' CPU levels side by side (issue 14): the same fits with LAWFIT_CPU=baseline (x86-64 baseline,
scalar libm) and LAWFIT_CPU=avx2 (AVX2 + FMA, libmvec vector math), each level in its own child process, runs
interleaved, min of --repeats.

Problems (double precision, 2 threads, identical data and starts):
- power_law: 100,000 curves x 20 points from near-truth starts (one start per curve);
- power_law default grid: 20,000 curves x 20 points, the law's default start grid (what fit() does without starts);
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

def run(name):
    t = time.perf_counter()
    if name == "power_law_100k":
        r = lawfit.fit(pl, "power_law", x="x", y="y", by="curve", starts=starts, threads=2)
    elif name == "power_law_grid_20k":
        r = lawfit.fit(pl_small, "power_law", x="x", y="y", by="curve", threads=2)
    elif name == "gaussian_formula_50k":
        r = lawfit.fit(gauss, law, x="x", y="y", by="curve", starts=gstarts, threads=2)
    else:
        r = lawfit.fit(ch, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", threads=2)
    dt = time.perf_counter() - t
    return dt, float(np.nanmean(r.cost))

names = ["power_law_100k", "power_law_grid_20k", "gaussian_formula_50k", "chinchilla_grid"]
for nm in names:
    run(nm)  # warm-up
out = {nm: run(nm) for nm in names}
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
           "mean_cost": {lv: {k: v[1] for k, v in best[lv].items()} for lv in levels}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "dispatch.json").write_text(json.dumps(out, indent=2))
    print(f"{'problem':24s} {'baseline s':>11s} {'avx2 s':>9s} {'speed-up':>9s}")
    for k in best["baseline"]:
        b, a = best["baseline"][k][0], best["avx2"][k][0]
        print(f"{k:24s} {b:11.3f} {a:9.3f} {b / a:8.2f}x")


if __name__ == "__main__":
    main()
