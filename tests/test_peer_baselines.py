"""The peer baselines of bench/bench_peers.py (bench/baselines/jax_lm.py, torch_lm_conv.py, cpufit.py) reach the
optimum lawfit and scipy reach, on small batches. Each peer's tests skip when it is absent (jax, torch, or a Cpufit
library built by bench/build_cpufit.sh)."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bp():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("lawfit_bench_peers", BENCH / "bench_peers.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(BENCH))


def _need(name):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")


def _scipy_costs(problem, d):
    from scipy.optimize import least_squares

    out = []
    for p0, y in zip(d["p0"], d["y"]):
        def f(p, y=y):
            return _model1(problem, p, d["x"]) - y

        out.append(least_squares(f, p0, method="lm", xtol=1e-13, ftol=1e-13, gtol=1e-13).cost)
    return np.array(out)


def _model1(problem, p, x):
    if problem == "power_law":
        return p[0] + p[1] * x ** -p[2]
    return p[0] * np.exp(-(x - p[1]) ** 2 / (2 * p[2] ** 2)) + p[3]


def _data(bp, problem, B=40):
    return (bp.power_law_data if problem == "power_law" else bp.gauss_data)(B, seed=3)


def _check(bp, problem, d, out, rel_cost=1e-7):
    cost = bp.cost_f64(problem, out["params"], d)
    ref = _scipy_costs(problem, d)
    assert (out["status_ok"]).all()
    np.testing.assert_allclose(cost, ref, rtol=rel_cost)
    lf = bp.lawfit_methods(problem, d, 1)["lawfit"]()
    cmp = bp.compare(problem, d, lf, out, "float64" if rel_cost < 1e-6 else "float32")
    assert cmp["mismatches"] == 0, cmp


@pytest.mark.parametrize("problem", ["power_law", "gauss"])
def test_jax_lm_reaches_scipy_and_lawfit_optimum(bp, problem):
    _need("jax")
    d = _data(bp, problem)
    _check(bp, problem, d, bp.jax_method(problem, d)())


@pytest.mark.parametrize("problem", ["power_law", "gauss"])
def test_jax_lm_jacfwd_matches_analytic(bp, problem):
    _need("jax")
    sys.path.insert(0, str(BENCH))
    try:
        from baselines import jax_lm
    finally:
        sys.path.remove(str(BENCH))
    d = _data(bp, problem, 10)
    fn = jax_lm.power_law_fit if problem == "power_law" else jax_lm.gauss_fit
    a, b = fn(d["x"], d["y"], d["p0"]), fn(d["x"], d["y"], d["p0"], jac="jacfwd")
    np.testing.assert_allclose(a["params"], b["params"], rtol=1e-9)


@pytest.mark.parametrize("problem", ["power_law", "gauss"])
@pytest.mark.parametrize("solve", ["unrolled", "cholesky_ex"])
def test_torch_lm_conv_reaches_optimum_and_matches_jax_path(bp, problem, solve):
    _need("torch")
    sys.path.insert(0, str(BENCH))
    try:
        from baselines import torch_lm_conv
    finally:
        sys.path.remove(str(BENCH))
    d = _data(bp, problem)
    fn = torch_lm_conv.power_law_fit if problem == "power_law" else torch_lm_conv.gauss_fit
    o = fn(d["x"], d["y"], d["p0"], solve=solve)
    _check(bp, problem, d, dict(params=o["params"], status_ok=o["status"] == 0))
    # per-x curves (x [B, n]) give the same result as the shared x
    o2 = fn(np.tile(d["x"], (len(d["y"]), 1)), d["y"], d["p0"], solve=solve)
    np.testing.assert_allclose(o2["params"], o["params"], rtol=1e-12)
    if importlib.util.find_spec("jax") is not None:
        j = bp.jax_method(problem, d)()
        np.testing.assert_array_equal(o["trials"], j["iters"])  # the same algorithm, step for step


def _cpufit(precision):
    sys.path.insert(0, str(BENCH))
    try:
        from baselines import cpufit
    finally:
        sys.path.remove(str(BENCH))
    try:
        return cpufit, cpufit.Cpufit(precision)
    except (OSError, RuntimeError) as e:
        pytest.skip(f"Cpufit {precision} not available ({e}); bash bench/build_cpufit.sh both")


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_cpufit_gauss_reaches_optimum(bp, precision):
    cpufit, lib = _cpufit(precision)
    d = _data(bp, "gauss")
    p, c, s, it = cpufit.gauss_fit(d["x"], d["y"], d["p0"], lib=lib, threads=2)
    _check(bp, "gauss", d, dict(params=p, status_ok=s == 0), rel_cost=1e-7 if precision == "float64" else 1e-5)
    # threads only split the batch
    p1, c1, s1, it1 = cpufit.gauss_fit(d["x"], d["y"], d["p0"], lib=lib, threads=1)
    np.testing.assert_array_equal(p1, p)
    np.testing.assert_array_equal(it1, it)


@pytest.mark.parametrize("threads", [1, 2])
def test_cpufit_per_fit_x(bp, threads):
    """x per fit (n_fits * n_points REALs in user_info) is read per fit, also when the batch is split in chunks."""
    cpufit, lib = _cpufit("float64")
    d = _data(bp, "gauss", 6)
    xs = d["x"][None] + np.arange(6)[:, None]  # each curve shifted: its own x
    y = np.stack([_model1("gauss", t, x) for t, x in zip(d["truth"], xs)])
    p, s, _, _ = lib.fit(y, d["truth"] * 1.05, cpufit.GAUSS_1D, x=xs, tolerance=1e-12, max_iter=100, threads=threads)
    assert (s == 0).all()
    np.testing.assert_allclose(np.abs(p), d["truth"], rtol=1e-6)
