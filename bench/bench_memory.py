"""Benchmark: peak memory of lawfit.fit on 10^6 power_law curves x 20 points (20M rows, 480 MB of input: int64
curve ids, float64 x, float64 y), from a dict of numpy arrays, a pyarrow Table and a pandas DataFrame.

Each case runs in a fresh subprocess: build the input, import lawfit and warm it up on a tiny fit, give the heap's
free pages back (glibc ``malloc_trim(0)``: the build's freed temporaries must not sit in the baseline where the fit
could reuse them unseen), reset the process's high-water mark (``/proc/self/clear_refs`` <- "5": VmHWM := VmRSS),
read VmRSS (the baseline: Python, numpy, pandas, pyarrow, the extension and the input), call ``lawfit.fit`` and keep
its result, then read VmHWM (the peak during the call). The figure is

    (peak RSS during fit - RSS just before fit) / input bytes

i.e. the extra memory the call needs beyond holding the input, the result it returns included. Where clear_refs
is not writable, ru_maxrss is used instead (the process's peak, the input's build included: then the figure is
only an upper bound of the fit's own; the JSON says which was used).

Layouts: "sorted" (rows grouped by curve, curves in key order, the usual layout), "grouped" (rows grouped by curve,
the curves in a random order), "shuffled" (rows in a random order: lawfit must reorder them).

    PYTHONPATH=python python bench/bench_memory.py [--tag after] [--only fit|cost]  # -> bench/results/memory.{json,md}
    PYTHONPATH=python python bench/bench_memory.py one dict sorted 1000000   # one fit case, printed as JSON
    PYTHONPATH=python python bench/bench_memory.py cost stream               # one cost.evaluate case

The second part measures lawfit.cost.evaluate the same way against the bytes of its output (see COST_AXES).
"""
from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
CURVES = 1_000_000
POINTS = 20


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _malloc_trim() -> bool:
    """Give the heap's free pages back to the system (glibc), so that the baseline RSS holds no freed memory that
    the fit could reuse unseen (the build's temporaries raise glibc's mmap threshold to 32 MB)."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) or True)
    except (OSError, AttributeError):
        return False


def _peak_kb(hwm: bool) -> int:
    return _status_kb("VmHWM") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def build(curves: int, layout: str) -> dict:
    """{"curve": int64, "x": float64, "y": float64}, 20 points per curve, built column by column."""
    rng = np.random.default_rng(0)
    n = curves * POINTS
    if layout == "sorted":
        curve = np.repeat(np.arange(curves, dtype=np.int64), POINTS)
        pos = None
    elif layout == "grouped":
        curve = np.repeat(rng.permutation(curves).astype(np.int64), POINTS)
        pos = None
    elif layout == "shuffled":
        perm = rng.permutation(n)
        curve = (perm // POINTS).astype(np.int64)
        pos = perm % POINTS
        del perm
    else:
        raise ValueError(layout)
    grid = np.geomspace(1.0, 1000.0, POINTS)
    x = np.tile(grid, curves) if pos is None else grid[pos]
    # y = a x^-b + c, per-curve truth from the curve id, 1% noise; computed in place to keep the build small.
    a = 2.0 + (curve % 7) * 0.1
    y = np.power(x, -0.5)
    y *= a
    del a
    y += 0.3
    y *= 1.0 + 0.01 * rng.standard_normal(n)
    return {"curve": curve, "x": x, "y": y}


def one(kind: str, layout: str, curves: int) -> dict:
    import lawfit

    cols = build(curves, layout)
    nbytes = sum(v.nbytes for v in cols.values())
    if kind == "dict":
        data = cols
    elif kind == "arrow":
        import pyarrow as pa

        data = pa.table(cols)  # zero-copy: the table's buffers are the numpy arrays
    elif kind == "pandas":
        import pandas as pd

        data = pd.DataFrame(cols, copy=False)
    else:
        raise ValueError(kind)
    del cols
    small = {"curve": np.repeat(np.arange(3), 5), "x": np.tile(np.arange(1.0, 6.0), 3)}
    small["y"] = 2.0 * small["x"] ** -0.5 + 0.3
    lawfit.fit(small, "power_law", x="x", y="y", by="curve")  # warm up (imports, caches)
    gc.collect()
    trimmed = _malloc_trim()
    hwm = _reset_hwm()
    before = _status_kb("VmRSS")
    t = time.perf_counter()
    res = lawfit.fit(data, "power_law", x="x", y="y", by="curve")
    dt = time.perf_counter() - t
    peak = _peak_kb(hwm)
    after = _status_kb("VmRSS")
    conv = float(np.mean(res.ok))
    extra = (peak - before) * 1024.0
    return {"kind": kind, "layout": layout, "curves": curves, "rows": curves * POINTS, "input_bytes": nbytes,
            "rss_before_mb": before / 1024.0, "peak_rss_mb": peak / 1024.0, "rss_after_mb": after / 1024.0,
            "peak_extra_mb": extra / 2**20, "ratio": extra / nbytes, "held_after_ratio": (after - before) * 1024.0 / nbytes,
            "seconds": dt, "converged_fraction": conv, "method": "VmHWM after clear_refs" if hwm else "ru_maxrss",
            "malloc_trim": trimmed}


def run_case(kind: str, layout: str, curves: int) -> dict:
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "one", kind, layout, str(curves)],
                       capture_output=True, text=True, env=dict(os.environ))
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


# cost.evaluate: the grid of bench_cost_grid.py (100 n_layers x 128 d_model x 782 tokens, n_heads 8: 10,009,600
# configurations); the stream: the same with 7,820 tokens (100,096,000 configurations).
COST_AXES = {"n_layers": np.arange(4, 204, 2.0), "d_model": np.arange(256, 16640, 128.0), "n_heads": 8.0}


def one_cost(case: str) -> dict:
    from lawfit import cost

    tokens = 7820 if case == "stream" else 782
    g = cost.grid(**COST_AXES, tokens=np.geomspace(1e9, 1e13, tokens))
    cost.evaluate(cost.grid(n_layers=[4], d_model=[256], n_heads=8, tokens=[1e9]))  # warm up
    gc.collect()
    _malloc_trim()
    hwm = _reset_hwm()
    before = _status_kb("VmRSS")
    t = time.perf_counter()
    if case == "default":  # default outputs, configuration columns, a DataFrame
        out = cost.evaluate(g)
        nbytes = int(out.memory_usage(index=False).sum())
    elif case == "all_arrays":  # every output, no configuration columns, a dict of arrays
        out = cost.evaluate(g, outputs="all", as_frame=False)
        nbytes = int(sum(v.nbytes for k, v in out.items() if isinstance(v, np.ndarray)))
    elif case == "stream":  # iter_evaluate, default outputs: the cheapest configuration within the memory
        best, nbytes = (np.inf, -1), 0
        for part in cost.iter_evaluate(g, chunk_rows=1 << 20):
            c = part["cost_usd"].to_numpy()
            c = np.where(part["fits_memory"].to_numpy(), c, np.inf)
            j = int(np.argmin(c))
            best = min(best, (float(c[j]), int(part.index[j])))
            nbytes = max(nbytes, int(part.memory_usage(index=False).sum()))
        out = best
    else:
        raise ValueError(case)
    dt = time.perf_counter() - t
    peak = _peak_kb(hwm)
    extra = (peak - before) * 1024.0
    return {"case": case, "configurations": g.size, "output_bytes": nbytes, "rss_before_mb": before / 1024.0,
            "peak_rss_mb": peak / 1024.0, "peak_extra_mb": extra / 2**20, "ratio": extra / nbytes, "seconds": dt,
            "method": "VmHWM after clear_refs" if hwm else "ru_maxrss"}


def run_cost_case(case: str) -> dict:
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "cost", case], capture_output=True, text=True,
                       env=dict(os.environ))
    if r.returncode != 0:
        return {"case": case, "error": r.stderr.strip().splitlines()[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


COST_CASES = ["default", "all_arrays", "stream"]

CASES = [("dict", "sorted"), ("arrow", "sorted"), ("pandas", "sorted"), ("dict", "grouped"), ("arrow", "grouped"),
         ("dict", "shuffled")]


def _table(rows: list) -> str:
    out = ["| input | layout | RSS before fit | peak during fit | peak extra | **extra / input** | held after / input | fit time |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['kind']} | {r['layout']} | {r['rss_before_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB | "
                   f"{r['peak_extra_mb']:.0f} MB | **{r['ratio']:.2f}x** | {r['held_after_ratio']:.2f}x | "
                   f"{r['seconds']:.1f} s |")
    return "\n".join(out)


def write_md(res: dict) -> None:
    m = res["machine"]
    lines = [f"Peak memory of `{res['call']}` on {res['curves']:,} curves x {POINTS} points ({res['rows']:,} rows; "
             f"int64 curve ids, float64 x, float64 y: {res['input_bytes'] / 1e6:.0f} MB of input). "
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}.",
             "",
             "**Measure:** " + res["measure"] + ".",
             "",
             "**Fit time** is a single run on a shared 2-core machine while other jobs ran (the default start grid "
             "on noisy curves); it is not a speed figure (see bench_core.py for those).",
             "",
             "**Layouts:** sorted = rows grouped by curve, curves in key order (the usual layout); grouped = rows "
             "grouped by curve, curves in a random order; shuffled = rows in a random order (lawfit gathers them). "
             "Inputs: a dict of numpy arrays, a pyarrow Table over the same arrays (zero-copy), a pandas DataFrame "
             "built with copy=False.",
             ""]
    for tag, run in res["runs"].items():
        if run.get("cases"):
            lines += [f"#### fit, {tag}", "", run.get("note", ""), "", _table(run["cases"]), ""]
    lines += ["#### cost.evaluate",
              "",
              "`cost.evaluate` on 10,009,600 configurations (n_layers 100 x d_model 128 x tokens 782, n_heads 8): "
              "default outputs as a DataFrame with the configuration columns; every output as a dict of arrays "
              "(as_frame=False); and `cost.iter_evaluate` over 100,096,000 configurations (tokens 7,820; chunk_rows "
              "2**20; default outputs; each chunk reduced to the cheapest configuration that fits in memory). "
              "Figure: (peak RSS - RSS before) / the bytes of the output (of the largest chunk for the stream), "
              "measured as above. Times are single runs on a shared machine.",
              "",
              "| code | case | configurations | output | peak extra | **peak extra / output** | time |",
              "|---|---|---|---|---|---|---|"]
    from lawfit import cost

    per = cost._bytes_per_config(cost.DEFAULT_OUTPUTS, True)
    for tag, run in res["runs"].items():
        for r in run.get("cost_cases", []):
            if "error" in r:
                why = "no iter_evaluate in this version" if "iter_evaluate" in r["error"] else r["error"][:80]
                lines.append(f"| {tag} | {r['case']} | - | - | - | {why} | - |")
                continue
            lines.append(f"| {tag} | {r['case']} | {r['configurations']:,} | {r['output_bytes'] / 1e6:,.0f} MB | "
                         f"{r['peak_extra_mb'] * 2**20 / 1e6:,.0f} MB | **{r['ratio']:.3f}x** | {r['seconds']:.1f} s |")
    stream = [r for run in res["runs"].values() for r in run.get("cost_cases", []) if r.get("case") == "stream"
              and "error" not in r]
    if stream:
        lines += ["", f"The stream's output column is its largest chunk; `cost.evaluate` of the whole "
                      f"{stream[-1]['configurations']:,}-configuration grid would hold "
                      f"{stream[-1]['configurations'] * per / 1e9:.1f} GB ({per:.0f} bytes a configuration). The "
                      "stream's peak is about two chunks: the caller's previous chunk is alive while the next is "
                      "built."]
    lines.append("")
    with open(os.path.join(HERE, "results", "memory.md"), "w") as f:
        f.write("\n".join(lines).replace("\n\n\n", "\n\n"))


def main():
    import argparse

    from _machine import machine

    ap = argparse.ArgumentParser()
    ap.add_argument("--tag", default="after", help="the name of this run in memory.json (e.g. 'before')")
    ap.add_argument("--note", default="", help="one line on the code measured")
    ap.add_argument("--only", choices=["fit", "cost"], help="run only the fit or the cost cases")
    a = ap.parse_args()
    curves = int(os.environ.get("LAWFIT_BENCH_CURVES", CURVES))
    rows = []
    print(f"{'input':8s} {'layout':9s} {'before MB':>10s} {'peak MB':>9s} {'extra MB':>9s} {'extra/input':>12s} "
          f"{'held/input':>11s} {'time s':>7s}")
    for kind, layout in (CASES if a.only != "cost" else []):
        r = run_case(kind, layout, curves)
        rows.append(r)
        print(f"{kind:8s} {layout:9s} {r['rss_before_mb']:10.0f} {r['peak_rss_mb']:9.0f} {r['peak_extra_mb']:9.0f} "
              f"{r['ratio']:12.2f} {r['held_after_ratio']:11.2f} {r['seconds']:7.2f}", flush=True)
    cost_rows = []
    for case in (COST_CASES if a.only != "fit" else []):
        r = run_cost_case(case)
        cost_rows.append(r)
        print(f"cost {case:10s} " + (r["error"] if "error" in r else
              f"{r['configurations']:,} configurations, output {r['output_bytes'] / 1e6:,.0f} MB, peak extra "
              f"{r['peak_extra_mb'] * 2**20 / 1e6:,.0f} MB = {r['ratio']:.3f}x the output, {r['seconds']:.1f} s"),
              flush=True)
    path = os.path.join(HERE, "results", "memory.json")
    res = {}
    if os.path.exists(path):
        with open(path) as f:
            res = json.load(f)
        if res.get("curves") != curves:
            res = {}
    res.update({"call": "lawfit.fit(data, 'power_law', x='x', y='y', by='curve')", "curves": curves,
                "rows": curves * POINTS, "input_bytes": curves * POINTS * 24,
                "measure": "(peak RSS during fit - RSS just before fit) / input bytes: the memory the call needs beyond "
                           "holding the input, the result it returns included (about 160 bytes a curve: parameters, "
                           "covariances, statuses, keys, offsets = 0.33x here). Each case in a fresh process: build the "
                           "input, warm lawfit up on a tiny fit, malloc_trim(0) (so that no freed heap memory hides "
                           "in the baseline), reset the high-water mark (/proc/self/clear_refs <- 5), read VmRSS, call "
                           "fit and keep its result, read VmHWM. 'held after' is VmRSS after the call over the input",
                "machine": machine()})
    run = res.setdefault("runs", {}).setdefault(a.tag, {})
    run["note"] = a.note or run.get("note", "")
    if rows:
        run["cases"] = rows
    if cost_rows:
        run["cost_cases"] = cost_rows
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    write_md(res)
    return res


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        print(json.dumps(one(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "cost":
        print(json.dumps(one_cost(sys.argv[2])))
    else:
        main()
