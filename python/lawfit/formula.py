"""User-written laws: ``lawfit.Law("E + A*N^-alpha + B*D^-beta", inputs=["N", "D"])``.

The formula is parsed here (a small Pratt parser over its own tokens; Python's ``eval``/``ast`` are never
used) and compiled once into a flat SSA bytecode tape: instruction ``i`` computes slot ``i`` from an
opcode, up to two earlier slots and a constant/parameter/input index. Compilation folds constants, shares
common subexpressions and drops dead code. The native core (csrc/core/fit/formula.hpp) evaluates the tape
with reverse-mode automatic differentiation, so a ``Law`` is fitted, predicted and saved exactly like a
built-in law.

Grammar (lowest to highest precedence)::

    expr    := expr ('+' | '-') expr            left-associative
             | expr ('*' | '/') expr            left-associative
             | ('-' | '+') expr                 binds looser than '^': -x^2 = -(x^2)
             | expr ('^' | '**') unary          right-associative: a^b^c = a^(b^c); N^-alpha works
             | number | name | name '(' expr [',' expr] ')' | '(' expr ')'

Functions: exp, log, log10, sqrt, abs, sigmoid, tanh, log1p, expm1 (one argument); min, max, pow (two).
Constants: pi, e. Names listed in ``inputs`` are inputs (x columns); every other name is a parameter (so a
misspelt input becomes a parameter: ``Law.params`` and ``repr(law)`` list the parameters the formula produced).

Nesting is limited to ``MAX_DEPTH`` (200) levels: each parenthesis, function call, prefix sign, power (``a^b^c``
nests to the right) and operator of higher precedence counts one; a deeper formula raises ValueError before the
parser recurses that far.

A power with a non-constant exponent, ``a^b``, is computed as ``exp(b*log(a))``: it is defined for
``a > 0`` (``a = 0`` gives 0 or inf). A constant exponent (``x^2``, ``x^-1.5``) uses ``pow`` and accepts a
negative base where the exponent is an integer.
"""
from __future__ import annotations

import math
import re
import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._args import show
from . import _jit
from ._native import _core
from .catalogue import LawSpec

# Instruction codes: must match enum FormulaOp in csrc/core/fit/formula.hpp.
OPS = {
    "const": 0, "param": 1, "input": 2, "add": 3, "sub": 4, "mul": 5, "div": 6, "powk": 7, "neg": 8,
    "exp": 9, "log": 10, "log10": 11, "sqrt": 12, "abs": 13, "sigmoid": 14, "tanh": 15, "log1p": 16,
    "expm1": 17, "min": 18, "max": 19,
}
OP_NAMES = {v: k for k, v in OPS.items()}
MAX_TAPE = 256  # kFormulaMaxTape
MAX_PARAMS = 16  # kFormulaMaxParams
MAX_DEPTH = 200  # nesting levels of the parser (each a few Python frames): far below the recursion limit
UNARY_FUNCS = ("exp", "log", "log10", "sqrt", "abs", "sigmoid", "tanh", "log1p", "expm1")
BINARY_FUNCS = ("min", "max", "pow")
CONSTANTS = {"pi": math.pi, "e": math.e}
RESERVED = frozenset(UNARY_FUNCS) | frozenset(BINARY_FUNCS) | frozenset(CONSTANTS)
_BINARY = {"add", "sub", "mul", "div", "min", "max"}
_COMMUTATIVE = {"add", "mul"}
# Default start values of a non-linear parameter; the grid is capped at this many starts in all.
_NONLINEAR_GRID = (0.1, 0.3, 1.0)
# An exponent written without a sign (a parameter in the exponent of a power, N^alpha, or in the argument of exp,
# not N^-alpha) has no sign the formula tells: without bounds it starts from both signs ("E + A*N^alpha" with a
# negative alpha).
_EXPONENT_GRID = (-1.0, -0.3, -0.1, 0.1, 0.3, 1.0)
_MAX_DEFAULT_STARTS = 729

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _error(formula: str, msg: str, pos: int) -> ValueError:
    return ValueError(f"formula: {msg} at position {pos}\n  {formula}\n  {' ' * pos}^")


def _tokenize(formula: str) -> List[Tuple[str, str, int]]:
    """(kind, text, position) triples, kind in {num, name, op, end}."""
    toks = []
    pos = 0
    n = len(formula)
    while True:
        while pos < n and formula[pos].isspace():
            pos += 1
        if pos >= n:
            break
        m = _TOKEN.match(formula, pos)
        if m is None or m.end() == pos:
            raise _error(formula, f"unexpected character {formula[pos]!r}", pos)
        kind = m.lastgroup
        toks.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    toks.append(("end", "end of formula", n))
    return toks


# --- numeric semantics shared by constant folding and the tests (match formula.hpp) -------------------
def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def _fold(op: str, a: float, b: float = 0.0, k: float = 0.0) -> float:
    """Evaluate one instruction on constants with IEEE semantics (NaN/inf instead of exceptions)."""
    with np.errstate(all="ignore"):
        x, y = np.float64(a), np.float64(b)
        if op == "add":
            r = x + y
        elif op == "sub":
            r = x - y
        elif op == "mul":
            r = x * y
        elif op == "div":
            r = x / y
        elif op == "powk":
            r = np.power(x, np.float64(k))
        elif op == "neg":
            r = -x
        elif op == "exp":
            r = np.exp(x)
        elif op == "log":
            r = np.log(x)
        elif op == "log10":
            r = np.log10(x)
        elif op == "sqrt":
            r = np.sqrt(x)
        elif op == "abs":
            r = np.abs(x)
        elif op == "sigmoid":
            r = np.float64(_sigmoid(float(x))) if np.isfinite(x) else (np.float64(1.0) if x > 0 else np.float64(0.0) if x < 0 else x)
        elif op == "tanh":
            r = np.tanh(x)
        elif op == "log1p":
            r = np.log1p(x)
        elif op == "expm1":
            r = np.expm1(x)
        elif op == "min":
            r = y if y < x else x
        elif op == "max":
            r = y if y > x else x
        else:
            raise ValueError(f"formula: cannot fold instruction {op!r}")
    return float(r)


def _ckey(v: float) -> bytes:
    return struct.pack("<d", v)


class _Builder:
    """Hash-consed expression graph: constant folding and common-subexpression sharing as nodes are made.

    Each node is (op, a, b, val): op a name from OPS; a, b child ids or -1; val the constant (const, powk),
    the parameter name (param) or the input index (input). Children are always made before parents, so the
    node list is in topological order.
    """

    def __init__(self):
        self.nodes: List[tuple] = []
        self.index: Dict[tuple, int] = {}
        # Names of the parameters found in an exponent (a^b's b, exp's argument) with no sign written before them:
        # alpha in N^alpha and exp(alpha*log(N)), not in N^-alpha, exp(-k*t) or x^(1-alpha).
        self.exponents: set = set()

    def unsigned_params(self, i: int) -> set:
        """Names of the parameters of the subexpression of node i that some path reaches without passing a sign
        (a negation, or the right side of a subtraction)."""
        out, stack, seen = set(), [(i, False)], set()
        while stack:
            j, signed = stack.pop()
            if j < 0 or (j, signed) in seen:
                continue
            seen.add((j, signed))
            op, a, b, val = self.nodes[j]
            if op == "param" and not signed:
                out.add(val)
            stack += [(a, signed or op == "neg"), (b, signed or op == "sub")]
        return out

    def _add(self, key: tuple) -> int:
        i = self.index.get(key)
        if i is None:
            i = len(self.nodes)
            self.nodes.append(key)
            self.index[key] = i
        return i

    def const(self, v: float) -> int:
        return self._add(("const", -1, -1, _ckey(float(v))))

    def param(self, name: str) -> int:
        return self._add(("param", -1, -1, name))

    def input(self, j: int) -> int:
        return self._add(("input", -1, -1, j))

    def cval(self, i: int) -> Optional[float]:
        n = self.nodes[i]
        return struct.unpack("<d", n[3])[0] if n[0] == "const" else None

    def op(self, op: str, a: int, b: int = -1, k: Optional[float] = None) -> int:
        ca = self.cval(a)
        cb = self.cval(b) if b >= 0 else None
        # Constant folding.
        if op in _BINARY:
            if ca is not None and cb is not None:
                return self.const(_fold(op, ca, cb))
        elif op == "powk":
            if ca is not None:
                return self.const(_fold(op, ca, k=k))
        elif ca is not None:
            return self.const(_fold(op, ca))
        # Algebraic identities that are exact in floating point.
        if op == "add":
            if cb == 0.0:
                return a
            if ca == 0.0:
                return b
        elif op == "sub":
            if cb == 0.0:
                return a
            if ca == 0.0:
                return self.op("neg", b)
        elif op == "mul":
            if cb == 1.0:
                return a
            if ca == 1.0:
                return b
            if cb == -1.0:
                return self.op("neg", a)
            if ca == -1.0:
                return self.op("neg", b)
        elif op == "div":
            if cb == 1.0:
                return a
        elif op == "neg":
            na = self.nodes[a]
            if na[0] == "neg":
                return na[1]
        if op in _COMMUTATIVE and b < a:
            a, b = b, a
        val = _ckey(float(k)) if op == "powk" else None
        return self._add((op, a, b, val))

    def power(self, a: int, b: int) -> int:
        kb = self.cval(b)
        if kb is None:
            # a^b with a non-constant exponent: exp(b * log(a)) (a > 0).
            self.exponents |= self.unsigned_params(b)
            return self.op("exp", self.op("mul", b, self.op("log", a)))
        if kb == 1.0:
            return a
        if kb == 0.0:
            return self.const(1.0)
        if self.cval(a) is not None:
            return self.const(_fold("powk", self.cval(a), k=kb))
        if kb == 2.0:
            return self.op("mul", a, a)
        if kb == 0.5:
            return self.op("sqrt", a)
        if kb == -1.0:
            return self.op("div", self.const(1.0), a)
        return self.op("powk", a, k=kb)


class _TooDeep(Exception):
    """Internal: nesting beyond MAX_DEPTH (args[0]: the token where it happened)."""


class _Parser:
    """Pratt parser over the token list, building nodes in a _Builder as it goes."""

    # Binding powers: + - 10, * / 20, unary minus 30, ^ ** 40 (right-associative).
    _LBP = {"+": 10, "-": 10, "*": 20, "/": 20, "^": 40, "**": 40}

    def __init__(self, formula: str, inputs: Sequence[str], builder: _Builder):
        self.formula = formula
        self.toks = _tokenize(formula)
        self.i = 0
        self.inputs = {name: j for j, name in enumerate(inputs)}
        self.b = builder
        self.used_inputs: set = set()
        self.param_pos: Dict[str, int] = {}  # parameter name -> position of its first appearance
        self.depth = 0  # open expr() calls: bounded by MAX_DEPTH

    def peek(self):
        return self.toks[self.i]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, msg: str, tok) -> ValueError:
        return _error(self.formula, msg, tok[2])

    def expect(self, text: str):
        t = self.peek()
        if t[0] != "op" or t[1] != text:
            what = "end of formula" if t[0] == "end" else repr(t[1])
            raise self.fail(f"expected {text!r} but found {what}", t)
        return self.take()

    def parse(self) -> int:
        if self.peek()[0] == "end":
            raise _error(self.formula, "the formula is empty", 0)
        try:
            root = self.expr(0)
        except _TooDeep as exc:
            raise self.too_deep(exc.args[0]) from None
        except RecursionError:  # the caller's own stack was already deep
            raise self.too_deep(self.peek()) from None
        t = self.peek()
        if t[0] != "end":
            raise self.fail(f"unexpected token {t[1]!r}", t)
        return root

    def too_deep(self, tok) -> ValueError:
        return self.fail(f"the formula is nested too deeply (more than {MAX_DEPTH} levels of parentheses, function "
                         "calls, signs, powers and operators)", tok)

    def expr(self, min_bp: int) -> int:
        # At most 3 Python frames per level (expr, nud, call): MAX_DEPTH levels stay far below the recursion limit.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep(self.peek())  # unwound to parse(), which raises the ValueError (a short traceback)
        try:
            left = self.nud(self.take())
            while True:
                t = self.peek()
                if t[0] != "op" or t[1] not in self._LBP:
                    if t[0] in ("num", "name") or (t[0] == "op" and t[1] == "("):
                        raise self.fail(f"unexpected token {t[1]!r} (missing operator?)", t)
                    return left
                lbp = self._LBP[t[1]]
                if lbp <= min_bp:
                    return left
                self.take()
                if t[1] in ("^", "**"):
                    right = self.expr(lbp - 1)  # right-associative; the exponent may start with a unary sign
                    left = self.b.power(left, right)
                else:
                    right = self.expr(lbp)
                    left = self.b.op({"+": "add", "-": "sub", "*": "mul", "/": "div"}[t[1]], left, right)
        finally:
            self.depth -= 1

    def nud(self, t) -> int:
        kind, text, pos = t
        if kind == "num":
            return self.b.const(float(text))
        if kind == "op" and text == "(":
            v = self.expr(0)
            self.expect(")")
            return v
        if kind == "op" and text == "-":
            return self.b.op("neg", self.expr(30))
        if kind == "op" and text == "+":
            return self.expr(30)
        if kind == "name":
            nxt = self.peek()
            if nxt[0] == "op" and nxt[1] == "(":
                return self.call(t)
            if text in UNARY_FUNCS or text in BINARY_FUNCS:
                raise self.fail(f"function {text!r} must be called with parentheses, e.g. {text}(x)", t)
            if text in self.inputs:
                self.used_inputs.add(text)
                return self.b.input(self.inputs[text])
            if text in CONSTANTS:
                return self.b.const(CONSTANTS[text])
            self.param_pos.setdefault(text, pos)
            return self.b.param(text)
        if kind == "end":
            raise self.fail("unexpected end of formula", t)
        raise self.fail(f"unexpected token {text!r}", t)

    def call(self, t) -> int:
        _, fname, pos = t
        if fname not in UNARY_FUNCS and fname not in BINARY_FUNCS:
            known = ", ".join(UNARY_FUNCS + BINARY_FUNCS)
            raise self.fail(f"unknown function {fname!r} (known: {known})", t)
        self.expect("(")
        args = []
        if not (self.peek()[0] == "op" and self.peek()[1] == ")"):
            args.append(self.expr(0))
            while self.peek()[0] == "op" and self.peek()[1] == ",":
                self.take()
                args.append(self.expr(0))
        self.expect(")")
        want = 1 if fname in UNARY_FUNCS else 2
        if len(args) != want:
            raise self.fail(f"function {fname!r} takes {want} argument{'s' if want > 1 else ''}, got {len(args)}", t)
        if fname == "pow":
            return self.b.power(args[0], args[1])
        if want == 2:
            return self.b.op(fname, args[0], args[1])
        if fname == "exp":
            self.b.exponents |= self.b.unsigned_params(args[0])
        return self.b.op(fname, args[0])


def _linear_flags(op: np.ndarray, a: np.ndarray, b: np.ndarray, arg: np.ndarray, consts: np.ndarray,
                  n_params: int) -> Tuple[bool, ...]:
    """Parameters that enter the formula linearly, jointly: f = f0(theta) + sum_j p_j phi_j(theta).

    A symbolic pass over the tape classifies each slot as 0 (independent of the candidate set), 1 (affine
    in it) or 2 (anything else). A parameter is kept if the formula stays affine in the set kept so far
    plus this parameter (greedy in parameter order, so the result is deterministic)."""

    def degree(cand: set) -> int:
        deg = np.zeros(len(op), dtype=np.int8)
        for i in range(len(op)):
            o = OP_NAMES[int(op[i])]
            da = deg[a[i]] if a[i] >= 0 else 0
            db = deg[b[i]] if b[i] >= 0 else 0
            if o == "param":
                d = 1 if int(arg[i]) in cand else 0
            elif o in ("const", "input"):
                d = 0
            elif o in ("add", "sub"):
                d = max(da, db)
            elif o == "neg":
                d = da
            elif o == "mul":
                d = 2 if (da and db) else max(da, db)
            elif o == "div":
                d = da if db == 0 else 2
            elif o == "powk":
                d = 0 if da == 0 else (da if consts[arg[i]] == 1.0 else 2)
            else:  # functions, min, max
                d = 0 if (da == 0 and db == 0) else 2
            deg[i] = d
        return int(deg[-1])

    kept: set = set()
    for j in range(n_params):
        if degree(kept | {j}) <= 1:
            kept.add(j)
    return tuple(j in kept for j in range(n_params))


def _amplitudes(op: np.ndarray, a: np.ndarray, b: np.ndarray, arg: np.ndarray, consts: np.ndarray,
                linear: Tuple[bool, ...]) -> Tuple[int, ...]:
    """For each nonlinear parameter theta, the linear parameter c whose coefficient is the only part of the formula
    that theta enters (f = f0 + sum_j c_j phi_j with theta in phi_c alone: df/dtheta = c dphi_c/dtheta), else -1;
    -1 for linear parameters (core/laws/law.hpp ``amplitude``; VarPro's exact projection, core/fit/varpro.hpp).

    A symbolic pass per theta: every slot is affine in the linear parameters (they were kept so, _linear_flags), and
    for each of its coefficients (key -1: the part free of them) it records whether theta enters it."""
    n_params = len(linear)
    out = []
    for t in range(n_params):
        if linear[t]:
            out.append(-1)
            continue
        dep: list = []  # per slot: {key: theta enters that coefficient}
        for i in range(len(op)):
            o = OP_NAMES[int(op[i])]
            da = dep[a[i]] if a[i] >= 0 else {}
            db = dep[b[i]] if b[i] >= 0 else {}
            if o == "param":
                j = int(arg[i])
                d = {j: False} if linear[j] else {-1: j == t}
            elif o in ("const", "input"):
                d = {-1: False}
            elif o in ("add", "sub"):
                d = {k: da.get(k, False) or db.get(k, False) for k in {*da, *db}}
            elif o == "neg" or (o == "powk" and float(consts[arg[i]]) == 1.0):
                d = dict(da)
            elif o in ("mul", "div") and (set(db) == {-1} or (o == "mul" and set(da) == {-1})):
                s, v = (db, da) if set(db) == {-1} else (da, db)  # s: the factor free of the linear parameters
                d = {k: e or s[-1] for k, e in v.items()}
            else:  # functions, powers, min, max (of slots free of the linear parameters; else, conservatively, -1)
                d = {-1: any(da.values()) or any(db.values()) or any(k != -1 for k in (*da, *db))}
            dep.append(d)
        final = dep[-1]
        owners = [k for k, e in final.items() if e]
        out.append(owners[0] if len(owners) == 1 and owners[0] >= 0 else -1)
    return tuple(out)


def compile_formula(formula: str, inputs: Sequence[str], params: Optional[Sequence[str]] = None) -> dict:
    """Parse and compile ``formula``: returns the tape (op, a, b, arg: int32 [n]; consts: float64 [m]), the
    parameter names in order, and the linear flags. Raises ValueError naming the offending token."""
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string, got {type(formula).__name__}")
    inputs = list(inputs)
    b = _Builder()
    parser = _Parser(formula, inputs, b)
    root = parser.parse()
    end = len(formula)
    for name in inputs:
        if name not in parser.used_inputs:
            took = ", ".join(parser.param_pos) or "none"
            raise _error(formula, f"input {name!r} is never used in the formula (the names it takes as parameters: "
                                  f"{took}; check the spelling)", end)
    found = list(parser.param_pos)  # order of first appearance
    if params is None:
        order = found
    else:
        order = list(params)
        for name in found:
            if name not in order:
                raise _error(formula, f"parameter {name!r} is not listed in params={order}", parser.param_pos[name])
        for name in order:
            if name not in parser.param_pos:
                raise _error(formula, f"params lists {name!r}, which does not appear in the formula", end)
    if not order:
        raise _error(formula, "the formula has no parameters to fit", end)
    if len(order) > MAX_PARAMS:
        raise ValueError(
            f"formula: {len(order)} parameters ({', '.join(order)}); at most {MAX_PARAMS} are supported"
        )
    pidx = {name: j for j, name in enumerate(order)}

    # Keep the nodes the root depends on (children precede parents), renumbered densely.
    live = [False] * len(b.nodes)
    live[root] = True
    for i in range(root, -1, -1):
        if live[i]:
            node = b.nodes[i]
            if node[1] >= 0:
                live[node[1]] = True
            if node[2] >= 0:
                live[node[2]] = True
    slot = {}
    op_l, a_l, b_l, arg_l, consts, cidx = [], [], [], [], [], {}
    for i, node in enumerate(b.nodes):
        if not live[i] or i > root:
            continue
        name, na, nb, val = node
        argv = -1
        if name in ("const", "powk"):
            if val not in cidx:
                cidx[val] = len(consts)
                consts.append(struct.unpack("<d", val)[0])
            argv = cidx[val]
        elif name == "param":
            argv = pidx[val]
        elif name == "input":
            argv = val
        slot[i] = len(op_l)
        op_l.append(OPS[name])
        a_l.append(slot[na] if na >= 0 else -1)
        b_l.append(slot[nb] if nb >= 0 else -1)
        arg_l.append(argv)
    if len(op_l) > MAX_TAPE:
        raise ValueError(
            f"formula: compiles to {len(op_l)} instructions; at most {MAX_TAPE} are supported (simplify the formula)"
        )
    tape = {
        "op": np.array(op_l, dtype=np.int32),
        "a": np.array(a_l, dtype=np.int32),
        "b": np.array(b_l, dtype=np.int32),
        "arg": np.array(arg_l, dtype=np.int32),
        "consts": np.array(consts, dtype=np.float64),
    }
    linear = _linear_flags(tape["op"], tape["a"], tape["b"], tape["arg"], tape["consts"], len(order))
    exponent = tuple(name in b.exponents and not linear[j] for j, name in enumerate(order))
    amplitude = _amplitudes(tape["op"], tape["a"], tape["b"], tape["arg"], tape["consts"], linear)
    return {"tape": tape, "params": tuple(order), "linear": linear, "exponent": exponent, "amplitude": amplitude}


def _check_names(kind: str, names: Iterable[str]) -> List[str]:
    out = []
    for nm in names:
        if not isinstance(nm, str) or not _IDENT.match(nm):
            raise ValueError(f"{kind}: {show(nm)} is not a valid name (letters, digits and '_', not starting with a digit)")
        if nm in RESERVED:
            raise ValueError(f"{kind}: {nm!r} is reserved (a function or constant name)")
        if nm in out:
            raise ValueError(f"{kind}: {nm!r} is listed twice")
        out.append(nm)
    return out


def _as_float(v, what: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {show(v)}") from None


class Law(LawSpec):
    """A user-written law, fitted like a built-in one: ``lawfit.fit(df, law, x=[...], y=...)``.

    Parameters
    ----------
    formula: the law, e.g. ``"E + A*N^-alpha + B*D^-beta"`` (grammar in :mod:`lawfit.formula`).
    inputs: names of the input (x) variables in the formula, in the order of the ``x`` columns.
    params: parameter order (default: order of first appearance in the formula).
    bounds: ``{param: (lower, upper)}``; default (-inf, inf). ``None`` in a pair means open.
    start: ``{param: value or list of values}``: the default start grid (Cartesian product over
        parameters). Parameters without a start use 1.0 if they enter linearly (those are solved exactly
        from each start); an exponent written without a sign (a parameter in the exponent of a power,
        ``N^alpha``, or in the argument of ``exp``, ``exp(k*t)``; not ``N^-alpha`` or ``exp(-k*t)``, whose sign
        the formula gives) tries both signs, {-1, -0.3, -0.1, 0.1, 0.3, 1}, or those of them its bounds allow
        (``bounds={"alpha": (None, 0)}``: the negative ones); other parameters use {0.1, 0.3, 1.0}. The default
        grid is capped at 729 starts (later non-linear parameters then take fewer values: {0.1, 0.3, 1}, then
        1.0 only). Values are clipped into the bounds.
    scale: ``{param: "log"}`` to optimise ``log(p)`` (the parameter stays positive).
    name: a name for tables and plots (default: the formula).
    native: compile the formula to native code for fits and bootstraps (:mod:`lawfit._jit`): ``None`` (default)
        once this process's fits with it are large enough to repay the compile (4-8 s, cached on disk, so once
        per machine; ``LAWFIT_JIT_WORK`` points x starts), or when it is already cached; ``True`` always (RuntimeError where no C++ compiler is found); ``False``
        never (the bytecode evaluator). Results agree with the bytecode's to the solvers' tolerance.
        ``native_status`` says which one runs and why.
    """

    def __init__(
        self,
        formula: str,
        inputs: Union[str, Sequence[str]],
        *,
        params: Optional[Sequence[str]] = None,
        bounds: Optional[dict] = None,
        start: Optional[dict] = None,
        scale: Optional[dict] = None,
        name: Optional[str] = None,
        native: Optional[bool] = None,
    ):
        if native not in (None, True, False):
            raise ValueError(f"native must be None (when it pays), True or False, got {show(native)}")
        if isinstance(inputs, str):
            inputs = [inputs]
        if isinstance(inputs, (bytes, dict)) or not hasattr(inputs, "__iter__"):
            raise ValueError(f"inputs must be a name or a list of names of the formula's input variables, got "
                             f"{type(inputs).__name__} {show(inputs)}")
        if params is not None and (isinstance(params, (bytes, dict)) or not hasattr(params, "__iter__")):
            raise ValueError(f"params must be a name or a list of parameter names, got {type(params).__name__} "
                             f"{show(params)}")
        inputs = _check_names("inputs", inputs)
        if not inputs:
            raise ValueError("inputs: a formula needs at least one input variable")
        if params is not None:
            params = _check_names("params", [params] if isinstance(params, str) else params)
            clash = [p for p in params if p in inputs]
            if clash:
                raise ValueError(f"params: {clash[0]!r} is also an input")
        c = compile_formula(formula, inputs, params)
        pnames = c["params"]
        P = len(pnames)

        def check_keys(what: str, d: Optional[dict]) -> dict:
            if d is None:
                return {}
            if not isinstance(d, dict):
                raise ValueError(f"{what} must be a dict keyed by parameter name, got {type(d).__name__}")
            for k in d:
                if k not in pnames:
                    raise ValueError(f"{what}: unknown parameter {show(k)}; the formula's parameters are {list(pnames)}")
            return d

        bounds = check_keys("bounds", bounds)
        start = check_keys("start", start)
        scale = check_keys("scale", scale)
        lower = [-np.inf] * P
        upper = [np.inf] * P
        bounds_n: Dict[str, Tuple[float, float]] = {}
        for k, v in bounds.items():
            try:
                lo, hi = v
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{k!r}] must be a (lower, upper) pair, got {show(v)}") from None
            lo = -np.inf if lo is None else _as_float(lo, f"bounds[{k!r}] lower")
            hi = np.inf if hi is None else _as_float(hi, f"bounds[{k!r}] upper")
            if np.isnan(lo) or np.isnan(hi) or lo > hi:
                raise ValueError(f"bounds[{k!r}] = {show(v)}: need lower <= upper")
            j = pnames.index(k)
            lower[j], upper[j] = lo, hi
            bounds_n[k] = (lo, hi)
        scales = ["linear"] * P
        for k, v in scale.items():
            if v not in ("log", "linear"):
                raise ValueError(f"scale[{k!r}] must be 'log' or 'linear', got {show(v)}")
            j = pnames.index(k)
            if v == "log" and upper[j] <= 0:
                raise ValueError(f"scale[{k!r}] = 'log' needs a positive upper bound, got {upper[j]}")
            scales[j] = v
        start_n: Dict[str, Tuple[float, ...]] = {}
        for k, v in start.items():
            vals = tuple(_as_float(t, f"start[{k!r}]") for t in (v if isinstance(v, (list, tuple, np.ndarray)) else [v]))
            if not vals:
                raise ValueError(f"start[{k!r}] is empty")
            start_n[k] = vals
        linear = c["linear"]
        grid = []
        n_starts = 1
        for j, p in enumerate(pnames):
            if p in start_n:
                axis = start_n[p]
            elif linear[j]:
                axis = (1.0,)
            else:
                # An exponent whose bounds allow a negative value starts from the signed values they allow.
                signed = tuple(t for t in _EXPONENT_GRID if lower[j] <= t <= upper[j])
                if (c["exponent"][j] and scales[j] == "linear" and any(t < 0 for t in signed)
                        and n_starts * len(signed) <= _MAX_DEFAULT_STARTS):
                    axis = signed
                elif n_starts * len(_NONLINEAR_GRID) <= _MAX_DEFAULT_STARTS:
                    axis = _NONLINEAR_GRID
                else:
                    axis = (1.0,)
            axis = tuple(dict.fromkeys(float(min(max(t, lower[j]), upper[j])) for t in axis))
            if not linear[j]:
                n_starts *= len(axis)
            grid.append(axis)

        LawSpec.__init__(
            self,
            name=name if name is not None else formula,
            formula=formula,
            citation="user-written formula",
            params=pnames,
            inputs=tuple(inputs),
            lower=tuple(float(v) for v in lower),
            upper=tuple(float(v) for v in upper),
            scale=tuple(scales),
            linear=tuple(bool(v) for v in linear),
            grid=tuple(grid),
        )
        tape = c["tape"]
        for k, v in tape.items():
            v.setflags(write=False)
        object.__setattr__(self, "_tape", tape)
        object.__setattr__(self, "_linear_arr", np.array(linear, dtype=np.bool_))
        object.__setattr__(self, "_amplitude_arr", np.array(c["amplitude"], dtype=np.int32))
        object.__setattr__(self, "_scale_arr", np.array([1 if s == "log" else 0 for s in scales], dtype=np.int32))
        object.__setattr__(self, "_given", {"params": params, "bounds": bounds_n, "start": start_n,
                                            "scale": dict(scale), "name": name})
        object.__setattr__(self, "_native", native)
        object.__setattr__(self, "_native_state", ("not built", "no fit has run yet"))

    # ---- native entry points ----------------------------------------------------------------------
    def _tape_args(self) -> tuple:
        t = self._tape
        return (t["op"], t["a"], t["b"], t["arg"], t["consts"], self.n_params, len(self.inputs))

    def _fit(self, **kw) -> dict:
        jit = _jit.handle(self, _jit.fit_work(kw), self._native)
        return _core.fit_formula(*self._tape_args(), self._linear_arr, self._scale_arr, jit=jit,
                                 amplitude=self._amplitude_arr, **kw)

    def _fit_shared(self, **kw) -> dict:
        return _core.fit_formula_shared(*self._tape_args(), self._linear_arr, self._scale_arr, **kw)

    def _bootstrap(self, **kw) -> tuple:
        jit = -1
        if kw.get("shared") is None:  # joint fits run on the bytecode (one solve per batch)
            jit = _jit.handle(self, float(np.size(kw.get("y", ()))) * int(kw.get("n", 1)), self._native)
        return _core.bootstrap_formula(*self._tape_args(), self._linear_arr, self._scale_arr, jit=jit,
                                       amplitude=self._amplitude_arr, **kw)

    def compile(self) -> "Law":
        """Compile the formula to native code now (or load it from the cache); RuntimeError naming the reason when
        it cannot (no C++ compiler, no headers, a failed compile). Returns the law."""
        if self._native is False:
            raise RuntimeError("compile: this Law was made with native=False")
        _jit.handle(self, 0.0, True)
        return self

    @property
    def native_status(self) -> dict:
        """How this formula is evaluated in fits: ``{"status": "native" | "not built" | "unavailable", "detail":
        the library's path or the reason}``, as of the last fit, bootstrap or compile() in this process."""
        status, detail = self._native_state
        if _jit._disabled():
            status, detail = "not built", "LAWFIT_JIT=0 turns native formulas off"
        elif self._native is False:
            status, detail = "not built", "native=False"
        return {"status": status, "detail": detail}

    def _eval(self, X: np.ndarray, P: np.ndarray, grad: bool = False) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        P = np.ascontiguousarray(P, dtype=np.float64)
        return _core.formula_eval(*self._tape_args(), X, P, bool(grad))

    def __call__(self, X, p, grad: bool = False) -> np.ndarray:
        """Evaluate the law at inputs X[n, D] (or [n] for one input) with parameters p[P] or per-point
        p[n, P]; with grad, returns [n, P+1]: the value, then df/dp."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and len(self.inputs) == 1:
            X = X[:, None]
        return self._eval(X, np.asarray(p, dtype=np.float64), grad)

    # ---- introspection ----------------------------------------------------------------------------
    @property
    def tape(self) -> dict:
        """The compiled tape: op, a, b, arg (int32 [n]) and consts (float64 [m]); read-only arrays."""
        return dict(self._tape)

    def describe_tape(self) -> str:
        """One line per instruction, e.g. ``s5 = mul s3 s4``."""
        t = self._tape
        lines = []
        for i in range(len(t["op"])):
            o = OP_NAMES[int(t["op"][i])]
            if o == "const":
                rhs = repr(float(t["consts"][t["arg"][i]]))
            elif o == "param":
                rhs = f"param {self.params[t['arg'][i]]}"
            elif o == "input":
                rhs = f"input {self.inputs[t['arg'][i]]}"
            elif o == "powk":
                rhs = f"powk s{t['a'][i]} {float(t['consts'][t['arg'][i]])!r}"
            elif o in _BINARY:
                rhs = f"{o} s{t['a'][i]} s{t['b'][i]}"
            else:
                rhs = f"{o} s{t['a'][i]}"
            lines.append(f"s{i} = {rhs}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Law({self.formula!r}, inputs={list(self.inputs)}, params={list(self.params)})"

    # ---- persistence ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        g = self._given

        def num(v):
            return None if not np.isfinite(v) else float(v)

        return {
            "kind": "formula",
            "formula": self.formula,
            "inputs": list(self.inputs),
            "params": list(self.params),
            "bounds": {k: [num(lo), num(hi)] for k, (lo, hi) in g["bounds"].items()},
            "start": {k: list(v) for k, v in g["start"].items()},
            "scale": dict(g["scale"]),
            "name": g["name"],
            "native": self._native,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Law":
        if d.get("kind") != "formula":
            raise ValueError(f"Law.from_json: expected kind 'formula', got {d.get('kind')!r}")
        return cls(
            d["formula"],
            d["inputs"],
            params=d.get("params"),
            bounds={k: tuple(v) for k, v in (d.get("bounds") or {}).items()},
            start=d.get("start") or None,
            scale=d.get("scale") or None,
            name=d.get("name"),
            native=d.get("native"),
        )
