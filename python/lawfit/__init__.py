"""lawfit: fit, sample and price scaling laws and learning curves, many at once, with a C++ core.

Quick tour::

    import lawfit
    df = lawfit.datasets.synthetic_chinchilla()
    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log")
    res.params, res.stderr, res.predict(df)

See ``lawfit.laws()`` for the catalogue and README.md for the API and CLI.
"""
from ._native import __version__, build_info
from ._device import cuda_available
from ._status import Status
from .laws import LawSpec, bnsl, get_law, laws
from . import _transforms
from .fit import fit
from .result import FitResult, load_result
from .formula import Law
from . import datasets
from . import cost
from .planning import plan
from . import plot
from . import evals
from .extrapolate import decide, extrapolate, should_stop
from . import schedules

__all__ = [
    "__version__",
    "build_info",
    "cuda_available",
    "Status",
    "LawSpec",
    "Law",
    "get_law",
    "bnsl",
    "laws",
    "fit",
    "FitResult",
    "load_result",
    "datasets",
    "cost",
    "plan",
    "plot",
    "evals",
    "extrapolate",
    "decide",
    "should_stop",
    "schedules",
]
