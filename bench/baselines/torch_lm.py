"""A straightforward batched Levenberg-Marquardt in torch (float64, any device): the GPU baseline of
bench/bench_gpu.py. Every problem in the batch has the same number of points (dense [B, n] tensors), a fixed
iteration count, Marquardt damping (lambda * diag(J^T J)) with accept/reject per problem, and for Huber an
iteratively reweighted Gauss-Newton step. No bounds. This is what one would write in an afternoon; lawfit's
solver additionally handles bounds, ragged curves, statuses and convergence tests per curve.
"""
from __future__ import annotations

import torch


def lm(residual_jac, theta0: torch.Tensor, iters: int = 100, huber_delta: float | None = None):
    """Minimise 0.5 * sum rho(r_i(theta)) per batch row. residual_jac(theta [B, P]) -> r [B, n], J [B, n, P]."""
    theta = theta0.clone()
    B, P = theta.shape
    lam = torch.full((B,), 1e-3, dtype=theta.dtype, device=theta.device)
    eye = torch.eye(P, dtype=theta.dtype, device=theta.device)

    def cost_and_weights(r):
        if huber_delta is None:
            return 0.5 * (r * r).sum(1), torch.ones_like(r)
        a = r.abs()
        rho = torch.where(a <= huber_delta, 0.5 * r * r, huber_delta * (a - 0.5 * huber_delta))
        w = torch.where(a <= huber_delta, torch.ones_like(r), huber_delta / a.clamp_min(1e-300))
        return rho.sum(1), w

    r, J = residual_jac(theta)
    cost, w = cost_and_weights(r)
    cost = torch.nan_to_num(cost, nan=float("inf"))
    for _ in range(iters):
        Jw = J * w.unsqueeze(-1)
        A = Jw.transpose(1, 2) @ J
        g = (Jw * r.unsqueeze(-1)).sum(1)
        d = torch.diagonal(A, dim1=1, dim2=2).clamp_min(1e-12)
        M = A + lam[:, None, None] * torch.diag_embed(d) + 1e-300 * eye
        step = torch.linalg.solve(M, -g.unsqueeze(-1)).squeeze(-1)
        step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
        tn = theta + step
        rn, Jn = residual_jac(tn)
        cn, wn = cost_and_weights(rn)
        cn = torch.nan_to_num(cn, nan=float("inf"))
        acc = cn < cost
        theta = torch.where(acc[:, None], tn, theta)
        r = torch.where(acc[:, None], rn, r)
        J = torch.where(acc[:, None, None], Jn, J)
        w = torch.where(acc[:, None], wn, w)
        cost = torch.where(acc, cn, cost)
        lam = torch.where(acc, lam / 3.0, lam * 2.0).clamp(1e-15, 1e15)
    return theta, cost


def power_law_fit(x: torch.Tensor, y: torch.Tensor, p0: torch.Tensor, iters: int = 50):
    """y = E + A x^-alpha on [B, n] curves; theta = (E, log A, alpha). Returns natural (E, A, alpha), cost."""
    lx = torch.log(x)

    def rj(th):
        E, la, al = th[:, :1], th[:, 1:2], th[:, 2:3]
        t = torch.exp(la - al * lx)  # A x^-alpha
        r = y - (E + t)
        J = torch.stack([-torch.ones_like(t), -t, t * lx], dim=-1)
        return r, J

    th0 = torch.stack([p0[:, 0], torch.log(p0[:, 1]), p0[:, 2]], dim=1)
    th, cost = lm(rj, th0, iters)
    return torch.stack([th[:, 0], torch.exp(th[:, 1]), th[:, 2]], dim=1), cost


def chinchilla_fit(N: torch.Tensor, D: torch.Tensor, L: torch.Tensor, starts: torch.Tensor, delta: float = 1e-3,
                   iters: int = 100):
    """Huber(delta) on log L - log(E + A N^-alpha + B D^-beta), one shared data set [n] and S starts [S, 5]
    (E, A, B, alpha, beta); theta = (log E, log A, log B, alpha, beta). Returns natural parameters and cost."""
    lN, lD, lL = torch.log(N)[None], torch.log(D)[None], torch.log(L)[None]

    def rj(th):
        le, la, lb, al, be = (th[:, k:k + 1] for k in range(5))
        e, ta, tb = torch.exp(le).expand(-1, lN.shape[1]), torch.exp(la - al * lN), torch.exp(lb - be * lD)
        f = e + ta + tb
        r = lL - torch.log(f)
        J = -torch.stack([e, ta, tb, -ta * lN, -tb * lD], dim=-1) / f.unsqueeze(-1)
        return r, J

    th0 = torch.cat([torch.log(starts[:, :3]), starts[:, 3:]], dim=1)
    th, cost = lm(rj, th0, iters, huber_delta=delta)
    return torch.cat([torch.exp(th[:, :3]), th[:, 3:]], dim=1), cost
