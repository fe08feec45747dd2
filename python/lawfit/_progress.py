"""Progress bars for long native calls.

The native loops (core/common.hpp parallel_for) report (items started, loop size) to a callback of the calling
thread about every 50 ms; this module turns those reports into a bar: tqdm when it is installed (the ``progress``
extra), a plain one-line bar on stderr otherwise. A call made of several native loops shows each loop in turn
(the description says which stage). Ctrl-C interrupts a native loop within ~50 ms whether or not a bar is shown.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from ._native import _core


class _PlainBar:
    """A one-line stderr bar, for machines without tqdm."""

    def __init__(self, desc: str):
        self.desc = desc
        self.shown = False

    def update(self, done: int, total: int) -> None:
        width = 30
        k = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{self.desc} [{'#' * k}{'.' * (width - k)}] {done}/{total}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _TqdmBar:
    def __init__(self, desc: str):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.desc = desc
        self.bar = None
        self.stage = 0
        self.total = None

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = self._tqdm(total=total, desc=self.desc, leave=False, dynamic_ncols=True)
            self.total = total
        elif total != self.total:  # another native loop of the same call: one bar, a stage counter
            self.stage += 1
            self.total = total
            self.bar.reset(total=total)
            self.bar.set_description(f"{self.desc} (stage {self.stage + 1})", refresh=False)
        self.bar.n = min(done, total)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.n = self.bar.total
            self.bar.close()


def _make_bar(desc: str):
    try:
        return _TqdmBar(desc)
    except ImportError:
        return _PlainBar(desc)


_active = threading.local()


@contextmanager
def progress_bar(enabled: bool, desc: str):
    """Show a bar for the native loops run inside the block (on this thread) when ``enabled``; inside another
    entry point's bar (should_stop calling extrapolate) the outer bar goes on."""
    if not enabled or getattr(_active, "on", False):
        yield
        return
    bar = _make_bar(desc)
    _active.on = True
    _core._set_progress(bar.update)
    try:
        yield
    finally:
        _core._set_progress(None)
        _active.on = False
        bar.close()


def check_progress(progress) -> bool:
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {type(progress).__name__}")
    return progress


def with_progress(desc: str):
    """Decorator: the entry point gains a keyword ``progress=False``; True shows a bar (``desc``) over its native
    loops. The wrapped function never sees the argument."""
    import functools
    import inspect

    def deco(fn):
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        extra = inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=False, annotation="bool")
        at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
        params.insert(at, extra)

        @functools.wraps(fn)
        def wrapper(*args, progress=False, **kwargs):
            with progress_bar(check_progress(progress), desc):
                return fn(*args, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)
        return wrapper

    return deco
