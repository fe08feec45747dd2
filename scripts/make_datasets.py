"""Build the example datasets shipped in python/lawfit/data/ from ../shared/data (run from the repo root).

Subsets of public data (Apache-2.0); python/lawfit/data/NOTICE.md carries the attribution.
"""
import json
import pathlib
import shutil

import numpy as np
import pandas as pd

root = pathlib.Path(__file__).resolve().parents[1]
src = root.parent / "shared" / "data"
out = root / "python" / "lawfit" / "data"
out.mkdir(parents=True, exist_ok=True)

COLS = {
    "eval/c4_en-validation/CrossEntropyLoss": "c4_loss",
    "eval/pile-validation/CrossEntropyLoss": "pile_loss",
    "eval/downstream_bpb/hellaswag_val_rc_5shot_bpb": "hellaswag_bpb",
    "eval/downstream/hellaswag_val_rc_5shot_len_norm": "hellaswag_acc",
    "eval/downstream_bpb/arc_easy_test_rc_5shot_bpb": "arc_easy_bpb",
    "eval/downstream/arc_easy_test_rc_5shot_len_norm": "arc_easy_acc",
}
# The other tasks of the OLMo ladder paper's main set (its v2_main: RC format, 5-shot, accuracy = len_norm).
for _task, _col in [("arc_challenge_test", "arc_challenge"), ("piqa_val", "piqa"), ("csqa_val", "csqa"),
                    ("socialiqa_val", "socialiqa"), ("openbookqa_test", "openbookqa")]:
    COLS[f"eval/downstream_bpb/{_task}_rc_5shot_bpb"] = f"{_col}_bpb"
    COLS[f"eval/downstream/{_task}_rc_5shot_len_norm"] = f"{_col}_acc"
# MMLU (test) as the paper treats it: the four category subsets averaged per checkpoint with these weights
# (the share of each category's questions; src/scaling/task_utils.py of the OLMo-ladder repository).
MMLU = {"stem": 0.215, "humanities": 0.335, "social_sciences": 0.219, "other": 0.231}


def mmlu(d: pd.DataFrame, kind: str) -> np.ndarray:
    key = "eval/downstream_bpb/mmlu_{}_test_rc_5shot_bpb" if kind == "bpb" else \
        "eval/downstream/mmlu_{}_test_rc_5shot_len_norm"
    w = np.array(list(MMLU.values()))
    return (d[[key.format(k) for k in MMLU]].to_numpy(dtype=np.float64) * w).sum(axis=1) / w.sum()


def metrics(t: pd.DataFrame, d: pd.DataFrame) -> None:
    for k, v in COLS.items():
        if k in d:
            t[v] = d[k].astype(np.float64)
    t["mmlu_bpb"], t["mmlu_acc"] = mmlu(d, "bpb"), mmlu(d, "acc")

cfg = json.loads((src / "olmo-ladder" / "configs" / "final.json").read_text())
N_EXACT = {"190M": cfg["190M"]["n"], "370M": cfg["370M"]["n"], "760M": cfg["760M"]["n"], "1B": cfg["1.3B"]["n"]}
# configs/final.json has no 3B entry: its N is derived from the 1xC token budget, D = 20 N (on the four sizes
# with exact counts this rule is within 0.15%), and marked N_source = "derived".
_d3 = pd.read_csv(src / "olmo-ladder" / "3B-1xC.csv")["throughput/total_tokens"].iloc[-1]
N_3B = int(round(float(_d3) / 20.0))
frames = []
for size in ["190M", "370M", "760M", "1B", "3B"]:
    for mult in ["0.5", "1", "2", "5", "10"]:
        for suffix in ["", "-rerun"]:
            f = src / "olmo-ladder" / f"{size}-{mult}xC{suffix}.csv"
            if not f.exists():
                continue
            d = pd.read_csv(f)
            t = pd.DataFrame({
                "run": f"{size}-{mult}xC{suffix}",
                "size": size,
                "N": N_EXACT.get(size, N_3B),
                "N_source": "configs/final.json" if size in N_EXACT else "derived",
                "chinchilla_multiple": float(mult),
                "rerun": bool(suffix),
                "step": d["_step"].astype(np.int64),
                "D": d["throughput/total_tokens"].astype(np.int64),  # exact token counts, not %.7g
                "lr": d["optim/learning_rate_group0"].astype(np.float64),
            })
            metrics(t, d)
            frames.append(t)
ladder = pd.concat(frames, ignore_index=True)
ladder.to_csv(out / "olmo_ladder.csv.gz", index=False, float_format="%.7g")

targets = []
# 7B: the pretraining run (before the anneal) and, as a run of its own, the single evaluation after annealing (the
# 7B-4T target of the paper, peteish7_eval_anneal.csv: D from throughput/total_tokens, step = D / batch size).
# 13B: its pretraining run; its last 12 checkpoints are the paper's 13B-5T target (peteish13_eval_final.csv).
for name, f, n in [("7B", "peteish7_eval_full.csv", cfg["7B-4T"]["n"]),
                   ("7B-anneal", "peteish7_eval_anneal.csv", cfg["7B-4T"]["n"]),
                   ("13B", "peteish13_eval_full.csv", cfg["13B-5T"]["n"])]:
    d = pd.read_csv(src / "olmo-ladder" / f)
    bs = d["batch_size_in_tokens"].astype(np.float64)
    D = d["throughput/total_tokens"].astype(np.float64) if "_step" not in d else d["_step"].astype(np.float64) * bs
    t = pd.DataFrame({
        "run": f"OLMo-2-{name}",
        "N": n,
        "step": (d["_step"] if "_step" in d else (D / bs).round()).astype(np.int64),
        "D": D.astype(np.int64),
    })
    metrics(t, d)
    targets.append(t)
pd.concat(targets, ignore_index=True).to_csv(out / "olmo_targets.csv.gz", index=False, float_format="%.7g")

lc = pd.read_csv(src / "lcbench" / "lcbench_blood-transfusion_all2000_long.csv.gz")
lc = lc[["trial", "epoch", "val_accuracy", "val_cross_entropy", "train_cross_entropy"]]
lc.to_csv(out / "lcbench_blood_transfusion.csv.gz", index=False, float_format="%.6g")

shutil.copy(src / "olmo-ladder" / "LICENSE", out / "LICENSE-APACHE-2.0")
print(len(ladder), "ladder rows;", len(lc), "lcbench rows")
