"""Early-stopping replay on LCBench (blood-transfusion, 2,000 configurations, 50 epochs): lawfit's decisions against
the median-stopping rule and successive halving, on the same arrival order (trial id) and the same checkpoints.

Every configuration arrives in turn; at each checkpoint (epochs 10 and 20) a rule decides whether it continues.
A configuration that is never stopped trains to epoch 50 and its final accuracy becomes known. Reported per rule:
epochs used (and the fraction saved against training everything), configurations stopped, and the regret: the best
final accuracy of all 2,000 minus the best final accuracy among the configurations trained to the end (what the
search would return).

Rules:
* domhan: Domhan et al. 2015 with lawfit's single-curve ensemble (lawfit.extrapolate, default settings): stop when
  P(acc@50 > best completed) < 0.05.
* domhan+reference: the same criterion (lawfit.decide) on the sweep-aware forecast: the configurations completed so
  far (trained to epoch 50) are the reference. Arrivals are processed in blocks of 100: a block's forecasts use the
  runs completed before the block (at least 20; before that, no stopping).
* median: the median-stopping rule (Golovin et al. 2017): stop at a checkpoint when the configuration's best value
  so far is below the median, over completed configurations, of their running mean up to that epoch.
* asha: asynchronous successive halving (Li et al. 2020) with rungs at the checkpoints and reduction factor 3: a
  configuration goes on past a rung when its value there is in the top third of the values recorded at that rung
  so far.

    PYTHONPATH=python python bench/bench_stopping.py
Writes bench/results/stopping.json.
"""
from __future__ import annotations

import json
import pathlib
import sys
import time

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import lawfit  # noqa: E402
from _machine import machine  # noqa: E402

H, CUTS, BLOCK, THRESHOLD, ETA = 50, (10, 20), 100, 0.05, 3


def summarise(name, stopped_at, final, seconds):
    """stopped_at[trial]: epoch at which the rule stopped it (H if never)."""
    used = int(sum(stopped_at.values()))
    done = [t for t, e in stopped_at.items() if e == H]
    n = len(stopped_at)
    return dict(rule=name, epochs_used=used, fraction_saved=1 - used / (n * H),
                stopped=int(sum(e < H for e in stopped_at.values())),
                best_found=float(final[done].max()), regret=float(final.max() - final[done].max()),
                best_kept=bool(final.idxmax() in done), decision_seconds=seconds)


def main():
    lc = lawfit.datasets.lcbench()
    lc = lc[lc.epoch.between(1, H)].sort_values(["trial", "epoch"])
    wide = lc.pivot(index="trial", columns="epoch", values="val_accuracy")  # [trial, epoch]
    final = wide[H]
    trials = list(wide.index)  # arrival order
    out = []

    # Domhan, single-curve ensemble: one batched extrapolation per checkpoint for every configuration.
    t0 = time.perf_counter()
    exs = {c: lawfit.extrapolate(lc[lc.epoch <= c], x="epoch", y="val_accuracy", by="trial", horizon=H, mode="max")
           for c in CUTS}
    # P(better) of one configuration at a time, as lawfit.decide computes it for all (the best changes as
    # configurations complete, so the replay evaluates it per arrival from the ensembles' draws).
    pre = {c: (ex.mean_samples(ex.horizon[:, None], normalised=True)[:, :, 0], ex.samples[:, :, -1],
               {k: i for i, k in enumerate(ex.index)}) for c, ex in exs.items()}
    best, stop = -np.inf, {}
    for tr in trials:
        stop[tr] = H
        for c in CUTS:
            ex, (mu, sig, pos) = exs[c], pre[c]
            i = pos[tr]
            if not (np.isfinite(best) and ex.ok[i]):
                continue
            bz = ex._to_norm(np.full((ex.n_curves, 1), best))[i, 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.nanmean(1.0 - lawfit.uncertainty.norm_cdf((bz - mu[i]) / sig[i]))
            if p < THRESHOLD:
                stop[tr] = c
                break
        if stop[tr] == H:
            best = max(best, final[tr])
    out.append(summarise("domhan", stop, final, time.perf_counter() - t0))
    print(out[-1], flush=True)

    # Domhan on the sweep-aware forecast: blocks of arrivals, the completed runs so far as the reference.
    t0 = time.perf_counter()
    best, stop = -np.inf, {}
    for b0 in range(0, len(trials), BLOCK):
        block = trials[b0:b0 + BLOCK]
        done = [t for t, e in stop.items() if e == H]
        fc = {}
        if len(done) >= 20:
            ref = lc[lc.trial.isin(done)]
            for c in CUTS:
                part = lc[lc.trial.isin(block) & (lc.epoch <= c)]
                fc[c] = lawfit.extrapolate(part, x="epoch", y="val_accuracy", by="trial", horizon=H,
                                           reference=ref, mode="max")
        for tr in block:
            stop[tr] = H
            for c in CUTS:
                if fc and np.isfinite(best):
                    f = fc[c]
                    p = f.prob_better(best)[f.index.get_loc(tr)]
                    if f.ok[f.index.get_loc(tr)] and p < THRESHOLD:
                        stop[tr] = c
                        break
            if stop[tr] == H:
                best = max(best, final[tr])
    out.append(summarise("domhan+reference", stop, final, time.perf_counter() - t0))
    print(out[-1], flush=True)

    # Median stopping rule.
    t0 = time.perf_counter()
    running_mean = wide.cumsum(axis=1) / np.arange(1, H + 1)
    best_so_far = wide.cummax(axis=1)
    stop, done = {}, []
    for tr in trials:
        stop[tr] = H
        if done:
            for c in CUTS:
                if best_so_far.loc[tr, c] < np.median(running_mean.loc[done, c].to_numpy()):
                    stop[tr] = c
                    break
        if stop[tr] == H:
            done.append(tr)
    out.append(summarise("median", stop, final, time.perf_counter() - t0))
    print(out[-1], flush=True)

    # Asynchronous successive halving.
    t0 = time.perf_counter()
    rung = {c: [] for c in CUTS}
    stop = {}
    for tr in trials:
        stop[tr] = H
        for c in CUTS:
            v = wide.loc[tr, c]
            rung[c].append(v)
            k = max(1, len(rung[c]) // ETA)
            if v < np.sort(rung[c])[::-1][k - 1]:  # not in the top 1/eta of the values recorded at this rung
                stop[tr] = c
                break
    out.append(summarise("asha", stop, final, time.perf_counter() - t0))
    print(out[-1], flush=True)

    res = dict(machine=machine(), checkpoints=list(CUTS), threshold=THRESHOLD, eta=ETA, block=BLOCK,
               configurations=len(trials), best_final=float(final.max()), rules=out)
    (ROOT / "bench" / "results" / "stopping.json").write_text(json.dumps(res, indent=2))
    print(pd.DataFrame(out).to_string(index=False))


if __name__ == "__main__":
    main()
