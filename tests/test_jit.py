"""User formulas compiled to native code at run time (lawfit._jit): the generated law against the bytecode
evaluator, fits and bootstraps through the native library, the disk cache, and every fallback."""
import pickle

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit import _core, _jit

HAVE_TOOLCHAIN = _jit.compiler() is not None and _jit.include_dir() is not None
needs_compiler = pytest.mark.skipif(not HAVE_TOOLCHAIN, reason="no C++ compiler (native formulas fall back)")

GAUSS = "a*exp(-(x-b)^2/(2*c^2)) + d"
# Every instruction of the tape (formula.OPS) at least once, with parameters in both operands of each binary op.
ALL_OPS = ("a*exp(-b*x) + log(c + x^2)/d + log10(x + a^2) - sqrt(x + b^2) + abs(a - x)*c + sigmoid(b*x - a) "
           "+ tanh(c*x) + log1p(x*d^2) + expm1(-x/(1 + a^2)) + min(a*x, b) + max(c, d*x) + pow(x + 1, b) + x^-1.5")
ALL_P = np.array([1.3, 0.7, 0.9, 1.6])


@pytest.fixture(autouse=True)
def jit_cache(tmp_path_factory, monkeypatch):
    """One cache for the module (each formula compiles once), no global switch-off, default threshold."""
    cache = tmp_path_factory.getbasetemp() / "lawfit-cache"
    monkeypatch.setenv("LAWFIT_CACHE_DIR", str(cache))
    # (libraries this process loaded from another cache, by other tests, are not this module's: forgotten here)
    monkeypatch.setattr(_jit, "_loaded", {k: v for k, v in _jit._loaded.items() if str(cache) in str(v[1])})
    monkeypatch.delenv("LAWFIT_JIT", raising=False)
    monkeypatch.delenv("LAWFIT_JIT_WORK", raising=False)


def gauss_frame(B=300, n=32, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(5, 20, B), rng.uniform(12, 20, B), rng.uniform(2, 5, B),
                             rng.uniform(0.5, 2, B)])
    x = np.arange(n, dtype=np.float64)
    y = truth[:, :1] * np.exp(-(x - truth[:, 1:2]) ** 2 / (2 * truth[:, 2:3] ** 2)) + truth[:, 3:4]
    y = y + 0.2 * rng.standard_normal((B, n))
    df = pd.DataFrame({"curve": np.repeat(np.arange(B), n), "x": np.tile(x, B), "y": y.ravel()})
    starts = pd.DataFrame({"curve": np.arange(B), **{k: truth[:, j] * rng.uniform(0.8, 1.2, B)
                                                     for j, k in enumerate("abcd")}})
    return df, starts, truth


def test_headers_ship_with_the_package():
    # A wheel installs them in lawfit/include (CMakeLists.txt); a checkout uses csrc/. Either way they are found,
    # with the library body the generated source includes.
    inc = _jit.include_dir()
    assert inc is not None
    assert (inc / "kernels" / "jit_main.inc").is_file() and (inc / "core" / "fit" / "varpro.hpp").is_file()


def test_generated_source_is_straight_line_and_exact():
    law = lawfit.Law(ALL_OPS, inputs="x", params=["a", "b", "c", "d"])
    t = law.tape
    src = _jit.generate(t["op"], t["a"], t["b"], t["arg"], t["consts"], law.n_params, 1, law._linear_arr,
                        law._scale_arr)
    assert "switch" not in src and "struct JitLaw" in src
    # constants as exact hex literals
    for c in t["consts"]:
        assert float(c).hex() in src
    assert "static constexpr int P = 4, D = 1;" in src


@needs_compiler
def test_native_values_and_gradients_equal_the_bytecode():
    law = lawfit.Law(ALL_OPS, inputs="x", params=["a", "b", "c", "d"], native=True).compile()
    assert law.native_status["status"] == "native"
    h = _jit.handle(law, 0.0, True)
    x = np.linspace(0.05, 6.0, 301)[:, None]
    got = _core.jit_eval(h, x, ALL_P)
    want = law(x, ALL_P, grad=True)
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    # the gradient is right (not only equal to the bytecode's): central differences
    eps = 1e-6
    for j in range(4):
        dp = np.zeros(4)
        dp[j] = eps
        fd = (law(x, ALL_P + dp) - law(x, ALL_P - dp)) / (2 * eps)
        np.testing.assert_allclose(got[:, 1 + j], fd, rtol=1e-5, atol=1e-6)


@needs_compiler
@pytest.mark.parametrize("solver", ["varpro", "lm"])
def test_native_fit_equals_bytecode_fit(solver):
    df, starts, truth = gauss_frame()
    kw = dict(x="x", y="y", by="curve", starts=starts, solver=solver)
    rn = lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=True), **kw)
    rb = lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=False), **kw)
    assert (rn.status == "CONVERGED").all() and (rb.status == "CONVERGED").all()
    # Same solver, same operations: only vector-math rounding (a few ulp in exp) separates the two.
    np.testing.assert_allclose(rn.params.to_numpy(), rb.params.to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(rn.objective.to_numpy(), rb.objective.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(rn.stderr.to_numpy(), rb.stderr.to_numpy(), rtol=1e-6)
    # and it recovers the truth
    err = np.abs(rn.params.to_numpy() - truth)
    assert np.median(err[:, 1]) < 0.1


@needs_compiler
def test_native_chinchilla_formula_equals_builtin_law():
    df = lawfit.datasets.synthetic_chinchilla()
    law = lawfit.Law("E + A*N^-alpha + B*D^-beta", inputs=["N", "D"], params=["E", "A", "B", "alpha", "beta"],
                     scale={"E": "log", "A": "log", "B": "log"},
                     bounds={"E": (0, None), "A": (0, None), "B": (0, None), "alpha": (0, 5), "beta": (0, 5)},
                     native=True)
    r1 = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")
    r2 = lawfit.fit(df, law, x=["N", "D"], y="loss", starts=lawfit.get_law("chinchilla").default_starts())
    assert law.native_status["status"] == "native"
    assert r1.status.iloc[0] == r2.status.iloc[0] == "CONVERGED"
    np.testing.assert_allclose(r2.params.to_numpy(), r1.params.to_numpy(), rtol=1e-6)


@needs_compiler
def test_native_bootstrap_equals_bytecode_bootstrap():
    df, starts, _ = gauss_frame(B=20)
    rn = lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=True), x="x", y="y", by="curve", starts=starts)
    rb = lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=False), x="x", y="y", by="curve", starts=starts)
    bn = rn.bootstrap(n=50, seed=3)
    bb = rb.bootstrap(n=50, seed=3)
    np.testing.assert_allclose(bn.samples, bb.samples, rtol=1e-6, atol=1e-8)


@needs_compiler
def test_bad_curves_get_their_status_and_spoil_nothing():
    df, starts, _ = gauss_frame(B=6)
    df.loc[df.curve == 2, "y"] = np.nan
    df = df[~((df.curve == 4) & (df.x > 1))]  # 2 points for 4 parameters
    rn = lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=True), x="x", y="y", by="curve", starts=starts)
    rb = lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=False), x="x", y="y", by="curve", starts=starts)
    assert list(rn.status) == list(rb.status)
    assert rn.status.loc[2] == "NON_FINITE" and rn.status.loc[4] == "TOO_FEW_POINTS"
    ok = rn.status == "CONVERGED"
    assert ok.sum() == 4
    np.testing.assert_allclose(rn.params[ok].to_numpy(), rb.params[ok].to_numpy(), rtol=1e-8)


@needs_compiler
def test_cache_is_reused_across_laws_and_processes(monkeypatch):
    a = lawfit.Law(GAUSS, inputs="x", native=True).compile()
    path = a.native_status["detail"]
    # a new process (simulated: the in-process table forgotten) loads the library from disk, without compiling
    monkeypatch.setattr(_jit, "_loaded", {})

    def no_compile(*args, **kw):
        raise AssertionError("compiled again")

    monkeypatch.setattr(_jit, "_compile", no_compile)
    b = lawfit.Law(GAUSS, inputs="x").compile()
    assert b.native_status == {"status": "native", "detail": path}
    # in auto mode a cached library is used even for a tiny fit
    df, starts, _ = gauss_frame(B=3)
    c = lawfit.Law(GAUSS, inputs="x")
    lawfit.fit(df, c, x="x", y="y", by="curve", starts=starts)
    assert c.native_status["status"] == "native"
    # another formula has another key
    d = lawfit.Law(GAUSS + " + 0*x", inputs="x")
    lawfit.fit(df, d, x="x", y="y", by="curve", starts=starts)
    assert d.native_status["status"] == "not built"


@needs_compiler
def test_auto_mode_compiles_only_when_the_work_repays_it(monkeypatch):
    df, starts, _ = gauss_frame(B=4)
    formula = "a*exp(-(x-b)^2/(2*c^2)) + d + 0*x^2"  # a key no other test built
    law = lawfit.Law(formula, inputs="x")
    lawfit.fit(df, law, x="x", y="y", by="curve", starts=starts)
    assert law.native_status["status"] == "not built"
    assert "LAWFIT_JIT_WORK" in law.native_status["detail"]
    # the work adds up over calls: 4 curves x 32 points x 1 start = 128 per call
    monkeypatch.setenv("LAWFIT_JIT_WORK", "300")
    lawfit.fit(df, law, x="x", y="y", by="curve", starts=starts)  # 256 so far (the first call's included)
    assert law.native_status["status"] == "not built"
    r = lawfit.fit(df, law, x="x", y="y", by="curve", starts=starts)  # 384
    assert law.native_status["status"] == "native"
    assert (r.status == "CONVERGED").all()


def test_no_compiler_falls_back_or_raises(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setattr(_jit, "_loaded", {})
    df, starts, _ = gauss_frame(B=4)
    monkeypatch.setenv("LAWFIT_JIT_WORK", "0")
    law = lawfit.Law(GAUSS + " + 0*x^3", inputs="x")
    r = lawfit.fit(df, law, x="x", y="y", by="curve", starts=starts)  # the bytecode, quietly
    assert (r.status == "CONVERGED").all()
    assert law.native_status["status"] == "unavailable"
    assert "compiler" in law.native_status["detail"]
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        lawfit.Law(GAUSS, inputs="x", native=True).compile()
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        lawfit.fit(df, lawfit.Law(GAUSS, inputs="x", native=True), x="x", y="y", by="curve", starts=starts)


@needs_compiler
def test_failed_compile_falls_back_with_the_reason(monkeypatch):
    orig = _jit.flags
    monkeypatch.setattr(_jit, "flags", lambda: orig() + ["-DLAWFIT_JIT_KEY_BROKEN=1", "-include", "/nonexistent.h"])
    monkeypatch.setattr(_jit, "_env_cache", {})
    monkeypatch.setenv("LAWFIT_JIT_WORK", "0")
    df, starts, _ = gauss_frame(B=4)
    law = lawfit.Law(GAUSS, inputs="x")
    r = lawfit.fit(df, law, x="x", y="y", by="curve", starts=starts)
    assert (r.status == "CONVERGED").all()
    st = law.native_status
    assert st["status"] == "unavailable" and "compile failed" in st["detail"] and "nonexistent" in st["detail"]
    with pytest.raises(RuntimeError, match="compile failed"):
        lawfit.Law(GAUSS, inputs="x", native=True).compile()


def test_switches(monkeypatch):
    monkeypatch.setenv("LAWFIT_JIT", "0")
    law = lawfit.Law(GAUSS, inputs="x", native=True)
    assert _jit.handle(law, 1e12, True) == -1
    assert law.native_status["status"] == "not built"
    monkeypatch.delenv("LAWFIT_JIT")
    off = lawfit.Law(GAUSS, inputs="x", native=False)
    assert _jit.handle(off, 1e12, False) == -1
    with pytest.raises(RuntimeError, match="native=False"):
        off.compile()
    with pytest.raises(ValueError, match="native must be"):
        lawfit.Law(GAUSS, inputs="x", native="yes")
    monkeypatch.setenv("LAWFIT_JIT_WORK", "lots")
    with pytest.raises(ValueError, match="LAWFIT_JIT_WORK"):
        _jit.work_threshold()


@needs_compiler
def test_a_library_built_for_another_key_is_refused():
    law = lawfit.Law(GAUSS, inputs="x", native=True).compile()
    path = law.native_status["detail"]
    with pytest.raises(RuntimeError, match="key mismatch"):
        _core.jit_load(path, "0" * 32)
    with pytest.raises(ValueError, match="no native formula library"):
        _core.jit_eval(10 ** 6, np.zeros((1, 1)), np.zeros(4))


@needs_compiler
def test_a_compiled_law_pickles_and_round_trips_json():
    law = lawfit.Law(GAUSS, inputs="x", native=True).compile()
    back = pickle.loads(pickle.dumps(law))
    df, starts, _ = gauss_frame(B=3)
    r = lawfit.fit(df, back, x="x", y="y", by="curve", starts=starts)
    assert (r.status == "CONVERGED").all() and back.native_status["status"] == "native"
    again = lawfit.Law.from_json(law.to_json())
    assert again._native is True and again.formula == law.formula
