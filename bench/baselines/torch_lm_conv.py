"""A batched Levenberg-Marquardt in torch with per-curve convergence (float64, CPU) for bench/bench_peers.py.

Unlike bench/baselines/torch_lm.py (a fixed iteration count over the whole batch, the GPU baseline of
bench_gpu.py), each curve stops on its own and finished curves are dropped from the active set after every
iteration (their state is written out and every per-curve tensor, data included, compacted with a boolean mask),
so the work per iteration shrinks with the number of curves still running.

The algorithm per curve is the one of bench/baselines/jax_lm.py, so the two should agree to rounding:
residual r = f(theta, x) - y, cost 0.5 r^T r; step (J^T J + lam D) h = -J^T r with D the running maximum of
diag(J^T J); accepted when the cost drops (lam *= max(1/3, 1 - (2 rho - 1)^3)), else lam *= nu, nu *= 2; stopping
tests ftol (accepted step with actual and predicted reductions <= ftol * cost), xtol (||h|| <= xtol (xtol +
||theta||)), gtol (max_j |g_j| / (||J_j|| ||r||) <= gtol), lam > 1e30; max_iter counts trial steps (model +
Jacobian evaluations). The model and its analytic Jacobian are evaluated together at each trial point.

The P x P solve: solve="unrolled" (default) is a Cholesky written out over the P <= 4 entries, every operation an
elementwise op over the active batch; solve="cholesky_ex" uses torch.linalg.cholesky_ex + torch.cholesky_solve on
[m, P, P]. A failed factorisation counts as a rejected step.

Problems (natural parameters in and out): power_law y = E + A x^-alpha in theta = (E, log A, alpha), unbounded;
gauss y = a exp(-(x - b)^2 / (2 c^2)) + d, theta = (a, b, c, d), unbounded (c returned as |c|).
Threads: torch.set_num_threads (the caller's).
"""
from __future__ import annotations

import numpy as np
import torch

CONVERGED, MAX_ITER, NON_FINITE = 0, 1, 2


def _chol_solve_unrolled(A, b):
    """A [m, P, P] SPD, b [m, P] -> (h [m, P], ok [m]) by a Cholesky unrolled over the P entries."""
    P = A.shape[-1]
    L = [[None] * P for _ in range(P)]
    ok = torch.ones(A.shape[0], dtype=torch.bool, device=A.device)
    for j in range(P):
        s = A[:, j, j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        ok &= (s > 0) & torch.isfinite(s)
        d = torch.sqrt(torch.where(s > 0, s, torch.ones_like(s)))
        L[j][j] = d
        for i in range(j + 1, P):
            v = A[:, i, j]
            for k in range(j):
                v = v - L[i][k] * L[j][k]
            L[i][j] = v / d
    z = [None] * P
    for i in range(P):
        v = b[:, i]
        for k in range(i):
            v = v - L[i][k] * z[k]
        z[i] = v / L[i][i]
    h = [None] * P
    for i in reversed(range(P)):
        v = z[i]
        for k in range(i + 1, P):
            v = v - L[k][i] * h[k]
        h[i] = v / L[i][i]
    return torch.stack(h, dim=1), ok


def _chol_solve_ex(A, b):
    L, info = torch.linalg.cholesky_ex(A)
    ok = info == 0
    h = torch.cholesky_solve(b.unsqueeze(-1), L).squeeze(-1)
    return h, ok & torch.isfinite(h).all(1)


def lm(rj, theta0, x, y, ftol=1e-8, xtol=1e-8, gtol=1e-8, max_iter=200, solve="unrolled"):
    """rj(theta [m, P], x [m, n] or [n], y [m, n]) -> (r [m, n], J [m, n, P]). x of one dimension is shared by all
    curves. Returns dict(theta [B, P], cost [B], status [B], trials [B], accepted [B]) as tensors."""
    solver = {"unrolled": _chol_solve_unrolled, "cholesky_ex": _chol_solve_ex}[solve]
    B, P = theta0.shape
    dt, dev = theta0.dtype, theta0.device
    shared_x = x.dim() == 1
    out = dict(theta=theta0.clone(), cost=torch.full((B,), float("inf"), dtype=dt, device=dev),
               status=torch.full((B,), MAX_ITER, dtype=torch.int64, device=dev),
               trials=torch.zeros(B, dtype=torch.int64, device=dev),
               accepted=torch.zeros(B, dtype=torch.int64, device=dev))
    idx = torch.arange(B, device=dev)
    theta = theta0.clone()
    r, J = rj(theta, x, y)
    cost = 0.5 * (r * r).sum(1)
    good = torch.isfinite(cost) & torch.isfinite(J).flatten(1).all(1)
    out["cost"] = torch.where(good, cost, out["cost"])
    out["status"][~good] = NON_FINITE
    out["status"][good & (cost == 0)] = CONVERGED
    run = good & (cost != 0)
    lam = torch.full((B,), 1e-3, dtype=dt, device=dev)
    nu = torch.full((B,), 2.0, dtype=dt, device=dev)
    dscale = torch.full((B, P), 1e-300, dtype=dt, device=dev)
    trials = torch.zeros(B, dtype=torch.int64, device=dev)
    acc_n = torch.zeros(B, dtype=torch.int64, device=dev)
    if not run.all():
        idx, theta, r, J, cost, y = idx[run], theta[run], r[run], J[run], cost[run], y[run]
        lam, nu, dscale, trials, acc_n = lam[run], nu[run], dscale[run], trials[run], acc_n[run]
        if not shared_x:
            x = x[run]
    while idx.numel():
        Jt = J.transpose(1, 2)
        A = Jt @ J
        g = (Jt @ r.unsqueeze(-1)).squeeze(-1)
        dA = torch.diagonal(A, dim1=1, dim2=2)
        rr = (r * r).sum(1, keepdim=True)
        cn2 = dA * rr
        cosmax = torch.where(cn2 > 0, g.abs() / torch.sqrt(torch.where(cn2 > 0, cn2, torch.ones_like(cn2))),
                             torch.zeros_like(cn2)).amax(1)
        gtol_met = cosmax <= gtol
        dscale = torch.maximum(dscale, dA)
        M = A + torch.diag_embed(lam.unsqueeze(1) * dscale)
        h, ok = solver(M, -g)
        h = torch.where(ok.unsqueeze(1), h, torch.zeros_like(h))
        hn = torch.linalg.vector_norm(h, dim=1)
        xtol_met = ok & (hn <= xtol * (xtol + torch.linalg.vector_norm(theta, dim=1)))
        thn = theta + h
        rn, Jn = rj(thn, x, y)
        cn = 0.5 * (rn * rn).sum(1)
        finite = torch.isfinite(cn) & torch.isfinite(Jn).flatten(1).all(1)
        pred = -((g * h).sum(1) + 0.5 * (h * (A @ h.unsqueeze(-1)).squeeze(-1)).sum(1))
        actual = cost - cn
        acc = ok & finite & (actual > 0) & ~gtol_met
        rho = torch.where(pred > 0, actual / torch.where(pred > 0, pred, torch.ones_like(pred)), torch.zeros_like(pred))
        t = 2.0 * rho - 1.0
        lam = torch.where(acc, (lam * torch.clamp(1.0 - t * t * t, min=1.0 / 3.0)).clamp_min(1e-15), lam * nu)
        nu = torch.where(acc, torch.full_like(nu, 2.0), nu * 2.0)
        ftol_met = acc & (actual <= ftol * cost) & (pred <= ftol * cost)
        trials = trials + 1
        acc_n = acc_n + acc.long()
        a1 = acc.unsqueeze(1)
        theta = torch.where(a1, thn, theta)
        r = torch.where(a1, rn, r)
        J = torch.where(a1.unsqueeze(2), Jn, J)
        cost = torch.where(acc, cn, cost)
        conv = gtol_met | xtol_met | ftol_met | (acc & (cn == 0)) | (lam > 1e30)
        stop = conv | (trials >= max_iter)
        if stop.any():
            i = idx[stop]
            out["theta"][i] = theta[stop]
            out["cost"][i] = cost[stop]
            out["status"][i] = torch.where(conv[stop], CONVERGED, MAX_ITER)
            out["trials"][i] = trials[stop]
            out["accepted"][i] = acc_n[stop]
            keep = ~stop
            idx, theta, r, J, cost, y = idx[keep], theta[keep], r[keep], J[keep], cost[keep], y[keep]
            lam, nu, dscale, trials, acc_n = lam[keep], nu[keep], dscale[keep], trials[keep], acc_n[keep]
            if not shared_x:
                x = x[keep]
    return out


def _power_rj(th, x, y):
    lx = torch.log(x)
    if lx.dim() == 1:
        lx = lx.unsqueeze(0)
    t = torch.exp(th[:, 1:2] - th[:, 2:3] * lx)  # A x^-alpha
    return th[:, 0:1] + t - y, torch.stack([torch.ones_like(t), t, -t * lx], dim=-1)


def _gauss_rj(th, x, y):
    if x.dim() == 1:
        x = x.unsqueeze(0)
    a, b, c, d = (th[:, k:k + 1] for k in range(4))
    z = (x - b) / c
    e = torch.exp(-0.5 * z * z)
    ae = a * e
    return ae + d - y, torch.stack([e, ae * z / c, ae * z * z / c, torch.ones_like(e)], dim=-1)


def _as_tensor(a):
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _numpy(out):
    return {k: v.cpu().numpy() for k, v in out.items()}


def power_law_fit(x, y, p0, ftol=1e-8, xtol=1e-8, gtol=1e-8, max_iter=200, solve="unrolled"):
    """y = E + A x^-alpha on [B, n] curves (x [B, n] or shared [n]); p0 [B, 3] natural (E, A, alpha), A > 0.
    numpy or torch inputs; returns dict(params [B, 3] natural, cost = 0.5 SSR, status, trials, accepted), numpy."""
    x, y, p0 = _as_tensor(x), _as_tensor(y), _as_tensor(p0)
    th0 = torch.stack([p0[:, 0], torch.log(p0[:, 1]), p0[:, 2]], dim=1)
    o = _numpy(lm(_power_rj, th0, x, y, ftol, xtol, gtol, max_iter, solve))
    th = o.pop("theta")
    o["params"] = np.column_stack([th[:, 0], np.exp(th[:, 1]), th[:, 2]])
    return o


def gauss_fit(x, y, p0, ftol=1e-8, xtol=1e-8, gtol=1e-8, max_iter=200, solve="unrolled"):
    """y = a exp(-(x - b)^2 / (2 c^2)) + d on [B, n] curves; p0 [B, 4] (a, b, c, d). Same returns (c made
    positive)."""
    x, y, p0 = _as_tensor(x), _as_tensor(y), _as_tensor(p0)
    o = _numpy(lm(_gauss_rj, p0.clone(), x, y, ftol, xtol, gtol, max_iter, solve))
    th = o.pop("theta")
    th[:, 2] = np.abs(th[:, 2])
    o["params"] = th
    return o
