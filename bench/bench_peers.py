"""Peer baselines side by side with lawfit (groundwork for "Speed to the limit"): the same data and starts fitted by

  lawfit         lawfit.fit(DataFrame, ...) end to end (grouping, conversion, result tables), and the native call
                 on CSR arrays (spec._fit, what lawfit.fit calls after building the batch)
  jax_lm         bench/baselines/jax_lm.py: jit(vmap(while_loop LM)), float64, analytic Jacobian
  torch_lm_conv  bench/baselines/torch_lm_conv.py: batched LM, per-curve convergence, finished curves dropped
  cpufit_f32/64  bench/baselines/cpufit.py: Cpufit (Gpufit's CPU library), GAUSS_1D; float32 (Cpufit's default) and
                 a float64 build (Gpufit's DOUBLE_PRECISION); built by bench/build_cpufit.sh. No power-law model.

Problems (every curve has the same n points; the starts are the truth times U(1 - s, 1 + s) per parameter, s =
--spread, default 0.2):
  power_law  y = E + A x^-alpha, 20 points x = geomspace(1, 1000), E ~ U(0.5, 2), A ~ U(1, 10), alpha ~ U(0.2, 1),
             1% multiplicative noise; lawfit's built-in "power_law" (theta = (E, log A, alpha), alpha in [0, 10])
  gauss      y = a exp(-(x - b)^2 / (2 c^2)) + d, 32 points x = 0..31 (Cpufit's default grid, passed explicitly),
             a ~ U(5, 20), b ~ U(12, 20), c ~ U(2, 5), d ~ U(0.5, 2), noise N(0, 0.2^2);
             lawfit.Law("a*exp(-(x-b)^2/(2*c^2)) + d", inputs="x")

Correctness: every peer's final parameters are compared with lawfit's, and its cost recomputed in float64 numpy
from its parameters (0.5 * sum of squared residuals, lawfit's objective); a curve is a mismatch when the relative
cost difference or the largest relative parameter difference exceeds the tolerances (float64 peers: 1e-6 / 1e-3;
float32 Cpufit: 1e-5 / 3e-3), split into "peer better" (lower cost: lawfit missed) and "peer worse".
All solvers use ftol = xtol = gtol = 1e-8 where they have them (Cpufit: its relative chi2-change tolerance, 1e-8 for
float64 and 1e-6 for float32 by default, see --cpufit-tol).

Timing: each method's time is the minimum over --repeats, the methods interleaved within each repeat, after one
warm-up call per method (JAX's compile time is reported separately). --threads N pins the whole process to N CPUs
(os.sched_setaffinity, before jax/torch are imported) and passes N to lawfit (threads=), torch (set_num_threads)
and the Cpufit wrapper (N contiguous chunks on Python threads); JAX/XLA sizes its pool from the affinity.

"limit (native)" row, the floor: the model's value and gradient at every point, generated as straight-line C++ by
lawfit._jit and run through the solvers' own block evaluation (core/fit/lm.hpp eval_points, libmvec exp; no
residuals, sums, solves or tests), one evaluation of every curve timed on one thread in every repeat beside the
methods (at least 3; the minimum), divided by --threads, times lawfit's mean iterations.

"limit (numpy)" row, an older floor estimate: the time numpy takes to evaluate the model and its Jacobian (f and the P
partial derivatives, analytic, vectorised over all curves x points, one thread) once for the whole batch, multiplied by
lawfit's mean number of iterations per curve (each lawfit iteration evaluates the model and Jacobian at least once;
rejected trial steps, the linear solves and the stopping tests are not counted). It says what the model evaluations
alone cost in numpy, not what a solver could reach with better vector math (lawfit's exp is libmvec/SIMD); the
one-evaluation time is recorded beside it, and with it the time including the normal equations (J^T J, J^T r).

Run: python bench/bench_peers.py [--curves 2000] [--threads 1] [--repeats 5] [--problems power_law,gauss]
     [--spread 0.2] [--skip jax,torch,cpufit] [--no-write]            (writes bench/results/peers.json)
Needs: pip install "jax[cpu]"; pip install torch (CPU); bash bench/build_cpufit.sh both. Missing peers are skipped.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PARAMS = {"power_law": ("E", "A", "alpha"), "gauss": ("a", "b", "c", "d")}
GAUSS_FORMULA = "a*exp(-(x-b)^2/(2*c^2)) + d"
TOLS = {"float64": (1e-6, 1e-3), "float32": (1e-5, 3e-3)}  # (relative cost, relative parameter)


# ---- data --------------------------------------------------------------------------------------------------------
def power_law_data(B, n=20, seed=0, spread=0.2):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(0.5, 2, B), rng.uniform(1, 10, B), rng.uniform(0.2, 1.0, B)])
    x = np.geomspace(1, 1000, n)
    y = (truth[:, :1] + truth[:, 1:2] * x ** -truth[:, 2:3]) * (1 + 0.01 * rng.standard_normal((B, n)))
    p0 = truth * rng.uniform(1 - spread, 1 + spread, truth.shape)
    return dict(x=x, y=y, p0=p0, truth=truth)


def gauss_data(B, n=32, seed=1, spread=0.2):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(5, 20, B), rng.uniform(12, 20, B), rng.uniform(2, 5, B),
                             rng.uniform(0.5, 2, B)])
    x = np.arange(n, dtype=np.float64)
    y = model("gauss", truth, x) + 0.2 * rng.standard_normal((B, n))
    p0 = truth * rng.uniform(1 - spread, 1 + spread, truth.shape)
    return dict(x=x, y=y, p0=p0, truth=truth)


def model(problem, p, x):
    """f [B, n] for natural parameters p [B, P] and a shared x [n]."""
    if problem == "power_law":
        return p[:, :1] + p[:, 1:2] * x ** -p[:, 2:3]
    return p[:, :1] * np.exp(-(x - p[:, 1:2]) ** 2 / (2 * p[:, 2:3] ** 2)) + p[:, 3:4]


def cost_f64(problem, p, d):
    r = model(problem, np.asarray(p, np.float64), d["x"]) - d["y"]
    with np.errstate(invalid="ignore"):
        return 0.5 * np.einsum("ij,ij->i", r, r)


def model_and_jacobian(problem, p, x, lx=None):
    """Analytic f [B, n] and J [B, n, P] (natural parameters), vectorised numpy: the limit row's unit of work."""
    if problem == "power_law":
        lx = np.log(x) if lx is None else lx
        t = p[:, 1:2] * np.exp(-p[:, 2:3] * lx)  # A x^-alpha
        f = p[:, :1] + t
        J = np.stack([np.ones_like(t), t / p[:, 1:2], -t * lx], axis=-1)
        return f, J
    a, b, c, dd = (p[:, k:k + 1] for k in range(4))
    z = (x - b) / c
    e = np.exp(-0.5 * z * z)
    ae = a * e
    return ae + dd, np.stack([e, ae * z / c, ae * z * z / c, np.ones_like(e)], axis=-1)


# ---- methods: each returns dict(params [B, P] float64 natural, status_ok [B] bool, iters [B]) ------------------
def lawfit_methods(problem, d, threads):
    import pandas as pd

    import lawfit

    B, n = d["y"].shape
    names = PARAMS[problem]
    df = pd.DataFrame({"curve": np.repeat(np.arange(B), n), "x": np.tile(d["x"], B), "y": d["y"].ravel()})
    starts = pd.DataFrame({"curve": np.arange(B), **{k: d["p0"][:, j] for j, k in enumerate(names)}})
    if problem == "power_law":
        law = "power_law"
    else:  # the user formula compiled to native code (lawfit._jit; compiled here, before any timing, or cached)
        law = lawfit.Law(GAUSS_FORMULA, inputs="x", native=True)
        try:
            law.compile()
        except RuntimeError as e:  # no C++ compiler here: the bytecode evaluator
            print(f"lawfit: the Gaussian formula runs on the bytecode evaluator ({e})", file=sys.stderr)
            law = lawfit.Law(GAUSS_FORMULA, inputs="x", native=False)
    spec = lawfit.get_law(law)
    assert tuple(spec.params) == names, spec.params

    def end_to_end(solver="varpro"):
        r = lawfit.fit(df, law, x="x", y="y", by="curve", starts=starts, threads=threads, solver=solver)
        p = r.params.to_numpy().copy()
        return dict(params=p, status_ok=(r.status == "CONVERGED").to_numpy(), iters=r.iterations.to_numpy(),
                    own_cost=r.objective.to_numpy())

    kw = dict(offsets=np.arange(0, B * n + 1, n, dtype=np.int64), x=np.ascontiguousarray(np.tile(d["x"], B)[:, None]),
              y=np.ascontiguousarray(d["y"].ravel()), lower=np.array(spec.lower, np.float64),
              upper=np.array(spec.upper, np.float64), starts=np.ascontiguousarray(d["p0"][:, None, :]),
              threads=threads, want_cov=False)

    def native(spec=spec, varpro=True):
        o = spec._fit(**kw, varpro=varpro)
        return dict(params=np.asarray(o["params"], np.float64), status_ok=np.asarray(o["status"]) == 0,
                    iters=np.asarray(o["iters"]), own_cost=np.asarray(o["cost"]))

    methods = {"lawfit": end_to_end, "lawfit_native": native,
               "lawfit_lm": lambda: end_to_end("lm"), "lawfit_native_lm": lambda: native(varpro=False)}
    if problem == "gauss":  # the same formula on the bytecode evaluator (native=False): what the compile buys
        bytecode = lawfit.Law(GAUSS_FORMULA, inputs="x", native=False)
        methods["lawfit_native_bytecode"] = lambda: native(bytecode)
    return methods


def jax_method(problem, d):
    from baselines import jax_lm

    fn = jax_lm.power_law_fit if problem == "power_law" else jax_lm.gauss_fit

    def run():
        o = fn(d["x"], d["y"], d["p0"])
        return dict(params=o["params"], status_ok=o["status"] == 0, iters=o["trials"], accepted=o["accepted"],
                    own_cost=o["cost"])

    return run


def torch_method(problem, d):
    import torch

    from baselines import torch_lm_conv

    fn = torch_lm_conv.power_law_fit if problem == "power_law" else torch_lm_conv.gauss_fit
    x, y, p0 = (torch.from_numpy(np.ascontiguousarray(d[k])) for k in ("x", "y", "p0"))

    def run():
        o = fn(x, y, p0)
        return dict(params=o["params"], status_ok=o["status"] == 0, iters=o["trials"], accepted=o["accepted"],
                    own_cost=o["cost"])

    return run


def cpufit_method(d, lib, tol, threads):
    from baselines import cpufit

    def run():
        p, c, s, it = cpufit.gauss_fit(d["x"], d["y"], d["p0"], tolerance=tol, max_iter=200, threads=threads, lib=lib)
        return dict(params=p, status_ok=s == 0, iters=it, own_cost=c)

    return run


# ---- comparison ----------------------------------------------------------------------------------------------------
def compare(problem, d, ref, out, precision):
    ctol, ptol = TOLS[precision]
    c_ref = cost_f64(problem, ref["params"], d)
    c = cost_f64(problem, out["params"], d)
    p_ref = ref["params"].copy()
    p = out["params"].copy()
    if problem == "gauss":  # c enters squared: compare |c|
        p_ref[:, 2], p[:, 2] = np.abs(p_ref[:, 2]), np.abs(p[:, 2])
    with np.errstate(invalid="ignore", divide="ignore"):
        rc = (c - c_ref) / c_ref
        rp = np.max(np.abs(p - p_ref) / np.maximum(np.abs(p_ref), 1e-12), axis=1)
    bad = ~(np.abs(rc) <= ctol) | ~(rp <= ptol)
    better = bad & (rc < -ctol)
    return {
        "tolerances": {"relative_cost": ctol, "relative_param": ptol},
        "max_abs_rel_cost_diff": float(np.nanmax(np.abs(rc))),
        "median_rel_cost_diff": float(np.nanmedian(rc)),
        "max_rel_param_diff": float(np.nanmax(rp)),
        "median_rel_param_diff": float(np.nanmedian(rp)),
        "mismatches": int(bad.sum()),
        "mismatch_peer_better": int(better.sum()),
        "mismatch_peer_worse_or_elsewhere": int((bad & ~better).sum()),
        "mismatch_curves_first": np.flatnonzero(bad)[:10].tolist(),
        "non_finite": int((~np.isfinite(c)).sum()),
    }


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# The native floor: the law's value and gradient as straight-line C++ (lawfit._jit), through the solvers' own block
# evaluation (core/fit/lm.hpp eval_points) and nothing else. power_law as the built-in evaluates it after
# its prepare step (x -> log x, once per point): E + A exp(-alpha lx).
FLOOR_FORMULAS = {"power_law": ("E + A*exp(-alpha*lx)", "lx"), "gauss": (GAUSS_FORMULA, "x")}


def native_floor(problem, d):
    """A callable that evaluates the floor once (every curve, one thread), or None without a C++ compiler. Timed in
    every repeat beside the methods (main), so that the floor and lawfit are measured in the same periods of a machine
    whose speed drifts."""
    import lawfit
    from lawfit import _core

    formula, inp = FLOOR_FORMULAS[problem]
    law = lawfit.Law(formula, inputs=inp, native=True)
    try:
        handle = lawfit._jit.handle(law, 0.0, True)
    except RuntimeError:  # no C++ compiler here: no native floor
        return None
    B, n = d["y"].shape
    x = np.log(d["x"]) if problem == "power_law" else d["x"]
    X = np.ascontiguousarray(np.tile(x, B))
    P = np.ascontiguousarray(d["truth"] * 1.01)
    return lambda: _core.jit_eval_floor(handle, X, n, P)


def limit_row(problem, d, mean_iters, repeats, threads, tf):
    p = d["truth"] * 1.01
    x = d["x"]
    lx = np.log(x) if problem == "power_law" else None
    t_eval, t_ne = [], []
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        f, J = model_and_jacobian(problem, p, x, lx)
        t_eval.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        f, J = model_and_jacobian(problem, p, x, lx)
        r = f - d["y"]
        Jt = J.transpose(0, 2, 1)
        np.matmul(Jt, J)
        np.matmul(Jt, r[:, :, None])
        t_ne.append(time.perf_counter() - t0)
    te, tn = min(t_eval), min(t_ne)
    nan = float("nan")
    return {
        "what": "numpy (one thread), model + analytic Jacobian over all curves x points, one evaluation, times "
                "lawfit's mean iterations per curve (rejected trials, solves and tests not counted)",
        "lawfit_mean_iterations": float(mean_iters),
        "one_eval_s": te,
        "limit_s": te * mean_iters,
        "one_eval_with_normal_equations_s": tn,
        "limit_with_normal_equations_s": tn * mean_iters,
        "native": {
            "what": "the floor of the issue: the model's value and gradient at every point, compiled straight-line "
                    "C++ through the solvers' own block evaluation (libmvec exp), one evaluation per curve measured "
                    "on one thread (min over the repeats, timed in each beside the methods), divided by the thread "
                    "count (perfect scaling), times lawfit's mean iterations per curve (each iteration evaluates at "
                    "least once)",
            "formula": FLOOR_FORMULAS[problem][0],
            "one_eval_one_thread_s": nan if tf is None else tf,
            "limit_s": nan if tf is None else tf / threads * mean_iters,
        },
    }


def versions():
    v = {}
    for mod in ("jax", "jaxlib", "torch", "numpy"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            v[mod] = None
    return v


def cpufit_libs(skip):
    libs = {}
    if "cpufit" in skip:
        return libs, "skipped (--skip)"
    from baselines import cpufit

    notes = []
    for prec in ("float32", "float64"):
        try:
            libs[prec] = cpufit.Cpufit(prec)
        except (OSError, RuntimeError) as e:
            notes.append(f"{prec}: {e}")
    return libs, "; ".join(notes) or None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--problems", default="power_law,gauss")
    ap.add_argument("--skip", default="", help="comma list of peers to leave out: jax, torch, cpufit")
    ap.add_argument("--cpufit-tol", type=float, nargs=2, default=(1e-6, 1e-8), metavar=("F32", "F64"),
                    help="Cpufit's relative chi2-change tolerance for the float32 / float64 builds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spread", type=float, default=0.2, help="starts = truth x U(1 - spread, 1 + spread)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "peers.json"))
    a = ap.parse_args()
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}

    cpus = sorted(os.sched_getaffinity(0))
    if a.threads > len(cpus):
        sys.exit(f"--threads {a.threads}: only {len(cpus)} CPUs available")
    os.sched_setaffinity(0, cpus[:a.threads])  # before jax/torch start their pools

    import lawfit
    from _machine import machine

    have_jax = "jax" not in skip and importlib.util.find_spec("jax") is not None
    have_torch = "torch" not in skip and importlib.util.find_spec("torch") is not None
    if have_torch:
        import torch

        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    libs, cpufit_note = cpufit_libs(skip)

    res = {"machine": machine(), "lawfit": lawfit.build_info(), "versions": versions(),
           "args": vars(a), "pinned_cpus": cpus[:a.threads], "load_average_before": os.getloadavg(),
           "note": "groundwork run at small size; timings from shared cores, indicative only",
           "peers_missing": {"jax": None if have_jax else "not installed or skipped",
                             "torch": None if have_torch else "not installed or skipped",
                             "cpufit": cpufit_note},
           "problems": {}}
    if libs:
        res["cpufit_build"] = {}
        for prec, lib in libs.items():
            info = lib.path.parent / "BUILD_INFO"
            res["cpufit_build"][prec] = (dict(ln.split("=", 1) for ln in info.read_text().splitlines() if "=" in ln)
                                         if info.exists() else {"library": str(lib.path)})
    for problem in [s.strip() for s in a.problems.split(",") if s.strip()]:
        d = (power_law_data if problem == "power_law" else gauss_data)(a.curves, seed=a.seed + (problem == "gauss"),
                                                                        spread=a.spread)
        B, n = d["y"].shape
        methods = dict(lawfit_methods(problem, d, a.threads))
        precision = {m: "float64" for m in methods}
        if have_jax:
            methods["jax_lm"] = jax_method(problem, d)
            precision["jax_lm"] = "float64"
        if have_torch:
            methods["torch_lm_conv"] = torch_method(problem, d)
            precision["torch_lm_conv"] = "float64"
        if problem == "gauss":
            for prec, lib in libs.items():
                name = "cpufit_" + ("f32" if prec == "float32" else "f64")
                tol = a.cpufit_tol[0] if prec == "float32" else a.cpufit_tol[1]
                methods[name] = cpufit_method(d, lib, tol, a.threads)
                precision[name] = prec
        pr = {"curves": B, "points_per_curve": n, "params": PARAMS[problem], "methods": {}}
        if problem == "power_law":
            pr["cpufit"] = "Cpufit has no power-law model (models are compiled in; GAUSS_1D is used for gauss)"
        outs, times = {}, {m: [] for m in methods}
        for m, fn in methods.items():  # warm-up (JAX compiles here)
            t, outs[m] = _timed(fn)
            pr["methods"][m] = {"warmup_s": t}
        floor = native_floor(problem, d)
        floor_times = []
        if floor is not None:
            floor()  # (warm-up)
        for r in range(max(a.repeats, 3)):  # (the floor at least 3 times)
            for m, fn in methods.items() if r < a.repeats else ():
                t, outs[m] = _timed(fn)
                times[m].append(t)
            if floor is not None:
                t0 = time.perf_counter()
                floor()
                floor_times.append(time.perf_counter() - t0)
        ref = outs["lawfit"]
        for m, o in outs.items():
            e = pr["methods"][m]
            e.update(time_s=min(times[m]), times_s=times[m], precision=precision[m],
                     converged=int(np.sum(o["status_ok"])), mean_iterations=float(np.mean(o["iters"])),
                     max_iterations=int(np.max(o["iters"])))
            if "accepted" in o:
                e["mean_accepted_steps"] = float(np.mean(o["accepted"]))
            if m != "lawfit":
                e["vs_lawfit"] = compare(problem, d, ref, o, precision[m])
            if m == "jax_lm":
                e["compile_s_approx"] = e["warmup_s"] - e["time_s"]
        e = pr["methods"]
        e["lawfit"]["iterations_meaning"] = "outer LM iterations (each >= 1 model+Jacobian evaluation)"
        for m in ("jax_lm", "torch_lm_conv"):
            if m in e:
                e[m]["iterations_meaning"] = "trial steps (model+Jacobian evaluations, accepted or not)"
        for m in ("cpufit_f32", "cpufit_f64"):
            if m in e:
                e[m]["iterations_meaning"] = "Cpufit n_iterations (trial steps, accepted or not)"
                e[m]["tolerance"] = a.cpufit_tol[0] if m == "cpufit_f32" else a.cpufit_tol[1]
        pr["limit"] = limit_row(problem, d, np.mean(ref["iters"]), a.repeats, a.threads,
                                min(floor_times) if floor_times else None)
        pr["limit"]["native"]["one_eval_one_thread_times_s"] = floor_times
        res["problems"][problem] = pr
        report(problem, pr, a.threads)
    res["load_average_after"] = os.getloadavg()
    if not a.no_write:
        out = pathlib.Path(a.out)
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")
        print("wrote", out)
    bad = sum(m.get("vs_lawfit", {}).get("mismatches", 0) for p in res["problems"].values()
              for m in p["methods"].values())
    return 1 if bad else 0


def report(problem, pr, threads):
    print(f"\n== {problem}: {pr['curves']} curves x {pr['points_per_curve']} points, {threads} thread(s)")
    print(f"{'method':15s} {'prec':8s} {'time ms':>9s} {'x lawfit':>9s} {'conv':>6s} {'iters':>6s} "
          f"{'max|dC|/C':>10s} {'max dp/p':>9s} {'mismatch (peer better/worse)':>28s}")
    tl = pr["methods"]["lawfit"]["time_s"]
    for m, e in pr["methods"].items():
        v = e.get("vs_lawfit")
        extra = (f"{v['max_abs_rel_cost_diff']:10.1e} {v['max_rel_param_diff']:9.1e} {v['mismatches']:8d} "
                 f"({v['mismatch_peer_better']}/{v['mismatch_peer_worse_or_elsewhere']})"
                 if v else f"{'(reference)':>10s}")
        print(f"{m:15s} {e['precision']:8s} {1e3 * e['time_s']:9.2f} {e['time_s'] / tl:9.2f} "
              f"{e['converged']:6d} {e['mean_iterations']:6.2f} {extra}")
    lim = pr["limit"]
    nf = lim["native"]
    print(f"{'limit (native)':15s} {'float64':8s} {1e3 * nf['limit_s']:9.2f} {nf['limit_s'] / tl:9.2f}   "
          f"(model+gradient at every point, compiled: {1e3 * nf['one_eval_one_thread_s']:.2f} ms per evaluation on "
          f"one thread / {threads} x {lim['lawfit_mean_iterations']:.2f} iterations)")
    print(f"{'limit (numpy)':15s} {'float64':8s} {1e3 * lim['limit_s']:9.2f} {lim['limit_s'] / tl:9.2f}   "
          f"(one model+Jacobian evaluation {1e3 * lim['one_eval_s']:.2f} ms x {lim['lawfit_mean_iterations']:.2f} "
          f"iterations; with J^T J, J^T r: {1e3 * lim['limit_with_normal_equations_s']:.2f} ms)")
    if "cpufit" in pr:
        print("cpufit:", pr["cpufit"])


if __name__ == "__main__":
    sys.exit(main())
