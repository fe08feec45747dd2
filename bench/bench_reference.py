"""Sweep-aware forecasts on the shipped LCBench curves (issue 11's protocol).

Reference = trials with id < 1000 observed to epoch 50; targets = the other 1,000 trials cut at epoch 10 and 20;
the value at epoch 50 is predicted. Reported beside the baselines (last value, best so far) and beside the
single-curve Bayesian ensemble (lawfit.extrapolate without a reference), in one run.

    PYTHONPATH=python python bench/bench_reference.py          # about 2 minutes on 2 cores
"""
import json
import pathlib
import sys
import time

import numpy as np

import lawfit

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _machine import machine  # noqa: E402

OUT = pathlib.Path(__file__).parent / "results" / "reference.json"


def main():
    lc = lawfit.datasets.lcbench()
    lc = lc[lc.epoch.between(1, 50)]
    ref, tgt = lc[lc.trial < 1000], lc[lc.trial >= 1000]
    truth = tgt[tgt.epoch == 50].set_index("trial")["val_accuracy"]
    truth_all = lc[lc.epoch == 50].set_index("trial")["val_accuracy"]
    rows = []
    for cut in (10, 20):
        obs = tgt[tgt.epoch <= cut]
        t0 = time.perf_counter()
        ex = lawfit.extrapolate(obs, x="epoch", y="val_accuracy", by="trial", horizon=50, reference=ref, mode="max")
        t_ref = time.perf_counter() - t0
        s = ex.skill(truth).iloc[0].to_dict()
        t0 = time.perf_counter()
        mc = lawfit.extrapolate(obs, x="epoch", y="val_accuracy", by="trial", horizon=50, mode="max")
        t_mc = time.perf_counter() - t0
        p = mc.predict().set_index("trial")
        tr = truth.reindex(p.index).to_numpy()
        mae_mc = float(np.nanmean(np.abs(p["q50"].to_numpy() - tr)))
        cov_mc = float(np.nanmean((tr >= p["q05"].to_numpy()) & (tr <= p["q95"].to_numpy())))
        row = dict(cut=cut, method=str(ex.summary.method.iloc[0]), ms_per_curve_reference=1e3 * t_ref / len(truth),
                   ms_per_curve_mcmc=1e3 * t_mc / len(truth), mae_mcmc=mae_mc, ratio_mcmc_to_last=mae_mc / s["mae_last"],
                   coverage_90_mcmc=cov_mc, **{k: (float(v) if not isinstance(v, str) else v) for k, v in s.items()})
        # No reference at all: every curve of the sweep cut, the call's own curves calibrate the ensemble by a
        # backtest (extrapolate(..., reference="self")), judged on all 2,000 curves and on the 1,000 targets.
        t0 = time.perf_counter()
        sf = lawfit.extrapolate(lc[lc.epoch <= cut], x="epoch", y="val_accuracy", by="trial", horizon=50,
                                reference="self", mode="max")
        t_self = time.perf_counter() - t0
        s_all = sf.skill(truth_all).iloc[0].to_dict()
        s_tgt = sf.skill(truth).iloc[0].to_dict()
        row.update(self_shrink=float(sf.shrink), ms_per_curve_self=1e3 * t_self / len(truth_all),
                   self_all_ratio_to_last=float(s_all["ratio_to_last"]), self_all_coverage_90=float(s_all["coverage_90"]),
                   self_targets_ratio_to_last=float(s_tgt["ratio_to_last"]),
                   self_targets_coverage_90=float(s_tgt["coverage_90"]))
        rows.append(row)
        print(json.dumps(row, indent=1))
    OUT.write_text(json.dumps(dict(machine=machine(), rows=rows), indent=1))


if __name__ == "__main__":
    main()
