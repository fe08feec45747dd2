"""Benchmark: a user-written formula (lawfit.Law) against the built-in law it spells out.

Two problems, each fitted with the built-in law, with the formula compiled to native code (lawfit._jit,
native=True) and with the formula on the bytecode evaluator (native=False), interleaved, best of --repeat:
- the Chinchilla fit (240 points of lawfit.datasets.synthetic_chinchilla, Huber delta=1e-3 in log space, as
  Hoffmann et al. 2022) from an explicit grid of 500 starts: "chinchilla" vs lawfit.Law("E + A*N^-alpha + B*D^-beta");
- --curves power-law curves (20 points, one start each, l2: VarPro): "power_law" vs lawfit.Law("E + A*x^-alpha").
Writes bench/results/formula.json and bench/results/formula.md.

    PYTHONPATH=python python bench/bench_formula.py [--threads 1] [--repeat 3] [--curves 100000]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import platform
import time

import numpy as np
import pandas as pd

import lawfit

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def starts_grid() -> pd.DataFrame:
    """500 starts: 10 alpha x 10 beta x 5 (A, B) pairs, E = 1.5."""
    ab = [(1e2, 1e2), (1e3, 1e3), (1e2, 1e3), (1e3, 1e2), (1e4, 1e4)]
    exps = np.round(np.linspace(0.05, 1.4, 10), 4)
    rows = [(1.5, a, b, al, be) for (a, b), al, be in itertools.product(ab, exps, exps)]
    return pd.DataFrame(rows, columns=["E", "A", "B", "alpha", "beta"])


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_of(fn, repeat: int) -> tuple:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def power_law_batch(B: int, n: int = 20, seed: int = 0) -> tuple:
    """B power-law curves (bench_peers' data: 1% noise, starts at the truth x U(0.8, 1.2))."""
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(0.5, 2, B), rng.uniform(1, 10, B), rng.uniform(0.2, 1.0, B)])
    x = np.geomspace(1, 1000, n)
    y = (truth[:, :1] + truth[:, 1:2] * x ** -truth[:, 2:3]) * (1 + 0.01 * rng.standard_normal((B, n)))
    p0 = truth * rng.uniform(0.8, 1.2, truth.shape)
    df = pd.DataFrame({"curve": np.repeat(np.arange(B), n), "x": np.tile(x, B), "y": y.ravel()})
    starts = pd.DataFrame({"curve": np.arange(B), "E": p0[:, 0], "A": p0[:, 1], "alpha": p0[:, 2]})
    return df, starts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--curves", type=int, default=100_000, help="power-law curves of the many-curves problem")
    args = ap.parse_args()

    # 1. Chinchilla, one curve, 500 starts, Huber in log space.
    df = lawfit.datasets.synthetic_chinchilla(n=240)
    starts = starts_grid()
    chin = dict(formula="E + A*N^-alpha + B*D^-beta", inputs=["N", "D"], params=["E", "A", "B", "alpha", "beta"],
                scale={"E": "log", "A": "log", "B": "log"},
                bounds={"E": (0, None), "A": (0, None), "B": (0, None), "alpha": (0, 5), "beta": (0, 5)})
    # 2. power law, many curves, one start each, l2 (VarPro).
    pdf, pstarts = power_law_batch(args.curves)
    plaw = dict(formula="E + A*x^-alpha", inputs=["x"], params=["E", "A", "alpha"], scale={"A": "log"},
                bounds={"A": (0, None), "alpha": (0, 10)})
    problems = {
        "chinchilla": ("chinchilla", chin, df, dict(x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log",
                                                     starts=starts, threads=args.threads),
                       f"Chinchilla, 240 points, {len(starts)} starts, Huber(1e-3) in log space"),
        "power_law": ("power_law", plaw, pdf, dict(x="x", y="y", by="curve", starts=pstarts, threads=args.threads),
                      f"power law, {args.curves:,} curves x 20 points, one start each, l2"),
    }
    out = {"threads": args.threads, "repeat": args.repeat, "problems": {}}
    md = ["**Formula laws** (`bench/bench_formula.py`): a `lawfit.Law` formula against the built-in law it spells "
          f"out, {args.threads} thread(s), best of {args.repeat}, timed in one run.", "",
          "| problem | built-in law | formula, native (compiled) | formula, bytecode | native / built-in | "
          "bytecode / built-in | parameters vs the built-in's: native; bytecode (max rel. diff, curves above 1e-8) |",
          "|---|---|---|---|---|---|---|"]
    for name, (builtin, spec, data, kw, what) in problems.items():
        spec = dict(spec)
        formula, inputs = spec.pop("formula"), spec.pop("inputs")
        native = lawfit.Law(formula, inputs=inputs, native=True, **spec)
        t0 = time.perf_counter()
        native.compile()
        t_compile = time.perf_counter() - t0
        bytecode = lawfit.Law(formula, inputs=inputs, native=False, **spec)
        fits = {"builtin": lambda: lawfit.fit(data, builtin, **kw), "native": lambda: lawfit.fit(data, native, **kw),
                "bytecode": lambda: lawfit.fit(data, bytecode, **kw)}
        times = {k: [] for k in fits}
        res = {}
        for _ in range(args.repeat):  # interleaved
            for k, fn in fits.items():
                t, res[k] = best_of(fn, 1)
                times[k].append(t)
        t = {k: min(v) for k, v in times.items()}
        ref_p, ref_c = res["builtin"].params.to_numpy(), res["builtin"].objective.to_numpy()
        diff = {k: np.max(np.abs(res[k].params.to_numpy() / ref_p - 1), axis=1) for k in ("native", "bytecode")}
        same = {k: bool(np.all(diff[k] <= 1e-8)) for k in diff}
        agree = {k: {"max_rel_param_diff": float(diff[k].max()), "curves_above_1e-8": int(np.sum(diff[k] > 1e-8)),
                     "max_rel_objective_diff": float(np.max(np.abs(res[k].objective.to_numpy() / ref_c - 1)))}
                 for k in diff}
        out["problems"][name] = {
            "what": what, "time_builtin_s": t["builtin"], "time_native_s": t["native"],
            "time_bytecode_s": t["bytecode"], "times_s": times, "native_over_builtin": t["native"] / t["builtin"],
            "bytecode_over_builtin": t["bytecode"] / t["builtin"], "same_params_rtol_1e-8": same,
            "agreement_with_builtin": agree,
            "compile_or_load_s": t_compile, "native_status": native.native_status,
            "tape_length": int(len(native.tape["op"])),
        }
        md.append(f"| {what} | {t['builtin'] * 1e3:.1f} ms | {t['native'] * 1e3:.1f} ms | {t['bytecode'] * 1e3:.1f} ms "
                  f"| **{t['native'] / t['builtin']:.2f}x** | {t['bytecode'] / t['builtin']:.2f}x | "
                  + "; ".join(f"{agree[k]['max_rel_param_diff']:.1e}, {agree[k]['curves_above_1e-8']}"
                              for k in ("native", "bytecode")) + " |")
    info = lawfit.build_info()
    out["machine"] = {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "compiler": info.get("compiler"),
        "cpu_level": info.get("cpu_level"),
        "lawfit": info.get("version"),
    }
    md += ["", "The native formula is compiled once (lawfit._jit; the compile or cache load took "
           + ", ".join(f"{v['compile_or_load_s']:.1f} s ({k})" for k, v in out["problems"].items())
           + ") and cached on disk. The built-in power_law takes log x once per point (a prepare step), the formula "
           "evaluates x^-alpha as written.",
           f"Machine: {out['machine']['cpu']}, {out['machine']['cpu_count']} CPUs, {out['machine']['compiler']}, "
           f"kernel level {out['machine']['cpu_level']}."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "formula.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "formula.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
