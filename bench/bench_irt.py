"""Benchmark: batched 2PL IRT fit (400 models x 30,000 items) and the pass@k grid (10,000 problems x 100 k).

lawfit vs girth (pure numpy/scipy) on the same simulated data in the same run:
  * girth.twopl_jml (joint ML, the same family of algorithm as lawfit's joint MAP) on all 30,000 items;
  * girth.twopl_mml (marginal ML, girth's default 2PL) on a subset of items, extrapolated linearly to 30,000
    (its per-item cost is constant: one scipy optimisation per item per EM cycle).
pass@k: lawfit.evals.pass_at_k on the whole grid vs the common per-problem numpy loop (Chen et al. 2021).
Writes bench/results/irt.json and bench/results/irt.md.

    PYTHONPATH=python python bench/bench_irt.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lawfit  # noqa: E402
from lawfit import evals  # noqa: E402
from baselines import irt_girth, passk_numpy  # noqa: E402


def simulate(M, I, seed=0):
    rng = np.random.default_rng(seed)
    th = rng.normal(size=M)
    a = rng.uniform(0.5, 2.5, size=I)
    b = rng.normal(size=I)
    P = 1 / (1 + np.exp(-(np.outer(th, a) - b)))
    return (rng.random((M, I)) < P).astype(np.int8), a, b, th


def timed(fn, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def corr(x, y):
    return float(np.corrcoef(x, y)[0, 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller problem (smoke test)")
    ap.add_argument("--mml-items", type=int, default=300, help="items for the girth MML subset timing")
    args = ap.parse_args()
    M, I = (400, 3000) if args.quick else (400, 30000)
    Y, a, b, th = simulate(M, I)
    info = lawfit.build_info()
    res = {"machine": {"cpu_threads": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version(), "lawfit": info["version"],
                       "compiler": info["compiler"], "simd": info["simd"]},
           "irt": {"models": M, "items": I, "design": "2PL, theta~N(0,1), a~U(0.5,2.5), b~N(0,1)"}}

    t_lf, m = timed(lambda: evals.fit_irt(Y, "2pl"), repeat=3)
    it = m.items
    res["irt"]["lawfit"] = {"seconds": t_lf, "iterations": m.iterations, "status": m.status,
                            "corr_a": corr(it["a"], a), "corr_b": corr(it["b"], b)}
    print(f"lawfit 2PL {M}x{I}: {t_lf:.2f} s ({m.iterations} sweeps), corr a {corr(it['a'], a):.3f}", flush=True)

    t_jml, g = timed(lambda: irt_girth.twopl_jml(Y))
    res["irt"]["girth_jml"] = {"seconds": t_jml, "items_timed": I, "corr_a": corr(g["a"], a),
                               "corr_b": corr(g["b_difficulty"] * g["a"], b)}
    print(f"girth twopl_jml {M}x{I}: {t_jml:.1f} s, corr a {corr(g['a'], a):.3f}", flush=True)

    sub = args.mml_items
    t_mml, gm = timed(lambda: irt_girth.twopl_mml(Y[:, :sub]))
    res["irt"]["girth_mml"] = {"seconds_subset": t_mml, "items_timed": sub,
                               "seconds_extrapolated": t_mml * I / sub, "corr_a_subset": corr(gm["a"], a[:sub])}
    print(f"girth twopl_mml {M}x{sub}: {t_mml:.1f} s -> {t_mml * I / sub:.0f} s extrapolated to {I} items", flush=True)
    res["irt"]["speedup_vs_girth_jml"] = t_jml / t_lf
    res["irt"]["speedup_vs_girth_mml_extrapolated"] = t_mml * I / sub / t_lf

    # pass@k: 10,000 problems x 100 k values
    P, n = (2000, 200) if args.quick else (10000, 200)
    rng = np.random.default_rng(1)
    nn = np.full(P, n)
    cc = rng.binomial(n, rng.beta(0.3, 2.0, size=P))
    ks = np.arange(1, 101)
    t_np, ref = timed(lambda: passk_numpy.grid(nn, cc, ks))
    t_pk, got = timed(lambda: evals.pass_at_k(nn, cc, ks), repeat=5)
    res["passk"] = {"problems": P, "n": n, "k_values": int(ks.size), "lawfit_seconds": t_pk,
                    "numpy_loop_seconds": t_np, "speedup": t_np / t_pk,
                    "max_abs_diff": float(np.max(np.abs(got - ref)))}
    print(f"pass@k {P}x{ks.size}: lawfit {t_pk * 1e3:.1f} ms, numpy loop {t_np:.1f} s ({t_np / t_pk:.0f}x)")

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "irt.json"), "w") as f:
        json.dump(res, f, indent=2)
    r = res["irt"]
    mach = f"{res['machine']['cpu_threads']} CPU threads, {platform.machine()}, shared machine"
    md = (
        f"- 2PL fit, {M} models x {I} items: lawfit {r['lawfit']['seconds']:.2f} s vs girth twopl_jml "
        f"{r['girth_jml']['seconds']:.0f} s (**{r['speedup_vs_girth_jml']:.0f}x**) and girth twopl_mml "
        f"~{r['girth_mml']['seconds_extrapolated']:.0f} s (timed on {sub} items, extrapolated linearly; "
        f"**{r['speedup_vs_girth_mml_extrapolated']:.0f}x**); discrimination recovery corr lawfit "
        f"{r['lawfit']['corr_a']:.3f}, girth JML {r['girth_jml']['corr_a']:.3f}.\n"
        f"- pass@k grid, {P} problems x {ks.size} k: lawfit {res['passk']['lawfit_seconds'] * 1e3:.1f} ms vs the "
        f"per-problem numpy loop {res['passk']['numpy_loop_seconds']:.1f} s (**{res['passk']['speedup']:.0f}x**), "
        f"max difference {res['passk']['max_abs_diff']:.1e}.\n"
        f"- Machine: {mach}; Python {res['machine']['python']}, {res['machine']['compiler']}.\n"
    )
    with open(os.path.join(HERE, "results", "irt.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
