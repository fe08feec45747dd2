"""Fuzzing every public entry point with hypothesis, in a child process.

Hypothesis builds call descriptions here (plain picklable values: numbers, strings, arrays, frames, recipes of
tables); a persistent child process (tests/fuzz_worker.py) builds the inputs from them, runs the call, checks the
result and answers with an outcome. The child writes the call it is about to run to a file before running it, so a
call that kills the process (SIGABRT, SIGSEGV, an exit) is reported by name; a call that does not answer within
``TIMEOUT_S`` is a hang. Either way the child is restarted and the fuzzing goes on.

The oracle, per call (:func:`judge`):

* success, and the result passes the child's checks (fuzz_worker ``check_*``): one row per input curve, a good
  status (CONVERGED / MAX_ITER) only with finite parameters, a curve with NaN/inf data (nan_policy 'status') never
  with a good status, intervals with low <= high, probabilities in [0, 1], isolation of the curves of a fit, ...;
  a failed check is a *silently wrong* result;
* or ValueError / TypeError (exactly those types) whose message is non-empty, has no numpy reprs
  (``np.float64(...)``) and names the argument at fault (one of the names of the call's parameters and keywords,
  the cost model's fields, or 'assumption'); load_result's messages start with ``load_result: <path>: ``;
* anything else (another exception type, an abort, a hang) is a failure.

Profiles: the default (CI) runs about 900 calls with ``derandomize=True`` (the same calls on every run) in about
half a minute on two cores; ``LAWFIT_FUZZ=long`` runs about 11,000 (``LAWFIT_FUZZ_SEED`` picks the run, default
0) in about six minutes. ``LAWFIT_FUZZ_FACTOR`` scales the number of calls, ``LAWFIT_FUZZ_TIMEOUT`` the per-call
timeout (s). Every test prints the calls and outcomes of its entry point; the last one prints the table of all of
them, and writes it (with the failures and the refusals' messages) as JSON to ``LAWFIT_FUZZ_REPORT`` when that is
set (``python tests/fuzz_worker.py --replay REPORT.json [ENTRY_POINT]`` reruns its failing calls in-process, with
their tracebacks). ``LAWFIT_FUZZ_SHRINK=1`` raises at the first failure instead of collecting them, so that hypothesis shrinks it
to a small example. Calls are collected, not raised, by default: one run lists every failure it finds.
"""
from __future__ import annotations

import base64
import collections
import inspect
import json
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

import lawfit
from lawfit import cost, evals
from lawfit.catalogue import get_law
from lawfit.planning import pareto
from strategies import CASES

PROFILE = os.environ.get("LAWFIT_FUZZ", "ci").lower()
LONG = PROFILE == "long"
TIMEOUT_S = float(os.environ.get("LAWFIT_FUZZ_TIMEOUT", "20"))
SHRINK = os.environ.get("LAWFIT_FUZZ_SHRINK", "") not in ("", "0")
WORKER_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_worker.py")

# Calls per entry point in the CI profile; the long profile runs LONG_FACTOR times as many.
BUDGET = {
    "fit": 120, "bootstrap": 45, "predict": 45, "extrapolate": 25, "extrapolate_reference": 20, "should_stop": 15,
    "Law": 110, "pass_at_k": 45, "pass_hat_k": 20, "pass_curve": 35, "pass_posterior": 20, "coverage": 50,
    "passuntil": 20, "fit_irt": 35, "cost.evaluate": 55, "cost.grid": 40, "plan": 40, "pareto": 30, "save_load": 20,
    "load_result": 60,
}
LONG_FACTOR = 13
FACTOR = float(os.environ.get("LAWFIT_FUZZ_FACTOR", LONG_FACTOR if LONG else 1))

# Failures that only the native core can fix, left out of the oracle (and reported): (name, predicate on the call
# description and its outcome, explanation). Keep this list empty unless the fix has to be in C++.
KNOWN_NATIVE: list = [  # (name, predicate(desc, outcome), why): failures that only a change in C++ can fix
    # (empty: the slow scaled-beta head sum and the Beta posterior mean's cancellation were fixed in passk.hpp)
]

NUMPY_REPR = re.compile(r"np\.(float|int|uint|bool|str|complex)\w*\(")
GENERIC_NAMES = {"assumption"}

# ---- the child process -----------------------------------------------------------------------------------------


class Worker:
    """A persistent child running tests/fuzz_worker.py; restarted after a death or a hang."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lawfit-fuzz-parent-")
        self.current = os.path.join(self.dir, "current.txt")
        self.log_path = os.path.join(self.dir, "worker.log")
        self.proc = None
        self.buf = b""
        self.next_id = 0
        self.starts = 0

    def start(self) -> None:
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(lawfit.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([pkg_root, os.path.dirname(WORKER_PY), env.get("PYTHONPATH", "")])
        env["LAWFIT_FUZZ_CURRENT"] = self.current
        env.setdefault("PYTHONFAULTHANDLER", "1")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-u", WORKER_PY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, env=env, bufsize=0)
        log.close()
        self.buf = b""
        self.starts += 1
        ready = self._recv(120.0)
        if not (isinstance(ready, tuple) and ready[0] == "ready"):
            raise RuntimeError(f"fuzz worker did not start: {ready!r}\n{self.log_tail()}")

    def _recv(self, timeout: float):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        need = 8
        while True:
            if len(self.buf) >= need:
                if need == 8:
                    need = 8 + struct.unpack("<Q", self.buf[:8])[0]
                    continue
                msg, self.buf = self.buf[8:need], self.buf[need:]
                return pickle.loads(msg)
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return "timeout"
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return "eof"
            self.buf += chunk

    def log_tail(self, n: int = 3000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _current(self) -> str:
        try:
            with open(self.current) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()  # our own child, by its handle
            self.proc.wait()
            for s in (self.proc.stdin, self.proc.stdout):
                try:
                    s.close()
                except OSError:
                    pass
        self.proc = None

    def call(self, desc: dict, timeout: float = TIMEOUT_S) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
        self.next_id += 1
        cid = self.next_id
        payload = pickle.dumps((cid, desc), protocol=4)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
            self.proc.stdin.flush()
            r = self._recv(timeout)
        except (BrokenPipeError, OSError):
            r = "eof"
        if r == "timeout":
            cur = self._current()
            self.stop()
            return {"kind": "hang", "msg": f"no answer within {timeout:g} s", "current": cur}
        if r == "eof":
            self.proc.wait()
            rc = self.proc.returncode
            cur, tail = self._current(), self.log_tail()
            self.stop()
            sig = -rc if rc is not None and rc < 0 else None
            return {"kind": "died", "rc": rc, "signal": sig, "current": cur, "log": tail,
                    "msg": f"worker died ({'signal %d' % sig if sig else 'exit %s' % rc})"}
        got_id, outcome = r
        assert got_id == cid, (got_id, cid)
        return outcome


_WORKER: list = []


def worker() -> Worker:
    if not _WORKER:
        _WORKER.append(Worker())
    return _WORKER[0]


def write_report() -> None:
    """The statistics, failures (with their pickled calls) and refusal messages as JSON to LAWFIT_FUZZ_REPORT."""
    path = os.environ.get("LAWFIT_FUZZ_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"profile": PROFILE, "stats": {k: dict(v) for k, v in STATS.items()},
                       "seconds": dict(TIMES), "failures": {k: v for k, v in FAILURES.items()},
                       "messages": {k: dict(v.most_common()) for k, v in MESSAGES.items()},
                       "failed_calls": dict(FAILED_CALLS)}, f, indent=1, default=str)


@pytest.fixture(scope="module", autouse=True)
def _worker_lifetime():
    yield
    if _WORKER:
        _WORKER[0].stop()
    write_report()  # (also when only some of the tests ran)


# ---- the oracle ------------------------------------------------------------------------------------------------
def _sig_names(*fns) -> set:
    out = set()
    for f in fns:
        out |= {p for p in inspect.signature(f).parameters if p not in ("self", "kwargs", "axes", "assumptions")}
    return out


NAMES = {
    "fit": _sig_names(lawfit.fit) | {"law", "data"},
    "bootstrap": _sig_names(lawfit.FitResult.bootstrap) | {"new_data"},
    "predict": _sig_names(lawfit.FitResult.predict) | {"new_data"},
    "extrapolate": _sig_names(lawfit.extrapolate),
    "should_stop": _sig_names(lawfit.should_stop, lawfit.extrapolate),
    "Law": _sig_names(lawfit.Law.__init__) | {"formula", "inputs", "params", "bounds", "start", "scale"},
    "cost.evaluate": _sig_names(cost.evaluate) | set(cost.FIELDS) | {"configs", "grid"},
    "cost.grid": set(cost.FIELDS) | {"grid"},
    "plan": _sig_names(lawfit.plan) | {"planning", "samples", "grid", "configs"} | set(cost.FIELDS),
    "pareto": _sig_names(pareto) | {"planning", "samples", "grid", "configs"} | set(cost.FIELDS),
    "load_result": {"path", "load_result", "new_data"},
    "save_load": {"path", "new_data"},
}
for _fn in ("pass_at_k", "pass_hat_k", "pass_curve", "pass_posterior", "coverage", "passuntil", "fit_irt"):
    NAMES[_fn] = _sig_names(getattr(evals, _fn)) | {"responses", "target", "k", "items", "n_items", "theta"}
NAMES["extrapolate_reference"] = NAMES["extrapolate"] | {"reference"}


def message_problem(desc: dict, out: dict):
    """None if an exception's message is acceptable, else what is wrong with it."""
    msg = out.get("msg", "")
    if not msg.strip():
        return "empty message"
    if NUMPY_REPR.search(msg):
        return "numpy repr in the message"
    ep = desc["ep"]
    if ep == "load_result" and out.get("stage") == "call":
        if not msg.startswith(f"load_result: {out.get('path')}: "):
            return "load_result message does not start with 'load_result: <path>: '"
        return None
    names = set(NAMES.get(ep, set())) | GENERIC_NAMES | set(desc.get("kw", {}))  # (keyword names: assumptions)
    if isinstance(desc.get("fit"), dict) or desc.get("fit") is True:  # a call on a fit: its arguments too
        names |= NAMES["fit"] | set(desc["fit"].get("kw", {}) if isinstance(desc["fit"], dict) else ())
    names = {n for n in names if isinstance(n, str) and n}
    if not any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", msg) for n in names):
        return "the message names no argument"
    return None


def judge(desc: dict, out: dict):
    """(category, problem or None) of one outcome."""
    kind = out["kind"]
    if kind == "ok":
        return "ok", None
    if kind == "wrong":
        return "wrong", out["msg"]
    if kind == "hang":
        return "hang", out["msg"]
    if kind == "died":
        return "abort", out["msg"]
    typ = out["type"]
    if out.get("stage") == "check":
        return "bad_exception", f"{typ} while inspecting a successful result: {out['msg']}"
    if typ not in ("ValueError", "TypeError") or out.get("module") != "builtins":
        return "bad_exception", f"{out.get('module')}.{typ}: {out['msg']}"
    p = message_problem(desc, out)
    if p:
        return "bad_message", f"{typ}: {p}: {out['msg']!r}"
    return typ, None


def known_native(desc: dict, out: dict):
    for name, pred, _why in KNOWN_NATIVE:
        try:
            if pred(desc, out):
                return name
        except Exception:  # noqa: BLE001 - a predicate that does not apply
            pass
    return None


STATS: dict = collections.defaultdict(collections.Counter)
FAILURES: dict = collections.defaultdict(list)
TIMES: dict = collections.defaultdict(float)
MESSAGES: dict = collections.defaultdict(collections.Counter)  # the refusals, for tuning the strategies
FAILED_CALLS: dict = collections.defaultdict(list)  # pickled descriptions (base64) of the failing calls


def short(desc: dict, n: int = 1500) -> str:
    with np.printoptions(threshold=20, precision=4):
        s = repr(desc)
    return s if len(s) <= n else s[:n] + " ..."


def run_call(desc: dict) -> None:
    ep = desc["ep"]
    t0 = time.monotonic()
    out = worker().call(desc)
    TIMES[ep] += time.monotonic() - t0
    cat, problem = judge(desc, out)
    if problem is not None:
        kn = known_native(desc, out)
        if kn:
            cat, problem = f"known_native:{kn}", None
    STATS[ep][cat] += 1
    STATS[ep]["calls"] += 1
    if cat in ("ValueError", "TypeError"):
        MESSAGES[ep][re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", out["msg"])[:90]] += 1
    if problem is not None:
        extra = ""
        if out.get("tb"):
            extra = "\n" + out["tb"][-1500:]
        if out.get("log"):
            extra += "\nworker log:\n" + out["log"][-1500:]
        FAILURES[ep].append(f"[{cat}] {problem}\n  call: {short(desc)}{extra}")
        FAILED_CALLS[ep].append(base64.b64encode(pickle.dumps(desc, protocol=4)).decode())
        if SHRINK:
            raise AssertionError(FAILURES[ep][-1])


# ---- strategies: shared pieces ------------------------------------------------------------------------------------
NAN, INF = float("nan"), float("inf")
SPECIAL = [NAN, INF, -INF, 0.0, -0.0, -1.0, 1e308, -1e308, 5e-324, 1e-300, 1e300, -3.5]
ODD = [None, "x", "", True, False, 1 + 2j, b"x", [1, 2], {"a": 1}, (), np.float64(NAN), np.array([1.0, 2.0])]
HUGE_INTS = [10**12, 2**62, 2**63 - 1, 2**63, 2**64, 10**30, np.uint64(2**63), np.int64(2**62)]


MODE = {"bad": True}  # whether the call being drawn may take invalid arguments (set per call by bad_mode)


def bad_mode(draw) -> bool:
    """Draw whether this call takes invalid arguments (about 40% of the calls) or only valid ones (NaN/inf in the
    data are valid inputs: they must give statuses)."""
    MODE["bad"] = draw(st.sampled_from([False, False, False, True, True]))
    return MODE["bad"]


def odd(draw, valid, *odd_options, w=20):
    """``valid`` (a value or strategy) in a valid call; in an invalid one, sometimes one of odd_options."""
    if not MODE["bad"]:
        return draw(valid) if isinstance(valid, st.SearchStrategy) else valid
    return pick(draw, (w, valid if isinstance(valid, st.SearchStrategy) else st.just(valid)),
                (1, st.sampled_from(list(odd_options))))


def pick(draw, *options):
    """One of the options (weight, strategy or value)."""
    total = sum(w for w, _ in options)
    r = draw(st.integers(0, total - 1))
    for w, o in options:
        if r < w:
            return draw(o) if isinstance(o, st.SearchStrategy) else o
        r -= w
    raise AssertionError


def int_arg(draw, valid, *, zero=True):
    """A count argument: mostly valid, else 0, negative, huge, a float, a bool, a string, None, numpy."""
    if not MODE["bad"]:
        return draw(valid)
    return pick(draw, (14, valid),
                (1, st.sampled_from([0, -1, -(2**63), -(2**64)] if zero else [-1, -(2**63)])),
                (1, st.sampled_from(HUGE_INTS)),
                (2, st.sampled_from([2.5, 2.0, NAN, INF, True, False, "3", None, 1 + 0j, np.float32(3.0)])),
                (1, st.sampled_from([np.int64(3), np.int32(2), np.uint8(2)])))


def real_arg(draw, valid, odd=(NAN, INF, -INF, 0.0, -1.0, 1e308, -1e308, "1", None, True, 1j)):
    if not MODE["bad"]:
        return draw(valid)
    return pick(draw, (12, valid), (3, st.sampled_from(list(odd))))


def threads_arg(draw):
    if not MODE["bad"]:
        return draw(st.sampled_from([None, 1, 2, 0, 10**6, np.int64(1)]))
    return pick(draw, (10, st.sampled_from([None, 1, 2, 0])),
                (3, st.sampled_from([10**6, 10**9, 2**31, 2**64, -1, 2.0, "2", True, np.int64(1)])))


def seed_arg(draw):
    if not MODE["bad"]:
        return draw(st.one_of(st.integers(0, 2**32), st.sampled_from([2**64 - 1, np.uint64(2**64 - 1)])))
    return pick(draw, (10, st.integers(0, 2**32)),
                (3, st.sampled_from([2**64 - 1, 2**64, -1, 1.5, None, "7", np.uint64(2**64 - 1), np.float64(3.0),
                                     True, 2**63])))


def prob_arg(draw, valid=st.sampled_from([0.5, 0.8, 0.9, 0.95])):
    if not MODE["bad"]:
        return draw(valid)
    return pick(draw, (10, valid), (3, st.sampled_from([0.0, 1.0, 1.5, -0.1, NAN, "0.9", None, True, 90])))


def floats_list(draw, n, lo=1e-3, hi=1e3, special=0.05):
    out = []
    for _ in range(n):
        if draw(st.integers(0, 999)) < special * 1000:
            out.append(draw(st.sampled_from(SPECIAL)))
        else:
            out.append(draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)))
    return out


def kwargs(draw, table: dict, p: float = 0.35) -> dict:
    """Each entry of table (name -> strategy or callable(draw)) included with probability p."""
    out = {}
    for k, s in table.items():
        if draw(st.integers(0, 99)) < p * 100:
            out[k] = s(draw) if callable(s) and not isinstance(s, st.SearchStrategy) else draw(s)
    return out


# ---- strategies: laws and curve tables -----------------------------------------------------------------------------
BUILTIN = ["power_law"] * 6 + ["chinchilla"] * 3 + ["coverage", "passuntil", "kaplan", "overtrain", "error_from_loss",
                                                     "sigmoid_from_loss", "bnsl1", "bnsl2", "dcpt", "data_constrained",
                                                     "lr_annealing", "pow3", "pow4", "loglog_linear", "log_power",
                                                     "janoschek", "mmf", "weibull", "exp3", "exp4", "ilog2", "vap",
                                                     "hill3"]
FUNCS1 = ["exp", "log", "log10", "sqrt", "abs", "sigmoid", "tanh", "log1p", "expm1"]
FUNCS2 = ["min", "max", "pow"]
PARAM_NAMES = ["a", "b", "c", "E", "A", "alpha", "beta", "k0", "p_1", "Z"]


@st.composite
def expr(draw, inputs, depth=0):
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        kind = draw(st.sampled_from(["input", "input", "param", "param", "num", "const"]))
        if kind == "input":
            return draw(st.sampled_from(inputs))
        if kind == "param":
            return draw(st.sampled_from(PARAM_NAMES))
        if kind == "const":
            return draw(st.sampled_from(["pi", "e"]))
        return draw(st.sampled_from(["0", "1", "2", "0.5", "1e-3", "3.25", "1e3", ".5", "10"]))
    op = draw(st.sampled_from(["+", "-", "*", "/", "^", "**", "neg", "call1", "call2", "paren", "*", "+"]))
    a = draw(expr(inputs, depth + 1))
    if op == "neg":
        return f"-{a}"
    if op == "paren":
        return f"({a})"
    if op == "call1":
        return f"{draw(st.sampled_from(FUNCS1))}({a})"
    b = draw(expr(inputs, depth + 1))
    if op == "call2":
        return f"{draw(st.sampled_from(FUNCS2))}({a}, {b})"
    if op in ("^", "**"):
        return f"({a}){op}{b}" if draw(st.booleans()) else f"{a}{op}-{b}"
    return f"{a} {op} {b}"


@st.composite
def valid_formula(draw, inputs):
    f = draw(expr(inputs))
    for x in inputs:  # every input must be used; a parameter makes it a law to fit
        if not re.search(rf"\b{x}\b", f):
            f = f"{f} + {draw(st.sampled_from(PARAM_NAMES))}*{x}"
    if not any(re.search(rf"\b{p}\b", f) for p in PARAM_NAMES):
        f = f"{draw(st.sampled_from(PARAM_NAMES))}*({f})"
    return f


NASTY_FORMULAS = [
    "", " ", "(", ")", "a*x)", "(a*x", "exp()", "min(a)", "pow(a, b, c)*x", "1e999*x", "x^^2", "x^-", "a*x + ",
    "nan*x", "inf*x", "a*x/0", "0^-1*x+a", "log(-1)*x+a", "\x00", "é*x", "a*x" + " + a*x" * 400, "(" * 250 + "a*x" +
    ")" * 250, " + ".join(f"p{i}*x" for i in range(20)), "lambda: x", "__import__('os')", "a if x else b",
    "a.b*x", "a[0]*x", "x", "2*x", "a*x,", "a*x b", "exp(a*x", "sqrt(-x)*a", "a*x^1e308", "a*x^-1e308",
    "0*a*x", "a - a + x", "x*0 + a", "min(x, x)*a", "sigmoid(a*x)^2^3^4", "a*x;b", "a*x\nb", "a*x # c",
    "a * x ^ pi ^ e", "max(a, b) * log10(x)", "expm1(log1p(a*x))", "1/(1+exp(-(x-a)/b))", "pi", "e*x",
]


@st.composite
def formula_law(draw, inputs):
    """('formula', formula, inputs, kwargs): a valid formula law with valid options (for fitting)."""
    return ("formula", draw(valid_formula(inputs)), list(inputs), {})


@st.composite
def law_info(draw, formula_ok=True):
    if formula_ok and draw(st.integers(0, 9)) == 0:
        inputs = draw(st.sampled_from([["x"], ["N", "D"]]))
        law = draw(formula_law(inputs))
        if inputs == ["x"]:
            pool = np.geomspace(0.5, 2000, 40)[:, None]
        else:
            pool = np.column_stack([np.geomspace(1e6, 1e10, 40), np.geomspace(1e8, 1e12, 40)[::-1]])
        return {"law": law, "x": inputs, "pool": pool, "truth": None, "P": None}
    name = draw(st.sampled_from(BUILTIN))
    spec = get_law(name)
    case = CASES[name]
    fr = case.frame()
    xs = list(spec.x_names)
    pool = np.column_stack([np.asarray(fr[c], dtype=float).ravel() for c in xs])
    truth = np.array([case.truth[p] for p in spec.params], dtype=float)
    return {"law": ("builtin", name), "x": xs, "pool": pool, "truth": truth, "P": spec.n_params,
            "transform": spec.transform is not None}


KEY_KINDS = ["int", "int", "int", "str", "str", "float", "nan_key", "bool", "mixed", "category", "big", "neg", "two",
             "none", "none"]


def _key(kind, i):
    return {"int": i, "str": f"run-{i:02d}", "float": i + 0.5, "nan_key": NAN if i == 0 else float(i), "bool": bool(i % 2),
            "mixed": i if i % 2 else f"s{i}", "category": f"c{i}", "big": 2**63 - 1 - i, "neg": -i,
            "two": i // 2, "none": i}[kind]


@st.composite
def curve_table(draw, info, max_curves=6, max_points=18, y_random_p=0.1, corrupt_p=0.35, retype_p=0.06,
                container_p=0.08, weight=False, min_curves=0):
    """A recipe of a table of curves for a law: key column 'k' (and 'k2'), the law's x columns, 'y' from the law
    (with noise) or random, an optional weight column 'w'; then corrupted cells, retyped columns, a container."""
    C = draw(st.integers(max(min_curves, 1), max_curves)) if min_curves or draw(st.integers(0, 19)) else 0
    kind = draw(st.sampled_from(KEY_KINDS))
    m = len(info["pool"])
    keys, k2, rows, codes = [], [], [], []
    for i in range(C):
        n = draw(st.integers(0, max_points)) if draw(st.integers(0, 5)) else draw(st.sampled_from([0, 1, 2]))
        if min_curves and i == 0:  # a fit's setup: one curve with enough points to fit
            n = max(n, (info["P"] or 3) + 3)
        if info.get("transform"):
            idx = sorted(set(draw(st.lists(st.integers(0, m - 1), min_size=n, max_size=n))))
        else:
            idx = sorted(draw(st.lists(st.integers(0, m - 1), min_size=n, max_size=n)))
        rows += idx
        codes += [i] * len(idx)
        keys += [_key(kind, i)] * len(idx)
        k2 += [i % 2] * len(idx)
    X = info["pool"][rows] if rows else np.zeros((0, len(info["x"])))
    cols = {"k": np.array(keys, dtype=object) if kind in ("mixed",) else np.array(keys)}
    if kind == "two":
        cols["k2"] = np.array(k2)
    for j, c in enumerate(info["x"]):
        cols[c] = X[:, j].astype(float)
    recipe = {"cols": cols, "container": "frame"}
    codes = np.array(codes, dtype=np.int64)
    if draw(st.integers(0, 99)) < y_random_p * 100:
        cols["y"] = np.array(floats_list(draw, len(rows), 0.01, 100.0), dtype=float)
    else:
        if info["truth"] is not None:
            jit = 1.0 + 0.1 * np.array(draw(st.lists(st.floats(-1, 1), min_size=info["P"], max_size=info["P"])))
            P = np.tile(info["truth"] * jit, (len(rows), 1))
        else:
            P = ("random", draw(st.integers(0, 2**31)))
        recipe["y_law"] = {"law": info["law"], "x": info["x"], "y": "y", "params": P, "curve_of_row": codes,
                           "noise": draw(st.sampled_from([0.0, 0.01, 0.01, 0.1])), "seed": draw(st.integers(0, 999))}
        cols["y"] = np.zeros(len(rows))
    if weight:
        cols["w"] = np.array(floats_list(draw, len(rows), 0.1, 10.0, special=0.03), dtype=float)
    numeric = info["x"] + ["y"] + (["w"] if weight else [])
    if len(rows) and draw(st.integers(0, 99)) < corrupt_p * 100:
        recipe["corrupt"] = [(draw(st.sampled_from(numeric)), draw(st.integers(0, len(rows) - 1)),
                              draw(st.sampled_from(SPECIAL))) for _ in range(draw(st.integers(1, 3)))]
    if MODE["bad"] and draw(st.integers(0, 99)) < retype_p * 100:
        recipe["retype"] = [(draw(st.sampled_from(numeric + ["k"])),
                             draw(st.sampled_from(["str", "object_mixed", "none_obj", "bool", "complex", "int",
                                                   "category", "bytes", "datetime"])))]
    if MODE["bad"] and draw(st.integers(0, 99)) < container_p * 100:
        recipe["container"] = draw(st.sampled_from(["dict", "dict_ragged", "ndarray", "records", "csv", "tsv", "badext",
                                                    "missing", "empty_frame", "series", "dict_scalar"]))
    by = None if kind == "none" else (["k", "k2"] if kind == "two" else "k")
    return recipe, by


def odd_data(draw):
    return draw(st.sampled_from([None, 5, "not/a/path.csv", [], [[1, 2], [3, 4]], np.zeros((3, 2)), {}, {"x": []},
                                 pd.DataFrame(), pd.Series([1.0, 2.0]), b"x,y\n1,2"]))


def starts_arg(draw, info, by):
    P = info["P"]
    params = list(get_law(info["law"][1]).params) if info["law"][0] == "builtin" else ["a", "b"]
    vals = [float(v) for v in (info["truth"] if info["truth"] is not None else np.ones(len(params)))]
    grid = {p: [v, 2 * v] for p, v in zip(params, vals)}
    valid = [(8, st.sampled_from([None, 1, 2, 3, 5])),
             (2, st.just(dict(zip(params, vals)))),  # a dict of scalars: one start for all curves
             (1, st.just(grid)), (1, st.just(pd.DataFrame(grid))), (1, st.just(np.array([vals, [2 * v for v in vals]]))),
             (1, st.just(vals))]
    if by == "k":
        valid.append((1, st.just(pd.DataFrame({"k": [0], **{p: [v] for p, v in zip(params, vals)}}))))
    if info["law"][0] != "builtin":
        valid = valid[:1]  # a formula law's parameters are not known here
    if not MODE["bad"]:
        return pick(draw, *valid)
    return pick(draw, *valid,
                (3, st.sampled_from([0, -1, 10**9, 10**12, 2**63, 2.5, True, "3", NAN, np.int64(2)])),
                (1, st.just(np.ones((2, (P or 2) + 1)))),
                (1, st.just({params[0]: vals[0]})),
                (1, st.just({**dict(zip(params, vals)), params[0]: NAN})),
                (1, st.just({**dict(zip(params, vals)), params[0]: "x"})),
                (1, st.just({**dict(zip(params, vals)), "zz": 1.0})),
                (1, st.just([[1, 2], [3]])),
                (1, st.just(pd.DataFrame({"k": [12345], **{p: [v] for p, v in zip(params, vals)}}))))


def bounds_arg(draw, info):
    params = list(get_law(info["law"][1]).params) if info["law"][0] == "builtin" else ["a", "b"]
    p0 = params[0]
    valid = [(6, st.just(None)), (2, st.just({p0: (-10.0, 10.0)})), (1, st.just({p0: (None, None)})),
             (1, st.just({p0: (-INF, INF)}))]
    if info["law"][0] != "builtin":
        valid = valid[:1]
    if not MODE["bad"]:
        return pick(draw, *valid)
    return pick(draw, *valid,
                (3, st.sampled_from([{p0: (1.0, -1.0)}, {p0: (NAN, NAN)}, {p0: ("a", "b")}, {p0: 3}, {p0: (1, 2, 3)},
                                     {"nope": (0, 1)}, 5, "x", pd.DataFrame({"k": [0], f"{p0}_lower": [0.0]}),
                                     pd.DataFrame({"k": [0], "zzz": [0.0]}), {p0: (0.0, 0.0)}, {"k": 0, p0: 1}])))


@st.composite
def fit_call(draw):
    bad = bad_mode(draw)
    info = draw(law_info())
    weight = draw(st.integers(0, 9)) == 0
    recipe, by = draw(curve_table(info, weight=weight))
    data = recipe if not bad or draw(st.integers(0, 9)) != 9 else odd_data(draw)
    law = odd(draw, info["law"], "no_such_law", None, 5, "", ["power_law"])
    xs = info["x"][0] if len(info["x"]) == 1 and draw(st.booleans()) else list(info["x"])
    kw = {"x": odd(draw, xs, None, "nope", ["x", "extra"], 5, [["x"]], []),
          "y": odd(draw, "y", None, "nope", ["y"], 5, "k")}
    if by is not None or (bad and draw(st.integers(0, 9)) == 0):
        kw["by"] = odd(draw, by, "nope", 5, [["k"]], ["k", "k"], None)
    if weight:
        kw["weight"] = odd(draw, "w", "nope", ["w"], 5, w=8)
    kw.update(kwargs(draw, {
        "loss": lambda d: odd(d, st.sampled_from(["l2", "huber", "soft_l1", "cauchy", "linear"]), "bogus", None, 5),
        "delta": lambda d: real_arg(d, st.sampled_from([1e-3, 0.1, 1.0, None])),
        "space": lambda d: odd(d, st.sampled_from(["linear", "log", "log"]), "bogus", None),
        "starts": lambda d: starts_arg(d, info, by),
        "bounds": lambda d: bounds_arg(d, info),
        "shared": lambda d: odd(d, st.sampled_from([None, []]), "bogus", ["bogus"], 5),
        "max_iter": lambda d: int_arg(d, st.sampled_from([None, 1, 3, 20, 100])),
        "ftol": lambda d: real_arg(d, st.sampled_from([1e-8, 1e-4])),
        "gtol": lambda d: real_arg(d, st.sampled_from([1e-8, 1e-12])),
        "threads": threads_arg,
        "seed": seed_arg,
        "nan_policy": lambda d: odd(d, st.sampled_from(["status", "status", "omit", "raise"]), "bogus", None),
        "progress": st.sampled_from([False, True]),
        "device": lambda d: odd(d, "cpu", "cuda", "gpu", None, w=3),
    }, p=0.25))
    if info["law"][0] == "builtin" and draw(st.integers(0, 19)) == 0:
        kw["shared"] = [get_law(info["law"][1]).params[0]]
    return {"ep": "fit", "data": data, "law": law, "kw": kw, "isolation": draw(st.integers(0, 2)) == 0}


def _good_fit_setup(draw, law_name=None, max_curves=5, bad_p=0.3, info=None):
    """A fit that mostly succeeds (the object of bootstrap / predict / plan / save): valid arguments, a catalogue
    or formula law, some curves with NaN/inf or too few points."""
    was, MODE["bad"] = MODE["bad"], False
    try:
        if info is None:
            info = draw(law_info(formula_ok=True)) if law_name is None else _builtin_info(law_name)
        recipe, by = draw(curve_table(info, max_curves=max_curves, max_points=14, y_random_p=0.03, corrupt_p=bad_p,
                                      min_curves=1))
        kw = {"x": list(info["x"]), "y": "y", "max_iter": 50}
        if by is not None:
            kw["by"] = by
        shared = [get_law(info["law"][1]).params[0]] if info["law"][0] == "builtin" else None
        kw.update(kwargs(draw, {"loss": st.sampled_from(["l2", "huber", "soft_l1"]),
                                "space": st.sampled_from(["linear", "log"]), "starts": st.sampled_from([None, 2, 4]),
                                "nan_policy": st.sampled_from(["status", "omit"])}, p=0.15))
        if shared and draw(st.integers(0, 9)) == 0:
            kw["shared"] = shared
    finally:
        MODE["bad"] = was
    return {"data": recipe, "law": info["law"], "kw": kw}


def _builtin_info(name):
    spec = get_law(name)
    case = CASES[name]
    fr = case.frame()
    pool = np.column_stack([np.asarray(fr[c], dtype=float).ravel() for c in spec.x_names])
    return {"law": ("builtin", name), "x": list(spec.x_names), "pool": pool,
            "truth": np.array([case.truth[p] for p in spec.params], dtype=float), "P": spec.n_params,
            "transform": spec.transform is not None}


@st.composite
def bootstrap_call(draw):
    setup = _good_fit_setup(draw)
    bad_mode(draw)
    kw = {"n": int_arg(draw, st.integers(1, 40))}
    kw.update(kwargs(draw, {"method": lambda d: odd(d, st.sampled_from(["pairs", "residual"]), "bogus", None),
                            "seed": seed_arg, "threads": threads_arg}, p=0.4))
    return {"ep": "bootstrap", "fit": setup, "kw": kw, "predict": draw(st.booleans())}


@st.composite
def predict_call(draw):
    setup = _good_fit_setup(draw)
    bad = bad_mode(draw)
    if draw(st.integers(0, 3)) == 0:
        setup["bootstrap"] = {"n": draw(st.integers(2, 20))}
    info_x = setup["kw"]["x"]
    by = setup["kw"].get("by")
    n = draw(st.integers(0, 8))
    src = setup["data"]["cols"]
    m = len(src["k"])
    rows = [draw(st.integers(0, m - 1)) for _ in range(n)] if m else []
    n = len(rows)
    cols = {}
    for b in ([by] if isinstance(by, str) else (by or [])):
        v = np.asarray(src[b])[rows]
        if bad and n and draw(st.integers(0, 3)) == 0:
            v = v.astype(object)
            v[draw(st.integers(0, n - 1))] = draw(st.sampled_from([99, "nope", None, NAN]))
        cols[b] = v
    for c in info_x:
        cols[c] = np.array(floats_list(draw, n, 1.0, 1e4, special=0.2), dtype=float)
    new = {"cols": cols, "container": "frame"}
    if bad and draw(st.integers(0, 4)) == 0:
        new["container"] = draw(st.sampled_from(["dict", "dict_ragged", "records", "missing", "empty_frame"]))
    if bad and draw(st.integers(0, 4)) == 0 and cols:
        new["retype"] = [(draw(st.sampled_from(list(cols))), draw(st.sampled_from(["str", "complex", "object_mixed"])))]
    if bad and draw(st.integers(0, 9)) == 0:
        new = odd_data(draw)
    kw = {}
    if draw(st.booleans()):
        kw["interval"] = prob_arg(draw)
    return {"ep": "predict", "fit": setup, "new_data": new, "kw": kw}


# ---- strategies: learning curves, extrapolation ------------------------------------------------------------------
@st.composite
def lc_table(draw, max_curves=4, max_points=14, full_to=None, start_key=0, min_curves=1):
    C = draw(st.integers(min_curves, max_curves)) if not MODE["bad"] or draw(st.integers(0, 14)) != 14 else 0
    kind = draw(st.sampled_from(["int", "str", "float", "none", "two", "nan_key"]))
    keys, k2, steps, vals = [], [], [], []
    for i in range(C):
        n = full_to if full_to else draw(st.integers(0, max_points))
        shape = draw(st.sampled_from(["acc", "loss", "percent", "flat", "noise", "special"]))
        t = np.arange(1, n + 1, dtype=float)
        c, a, al = draw(st.floats(0.5, 0.9)), draw(st.floats(0.1, 0.4)), draw(st.floats(0.2, 1.0))
        y = {"acc": c - a * t ** -al, "loss": 2 + 3 * t ** -al, "percent": 100 * (c - a * t ** -al),
             "flat": np.full(n, c), "noise": np.array(floats_list(draw, n, 0.0, 1.0), dtype=float),
             "special": np.array(floats_list(draw, n, -1.0, 1.0, special=0.3), dtype=float)}[shape]
        if draw(st.integers(0, 4)) == 0 and n:
            t[draw(st.integers(0, n - 1))] = draw(st.sampled_from([0.0, -1.0, NAN, INF, 0.5, 1e308]))
        keys += [_key(kind, i + start_key)] * n
        k2 += [i % 2] * n
        steps += list(t)
        vals += list(np.asarray(y, dtype=float) + 0.005 * np.sin(np.arange(n) * (i + 1)))
    cols = {"k": np.array(keys, dtype=object) if kind == "mixed" else np.array(keys), "step": np.array(steps, dtype=float),
            "v": np.array(vals, dtype=float)}
    if kind == "two":
        cols["k2"] = np.array(k2)
    recipe = {"cols": cols, "container": "frame"}
    if MODE["bad"] and draw(st.integers(0, 14)) == 0:
        recipe["retype"] = [(draw(st.sampled_from(["step", "v", "k"])), draw(st.sampled_from(["str", "complex", "bool",
                                                                                            "object_mixed"])))]
    by = None if kind == "none" else (["k", "k2"] if kind == "two" else "k")
    return recipe, by


def horizon_arg(draw, C):
    return odd(draw, st.sampled_from([20, 30.0, 50, np.float32(40)]), 0, 1, 5, -3, NAN, INF, 1e308, "20", None,
               [20, 30], np.array([25.0] * max(C, 1)), pd.Series([30.0], index=[0]), pd.Series([30.0] * max(C, 1)), w=6)


def sampler_kwargs(draw):
    kw = {"samples": int_arg(draw, st.integers(5, 40)), "steps": int_arg(draw, st.integers(4, 40))}
    kw.update(kwargs(draw, {
        "families": lambda d: odd(d, st.sampled_from(["domhan", "lcpfn", "all", "pow3", ["pow3", "ilog2"]]), [],
                                  ["bogus"], "bogus", 5, None),
        "seed": seed_arg, "mode": lambda d: odd(d, st.sampled_from([None, "max", "min"]), "bogus", 5),
        "bounds": lambda d: odd(d, st.sampled_from([None, (0, 1), (0, 100), (None, None), (-INF, INF)]), (1, 0),
                                (NAN, 1), ("a", "b"), (0,), 5, "x"),
        "walkers": lambda d: int_arg(d, st.sampled_from([None, 4, 10, 30])),
        "burn": lambda d: int_arg(d, st.sampled_from([None, 0, 2])),
        "de_fraction": lambda d: real_arg(d, st.sampled_from([0.0, 0.2, 1.0]), odd=(1.5, -0.1, NAN, "x", None)),
        "init_spread": lambda d: real_arg(d, st.sampled_from([0.0, 1.0]), odd=(-1.0, NAN, INF, "x")),
        "init_sigma": lambda d: real_arg(d, st.sampled_from([0.0, 1.0]), odd=(-1.0, NAN, INF)),
        "quantiles": lambda d: odd(d, st.sampled_from([(0.05, 0.5, 0.95), (0.5,), (0.1, 0.9), (0.95, 0.05)]), (),
                                   (0.5, 1.5), "ab", 0.5, [NAN]),
        "threads": threads_arg,
    }, p=0.25))
    return kw


@st.composite
def extrapolate_call(draw):
    bad = bad_mode(draw)
    recipe, by = draw(lc_table())
    data = recipe if not bad or draw(st.integers(0, 9)) != 9 else odd_data(draw)
    kw = {"x": odd(draw, "step", None, "nope", ["step"], 5), "y": odd(draw, "v", None, "nope", ["v"]),
          "horizon": horizon_arg(draw, 4)}
    if by is not None:
        kw["by"] = by
    kw.update(sampler_kwargs(draw))
    return {"ep": "extrapolate", "data": data, "kw": kw}


@st.composite
def extrapolate_reference_call(draw):
    bad = bad_mode(draw)
    recipe, by = draw(lc_table(max_points=20))
    ref, _ = draw(lc_table(max_curves=12, full_to=draw(st.sampled_from([20, 30, 50])), start_key=100,
                           min_curves=2 if bad else 4))
    if by is None or (isinstance(by, list)):
        by = "k"  # the reference forecast needs a key; 'k' is in both tables
        if "k2" in recipe["cols"]:
            by = ["k", "k2"] if "k2" in ref["cols"] else "k"
    kw = {"x": "step", "y": "v", "by": by, "horizon": horizon_arg(draw, 4),
          "reference": ref if not bad or draw(st.integers(0, 5)) else odd_data(draw)}
    kw.update(kwargs(draw, {"mode": lambda d: odd(d, st.sampled_from([None, "max", "min"]), "bogus"),
                            "quantiles": lambda d: odd(d, st.sampled_from([(0.05, 0.5, 0.95), (0.5,), (0.1, 0.9)]),
                                                       (0.5, 1.5), ()),
                            "threads": threads_arg}, p=0.3))
    return {"ep": "extrapolate_reference", "data": recipe, "kw": kw}


@st.composite
def should_stop_call(draw):
    bad_mode(draw)
    recipe, by = draw(lc_table(max_curves=3))
    kw = {"x": "step", "y": "v", "horizon": horizon_arg(draw, 3),
          "best": odd(draw, st.sampled_from([0.5, 0.8, 2.0]), NAN, INF, "x", None, [0.5]),
          "samples": draw(st.integers(5, 30)), "steps": draw(st.integers(4, 30))}
    if by is not None:
        kw["by"] = by
    kw.update(kwargs(draw, {"mode": lambda d: odd(d, st.sampled_from(["max", "min"]), "bogus", None),
                            "threshold": prob_arg, "level": prob_arg, "families": st.sampled_from(["lcpfn", "pow3"]),
                            "reference": st.just(None)}, p=0.3))
    return {"ep": "should_stop", "data": recipe, "kw": kw}


# ---- strategies: formulas --------------------------------------------------------------------------------------
def _mutate(draw, f: str) -> str:
    op = draw(st.sampled_from(["delete", "insert", "truncate", "double", "swap"]))
    if not f:
        return draw(st.sampled_from(NASTY_FORMULAS))
    i = draw(st.integers(0, len(f) - 1))
    if op == "delete":
        return f[:i] + f[i + 1:]
    if op == "insert":
        return f[:i] + draw(st.sampled_from(list("()^*+-/,.$#@ 0123456789eE_\t!"))) + f[i:]
    if op == "truncate":
        return f[:i]
    if op == "double":
        return f[:i] + f[i] + f[i:]
    return f[i:] + f[:i]


@st.composite
def law_call(draw):
    bad = bad_mode(draw)
    inputs = draw(st.sampled_from([["x"], ["x"], ["N", "D"], ["t"]]))
    f = draw(valid_formula(inputs))
    how = draw(st.integers(0, 9)) if bad else 9
    if how == 0:
        f = draw(st.sampled_from(NASTY_FORMULAS))
    elif how <= 2:
        f = _mutate(draw, f)
    elif how == 3 and draw(st.integers(0, 4)) == 0:
        f = draw(st.sampled_from([None, 5, b"a*x", ["a*x"], 1.5]))
    inp = odd(draw, inputs if len(inputs) > 1 or draw(st.booleans()) else inputs[0], [], None, "1x", ["x", "x"],
              ["exp"], [5], "x y", ["pi"], np.array(["x"]), ["a"], ["x", "unused"], "")
    pnames = [p for p in PARAM_NAMES if re.search(rf"(?<![A-Za-z0-9_]){p}(?![A-Za-z0-9_])", f)] \
        if isinstance(f, str) else ["a"]
    p0 = pnames[0] if pnames else "a"
    if bad:
        kw = kwargs(draw, {
            "params": st.sampled_from([None, [p0], list(reversed(pnames)), ["zz"], p0, ["x"], [5], [p0, p0]]),
            "bounds": st.sampled_from([{p0: (0, 1)}, {p0: (1, 0)}, {p0: (None, 2)}, {p0: (NAN, 1)}, {"zz": (0, 1)},
                                       {p0: 3}, {p0: ("x", 1)}, [1, 2], {p0: (-INF, INF)}]),
            "start": st.sampled_from([{p0: 1.0}, {p0: [0.1, 1, 10]}, {p0: []}, {p0: "x"}, {"zz": 1}, {p0: NAN},
                                      {p0: [1e308, -1e308]}, 5]),
            "scale": st.sampled_from([{p0: "log"}, {p0: "linear"}, {p0: "exp"}, {"zz": "log"}, {p0: None}, "log"]),
            "name": st.sampled_from([None, "my law", "", 5]),
        }, p=0.15)
    else:
        kw = kwargs(draw, {
            "params": st.just(list(reversed(pnames))),
            "bounds": st.sampled_from([{p0: (0, 10)}, {p0: (None, 2)}, {p0: (-INF, INF)}]),
            "start": st.sampled_from([{p0: 1.0}, {p0: [0.1, 1, 10]}]),
            "scale": st.sampled_from([{p0: "linear"}]),
            "name": st.sampled_from([None, "my law"]),
        }, p=0.15)
    return {"ep": "Law", "formula": f, "inputs": inp, "kw": kw, "seed": draw(st.integers(0, 999)),
            "special": draw(st.sampled_from([1.0, 0.0, -1.0, NAN, INF, 1e308])), "fit": draw(st.integers(0, 3)) == 0}


# ---- strategies: evals ------------------------------------------------------------------------------------------
def odd_counts(draw, valid):
    if not MODE["bad"]:
        return valid
    return pick(draw, (14, st.just(valid)),
                (1, st.sampled_from([[], [[1, 2], [3, 4]], [1.5, 2], [NAN], [INF], ["a"], None, [True, False],
                                     [2**63], [2**64], [1e19], np.array([3], dtype=np.uint64), [1 + 1j], [-1], [[1], [2, 3]],
                                     "10", {"a": 1}, np.array([], dtype=np.int64), [-(2**63)], np.array([5.0, 6.0])])),
                (1, st.sampled_from(HUGE_INTS + [0, -5, 2.5, NAN, True])))


@st.composite
def pass_call(draw, fn="pass_at_k"):
    bad_mode(draw)
    P = draw(st.integers(1, 6))
    n = [draw(st.integers(1, 40)) for _ in range(P)]
    c = [draw(st.integers(0, v)) for v in n]
    kmax = min(n)
    k = sorted(set(draw(st.lists(st.integers(1, kmax), min_size=1, max_size=4))))
    if draw(st.booleans()):
        n = n[0] if P == 1 or draw(st.booleans()) and len(set(n)) == 1 else n
    if draw(st.integers(0, 3)) == 0:
        k = k[0]
    if draw(st.integers(0, 5)) == 0 and isinstance(n, list):
        c = c[0]
    args = (odd_counts(draw, n), odd_counts(draw, c), odd_counts(draw, k))
    kw = kwargs(draw, {"threads": threads_arg}, p=0.2)
    if fn == "pass_curve":
        kw.update(kwargs(draw, {"kind": lambda d: odd(d, st.sampled_from(["pass@k", "pass^k"]), "bogus"),
                                "interval": lambda d: odd(d, st.sampled_from(["bootstrap", "beta", None]), "bogus"),
                                "level": prob_arg, "n_boot": lambda d: int_arg(d, st.integers(2, 60)),
                                "prior": lambda d: odd(d, st.sampled_from(["jeffreys", "uniform", (1, 1), (2, 0.5)]),
                                                       (0, 1), "bogus", (1,), None),
                                "seed": seed_arg}, p=0.35))
    if fn == "pass_posterior":
        kw.update(kwargs(draw, {"kind": lambda d: odd(d, st.sampled_from(["pass@k", "pass^k"]), "bogus"),
                                "level": prob_arg,
                                "prior": lambda d: odd(d, st.sampled_from(["jeffreys", "uniform", (2, 3)]), (0, 1),
                                                       (NAN, 1), "x")}, p=0.35))
    return {"ep": fn, "fn": fn, "args": args, "kw": kw}


@st.composite
def coverage_call(draw):
    bad_mode(draw)
    P = draw(st.integers(1, 8))
    nmax = draw(st.sampled_from([1, 2, 3, 10, 30, 100]))
    n = [draw(st.integers(1, nmax)) for _ in range(P)]
    c = [draw(st.sampled_from([draw(st.integers(0, v)), v, 0])) for v in n]
    if draw(st.booleans()):
        n = [n[0]] * P
        c = [min(v, n[0]) for v in c]
    method = odd(draw, st.sampled_from(["aggregate", "aggregate", "beta", "scaled_beta"]), "bogus", None)
    nb = int_arg(draw, st.sampled_from([0, 1, 2, 20, 100]))
    kw = {"method": method, "n_boot": nb}
    kw.update(kwargs(draw, {"level": prob_arg, "seed": seed_arg, "threads": threads_arg,
                            "fit_k": lambda d: odd(d, st.sampled_from([None, [1, 2], [1]]), [0], [1, 1000], [1.5],
                                                   "x")}, p=0.25))
    contain = method == "aggregate" and isinstance(nb, int) and nb >= 20 and kw.get("level", 0.95) in (0.5, 0.8, 0.9, 0.95)
    return {"ep": "coverage", "fn": "coverage", "args": (odd_counts(draw, n), odd_counts(draw, c)), "kw": kw,
            "contain": contain, "predict_k": draw(st.sampled_from([[1, 10, 1000], [0.5, 1e6], [1]]))}


@st.composite
def passuntil_call(draw):
    bad_mode(draw)
    P = draw(st.integers(1, 6))
    r = [draw(st.integers(1, 50)) for _ in range(P)]
    s = [draw(st.integers(0, v)) for v in r]
    target = draw(st.sampled_from([None, "max", 1, 0, [1, 2]]))
    if target == "max":
        target = [max(v, 1) for v in s]
    kw = kwargs(draw, {"level": prob_arg, "threads": threads_arg}, p=0.3)
    return {"ep": "passuntil", "fn": "passuntil", "args": (odd_counts(draw, s), odd_counts(draw, r), target), "kw": kw}


@st.composite
def irt_call(draw):
    bad = bad_mode(draw)
    M, I = (draw(st.integers(0, 12)), draw(st.integers(0, 10))) if bad else (draw(st.integers(2, 12)),
                                                                               draw(st.integers(1, 10)))
    vals = [draw(st.sampled_from([0.0, 1.0, 1.0, 0.0, NAN, -1.0])) for _ in range(M * I)]
    Y = np.array(vals, dtype=float).reshape(M, I)
    if bad and draw(st.integers(0, 4)) == 0 and Y.size:
        Y.flat[draw(st.integers(0, Y.size - 1))] = draw(st.sampled_from([2.0, 0.5, INF, -2.0, 1e308]))
    form = draw(st.sampled_from(["ndarray", "frame", "frame", "list", "int8", "bool"] + (["odd"] if bad else [])))
    if form == "frame":
        resp = pd.DataFrame(Y, index=[f"m{i}" for i in range(M)], columns=[f"i{j}" for j in range(I)])
    elif form == "list":
        resp = Y.tolist()
    elif form == "int8":
        resp = np.clip(np.where(np.isfinite(Y), Y, -1), -2, 2).astype(np.int8)
    elif form == "bool":
        resp = np.nan_to_num(Y) > 0
    elif form == "odd":
        resp = draw(st.sampled_from([None, 5, [1, 0, 1], np.zeros((2, 2, 2)), "x", [[1, 0], [1]], np.array([["a", "b"]])]))
    else:
        resp = Y
    model = odd(draw, st.sampled_from(["rasch", "2pl", "mirt", "1pl", "m2pl"]), "bogus", None)
    kw = kwargs(draw, {"dim": lambda d: int_arg(d, st.sampled_from([1, 2] if model in ("mirt", "m2pl") else [1])),
                       "max_iter": lambda d: int_arg(d, st.sampled_from([5, 20, 50])),
                       "tol": lambda d: real_arg(d, st.sampled_from([1e-4, 1e-2])),
                       "prior_a": lambda d: odd(d, st.sampled_from([(1.0, 2.0), (0.5, 1.0)]), (0, 0), (1,), "x",
                                                (NAN, 1)),
                       "prior_b_sd": lambda d: real_arg(d, st.sampled_from([3.0, 1.0])),
                       "method": lambda d: odd(d, st.sampled_from(["jmap", "mml"] if model == "2pl" else ["jmap"]),
                                               "bogus", "mml"),
                       "quadrature": lambda d: int_arg(d, st.sampled_from([11, 21, 61])),
                       "seed": seed_arg, "threads": threads_arg}, p=0.25)
    kw.setdefault("max_iter", 30)
    kw["model"] = model
    return {"ep": "fit_irt", "fn": "fit_irt", "args": (resp,), "kw": kw,
            "select": draw(st.sampled_from([None, None, "kmeans", "kmeans-info", "random"]
                                           + (["optimal"] if model in ("rasch", "1pl", "2pl") else [])))}


# ---- strategies: cost model, planning ----------------------------------------------------------------------------
FIELD_VALUES = {
    "n_layers": [2, 4, 12], "d_model": [128, 256, 1024], "n_heads": [2, 4, 8], "tokens": [1e9, 1e10, 3e11],
    "n_kv_heads": [0, 1, 2], "d_ff": [0, 512], "vocab": [32000, 50257], "seq_len": [1024, 2048],
    "n_experts": [1, 8], "active_experts": [1, 2], "gated_mlp": [False, True], "tied_embeddings": [False, True],
    "biases": [False, True], "norm": ["rmsnorm", "layernorm", "none", 2], "position": ["rope", "learned", 1],
}
ODD_FIELD = [0, -1, NAN, INF, -INF, 1e308, 2.5, "a", None, [], [[1, 2]], {"a": 1}, True, 1j, 2**63, [1, "a"],
             np.array([1.0, NAN])]


def field_value(draw, f, grid=False):
    vals = FIELD_VALUES[f]
    if MODE["bad"] and draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(ODD_FIELD + (["batchnorm", 7] if f in ("norm", "position") else [])))
    if grid or draw(st.booleans()):
        return sorted(set(draw(st.lists(st.sampled_from(vals), min_size=1, max_size=3))), key=str)
    return draw(st.sampled_from(vals))


def config_axes(draw, grid=False):
    required = ["n_layers", "d_model", "n_heads", "tokens"]
    fields = [f for f in required if not MODE["bad"] or draw(st.integers(0, 19))]
    fields += [f for f in FIELD_VALUES if f not in required and draw(st.integers(0, 5)) == 0]
    if MODE["bad"] and draw(st.integers(0, 19)) == 0:
        fields.append("bogus_field")
    out = {}
    for f in fields:
        out[f] = [1, 2] if f == "bogus_field" else field_value(draw, f, grid)
    return out


ASSUMPTIONS = {
    "n_gpus": [1, 8, 0, -1, 1e12], "zero": [0, 1, 3, 7], "recompute": ["none", "selective", "full", "bogus"],
    "micro_batch": [1, 4, 0], "mfu": [0.4, 0.0, 1.5, NAN], "efficiency_memory": [0.8, 2.0], "utilisation": [0.8, -1],
    "price": [2.5, -1.0, "x", INF], "pue": [1.2, 0.5], "grid_kg_per_kwh": [0.4, -0.1], "causal": [True, False],
    "vocab_flops": [True, False], "n_convention": ["non_embedding", "with_head", "total", "bogus"],
    "six_nd_train": [True, False], "weight_bytes": [2, 0], "kv_bytes": [2, 1], "infer_batch": [1, 64, 0],
    "infer_context": [2048, 0], "inference_tokens": [0, 1e9, -1], "latency_slo": [0.1, 0, -1], "budget": [1e6, -5],
    "ffn_mult": [4, 0, -2, NAN], "batch_tokens": [4e6, 0], "wue_onsite": [0.5], "bogus_assumption": [1],
}


def assumptions(draw, p=0.08):
    out = {k: draw(st.sampled_from(v)) for k, v in ASSUMPTIONS.items() if draw(st.integers(0, 99)) < p * 100}
    if not MODE["bad"]:
        out = {k: ASSUMPTIONS[k][0] for k in out if k != "bogus_assumption"}
    return out


HARDWARE = ["h100-sxm", "h200", "a100-80gb", "H100_SXM", None, "tpu-v9", 5,
            {"peak_tflops": {"bf16": 500}, "memory_gb": 64, "bandwidth_tbs": 2, "tdp_w": 500},
            {"peak_tflops": {"bf16": -1}, "memory_gb": 64, "bandwidth_tbs": 2, "tdp_w": 500}, {"memory_gb": 1}]


@st.composite
def cost_evaluate_call(draw):
    bad = bad_mode(draw)
    axes = config_axes(draw)
    how = draw(st.sampled_from(["dict", "dict", "grid", "frame"] + (["odd"] if bad else [])))
    if how == "grid":
        configs = {"__grid__": True, "axes": {k: v for k, v in axes.items()}}
    elif how == "frame":
        n = draw(st.integers(0, 4))
        configs = pd.DataFrame({k: [v if not isinstance(v, list) else (v[0] if v else 0)] * n for k, v in axes.items()})
    elif how == "odd":
        configs = draw(st.sampled_from([None, 5, "x", [], pd.DataFrame(), {"n_layers": [1, 2], "d_model": [1, 2, 3],
                                                                          "n_heads": 1, "tokens": 1}]))
    else:
        configs = axes
    kw = kwargs(draw, {"dtype": lambda d: odd(d, st.sampled_from(["bf16", "fp16", "fp8", "fp32"]), "int4", None),
                       "outputs": lambda d: odd(d, st.sampled_from([None, "all", "params", ["params"],
                                                                    ["cost_usd", "fits_memory"], ("gpu_hours",)]),
                                                [], ["bogus"], "bogus", 5, ["params", "params"]),
                       "include_config": st.booleans(), "as_frame": st.booleans(), "threads": threads_arg,
                       "device": lambda d: odd(d, "cpu", "cuda", "tpu")}, p=0.3)
    kw.update(assumptions(draw))
    args = () if draw(st.integers(0, 2)) else (odd(draw, st.sampled_from(HARDWARE[:4] + HARDWARE[7:8]),
                                                   *(HARDWARE[4:7] + HARDWARE[8:]), w=5),)
    return {"ep": "cost.evaluate", "configs": configs, "args": args, "kw": kw}


@st.composite
def cost_grid_call(draw):
    bad = bad_mode(draw)
    axes = config_axes(draw, grid=True)
    if bad and draw(st.integers(0, 5)) == 0:
        axes = {"n_layers": list(range(1, 1001)), "d_model": list(range(64, 64001, 64)), "n_heads": list(range(1, 1001)),
                "tokens": list(np.geomspace(1e9, 1e13, 1000)), "vocab": list(range(1000, 2000)),
                "seq_len": list(range(1, 1001)), "d_ff": list(range(1, 1001))}
    return {"ep": "cost.grid", "axes": axes, "evaluate": draw(st.booleans())}


def chinchilla_setup(draw, max_curves=3):
    info = _builtin_info("chinchilla")
    law = draw(st.sampled_from(["chinchilla"] * 6 + ["kaplan", "overtrain", "power_law"]))
    if law != "chinchilla":
        info = _builtin_info(law)
    return _good_fit_setup(draw, info=info, max_curves=max_curves, bad_p=0.2)


def grid_spec(draw, huge=False):
    """A cost.grid description: a small grid (a few hundred configurations at most) or a huge one (8e12)."""
    if huge:
        return {"__grid__": True, "axes": {"n_layers": list(range(1, 2001)), "d_model": list(range(64, 64 * 2001, 64)),
                                           "n_heads": list(range(1, 2001)), "tokens": list(np.geomspace(1e9, 1e13, 2000))}}
    axes = {"n_layers": sorted(set(draw(st.lists(st.sampled_from([2, 4, 8, 16, 32]), min_size=1, max_size=3)))),
            "d_model": sorted(set(draw(st.lists(st.sampled_from([256, 512, 1024, 2048]), min_size=1, max_size=3)))),
            "n_heads": 4, "tokens": list(np.geomspace(1e9, 1e12, draw(st.integers(1, 6))))}
    if MODE["bad"] and draw(st.integers(0, 4)) == 0:
        axes["tokens"] = draw(st.sampled_from([[1e10, 1e9, 1e11, 0.0], [NAN, 1e9], [-1e9, 1e10], [1e308]]))
    return {"__grid__": True, "axes": axes}


@st.composite
def plan_call(draw):
    setup = chinchilla_setup(draw)
    bad = bad_mode(draw)
    if draw(st.integers(0, 4)) == 0:
        setup["bootstrap"] = {"n": draw(st.integers(2, 12))}
    budget = odd(draw, st.sampled_from([1e19, 1e21, 1e23]), 0, -1, NAN, INF, "1e21", None, [1e21, 1e22], 1e308,
                 5e-324, w=5)
    kw = kwargs(draw, {
        "inference_tokens": lambda d: real_arg(d, st.sampled_from([0.0, 1e9, 1e12])),
        "hardware": lambda d: odd(d, st.sampled_from(HARDWARE[:4]), "tpu-v9", 5),
        "objective": lambda d: odd(d, st.sampled_from(["loss", "loss", "cost"]), "bogus"),
        "target_loss": lambda d: odd(d, st.sampled_from([None, 2.5, 1.0, -1.0]), NAN, INF, "x"),
        "samples": lambda d: odd(d, None, np.ones((1, 2, 5)), np.ones((2, 5)), [[1]], "x"),
        "price": lambda d: odd(d, st.sampled_from([None, 2.0]), -1.0, NAN),
        "mfu": lambda d: odd(d, st.sampled_from([0.4, 1.0]), 0.0, 1.5, NAN),
        "dtype": lambda d: odd(d, st.sampled_from(["bf16", "fp8"]), "bogus"),
        "k_train": lambda d: real_arg(d, st.sampled_from([6.0, 8.0])),
        "k_infer": lambda d: real_arg(d, st.sampled_from([2.0])),
        "unit": lambda d: odd(d, st.sampled_from(["flops", "usd"]), "bogus"),
        "interval": prob_arg,
        "prune": st.booleans(),
        "threads": threads_arg,
        "device": lambda d: odd(d, "cpu", "cuda", "x"),
    }, p=0.2)
    if draw(st.integers(0, 2)) == 0:
        kw["grid"] = grid_spec(draw, huge=bad and draw(st.integers(0, 5)) == 0)
        kw.update({k: v for k, v in assumptions(draw, p=0.04).items() if k != "budget"})
    return {"ep": "plan", "fit": setup, "args": (budget,), "kw": kw}


@st.composite
def pareto_call(draw):
    setup = chinchilla_setup(draw, max_curves=2)
    bad = bad_mode(draw)
    if draw(st.integers(0, 4)) == 0:
        setup["bootstrap"] = {"n": draw(st.integers(2, 6))}
    kw = kwargs(draw, {
        "inference_tokens": lambda d: real_arg(d, st.sampled_from([0.0, 1e9])),
        "hardware": st.sampled_from(HARDWARE[:4]), "unit": lambda d: odd(d, st.sampled_from(["flops", "usd"]), "bogus"),
        "samples": lambda d: odd(d, None, np.ones((1, 2, 5)), "x"),
        "price": lambda d: odd(d, st.sampled_from([None, 2.0]), -1.0),
        "dtype": lambda d: odd(d, st.sampled_from(["bf16", "fp8"]), "bogus"), "prune": st.booleans(),
        "threads": threads_arg, "device": lambda d: odd(d, "cpu", "cuda")}, p=0.2)
    kw.update(assumptions(draw, p=0.04))
    grid = grid_spec(draw, huge=bad and draw(st.integers(0, 5)) == 0)
    if bad and draw(st.integers(0, 9)) == 0:
        grid = draw(st.sampled_from([None, 5, "x", {"n_layers": 2}]))
    return {"ep": "pareto", "fit": setup, "grid": grid, "kw": kw}


@st.composite
def save_load_call(draw):
    return {"ep": "save_load", "fit": _good_fit_setup(draw)}


JSON_VALUES = [None, True, -1, 0, 1.5, 1e308, "oops", [], {}, [1, 2], [[1.0]], {"a": 1}, [None], ["x"], 2**70, -1e308]


@st.composite
def load_result_call(draw):
    bad_mode(draw)
    keys = ["format", "schema_version", "law", "by", "keys", "options", "params", "cost", "cov", "iters", "status",
            "best_start", "n_points", "x_range"]
    kind = draw(st.sampled_from(["truncate", "drop", "set", "set_in", "set_in", "set_in", "pop_in", "bytes", "text"]))
    if kind == "truncate":
        op = ("truncate", draw(st.floats(0, 0.999)))
    elif kind == "drop":
        op = ("drop", draw(st.sampled_from(keys)))
    elif kind == "set":
        op = ("set", draw(st.sampled_from(keys)), draw(st.sampled_from(JSON_VALUES)))
    elif kind == "set_in":
        op = ("set_in", draw(st.sampled_from(keys)), draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)),
              draw(st.sampled_from(JSON_VALUES + [NAN, INF, -5, 99, 0.5, "CONVERGED"])))
    elif kind == "pop_in":
        op = ("pop_in", draw(st.sampled_from(keys)), draw(st.integers(0, 5)))
    elif kind == "bytes":
        op = ("bytes", draw(st.sampled_from([b"", b"\x00\xff\xfe", bytes(range(256)), b"\xef\xbb\xbf{}", b"{" * 100000,
                                             b"[" * 5000 + b"]" * 5000, draw(st.binary(max_size=64))])))
    else:
        op = ("text", draw(st.sampled_from(["curve,E,A,alpha\n0,1.0,2.0,0.5\n", "{}", "[]", "null", "1", '"x"',
                                            '{"format": "lawfit.FitResult/1"}', "NaN", '{"law": {"kind": "formula"}}'])))
    return {"ep": "load_result", "fit": _good_fit_setup(draw, max_curves=3, bad_p=0.2), "op": op,
            "ext": draw(st.sampled_from(["json", "json", "json", "csv", "txt"]))}


STRATEGIES = {
    "fit": fit_call(), "bootstrap": bootstrap_call(), "predict": predict_call(), "extrapolate": extrapolate_call(),
    "extrapolate_reference": extrapolate_reference_call(), "should_stop": should_stop_call(), "Law": law_call(),
    "pass_at_k": pass_call("pass_at_k"), "pass_hat_k": pass_call("pass_hat_k"), "pass_curve": pass_call("pass_curve"),
    "pass_posterior": pass_call("pass_posterior"), "coverage": coverage_call(), "passuntil": passuntil_call(),
    "fit_irt": irt_call(), "cost.evaluate": cost_evaluate_call(), "cost.grid": cost_grid_call(), "plan": plan_call(),
    "pareto": pareto_call(), "save_load": save_load_call(), "load_result": load_result_call(),
}
assert set(STRATEGIES) == set(BUDGET)


# ---- the tests ---------------------------------------------------------------------------------------------------
def _settings(ep: str):
    n = max(1, int(BUDGET[ep] * FACTOR))
    phases = list(Phase) if SHRINK else [Phase.explicit, Phase.generate]
    return settings(max_examples=n, deadline=None, derandomize=not LONG, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck), phases=phases)


def _make_test(ep: str):
    strategy = STRATEGIES[ep]

    @_settings(ep)
    @given(desc=strategy)
    def fuzz(desc):
        run_call(desc)

    if LONG:
        fuzz = hseed(int(os.environ.get("LAWFIT_FUZZ_SEED", "0")))(fuzz)

    def test(capsys):
        fuzz()
        s = STATS[ep]
        with capsys.disabled():
            print(f"\n[fuzz {PROFILE}] {ep}: {s['calls']} calls in {TIMES[ep]:.1f} s: "
                  + ", ".join(f"{k}={v}" for k, v in sorted(s.items()) if k != "calls"))
        fails = FAILURES[ep]
        assert not fails, f"{len(fails)} failure(s) of {ep}:\n\n" + "\n\n".join(fails[:15])

    test.__name__ = f"test_fuzz_{ep.replace('.', '_')}"
    return test


for _ep in STRATEGIES:
    globals()[f"test_fuzz_{_ep.replace('.', '_')}"] = _make_test(_ep)


def test_fuzz_worker_survives_aborts_and_hangs():
    """The harness itself: an abort, a segfault, an exit and a hang are reported (with the call that caused them)
    and the next call runs in a fresh child; another exception type or a failed check is judged a failure."""
    w = Worker()
    try:
        pid = w.call({"ep": "__selftest__", "action": "ok"})["info"]["pid"]
        for action, kind in (("abort", "died"), ("segv", "died"), ("exit", "died"), ("hang", "hang")):
            out = w.call({"ep": "__selftest__", "action": action}, timeout=3.0)
            assert out["kind"] == kind, out
            assert f"'action': '{action}'" in out["current"], out["current"]
            assert judge({"ep": "__selftest__"}, out)[0] == ("abort" if kind == "died" else "hang")
            new = w.call({"ep": "__selftest__", "action": "ok"})["info"]["pid"]
            assert new != pid
            pid = new
        assert w.call({"ep": "__selftest__", "action": "segv"}, timeout=3.0)["signal"] == 11
        out = w.call({"ep": "__selftest__", "action": "keyerror"})
        assert judge({"ep": "__selftest__"}, out)[0] == "bad_exception"
        assert judge({"ep": "__selftest__"}, w.call({"ep": "__selftest__", "action": "wrong"}))[0] == "wrong"
        assert judge({"ep": "fit"}, {"kind": "exc", "type": "ValueError", "module": "builtins", "msg": "",
                                     "stage": "call"})[0] == "bad_message"
        assert judge({"ep": "fit"}, {"kind": "exc", "type": "ValueError", "module": "builtins", "stage": "call",
                                     "msg": "seed must be an integer, got np.float64(1.0)"})[0] == "bad_message"
        assert judge({"ep": "fit", "kw": {}}, {"kind": "exc", "type": "ValueError", "module": "builtins",
                                               "stage": "call", "msg": "could not convert string to float: 'a'"}
                     )[0] == "bad_message"
        assert judge({"ep": "fit"}, {"kind": "exc", "type": "ValueError", "module": "builtins", "stage": "call",
                                     "msg": "delta must be a positive number, got -1.0"}) == ("ValueError", None)
    finally:
        w.stop()


def test_fuzz_summary(capsys):
    """The table of all entry points (calls, outcomes), printed and (LAWFIT_FUZZ_REPORT) written as JSON."""
    cats = sorted({k for s in STATS.values() for k in s if k != "calls"})
    lines = [f"{'entry point':24s} {'calls':>6s} {'s':>7s} " + " ".join(f"{c:>14s}" for c in cats)]
    for ep in STRATEGIES:
        s = STATS.get(ep, {})
        lines.append(f"{ep:24s} {s.get('calls', 0):6d} {TIMES.get(ep, 0.0):7.1f} "
                     + " ".join(f"{s.get(c, 0):14d}" for c in cats))
    total = sum(s.get("calls", 0) for s in STATS.values())
    lines.append(f"{'total':24s} {total:6d} {sum(TIMES.values()):7.1f}  worker starts: "
                 f"{_WORKER[0].starts if _WORKER else 0}; known native issues: {[k[0] for k in KNOWN_NATIVE]}")
    with capsys.disabled():
        print(f"\n[fuzz {PROFILE}] summary\n" + "\n".join(lines))
    write_report()
    if len(STATS) == len(STRATEGIES):  # the whole file ran (not a -k selection)
        assert total >= (10_000 if LONG else 500), f"only {total} calls"
