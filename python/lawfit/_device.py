"""The ``device`` argument: "cpu" (default) or "cuda". No silent fall-back: asking for "cuda" on a build without
the CUDA backend raises ValueError, and on a CUDA build without a usable device raises RuntimeError."""
from __future__ import annotations

import os

from ._args import show

try:  # the optional CUDA backend: a module of its own, built only with the CUDA backend (LAWFIT_CUDA=ON)
    from . import _cuda  # type: ignore[attr-defined]
    _CUDA_LOAD_ERROR = None
except ImportError as _exc:  # not built (the usual CPU install), or built and unloadable
    _cuda = None
    _here = os.path.dirname(os.path.abspath(__file__))
    _CUDA_LOAD_ERROR = str(_exc) if any(f.startswith("_cuda.") for f in os.listdir(_here)) else None

DEVICES = ("cpu", "cuda")

BUILT_WITHOUT_CUDA = (
    "lawfit was installed without CUDA support: the wheels and the default build are CPU-only (the build adds the "
    "CUDA backend, module lawfit._cuda, only on a machine with nvcc and an NVIDIA GPU and driver); reinstall from "
    "source with LAWFIT_CUDA=ON (e.g. `LAWFIT_CUDA=ON pip install .` with nvcc on PATH) to use device='cuda', "
    "or pass device='cpu'"
)


def cuda_module():
    """lawfit._cuda, or None on a build without the CUDA backend."""
    return _cuda


def cuda_status() -> dict:
    """Whether the CUDA backend was built (and loads), how many devices it sees, the device, or why none is usable."""
    if _cuda is not None:
        return dict(_cuda.cuda_status())
    reason = BUILT_WITHOUT_CUDA if _CUDA_LOAD_ERROR is None else (
        f"lawfit's CUDA backend (lawfit._cuda) is installed but could not be loaded: {_CUDA_LOAD_ERROR}")
    return {"built": False, "devices": 0, "device": None, "reason": reason}


def cuda_available() -> bool:
    """True when this install has the CUDA backend and a CUDA device is usable."""
    return bool(_cuda is not None and _cuda.cuda_available())


def check_device(device, op: str) -> str:
    """Validate ``device`` for operation ``op``; for "cuda", check the build and the device."""
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"{op}: device must be 'cpu' or 'cuda', got {show(device)}")
    if device == "cuda":
        status = cuda_status()
        if not status["built"]:
            raise ValueError(f"{op}: {status['reason']}")
        if not cuda_available():
            raise RuntimeError(f"{op}: device='cuda' but no CUDA device is usable ({status['reason']})")
    return device
