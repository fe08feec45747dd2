"""GPU benchmarks (issue 6): lawfit's CUDA backend vs its CPU path vs a torch batched-LM baseline
(bench/baselines/torch_lm.py, float64 on the same GPU), side by side in one run.

  many-curves: power_law, 20 points per curve, 1% noise, one start per curve near the truth, at 10^6 and 10^7
               curves (fits/s; the CPU path at 10^6 only unless --cpu-big)
  chinchilla:  Huber(1e-3) on log loss, Hoffmann's 4,500-start grid, 240 synthetic points
  cost grid:   cost.evaluate over a 4-field grid of 10^6+ configurations; plan(grid=...) with 1,000 samples

Every section checks that the GPU agrees with the CPU (statuses, best starts, parameters to about 1e-7 relative,
identical cost outputs) and records it. Needs a CUDA build (LAWFIT_CUDA=ON) and a CUDA device; exits with a
message otherwise.

Run: python bench/bench_gpu.py [--quick] [--cpu-big]   (writes bench/results/gpu.json unless --quick)
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import lawfit  # noqa: E402
from _machine import machine  # noqa: E402
from lawfit import cost  # noqa: E402
from lawfit import _device  # noqa: E402
from lawfit._native import _core  # noqa: E402
from lawfit.demo import _hoffmann_grid  # noqa: E402


def _timed(fn, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def power_law_arrays(B, n=20, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(0.5, 2, B), rng.uniform(1, 10, B), rng.uniform(0.2, 1.0, B)])
    x = np.tile(np.geomspace(1, 1000, n), B)
    t = np.repeat(truth, n, axis=0)
    y = (t[:, 0] + t[:, 1] * x ** -t[:, 2]) * (1 + 0.01 * rng.standard_normal(B * n))
    p0 = truth * rng.uniform(0.8, 1.2, truth.shape)
    return np.arange(0, B * n + 1, n, dtype=np.int64), x.reshape(-1, 1), y, p0


def bench_many(B, cpu=True):
    spec = lawfit.get_law("power_law")
    off, x, y, p0 = power_law_arrays(B)
    kw = dict(offsets=off, x=x, y=y, lower=np.array(spec.lower), upper=np.array(spec.upper),
              starts=np.ascontiguousarray(p0[:, None, :]), want_cov=False)
    out = {"curves": B, "points_per_curve": 20}
    _device.cuda_module().fit_law_cuda("power_law", **{**kw, "offsets": off[:1001], "x": x[:20000], "y": y[:20000],
                                       "starts": kw["starts"][:1000]})  # warm-up (context, module load)
    tg, rg = _timed(lambda: _device.cuda_module().fit_law_cuda("power_law", **kw), 2)
    out.update(gpu_s=tg, gpu_fits_per_s=B / tg, gpu_converged_fraction=float((rg["status"] == 0).mean()))
    if cpu:
        tc, rc = _timed(lambda: _core.fit_law("power_law", **kw))
        rel = np.abs(rg["params"] - rc["params"]) / np.maximum(np.abs(rc["params"]), 1e-300)
        out.update(cpu_s=tc, cpu_fits_per_s=B / tc, gpu_speedup_vs_cpu=tc / tg,
                   same_status=bool((rg["status"] == rc["status"]).all()),
                   max_rel_param_diff_gpu_vs_cpu=float(np.nanmax(rel)))
    torch = _torch()
    if torch is not None:
        from baselines.torch_lm import power_law_fit

        X = torch.from_numpy(x.reshape(B, 20)).cuda()
        Y = torch.from_numpy(y.reshape(B, 20)).cuda()
        P0 = torch.from_numpy(p0).cuda()

        def run():
            p, c = power_law_fit(X, Y, P0, iters=50)
            torch.cuda.synchronize()
            return p

        tt, pt = _timed(run)
        out.update(torch_s=tt, torch_fits_per_s=B / tt, gpu_speedup_vs_torch=tt / tg,
                   torch_max_rel_param_diff_vs_gpu=float(np.nanmax(np.abs(pt.cpu().numpy() - rg["params"]) /
                                                                   np.abs(rg["params"]))))
    return out


def bench_chinchilla():
    df = lawfit.datasets.synthetic_chinchilla(n=240, seed=0, noise=0.01)
    grid = _hoffmann_grid()
    kw = dict(x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", starts=grid)
    lawfit.fit(df, "chinchilla", **kw, device="cuda")  # warm-up
    tg, rg = _timed(lambda: lawfit.fit(df, "chinchilla", **kw, device="cuda"), 3)
    tc, rc = _timed(lambda: lawfit.fit(df, "chinchilla", **kw))
    out = {"points": 240, "starts": len(grid), "gpu_s": tg, "cpu_s": tc, "gpu_speedup_vs_cpu": tc / tg,
           "gpu_objective": float(rg.objective.iloc[0]), "cpu_objective": float(rc.objective.iloc[0]),
           "same_best_start": bool((rg._best == rc._best).all())}
    torch = _torch()
    if torch is not None:
        from baselines.torch_lm import chinchilla_fit

        N, D, L = (torch.from_numpy(df[c].to_numpy()).cuda() for c in ("N", "D", "loss"))
        S = torch.from_numpy(grid[["E", "A", "B", "alpha", "beta"]].to_numpy()).cuda()

        def run():
            p, c = chinchilla_fit(N, D, L, S)
            torch.cuda.synchronize()
            return c

        tt, ct = _timed(run)
        out.update(torch_s=tt, gpu_speedup_vs_torch=tt / tg, torch_best_objective=float(ct.min().item()))
    return out


def bench_cost(quick):
    g = cost.grid(n_layers=np.arange(4, 100, 4 if quick else 1), d_model=np.arange(256, 8193, 256),
                  n_heads=[8, 16, 32], tokens=np.geomspace(1e9, 1e13, 25 if quick else 120))
    ev = dict(outputs="all", inference_tokens=1e10)
    cost.evaluate(g, as_frame=False, device="cuda", **ev)  # warm-up
    tg, rg = _timed(lambda: cost.evaluate(g, as_frame=False, device="cuda", **ev), 3)
    tc, rc = _timed(lambda: cost.evaluate(g, as_frame=False, **ev))
    same = all(np.array_equal(rg[k], rc[k]) for k in cost.OUTPUTS)
    out = {"configurations": int(g.size), "evaluate_gpu_s": tg, "evaluate_cpu_s": tc,
           "evaluate_speedup": tc / tg, "evaluate_identical": bool(same)}
    fit = lawfit.fit(lawfit.datasets.synthetic_chinchilla(noise=0.0), "chinchilla", x=["N", "D"], y="loss")
    rng = np.random.default_rng(0)
    S = fit._params[0] * (1 + 0.03 * rng.standard_normal((100 if quick else 1000, 5)))
    pk = dict(grid=g, samples=S[None], inference_tokens=1e10)
    tg, pg = _timed(lambda: lawfit.plan(fit, 1e23, **pk, device="cuda"))
    tc, pc = _timed(lambda: lawfit.plan(fit, 1e23, **pk))
    out.update(plan_samples=len(S), plan_gpu_s=tg, plan_cpu_s=tc, plan_speedup=tc / tg,
               plan_same_index=bool((pg.attrs["samples"]["index"].to_numpy() ==
                                     pc.attrs["samples"]["index"].to_numpy()).all()))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    ap.add_argument("--cpu-big", action="store_true", help="also time the CPU path at 10^7 curves")
    a = ap.parse_args()
    if not _device.cuda_status()["built"]:
        sys.exit("bench_gpu: this lawfit was built without CUDA; rebuild with LAWFIT_CUDA=ON (nvcc on PATH)")
    if not _device.cuda_available():
        sys.exit(f"bench_gpu: no CUDA device is usable ({_device.cuda_status()['reason']}); run on a GPU machine")
    res = {"machine": machine(), "lawfit": lawfit.build_info(), "device": _device.cuda_status()["device"],
           "torch_baseline": _torch() is not None}
    sizes = [20_000, 200_000] if a.quick else [1_000_000, 10_000_000]
    res["many_curves"] = [bench_many(sizes[0]), bench_many(sizes[1], cpu=a.cpu_big or a.quick)]
    print(json.dumps(res["many_curves"], indent=2))
    res["chinchilla_grid"] = bench_chinchilla()
    print(json.dumps(res["chinchilla_grid"], indent=2))
    res["cost_grid"] = bench_cost(a.quick)
    print(json.dumps(res["cost_grid"], indent=2))
    if not a.quick:
        out = pathlib.Path(__file__).parent / "results" / "gpu.json"
        out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
