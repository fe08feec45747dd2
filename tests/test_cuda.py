"""The CUDA backend: every check is written once with a ``device`` parameter and runs on the CPU always and on
the GPU when this build has CUDA and a device is present (xgboost style). The GPU is compared with the CPU:
same statuses, best starts and point counts, parameters to 1e-9 relative, identical cost grids.

Tests at the bottom run everywhere: device="cuda" on a build without CUDA (or without a device) raises a clear
error, never a silent fall-back to the CPU; an unknown device raises ValueError naming the argument."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit import cost
from lawfit import _device
from lawfit._native import _core

HAS_GPU = _device.cuda_available()
GPU_REASON = (
    "no CUDA device: " + str(_device.cuda_status()["reason"]) if not HAS_GPU else ""
)
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason=GPU_REASON)])]
LAWS = list(lawfit.laws().index)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def _native_fit(device, law, **kw):
    if device == "cuda":
        kw.pop("threads", None)
        return _device.cuda_module().fit_law_cuda(law, **kw)
    return _core.fit_law(law, **kw)


def _law_batch(spec, B=6, n=12, seed=0):
    """B curves of n points from the law at a grid start, with noise; curve 1 has a NaN, curve 2 too few points."""
    rng = np.random.default_rng(seed)
    D = len(spec.inputs)
    p0 = spec.default_starts()[len(spec.default_starts()) // 2]
    xs, ys, off = [], [], [0]
    for b in range(B):
        m = 2 if b == 2 else n
        X = np.sort(rng.uniform(0.05, 0.95, (m, D)), axis=0) * (1.0 + 50.0 * (spec.name not in ("coverage",)))
        y = _core.law_eval(spec.name, np.ascontiguousarray(X), p0.copy(), False)
        y = y * (1 + 0.02 * rng.standard_normal(m)) + 0.001 * rng.standard_normal(m)
        if b == 1:
            y[3] = np.nan
        xs.append(X)
        ys.append(y)
        off.append(off[-1] + m)
    return (np.asarray(off, dtype=np.int64), np.ascontiguousarray(np.concatenate(xs)),
            np.ascontiguousarray(np.concatenate(ys)))


def _assert_same(ref, got, rtol=1e-7):
    # The CPU evaluates exp/log with libmvec and sums the normal equations in lanes; the GPU point by point with
    # its own exp/log: the last bits differ, and a 1e-8 ftol test may stop one iteration apart (the CPU's formula
    # and built-in laws, which differ the same way, agree to ~3e-8).
    np.testing.assert_array_equal(got["status"], ref["status"])
    np.testing.assert_array_equal(got["best_start"], ref["best_start"])
    np.testing.assert_array_equal(got["n_points"], ref["n_points"])
    np.testing.assert_allclose(got["params"], ref["params"], rtol=rtol, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got["cost"], ref["cost"], rtol=1e-7, atol=1e-14, equal_nan=True)
    if ref["cov"] is not None:
        np.testing.assert_allclose(got["cov"], ref["cov"], rtol=1e-5, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("law", LAWS)
def test_every_law_matches_cpu(device, law):
    spec = lawfit.get_law(law)
    off, X, y = _law_batch(spec)
    kw = dict(offsets=off, x=X, y=y, lower=np.array(spec.lower), upper=np.array(spec.upper),
              starts=spec.default_starts(), project_linear=True)
    ref = _core.fit_law(law, **kw, threads=1)
    got = _native_fit(device, law, **kw)
    _assert_same(ref, got)


@pytest.mark.parametrize("loss,space", [("l2", "linear"), ("huber", "log"), ("soft_l1", "linear"),
                                        ("cauchy", "log")])
def test_losses_bounds_weights(device, loss, space):
    df = lawfit.datasets.synthetic_power_law(n_curves=40, n_points=15, seed=3)
    df["w"] = np.where(np.arange(len(df)) % 7 == 0, 0.0, 1.0 + (np.arange(len(df)) % 3))
    kw = dict(x="x", y="y", by="curve", weight="w", loss=loss, delta=0.05, space=space,
              bounds={"alpha": (0.1, 2.0)})
    ref = lawfit.fit(df, "power_law", **kw)
    got = lawfit.fit(df, "power_law", **kw, device=device)
    _assert_same(_result_dict(ref), _result_dict(got))


def _result_dict(res):
    return {"status": res._status, "best_start": res._best, "n_points": res._npts, "params": res._params,
            "cost": res._cost, "cov": res._cov}


def test_random_and_per_curve_starts(device):
    df = lawfit.datasets.synthetic_power_law(n_curves=30, n_points=20, seed=5)
    ref = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=7, seed=11)
    got = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=7, seed=11, device=device)
    _assert_same(_result_dict(ref), _result_dict(got))
    st = pd.DataFrame({"curve": np.repeat(df["curve"].unique()[:10], 2), "E": 0.5, "A": 2.0,
                       "alpha": np.tile([0.2, 0.9], 10)})
    ref = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=st)
    got = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=st, device=device)
    _assert_same(_result_dict(ref), _result_dict(got))


def test_few_curves_many_starts(device):
    """One curve, a large start grid: every (curve, start) pair is a task; ties go to the lowest start."""
    df = lawfit.datasets.synthetic_chinchilla(n=120, seed=2)
    g = np.array(np.meshgrid([1.0, 2.0], [100.0, 1000.0], [100.0, 1000.0], [0.2, 0.4, 0.6], [0.2, 0.4, 0.6]))
    st = pd.DataFrame(g.reshape(5, -1).T, columns=["E", "A", "B", "alpha", "beta"])
    st = pd.concat([st, st.iloc[:5]], ignore_index=True)  # duplicates: the first copy must win
    kw = dict(x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log", starts=st)
    ref = lawfit.fit(df, "chinchilla", **kw)
    got = lawfit.fit(df, "chinchilla", **kw, device=device)
    _assert_same(_result_dict(ref), _result_dict(got))


def _grid():
    return cost.grid(n_layers=[8, 16, 24, 32], d_model=[512, 1024, 2048, 4096], n_heads=[8, 16],
                     tokens=np.geomspace(1e9, 1e12, 13))


def test_cost_grid_identical(device):
    ref = cost.evaluate(_grid(), "h100-sxm", outputs="all", inference_tokens=1e9, n_gpus=8, zero=1)
    got = cost.evaluate(_grid(), "h100-sxm", outputs="all", inference_tokens=1e9, n_gpus=8, zero=1, device=device)
    pd.testing.assert_frame_equal(ref, got, check_exact=True)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason=GPU_REASON or "no CUDA device")
def test_planning_on_the_gpu_is_refused_not_silently_moved_to_the_cpu():
    fit = lawfit.fit(lawfit.datasets.synthetic_chinchilla(n=60), "chinchilla", x=["N", "D"], y="loss")
    with pytest.raises(ValueError, match="planning runs on the CPU"):
        lawfit.plan(fit, 1e21, grid=_grid(), device="cuda")
    with pytest.raises(ValueError, match="planning runs on the CPU"):
        lawfit.planning.pareto(fit, _grid(), device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason=GPU_REASON or "no CUDA device")
def test_device_resident_inputs():
    torch = pytest.importorskip("torch")
    spec = lawfit.get_law("power_law")
    off, X, y = _law_batch(spec)
    kw = dict(lower=np.array(spec.lower), upper=np.array(spec.upper), starts=spec.default_starts(),
              project_linear=True)
    ref = _core.fit_law("power_law", offsets=off, x=X, y=y, **kw)
    t = {k: torch.from_numpy(v).cuda() for k, v in dict(offsets=off, x=X, y=y).items()}
    got = _device.cuda_module().fit_law_cuda("power_law", **t, **kw)
    _assert_same(ref, got)
    with pytest.raises(ValueError, match="all on the device or all on the host"):
        _device.cuda_module().fit_law_cuda("power_law", offsets=off, x=t["x"], y=y, **kw)


# ---- everywhere ----------------------------------------------------------------------------------------------
def _expected_error():
    if not lawfit.build_info()["cuda"]:
        return ValueError, "without CUDA support"
    return RuntimeError, "no CUDA device"


@pytest.mark.skipif(HAS_GPU, reason="a CUDA device is present")
def test_cuda_without_device_raises_clearly():
    exc, msg = _expected_error()
    df = lawfit.datasets.synthetic_power_law(n_curves=3)
    with pytest.raises(exc, match=msg):
        lawfit.fit(df, "power_law", x="x", y="y", by="curve", device="cuda")
    with pytest.raises(exc, match=msg):
        cost.evaluate(_grid(), device="cuda")
    fit = lawfit.fit(lawfit.datasets.synthetic_chinchilla(n=60), "chinchilla", x=["N", "D"], y="loss")
    with pytest.raises(exc, match=msg):
        lawfit.plan(fit, 1e21, grid=_grid(), device="cuda")
    with pytest.raises(exc, match=msg):
        lawfit.planning.pareto(fit, _grid(), device="cuda")
    assert lawfit.cuda_available() is False


def test_cpu_build_has_no_device_entry_points():
    """The CPU extension carries no CUDA code: the backend is the separate module lawfit._cuda."""
    st = _device.cuda_status()
    assert set(st) == {"built", "devices", "device", "reason"}
    assert st["built"] == lawfit.build_info()["cuda"] == (_device.cuda_module() is not None)
    assert not any(hasattr(_core, f) for f in ("fit_law_cuda", "cost_evaluate_cuda", "cuda_status"))
    if not st["built"]:
        assert not lawfit.cuda_available()
        assert "installed without CUDA support" in st["reason"] and "LAWFIT_CUDA=ON" in st["reason"]


@pytest.mark.parametrize("bad", ["tpu", "CUDA", "gpu", None, 0])
def test_unknown_device_names_the_argument(bad):
    df = lawfit.datasets.synthetic_power_law(n_curves=2)
    with pytest.raises(ValueError, match="device"):
        lawfit.fit(df, "power_law", x="x", y="y", by="curve", device=bad)
    with pytest.raises(ValueError, match="device"):
        cost.evaluate(_grid(), device=bad)


def test_cuda_rejects_what_it_cannot_run():
    """Formula laws and shared parameters are CPU-only: a clear error (checked before the device)."""
    if not lawfit.build_info()["cuda"]:
        pytest.skip("checked after the build check; this build has no CUDA")
    df = lawfit.datasets.synthetic_power_law(n_curves=3)
    if not HAS_GPU:
        pytest.skip(GPU_REASON)
    with pytest.raises(ValueError, match="shared"):
        lawfit.fit(df, "power_law", x="x", y="y", by="curve", shared="alpha", device="cuda")
    law = lawfit.Law("E + A*x^-alpha", inputs=["x"])
    with pytest.raises(ValueError, match="built-in laws"):
        lawfit.fit(df, law, x="x", y="y", by="curve", device="cuda")
