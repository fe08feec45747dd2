"""LCBench (blood-transfusion, 2000 configurations): learning-curve extrapolation and early-stopping replay.

1. Cut every curve at epochs 10 and 20, predict val_accuracy (percent) at epoch 50 with lawfit.extrapolate
   (Domhan's 11-family ensemble, default settings: 98 walkers started at the posterior's scale, 200 steps,
   100 burn-in, 20% differential-evolution steps); mean log predictive density of the truth and MAE of the
   predictive mean, time per curve (everything extrapolate does: data handling, least-squares starts,
   sampling). The emcee implementation of the same model (bench/baselines/domhan_emcee.py) from the same
   least-squares start with Domhan's settings: 100 walkers (more if 2 x the active dimension is larger) in
   its own 1e-3 relative ball around the start, 2500 steps, 500 burn-in; it runs on --emcee-curves evenly
   spaced trials of each cut. The 1-minute load average is recorded next to each timing.
2. Early-stopping replay: configurations in trial order; each is checked at epochs 10 and 20 with Domhan's
   rule (stop if P(acc@50 > best completed) < 0.05); fraction of epochs saved and whether the configuration
   with the best final accuracy survives.

    PYTHONPATH=python python bench/bench_lcbench.py [--emcee-curves 8] [--threads 2]
Writes bench/results/lcbench.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import sys
import time

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from lawfit.extrapolation import extrapolate  # noqa: E402
from lawfit.uncertainty import norm_cdf  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "lcbench" / "lcbench_blood-transfusion_all2000_long.csv.gz"
H = 50


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emcee-curves", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--curves", type=int, default=2000)
    a = ap.parse_args()
    df = pd.read_csv(DATA)
    df = df[(df.trial < a.curves) & (df.epoch >= 1) & (df.epoch <= H)]
    truth = df[df.epoch == H].set_index("trial")["val_accuracy"].sort_index()
    res = {"dataset": "LCBench blood-transfusion", "n_curves": int(truth.size), "metric": "val_accuracy (%)",
           "horizon": H, "threads": a.threads, "cpu": os.cpu_count(), "lawfit": {}, "emcee": {}}
    exs = {}
    for cut in (10, 20):
        obs = df[df.epoch <= cut]
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        ex = extrapolate(obs, x="epoch", y="val_accuracy", by="trial", horizon=H, mode="max", samples=1000,
                         seed=0, threads=a.threads)
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
        exs[cut] = ex
        tr = truth.reindex(ex.index).to_numpy()
        ll = ex.log_likelihood(H, tr)
        mean = ex.summary["mean"].to_numpy()
        res["lawfit"][f"cut{cut}"] = {
            "wall_s": wall, "s_per_curve": wall / len(tr), "cpu_s_per_curve": wall * a.threads / len(tr),
            "mean_loglik": float(np.nanmean(ll)), "median_loglik": float(np.nanmedian(ll)),
            "mae": float(np.nanmean(np.abs(mean - tr))), "ok": int(ex.ok.sum()),
            "acceptance_median": float(np.nanmedian(ex.acceptance)), "tau_median": float(np.nanmedian(ex.tau)),
            "walkers": ex.problem["walkers"], "steps": ex.problem["steps"], "burn": ex.problem["burn"],
            "start": "posterior scale (Laplace covariances, init_sigma 1)", "de_fraction": 0.2,
            "load1_before_after": [load0, load1],
        }
        print(cut, res["lawfit"][f"cut{cut}"], flush=True)
        # emcee baseline on the first curves that lawfit could extrapolate.
        if a.emcee_curves > 0:
            from baselines.domhan_emcee import sample_curve

            okc = np.flatnonzero(ex.ok)
            sel = okc[np.linspace(0, len(okc) - 1, a.emcee_curves).astype(int)]  # evenly spaced trials
            draws = np.full_like(ex.samples, np.nan)
            times, accs = [], []
            load0 = os.getloadavg()[0]
            for c in sel:
                t1 = time.perf_counter()
                d, acc = sample_curve(ex.problem, int(c), samples=ex.samples.shape[1], seed=int(c))
                times.append(time.perf_counter() - t1)
                accs.append(acc)
                draws[c] = d
            # lawfit's own Monte Carlo variation on these curves: the same extrapolation with other seeds.
            sel_trials = [ex.index[c] for c in sel]
            seed_ll = []
            for s in range(1, 5):
                exs_ = extrapolate(obs[obs.trial.isin(sel_trials)], x="epoch", y="val_accuracy", by="trial", horizon=H,
                                   mode="max", samples=1000, seed=s, threads=a.threads, walkers=ex.problem["walkers"])
                seed_ll.append(exs_.log_likelihood(H, truth.reindex(exs_.index).to_numpy()))
            eb = copy.copy(ex)
            eb.samples = draws
            ll_e = eb.log_likelihood(H, tr)[sel]
            mean_e = eb.predict()["mean"].to_numpy()[sel]
            res["emcee"][f"cut{cut}"] = {
                "curves": [int(ex.index[c]) for c in sel], "s_per_curve": float(np.mean(times)),
                "mean_loglik": float(np.mean(ll_e)), "median_loglik": float(np.median(ll_e)),
                "loglik_per_curve": [float(v) for v in ll_e],
                "lawfit_loglik_per_curve": [float(v) for v in ll[sel]],
                "lawfit_same_curves_median_loglik": float(np.median(ll[sel])),
                "mae": float(np.mean(np.abs(mean_e - tr[sel]))),
                "acceptance_mean": float(np.mean(accs)),
                "lawfit_same_curves_mean_loglik": float(np.mean(ll[sel])),
                "lawfit_same_curves_mae": float(np.mean(np.abs(mean[sel] - tr[sel]))),
                "lawfit_same_curves_seeds_1_4_mean_loglik": [float(np.mean(v)) for v in seed_ll],
                "lawfit_same_curves_seeds_1_4_median_loglik": [float(np.median(v)) for v in seed_ll],
                "speedup_per_curve": float(np.mean(times) / res["lawfit"][f"cut{cut}"]["s_per_curve"]),
                "settings": {"walkers": "max(100, 2 x active dim)", "steps": 2500, "burn": 500,
                             "start": "1e-3 relative ball around the same least-squares start"},
                "load1_before_after": [load0, os.getloadavg()[0]],
            }
            print("emcee", cut, res["emcee"][f"cut{cut}"], flush=True)
    res["replay"] = replay(exs, truth)
    print("replay", res["replay"], flush=True)
    out = ROOT / "bench" / "results" / "lcbench.json"
    out.write_text(json.dumps(res, indent=2))


def replay(exs: dict, truth: pd.Series) -> dict:
    """Sequential replay: the best completed final accuracy so far is Domhan's y_best."""
    cuts = sorted(exs)
    pre = {}
    for cut, ex in exs.items():
        mu = ex.mean_samples(ex.horizon[:, None], normalised=True)[:, :, 0]
        pre[cut] = (ex, mu, ex.samples[:, :, -1], {k: i for i, k in enumerate(ex.index)})
    best = -np.inf
    used = 0
    stopped = 0
    survivors = []
    for trial in truth.index:  # trial order
        stop_at = None
        if np.isfinite(best):
            for cut in cuts:
                ex, mu, sig, pos = pre[cut]
                c = pos.get(trial)
                if c is None or not ex.ok[c]:
                    continue  # a failed extrapolation never stops a run
                bz = (
                    0.2 + (ex._sign[c] * best - ex._worst[c]) * 0.6 / ex._scale[c])
                p = float(np.nanmean(1.0 - norm_cdf((bz - mu[c]) / sig[c])))
                if p < 0.05:
                    stop_at = cut
                    break
        if stop_at is None:
            used += H
            best = max(best, float(truth[trial]))
            survivors.append(trial)
        else:
            used += stop_at
            stopped += 1
    n = len(truth)
    best_trial = int(truth.idxmax())
    return {"checkpoints": cuts, "threshold": 0.05, "epochs_total": n * H, "epochs_used": int(used),
            "fraction_saved": 1 - used / (n * H), "stopped": stopped, "best_trial": best_trial,
            "best_final_acc": float(truth.max()), "best_kept": best_trial in survivors,
            "best_found_acc": float(truth[survivors].max())}


if __name__ == "__main__":
    main()
