"""Chunked numpy reference for the fused samples x grid planning reduction (lawfit.plan(..., grid=, samples=)).

Same computation: the cost model's N (non-embedding parameters) and total FLOPs (appendix-F training count +
decode FLOPs x inference tokens) for every grid configuration, then for each chinchilla parameter sample the
argmin of the loss over the configurations within the budget (ties: lowest index). Works in blocks of
samples x configurations so no array exceeds `block` elements.

Two versions of the per-sample reduction: `per_sample_argmin` evaluates the law (two exp) for every
(sample, configuration) pair; `per_sample_argmin_factored` is lawfit's algorithm (core/cost/plan.hpp): the grid
has few distinct N and D values, so each sample block tabulates A N^-alpha and B D^-beta once per distinct value
and each configuration costs two lookups and two adds.
"""
from __future__ import annotations

import numpy as np


def grid_columns(axes: dict, order: list) -> dict:
    """Materialise the Cartesian grid columns (last field fastest), as lawfit.cost.Grid orders them."""
    lens = [len(axes[k]) for k in order]
    idx = np.arange(int(np.prod(lens)), dtype=np.int64)
    out, stride = {}, 1
    for k, n in zip(reversed(order), reversed(lens)):
        out[k] = np.asarray(axes[k], dtype=np.float64)[(idx // stride) % n]
        stride *= n
    return out


def cost_table(L, d, H, tokens, vocab=32000.0, S=2048.0, d_ff=None, inference_tokens=0.0):
    """N (non-embedding, RMSNorm gains, no biases) and total FLOPs per configuration."""
    ff = 4.0 * d if d_ff is None else d_ff
    layer = 4.0 * d * d + 2.0 * d * ff + 2.0 * d
    N = L * layer + d
    fwd_seq = 2 * S * vocab * d + L * (2 * S * d * 3 * d + 2 * S * S * d + 3 * H * S * S + 2 * S * S * d
                                       + 2 * S * d * d + 2 * S * 2 * d * ff) + 2 * S * d * vocab
    flops_train = 3.0 * fwd_seq / S * tokens
    decode = 2.0 * N + 4.0 * L * S * d + 2.0 * d * vocab
    return N, flops_train + decode * inference_tokens


def per_sample_argmin(samples, N, D, cost, budget, block=1 << 22):
    """Per-sample argmin of E + A N^-alpha + B D^-beta over configurations with cost <= budget."""
    S = samples.shape[0]
    keep = np.flatnonzero(cost <= budget)
    lnN, lnD = np.log(N[keep]), np.log(D[keep])
    G = keep.size
    gblock = max(1, min(G, block))
    sblock = max(1, block // gblock)
    best = np.full(S, np.inf)
    arg = np.full(S, -1, dtype=np.int64)
    for s0 in range(0, S, sblock):
        p = samples[s0 : s0 + sblock]
        E, A, B, al, be = (p[:, [j]] for j in range(5))
        for g0 in range(0, G, gblock):
            l = E + A * np.exp(-al * lnN[None, g0 : g0 + gblock]) + B * np.exp(-be * lnD[None, g0 : g0 + gblock])
            j = np.argmin(l, axis=1)
            v = l[np.arange(len(p)), j]
            better = v < best[s0 : s0 + sblock]
            best[s0 : s0 + sblock] = np.where(better, v, best[s0 : s0 + sblock])
            arg[s0 : s0 + sblock] = np.where(better, keep[g0 + j], arg[s0 : s0 + sblock])
    return arg, best


def per_sample_argmin_factored(samples, N, D, cost, budget, block=1 << 22):
    """per_sample_argmin with the law's terms tabulated per distinct N and D value (same answers)."""
    S = samples.shape[0]
    keep = np.flatnonzero(cost <= budget)
    uN, iN = np.unique(N[keep], return_inverse=True)
    uD, iD = np.unique(D[keep], return_inverse=True)
    lnN, lnD = np.log(uN), np.log(uD)
    G = keep.size
    gblock = max(1, min(G, block))
    sblock = max(1, block // gblock)
    best = np.full(S, np.inf)
    arg = np.full(S, -1, dtype=np.int64)
    for s0 in range(0, S, sblock):
        p = samples[s0 : s0 + sblock]
        E, A, B, al, be = (p[:, [j]] for j in range(5))
        TN = A * np.exp(-al * lnN[None])  # [samples, distinct N]
        TD = B * np.exp(-be * lnD[None])  # [samples, distinct D]
        for g0 in range(0, G, gblock):
            l = E + TN[:, iN[g0 : g0 + gblock]]
            l += TD[:, iD[g0 : g0 + gblock]]
            j = np.argmin(l, axis=1)
            v = l[np.arange(len(p)), j]
            better = v < best[s0 : s0 + sblock]
            best[s0 : s0 + sblock] = np.where(better, v, best[s0 : s0 + sblock])
            arg[s0 : s0 + sblock] = np.where(better, keep[g0 + j], arg[s0 : s0 + sblock])
    return arg, best
