"""A hand-written batched Levenberg-Marquardt in JAX (float64, CPU): jax.jit of jax.vmap of a one-curve LM whose
iterations are a lax.while_loop. Under vmap the while_loop runs until every curve of the batch has stopped (or
max_iter), finished curves riding along masked (their state is frozen by a select); each curve keeps its own
damping, acceptance and convergence.

One curve, residual r(theta) = f(theta, x) - y, cost C = 0.5 r^T r, J = dr/dtheta:
  - the damping is Marquardt's, lam * D with D the running maximum of diag(J^T J) (MINPACK's scaling); the step
    solves (J^T J + lam D) h = -J^T r by an unrolled Cholesky (P <= 4 here; a failed factorisation counts as a
    rejected step);
  - a step is accepted when it lowers the cost; then lam *= max(1/3, 1 - (2 rho - 1)^3) with rho the ratio of
    actual to predicted reduction, else lam *= nu, nu *= 2 (Nielsen's update, the one lawfit's CPU solver uses);
  - stopping tests (MINPACK's, on the scaled problem): ftol: an accepted step with actual and predicted reductions
    both <= ftol * C; xtol: ||h|| <= xtol (xtol + ||theta||); gtol: max_j |g_j| / (||J_j|| ||r||) <= gtol;
    also lam > 1e30 (no step lowers the cost: converged to machine precision). Defaults 1e-8, as lawfit and
    scipy.optimize.least_squares;
  - max_iter counts trial steps (model + Jacobian evaluations, accepted or not); a curve that reaches it without a
    test met has status MAX_ITER.
The model and its Jacobian are computed together at every trial point (analytic Jacobian by default,
jac="jacfwd" for jax.jacfwd of the model); under vmap there is no branch to skip the Jacobian of a rejected step.

Problems (natural parameters in and out):
  power_law  y = E + A x^-alpha, fitted in theta = (E, log A, alpha) (A > 0 by construction; E, alpha
             unbounded; lawfit fits the same theta, with alpha in [0, 10]);
  gauss      y = a exp(-(x - b)^2 / (2 c^2)) + d, theta = (a, b, c, d) unbounded (c is returned as |c|).

Import sets jax_enable_x64. Thread count: XLA's CPU backend sizes its pool from the process's CPU affinity; set
XLA_FLAGS / taskset before importing jax to restrict it (bench/bench_peers.py does the latter).
"""
from __future__ import annotations

import functools

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

RUNNING, CONVERGED, MAX_ITER, NON_FINITE = -1, 0, 1, 2
STATUS_NAMES = {CONVERGED: "CONVERGED", MAX_ITER: "MAX_ITER", NON_FINITE: "NON_FINITE"}


def _chol_solve(A, b):
    """Solve A h = b for one small SPD matrix (P x P, P known at trace time) by an unrolled Cholesky.
    Returns (h, ok); ok is False when a pivot is not positive and finite."""
    P = A.shape[0]
    L = [[None] * P for _ in range(P)]
    ok = jnp.array(True)
    for j in range(P):
        s = A[j, j] - sum((L[j][k] * L[j][k] for k in range(j)), 0.0)
        ok = ok & (s > 0) & jnp.isfinite(s)
        d = jnp.sqrt(jnp.where(s > 0, s, 1.0))
        L[j][j] = d
        for i in range(j + 1, P):
            L[i][j] = (A[i, j] - sum((L[i][k] * L[j][k] for k in range(j)), 0.0)) / d
    z = [None] * P
    for i in range(P):
        z[i] = (b[i] - sum((L[i][k] * z[k] for k in range(i)), 0.0)) / L[i][i]
    h = [None] * P
    for i in reversed(range(P)):
        h[i] = (z[i] - sum((L[k][i] * h[k] for k in range(i + 1, P)), 0.0)) / L[i][i]
    return jnp.stack(h), ok


def _lm_one(rj, theta0, x, y, ftol, xtol, gtol, max_iter):
    """LM on one curve. rj(theta, x, y) -> (r [n], J [n, P])."""
    P = theta0.shape[0]
    dt = theta0.dtype
    r0, J0 = rj(theta0, x, y)
    c0 = 0.5 * jnp.dot(r0, r0)
    ok0 = jnp.isfinite(c0) & jnp.all(jnp.isfinite(J0))
    state = dict(theta=theta0, r=r0, J=J0, cost=c0, lam=jnp.asarray(1e-3, dt), nu=jnp.asarray(2.0, dt),
                 dscale=jnp.full((P,), 1e-300, dt), trials=jnp.asarray(0, jnp.int32),
                 accepted=jnp.asarray(0, jnp.int32),
                 status=jnp.where(ok0, jnp.where(c0 == 0, CONVERGED, RUNNING), NON_FINITE).astype(jnp.int32))

    def cond(s):
        return s["status"] == RUNNING

    def body(s):
        theta, r, J, cost = s["theta"], s["r"], s["J"], s["cost"]
        A = J.T @ J
        g = J.T @ r
        dA = jnp.diagonal(A)
        rr = jnp.dot(r, r)
        cosmax = jnp.max(jnp.where(dA * rr > 0, jnp.abs(g) / jnp.sqrt(jnp.where(dA * rr > 0, dA * rr, 1.0)), 0.0))
        gtol_met = cosmax <= gtol
        dscale = jnp.maximum(s["dscale"], dA)
        M = A + jnp.diag(s["lam"] * dscale)
        h, ok = _chol_solve(M, -g)
        h = jnp.where(ok, h, 0.0)
        hn = jnp.sqrt(jnp.dot(h, h))
        xtol_met = ok & (hn <= xtol * (xtol + jnp.sqrt(jnp.dot(theta, theta))))
        thn = theta + h
        rn, Jn = rj(thn, x, y)
        cn = 0.5 * jnp.dot(rn, rn)
        finite = jnp.isfinite(cn) & jnp.all(jnp.isfinite(Jn))
        pred = -(jnp.dot(g, h) + 0.5 * jnp.dot(h, A @ h))
        actual = cost - cn
        acc = ok & finite & (actual > 0) & ~gtol_met
        rho = jnp.where(pred > 0, actual / jnp.where(pred > 0, pred, 1.0), 0.0)
        t = 2.0 * rho - 1.0
        lam = jnp.where(acc, jnp.maximum(s["lam"] * jnp.maximum(1.0 / 3.0, 1.0 - t * t * t), 1e-15), s["lam"] * s["nu"])
        nu = jnp.where(acc, 2.0, s["nu"] * 2.0)
        ftol_met = acc & (actual <= ftol * cost) & (pred <= ftol * cost)
        trials = s["trials"] + 1
        stop = gtol_met | xtol_met | ftol_met | (acc & (cn == 0)) | (lam > 1e30)
        status = jnp.where(stop, CONVERGED, jnp.where(trials >= max_iter, MAX_ITER, RUNNING)).astype(jnp.int32)

        def pick(new, old):
            return jnp.where(acc, new, old)

        return dict(theta=pick(thn, theta), r=pick(rn, r), J=pick(Jn, J), cost=pick(cn, cost), lam=lam, nu=nu,
                    dscale=dscale, trials=trials, accepted=s["accepted"] + acc.astype(jnp.int32), status=status)

    s = lax.while_loop(cond, body, state)
    return s["theta"], s["cost"], s["status"], s["trials"], s["accepted"]


def make_fitter(rj, shared_x=False):
    """Batched jitted LM for a one-curve residual/Jacobian function rj(theta, x, y) -> (r [n], J [n, P]).
    Returns fit(theta0 [B, P], x [B, n] (or [n] if shared_x), y [B, n], ftol, xtol, gtol, max_iter)."""

    @functools.partial(jax.jit, static_argnames=("max_iter",))
    def fit(theta0, x, y, ftol=1e-8, xtol=1e-8, gtol=1e-8, max_iter=200):
        one = functools.partial(_lm_one, rj, ftol=ftol, xtol=xtol, gtol=gtol, max_iter=max_iter)
        return jax.vmap(one, in_axes=(0, None if shared_x else 0, 0))(theta0, x, y)

    return fit


def _from_model(f):
    """rj(theta, x, y) from a model f(theta, x) -> [n] by jax.jacfwd."""

    def rj(theta, x, y):
        return f(theta, x) - y, jax.jacfwd(f)(theta, x)

    return rj


# power_law in theta = (E, log A, alpha)
def _power_model(th, x):
    return th[0] + jnp.exp(th[1] - th[2] * jnp.log(x))


def _power_rj(th, x, y):
    lx = jnp.log(x)
    t = jnp.exp(th[1] - th[2] * lx)  # A x^-alpha
    return th[0] + t - y, jnp.stack([jnp.ones_like(t), t, -t * lx], axis=-1)


def _gauss_model(th, x):
    z = (x - th[1]) / th[2]
    return th[0] * jnp.exp(-0.5 * z * z) + th[3]


def _gauss_rj(th, x, y):
    a, b, c, d = th[0], th[1], th[2], th[3]
    z = (x - b) / c
    e = jnp.exp(-0.5 * z * z)
    ae = a * e
    return ae + d - y, jnp.stack([e, ae * z / c, ae * z * z / c, jnp.ones_like(e)], axis=-1)


_FITTERS = {}


def _fitter(name, jac, shared_x):
    key = (name, jac, shared_x)
    if key not in _FITTERS:
        rj = {"power_law": (_power_rj, _power_model), "gauss": (_gauss_rj, _gauss_model)}[name]
        _FITTERS[key] = make_fitter(rj[0] if jac == "analytic" else _from_model(rj[1]), shared_x)
    return _FITTERS[key]


def _run(name, x, y, theta0, jac, ftol, xtol, gtol, max_iter):
    x = np.asarray(x, np.float64)
    shared = x.ndim == 1
    fit = _fitter(name, jac, shared)
    th, cost, status, trials, acc = fit(jnp.asarray(theta0, jnp.float64), jnp.asarray(x), jnp.asarray(y, jnp.float64),
                                        ftol=ftol, xtol=xtol, gtol=gtol, max_iter=int(max_iter))
    th = np.asarray(th)  # blocks until done
    return th, np.asarray(cost), np.asarray(status), np.asarray(trials), np.asarray(acc)


def power_law_fit(x, y, p0, jac="analytic", ftol=1e-8, xtol=1e-8, gtol=1e-8, max_iter=200):
    """y = E + A x^-alpha on [B, n] curves (x [B, n] or one shared [n]); p0 [B, 3] natural (E, A, alpha), A > 0.
    Returns dict(params [B, 3] natural, cost = 0.5 SSR [B], status, trials, accepted) as numpy arrays."""
    p0 = np.asarray(p0, np.float64)
    th0 = np.column_stack([p0[:, 0], np.log(p0[:, 1]), p0[:, 2]])
    th, cost, st, tr, acc = _run("power_law", x, y, th0, jac, ftol, xtol, gtol, max_iter)
    return dict(params=np.column_stack([th[:, 0], np.exp(th[:, 1]), th[:, 2]]), cost=cost, status=st, trials=tr,
                accepted=acc)


def gauss_fit(x, y, p0, jac="analytic", ftol=1e-8, xtol=1e-8, gtol=1e-8, max_iter=200):
    """y = a exp(-(x - b)^2 / (2 c^2)) + d on [B, n] curves; p0 [B, 4] (a, b, c, d). Same returns as power_law_fit
    (c made positive)."""
    th, cost, st, tr, acc = _run("gauss", x, y, np.asarray(p0, np.float64), jac, ftol, xtol, gtol, max_iter)
    th = th.copy()
    th[:, 2] = np.abs(th[:, 2])
    return dict(params=th, cost=cost, status=st, trials=tr, accepted=acc)
