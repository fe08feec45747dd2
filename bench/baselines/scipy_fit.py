"""Pure-Python baselines for the core fit benchmarks (the oracle and the speed reference)."""
import numpy as np
from scipy.optimize import curve_fit, minimize


def power_law(x, E, A, alpha):
    return E + A * x**-alpha


def curve_fit_loop(x, y, offsets, p0):
    """scipy.optimize.curve_fit (MINPACK LM) on each curve in a Python loop, same start per curve."""
    B = len(offsets) - 1
    out = np.full((B, 3), np.nan)
    for b in range(B):
        s = slice(offsets[b], offsets[b + 1])
        try:
            out[b], _ = curve_fit(power_law, x[s], y[s], p0=p0[b])
        except RuntimeError:
            pass
    return out


def huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def chinchilla_objective(theta, logN, logD, logL, delta):
    """Hoffmann et al.'s objective: sum of Huber(log L - LSE(a - alpha log N, b - beta log D, e)), with its
    analytic gradient (so the baseline is not slowed down by finite differences)."""
    a, b, e, alpha, beta = theta
    t1 = a - alpha * logN
    t2 = b - beta * logD
    m = np.maximum(np.maximum(t1, t2), e)
    w1, w2, w3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = w1 + w2 + w3
    pred = m + np.log(s)
    r = logL - pred
    dh = np.clip(r, -delta, delta)  # d huber / d r
    g1, g2, g3 = w1 / s, w2 / s, w3 / s
    grad = -np.array([np.sum(dh * g1), np.sum(dh * g2), np.sum(dh * g3),
                      np.sum(dh * g1 * -logN), np.sum(dh * g2 * -logD)])
    return float(np.sum(huber(r, delta))), grad


def chinchilla_lbfgs_grid(N, D, L, grid, delta=1e-3, analytic_gradient=True):
    """L-BFGS-B from every start of the grid [S, 5] in (a, b, e, alpha, beta); returns the best.

    analytic_gradient=False is scipy.optimize.minimize's default (finite-difference gradient), as the usual
    public replications of Hoffmann et al.'s fit are written; True passes the exact gradient (faster)."""
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    best = (np.inf, None)

    def value_only(theta):
        return chinchilla_objective(theta, logN, logD, logL, delta)[0]

    for g in grid:
        if analytic_gradient:
            r = minimize(chinchilla_objective, g, args=(logN, logD, logL, delta), jac=True, method="L-BFGS-B")
        else:
            r = minimize(value_only, g, method="L-BFGS-B")
        if r.fun < best[0]:
            best = (r.fun, r.x)
    return best
