"""Checks of the scalar arguments of the public entry points, with one wording everywhere.

Each check raises ValueError naming the argument (values shown as plain Python values, never numpy reprs)
and returns the value as the native core takes it. Integers must be integers: 2.5, "2" and True are refused,
not rounded or parsed.

Threads: ``resolve_threads`` caps a request at ``4 x os.cpu_count()`` (``THREADS_PER_CORE``) so that the value
passed to the native core stays small; None and 0 mean all cores, for every entry point.

Memory: ``check_alloc`` refuses an output that would not fit in this machine's physical memory
(``os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')``), before anything is allocated.
"""
from __future__ import annotations

import numbers
import os
from typing import Optional

import numpy as np

SEED_LIMIT = 2**64  # seeds are uint64 in the native core
COUNT_LIMIT = 2**63  # counts are int64 in the native core
INT32_LIMIT = 2**31  # C int arguments (walkers, steps, iterations)
THREADS_PER_CORE = 4


def _num(v) -> str:
    """An integer limit as text; powers of two from 2**16 up as ``2**k``."""
    v = int(v)
    if v >= 2**16 and v & (v - 1) == 0:
        return f"2**{v.bit_length() - 1}"
    return str(v)


def _got(value) -> str:
    return f"{type(value).__name__} {show(value)}"


def show(value, limit: int = 80) -> str:
    """repr() of a value for a message, with numpy scalars as the Python values they hold (3.0, not
    np.float64(3.0)), also inside a tuple or list, and numpy arrays as lists; cut at ``limit`` characters."""

    def conv(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    try:
        r = repr(conv(value))
    except Exception:  # noqa: BLE001 - a value whose repr fails is shown by its type
        r = f"<{type(value).__name__}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _pre(op: Optional[str]) -> str:
    return f"{op}: " if op else ""


def is_int(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, lo: Optional[int] = None, hi: Optional[int] = None, *, op: Optional[str] = None) -> int:
    """An integer with lo <= value < hi (either end optional; hi is exclusive)."""
    if hi is not None:
        want = f"an integer in [{_num(lo) if lo is not None else '-inf'}, {_num(hi)})"
        typed = want
    else:
        want = f">= {lo}" if lo is not None else "an integer"
        typed = f"an integer >= {lo}" if lo is not None else "an integer"
    if not is_int(value):
        raise ValueError(f"{_pre(op)}{name} must be {typed}, got {_got(value)}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v >= hi):
        raise ValueError(f"{_pre(op)}{name} must be {want}, got {v}")
    return v


def check_seed(value, *, op: Optional[str] = None, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**64) (the native core's uint64)."""
    return check_int(name, value, 0, SEED_LIMIT, op=op)


def check_real(name: str, value, *, op: Optional[str] = None) -> float:
    """A real number (not a bool or a string) as a float."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{_pre(op)}{name} must be a number, got {_got(value)}")
    return float(value)


def check_prob(name: str, value, *, op: Optional[str] = None) -> float:
    """A level or probability strictly inside (0, 1), as a float."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{_pre(op)}{name} must be a number in (0, 1), got {_got(value)}")
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{_pre(op)}{name} must be in (0, 1), got {v!r}")
    return v


def check_label(name: str, value, *, op: Optional[str] = None, optional: bool = False):
    """One column name (a string or another hashable scalar label)."""
    if value is None and optional:
        return None
    if value is None or isinstance(value, (list, tuple, set, dict, np.ndarray)) or not _hashable(value):
        raise ValueError(f"{_pre(op)}{name} must name one column, got {_got(value)}")
    return value


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def max_threads() -> int:
    """The cap of :func:`resolve_threads`: THREADS_PER_CORE x the cores of this machine."""
    return max(os.cpu_count() or 1, 1) * THREADS_PER_CORE


def resolve_threads(threads, *, op: Optional[str] = None) -> int:
    """``threads`` as the native core takes it: None or 0 mean all cores (0), else an integer >= 1 capped at
    :func:`max_threads`. The same rule for every entry point (fit, bootstrap, extrapolate, evals, cost, plan)."""
    if threads is None:
        return 0
    t = check_int("threads", threads, 0, op=op)
    return min(t, max_threads())


def memory_limit() -> int:
    """Bytes of physical memory of this machine (1 TiB where the system does not say)."""
    try:
        n = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**40
    return int(n) if n > 0 else 2**40


def fmt_bytes(n: float) -> str:
    """Bytes as text in decimal units, e.g. '120 TB'."""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        if n < 1000 or unit == "ZB":
            return f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} ZB"  # pragma: no cover


def check_alloc(op: str, nbytes: float, what: str, advice: str) -> None:
    """Refuse an allocation of ``nbytes`` (described by ``what``) larger than the physical memory."""
    limit = memory_limit()
    if nbytes > limit:
        raise ValueError(
            f"{op}: {what} would need {fmt_bytes(nbytes)}; this machine has {fmt_bytes(limit)} of memory. {advice}"
        )
