"""Baseline 2PL fits with girth (pure numpy/scipy; pip install girth): joint ML and marginal ML.

girth takes an items x participants matrix; these wrappers take lawfit's models x items layout."""
from __future__ import annotations

import numpy as np


def twopl_jml(Y: np.ndarray) -> dict:
    import girth

    out = girth.twopl_jml(np.ascontiguousarray(Y.T.astype(int)))
    return {"a": np.asarray(out["Discrimination"]), "b_difficulty": np.asarray(out["Difficulty"])}


def twopl_mml(Y: np.ndarray) -> dict:
    import girth

    out = girth.twopl_mml(np.ascontiguousarray(Y.T.astype(int)))
    return {"a": np.asarray(out["Discrimination"]), "b_difficulty": np.asarray(out["Difficulty"])}
