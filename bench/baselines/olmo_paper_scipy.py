"""The OLMo ladder paper's two fits in scipy (Bhagia et al. 2024, arXiv:2412.04403): the baseline of
bench/bench_olmo_paper.py, written for lawfit from the paper's description and its repository's settings.

Step 1: task bpb from (N, D), L = E + exp(a) / N^alpha + exp(b) / D^beta, minimising the sum of Huber(delta=1e-3)
of log L_hat - log L by L-BFGS-B (analytic gradient; ftol 0, gtol 1e-10), start (a, b, alpha, beta, E) =
(3, 6, 0.1, 0.2, 1), every parameter >= 0.
Step 2: accuracy from bpb, acc = a / (1 + exp(-k (L - L0))) + b, least squares by scipy's curve_fit (trust region
reflective under bounds), start (chance - 1, 0.9, 3, 1) for (a, L0, k, b), bounds a in [-1, 0], L0 >= 0, k >= 0,
b in [0, 1].
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import curve_fit, minimize

DELTA = 1e-3


def _step1_objective(theta, lN, lD, lL):
    """Sum of Huber(log L_hat - log L) and its gradient in (a, b, alpha, beta, E)."""
    a, b, al, be, E = theta
    u = np.exp(a - al * lN)
    v = np.exp(b - be * lD)
    pred = u + v + E
    r = np.log(pred) - lL
    small = np.abs(r) < DELTA
    f = np.where(small, 0.5 * r * r, DELTA * (np.abs(r) - 0.5 * DELTA)).sum()
    dr = np.where(small, r, DELTA * np.sign(r)) / pred
    return f, np.array([dr @ u, dr @ v, -(dr * lN) @ u, -(dr * lD) @ v, dr.sum()])


def step1(N, D, L, start=(3.0, 6.0, 0.1, 0.2, 1.0)) -> dict:
    """Fit step 1; returns the parameters in lawfit's chinchilla names (E, A, B, alpha, beta) and the objective
    (the sum of Huber terms, the same number as lawfit's objective for loss="huber", space="log")."""
    lN, lD, lL = (np.log(np.asarray(v, dtype=np.float64)) for v in (N, D, L))
    r = minimize(_step1_objective, np.asarray(start, dtype=np.float64), args=(lN, lD, lL), jac=True,
                 method="L-BFGS-B", bounds=[(0.0, None)] * 5, tol=0.0,
                 options={"ftol": 0.0, "gtol": 1e-10, "maxiter": 1_000_000})
    a, b, al, be, E = r.x
    return {"params": {"E": E, "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": al, "beta": be},
            "objective": float(r.fun), "success": bool(r.success), "message": str(r.message)}


def sigmoid(L, a, L0, k, b):
    return a / (1.0 + np.exp(-k * (L - L0))) + b


def step2(L, acc, chance: float = 0.25) -> dict:
    """Fit step 2 (the caller adds the paper's point (0, 1) to L, acc); parameters in lawfit's sigmoid_from_loss
    names (a, k, L0, b) and the objective 0.5 x the sum of squared residuals (lawfit's convention)."""
    L, acc = np.asarray(L, dtype=np.float64), np.asarray(acc, dtype=np.float64)
    p, _ = curve_fit(sigmoid, L, acc, p0=[chance - 1.0, 0.9, 3.0, 1.0],
                     bounds=([-1.0, 0.0, 0.0, 0.0], [0.0, np.inf, np.inf, 1.0]), maxfev=500_000)
    a, L0, k, b = (float(v) for v in p)
    res = sigmoid(L, *p) - acc
    return {"params": {"a": a, "k": k, "L0": L0, "b": b}, "objective": float(0.5 * res @ res)}


def chinchilla(N, D, p: dict):
    N, D = np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64)
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def sigmoid_from_loss(L, p: dict):
    return sigmoid(np.asarray(L, dtype=np.float64), p["a"], p["L0"], p["k"], p["b"])
