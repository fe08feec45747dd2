"""lawfit: fit, sample and price scaling laws and learning curves, many at once, with a C++ core.

Quick tour::

    import lawfit
    df = lawfit.datasets.synthetic_chinchilla()
    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", loss="huber", delta=1e-3, space="log")
    res.params, res.stderr, res.predict(df)

See ``lawfit.laws()`` for the catalogue and README.md for the API and CLI.

Functions and modules never share a name: ``lawfit.fit`` is the function, its module is ``lawfit.fitting``;
``lawfit.extrapolate`` is the function, its module (``Extrapolation``, ``decide``, ``chain_predict``,
``should_stop``) is ``lawfit.extrapolation``; ``lawfit.laws`` is the function, its module (``LawSpec``,
``get_law``, ``ALIASES``) is ``lawfit.catalogue``.
"""
from ._native import __version__, build_info
from ._device import cuda_available
from ._status import Status
from .catalogue import LawSpec, bnsl, get_law, laws
from . import catalogue
from . import _transforms
from .fitting import fit
from . import fitting
from .result import FitResult, load_result
from .formula import Law
from . import datasets
from . import cost
from .planning import plan
from . import plot
from . import evals
from .extrapolation import chain_predict, decide, extrapolate, should_stop
from . import extrapolation
from . import schedules
from . import distributed
from . import io

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
    "catalogue",
    "fit",
    "fitting",
    "FitResult",
    "load_result",
    "datasets",
    "cost",
    "plan",
    "plot",
    "evals",
    "extrapolate",
    "extrapolation",
    "decide",
    "chain_predict",
    "should_stop",
    "schedules",
    "distributed",
    "io",
]
