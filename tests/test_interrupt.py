"""Ctrl-C reaches long native loops, and progress bars report them (core/common.hpp parallel_for + Poller)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lawfit
from lawfit._native import _core

CHILD = textwrap.dedent(
    """
    import signal, sys, time
    # A terminal's Ctrl-C reaches a process with SIGINT unblocked and Python's handler installed. A child inherits
    # its parent's signal mask and ignored signals across exec, and pytest's process may have either changed by
    # the libraries earlier tests ran; restore the terminal's state, and say what was inherited.
    inherited = (signal.pthread_sigmask(signal.SIG_BLOCK, []), signal.getsignal(signal.SIGINT))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import lawfit
    df = lawfit.datasets.synthetic_power_law(n_curves=100, seed=0)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    print("start", inherited, flush=True)
    try:
        r.bootstrap(n=400000, threads=int(sys.argv[1]))  # ~10^8 refits: minutes
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_stops_a_long_bootstrap_within_a_second(threads):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(threads)], stdout=subprocess.PIPE, text=True, env=env)
    with p:
        try:
            start = p.stdout.readline().strip()
            assert start.startswith("start")
            time.sleep(0.5)  # inside the native bootstrap
            t0 = time.perf_counter()
            p.send_signal(signal.SIGINT)
            line = p.stdout.readline().strip()
            waited = time.perf_counter() - t0
            assert line == "interrupted", f"{line} after {waited:.1f} s; child's inherited mask and handler: {start}"
            assert waited < 1.0, f"took {waited:.2f} s"
            assert p.wait(timeout=30) == 0
        except BaseException:
            p.kill()
            raise


def test_progress_callback_sees_the_loop_and_can_stop_it():
    df = lawfit.datasets.synthetic_power_law(n_curves=50, seed=1)
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    seen = []

    def cb(done, total):
        seen.append((done, total))
        if len(seen) >= 2:
            raise RuntimeError("stop here")

    _core._set_progress(cb)
    try:
        with pytest.raises(RuntimeError, match="stop here"):  # the callback's own exception, re-raised
            r.bootstrap(n=200000)
    finally:
        _core._set_progress(None)
    assert len(seen) == 2 and all(0 <= d <= t for d, t in seen)
    # The module is usable afterwards and gives the same answers as before.
    again = r.bootstrap(n=50, seed=4)
    np.testing.assert_array_equal(again.samples, r.bootstrap(n=50, seed=4).samples)


def test_progress_bar_is_shown_and_changes_nothing(capsys):
    pytest.importorskip("tqdm")
    df = lawfit.datasets.synthetic_power_law(n_curves=200, seed=2)
    a = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=64, progress=True)
    b = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=64)
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
    boot = a.bootstrap(n=3000, progress=True)
    assert "lawfit bootstrap" in capsys.readouterr().err
    np.testing.assert_array_equal(boot.samples, a.bootstrap(n=3000).samples)
    with pytest.raises(TypeError, match="progress"):
        lawfit.fit(df, "power_law", x="x", y="y", by="curve", progress="yes")


@pytest.mark.parametrize("entry", ["extrapolate", "should_stop", "fit_irt", "cost.evaluate", "plan", "pareto"])
def test_every_long_entry_point_takes_progress(entry):
    import inspect

    from lawfit.planning import pareto

    fn = {"extrapolate": lawfit.extrapolate, "should_stop": lawfit.should_stop, "fit_irt": lawfit.evals.fit_irt,
          "cost.evaluate": lawfit.cost.evaluate, "plan": lawfit.plan, "pareto": pareto}[entry]
    assert inspect.signature(fn).parameters["progress"].default is False
