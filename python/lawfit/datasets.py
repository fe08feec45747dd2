"""Example data shipped with lawfit, and synthetic data with known truth.

Shipped files (python/lawfit/data/) are subsets of public data; their licence and attribution are in
python/lawfit/data/NOTICE.md. Each loader returns a pandas DataFrame.
"""
from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from ._args import check_int, check_real

#: Hoffmann et al. 2022 (approach 3) fitted values, used as the truth of synthetic_chinchilla.
HOFFMANN = {"E": 1.69337368, "A": 406.401018, "B": 410.722827, "alpha": 0.33917084, "beta": 0.2849083}


def _path(name: str):
    return resources.files("lawfit") / "data" / name


def synthetic_chinchilla(n: int = 240, seed: int = 0, noise: float = 0.01, truth: dict | None = None) -> pd.DataFrame:
    """``n`` (N, D, loss) points from the Chinchilla law with Hoffmann's parameters (or ``truth``) and
    multiplicative log-normal noise of relative size ``noise``. N spans 7e7-1.6e10 parameters and D
    spans 5e9-5e11 tokens, log-uniformly, as in Hoffmann et al.'s training runs. The truth is in
    ``df.attrs["truth"]``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    t = dict(HOFFMANN if truth is None else truth)
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    L = t["E"] + t["A"] / N ** t["alpha"] + t["B"] / D ** t["beta"]
    L = L * np.exp(noise * rng.standard_normal(n))
    df = pd.DataFrame({"N": N, "D": D, "loss": L})
    df.attrs["truth"] = t
    return df


def synthetic_power_law(n_curves: int = 100, n_points: int = 20, seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    """``n_curves`` curves y = E + A x^-alpha (+ relative Gaussian noise) on x = 1..1000 log-spaced, with
    per-curve truth E ~ U(0.5, 2), A ~ U(1, 10), alpha ~ U(0.2, 1). Columns: curve, x, y, E, A, alpha."""
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.5, 2.0, n_curves)
    A = rng.uniform(1.0, 10.0, n_curves)
    al = rng.uniform(0.2, 1.0, n_curves)
    x = np.tile(np.geomspace(1, 1000, n_points), n_curves)
    c = np.repeat(np.arange(n_curves), n_points)
    y = E[c] + A[c] * x ** -al[c]
    y = y * (1 + noise * rng.standard_normal(y.size))
    return pd.DataFrame({"curve": c, "x": x, "y": y, "E": E[c], "A": A[c], "alpha": al[c]})


#: The tasks of the OLMo ladder paper's main set (RC format, 5-shot) as column prefixes of :func:`olmo_ladder` and
#: :func:`olmo_targets` (``<task>_bpb``, ``<task>_acc``), with the paper's names. ``mmlu`` is MMLU test, its four
#: category subsets averaged per checkpoint with the weights the paper uses (STEM 0.215, humanities 0.335, social
#: sciences 0.219, other 0.231).
OLMO_TASKS = {
    "mmlu": "mmlu_avg_test_5shot",
    "hellaswag": "hellaswag_val_5shot",
    "arc_challenge": "arc_challenge_test_5shot",
    "arc_easy": "arc_easy_test_5shot",
    "piqa": "piqa_val_5shot",
    "csqa": "csqa_val_5shot",
    "socialiqa": "socialiqa_val_5shot",
    "openbookqa": "openbookqa_test_5shot",
}


def _checkpoints(df: pd.DataFrame, smooth, skip_frac, op: str) -> pd.DataFrame:
    """Per run (in step order): drop the first ceil(skip_frac x n) of its n checkpoints, then replace every metric
    column (``*_loss``, ``*_bpb``, ``*_acc``) by its trailing mean over the last ``smooth`` checkpoints kept (fewer
    at the start of a run). NaN entries are left out of a mean."""
    smooth = check_int("smooth", smooth, 1, op=op)
    skip_frac = check_real("skip_frac", skip_frac, op=op)
    if not 0.0 <= skip_frac < 1.0:
        raise ValueError(f"{op}: skip_frac must be in [0, 1), got {skip_frac!r}")
    if smooth == 1 and skip_frac == 0.0:
        return df
    first = {r: i for i, r in enumerate(df["run"].unique())}  # runs keep their order; checkpoints by step
    df = df.assign(_run=df["run"].map(first)).sort_values(["_run", "step"], kind="stable").drop(columns="_run")
    g = df.groupby("run", sort=False)
    if skip_frac > 0.0:
        n = g["step"].transform("size").to_numpy()
        df = df[g.cumcount().to_numpy() >= np.ceil(skip_frac * n)]
    cols = [c for c in df.columns if c.endswith(("_loss", "_bpb", "_acc"))]
    if smooth > 1:
        df = df.copy()
        df[cols] = df.groupby("run", sort=False)[cols].transform(lambda c: c.rolling(smooth, min_periods=1).mean())
    return df.reset_index(drop=True)


def olmo_ladder(smooth: int = 1, skip_frac: float = 0.0) -> pd.DataFrame:
    """OLMo model-ladder learning curves (Bhagia et al. 2024; Apache-2.0, see data/NOTICE.md).

    One row per checkpoint: ``run, size, N, N_source, chinchilla_multiple, rerun, step, D`` (tokens seen), ``lr``,
    ``c4_loss, pile_loss`` and, for each task of :data:`OLMO_TASKS`, its bits-per-byte ``<task>_bpb`` and accuracy
    ``<task>_acc`` (length-normalised, RC format, 5-shot).

    ``smooth`` and ``skip_frac`` prepare the checkpoints as the paper does: per run, the first
    ceil(``skip_frac`` x n) of its n checkpoints are dropped, then every loss, bpb and accuracy column is replaced
    by its trailing mean over the last ``smooth`` checkpoints kept (fewer at the start of a run). The paper fits its
    step 1 (task bpb from N, D) to the last row of each run with ``smooth=5`` (the mean of the last 5 checkpoints)
    and its step 2 (accuracy from bpb) to every row with ``smooth=5, skip_frac=0.1``, on the runs
    ``~rerun & (chinchilla_multiple >= 1) & (size != "3B")`` (4 sizes x 1, 2, 5, 10 x Chinchilla); see
    bench/bench_olmo_paper.py."""
    return _checkpoints(pd.read_csv(_path("olmo_ladder.csv.gz")), smooth, skip_frac, "olmo_ladder")


def olmo_targets(smooth: int = 1, skip_frac: float = 0.0) -> pd.DataFrame:
    """The OLMo 2 target runs (``run, N, step, D`` and the loss, bpb and accuracy columns of :func:`olmo_ladder`):

    - ``OLMo-2-7B``: the 7B's pretraining checkpoints, before its anneal (up to 3.88T tokens);
    - ``OLMo-2-7B-anneal``: the 7B after annealing, one evaluation (3.95T tokens): the paper's 7B-4T target;
    - ``OLMo-2-13B``: the 13B's pretraining checkpoints; its last one (5.0T tokens) is the paper's 13B-5T target.

    ``smooth`` and ``skip_frac`` as in :func:`olmo_ladder`. The paper's true accuracy of a target is the last row of
    its run with ``smooth=5`` (for the 13B the mean of its last 5 checkpoints; the 7B-4T has one)."""
    return _checkpoints(pd.read_csv(_path("olmo_targets.csv.gz")), smooth, skip_frac, "olmo_targets")


def lcbench() -> pd.DataFrame:
    """LCBench blood-transfusion: 2000 MLP configurations x epochs 0-51 (Zimmer et al. 2021; Apache-2.0).

    Columns: ``trial, epoch, val_accuracy`` (percent), ``val_cross_entropy, train_cross_entropy``."""
    return pd.read_csv(_path("lcbench_blood_transfusion.csv.gz"))
