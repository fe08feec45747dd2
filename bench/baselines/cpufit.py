"""ctypes wrapper of Cpufit, the CPU library of Gpufit (https://github.com/gpufit/Gpufit), for bench/bench_peers.py.

Build the library first: ``bash bench/build_cpufit.sh [float32|float64|both]`` (float32 is Cpufit's default; the
float64 build is Gpufit's DOUBLE_PRECISION=ON switch, see the script). Libraries are looked up in
$CPUFIT_PREFIX/<precision>/libCpufit.so (default prefix $HOME/.cache/lawfit-bench/cpufit), or at $CPUFIT_LIB.

The C interface (Cpufit/cpufit.h), REAL = float or double by the build:

    int cpufit(size_t n_fits, size_t n_points, REAL *data, REAL *weights, int model_id, REAL *initial_parameters,
               REAL tolerance, int max_n_iterations, int *parameters_to_fit, int estimator_id,
               size_t user_info_size, char *user_info, REAL *output_parameters, int *output_states,
               REAL *output_chi_squares, int *output_n_iterations);

What Cpufit does (Cpufit/lm_fit_cpp.cpp, commit a0bd66c): one fit after another on the calling thread (no threads of
its own); Levenberg-Marquardt on the normal equations with damping lambda * max-so-far diag(J^T J) (lambda starts at
1e-3, x0.1 on acceptance, x10 on rejection), Gauss-Jordan solve; an iteration is one trial step (accepted or not); it
stops when |chi2 - chi2_prev| < max(tol, tol * chi2) (tolerance: Gpufit's default 1e-4; chi2 is sum (f - y)^2, i.e.
twice lawfit's cost) or after max_n_iterations (state MAX_ITERATION). The model value and its analytic derivatives
are computed at every trial. Models are compiled in; GAUSS_1D (ModelID 0), parameters (amplitude, center, width,
offset), is a * exp(-(x - b)^2 / (2 c^2)) + d, with x taken from user_info (n_points REALs: the same x for every
fit; n_fits * n_points REALs: x per fit; none: x = 0, 1, ..., n_points - 1). There is no power-law model.

`threads` > 1 splits the fits into contiguous chunks run on Python threads (ctypes releases the GIL during the
call; Cpufit keeps no shared state besides its last-error string). Not Cpufit's own feature, but what a user would
do to use several cores with it.
"""
from __future__ import annotations

import ctypes
import os
import pathlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

GAUSS_1D = 0
LINEAR_1D = 5
LSE, MLE = 0, 1
STATES = {0: "CONVERGED", 1: "MAX_ITERATION", 2: "SINGULAR_HESSIAN", 3: "NEG_CURVATURE_MLE", 4: "GPU_NOT_READY"}
N_PARAMS = {GAUSS_1D: 4, LINEAR_1D: 2}


def default_prefix() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CPUFIT_PREFIX", pathlib.Path.home() / ".cache" / "lawfit-bench" / "cpufit"))


def library_path(precision: str = "float32") -> pathlib.Path:
    if os.environ.get("CPUFIT_LIB") and precision == "float32":
        return pathlib.Path(os.environ["CPUFIT_LIB"])
    return default_prefix() / precision / "libCpufit.so"


class Cpufit:
    """One loaded libCpufit.so of one precision ("float32" or "float64")."""

    def __init__(self, precision: str = "float32", path=None):
        if precision not in ("float32", "float64"):
            raise ValueError("precision: 'float32' or 'float64'")
        self.precision = precision
        self.dtype = np.float32 if precision == "float32" else np.float64
        self.path = pathlib.Path(path) if path is not None else library_path(precision)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} not found: run bash bench/build_cpufit.sh {precision}")
        self.lib = ctypes.CDLL(str(self.path))
        real = ctypes.c_float if precision == "float32" else ctypes.c_double
        preal, pint = ctypes.POINTER(real), ctypes.POINTER(ctypes.c_int)
        f = self.lib.cpufit
        f.restype = ctypes.c_int
        f.argtypes = [ctypes.c_size_t, ctypes.c_size_t, preal, preal, ctypes.c_int, preal, real, ctypes.c_int, pint,
                      ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p, preal, pint, preal, pint]
        self.lib.cpufit_get_last_error.restype = ctypes.c_char_p
        self._real, self._preal, self._pint = real, preal, pint
        self._check_precision()

    def _check_precision(self):
        """Fit one exact line with the library: a float32 library reading float64 buffers (or the reverse) returns
        garbage, so a library built with the other precision than its directory says is caught here."""
        x = np.arange(4, dtype=self.dtype)
        y = (1.0 + 2.0 * x).astype(self.dtype)[None]
        p, st, _, _ = self.fit(y, np.array([[0.5, 1.5]], self.dtype), LINEAR_1D, x=x, tolerance=1e-6)
        if not (st[0] == 0 and np.allclose(p[0], [1.0, 2.0], rtol=1e-3)):
            raise RuntimeError(f"{self.path} does not behave as a {self.precision} Cpufit (line fit gave {p[0]})")

    def fit(self, data, p0, model_id=GAUSS_1D, x=None, tolerance=1e-4, max_iter=25, weights=None,
            parameters_to_fit=None, estimator=LSE, threads=1):
        """Fit every row of data [n_fits, n_points] from p0 [n_fits, n_params]. x: None, [n_points] (shared) or
        [n_fits, n_points]. Returns (params [n_fits, P], states [n_fits], chi_squares [n_fits] (sum of squares,
        not halved), n_iterations [n_fits]). Inputs are converted to the library's precision (a copy)."""
        dt = self.dtype
        data = np.ascontiguousarray(data, dtype=dt)
        B, n = data.shape
        P = N_PARAMS[model_id]
        p0 = np.ascontiguousarray(p0, dtype=dt).reshape(B, P)
        w = None if weights is None else np.ascontiguousarray(weights, dtype=dt).reshape(B, n)
        xs = None if x is None else np.ascontiguousarray(x, dtype=dt)
        if xs is not None and xs.size not in (n, B * n):
            raise ValueError("x: n_points values (shared) or n_fits * n_points")
        ptf = np.ones(P, np.int32) if parameters_to_fit is None else np.ascontiguousarray(parameters_to_fit, np.int32)
        out_p = np.empty((B, P), dt)
        out_s = np.empty(B, np.int32)
        out_c = np.empty(B, dt)
        out_i = np.empty(B, np.int32)

        def run(lo, hi):
            if hi <= lo:
                return 0
            if xs is None:
                ui, ui_size = None, 0
            elif xs.size == n:
                ui, ui_size = xs, xs.nbytes
            else:  # per-fit x: Cpufit indexes it by the fit's index within this call
                ui = xs.reshape(B, n)[lo:hi]
                ui_size = ui.nbytes
            return self.lib.cpufit(
                hi - lo, n, data[lo:hi].ctypes.data_as(self._preal),
                None if w is None else w[lo:hi].ctypes.data_as(self._preal), model_id,
                p0[lo:hi].ctypes.data_as(self._preal), self._real(tolerance), int(max_iter),
                ptf.ctypes.data_as(self._pint), estimator, ui_size,
                None if ui is None else ctypes.cast(ui.ctypes.data, ctypes.c_char_p),
                out_p[lo:hi].ctypes.data_as(self._preal), out_s[lo:hi].ctypes.data_as(self._pint),
                out_c[lo:hi].ctypes.data_as(self._preal), out_i[lo:hi].ctypes.data_as(self._pint))

        threads = max(1, min(int(threads), B))
        if threads == 1:
            rcs = [run(0, B)]
        else:
            cuts = np.linspace(0, B, threads + 1).astype(int)
            with ThreadPoolExecutor(threads) as ex:
                rcs = list(ex.map(lambda k: run(cuts[k], cuts[k + 1]), range(threads)))
        if any(rc != 0 for rc in rcs):
            raise RuntimeError("cpufit: " + self.lib.cpufit_get_last_error().decode())
        return out_p, out_s, out_c, out_i


def available(precision: str = "float32") -> bool:
    try:
        Cpufit(precision)
        return True
    except (OSError, RuntimeError):
        return False


def gauss_fit(x, y, p0, precision="float32", tolerance=None, max_iter=200, threads=1, lib=None):
    """Gaussian peak y = a exp(-(x - b)^2 / (2 c^2)) + d on [B, n] curves with one shared x [n] (or x [B, n]).
    p0 [B, 4] in (a, b, c, d). Returns (params [B, 4] float64 with c made positive, cost = 0.5 * chi2 [B] float64,
    states [B], iterations [B]). tolerance: Cpufit's relative chi2 change; default 1e-6 (float32: about the
    rounding of a float32 chi2) / 1e-8 (float64: lawfit's ftol).
    Note the cost is Cpufit's own chi2, summed in double from REAL residuals; recompute it in float64 to compare."""
    lib = lib or Cpufit(precision)
    if tolerance is None:
        tolerance = 1e-6 if lib.precision == "float32" else 1e-8
    x = np.asarray(x)
    if x.ndim == 2 and (x == x[:1]).all():
        x = x[0]
    p, s, c, it = lib.fit(y, p0, GAUSS_1D, x=x, tolerance=tolerance, max_iter=max_iter, threads=threads)
    p = p.astype(np.float64)
    p[:, 2] = np.abs(p[:, 2])
    return p, 0.5 * c.astype(np.float64), s, it
