"""Benchmark: batched 2PL IRT fit (400 models x 30,000 items) and the pass@k grid (10,000 problems x 100 k).

lawfit vs girth (pure numpy/scipy) on the same simulated data in the same run:
  * girth.twopl_jml (joint ML, the same family of algorithm as lawfit's joint MAP) on all 30,000 items;
  * girth.twopl_mml (marginal ML, girth's default 2PL) on a subset of items, extrapolated linearly to 30,000
    (its per-item cost is constant: one scipy optimisation per item per EM cycle).
pass@k: lawfit.evals.pass_at_k on the whole grid vs the common per-problem numpy loop (Chen et al. 2021).
Accuracy (no timing): item-parameter recovery under four simulation designs (joint MAP, MML-EM and the oracle
that knows the true abilities), and reduced-set (100 anchor) score estimates on a 1,000-item and an MMLU-sized
14,042-item simulated benchmark (400 models: IRT fitted on 300, scores estimated for the other 100).
Writes bench/results/irt.json and bench/results/irt.md.

    PYTHONPATH=python python bench/bench_irt.py [--quick] [--accuracy-only]
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


DESIGNS = {
    # name: (discrimination sampler, difficulty sampler given a); P = sigmoid(a theta - b), theta ~ N(0, 1)
    "U(0.5,2.5)": "a ~ U(0.5, 2.5), b ~ N(0, 1) (this project's earlier design)",
    "LN(0,0.5)": "a ~ LogNormal(0, 0.5), b ~ N(0, 1) (common in the IRT simulation literature)",
    "LN(0,1)": "a ~ LogNormal(0, 1), b ~ N(0, 1) (wide; e.g. Stan's IRT case studies)",
    "girth": "a ~ U(0.5, 1.5), delta ~ U(-2.5, 2.5), b = a delta (girth's README example: a = rand + 0.5, "
             "difficulties spread over [-2.5, 2.5] in P = sigmoid(a (theta - delta)))",
}


def simulate_design(M, I, design, seed=0):
    rng = np.random.default_rng(seed)
    th = rng.normal(size=M)
    if design == "U(0.5,2.5)":
        a = rng.uniform(0.5, 2.5, I)
        b = rng.normal(size=I)
    elif design == "LN(0,0.5)":
        a = rng.lognormal(0.0, 0.5, I)
        b = rng.normal(size=I)
    elif design == "LN(0,1)":
        a = rng.lognormal(0.0, 1.0, I)
        b = rng.normal(size=I)
    else:
        a = rng.uniform(0.5, 1.5, I)
        b = a * rng.uniform(-2.5, 2.5, I)
    P = 1 / (1 + np.exp(-(np.outer(th, a) - b)))
    return (rng.random((M, I)) < P).astype(np.int8), a, b, th


def oracle_items(Y, th, prior=(1.0, 2.0), b_sd=3.0):
    """Item parameters fitted with the TRUE abilities (same priors as lawfit): the information limit."""
    t = th
    Yf = Y.astype(np.float64)
    A, B = np.ones(Y.shape[1]), np.zeros(Y.shape[1])
    for _ in range(40):
        P = 1 / (1 + np.exp(-(np.outer(t, A) - B)))
        R, W = Yf - P, P * (1 - P)
        ga, gb = (R * t[:, None]).sum(0) - (A - prior[0]) / prior[1] ** 2, -R.sum(0) - B / b_sd ** 2
        haa = (W * t[:, None] ** 2).sum(0) + 1 / prior[1] ** 2
        hab, hbb = -(W * t[:, None]).sum(0), W.sum(0) + 1 / b_sd ** 2
        det = haa * hbb - hab ** 2
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        s = np.maximum(1.0, np.maximum(np.abs(da), np.abs(db)))
        A, B = A + da / s, B + db / s
    return A, B


def recovery(sizes):
    rows = []
    for design in DESIGNS:
        for M, I in sizes:
            Y, a, b, th = simulate_design(M, I, design, seed=0)
            row = {"design": design, "models": M, "items": I}
            for meth in ["jmap", "mml"]:
                t = time.perf_counter()
                m = evals.fit_irt(Y, "2pl", method=meth, max_iter=500)
                row[meth] = {"corr_a": corr(m._a[:, 0], a), "corr_b": corr(m._b, b),
                             "corr_theta": corr(m._theta[:, 0], th), "status": m.status,
                             "iterations": m.iterations, "seconds": time.perf_counter() - t}
            Ao, Bo = oracle_items(Y, th)
            row["oracle"] = {"corr_a": corr(Ao, a), "corr_b": corr(Bo, b)}
            rows.append(row)
            print(f"recovery {design:11s} {M}x{I}: corr a jmap {row['jmap']['corr_a']:.3f} mml "
                  f"{row['mml']['corr_a']:.3f} oracle {row['oracle']['corr_a']:.3f}; corr b jmap "
                  f"{row['jmap']['corr_b']:.3f} mml {row['mml']['corr_b']:.3f} oracle {row['oracle']['corr_b']:.3f}",
                  flush=True)
    return rows


def reduced_set(M, I, design, K=100, n_train=300, seed=1):
    from lawfit._native import _core

    Y, a, b, th = simulate_design(M, I, design, seed=seed)
    train, test = Y[:n_train], Y[n_train:]
    full = test.mean(axis=1)
    t = time.perf_counter()
    m = evals.fit_irt(train, "2pl")
    out = {"design": design, "models": M, "train_models": n_train, "test_models": M - n_train, "items": I,
           "anchors": K, "fit_seconds": time.perf_counter() - t, "methods": {}}
    P = 1 / (1 + np.exp(-(np.outer(th[n_train:], a) - b)))
    # the part of the full score no estimator can know: the sampling noise of the unanswered items
    out["unseen_noise_sd"] = float(np.mean(np.sqrt((P * (1 - P)).sum(axis=1)) / I))
    for meth in ["random", "kmeans", "optimal"]:
        sel = m.select_items(K, method=meth, seed=0)
        est = m.estimate(test[:, sel.items], sel)
        r = {c: float(np.mean(np.abs(est[c].to_numpy() - full))) for c in ["naive", "anchor", "irt", "pirt", "gpirt"]}
        # oracle: the same anchors, the TRUE item parameters, the posterior-mean p-IRT (Bayes-optimal under the model)
        Yk = np.ascontiguousarray(test[:, sel.items])
        _, _, _, po = _core.evals_irt_posterior_scores(Yk, sel.items, np.ascontiguousarray(a[:, None]), b, 61, 0)
        r["oracle_pirt"] = float(np.mean(np.abs(po - full)))
        out["methods"][meth] = r
        print(f"reduced {design} {M}x{I} {meth:8s}: " + " ".join(f"{k} {v:.4f}" for k, v in r.items()), flush=True)
    ad = m.select_items(K, method="adaptive", responses=test, se_stop=1e-3)
    out["methods"]["adaptive"] = {"pirt": float(np.mean(np.abs(ad["pirt"].to_numpy() - full)))}
    print(f"reduced {design} {M}x{I} adaptive: pirt {out['methods']['adaptive']['pirt']:.4f}", flush=True)
    return out


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
    ap.add_argument("--accuracy-only", action="store_true",
                    help="run only the recovery and reduced-set sections; keep the timing results of irt.json")
    args = ap.parse_args()
    info = lawfit.build_info()
    res = {"machine": {"cpu_threads": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version(), "lawfit": info["version"],
                       "compiler": info["compiler"], "simd": info["simd"]}}
    res["designs"] = DESIGNS
    res["recovery"] = recovery([(200, 1000), (400, 1000), (1000, 20)] if not args.quick else [(200, 1000)])
    big = 2000 if args.quick else 14042
    res["reduced_set"] = [reduced_set(400, I_, d) for d in ["U(0.5,2.5)", "LN(0,0.5)"] for I_ in (1000, big)]
    path = os.path.join(HERE, "results", "irt.json")
    if args.accuracy_only:
        with open(path) as f:
            old = json.load(f)
        res["irt"], res["passk"] = old["irt"], old["passk"]
        res["timings_from_previous_run"] = True
        write(res, args.mml_items)
        return
    M, I = (400, 3000) if args.quick else (400, 30000)
    Y, a, b, th = simulate(M, I)
    res["irt"] = {"models": M, "items": I, "design": "2PL, theta~N(0,1), a~U(0.5,2.5), b~N(0,1)"}

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

    write(res, sub)


def write(res, sub):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "irt.json"), "w") as f:
        json.dump(res, f, indent=2)
    r = res["irt"]
    M, I, P, nk = r["models"], r["items"], res["passk"]["problems"], res["passk"]["k_values"]
    mach = f"{res['machine']['cpu_threads']} CPU threads, {platform.machine()}, shared machine"
    md = (
        f"- 2PL fit, {M} models x {I} items: lawfit {r['lawfit']['seconds']:.2f} s vs girth twopl_jml "
        f"{r['girth_jml']['seconds']:.0f} s (**{r['speedup_vs_girth_jml']:.0f}x**) and girth twopl_mml "
        f"~{r['girth_mml']['seconds_extrapolated']:.0f} s (timed on {sub} items, extrapolated linearly; "
        f"**{r['speedup_vs_girth_mml_extrapolated']:.0f}x**); discrimination recovery corr lawfit "
        f"{r['lawfit']['corr_a']:.3f}, girth JML {r['girth_jml']['corr_a']:.3f}.\n"
        f"- pass@k grid, {P} problems x {nk} k: lawfit {res['passk']['lawfit_seconds'] * 1e3:.1f} ms vs the "
        f"per-problem numpy loop {res['passk']['numpy_loop_seconds']:.1f} s (**{res['passk']['speedup']:.0f}x**), "
        f"max difference {res['passk']['max_abs_diff']:.1e}.\n"
        f"- Machine: {mach}; Python {res['machine']['python']}, {res['machine']['compiler']}.\n"
    )
    md += "\n### Item-parameter recovery (2PL, theta ~ N(0, 1); correlation with the true values)\n\n"
    md += ("| design | models x items | corr a: joint MAP | MML-EM | oracle (true abilities) | corr b: joint MAP "
           "| MML-EM | oracle |\n|---|---|---|---|---|---|---|---|\n")
    for row in res["recovery"]:
        md += (f"| {row['design']} | {row['models']} x {row['items']} | {row['jmap']['corr_a']:.3f} | "
               f"{row['mml']['corr_a']:.3f} | {row['oracle']['corr_a']:.3f} | {row['jmap']['corr_b']:.3f} | "
               f"{row['mml']['corr_b']:.3f} | {row['oracle']['corr_b']:.3f} |\n")
    md += "\nDesigns: " + "; ".join(f"{k}: {v}" for k, v in res["designs"].items()) + ".\n"
    md += ("\n### Reduced-set estimates (100 anchors; IRT fitted on 300 models, MAE of the full score over the other "
           "100)\n\n| design | items | anchors | naive | anchor | IRT | p-IRT | gp-IRT | oracle p-IRT | unseen-noise sd "
           "|\n|---|---|---|---|---|---|---|---|---|---|\n")
    for r_ in res["reduced_set"]:
        for meth, v in r_["methods"].items():
            if meth == "adaptive":
                md += (f"| {r_['design']} | {r_['items']} | adaptive (per model) | | | | {v['pirt']:.4f} | | | "
                       f"{r_['unseen_noise_sd']:.4f} |\n")
                continue
            md += (f"| {r_['design']} | {r_['items']} | {meth} | {v['naive']:.4f} | {v['anchor']:.4f} | {v['irt']:.4f} | "
                   f"{v['pirt']:.4f} | {v['gpirt']:.4f} | {v['oracle_pirt']:.4f} | {r_['unseen_noise_sd']:.4f} |\n")
    if res.get("timings_from_previous_run"):
        md += "\n(The timing lines above are from the previous full run; this run measured accuracy only.)\n"
    with open(os.path.join(HERE, "results", "irt.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
