"""Runtime CPU dispatch of the solver kernels (csrc/kernels, bindings/kernels.cpp).

lawfit._core is built for the architecture's baseline with scalar libm; the solvers live in kernel libraries, one
per CPU level (`_kernels_baseline`, and `_kernels_avx2` on x86-64 with AVX2 + FMA and libmvec's vector math).
_core picks one at import by cpuid (LAWFIT_CPU=baseline|avx2 forces one) and falls back to the baseline when the
faster one cannot load. These tests force each level in a child process and check that:
- the levels agree to the documented tolerance (1e-7 relative on the fitted parameters of well-posed fits),
- within a level, results are bit-identical for any thread count,
- a machine whose fast library cannot load (simulated: its libmvec dependency renamed to a missing library) still
  imports lawfit and fits, on the baseline, and build_info() says why,
- the extension and the baseline kernels need neither libmvec nor AVX instructions.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import lawfit

PKG = pathlib.Path(lawfit.__file__).resolve().parent
INFO = lawfit.build_info()
KERNELS = {p.name for p in PKG.glob("_kernels_*.so")}
X86 = INFO["cpu_features"] != "" and "neon" not in INFO["cpu_features"]
HAS_AVX2 = "_kernels_avx2.so" in KERNELS and {"avx2", "fma"} <= set(INFO["cpu_features"].split())

# One child run: fits (built-in law, two-input law, user formula) and a bootstrap, at 1 and 2 threads.
CHILD = r"""
import json, sys
import numpy as np
import lawfit
out = {"info": {k: lawfit.build_info()[k] for k in ("cpu_level", "kernel_fallback", "vector_math", "simd")}}
pl = lawfit.datasets.synthetic_power_law(300, seed=3)
ch = lawfit.datasets.synthetic_chinchilla(n=80, seed=1)
law = lawfit.Law("E + A*x^-alpha", inputs="x", bounds={"alpha": (0, 3)})
for threads in (1, 2):
    r1 = lawfit.fit(pl, "power_law", x="x", y="y", by="curve", threads=threads)
    r2 = lawfit.fit(ch, "chinchilla", x=["N", "D"], y="loss", threads=threads)
    r3 = lawfit.fit(pl, law, x="x", y="y", by="curve", threads=threads)
    bs = r1.bootstrap(n=20, seed=5, threads=threads)
    out[threads] = {"power_law": r1.params.to_numpy().tolist(), "status": r1.status.tolist(),
                    "chinchilla": r2.params.to_numpy().tolist(), "formula": r3.params.to_numpy().tolist(),
                    "boot": np.asarray(bs.samples).tolist()}
json.dump(out, sys.stdout)
"""


def _child(env_extra, pythonpath=None):
    env = dict(os.environ)
    env.update(env_extra)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def baseline():
    return _child({"LAWFIT_CPU": "baseline"})


def test_build_info_names_the_level_in_use():
    assert INFO["cpu_level"] in ("baseline", "avx2")
    assert pathlib.Path(INFO["kernel_library"]).name == f"_kernels_{INFO['cpu_level']}.so"
    assert "_kernels_baseline.so" in KERNELS
    if HAS_AVX2 and os.environ.get("LAWFIT_CPU", "auto") == "auto":
        assert INFO["cpu_level"] == "avx2" and INFO["kernel_fallback"] is None
        assert INFO["simd"][-3:] == ["AVX", "AVX2", "FMA"]


def test_forced_baseline_and_threads(baseline):
    assert baseline["info"]["cpu_level"] == "baseline"
    assert baseline["info"]["vector_math"] == "none"
    # within a level: bit-identical for any thread count
    assert baseline["1"] == baseline["2"]


@pytest.mark.skipif(not HAS_AVX2, reason="no AVX2/FMA kernels on this machine")
def test_levels_agree(baseline):
    fast = _child({"LAWFIT_CPU": "avx2"})
    assert fast["info"]["cpu_level"] == "avx2"
    assert fast["1"] == fast["2"]
    b, f = baseline["1"], fast["1"]
    assert b["status"] == f["status"]
    for k in ("power_law", "chinchilla", "formula"):
        np.testing.assert_allclose(np.array(f[k]), np.array(b[k]), rtol=1e-7, atol=0, err_msg=k)
    # bootstrap replicates are refits from resampled data: the same to the same tolerance
    fb, bb = np.array(f["boot"], dtype=float), np.array(b["boot"], dtype=float)
    ok = np.isfinite(fb) & np.isfinite(bb)
    assert ok.mean() > 0.99
    np.testing.assert_allclose(fb[ok], bb[ok], rtol=1e-6, atol=0)


def test_bad_level_is_a_clear_import_error():
    env = dict(os.environ, LAWFIT_CPU="sse9")
    r = subprocess.run([sys.executable, "-c", "import lawfit"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "LAWFIT_CPU must be auto, baseline or avx2" in r.stderr


@pytest.mark.skipif("_kernels_avx2.so" not in KERNELS, reason="no AVX2 kernel library in this build")
def test_falls_back_when_the_fast_library_cannot_load(tmp_path, baseline):
    """A machine without libmvec: the AVX2 library's libmvec dependency is renamed to a library that does not
    exist (patchelf), or, without patchelf, the library is replaced by a file that is not a library."""
    pkg = tmp_path / "lawfit"
    shutil.copytree(PKG, pkg, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))
    fast = pkg / "_kernels_avx2.so"
    patchelf = shutil.which("patchelf")
    needed = subprocess.run(["readelf", "-d", str(fast)], capture_output=True, text=True).stdout \
        if shutil.which("readelf") else ""
    if patchelf and "libmvec.so.1" in needed:
        subprocess.run([patchelf, "--replace-needed", "libmvec.so.1", "libmvec_missing.so.1", str(fast)], check=True)
        expect = "libmvec_missing"
    else:
        fast.write_bytes(b"not a shared library")
        expect = "_kernels_avx2"
    out = _child({"LAWFIT_CPU": "auto"}, pythonpath=tmp_path)
    assert out["info"]["cpu_level"] == "baseline"
    assert expect in out["info"]["kernel_fallback"]
    assert out["1"] == baseline["1"]  # exactly the baseline's results


def _tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found")
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF check")
def test_extension_and_baseline_need_no_libmvec():
    readelf = _tool("readelf")
    for lib in [next(PKG.glob("_core*.so")), PKG / "_kernels_baseline.so"]:
        needed = subprocess.run([readelf, "-d", str(lib)], capture_output=True, text=True, check=True).stdout
        assert "libmvec" not in needed, lib.name


@pytest.mark.skipif(not (sys.platform.startswith("linux") and X86), reason="x86-64 ELF check")
def test_extension_and_baseline_have_no_avx_instructions():
    """_core and the baseline kernels run on any x86-64: no instruction touches a 256- or 512-bit register."""
    objdump = _tool("objdump")
    for lib in [next(PKG.glob("_core*.so")), PKG / "_kernels_baseline.so"]:
        asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                             check=True).stdout
        wide = [line for line in asm.splitlines() if "%ymm" in line or "%zmm" in line]
        assert not wide, f"{lib.name}: {wide[:3]}"
    if "_kernels_avx2.so" in KERNELS:  # (the check can fail: the AVX2 library does use them)
        asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(PKG / "_kernels_avx2.so")],
                             capture_output=True, text=True, check=True).stdout
        assert "%ymm" in asm


@pytest.mark.skipif(not (sys.platform.startswith("linux") and X86), reason="x86-64 ELF check")
def test_avx2_level_calls_no_legacy_sse_vector_math():
    """The AVX2 library imports only libmvec's AVX2 variants (_ZGVdN4*): its 2-wide calls go to its own shims
    (csrc/kernels/vmath_shims.cpp), never to the legacy-SSE _ZGVbN2* ones, whose state transitions cost ~50x."""
    if "_kernels_avx2.so" not in KERNELS:
        pytest.skip("no AVX2 kernel library in this build")
    nm = _tool("nm")
    undefined = subprocess.run([nm, "-D", "--undefined-only", str(PKG / "_kernels_avx2.so")], capture_output=True,
                               text=True, check=True).stdout
    vector = [line.split()[-1] for line in undefined.splitlines() if "_ZGV" in line]
    assert not [s for s in vector if not s.startswith("_ZGVdN4")], vector
    if "libmvec" in build_info_vector_math():
        assert vector, "the AVX2 library with libmvec imports no vector math at all"


def build_info_vector_math() -> str:
    import lawfit

    return str(lawfit.build_info().get("vector_math", ""))
