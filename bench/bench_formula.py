"""Benchmark: a user-written formula (lawfit.Law) against the built-in law it spells out.

The same Chinchilla fit (240 points of lawfit.datasets.synthetic_chinchilla, Huber delta=1e-3 in log space,
as Hoffmann et al. 2022) from the same explicit grid of 500 starts, once with the built-in "chinchilla" law
and once with lawfit.Law("E + A*N^-alpha + B*D^-beta"). Each is timed best of 3 in one run; the script
prints the figures and writes bench/results/formula.json and bench/results/formula.md.

    PYTHONPATH=python python bench/bench_formula.py [--threads 1] [--repeat 3]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    df = lawfit.datasets.synthetic_chinchilla(n=240)
    starts = starts_grid()
    law = lawfit.Law(
        "E + A*N^-alpha + B*D^-beta",
        inputs=["N", "D"],
        params=["E", "A", "B", "alpha", "beta"],
        scale={"E": "log", "A": "log", "B": "log"},
        bounds={"E": (0, None), "A": (0, None), "B": (0, None), "alpha": (0, 5), "beta": (0, 5)},
    )
    kw = dict(x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", starts=starts, threads=args.threads)
    t_b, r_b = best_of(lambda: lawfit.fit(df, "chinchilla", **kw), args.repeat)
    t_f, r_f = best_of(lambda: lawfit.fit(df, law, **kw), args.repeat)
    same = bool(np.allclose(r_f.params.to_numpy(), r_b.params.to_numpy(), rtol=1e-8, atol=0))
    ratio = t_f / t_b
    info = lawfit.build_info()
    out = {
        "benchmark": "chinchilla fit, 240 points, 500 explicit starts, huber(1e-3) in log space, best of "
        f"{args.repeat}",
        "n_points": int(len(df)),
        "n_starts": int(len(starts)),
        "threads": args.threads,
        "time_builtin_s": t_b,
        "time_formula_s": t_f,
        "ratio": ratio,
        "same_params_rtol_1e-8": same,
        "params_builtin": r_b.params.iloc[0].to_dict(),
        "params_formula": r_f.params.iloc[0].to_dict(),
        "tape_length": int(len(law.tape["op"])),
        "machine": {
            "cpu": cpu_name(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "compiler": info.get("compiler"),
            "simd": info.get("simd"),
            "lawfit": info.get("version"),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "formula.json").write_text(json.dumps(out, indent=2) + "\n")
    md = (
        f"**Formula laws** (`bench/bench_formula.py`): the Chinchilla fit (240 points, {len(starts)} starts, "
        f"Huber in log space, {args.threads} thread(s), best of {args.repeat}) takes {t_b * 1e3:.1f} ms with the "
        f"built-in law and {t_f * 1e3:.1f} ms with `lawfit.Law(\"E + A*N^-alpha + B*D^-beta\")`.\n"
        f"Ratio formula / built-in: **{ratio:.2f}x** (target: within 3x); fitted parameters "
        f"{'identical to 1e-8' if same else 'DIFFER'} ({out['tape_length']}-instruction tape, reverse-mode AD).\n"
        f"Machine: {out['machine']['cpu']}, {out['machine']['cpu_count']} CPUs, {out['machine']['compiler']}.\n"
    )
    (RESULTS / "formula.md").write_text(md)
    print(json.dumps({k: out[k] for k in ("time_builtin_s", "time_formula_s", "ratio", "same_params_rtol_1e-8")}))
    print(md)


if __name__ == "__main__":
    main()
