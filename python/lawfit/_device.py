"""The ``device`` argument: "cpu" (default) or "cuda". No silent fall-back: asking for "cuda" on a build without
the CUDA backend raises ValueError, and on a CUDA build without a usable device raises RuntimeError."""
from __future__ import annotations

from ._args import show
from ._native import _core

DEVICES = ("cpu", "cuda")

BUILT_WITHOUT_CUDA = (
    "lawfit was installed without CUDA support (the default build includes the CUDA backend only on a machine "
    "with nvcc and an NVIDIA GPU and driver); reinstall with LAWFIT_CUDA=ON (e.g. `LAWFIT_CUDA=ON pip install .` "
    "with nvcc on PATH) to use device='cuda', or pass device='cpu'"
)


def cuda_available() -> bool:
    """True when this build has the CUDA backend and a CUDA device is usable."""
    return bool(_core.cuda_available())


def check_device(device, op: str) -> str:
    """Validate ``device`` for operation ``op``; for "cuda", check the build and the device."""
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"{op}: device must be 'cpu' or 'cuda', got {show(device)}")
    if device == "cuda":
        status = _core.cuda_status()
        if not status["built"]:
            raise ValueError(f"{op}: {BUILT_WITHOUT_CUDA}")
        if not _core.cuda_available():
            raise RuntimeError(f"{op}: device='cuda' but no CUDA device is usable ({status['reason']})")
    return device
