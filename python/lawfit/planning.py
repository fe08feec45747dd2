"""Planning with fitted laws of (N, D): compute-optimal allocation, iso-FLOP slices, the compute-optimal
frontier, the inference-aware optimum (Sardana & Frankle 2023) and (loss, cost) Pareto sets over grids of
configurations, with intervals from parameter samples.

Conventions: training compute C = k_train N D (k_train = 6), inference compute k_infer N per generated token
(k_infer = 2), N and D as the law was fitted (parameters and tokens). Closed forms for ``chinchilla``
(Hoffmann et al. 2022: G = (alpha A / (beta B))^(1/(alpha+beta)), N_opt = G (C/k)^(beta/(alpha+beta)),
D_opt = (C/k)^(alpha/(alpha+beta)) / G); any other law of (N, D) is minimised numerically (a log-spaced scan then
golden-section search in log N, vectorised over curves, budgets and samples: one native law evaluation per step).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from ._args import check_prob, resolve_threads, show
from ._native import _core
from ._progress import with_progress
from .catalogue import LawSpec
from . import distributed
from .distributed import is_distributed

__all__ = ["optimal", "iso_flop", "frontier", "plan", "pareto", "plot_frontier"]

_GOLD = (np.sqrt(5.0) - 1.0) / 2.0
_LOG_N_MAX = np.log(1e30)

CONVENTIONS = {
    "compute": "training FLOPs C = k_train N D (k_train = 6 unless given)",
    "inference": "inference FLOPs = k_infer N per generated token (k_infer = 2), Sardana & Frankle 2023",
    "N": "parameters as the law was fitted (the law's N input)",
    "D": "training tokens (the law's D input)",
    "gpu_hours": "FLOPs / (dense peak of the dtype x mfu) / 3600 on one hardware entry",
    "cost_usd": "gpu_hours x price (USD per GPU-hour)",
    "intervals": "equal-tailed quantiles over parameter samples (bootstrap or explicit)",
}


# ---- helpers --------------------------------------------------------------------------------------------
def _law(fit) -> LawSpec:
    law = fit.law
    if tuple(law.inputs) != ("N", "D") or law.transform is not None:
        raise ValueError(f"planning needs a law of inputs (N, D); {law.name!r} has inputs {tuple(law.inputs)}")
    return law


def _positive_array(v, name: str) -> np.ndarray:
    try:
        a = np.atleast_1d(np.asarray(v, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be a number or a 1-D array, got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    if (a <= 0).any() or not np.isfinite(a).all():
        raise ValueError(f"{name} must be positive and finite, got {float(a[(a <= 0) | ~np.isfinite(a)][0])!r}")
    return a


def _nonneg(v, name: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {show(v)}") from None
    if np.isnan(x) or x < 0 or not np.isfinite(x):
        raise ValueError(f"{name} must be >= 0 and finite, got {show(v)}")
    return x


def _samples(fit, samples) -> Optional[np.ndarray]:
    """Parameter samples as [curves, S, P] (explicit array, or fit.bootstrap_samples)."""
    if samples is None:
        samples = getattr(fit, "bootstrap_samples", None)
        if samples is None:
            return None
    s = np.asarray(samples, dtype=np.float64)
    P = fit.law.n_params
    if s.ndim == 2 and fit.n_curves == 1:
        s = s[None]
    if s.ndim != 3 or s.shape[0] != fit.n_curves or s.shape[2] != P:
        raise ValueError(f"samples must have shape [curves={fit.n_curves}, n, P={P}], got {s.shape}")
    return np.ascontiguousarray(s)


def _loss(law: LawSpec, N: np.ndarray, D: np.ndarray, P: np.ndarray) -> np.ndarray:
    """L(N, D) with per-point parameters P[m, P] (flat arrays of length m)."""
    m = N.size
    if m == 0:
        return np.empty(0)
    X = np.ascontiguousarray(np.column_stack([N.ravel(), D.ravel()]), dtype=np.float64)
    Pp = np.ascontiguousarray(P, dtype=np.float64)
    if m == 1:
        Pp = np.ascontiguousarray(Pp.reshape(-1))
    with np.errstate(all="ignore"):
        out = np.asarray(law._eval(X, Pp), dtype=np.float64).reshape(N.shape)
    return np.where(np.isfinite(out), out, np.inf)


def _minimise(f, lo: np.ndarray, hi: np.ndarray, n_scan: int = 96, iters: int = 80) -> np.ndarray:
    """Vectorised minimisation of f(u) (u, f arrays of shape [m]) on [lo, hi]: log-spaced scan, then golden-section
    search on the bracket around the best scan point (assumes unimodality inside that bracket)."""
    m = lo.size
    t = np.linspace(0.0, 1.0, n_scan)
    U = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    F = np.stack([f(U[:, j]) for j in range(n_scan)], axis=1)
    j = np.argmin(F, axis=1)
    a = U[np.arange(m), np.maximum(j - 1, 0)]
    b = U[np.arange(m), np.minimum(j + 1, n_scan - 1)]
    for _ in range(iters):
        c = b - _GOLD * (b - a)
        d = a + _GOLD * (b - a)
        left = f(c) < f(d)
        b = np.where(left, d, b)
        a = np.where(left, a, c)
    u = 0.5 * (a + b)
    best_scan = F[np.arange(m), j]
    fu = f(u)
    return np.where(fu <= best_scan, u, U[np.arange(m), j])


def _chinchilla_closed(P: np.ndarray, C: np.ndarray, k: float) -> tuple:
    E, A, B, al, be = (P[:, i] for i in range(5))
    with np.errstate(all="ignore"):
        G = (al * A / (be * B)) ** (1.0 / (al + be))
        N = G * (C / k) ** (be / (al + be))
        D = (C / k) ** (al / (al + be)) / G
    return N, D


def _usable(fit, op: str) -> tuple:
    """(ok mask [curves], status names [curves]) of a fit: a curve is usable when its status is CONVERGED or
    MAX_ITER and its parameters are finite. ValueError when no curve is usable (nothing to plan with)."""
    from ._status import Status

    params = np.asarray(fit._params, dtype=np.float64)
    codes = np.asarray(getattr(fit, "_status", np.zeros(len(params), dtype=np.int64)), dtype=np.int64)
    names = np.array([Status(int(c)).name if c in Status._value2member_map_ else str(int(c)) for c in codes],
                     dtype=object)
    ok = np.isin(codes, [int(Status.CONVERGED), int(Status.MAX_ITER)]) & np.isfinite(params).all(axis=1)
    if not ok.any():
        what = ", ".join(sorted(set(names))) if len(names) else "no curves"
        raise ValueError(f"{op}: the fit has no curve with usable parameters (status: {what}); refit (e.g. other "
                         "starts or bounds) before planning with it")
    return ok, names


def _blank_failed(out: pd.DataFrame, ok: np.ndarray, names: np.ndarray, by: list) -> None:
    """Rows of curves whose fit failed: NaN in every numeric output column, and a ``status`` column."""
    bad = ~ok
    if bad.any():
        for c in out.columns:
            if c in by:
                continue
            if pd.api.types.is_float_dtype(out[c]):
                out.loc[bad, c] = np.nan
    out["status"] = names


def _by_frame(fit, rep_curve: np.ndarray) -> pd.DataFrame:
    if not fit.by:
        return pd.DataFrame(index=pd.RangeIndex(len(rep_curve)))
    return fit.keys.iloc[rep_curve][fit.by].reset_index(drop=True)


def _with_attrs(df: pd.DataFrame, **extra) -> pd.DataFrame:
    df.attrs["conventions"] = dict(CONVENTIONS)
    df.attrs.update(extra)
    return df


# ---- compute-optimal allocation -------------------------------------------------------------------------
def _optimal_arrays(law: LawSpec, P: np.ndarray, C: np.ndarray, k: float, method: str) -> tuple:
    """N, D, loss for per-point parameters P[m, P] and budgets C[m]."""
    if method == "auto":
        method = "closed" if law.name == "chinchilla" else "numeric"
    if method == "closed":
        if law.name != "chinchilla":
            raise ValueError(f"method='closed' exists for chinchilla only, not {law.name!r}")
        N, D = _chinchilla_closed(P, C, k)
    elif method == "numeric":
        lc = np.log(C / k)

        def f(u):
            return _loss(law, np.exp(u), np.exp(lc - u), P)

        u = _minimise(f, np.zeros_like(lc), lc)
        N, D = np.exp(u), np.exp(lc - u)
    else:
        raise ValueError(f"method must be 'auto', 'closed' or 'numeric', got {show(method)}")
    return N, D, _loss(law, N, D, P), method


def optimal(fit, compute, *, k: float = 6.0, method: str = "auto", interval: Optional[float] = None,
            samples=None) -> pd.DataFrame:
    """Compute-optimal (N, D) for each curve and each budget C (a number or an array), under C = k N D.

    Returns a DataFrame with the ``by`` columns, ``compute``, ``N``, ``D``, ``loss`` (a row per curve and budget).
    method: "closed" (chinchilla), "numeric" (any law of (N, D)) or "auto".

    ``interval`` (a level, e.g. 0.9): also ``N_low``/``N_high``, ``D_low``/``D_high``, ``loss_low``/``loss_high``,
    equal-tailed quantiles of the optimum over parameter ``samples`` ([curves, n, P]; default
    ``fit.bootstrap_samples``, so run ``fit.bootstrap()`` first); replicates without parameters are left out."""
    law = _law(fit)
    C = _positive_array(compute, "compute")
    k = float(_positive_array(k, "k")[0])
    B = fit.n_curves
    curve = np.repeat(np.arange(B), C.size)
    Cm = np.tile(C, B)
    N, D, L, used = _optimal_arrays(law, fit._params[curve], Cm, k, method)
    out = _by_frame(fit, curve)
    out["compute"], out["N"], out["D"], out["loss"] = Cm, N, D, L
    if interval is not None:
        interval = check_prob("interval", interval, op="optimal")
        S = _samples(fit, samples)
        if S is None:
            raise ValueError("optimal: interval needs parameter samples: run fit.bootstrap() first or pass samples=")
        n = S.shape[1]
        # [curves, budgets, samples] flattened: the optimum of every sample at every budget in one vectorised call
        Ps = np.broadcast_to(S[:, None, :, :], (B, C.size, n, S.shape[2])).reshape(-1, S.shape[2])
        Cs = np.broadcast_to(C[None, :, None], (B, C.size, n)).reshape(-1)
        good = np.isfinite(Ps).all(axis=1)
        Ns, Ds, Ls = (np.full(Cs.size, np.nan) for _ in range(3))
        if good.any():
            Ns[good], Ds[good], Ls[good], _ = _optimal_arrays(law, np.ascontiguousarray(Ps[good]), Cs[good], k, used)
        per = pd.DataFrame({"N": Ns, "D": Ds, "loss": Ls})
        _add_intervals(out, per, ["N", "D", "loss"], B * C.size, interval)
    return _with_attrs(out, method=used, k=k)


def frontier(fit, compute=None, *, n: int = 50, k: float = 6.0, method: str = "auto",
             interval: Optional[float] = None, samples=None) -> pd.DataFrame:
    """The compute-optimal frontier: :func:`optimal` over ``compute`` (default 50 budgets from 1e18 to 1e26), with
    ``interval`` over parameter samples as in :func:`optimal`."""
    C = np.geomspace(1e18, 1e26, int(n)) if compute is None else compute
    return optimal(fit, C, k=k, method=method, interval=interval, samples=samples)


def iso_flop(fit, compute, *, N=None, n: int = 41, span: float = 10.0, k: float = 6.0) -> pd.DataFrame:
    """Iso-FLOP slices: for each curve and budget C, the loss along N (default n sizes from N_opt/span to
    N_opt*span, log-spaced) with D = C / (k N). Columns: by, compute, N, D, loss, is_optimal."""
    law = _law(fit)
    opt = optimal(fit, compute, k=k)
    m = len(opt)
    curve = np.repeat(np.arange(fit.n_curves), m // max(fit.n_curves, 1))
    if N is None:
        t = np.geomspace(1.0 / span, span, int(n))
        Ns = opt["N"].to_numpy()[:, None] * t[None, :]
    else:
        Ns = np.broadcast_to(_positive_array(N, "N")[None, :], (m, len(np.atleast_1d(N))))
    Cs = np.broadcast_to(opt["compute"].to_numpy()[:, None], Ns.shape)
    Ds = Cs / (k * Ns)
    rows = np.repeat(np.arange(m), Ns.shape[1])
    L = _loss(law, Ns.ravel(), Ds.ravel(), fit._params[curve[rows]])
    out = _by_frame(fit, curve[rows])
    out["compute"], out["N"], out["D"], out["loss"] = Cs.ravel(), Ns.ravel(), Ds.ravel(), L
    best = np.zeros(Ns.size, dtype=bool)
    best[np.arange(m) * Ns.shape[1] + np.argmin(L.reshape(Ns.shape), axis=1)] = True
    out["is_optimal"] = best
    return _with_attrs(out, k=k)


# ---- inference-aware planning (continuous) -------------------------------------------------------------
def _plan_loss(law, P, budget, d_inf, kt, ki):
    """min L(N, D) s.t. kt N D + ki N d_inf = budget (vectorised over rows of P)."""
    m = P.shape[0]
    lnmax = np.log(budget / (kt + ki * d_inf))  # D >= 1

    def D_of(u):
        with np.errstate(all="ignore"):
            return (budget / np.exp(u) - ki * d_inf) / kt

    def f(u):
        D = D_of(u)
        return np.where(D > 0, _loss(law, np.exp(u), np.maximum(D, 1e-300), P), np.inf)

    u = _minimise(f, np.zeros(m), lnmax)
    N, D = np.exp(u), D_of(u)
    return N, D


def _chinchilla_cost(P, target, d_inf, kt, ki):
    """Sardana & Frankle: B D^-b (a + b (1 + ki d_inf / (kt D))) = a (target - E), solved by bisection in log D,
    then A N^-a = target - E - B D^-b."""
    E, A, B, al, be = (P[:, i] for i in range(5))
    T = target - E
    lo = np.full(P.shape[0], 0.0)
    hi = np.full(P.shape[0], np.log(1e40))

    def g(v):
        D = np.exp(v)
        with np.errstate(all="ignore"):
            return B * D ** (-be) * (al + be * (1.0 + ki * d_inf / (kt * D))) - al * T

    for _ in range(200):  # g is decreasing in log D
        mid = 0.5 * (lo + hi)
        pos = g(mid) > 0
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
    D = np.exp(0.5 * (lo + hi))
    with np.errstate(all="ignore"):
        N = (A / (T - B * D ** (-be))) ** (1.0 / al)
    bad = ~(T > 0)
    return np.where(bad, np.nan, N), np.where(bad, np.nan, D)


def _plan_cost_numeric(law, P, target, d_inf, kt, ki):
    """min kt N D + ki N d_inf s.t. L(N, D) = target: for each N the D reaching the target (bisection in log D,
    L decreasing in D), then golden-section search over log N."""
    m = P.shape[0]

    def D_of(u):
        N = np.exp(u)
        lo, hi = np.zeros(m), np.full(m, np.log(1e40))
        reach = _loss(law, N, np.exp(hi), P) <= target
        for _ in range(120):
            mid = 0.5 * (lo + hi)
            ok = _loss(law, N, np.exp(mid), P) <= target
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid)
        return np.where(reach, np.exp(hi), np.inf)

    def f(u):
        D = D_of(u)
        return np.log(kt * np.exp(u) * D + ki * np.exp(u) * d_inf)

    u = _minimise(f, np.zeros(m), np.full(m, _LOG_N_MAX), n_scan=64, iters=60)
    return np.exp(u), D_of(u)


def _plan_rows(law, P, budget, d_inf, kt, ki, objective, target):
    if objective == "loss":
        N, D = _plan_loss(law, P, budget, d_inf, kt, ki)
        T = None
    else:
        if target is None:
            # The quality of the training-only compute-optimal model at this budget (Sardana & Frankle's setup).
            No, Do, T, _ = _optimal_arrays(law, P, np.full(P.shape[0], budget), kt, "auto")
        else:
            T = np.full(P.shape[0], float(target))
        if law.name == "chinchilla":
            N, D = _chinchilla_cost(P, T, d_inf, kt, ki)
        else:
            N, D = _plan_cost_numeric(law, P, T, d_inf, kt, ki)
    L = _loss(law, N, D, P)
    return N, D, L, T


@with_progress("lawfit plan")
def plan(
    fit,
    budget,
    *,
    inference_tokens: float = 0.0,
    hardware=None,
    objective: str = "loss",
    target_loss: Optional[float] = None,
    samples=None,
    grid=None,
    price: Optional[float] = None,
    mfu: float = 0.4,
    dtype: str = "bf16",
    k_train: float = 6.0,
    k_infer: float = 2.0,
    unit: str = "flops",
    interval: float = 0.9,
    prune: bool = True,
    threads: int = 0,
    device: str = "cpu",
    **assumptions,
) -> pd.DataFrame:
    """Inference-aware training plan for each curve of a fit of L(N, D) (Sardana & Frankle 2023).

    objective="loss": minimise L(N, D) subject to k_train N D + k_infer N inference_tokens <= budget (FLOPs).
    objective="cost": minimise k_train N D + k_infer N inference_tokens subject to L(N, D) = target_loss (default:
    the loss of the training-only compute-optimal model at ``budget``).

    With ``grid`` (a :func:`lawfit.cost.grid` or a table of configurations) the optimum is searched over those
    configurations with the full cost model (``unit`` "flops": training + inference FLOPs; "usd": training +
    inference dollars on ``hardware``), in one fused native pass over samples x grid.

    ``samples`` ([curves, n, P]; default ``fit.bootstrap_samples``) add ``<col>_low``/``<col>_high`` at level
    ``interval``, and ``attrs["samples"]`` holds the per-sample optima. With ``hardware``, the plan is priced:
    gpu_hours and cost_usd (``price`` USD per GPU-hour, default the catalogue's).

    ``device``: planning runs on the CPU; "cuda" raises ValueError (not ported to the GPU yet; no silent
    fall-back).

    Every row has a ``status`` column: the curve's fit status. A curve whose fit failed (a status other than
    CONVERGED or MAX_ITER, or non-finite parameters) gets NaN in every numeric column (and index -1 with
    ``grid``); a fit without any usable curve raises ValueError.

    A Dask DataFrame / Ray Dataset ``grid`` is planned partition by partition on the current cluster, the optima
    reduced per curve (:func:`lawfit.distributed.plan`, which also cuts a large grid into tasks): the same table.
    """
    if is_distributed(grid):  # a Dask DataFrame / Ray Dataset of configurations: lawfit.distributed
        return distributed.dispatch("plan", locals())
    law = _law(fit)
    from ._device import check_device

    check_device(device, "plan")
    if device == "cuda":
        raise ValueError("plan: planning runs on the CPU in this version (device='cpu'); device='cuda' applies to "
                         "lawfit.fit and lawfit.cost.evaluate")
    if objective not in ("loss", "cost"):
        raise ValueError(f"objective must be 'loss' or 'cost', got {show(objective)}")
    if np.ndim(budget) != 0:
        raise ValueError("budget must be a single number (FLOPs, or USD with unit='usd')")
    budget = float(_positive_array(budget, "budget")[0])
    d_inf = _nonneg(inference_tokens, "inference_tokens")
    kt = float(_positive_array(k_train, "k_train")[0])
    ki = float(_positive_array(k_infer, "k_infer")[0])
    if target_loss is not None and not np.isfinite(float(target_loss)):
        raise ValueError(f"target_loss must be finite, got {show(target_loss)}")
    interval = check_prob("interval", interval, op="plan")
    threads = resolve_threads(threads, op="plan")
    S = _samples(fit, samples)
    ok, status = _usable(fit, "plan")
    hw = None
    if hardware is not None:
        from . import cost as _cost

        hw = _cost.hardware(hardware)
    if grid is not None:
        out = _plan_grid(fit, law, grid, budget, d_inf, hw, objective, target_loss, S, price, mfu, dtype, unit,
                         interval, prune, threads, assumptions, ok)
        _blank_failed(out, ok, status, fit.by)
        return out
    if assumptions:
        raise ValueError(f"unknown argument(s) {sorted(assumptions)} (cost-model assumptions apply with grid=)")
    B = fit.n_curves
    N, D, L, T = _plan_rows(law, fit._params, budget, d_inf, kt, ki, objective, target_loss)
    out = _by_frame(fit, np.arange(B))
    out["N"], out["D"], out["loss"] = N, D, L
    if T is not None:
        out["target_loss"] = T
    out["flops_train"] = kt * N * D
    out["flops_inference"] = ki * N * d_inf
    out["flops_total"] = out["flops_train"] + out["flops_inference"]
    if objective == "cost":
        No, Do, _, _ = _optimal_arrays(law, fit._params, np.full(B, budget), kt, "auto")
        out["flops_total_chinchilla"] = kt * No * Do + ki * No * d_inf
    cols = ["N", "D", "loss", "flops_total"]
    if S is not None:
        n = S.shape[1]
        Pm = S.reshape(-1, S.shape[2])
        Ns, Ds, Ls, _ = _plan_rows(law, Pm, budget, d_inf, kt, ki, objective, target_loss)
        per = pd.DataFrame({"curve": np.repeat(np.arange(B), n), "sample": np.tile(np.arange(n), B), "N": Ns, "D": Ds,
                            "loss": Ls, "flops_total": kt * Ns * Ds + ki * Ns * d_inf})
        _add_intervals(out, per, cols, B, interval)
        out.attrs["samples"] = per
    if hw is not None:
        _price(out, hw, price, mfu, dtype)
    _blank_failed(out, ok, status, fit.by)
    if S is not None and not ok.all():
        per = out.attrs["samples"]
        bad = ~ok[per["curve"].to_numpy()]
        per.loc[bad, [c for c in per.columns if c not in ("curve", "sample")]] = np.nan
    return _with_attrs(out, objective=objective, budget=budget, inference_tokens=d_inf, k_train=kt, k_infer=ki)


def _add_intervals(out, per, cols, B, interval):
    q = [(1 - interval) / 2, (1 + interval) / 2]
    for c in cols:
        v = per[c].to_numpy().reshape(B, -1)
        with np.errstate(all="ignore"):
            lohi = np.nanquantile(np.where(np.isfinite(v), v, np.nan), q, axis=1) if np.isfinite(v).any() else \
                np.full((2, B), np.nan)
        out[f"{c}_low"], out[f"{c}_high"] = lohi[0], lohi[1]


def _price(out, hw, price, mfu, dtype):
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {show(mfu)}")
    p = hw.price_per_hour if price is None else _nonneg(price, "price")
    out["gpu_hours"] = out["flops_total"] / (hw.peak(dtype) * mfu) / 3600.0
    out["cost_usd"] = out["gpu_hours"] * p
    out.attrs["hardware"] = {"key": hw.key, "dtype": dtype, "mfu": mfu, "price_per_hour": p}


# ---- grid planning: fused samples x grid kernel --------------------------------------------------------
# Bytes the native planner (csrc/core/cost/plan.hpp) allocates, at most, per model (the law's N, the cost
# coefficients, the constraint flag and the per-model optimum) and per configuration in a candidate list (the list
# itself, the cost-order sort records, the scan list's indices and inputs), and per admissible run of a model
# (the separable scan of a factored grid).
_PLAN_BYTES_PER_MODEL = 96.0
_PLAN_BYTES_PER_CONFIG = 80.0
_PLAN_BYTES_PER_RUN = 40.0


def _grid_models(values, strides, n: int) -> tuple:
    """(models M, tokens per model T, factored) of the planner's model x tokens factorisation of a grid
    (ModelTokens in csrc/core/cost/evaluate.hpp): the tokens axis varies inside a model when no other field's
    digit is interleaved with it; otherwise every configuration is its own model."""
    from .cost import FIELDS

    j = FIELDS.index("tokens")
    st, L = int(strides[j]), len(values[j])
    factored = n > 0 and st >= 1 and L >= 1 and n % (st * L) == 0
    for k in range(len(FIELDS)):
        if not factored:
            break
        if k == j or len(values[k]) == 1:
            continue
        lo, hi = int(strides[k]), int(strides[k]) * len(values[k])
        factored = (hi <= st and st % hi == 0) or (lo >= st * L and lo % (st * L) == 0)
    return (n // L, L, True) if factored else (n, 1, False)


def _check_grid_memory(op: str, law, values, strides, n: int, objective: str, pareto: bool, n_samples: int) -> None:
    """Refuse (ValueError, before the native call) a grid whose planner tables would not fit in memory: the
    per-model table always; a list of the admissible configurations (worst case: all of them) for the cost
    objective and Pareto sets, and for the loss objective unless the grid factors into models x tokens and the
    law is separable (chinchilla), where the scan runs over each model's admissible runs of tokens instead."""
    from ._args import check_alloc

    M, T, factored = _grid_models(values, strides, n)
    need = M * _PLAN_BYTES_PER_MODEL + 48.0 * n_samples
    if pareto or objective == "cost" or not (factored and law.name == "chinchilla"):
        need += n * _PLAN_BYTES_PER_CONFIG
        what = f"a grid of {n} configurations ({M} models)"
    else:
        from .cost import FIELDS

        tok = np.asarray(values[FIELDS.index("tokens")], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            breaks = int(np.sum(tok[1:] < tok[:-1])) + int(np.sum(~(tok > 0)))
        runs = M * min((T + 1) // 2, 1 + breaks)
        need += runs * _PLAN_BYTES_PER_RUN
        what = f"a grid of {n} configurations ({M} models x {T} token counts)"
    check_alloc(op, need, what, "Plan over fewer configurations (shorter axes, or split the grid into chunks and "
                "keep the best of each).")


def _grid_call(law, S2, grid, hw, unit, objective, budget, target, d_inf, price, dtype, prune, threads, assumptions,
               pareto=False, op="plan"):
    from . import cost as _cost

    hw = hw if hw is not None else _cost.hardware("h100-sxm")
    kw = dict(assumptions)
    kw["inference_tokens"] = d_inf
    if price is not None:
        kw["price"] = price
    opts = {k: kw.pop(k) for k in ("require_fit", "require_slo") if k in kw}
    a = _cost._assumptions(hw, dtype, kw)
    if unit not in ("flops", "usd"):
        raise ValueError(f"unit must be 'flops' or 'usd', got {show(unit)}")
    values, strides, n, _ = _cost._fields(grid)
    S2 = np.ascontiguousarray(S2, dtype=np.float64)
    _check_grid_memory(op, law, values, strides, n, objective, pareto, len(S2))
    o = {"objective": 0 if objective == "loss" else 1, "unit": 0 if unit == "flops" else 1,
         "budget": budget, "n_convention": a.get("n_convention", 0), "prune": 1.0 if prune else 0.0,
         "require_fit": float(bool(opts.get("require_fit", False))),
         "require_slo": float(bool(opts.get("require_slo", False)))}
    if target is not None:
        o["target"] = float(target)
    return _core.cost_plan_grid(law.name, S2, values, strides, n, a, o, int(threads), bool(pareto))


def _plan_grid(fit, law, grid, budget, d_inf, hw, objective, target, S, price, mfu, dtype, unit, interval, prune,
               threads, assumptions, ok=None):
    B = fit.n_curves
    rows, per_rows = [], []
    for b in range(B):  # a call per fitted curve (curves are few; configurations and samples are in C++)
        if ok is not None and not ok[b]:  # a failed fit: nothing to plan with (NaN row, index -1)
            rows.append({"index": -1, "N": np.nan, "D": np.nan, "loss": np.nan, "cost": np.nan, "n_admissible": 0,
                         "target_loss": np.nan})
            if S is not None:
                nan = np.full(S.shape[1], np.nan)
                per_rows.append(pd.DataFrame({"curve": b, "sample": np.arange(S.shape[1]),
                                              "index": np.full(S.shape[1], -1), "N": nan, "D": nan, "loss": nan,
                                              "cost": nan}))
            continue
        p = fit._params[b : b + 1]
        T = target
        if objective == "cost" and T is None:
            T = float(_optimal_arrays(law, p, np.array([budget]), 6.0, "auto")[2][0])
        # The point estimate is row 0 of one call with the samples: the grid's cost table is built once.
        P = p if S is None else np.concatenate([p, S[b]], axis=0)
        r = _grid_call(law, P, grid, hw, unit, objective, budget, T, d_inf, price, dtype, prune, threads, assumptions)
        rows.append({"index": int(r["index"][0]), "N": r["N"][0], "D": r["D"][0], "loss": r["loss"][0],
                     "cost": r["cost"][0], "n_admissible": r["n_admissible"], "target_loss": T})
        if S is not None:
            per_rows.append(pd.DataFrame({"curve": b, "sample": np.arange(S.shape[1]), "index": r["index"][1:],
                                          "N": r["N"][1:], "D": r["D"][1:], "loss": r["loss"][1:],
                                          "cost": r["cost"][1:]}))
    out = pd.concat([_by_frame(fit, np.arange(B)), pd.DataFrame(rows)], axis=1)
    if objective == "loss":
        out = out.drop(columns=["target_loss"])
    if per_rows:
        per = pd.concat(per_rows, ignore_index=True)
        _add_intervals(out, per, ["N", "D", "loss", "cost"], B, interval)
        out.attrs["samples"] = per
    from .cost import CONVENTIONS as CC

    return _with_attrs(out, objective=objective, budget=budget, unit=unit, inference_tokens=d_inf,
                       cost_convention=CC["flops_train"] if unit == "flops" else CC["cost_usd"],
                       index="row of the configuration table / flat index of the grid (last field fastest)")


@with_progress("lawfit pareto")
def pareto(fit, grid, *, inference_tokens: float = 0.0, hardware=None, unit: str = "flops", samples=None,
           price: Optional[float] = None, dtype: str = "bf16", prune: bool = True, threads: int = 0,
           device: str = "cpu", **assumptions) -> pd.DataFrame:
    """The (total cost, loss) Pareto set over a grid of configurations for each curve (and each parameter sample
    when ``samples`` are given): configurations in increasing cost whose loss beats every cheaper one. Columns:
    by, [sample,] index, N, D, cost, loss. Fused native pass; the samples x grid product is never stored.
    ``device``: CPU only for now; "cuda" raises ValueError (see plan)."""
    law = _law(fit)
    from ._device import check_device

    check_device(device, "pareto")
    if device == "cuda":
        raise ValueError("pareto: planning runs on the CPU in this version (device='cpu'); device='cuda' applies "
                         "to lawfit.fit and lawfit.cost.evaluate")
    d_inf = _nonneg(inference_tokens, "inference_tokens")
    threads = resolve_threads(threads, op="pareto")
    S = _samples(fit, samples)
    hw = None
    if hardware is not None:
        from . import cost as _cost

        hw = _cost.hardware(hardware)
    parts = []
    for b in range(fit.n_curves):  # a call per fitted curve
        P = S[b] if S is not None else fit._params[b : b + 1]
        r = _grid_call(law, P, grid, hw, unit, "cost", np.inf, None, d_inf, price, dtype, prune, threads,
                       assumptions, pareto=True, op="pareto")
        off = r["offsets"]
        df = pd.DataFrame({"curve": b, "sample": np.repeat(np.arange(len(off) - 1), np.diff(off)), "index": r["index"],
                           "N": r["N"], "D": r["D"], "cost": r["cost"], "loss": r["loss"]})
        if S is None:
            df = df.drop(columns=["sample"])
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    keys = _by_frame(fit, out["curve"].to_numpy())
    out = pd.concat([keys, out.drop(columns=["curve"]) if fit.by else out], axis=1)
    return _with_attrs(out, unit=unit, inference_tokens=d_inf)


def plot_frontier(fit, compute=None, *, ax=None, path=None, n: int = 50, k: float = 6.0, interval="auto", data=None):
    """Plot the compute-optimal frontier (N_opt and D_opt against compute) for each curve, with its interval after
    ``fit.bootstrap()``; saves to ``path`` if given. See :func:`lawfit.plot.frontier` (matplotlib: the ``plot``
    extra)."""
    from .plot import frontier as _frontier

    return _frontier(fit, compute, ax=ax, path=path, n=n, k=k, interval=interval, data=data)
