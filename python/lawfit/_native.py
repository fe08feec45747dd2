"""Loads the compiled extension and refuses a mismatched one (DESIGN.md principle 6)."""
from __future__ import annotations

from importlib import metadata as _md

try:
    from . import _core  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "lawfit's compiled extension lawfit._core could not be imported. Reinstall with `pip install .` "
        f"from the source tree (the build needs a C++17 compiler and CMake). Original error: {exc}"
    ) from exc

__version__ = "0.1.0"

if _core.__version__ != __version__:  # pragma: no cover - only on a broken install
    raise ImportError(
        f"lawfit's Python package is version {__version__} but its compiled extension is "
        f"{_core.__version__}; rebuild the package (pip install .)"
    )


def build_info() -> dict:
    """What was built and what runs: version, compiler, threads, the solver kernels' CPU level (cpu_level: baseline
    or avx2, chosen by cpuid at import; LAWFIT_CPU overrides) and vector math, and whether the CUDA backend is present."""
    from ._device import cuda_status  # (imports this module)

    info = dict(_core.build_info())
    info["cuda"] = bool(cuda_status()["built"])
    info["python_package"] = __version__
    try:
        info["installed_distribution"] = _md.version("lawfit")
    except _md.PackageNotFoundError:
        info["installed_distribution"] = None
    return info
