"""OLMo ladder: fit Chinchilla's law to the final C4 validation loss of the ladder runs, predict the final C4
loss of the 7B and 13B runs, with 90% bootstrap intervals (4,000 pairs replicates).

Sizes with a parameter count in configs/final.json are used (190M, 370M, 760M, 1B = "1.3B"; the 3B runs have
no count there and are left out). D = tokens seen at the final checkpoint (_step x batch_size_in_tokens).

    PYTHONPATH=python python bench/bench_olmo.py
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


def main():
    cfg = json.loads((DATA / "configs" / "final.json").read_text())
    sizes = {"190M": cfg["190M"]["n"], "370M": cfg["370M"]["n"], "760M": cfg["760M"]["n"], "1B": cfg["1.3B"]["n"]}
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
    out = {"fit_runs": len(df), "params": {k: float(v) for k, v in fit.params.iloc[0].items()},
           "param_interval90": {k: float(v) for k, v in boot.interval(0.9).iloc[0].items()}, "targets": []}
    for i, r in t.iterrows():
        out["targets"].append({
            "model": r["model"], "N": r["N"], "D": r["D"], "true_final_c4_loss": r["true_loss"],
            "predicted": float(pb["y_pred"][i]), "rel_error": float(pb["y_pred"][i] / r["true_loss"] - 1),
            "bootstrap_interval90": [float(pb["y_low"][i]), float(pb["y_high"][i])],
            "delta_interval90": [float(pd_["y_low"][i]), float(pd_["y_high"][i])],
            "truth_in_bootstrap_interval": bool(pb["y_low"][i] <= r["true_loss"] <= pb["y_high"][i]),
        })
    print(json.dumps(out, indent=2))
    (ROOT / "bench" / "results" / "olmo.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
