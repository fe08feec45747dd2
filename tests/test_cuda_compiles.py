"""The CUDA sources compile wherever nvcc exists, GPU or not.

The default build (LAWFIT_CUDA=AUTO) includes the CUDA backend only on a machine with an NVIDIA GPU and driver,
so on CI (nvcc, no GPU) the extension is CPU-only; this test compiles every csrc/cuda/*.cu to an object file with
the build's flags for one real architecture, so the kernels are still checked by the compiler on every CI run.
Skipped where nvcc is absent or where the extension already contains the CUDA backend (it was compiled then)."""
import os
import pathlib
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import lawfit

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "csrc" / "cuda").glob("*.cu"))
NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.skipif(not SOURCES, reason="no CUDA sources in this checkout")
def test_cuda_sources_compile(tmp_path):
    if lawfit.build_info()["cuda"]:
        pytest.skip("this build already compiled the CUDA backend into the extension")
    # PTX only (code=compute_80): the C++ front end and the device code generation check the sources; ptxas (SASS),
    # a quarter of the time on 2 cores (4 min 23 s -> 3 min 11 s without it), adds no check of them.
    flags = ["-std=c++17", "-O1", "--expt-relaxed-constexpr", "--fmad=false",
             "-gencode=arch=compute_80,code=compute_80", "-DLAWFIT_WITH_CUDA=1", f"-I{ROOT / 'csrc'}", "-c"]

    def compile_one(src):
        out = tmp_path / (src.stem + ".o")
        r = subprocess.run([NVCC, *flags, str(src), "-o", str(out)], capture_output=True, text=True)
        return src.name, r.returncode, r.stderr[-4000:], out

    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as ex:
        results = list(ex.map(compile_one, SOURCES))
    failed = [(name, err) for name, rc, err, _ in results if rc != 0]
    assert not failed, "nvcc failed:\n" + "\n".join(f"--- {n}\n{e}" for n, e in failed)
    assert all(o.stat().st_size > 0 for *_, o in results)


def test_cuda_module_bindings_compile(tmp_path):
    """lawfit._cuda's host-side bindings (csrc/cuda/module.cpp, plain C++ calling cuda/api.hpp) compile with the
    host compiler, so a CPU-only build still checks the module a CUDA build adds."""
    if lawfit.build_info()["cuda"]:
        pytest.skip("this build compiled lawfit._cuda")
    pybind11 = pytest.importorskip("pybind11")
    import sysconfig

    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = ROOT / "csrc" / "cuda" / "module.cpp"
    cmd = [cxx, "-std=c++17", "-O0", "-fsyntax-only", "-DLAWFIT_WITH_CUDA=1", '-DLAWFIT_VERSION="0"',
           f"-I{ROOT / 'csrc'}", f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}", str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
