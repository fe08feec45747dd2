"""A/B timing of two builds of the extension in one process (this VM's speed drifts by tens of percent over
minutes, so builds timed in separate runs cannot be compared).

    cp build/dev/_core*.so /tmp/before.so      # keep the old build
    scripts/dev-build                           # build the change
    PYTHONPATH=python python scripts/ab_core.py /tmp/before.so [--threads 1] [--curves 5000] [--repeats 60]

Fits the bench_core many-curves problem (power_law, 20 points per curve, the same starts) with both builds,
interleaved, and prints the best and 25th-percentile times of each and the largest parameter difference.
"""
import argparse
import importlib.machinery
import importlib.util
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
import lawfit  # noqa: E402
from bench_core import many_curves  # noqa: E402


def load(path: str):
    loader = importlib.machinery.ExtensionFileLoader("_core", path)
    spec = importlib.util.spec_from_file_location("_core", path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("other", help="path of the other build's _core*.so")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--curves", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=60)
    a = ap.parse_args()
    builds = {"other": load(a.other), "current": lawfit._native._core}
    df, p0 = many_curves(a.curves)
    spec = lawfit.get_law("power_law")
    kw = dict(offsets=np.arange(0, 20 * a.curves + 1, 20, dtype=np.int64),
              x=np.ascontiguousarray(df["x"].to_numpy()), y=np.ascontiguousarray(df["y"].to_numpy()),
              lower=np.array(spec.lower), upper=np.array(spec.upper), starts=np.ascontiguousarray(p0[:, None, :]),
              threads=a.threads)
    res = {k: m.fit_law("power_law", **kw)["params"] for k, m in builds.items()}
    diff = np.nanmax(np.abs(res["other"] - res["current"]) / np.abs(res["current"]))
    print(f"largest relative parameter difference: {diff:.3g}")
    times = {k: [] for k in builds}
    for _ in range(a.repeats):
        for k, m in builds.items():
            t0 = time.perf_counter()
            m.fit_law("power_law", **kw)
            times[k].append(time.perf_counter() - t0)
    for k, v in times.items():
        print(f"{k:8s} best {min(v) * 1e3:.2f} ms, p25 {np.percentile(v, 25) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
