"""Variable projection (the default solver) vs plain LM vs a scipy curve_fit loop, side by side in one run, on the
same power_law curves (20 points, x = geomspace(1, 1000), 1% noise: lawfit.datasets.synthetic_power_law):

  common start  every curve starts at E=2, A=100, alpha=0.3 (a user without a good guess): lawfit solver="varpro"
                and solver="lm" (native call on the CSR batch, all threads) vs scipy.optimize.curve_fit in a Python
                loop (timed on the first --loop-curves curves in every repeat, beside lawfit's calls, per-curve time
                scaled to the batch)
  default grid  no starts (the law's default grid, 6 alphas, linear parameters solved): fits per second of what
                lawfit.fit does by default (varpro, scan="auto": the grid's local minima of the projected cost
                solved), of every start solved (varpro and lm, scan="all") and of the best start only (scan=1), at
                --curves and at 1,000,000 curves (auto, scan=1, all)
  hard curves   the 2,000 power-law curves of tests/test_solver_vs_scipy.py's generator (8-40 points, noise up to
                10%, 1-4 decades), default grid: lm, varpro all, auto and scan=1, each counted against LM's full grid

Each row reports the minimum over --repeats (methods interleaved), the mean iterations, the converged share and,
against the best objective any method reached per curve, how many curves ended above it (rel. 1e-6).
Run: python bench/bench_varpro.py [--curves 100000] [--repeats 3] [--threads 2]   (writes bench/results/varpro.json)
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import lawfit  # noqa: E402
from _machine import machine  # noqa: E402
from baselines.scipy_fit import curve_fit_loop  # noqa: E402


def batch(n_curves, seed=0):
    df = lawfit.datasets.synthetic_power_law(n_curves, n_points=20, seed=seed, noise=0.01)
    counts = df.groupby("curve", sort=True).size().to_numpy()
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    df = df.sort_values("curve", kind="stable")
    return off, np.ascontiguousarray(df["x"].to_numpy(dtype=float).reshape(-1, 1)), np.ascontiguousarray(
        df["y"].to_numpy(dtype=float))


def hard_batch(n_curves, seed=1):
    """The hard power-law curves of tests/test_solver_vs_scipy.py (same generator and seed)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n_curves):
        n = int(rng.integers(8, 40))
        lo = 10 ** rng.uniform(0, 7)
        x = np.geomspace(lo, lo * 10 ** rng.uniform(1, 4), n)
        E, A, al = rng.uniform(0.1, 3), 10 ** rng.uniform(-1, 4), rng.uniform(0.05, 1.5)
        xs.append(x)
        ys.append((E + A * x**-al) * (1 + rng.normal(0, 10 ** rng.uniform(-4, -1), n)))
    off = np.zeros(n_curves + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(x) for x in xs])
    return off, np.ascontiguousarray(np.concatenate(xs)[:, None]), np.concatenate(ys)


def native(off, X, Y, starts, threads, **kw):
    spec = lawfit.get_law("power_law")
    return spec._fit(offsets=off, x=X, y=Y, lower=np.array(spec.lower), upper=np.array(spec.upper),
                     starts=np.ascontiguousarray(starts), threads=threads, want_cov=True, **kw)


def timed(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=int, default=100_000)
    ap.add_argument("--loop-curves", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--hard", type=int, default=2000)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    spec = lawfit.get_law("power_law")
    off, X, Y = batch(a.curves)
    B = a.curves
    p0 = np.array([[2.0, 100.0, 0.3]])
    grid = spec.default_starts()
    rows = {}

    # common start: interleaved repeats
    runs = {"varpro": lambda: native(off, X, Y, p0, a.threads, varpro=True),
            "lm": lambda: native(off, X, Y, p0, a.threads, varpro=False)}
    # The curve_fit loop's sample (the first --loop-curves curves) runs in every repeat beside lawfit's calls, and
    # each side keeps its best time: a quieter or busier spell of the machine falls on both.
    nl = min(a.loop_curves, B)
    times = {k: np.inf for k in runs}
    outs = {}
    t_loop = np.inf
    for _ in range(a.repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            outs[k] = fn()
            times[k] = min(times[k], time.perf_counter() - t)
        t = time.perf_counter()
        cf = curve_fit_loop(X[:off[nl], 0], Y[:off[nl]], off[:nl + 1], np.repeat(p0, nl, axis=0))
        t_loop = min(t_loop, (time.perf_counter() - t) * B / nl)
    best = np.minimum(outs["varpro"]["cost"], outs["lm"]["cost"])
    for k in runs:
        o = outs[k]
        rows[f"common start, {k}"] = dict(
            curves=B, seconds=times[k], fits_per_s=B / times[k], loop_ratio=t_loop / times[k],
            mean_iters=float(np.mean(o["iters"])), converged=float(np.mean(o["status"] == 0)),
            above_best=int(np.sum(o["cost"] > best * (1 + 1e-6) + 1e-15)))
    r_cf = np.array([0.5 * np.sum((Y[off[b]:off[b + 1]] - (cf[b, 0] + cf[b, 1] * X[off[b]:off[b + 1], 0] ** -cf[b, 2])) ** 2)
                     for b in range(nl)])
    rows["common start, curve_fit loop"] = dict(
        curves=B, seconds=t_loop, fits_per_s=B / t_loop, timed_curves=nl,
        above_best=int(np.sum(~(r_cf <= best[:nl] * (1 + 1e-6) + 1e-15))), above_best_of=nl)

    # default grid
    runs = {"varpro auto (default)": lambda: native(off, X, Y, grid, a.threads, varpro=True, project_linear=True,
                                                    scan=-1),
            "varpro all": lambda: native(off, X, Y, grid, a.threads, varpro=True, project_linear=True),
            "lm all": lambda: native(off, X, Y, grid, a.threads, varpro=False, project_linear=True),
            "varpro scan=1": lambda: native(off, X, Y, grid, a.threads, varpro=True, project_linear=True, scan=1)}
    times = {k: np.inf for k in runs}
    for _ in range(a.repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            outs[k] = fn()
            times[k] = min(times[k], time.perf_counter() - t)
    best = np.minimum.reduce([outs[k]["cost"] for k in runs])
    for k in runs:
        o = outs[k]
        rows[f"default grid, {k}"] = dict(
            curves=B, seconds=times[k], fits_per_s=B / times[k], mean_iters=float(np.mean(o["iters"])),
            converged=float(np.mean(o["status"] == 0)), above_best=int(np.sum(o["cost"] > best * (1 + 1e-6) + 1e-15)))
    if a.big:
        offb, Xb, Yb = batch(a.big, seed=1)
        for name, kw in (("varpro auto (default)", {"scan": -1}), ("varpro scan=1", {"scan": 1}),
                         ("varpro all", {})):
            tb, ob = timed(lambda: native(offb, Xb, Yb, grid, a.threads, varpro=True, project_linear=True, **kw),
                           max(1, a.repeats - 1))
            rows[f"default grid, {name}, big"] = dict(curves=a.big, seconds=tb, fits_per_s=a.big / tb,
                                                       mean_iters=float(np.mean(ob["iters"])),
                                                       converged=float(np.mean(ob["status"] == 0)))
    # hard curves: the generator of tests/test_solver_vs_scipy.py (8-40 points, noise 0.01-10%, 1-4 decades), 2,000
    # curves, default grid: each solver against LM's full grid (today's default before VarPro)
    offh, Xh, Yh = hard_batch(a.hard)
    runs = {"lm": dict(varpro=False), "varpro all": dict(varpro=True), "varpro auto (default)": dict(varpro=True, scan=-1),
            "varpro scan=1": dict(varpro=True, scan=1)}
    times = {k: np.inf for k in runs}
    for _ in range(a.repeats):
        for k, kw in runs.items():
            t = time.perf_counter()
            outs[k] = native(offh, Xh, Yh, grid, a.threads, project_linear=True, **kw)
            times[k] = min(times[k], time.perf_counter() - t)
    ref = outs["lm"]["cost"]
    for k in runs:
        o = outs[k]["cost"]
        rows[f"hard curves, default grid, {k}"] = dict(
            curves=a.hard, seconds=times[k], fits_per_s=a.hard / times[k],
            mean_iters=float(np.mean(outs[k]["iters"])), converged=float(np.mean(outs[k]["status"] == 0)),
            above_lm_grid=int(np.sum(o > ref * (1 + 1e-6) + 1e-15)), above_lm_grid_by_1pct=int(np.sum(o > ref * 1.01)),
            below_lm_grid=int(np.sum(o < ref * (1 - 1e-6))))
    for k, v in rows.items():
        print(f"{k:32s} " + "  ".join(f"{kk}={vv:.4g}" if isinstance(vv, float) else f"{kk}={vv}" for kk, vv in v.items()))
    if not a.no_write:
        out = pathlib.Path(__file__).parent / "results" / "varpro.json"
        out.write_text(json.dumps({"machine": machine(), "threads": a.threads, "rows": rows,
                                   "build": lawfit.build_info().get("cpu_level")}, indent=1))
        print("wrote", out)


if __name__ == "__main__":
    main()
