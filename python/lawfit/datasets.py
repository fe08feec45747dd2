"""Example data shipped with lawfit, and synthetic data with known truth.

Shipped files (python/lawfit/data/) are subsets of public data; their licence and attribution are in
python/lawfit/data/NOTICE.md. Each loader returns a pandas DataFrame.
"""
from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

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


def olmo_ladder() -> pd.DataFrame:
    """OLMo model-ladder learning curves (Bhagia et al. 2024; Apache-2.0, see data/NOTICE.md).

    One row per checkpoint: ``run, size, N, N_source, chinchilla_multiple, rerun, step, D, lr, c4_loss,
    pile_loss, hellaswag_bpb, hellaswag_acc, arc_easy_bpb, arc_easy_acc``."""
    return pd.read_csv(_path("olmo_ladder.csv.gz"))


def olmo_targets() -> pd.DataFrame:
    """The OLMo 2 7B and 13B target runs' curves (``run, N, step, D`` and the loss/accuracy columns of :func:`olmo_ladder`)."""
    return pd.read_csv(_path("olmo_targets.csv.gz"))


def lcbench() -> pd.DataFrame:
    """LCBench blood-transfusion: 2000 MLP configurations x epochs 0-51 (Zimmer et al. 2021; Apache-2.0).

    Columns: ``trial, epoch, val_accuracy`` (percent), ``val_cross_entropy, train_cross_entropy``."""
    return pd.read_csv(_path("lcbench_blood_transfusion.csv.gz"))
