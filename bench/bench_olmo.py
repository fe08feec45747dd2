"""OLMo ladder: fit Chinchilla's law to the final C4 validation loss of the ladder runs, predict the final C4
loss of the 7B and 13B runs, with 90% bootstrap intervals (4,000 pairs replicates).

All five ladder sizes, 190M-3B (30 runs). N from configs/final.json (190M, 370M, 760M, 1B = "1.3B"); the 3B
has no entry there, so its N is derived from its 1xC token budget, D = 20 N (the rule reproduces the listed N
of the other four sizes within 0.15%); the counts are read from the shipped lawfit.datasets.olmo_ladder, where
scripts/make_datasets.py applies that rule. D = tokens seen
at the final checkpoint (throughput/total_tokens, else _step x batch_size_in_tokens).

    PYTHONPATH=python python bench/bench_olmo.py
Also a chained two-step forecast as in the OLMo ladder paper: HellaSwag (5-shot, RC) bits-per-byte from
(N, D) by Chinchilla's law on the ladder's final checkpoints (190M-3B), then accuracy from bits-per-byte by the
paper's sigmoid (the catalogue's sigmoid_from_loss, acc = a / (1 + exp(-k (bpb - L0))) + b) fitted on every
ladder checkpoint, with the paper's extra point (bpb = 0, acc = 1); uncertainty is carried through both steps
by sampling (lawfit.chain_predict, bootstrap draws of both fits). This chain is not the paper's
exact procedure (no moving average, no skipped checkpoints, the 3B and 0.5xC runs included, the 7B before its
anneal as the target); bench/bench_olmo_paper.py follows that procedure on all eight tasks.
Writes bench/results/olmo.json.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd

import lawfit

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "olmo-ladder"
COL = "eval/c4_en-validation/CrossEntropyLoss"


def final_row(path):
    d = pd.read_csv(path)
    d = d[np.isfinite(d[COL])]
    r = d.iloc[-1]
    tokens = r["throughput/total_tokens"] if "throughput/total_tokens" in d and np.isfinite(
        r.get("throughput/total_tokens", np.nan)) else r["_step"] * r["batch_size_in_tokens"]
    return float(tokens), float(r[COL]), float(r["_step"])


def ladder_sizes() -> dict:
    """Parameter count of each ladder size, as shipped in lawfit.datasets.olmo_ladder (scripts/make_datasets.py
    takes configs/final.json and derives the 3B's from its 1xC token budget, D = 20 N)."""
    d = lawfit.datasets.olmo_ladder().groupby("size", sort=False)["N"].first()
    return {s: int(d[s]) for s in ("190M", "370M", "760M", "1B", "3B")}


BPB = "eval/downstream_bpb/hellaswag_val_rc_5shot_bpb"
ACC = "eval/downstream/hellaswag_val_rc_5shot_len_norm"


def chained(cfg, sizes):
    from lawfit.extrapolation import chain_predict

    fin, allp = [], []
    for s in ("190M", "370M", "760M", "1B", "3B"):  # step 2 needs no parameter count: the 3B runs join it
        for p in sorted(DATA.glob(f"{s}-*.csv")):
            d = pd.read_csv(p)
            d = d[np.isfinite(d[BPB]) & np.isfinite(d[ACC])]
            allp.append(pd.DataFrame({"bpb": d[BPB].to_numpy(), "acc": d[ACC].to_numpy()}))
            if s in sizes:
                r = d.iloc[-1]
                fin.append({"N": float(sizes[s]), "D": float(r["throughput/total_tokens"]), "bpb": float(r[BPB])})
    allp.append(pd.DataFrame({"bpb": [0.0], "acc": [1.0]}))  # the paper's anchor: a perfect model is always right
    f1 = lawfit.fit(pd.DataFrame(fin), "chinchilla", x=["N", "D"], y="bpb", loss="huber", delta=1e-3, space="log", max_iter=1000)
    f2 = lawfit.fit(pd.concat(allp), "sigmoid_from_loss", x="bpb", y="acc", max_iter=1000)
    f1.bootstrap(n=4000, seed=1)
    f2.bootstrap(n=4000, seed=2)
    rows = []
    for name, key, f in (("7B", "7B-4T", "peteish7_eval_full.csv"), ("13B", "13B-5T", "peteish13_eval_full.csv")):
        d = pd.read_csv(DATA / f)
        d = d[np.isfinite(d[ACC]) & np.isfinite(d[BPB])]
        r = d.iloc[-1]
        rows.append({"model": name, "N": float(cfg[key]["n"]), "D": float(r["_step"] * r["batch_size_in_tokens"]),
                     "true_bpb": float(r[BPB]), "true_acc": float(r[ACC])})
    t = pd.DataFrame(rows)
    pr = chain_predict(f1, f2, t[["N", "D"]], level=0.9, samples=4000, seed=0)
    out = []
    for i, r in t.iterrows():
        out.append({"model": r["model"], "true_bpb": r["true_bpb"], "pred_bpb": float(pr["mid_pred"][i]),
                    "bpb_interval90": [float(pr["mid_low"][i]), float(pr["mid_high"][i])],
                    "true_acc": r["true_acc"], "pred_acc": float(pr["y_pred"][i]),
                    "acc_interval90": [float(pr["y_low"][i]), float(pr["y_high"][i])],
                    "acc_abs_error": float(pr["y_pred"][i] - r["true_acc"])})
    return {"task": "hellaswag_val_rc_5shot (len_norm accuracy, bpb)", "step1_status": str(f1.status.iloc[0]),
            "step2_status": str(f2.status.iloc[0]), "step2_params": {k: float(v) for k, v in f2.params.iloc[0].items()},
            "targets": out}


def main():
    cfg = json.loads((DATA / "configs" / "final.json").read_text())
    sizes = ladder_sizes()
    rows = []
    for s, n in sizes.items():
        for p in sorted(DATA.glob(f"{s}-*.csv")):
            D, L, _ = final_row(p)
            rows.append({"run": p.stem, "N": float(n), "D": D, "loss": L})
    df = pd.DataFrame(rows)
    fit = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log")
    boot = fit.bootstrap(n=4000, seed=0)
    targets = []
    for name, key, f in (("7B", "7B-4T", "peteish7_eval_full.csv"), ("13B", "13B-5T", "peteish13_eval_full.csv")):
        D, L, step = final_row(DATA / f)
        targets.append({"model": name, "N": float(cfg[key]["n"]), "D": D, "true_loss": L, "final_step": step})
    t = pd.DataFrame(targets)
    pb = fit.predict(t[["N", "D"]], interval=0.9)
    fit.bootstrap_samples = None
    pd_ = fit.predict(t[["N", "D"]], interval=0.9)
    out = {"fit_runs": len(df), "sizes": {k: int(v) for k, v in sizes.items()},
           "n_3b_rule": "3B N = final tokens of 3B-1xC / 20 (not in configs/final.json)", "params": {k: float(v) for k, v in fit.params.iloc[0].items()},
           "param_interval90": {k: float(v) for k, v in boot.interval(0.9).iloc[0].items()}, "targets": []}
    for i, r in t.iterrows():
        out["targets"].append({
            "model": r["model"], "N": r["N"], "D": r["D"], "true_final_c4_loss": r["true_loss"],
            "predicted": float(pb["y_pred"][i]), "rel_error": float(pb["y_pred"][i] / r["true_loss"] - 1),
            "bootstrap_interval90": [float(pb["y_low"][i]), float(pb["y_high"][i])],
            "delta_interval90": [float(pd_["y_low"][i]), float(pd_["y_high"][i])],
            "truth_in_bootstrap_interval": bool(pb["y_low"][i] <= r["true_loss"] <= pb["y_high"][i]),
        })
    out["chained_hellaswag"] = chained(cfg, sizes)
    print(json.dumps(out, indent=2))
    (ROOT / "bench" / "results" / "olmo.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
