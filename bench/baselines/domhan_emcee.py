"""Reference implementation of Domhan et al. 2015's learning-curve ensemble posterior with emcee.

The same model as lawfit.extrapolate (csrc/core/sample/mcmc.hpp): weighted ensemble of the families, Gaussian
noise, flat prior restricted to improving curves inside the metric's range, recency-weighted likelihood, on
the same normalised scale and from the same least-squares start (taken from lawfit's prepared problem), so
only the sampler differs. Written the way Domhan's pylrpredictor is: one Python log-posterior call per
walker (emcee's default), numpy inside, with Domhan's settings: walkers in a 1e-3 relative ball around the
start, 2500 steps, 500 burn-in (lawfit instead starts its walkers at the posterior's scale, see
lawfit.extrapolate, and needs far fewer steps). Used as the oracle and baseline by bench/bench_lcbench.py.
"""
from __future__ import annotations

import numpy as np

FAMILIES = {
    "pow3": (3, lambda t, p: p[0] - p[1] * t ** -p[2], [(-np.inf, np.inf), (-np.inf, np.inf), (0, 50)]),
    "pow4": (4, lambda t, p: p[0] - (p[1] * t + p[2]) ** -p[3], [(-np.inf, np.inf), (0, np.inf), (-np.inf, np.inf), (0, 50)]),
    "loglog_linear": (2, lambda t, p: np.log(p[0] * np.log(t) + p[1]), [(-np.inf, np.inf), (0, np.inf)]),
    "log_power": (3, lambda t, p: p[0] / (1 + np.exp(p[2] * (np.log(t) - p[1]))), [(-np.inf, np.inf)] * 3),
    "janoschek": (4, lambda t, p: p[0] - (p[0] - p[1]) * np.exp(-p[2] * t ** p[3]), [(-np.inf, np.inf)] * 2 + [(0, np.inf), (0, 20)]),
    "mmf": (4, lambda t, p: p[0] - (p[0] - p[1]) / (1 + (p[2] * t) ** p[3]), [(-np.inf, np.inf)] * 2 + [(0, np.inf), (0, 20)]),
    "weibull": (4, lambda t, p: p[0] - (p[0] - p[1]) * np.exp(-(p[2] * t) ** p[3]), [(-np.inf, np.inf)] * 2 + [(0, np.inf), (0, 20)]),
    "exp4": (4, lambda t, p: p[0] - np.exp(-p[1] * t ** p[3] + p[2]), [(-np.inf, np.inf), (0, np.inf), (-np.inf, np.inf), (0, 20)]),
    "ilog2": (2, lambda t, p: p[0] - p[1] / np.log(t + 1), [(-np.inf, np.inf)] * 2),
    "vap": (3, lambda t, p: np.exp(p[0] + p[1] / t + p[2] * np.log(t)), [(-np.inf, np.inf)] * 3),
    "hill3": (3, lambda t, p: p[0] * (t / p[2]) ** p[1] / (1 + (t / p[2]) ** p[1]), [(-np.inf, np.inf), (0, 20), (0, np.inf)]),
    "exp3": (3, lambda t, p: p[0] - np.exp(-p[1] * t + p[2]), [(-np.inf, np.inf), (0, np.inf), (-np.inf, np.inf)]),
}
ORDER = ["pow3", "pow4", "loglog_linear", "log_power", "janoschek", "mmf", "weibull", "exp4", "ilog2", "vap",
         "hill3", "exp3"]


def make_logp(t, z, t_max, lo, hi, sigma_min, active):
    n = len(t)
    rw = 10.0 ** (np.arange(n) / n)
    rw *= n / rw.sum()
    sw = rw.sum()
    fams, o = [], 0
    for k, name in enumerate(ORDER):
        P, f, b = FAMILIES[name]
        if active[k]:
            fams.append((k, o, P, f, np.array([x[0] for x in b]), np.array([x[1] for x in b])))
        o += P
    psum = o

    def logp(th):
        sigma = th[-1]
        if not (sigma_min <= sigma <= 1.0):
            return -np.inf
        w = th[psum:psum + len(ORDER)]
        mu = np.zeros(n)
        fT = 0.0
        with np.errstate(all="ignore"):
            for k, o, P, f, lb, ub in fams:
                p = th[o:o + P]
                if w[k] < 0 or np.any(p < lb) or np.any(p > ub):
                    return -np.inf
                f2, fk = f(2.0, p), f(t_max, p)
                if not (f2 <= fk and lo <= fk <= hi):
                    return -np.inf
                fT += w[k] * fk
                mu += w[k] * f(t, p)
            if not (lo <= fT <= hi):
                return -np.inf
            lp = -0.5 * np.sum(rw * (z - mu) ** 2) / sigma ** 2 - sw * np.log(sigma)
        return lp if np.isfinite(lp) else -np.inf

    return logp


def sample_curve(problem: dict, c: int, *, walkers=None, steps=2500, burn=500, samples=1000, seed=0):
    """Run emcee on curve c of lawfit's prepared problem; returns [samples, dim] draws (normalised scale)."""
    import emcee

    a, b = problem["offsets"][c], problem["offsets"][c + 1]
    t, z = problem["t"][a:b], problem["z"][a:b]
    logp = make_logp(t, z, problem["t_max"][c], problem["range_lo"][c], problem["range_hi"][c],
                     problem["sigma_min"][c], problem["active"][c])
    x0 = problem["init"][c]
    dim = len(x0)
    act = np.ones(dim, bool)  # coordinates of the families in use, their weights, and sigma
    o = 0
    for k, name in enumerate(ORDER):
        P = FAMILIES[name][0]
        act[o:o + P] = problem["active"][c][k]
        o += P
    act[o:o + len(ORDER)] = problem["active"][c]
    # emcee samples the active coordinates only (the others are fixed), as lawfit's sampler does.
    d = int(act.sum())
    full = x0.copy()

    def logp_active(v):
        full[act] = v
        return logp(full)

    walkers = walkers or max(100, 2 * d)  # Domhan: 100; emcee needs >= 2 * dim
    rng = np.random.default_rng(seed)
    xa = x0[act]
    p0 = np.empty((walkers, d))
    for w in range(walkers):  # Domhan's 1e-3 relative ball (lawfit's init_spread=0), redrawn until inside the prior
        for _ in range(64):
            p0[w] = xa + 1e-3 * (np.abs(xa) + 1e-3) * rng.standard_normal(d)
            if np.isfinite(logp_active(p0[w])):
                break
        else:
            p0[w] = xa
    sampler = emcee.EnsembleSampler(walkers, d, logp_active)
    sampler._random = np.random.mtrand.RandomState(seed)
    sampler.run_mcmc(p0, steps, progress=False, skip_initial_state_check=True)
    chain_a = sampler.get_chain(discard=burn, flat=True)
    chain = np.tile(x0, (len(chain_a), 1))
    chain[:, act] = chain_a
    idx = np.linspace(0, len(chain) - 1, samples).astype(int)
    return chain[idx], float(np.mean(sampler.acceptance_fraction))
