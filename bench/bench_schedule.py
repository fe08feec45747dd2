"""Schedule-aware forecasts (issue 11, item 4) on the OLMo ladder: validation cross-entropy and bits-per-byte
curves under the ladder's cosine schedule, forecast through the decay with lawfit.extrapolate(schedule=...).

Data and protocol as bench/bench_olmo_forecast.py (its load(): 25 runs, every curve resampled to 50 points on
the fraction-of-run grid, cuts at 10 and 20 of 50 = the first 20% / 40%, truth = the final checkpoint, baseline =
the value at the cut), with x mapped back to optimizer steps (step = fraction x the run's last step) so the
schedule applies. The schedule (allenai/OLMo-ladder src/ladder/ladder.py): cosine with linear warm-up over
N / batch tokens steps, decaying to 0.1 x the peak at the run's last step.

1. prior_check (the 190M-1B runs only; 3B never enters it): full-curve fits give DEFAULT_PRIOR (the median of
   alpha and of the relative annealing gain at the cuts, their robust sds x1.5), and the 190M-1B curves, cut at
   20% / 40% and forecast with that prior, give DEFAULT_SCORES (the 99 percentiles of their scores).
2. the 3B runs as targets: schedule-aware without a reference (the defaults) and with the 190M-1B runs as the
   reference (empirical Bayes + split-conformal), beside bench_olmo_forecast.py's figures for the same targets
   (the nearest-reference forecast and the schedule-blind ensemble) read from bench/results/olmo_forecast.json.

    PYTHONPATH=python python bench/bench_schedule.py     # writes bench/results/schedule.json
"""
from __future__ import annotations

import importlib
import json
import pathlib
import sys
import time

import numpy as np
import pandas as pd

import lawfit
from lawfit import schedule_forecast as sf

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _machine import machine  # noqa: E402
from bench_olmo_forecast import DATA, MULTS, NPTS, CUTS, SIZES, load, score  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "schedule.json"
GROUPS = ("cross_entropy", "bpb")
SCHED = lawfit.schedules.cosine(total="total", warmup="warmup", final=0.1)


def with_steps(d: pd.DataFrame) -> pd.DataFrame:
    runs = {}
    for s in SIZES:
        for m in MULTS:
            r = pd.read_csv(DATA / f"{s}-{m}xC.csv", usecols=["_step", "throughput/total_tokens",
                                                              "batch_size_in_tokens"])
            total = int(r["_step"].max())
            n_params = r["throughput/total_tokens"].max() / (20 * float(m))
            runs[f"{s}-{m}xC"] = (total, int(round(n_params / r["batch_size_in_tokens"].iloc[0])))
    tot = d["run"].map(lambda k: runs[k][0]).to_numpy()
    out = d.copy()
    out["total"] = tot
    out["warmup"] = d["run"].map(lambda k: runs[k][1]).to_numpy()
    out["step"] = np.round(d["x"].to_numpy() / NPTS * tot)
    return out


def prior_check(d: pd.DataFrame) -> dict:
    ref = d[d["size"] != "3B"]
    p = sf._prepare(ref, x="step", y="y", by=["run", "metric"], lr=None, schedule=SCHED, horizon=None,
                    per_curve=importlib.import_module("lawfit.extrapolation")._per_curve, threads=0)
    fits = sf._reference_fits(p, 0, 0)
    ok = np.isfinite(fits["log_alpha"])
    gains = []
    for cut in CUTS:
        _, _, cutv = sf._cut(p, np.arange(p["C"]), cut / NPTS)
        gains.append(fits["gain"] / np.abs(cutv))
    g = np.concatenate(gains)[np.concatenate([ok, ok])]
    la = fits["log_alpha"][ok]
    mad = lambda a: 1.4826 * float(np.median(np.abs(a - np.median(a))))  # noqa: E731
    prior = {"alpha": round(float(np.exp(np.median(la))), 3), "sd_log_alpha": round(1.5 * mad(la), 3),
             "gain": round(float(np.median(g)), 4), "sd_gain": round(1.5 * mad(g), 4)}
    zs = []
    for cut in CUTS:
        off, rows, cutv = sf._cut(p, np.arange(p["C"]), cut / NPTS)
        pr, _ = sf._posterior(p, prior, samples=1000, seed=0, threads=0, off=off, rows=rows, cut_value=cutv)
        m, s = sf._summarise(pr)
        truth = p["v"][p["off"][1:] - 1]
        zs.append((truth - m) / s)
    z = np.concatenate(zs)
    z = z[np.isfinite(z)]
    return {"prior": prior, "curves": int(p["C"]), "scores": [round(float(v), 3) for v in
                                                             np.quantile(z, np.arange(1, 100) / 100)]}


def main():
    d = with_steps(load())
    d = d[d.group.isin(GROUPS)]
    pc = prior_check(d)
    print("prior", pc["prior"], "scores q05/q50/q95", pc["scores"][4], pc["scores"][49], pc["scores"][94])
    rows = []
    for g in GROUPS:
        dg = d[d.group == g]
        tgt, ref = dg[dg["size"] == "3B"], dg[dg["size"] != "3B"]
        for cut in CUTS:
            t = tgt[tgt.x <= cut]
            for name, reference in (("schedule, no reference", None), ("schedule + reference", ref)):
                t0 = time.perf_counter()
                ex = lawfit.extrapolate(t, x="step", y="y", by=["run", "metric"], horizon=t.groupby(
                    ["run", "metric"])["total"].first(), schedule=SCHED, reference=reference, mode="min")
                sec = time.perf_counter() - t0
                pred = ex.predict().rename(columns={"step": "x"})
                r = dict(group=g, cut=cut, method=name, seconds=sec, ms_per_curve=1e3 * sec / ex.n_curves,
                         **score(pred, tgt, cut))
                r.pop("misses_by_run", None)
                rows.append(r)
                print(g, cut, name, "MAE/last %.3f cov90 %.3f below %.3f above %.3f  %.1f ms/curve" % (
                    r["ratio_to_last"], r["coverage_90"], r["below"], r["above"], r["ms_per_curve"]))
    prev = json.loads((ROOT / "bench" / "results" / "olmo_forecast.json").read_text())["results_3B"]
    OUT.write_text(json.dumps({"machine": machine(), "prior_check": pc, "results_3B": rows,
                               "olmo_forecast_results_3B": [r for r in prev if r.get("group") in GROUPS]},
                              indent=1))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
