"""Benchmark: 10^7 grid configurations x 1,000 chinchilla parameter samples reduced to the per-sample optimum
(minimum loss within a FLOP budget), lawfit's fused kernel vs a chunked numpy implementation of the same
computation (bench/baselines/cost_numpy.py). Each implementation runs in its own subprocess so its peak RSS is
its own. lawfit runs all 1,000 samples twice: exhaustive (prune=False: every admissible configuration for every
sample) and with dominance pruning (the default). The numpy baselines run on a subset of the samples and are
scaled linearly to 1,000 samples (said in the output): the factored one is lawfit's algorithm (terms tabulated per
distinct N and D), the direct one evaluates the law per (sample, configuration); the faster is the reference.
All answers are checked against lawfit's.

    PYTHONPATH=python python bench/bench_cost_grid.py
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
AXES = {
    "n_layers": np.arange(4, 204, 2.0),  # 100
    "d_model": np.arange(256, 16640, 128.0),  # 128
    "tokens": np.geomspace(1e9, 1e13, 782),  # 782 -> 10,009,600 configurations
}
ORDER = ["n_layers", "d_model", "tokens"]  # lawfit.cost.FIELDS order restricted to the axes used
N_HEADS = 8.0
BUDGET = 1e22
INFERENCE = 1e11
N_SAMPLES = 1000


def samples():
    rng = np.random.default_rng(0)
    p0 = np.array([1.69337368, 406.401018, 410.722827, 0.33917084, 0.2849083])
    return p0 * (1 + 0.03 * rng.standard_normal((N_SAMPLES, 5)))


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def part_lawfit(prune: bool, n: int):
    import lawfit

    fit = _fit(lawfit)
    S = samples()[:n]
    base = peak_mb()
    g = lawfit.cost.grid(n_layers=AXES["n_layers"], d_model=AXES["d_model"], n_heads=N_HEADS, tokens=AXES["tokens"])
    t = time.perf_counter()
    out = lawfit.plan(fit, BUDGET, grid=g, samples=S[None], inference_tokens=INFERENCE, prune=prune)
    dt = time.perf_counter() - t
    per = out.attrs["samples"]
    return {"seconds": dt, "samples": n, "configs": g.size, "peak_rss_mb": peak_mb(), "rss_before_mb": base,
            "index": per["index"].tolist()}


def _fit(lawfit):
    df = lawfit.datasets.synthetic_chinchilla(noise=0.0)
    return lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")


def part_numpy(kind: str, n: int):
    sys.path.insert(0, os.path.join(HERE, "baselines"))
    import cost_numpy as cn

    reduce = cn.per_sample_argmin_factored if kind == "factored" else cn.per_sample_argmin
    S = samples()[:n]
    base = peak_mb()
    t = time.perf_counter()
    cols = cn.grid_columns(AXES, ORDER)
    N, C = cn.cost_table(cols["n_layers"], cols["d_model"], N_HEADS, cols["tokens"], inference_tokens=INFERENCE)
    setup = time.perf_counter() - t
    t1 = time.perf_counter()
    reduce(S[:1], N, cols["tokens"], C, BUDGET)  # fixed part of the reduction (admissible set, distinct values)
    one = time.perf_counter() - t1
    t1 = time.perf_counter()
    arg, best = reduce(S, N, cols["tokens"], C, BUDGET)
    dt = time.perf_counter() - t1
    return {"seconds_setup": setup, "seconds_1": one, "seconds_n": dt, "samples": n, "peak_rss_mb": peak_mb(),
            "rss_before_mb": base, "index": arg.tolist()}


def run(part: str, *args) -> dict:
    env = dict(os.environ)
    r = subprocess.run([sys.executable, __file__, part, *map(str, args)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    n_np = int(os.environ.get("LAWFIT_BENCH_NUMPY_SAMPLES", "64"))
    ex = run("lawfit", 0, N_SAMPLES)
    lf = run("lawfit", 1, N_SAMPLES)
    npf = run("numpy", "factored", n_np)
    npd = run("numpy", "direct", n_np)

    # Both numpy runs build the same cost table: take the faster of the two measurements (shared machine noise).
    setup = min(npf["seconds_setup"], npd["seconds_setup"])

    def scaled(r):  # setup + the 1-sample reduction + the per-sample increment for the other 999 samples
        per = (r["seconds_n"] - r["seconds_1"]) / (n_np - 1)
        return setup + r["seconds_1"] + per * (N_SAMPLES - 1)

    np_f, np_d = scaled(npf), scaled(npd)
    np_ref = min(np_f, np_d)
    agree = {"numpy_factored": lf["index"][:n_np] == npf["index"], "numpy_direct": lf["index"][:n_np] == npd["index"],
             "exhaustive_vs_pruned": lf["index"] == ex["index"]}
    res = {
        "task": f"{lf['configs']:,} grid configurations x {N_SAMPLES} chinchilla samples -> per-sample argmin loss "
                f"within {BUDGET:g} FLOPs (training + {INFERENCE:g} inference tokens)",
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} logical CPUs (shared), "
                   f"{platform.python_implementation()} {platform.python_version()}, numpy {np.__version__}",
        "lawfit_exhaustive_seconds": ex["seconds"],
        "lawfit_exhaustive_peak_rss_mb": ex["peak_rss_mb"],
        "lawfit_pruned_seconds": lf["seconds"],
        "lawfit_pruned_peak_rss_mb": lf["peak_rss_mb"],
        "lawfit_rss_before_mb": lf["rss_before_mb"],
        "numpy_factored_seconds_scaled": np_f,
        "numpy_factored_measured": {k: npf[k] for k in ("samples", "seconds_setup", "seconds_1", "seconds_n",
                                                        "peak_rss_mb")},
        "numpy_direct_seconds_scaled": np_d,
        "numpy_direct_measured": {k: npd[k] for k in ("samples", "seconds_setup", "seconds_1", "seconds_n",
                                                      "peak_rss_mb")},
        "numpy_reference_seconds": np_ref,
        "speedup_exhaustive_vs_numpy": np_ref / ex["seconds"],
        "speedup_pruned_vs_numpy": np_ref / lf["seconds"],
        "answers_agree": {k: bool(v) for k, v in agree.items()},
        "notes": "lawfit measured on all 1,000 samples (end to end: lawfit.plan builds the grid cost table and the "
                 "scan lists, then reduces the point estimate and the samples in one native call). numpy timed on "
                 f"{n_np} samples and scaled linearly to 1,000 (cost table, the faster of its two identical measurements, "
                 "and the 1-sample reduction counted once, "
                 "the per-sample increment x 999); the reference is the faster numpy variant. Exhaustive: every "
                 "admissible configuration scanned for every sample; pruned: configurations whose (N, D) is "
                 "dominated skipped, exact for strictly decreasing laws (checked per sample). No samples x grid "
                 "array is ever built: numpy blocks hold <= 4M elements; lawfit stores O(models + tokens) arrays "
                 "(model-level cost terms once per (n_layers, d_model, ...) model, configurations visited by a "
                 "linear pass) plus, exhaustive, one (model, run of admissible tokens) record per run. "
                 "Peak RSS is the process's (Python, numpy, pandas and the extension included).",
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "cost.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(HERE, "results", "cost.md"), "w") as f:
        f.write(f"cost grid planning, {res['task']}; {res['machine']}\n")
        f.write(f"lawfit exhaustive (prune=False) {ex['seconds']:.2f} s (peak RSS {ex['peak_rss_mb']:.0f} MB), "
                f"pruned (default) {lf['seconds']:.2f} s (peak RSS {lf['peak_rss_mb']:.0f} MB), all 1,000 samples "
                f"measured; identical answers: {agree['exhaustive_vs_pruned']}\n")
        f.write(f"chunked numpy, scaled from {n_np} samples: factored (lawfit's algorithm) {np_f:.1f} s "
                f"(peak RSS {npf['peak_rss_mb']:.0f} MB), direct (law per pair) {np_d:.1f} s "
                f"(peak RSS {npd['peak_rss_mb']:.0f} MB); answers identical: {agree['numpy_factored']}, "
                f"{agree['numpy_direct']}; of which the numpy cost table (counted once) {setup:.1f} s\n")
        f.write(f"speedup vs the faster numpy ({np_ref:.1f} s): exhaustive {res['speedup_exhaustive_vs_numpy']:.0f}x, "
                f"pruned {res['speedup_pruned_vs_numpy']:.0f}x\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "lawfit":
        print(json.dumps(part_lawfit(bool(int(sys.argv[2])), int(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "numpy":
        print(json.dumps(part_numpy(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
