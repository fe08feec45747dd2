"""User formulas at built-in speed: a ``lawfit.Law`` compiled to native code at run time.

A formula's tape (python/lawfit/formula.py) is turned into C++: a law struct with the interface of the built-in
laws (csrc/core/laws/law.hpp), its value and gradient written out as straight-line code (the forward sweep, then
the reverse sweep of the same tape, in the same order as the bytecode evaluator of csrc/core/fit/formula.hpp). The
built-in laws' solvers are instantiated for it (csrc/kernels/jit_main.inc) and compiled, with the flags of the
solver kernels in use, into a small library that ``lawfit._core`` loads (``jit_load``). The compiler inlines the
law into the per-point loops and vectorises them, as it does for a built-in law; the bytecode evaluator pays an
instruction dispatch per tape entry and keeps gradients for 16 parameters.

Libraries are cached on disk (``$LAWFIT_CACHE_DIR/jit``, default ``~/.cache/lawfit/jit``) under a key that hashes
the generated source, the headers it includes, the compiler and its flags: a formula is compiled once per machine
and lawfit version (about 6 s), then loaded in milliseconds. Without a C++ compiler (``$CXX``, else ``c++``,
``g++`` or ``clang++`` on PATH) or without the headers (a wheel ships them in ``lawfit/include``), formulas run on
the bytecode evaluator, as before.

When a formula is compiled (``Law(native=...)``):

- ``None`` (default): a cached library is always used; a new one is compiled once the work of the process's calls
  with that formula (points x starts, or points x replicates, summed) reaches ``LAWFIT_JIT_WORK`` (default 10
  million, about the bytecode's cost of the compile), and a failed compile falls back to the bytecode quietly
  (``Law.native_status`` says why).
- ``True``: compile at the first fit (or ``Law.compile()``); RuntimeError when it cannot.
- ``False``: never.

``LAWFIT_JIT=0`` turns compilation off everywhere (formulas then use the bytecode, cached libraries included).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from ._native import _core

# Opcode names, in the order of enum FormulaOp (csrc/core/fit/formula.hpp); formula.OPS is the source of truth
# and is checked against this in generate().
_UNARY_CALL = {
    "exp": "std::exp", "log": "std::log", "log10": "std::log10", "sqrt": "std::sqrt", "abs": "std::fabs",
    "sigmoid": "laws::sigmoid", "tanh": "std::tanh", "log1p": "std::log1p", "expm1": "std::expm1",
}
_LN10 = "2.302585092994045684017991454684364"
# The adjoint each unary instruction adds to its operand's: w the instruction's adjoint, A its operand, V its value
# (the expressions of formula.hpp's reverse sweep, operation for operation).
_UNARY_ADJOINT = {
    "neg": "-{w}", "exp": "{w} * {V}", "log": "{w} / {A}", "log10": "{w} / ({A} * " + _LN10 + ")",
    "sqrt": "{w} * (0.5 / {V})", "abs": "{A} > 0.0 ? {w} : ({A} < 0.0 ? -{w} : 0.0)",
    "sigmoid": "{w} * ({V} * (1.0 - {V}))", "tanh": "{w} * (1.0 - {V} * {V})", "log1p": "{w} / (1.0 + {A})",
    "expm1": "{w} * ({V} + 1.0)",
}
# The operations a formula's eval_t (the vector-lane solver's evaluation) is generated for: those with a form on
# core/vtype.hpp's number types.
_T_OPS = {"const", "param", "input", "add", "sub", "mul", "div", "neg", "powk", "exp", "log", "sqrt"}
DEFAULT_WORK = 10_000_000
COMPILE_TIMEOUT_S = 600

_lock = threading.Lock()
_loaded: dict = {}  # key -> (handle, library path) (process-local: handles are not pickled with a Law)
_failed: dict = {}  # key -> reason (auto mode does not retry a failed compile in this process)
_work: dict = {}  # key -> points x starts of this process's calls so far (auto mode compiles at the threshold)
_env_cache: dict = {}  # the toolchain's digest, and each law's source and key (_source_and_key)


class JitUnavailable(RuntimeError):
    """The formula cannot be compiled here (no compiler, no headers, or the compile failed)."""


def _lit(v: float) -> str:
    """An exact C++ literal of a double (hex float; inf and nan spelled out)."""
    v = float(v)
    if np.isnan(v):
        return "std::numeric_limits<double>::quiet_NaN()"
    if np.isinf(v):
        return ("" if v > 0 else "-") + "std::numeric_limits<double>::infinity()"
    return v.hex()


def generate(op, a, b, arg, consts, n_params: int, n_inputs: int, linear, scale, amplitude=None) -> str:
    """C++ source of the law struct ``lawfit::jit::JitLaw`` of a validated tape (without the key and include)."""
    from .formula import OP_NAMES

    op = [int(t) for t in op]
    a = [int(t) for t in a]
    b = [int(t) for t in b]
    arg = [int(t) for t in arg]
    consts = [float(t) for t in consts]
    n = len(op)
    names = [OP_NAMES[t] for t in op]
    arity2 = {"add", "sub", "mul", "div", "min", "max"}
    nullary = {"const", "param", "input"}
    active = [False] * n
    for i, o in enumerate(names):
        if o == "param":
            active[i] = True
        elif o not in nullary:
            active[i] = active[a[i]] or (o in arity2 and active[b[i]])

    def sweeps(t):
        """The forward lines and the reverse sweep's lines in double (t False: eval, eval_soa) or on the number type
        T (t True: eval_t, core/laws/law.hpp; math through core/vtype.hpp's vm::, constants made T by vm::cst)."""
        num, math = ("T", "vm::") if t else ("double", "std::")
        cst = (lambda v: f"vm::cst<T>({v})") if t else (lambda v: v)
        fwd = []
        for i, o in enumerate(names):
            A = f"v{a[i]}"
            B = f"v{b[i]}"
            if o == "const":
                e = cst(_lit(consts[arg[i]]))
            elif o == "param":
                e = f"p[{arg[i]}]"
            elif o == "input":
                e = f"@X{arg[i]}@"
            elif o in ("add", "sub", "mul", "div"):
                e = f"{A} {dict(add='+', sub='-', mul='*', div='/')[o]} {B}"
            elif o == "powk":
                e = f"{math}pow({A}, {_lit(consts[arg[i]])})"
            elif o == "neg":
                e = f"-{A}"
            elif o == "min":
                e = f"{B} < {A} ? {B} : {A}"
            elif o == "max":
                e = f"{B} > {A} ? {B} : {A}"
            else:
                e = f"vm::{o}({A})" if t else f"{_UNARY_CALL[o]}({A})"
            fwd.append(f"    const {num} v{i} = {e};")

        # Reverse sweep: adjoints d<i> of the active slots, accumulated in the bytecode's order (formula.hpp eval).
        rev = [f"      {num} d{i} = {cst('0.0')};" for i in range(n) if active[i]]
        rev += ["      @GZERO@", f"      d{n - 1} = {cst('1.0')};"]
        for i in range(n - 1, -1, -1):
            if not active[i]:
                continue
            o = names[i]
            w = f"d{i}"
            ai, bi = a[i], b[i]
            da = o not in nullary and active[ai]
            db = o in arity2 and active[bi]
            A, B, V = f"v{ai}", f"v{bi}", f"v{i}"
            s = []
            if o == "param":
                s.append(f"@G{arg[i]}@ += {w};")
            elif o == "add":
                s += [f"d{ai} += {w};"] * da + [f"d{bi} += {w};"] * db
            elif o == "sub":
                s += [f"d{ai} += {w};"] * da + [f"d{bi} -= {w};"] * db
            elif o == "mul":
                s += [f"d{ai} += {w} * {B};"] * da + [f"d{bi} += {w} * {A};"] * db
            elif o == "div":
                s += [f"d{ai} += {w} * (1.0 / {B});"] * da + [f"d{bi} -= {w} * {V} * (1.0 / {B});"] * db
            elif o == "powk" and da:
                c = consts[arg[i]]
                s.append(f"d{ai} += {w} * ({_lit(c)} * {math}pow({A}, {_lit(c - 1.0)}));")
            elif o in _UNARY_ADJOINT and da:
                s.append(f"d{ai} += " + _UNARY_ADJOINT[o].format(w=w, A=A, V=V) + ";")
            elif o == "min":
                s += [f"d{bi} += {B} < {A} ? {w} : 0.0;"] * db + [f"d{ai} += {B} < {A} ? 0.0 : {w};"] * da
            elif o == "max":
                s += [f"d{bi} += {B} > {A} ? {w} : 0.0;"] * db + [f"d{ai} += {B} > {A} ? 0.0 : {w};"] * da
            rev += [f"      {ln}" for ln in s]
        return fwd, rev

    fwd, rev = sweeps(False)
    # The same evaluation on the number type T (eval_t: double, or the vector-lane solver's 4 doubles,
    # core/fit/lanes.hpp), for the tapes whose operations all have a T form (core/vtype.hpp's vm:: math).
    lanes_ok = all(o in _T_OPS for o in names)
    t_fwd, t_rev = sweeps(True) if lanes_ok else ([], [])

    P, D = int(n_params), int(n_inputs)
    lin = ", ".join("true" if bool(t) else "false" for t in linear)
    sc = ", ".join("LOG" if int(t) == 1 else "LINEAR" for t in scale)
    amp = ", ".join(str(int(t)) for t in (amplitude if amplitude is not None else [-1] * int(n_params)))

    def spell(lines, x, g, gzero, indent=""):
        """The code with inputs x(i), gradient entries g(j) and the gradient's zeroing spelled out."""
        out = []
        for ln in lines:
            ln = re.sub(r"@X(\d+)@", lambda mt: x(int(mt.group(1))), ln)
            ln = re.sub(r"@G(\d+)@", lambda mt: g(int(mt.group(1))), ln)
            out.append(indent + ln.replace("@GZERO@", gzero))
        return out

    return "\n".join([
        "// Generated by lawfit._jit from a formula's tape: do not edit (the cache key hashes this text).",
        "#include <limits>",
        "#include \"core/laws/law.hpp\"",
        "#include \"core/vmath.hpp\"",
        "namespace lawfit::jit {",
        "struct JitLaw {",
        f"  static constexpr int P = {P}, D = {D};",
        f"  static constexpr bool linear[P] = {{{lin}}};",
        f"  static constexpr Scale scale[P] = {{{sc}}};",
        f"  static constexpr int amplitude[P] = {{{amp}}};",
        "  LAWFIT_HD static bool domain(const double* x) {",
        "    for (int k = 0; k < D; ++k)",
        "      if (!std::isfinite(x[k])) return false;",
        "    return true;",
        "  }",
        "  // Value at x[D], and the gradient into g[P] when g is given.",
        "  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {",
        *spell(fwd, lambda i: f"x[{i}]", lambda j: f"g[{j}]", ""),
        "    if (g) {",
        *spell(rev, lambda i: f"x[{i}]", lambda j: f"g[{j}]", "for (int j = 0; j < P; ++j) g[j] = 0.0;"),
        "    }",
        f"    return v{n - 1};",
        "  }",
        *([
            "  // The same on the number type T (eval_t, core/laws/law.hpp).",
            "  template <class T>",
            "  LAWFIT_HD static T eval_t(const T* x, const T* p, T* g) {",
            *spell(t_fwd, lambda i: f"x[{i}]", lambda j: f"g[{j}]", ""),
            "    if (g) {",
            *spell(t_rev, lambda i: f"x[{i}]", lambda j: f"g[{j}]",
                   "for (int j = 0; j < P; ++j) g[j] = vm::cst<T>(0.0);"),
            "    }",
            f"    return v{n - 1};",
            "  }",
        ] if lanes_ok else []),
        "  // The same at nq <= K points laid out one array per input (xs[i][k]), gradients one array per parameter",
        "  // (gs[j][k]): one loop over the points with unit-stride access, which the compiler vectorises.",
        "  template <int K>",
        "  static void eval_soa(const double (*xs)[K], int nq, const double* p, double* f, double (*gs)[K]) {",
        "    LAWFIT_SIMD",
        "    for (int k = 0; k < nq; ++k) {",
        *spell(fwd, lambda i: f"xs[{i}][k]", lambda j: f"gs[{j}][k]", "", "  "),
        *spell(rev, lambda i: f"xs[{i}][k]", lambda j: f"gs[{j}][k]",
               "for (int j = 0; j < P; ++j) gs[j][k] = 0.0;"),
        f"      f[k] = v{n - 1};",
        "    }",
        "  }",
        "};",
        "}  // namespace lawfit::jit",
        "",
    ])


# ---- the toolchain -----------------------------------------------------------------------------------------------
def include_dir() -> Optional[Path]:
    """The headers a formula library is compiled against: ``lawfit/include`` in an installed wheel, else the source
    tree's ``csrc`` (a development checkout)."""
    here = Path(__file__).resolve().parent
    for d in (here / "include", here.parent.parent / "csrc"):
        if (d / "kernels" / "jit_main.inc").is_file() and (d / "core" / "fit" / "batch.hpp").is_file():
            return d
    return None


def compiler() -> Optional[str]:
    """The C++ compiler: ``$CXX``, else the first of c++, g++, clang++ on PATH."""
    cxx = os.environ.get("CXX")
    if cxx:
        return shutil.which(cxx) or (cxx if os.path.isfile(cxx) else None)
    for name in ("c++", "g++", "clang++"):
        p = shutil.which(name)
        if p:
            return p
    return None


def flags() -> list:
    """Compiler flags: those of the solver kernel library in use (its CPU level and vector math)."""
    info = _core.build_info()
    f = ["-std=gnu++17", "-O3", "-DNDEBUG", "-fPIC", "-shared", "-fvisibility=hidden", "-fvisibility-inlines-hidden",
         "-fno-math-errno", "-w", "-pthread"]
    f += (info.get("kernel_flags") or "").split()
    if info.get("vector_math") == "libmvec":
        f += ["-fopenmp-simd", "-DLAWFIT_SIMD_MATH=1"]
    return f


def cache_dir() -> Path:
    root = os.environ.get("LAWFIT_CACHE_DIR")
    if root:
        return Path(root) / "jit"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg if xdg else Path.home() / ".cache") / "lawfit" / "jit"


def _toolchain_digest(cxx: str, inc: Path, fl: list) -> str:
    """Hash of what a library depends on besides its source: compiler identity, flags, headers, lawfit version."""
    k = (cxx, str(inc), tuple(fl))
    if k not in _env_cache:
        h = hashlib.sha256()
        try:
            ver = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise JitUnavailable(f"the C++ compiler {cxx} does not run: {e}") from None
        h.update(ver.encode())
        h.update(repr(fl).encode())
        h.update(str(_core.__version__).encode())
        h.update(str(_core.build_info().get("kernel_library")).encode())
        for f in sorted(inc.rglob("*")):
            if f.is_file() and f.suffix in (".hpp", ".inc", ".cpp", ".h", ".cuh"):
                h.update(str(f.relative_to(inc)).encode())
                h.update(f.read_bytes())
        _env_cache[k] = h.hexdigest()
    return _env_cache[k]


def _disabled() -> bool:
    return os.environ.get("LAWFIT_JIT", "").strip().lower() in ("0", "off", "false", "no")


def work_threshold() -> float:
    v = os.environ.get("LAWFIT_JIT_WORK")
    try:
        return float(v) if v else float(DEFAULT_WORK)
    except ValueError:
        raise ValueError(f"LAWFIT_JIT_WORK must be a number of point-starts, got {v!r}") from None


def _source_and_key(law) -> tuple:
    """(compiler, include dir, flags, source, key) of a law's library; JitUnavailable when it cannot be built here.
    Memoised per law and compiler environment ($CXX, $PATH): every fit and bootstrap of a formula asks, and the
    compiler lookup, code generation and hashing cost ~0.4 ms, a third of a one-curve fit."""
    memo = ("source", law, os.environ.get("CXX"), os.environ.get("PATH"))
    try:
        hit = _env_cache.get(memo)
    except TypeError:  # an unhashable law (a field holding a list): no memo
        memo, hit = None, None
    if hit is None:
        try:
            hit = _build_source_and_key(law)
        except JitUnavailable as e:
            hit = e
        if memo is not None:
            _env_cache[memo] = hit
    if isinstance(hit, JitUnavailable):
        raise JitUnavailable(str(hit))
    return hit


def _build_source_and_key(law) -> tuple:
    cxx = compiler()
    if cxx is None:
        raise JitUnavailable("no C++ compiler found ($CXX, c++, g++ or clang++)")
    inc = include_dir()
    if inc is None:
        raise JitUnavailable("lawfit's C++ headers are not installed (lawfit/include)")
    fl = flags()
    t = law._tape
    body = generate(t["op"], t["a"], t["b"], t["arg"], t["consts"], law.n_params, len(law.inputs),
                    law._linear_arr, law._scale_arr, law._amplitude_arr)
    key = hashlib.sha256((_toolchain_digest(cxx, inc, fl) + body).encode()).hexdigest()[:32]
    src = (body + f'#define LAWFIT_JIT_KEY "{key}"\n#include "kernels/jit_main.inc"\n'
           '#include "kernels/vmath_shims.cpp"\n')
    return cxx, inc, fl, src, key


def _compile(cxx: str, inc: Path, fl: list, src: str, key: str, lib: Path) -> None:
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent, prefix=f".{key}.") as tmp:
        cpp = Path(tmp) / "law.cpp"
        cpp.write_text(src)
        exports = Path(tmp) / "exports.map"
        exports.write_text("{ global: lawfit_jit_v1; local: *; };\n")
        out = Path(tmp) / "law.so"
        # export the entry point only (as the kernel libraries do: csrc/kernels/exports.map, CMakeLists.txt)
        export = ("-Wl,-exported_symbol,_lawfit_jit_v1" if sys.platform == "darwin"
                  else f"-Wl,--version-script={exports}")
        cmd = [cxx, *fl, f"-I{inc}", str(cpp), "-o", str(out), export]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            raise JitUnavailable(f"the compile failed to run: {e}") from None
        if r.returncode != 0:
            lines = (r.stderr or r.stdout).strip().splitlines()
            errors = [ln.strip() for ln in lines if "error" in ln.lower()] or lines
            raise JitUnavailable(f"the compile failed ({cxx}): " + " | ".join(errors[:4]))
        (lib.parent / f"{key}.cpp").write_text(src)  # kept beside the library, for whoever wants to read it
        os.replace(out, lib)  # atomic: concurrent builders of the same key leave one whole library


def handle(law, work: float, mode) -> int:
    """The native library handle to fit ``law`` with (-1: the bytecode evaluator), compiling when ``mode`` and
    ``work`` call for it (module docstring)."""
    if mode is False or _disabled():
        return -1
    try:
        cxx, inc, fl, src, key = _source_and_key(law)
    except JitUnavailable as e:
        _set_state(law, "unavailable", str(e))
        if mode is True:
            raise
        return -1
    with _lock:
        if key in _loaded:
            h, path = _loaded[key]
            _set_state(law, "native", path)
            return h
        lib = cache_dir() / f"{key}.so"
        if not lib.is_file():
            _work[key] = _work.get(key, 0.0) + float(work)
            if mode is None and (_work[key] < work_threshold() or key in _failed):
                _set_state(law, "not built", _failed.get(key, "the work of the calls so far is below LAWFIT_JIT_WORK"))
                return -1
            try:
                _compile(cxx, inc, fl, src, key, lib)
            except JitUnavailable as e:
                _failed[key] = str(e)
                _set_state(law, "unavailable", str(e))
                if mode is True:
                    raise
                return -1
        try:
            h = _core.jit_load(str(lib), key)
        except RuntimeError as e:
            _failed[key] = str(e)
            _set_state(law, "unavailable", str(e))
            if mode is True:
                raise JitUnavailable(str(e)) from None
            return -1
        _loaded[key] = (h, str(lib))
        _set_state(law, "native", str(lib))
        return h


def _set_state(law, status: str, detail: str) -> None:
    object.__setattr__(law, "_native_state", (status, detail))


def fit_work(kw: dict) -> float:
    """Points x starts of a fit call's arguments."""
    n = np.size(kw.get("y", ()))
    s = kw.get("starts")
    starts = int(np.shape(s)[-2]) if s is not None and np.ndim(s) >= 2 else 1
    return float(n) * (starts + int(kw.get("n_random", 0) or 0))
