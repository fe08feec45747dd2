"""Scale-out benchmark: lawfit.distributed on a local Dask cluster of 1 and 2 worker processes (1 thread each),
against the in-memory call on one thread, and a projection to 100 workers and 10^9 curves from the measured
per-curve costs, per-task overheads and shuffle throughput.

Sections (each can be skipped with --skip NAME):
  extrapolate  Domhan ensemble on LCBench curves cut at epoch 20, horizon 51 (--ex-curves, default 20,000: the 2,000
               LCBench trials replicated under new keys), compute=False (the per-curve summary, computed)
  bootstrap    power_law, 20 points a curve (--boot-curves 2,000 x --boot-n 1,000 pairs replicates): fit, then
               FitResult.bootstrap per partition; samples checked identical to the in-memory call's
  overhead     many tiny tasks (--tiny-tasks 200 partitions of 5 curves): the cost of a task beyond its work
  shuffle      regrouping alone (--shuffle-rows 4,000,000 rows of (run, step, loss)): shuffle throughput
  memory       (only with --memory-gib X) a Parquet dataset of X GiB fitted with compute=False and written back,
               workers limited to --worker-limit-gib each; peak RSS per worker sampled every 0.2 s

    PYTHONPATH=python python bench/bench_scaleout.py [--quick]
Writes bench/results/scaleout.json (--out to change). On a shared 2-core machine the 2-worker figures are bounded by
2 cores shared with the scheduler, the client and other users: the load average before and after is recorded.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import sys
import tempfile
import threading
import time

import numpy as np
import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402

import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

import lawfit  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def cluster(n: int, **kw):
    c = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                     silence_logs=logging.ERROR, **kw)
    return c, Client(c)


def task_times(ts) -> dict:
    """Compute seconds of lawfit's own tasks (per-partition work) and of everything else (shuffle, reads)."""
    ours, other, n_ours = 0.0, 0.0, 0
    for t in ts.data:
        d = sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
        key = str(t["key"])
        if "_payload_task" in key or "_frame_task" in key:
            ours += d
            n_ours += 1
        else:
            other += d
    return {"lawfit_task_s": ours, "lawfit_tasks": n_ours, "other_task_s": other}


def _cpu_s() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def worker_cpu(client) -> float:
    """CPU seconds used so far by the worker processes (user + system)."""
    return float(sum(client.run(_cpu_s).values()))


def timed(fn, repeat: int = 1):
    best = None
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def lcbench_curves(n: int) -> pd.DataFrame:
    lc = lawfit.datasets.lcbench()
    lc = lc[(lc["epoch"] >= 1) & (lc["epoch"] <= 20)][["trial", "epoch", "val_accuracy"]]
    reps = int(np.ceil(n / lc["trial"].nunique()))
    parts = [lc.assign(trial=lc["trial"] + 2000 * r) for r in range(reps)]
    df = pd.concat(parts, ignore_index=True)
    return df[df["trial"] < n].reset_index(drop=True)


def bench_extrapolate(a, out):
    df = lcbench_curves(a.ex_curves)
    kw = dict(x="epoch", y="val_accuracy", by="trial", horizon=51, samples=a.ex_samples)
    base = df[df["trial"] < a.ex_baseline_curves]
    c0 = time.process_time()
    t_mem, _ = timed(lambda: lawfit.extrapolate(base, threads=1, **kw))
    cpu_mem = time.process_time() - c0
    res = {"in_memory_cpu_s": cpu_mem, "curves": a.ex_curves, "points_per_curve": 20, "samples": a.ex_samples, "steps": 200,
           "in_memory_curves": a.ex_baseline_curves, "in_memory_1thread_s": t_mem,
           "in_memory_s_per_curve": t_mem / a.ex_baseline_curves}
    ddf = dd.from_pandas(df, npartitions=a.ex_partitions, sort=False)
    for w in (1, 2):
        c, client = cluster(w)
        with client:
            cpu0 = worker_cpu(client)
            with get_task_stream(client) as ts:
                t, tab = timed(lambda: lawfit.extrapolate(ddf, compute=False, **kw).compute())
            assert len(tab) == a.ex_curves
            res[f"workers{w}_s"] = t
            res[f"workers{w}_cpu_s"] = worker_cpu(client) - cpu0
            res[f"workers{w}_cpu_per_wall_per_worker"] = res[f"workers{w}_cpu_s"] / (t * w)
            res[f"workers{w}_tasks"] = task_times(ts)
        c.close()
        print(f"extrapolate {a.ex_curves} curves, {w} worker(s): {t:.1f} s", flush=True)
    res["speedup_2_over_1"] = res["workers1_s"] / res["workers2_s"]
    res["efficiency_2_workers"] = res["speedup_2_over_1"] / 2
    res["workers1_s_per_curve"] = res["workers1_s"] / a.ex_curves
    out["extrapolate"] = res


def power_curves(n: int, points: int = 20, seed: int = 0) -> pd.DataFrame:
    return lawfit.datasets.synthetic_power_law(n, n_points=points, noise=0.02, seed=seed)[["curve", "x", "y"]]


def bench_bootstrap(a, out):
    df = power_curves(a.boot_curves)
    kw = dict(x="x", y="y", by="curve")
    t_fit, r = timed(lambda: lawfit.fit(df, "power_law", threads=1, **kw), 3)
    t_boot, b = timed(lambda: r.bootstrap(n=a.boot_n, seed=1, threads=1))
    big = power_curves(a.fit_curves, seed=7)  # the fit's own throughput, fixed costs amortised (for the projection)
    t_big, _ = timed(lambda: lawfit.fit(big, "power_law", threads=1, **kw), 2)
    res = {"curves": a.boot_curves, "points_per_curve": 20, "replicates": a.boot_n, "in_memory_fit_1thread_s": t_fit,
           "in_memory_bootstrap_1thread_s": t_boot, "in_memory_s_per_replicate": t_boot / (a.boot_curves * a.boot_n),
           "fit_curves": a.fit_curves, "in_memory_fit_big_1thread_s": t_big}
    ddf = dd.from_pandas(df, npartitions=a.boot_partitions, sort=False)
    for w in (1, 2):
        c, client = cluster(w)
        with client:
            t_f, rd = timed(lambda: lawfit.fit(ddf, "power_law", **kw))
            cpu0 = worker_cpu(client)
            with get_task_stream(client) as ts:
                t_b, bd = timed(lambda: rd.bootstrap(n=a.boot_n, seed=1))
            res[f"workers{w}_bootstrap_cpu_s"] = worker_cpu(client) - cpu0
            res[f"workers{w}_cpu_per_wall_per_worker"] = res[f"workers{w}_bootstrap_cpu_s"] / (t_b * w)
            res[f"workers{w}_fit_s"] = t_f
            res[f"workers{w}_bootstrap_s"] = t_b
            res[f"workers{w}_bootstrap_tasks"] = task_times(ts)
            res[f"workers{w}_identical"] = bool(bd.samples.tobytes() == b.samples.tobytes())
        c.close()
        print(f"bootstrap {a.boot_curves} x {a.boot_n}, {w} worker(s): fit {t_f:.2f} s, bootstrap {t_b:.1f} s, "
              f"identical {res[f'workers{w}_identical']}", flush=True)
    res["speedup_2_over_1"] = res["workers1_bootstrap_s"] / res["workers2_bootstrap_s"]
    res["efficiency_2_workers"] = res["speedup_2_over_1"] / 2
    out["bootstrap"] = res


def bench_overhead(a, out):
    n_tasks, per = a.tiny_tasks, 5
    df = power_curves(n_tasks * per, points=20, seed=4)
    t_mem, _ = timed(lambda: lawfit.fit(df, "power_law", x="x", y="y", by="curve", threads=1), 3)
    ddf = dd.from_pandas(df, npartitions=n_tasks, sort=True)  # grouped: every partition holds whole curves
    res = {"tasks": n_tasks, "curves_per_task": per, "in_memory_fit_s": t_mem}
    c, client = cluster(2)
    with client:
        lawfit.distributed.fit(ddf, "power_law", x="x", y="y", by="curve", shuffle=False)  # warm-up
        with get_task_stream(client) as ts:
            t, _ = timed(lambda: lawfit.distributed.fit(ddf, "power_law", x="x", y="y", by="curve", shuffle=False), 3)
        tt = task_times(ts)
        with get_task_stream(client) as ts2:
            t_sh, _ = timed(lambda: lawfit.distributed.fit(ddf, "power_law", x="x", y="y", by="curve"), 3)
    c.close()
    res["workers2_no_shuffle_s"] = t
    res["workers2_with_shuffle_s"] = t_sh
    # Two workers run tasks side by side: the time a task costs a worker beyond its fit.
    res["overhead_per_task_s"] = (2 * t - t_mem) / n_tasks
    res["overhead_per_task_with_shuffle_s"] = (2 * t_sh - t_mem) / n_tasks
    res["task_compute_s_mean"] = tt["lawfit_task_s"] / max(tt["lawfit_tasks"], 1) / 3
    out["overhead"] = res
    print(f"overhead: {res['overhead_per_task_s'] * 1e3:.1f} ms a task ({res['overhead_per_task_with_shuffle_s'] * 1e3:.1f}"
          " ms with the shuffle)", flush=True)


def bench_shuffle(a, out):
    rows = a.shuffle_rows
    runs = rows // 50
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"run": rng.integers(0, runs, rows), "step": rng.uniform(1, 1e5, rows),
                       "loss": rng.uniform(2, 4, rows)})
    nbytes = int(df.memory_usage(index=False).sum())
    ddf = dd.from_pandas(df, npartitions=a.shuffle_partitions, sort=False)
    res = {"rows": rows, "bytes": nbytes, "partitions": a.shuffle_partitions}
    for w in (1, 2):
        c, client = cluster(w)
        with client:
            src = client.persist(ddf)
            from distributed import wait

            wait(src)
            rg = lawfit.distributed.Regrouped(src, ["run", "step", "loss"], ["run"])
            t, n = timed(lambda: rg.frame.map_partitions(len).compute().sum())
            assert n == rows
        c.close()
        res[f"workers{w}_s"] = t
        res[f"workers{w}_MBps"] = nbytes / t / 1e6
        print(f"shuffle {nbytes / 1e6:.0f} MB, {w} worker(s): {t:.1f} s ({nbytes / t / 1e6:.0f} MB/s)", flush=True)
    out["shuffle"] = res


def bench_memory(a, out):
    """A dataset larger than a worker's memory limit: fit (compute=False) and write back; peak RSS per worker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = pathlib.Path(a.tmp or tempfile.mkdtemp(prefix="lawfit-scaleout-"))
    runs_dir = tmp / "runs"
    points = 50
    rows_per_file = 2_000_000
    target = int(a.memory_gib * 2**30)
    bytes_per_row = 24  # run int64, step float64, loss float64
    n_files = max(1, int(np.ceil(target / (rows_per_file * bytes_per_row))))
    if not runs_dir.exists():
        runs_dir.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for f in range(n_files):
            n_runs = rows_per_file // points
            run = np.repeat(np.arange(f * n_runs, (f + 1) * n_runs, dtype=np.int64), points)
            step = np.tile(np.geomspace(10, 1e5, points), n_runs)
            E = 1.5 + 0.5 * rng.random(n_runs)
            loss = (E[run - f * n_runs] + 5.0 * step ** -0.3) * (1 + 0.01 * rng.standard_normal(len(run)))
            tab = pa.table({"run": run, "step": step, "loss": loss})
            # runs cut across files: every file's last half-curve continues in the next (rows shifted)
            pq.write_table(tab, runs_dir / f"part-{f:04d}.parquet", row_group_size=rows_per_file // 8)
    size = sum(p.stat().st_size for p in runs_dir.iterdir())
    in_memory = n_files * rows_per_file * bytes_per_row
    res = {"dataset_rows": n_files * rows_per_file, "dataset_in_memory_bytes": in_memory, "parquet_bytes": size,
           "curves": n_files * rows_per_file // points, "worker_memory_limit_bytes": int(a.worker_limit_gib * 2**30),
           "workers": 2}
    c, client = cluster(2, memory_limit=f"{a.worker_limit_gib}GiB")
    peaks = {}
    stop = threading.Event()

    def rss():
        import psutil

        return psutil.Process().memory_info().rss

    def sample():
        while not stop.is_set():
            try:
                for w, v in client.run(rss).items():
                    peaks[w] = max(peaks.get(w, 0), v)
            except Exception:  # noqa: BLE001 - a worker restarting
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    with client:
        pids = client.run(os.getpid)
        th.start()
        t0 = time.perf_counter()
        runs = lawfit.io.read_runs(runs_dir, blocksize=8 * 2**20)
        res["input_partitions"] = runs.npartitions
        table = lawfit.distributed.fit(runs, "power_law", x="step", y="loss", by="run", compute=False)
        lawfit.io.write(table, tmp / "fits", overwrite=True)
        res["wall_s"] = time.perf_counter() - t0
        stop.set()
        th.join()
        now = client.run(os.getpid)
        res["restarted_workers"] = sum(1 for w, p in pids.items() if now.get(w) != p)
        res["peak_rss_per_worker_bytes"] = sorted(peaks.values())
    c.close()
    back = lawfit.io.read_runs(tmp / "fits", columns=["run", "status"], engine="pandas")
    res["curves_written"] = len(back)
    res["converged"] = int((back["status"] == "CONVERGED").sum())
    out["memory"] = res
    print(f"memory: {in_memory / 2**30:.2f} GiB dataset, limit {a.worker_limit_gib} GiB a worker: peak RSS "
          f"{[round(v / 2**20) for v in res['peak_rss_per_worker_bytes']]} MiB, {res['wall_s']:.0f} s", flush=True)


def projection(out, workers: int = 100, curves: float = 1e9):
    """Wall time on ``workers`` workers for ``curves`` curves from the measured costs (per curve on one worker,
    per task, shuffle throughput per worker), assuming workers as fast as this machine's cores and a network at
    least as fast per worker as this machine's loopback shuffle."""
    p = {"workers": workers, "curves": curves}
    o = out.get("overhead", {})
    sh = out.get("shuffle", {})
    per_task = o.get("overhead_per_task_with_shuffle_s", 0.05)
    mbps = sh.get("workers1_MBps", 50.0)
    curves_per_task = 100_000
    tasks = curves / curves_per_task
    rows = {}
    if "bootstrap" in out:
        b = out["bootstrap"]
        c_fit = b["in_memory_fit_big_1thread_s"] / b["fit_curves"]
        c_rep = b["in_memory_s_per_replicate"]
        data_bytes = curves * 20 * 24
        shuffle_s = data_bytes / (workers * mbps * 1e6)
        rows["fit_power_law_20pts"] = {"s_per_curve": c_fit, "compute_s": curves * c_fit / workers,
                                       "shuffle_s": shuffle_s, "task_overhead_s": tasks * per_task / workers}
        rows["bootstrap_1000_replicates"] = {"s_per_curve": c_rep * 1000, "compute_s": curves * c_rep * 1000 / workers,
                                             "shuffle_s": shuffle_s, "task_overhead_s": tasks * per_task / workers}
    if "extrapolate" in out:
        e = out["extrapolate"]
        c_ex = e["in_memory_s_per_curve"]
        data_bytes = curves * 20 * 24
        rows["extrapolate_domhan"] = {"s_per_curve": c_ex, "compute_s": curves * c_ex / workers,
                                      "shuffle_s": data_bytes / (workers * mbps * 1e6),
                                      "task_overhead_s": tasks * per_task / workers}
    for r in rows.values():
        r["total_s"] = r["compute_s"] + r["shuffle_s"] + r["task_overhead_s"]
        r["total_h"] = r["total_s"] / 3600
        r["efficiency"] = r["compute_s"] / r["total_s"]
    p["curves_per_task"] = curves_per_task
    p["tasks"] = tasks
    p["per_task_overhead_s"] = per_task
    p["shuffle_MBps_per_worker"] = mbps
    p["rows"] = rows
    out["projection"] = p


def markdown(out) -> str:
    """bench/results/scaleout.md: the measured table, the overheads and the projection."""
    L = ["# Scale-out (`bench/bench_scaleout.py`)", "",
         "Local Dask cluster, worker processes with 1 thread each, on this 2-core machine; the in-memory call on 1 "
         "thread for reference. 2 workers share the 2 cores with the scheduler, the client and (on this shared "
         "machine) other users: `worker CPU / wall` is the CPU the workers got per wall second per worker (1.0: a "
         "whole core each). Load averages (1 min) before / after each section are listed.", "",
         "| job | in memory (1 thread) | 1 worker | 2 workers | speedup 2 vs 1 | efficiency | worker CPU / wall (1 / 2 "
         "workers) | identical to in memory | load before / after |", "|---|---|---|---|---|---|---|---|---|"]
    la = out.get("loadavg", {})

    def load(name):
        v = la.get(name)
        return f"{v['before'][0]:.1f} / {v['after'][0]:.1f}" if v else "-"

    if "extrapolate" in out:
        e = out["extrapolate"]
        L.append(f"| extrapolate, {e['curves']:,} LCBench curves x 20 epochs, Domhan ensemble ({e['samples']} samples, "
                 f"{e['steps']} steps) | {e['in_memory_s_per_curve'] * 1e3:.1f} ms a curve (on "
                 f"{e['in_memory_curves']:,}) | {e['workers1_s']:.0f} s ({e['workers1_s'] / e['curves'] * 1e3:.1f} ms a "
                 f"curve) | {e['workers2_s']:.0f} s | {e['speedup_2_over_1']:.2f}x | {e['efficiency_2_workers']:.0%} | "
                 f"{e.get('workers1_cpu_per_wall_per_worker', float('nan')):.2f} / "
                 f"{e.get('workers2_cpu_per_wall_per_worker', float('nan')):.2f} | (tests) | {load('extrapolate')} |")
    if "bootstrap" in out:
        b = out["bootstrap"]
        L.append(f"| bootstrap, {b['curves']:,} power_law curves x {b['replicates']:,} pairs replicates | "
                 f"{b['in_memory_bootstrap_1thread_s']:.1f} s | {b['workers1_bootstrap_s']:.1f} s | "
                 f"{b['workers2_bootstrap_s']:.1f} s | {b['speedup_2_over_1']:.2f}x | {b['efficiency_2_workers']:.0%} | "
                 f"{b.get('workers1_cpu_per_wall_per_worker', float('nan')):.2f} / "
                 f"{b.get('workers2_cpu_per_wall_per_worker', float('nan')):.2f} | "
                 f"{'yes' if b['workers1_identical'] and b['workers2_identical'] else '**no**'} | {load('bootstrap')} |")
    L.append("")
    if "overhead" in out:
        o = out["overhead"]
        L.append(f"- Per-task overhead: {o['tasks']} partitions of {o['curves_per_task']} curves on 2 workers: "
                 f"{o['overhead_per_task_s'] * 1e3:.0f} ms a task beyond its fit without the shuffle "
                 f"(`shuffle=False`), {o['overhead_per_task_with_shuffle_s'] * 1e3:.0f} ms with it (load "
                 f"{load('overhead')}).")
    if "shuffle" in out:
        sh = out["shuffle"]
        L.append(f"- Shuffle (regrouping alone, P2P): {sh['bytes'] / 1e6:.0f} MB ({sh['rows']:,} rows) in "
                 f"{sh['workers1_s']:.1f} s on 1 worker ({sh['workers1_MBps']:.0f} MB/s), {sh['workers2_s']:.1f} s on 2 "
                 f"({sh['workers2_MBps']:.0f} MB/s) (load {load('shuffle')}).")
    if "memory" in out:
        m = out["memory"]
        L.append(f"- Memory: a {m['dataset_in_memory_bytes'] / 2**30:.2f} GiB dataset ({m['curves']:,} curves, "
                 f"{m['input_partitions']} input partitions) fitted with compute=False and written back by 2 workers "
                 f"limited to {m['worker_memory_limit_bytes'] / 2**30:.2f} GiB each: peak RSS "
                 f"{', '.join(f'{v / 2**20:.0f}' for v in m['peak_rss_per_worker_bytes'])} MiB, "
                 f"{m['restarted_workers']} worker restarts, {m['curves_written']:,} curves written, {m['wall_s']:.0f} s.")
    p = out.get("projection")
    if p:
        L += ["", f"## Projection: {p['workers']} workers, {p['curves']:.0e} curves", "",
              f"From the per-curve costs measured above (in memory, 1 thread), {p['curves_per_task']:,} curves a task "
              f"({p['tasks']:,.0f} tasks), {p['per_task_overhead_s'] * 1e3:.0f} ms overhead a task (measured, with the "
              f"shuffle) and {p['shuffle_MBps_per_worker']:.0f} MB/s of shuffle a worker (measured on 1 worker), 20 "
              "points x 24 bytes a curve:", "",
              "| job | per curve (1 core) | compute | shuffle | task overhead | total | efficiency |",
              "|---|---|---|---|---|---|---|"]
        for name, r in p["rows"].items():
            L.append(f"| {name} | {r['s_per_curve'] * 1e3:.3g} ms | {r['compute_s'] / 3600:.2f} h | "
                     f"{r['shuffle_s'] / 60:.1f} min | {r['task_overhead_s']:.0f} s | {r['total_h']:.2f} h | "
                     f"{r['efficiency']:.0%} |")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, ~1 min)")
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--ex-curves", type=int, default=20_000)
    ap.add_argument("--ex-baseline-curves", type=int, default=2_000)
    ap.add_argument("--ex-samples", type=int, default=200)
    ap.add_argument("--ex-partitions", type=int, default=16)
    ap.add_argument("--boot-curves", type=int, default=2_000)
    ap.add_argument("--boot-n", type=int, default=1_000)
    ap.add_argument("--boot-partitions", type=int, default=8)
    ap.add_argument("--fit-curves", type=int, default=200_000)
    ap.add_argument("--tiny-tasks", type=int, default=200)
    ap.add_argument("--shuffle-rows", type=int, default=4_000_000)
    ap.add_argument("--shuffle-partitions", type=int, default=16)
    ap.add_argument("--memory-gib", type=float, default=0.0)
    ap.add_argument("--worker-limit-gib", type=float, default=1.0)
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scaleout.json"))
    ap.add_argument("--merge", action="store_true", help="keep the sections of an existing --out not rerun")
    a = ap.parse_args()
    if a.quick:
        a.ex_curves, a.ex_baseline_curves, a.boot_curves, a.boot_n, a.fit_curves = 400, 100, 200, 100, 20_000
        a.tiny_tasks, a.shuffle_rows = 40, 400_000
    out = {}
    if a.merge and pathlib.Path(a.out).exists():  # keep the sections not rerun
        out = json.loads(pathlib.Path(a.out).read_text())
    out.update({"machine": machine(), "args": vars(a)})
    out.setdefault("loadavg", {})
    for name, fn in (("bootstrap", bench_bootstrap), ("overhead", bench_overhead), ("shuffle", bench_shuffle),
                     ("extrapolate", bench_extrapolate)):
        if name not in a.skip:
            before = os.getloadavg()
            fn(a, out)
            out["loadavg"][name] = {"before": before, "after": os.getloadavg()}
    if a.memory_gib > 0 and "memory" not in a.skip:
        before = os.getloadavg()
        bench_memory(a, out)
        out["loadavg"]["memory"] = {"before": before, "after": os.getloadavg()}
    projection(out)
    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, default=float)
    pathlib.Path(a.out).with_suffix(".md").write_text(markdown(out))
    print(json.dumps(out["projection"], indent=1, default=float))


if __name__ == "__main__":
    main()
