"""lawfit.plot: the figures people publish, drawn from lawfit's result objects (matplotlib: the ``plot`` extra).

===========================  ==========================================================================================
:func:`curves`               fit vs data for one-input laws: data, fitted line extended beyond the data (dashed),
                             bootstrap or delta-method band, log axes where the law is a power law
:func:`contours`             two-input laws: iso-loss contours in the (N, D) plane, the data, the compute-optimal frontier
:func:`iso_flop`             loss against N at fixed compute C = k N D for a few C, the minimum of each marked
:func:`predicted_vs_observed`, :func:`residuals`, :func:`diagnostics`   goodness of fit
:func:`fan`                  learning-curve forecasts (:func:`lawfit.extrapolate`): the observed prefix, the predictive
                             median and 50% / 90% bands to the horizon, the truth when known
:func:`coverage`             coverage (pass@k) curves from :func:`lawfit.evals.coverage` or :func:`~lawfit.evals.pass_curve`
:func:`item_curves`          IRT item characteristic curves of :func:`lawfit.evals.fit_irt`
:func:`frontier`             the compute-optimal frontier (N_opt, D_opt against C), with its interval after a bootstrap
:func:`result`               the right plot for a :class:`lawfit.FitResult` (what ``FitResult.plot`` draws)
===========================  ==========================================================================================

Conventions. Every function takes ``ax=`` (draw into it) and ``path=`` (save a PNG/PDF/SVG there) and returns the
Axes it drew on (:func:`fan` with several curves and :func:`diagnostics`: the Figure). With ``path`` and no ``ax``
the figure is drawn off-screen (a bare ``matplotlib.figure.Figure``, not registered with pyplot, whatever the backend)
and saved; otherwise pyplot makes it. Curves are coloured by :func:`colors`: a colour-blind-safe palette of 8 colours,
and past 8 curves evenly spaced colours of a perceptual colormap (viridis), so no two curves share a colour. Data are
dots, fitted laws solid lines over the observed range and dashed lines beyond it (extrapolation), intervals shaded
bands; every legend names what each mark is. The artists carry a ``gid`` ("data", "fit", "extrapolation", "band",
"median", "band50", "band90", "truth", "frontier", "minimum", ...) so that scripts and tests can find them.

matplotlib is imported when a plot is drawn, not when lawfit is imported.
"""
from __future__ import annotations

import contextlib
import copy
import functools
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ._data import lookup_curves, plain, to_pandas

__all__ = ["curves", "contours", "iso_flop", "predicted_vs_observed", "residuals", "diagnostics", "fan",
           "coverage", "item_curves", "frontier", "result", "colors", "style", "PALETTE", "STYLE"]

#: The qualitative palette (Okabe & Ito's colour-blind-safe set without yellow and black, then Paul Tol's wine
#: and olive). Past its length :func:`colors` samples a perceptual colormap instead of repeating.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#999933")
_CMAP = "viridis"  # for more curves than PALETTE has colours (its light-yellow end is left out: unreadable on white)
_NEUTRAL = "0.35"  # legend keys that explain a mark's meaning rather than a curve

#: matplotlib rcParams applied while a lawfit plot is drawn.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.5,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.6,
    "lines.markersize": 4,
}

# Laws whose value is a power of the input: log x by default (and log y for the pure power laws).
_POWER_X = {"power_law", "coverage", "passuntil", "bnsl1", "bnsl2", "pow3", "pow4", "loglog_linear", "log_power",
            "mmf", "hill3", "vap", "ilog2"}
_POWER_Y = {"power_law", "bnsl1", "bnsl2"}
_INPUT_MEANING = {"N": "parameters", "D": "training tokens", "C": "training FLOPs", "k": "samples per problem"}


# ---- matplotlib, figures, style ----------------------------------------------------------------------------
def _mpl():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("lawfit.plot needs matplotlib (the 'plot' extra): pip install 'lawfit[plot]'") from None
    return matplotlib


def _styled(fn):
    """Draw under STYLE (restored afterwards)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        mpl = _mpl()
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _figure(path, figsize, nrows: int = 1, ncols: int = 1, **kw):
    """A figure with a grid of axes: off-screen (no pyplot) when saving to ``path``, from pyplot otherwise."""
    _mpl()
    if path is not None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
    else:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _axes(ax, path, figsize=(6.4, 4.2)):
    if ax is not None:
        return ax
    return _figure(path, figsize)[1][0, 0]


def _tidy_log_axes(fig) -> None:
    """Plain numbers (3.2, not 3.2x10^0) on log axes that span less than about a decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
    for ax in fig.axes:
        for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = sorted(lim)
            if axis.get_scale() != "log" or not lo > 0:
                continue
            decades = np.log10(hi / lo)
            if decades < np.log10(12):
                axis.set_major_formatter(fmt)
                axis.set_minor_formatter(fmt)
            elif decades < 3:  # matplotlib labels 2, 3, 4, 6 x 10^k here, and they collide: 2 and 5 (or 3) only
                plain_numbers = lo >= 1e-2 and hi <= 1e4  # 0.5, 2, 50 rather than 5x10^-1, 2x10^0, 5x10^1
                if plain_numbers:
                    axis.set_major_formatter(fmt)
                axis.set_minor_formatter(FuncFormatter(_minor_log_label({2, 5} if decades < 2 else {3},
                                                                        plain_numbers)))
            else:
                axis.set_minor_formatter(NullFormatter())


def _minor_log_label(keep: set, plain_numbers: bool):
    def label(v, _):
        if not v > 0:
            return ""
        e = int(np.floor(np.log10(v) + 1e-9))
        m = v / 10.0 ** e
        if round(m) in keep and abs(m - round(m)) < 1e-6:
            return f"{v:.3g}" if plain_numbers else f"$\\mathdefault{{{round(m)}\\times10^{{{e}}}}}$"
        return ""

    return label


def _save(fig, path, dpi: Optional[int] = None) -> None:
    _tidy_log_axes(fig)
    if path is not None:
        fig.savefig(path, dpi=dpi or STYLE["savefig.dpi"], bbox_inches="tight")


def colors(n: int) -> list:
    """``n`` distinct colours (RGBA tuples): :data:`PALETTE` for up to 8, else n evenly spaced viridis colours."""
    mpl = _mpl()
    n = int(n)
    if n <= len(PALETTE):
        return [mpl.colors.to_rgba(c) for c in PALETTE[:n]]
    cmap = mpl.colormaps[_CMAP]
    return [tuple(cmap(v)) for v in np.linspace(0.0, 0.9, n)]


def _key_proxy(kind: str, label: str, color=_NEUTRAL, **kw):
    """A legend entry for a kind of mark (not a curve): data dots, fit line, dashed extrapolation, band, ..."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if kind == "band":
        return Patch(facecolor=color, alpha=kw.get("alpha", 0.25), edgecolor="none", label=label)
    if kind == "marker":
        return Line2D([], [], linestyle="none", marker=kw.get("marker", "o"), color=color,
                      markersize=kw.get("markersize", 5), markeredgecolor=kw.get("markeredgecolor", color), label=label)
    return Line2D([], [], color=color, linestyle=kw.get("linestyle", "-"), linewidth=kw.get("linewidth", 1.6),
                  label=label)


def _legend(ax, handles, *, outside: Optional[bool] = None, title: Optional[str] = None):
    if not handles:
        return None
    if outside is None:
        outside = len(handles) > 9
    if outside:
        return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=title,
                         title_fontsize=8)
    return ax.legend(handles=handles, loc="best", title=title, title_fontsize=8)


def _fmt(v) -> str:
    v = plain(v)
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _curve_label(keys: pd.DataFrame, by: list, b: int, default: str = "fit") -> str:
    if not by:
        return default
    return ", ".join(f"{c}={_fmt(keys[c].iloc[b])}" for c in by)


def _positions(index: pd.Index, n: int, curves, max_curves: Optional[int], ok=None, op: str = "plot") -> np.ndarray:
    """Curve positions to draw: the curves named by ``curves`` (keys of ``index``: values of the by column, tuples
    for several; positions when the result has no by column), else the first ``max_curves`` (usable ones first
    when ``ok`` is given)."""
    if curves is None:
        pos = np.arange(n)
        if ok is not None:
            pos = np.concatenate([pos[ok], pos[~ok]])
        return pos[:max_curves] if max_curves is not None else pos
    if isinstance(curves, (str, bytes)) or not hasattr(curves, "__iter__"):
        curves = [curves]
    out = []
    for c in curves:
        if isinstance(index, pd.RangeIndex) and index.name == "curve":
            if not (isinstance(c, (int, np.integer)) and 0 <= c < n):
                raise ValueError(f"{op}: curves: {c!r} is not a curve position (0..{n - 1})")
            out.append(int(c))
            continue
        try:
            loc = index.get_loc(c)
        except KeyError:
            raise ValueError(f"{op}: curves: no curve with key {c!r}") from None
        if not isinstance(loc, (int, np.integer)):
            raise ValueError(f"{op}: curves: key {c!r} does not name one curve")
        out.append(int(loc))
    return np.asarray(out, dtype=np.int64)


def _one_curve(fit, curve, op: str) -> int:
    if curve is None:
        ok = np.flatnonzero(fit.ok)
        if not len(ok):
            raise ValueError(f"{op}: the fit has no curve with usable parameters")
        return int(ok[0])
    return int(_positions(fit.index, fit.n_curves, [curve], None, op=op)[0])


def _auto_log(flag, values, power: bool) -> bool:
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    if flag != "auto":
        raise ValueError(f"log scale flags are True, False or 'auto', got {flag!r}")
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v) or np.any(v <= 0):
        return False
    return power or v.max() / v.min() >= 100.0


def _data_rows(fit, data, op: str):
    """(DataFrame, curve index per row) of ``data`` rows that belong to the fit's curves."""
    df = to_pandas(data, name="data")
    missing = [c for c in [*fit.by, *fit.options["x"], fit.options["y"]] if c not in df.columns]
    if missing:
        raise ValueError(f"{op}: data has no column(s) {missing}; the fit used x={list(fit.options['x'])}, "
                         f"y={fit.options['y']!r}, by={fit.by}")
    idx = lookup_curves(fit.keys, fit.by, df)
    keep = idx >= 0
    return df[keep].reset_index(drop=True), idx[keep]


def _band_name(fit, level: float) -> str:
    src = "bootstrap" if fit.bootstrap_samples is not None else "delta method"
    return f"{level:.0%} interval of the law ({src})"


# ---- fit vs data -------------------------------------------------------------------------------------------
@_styled
def curves(fit, data=None, *, ax=None, path=None, curves=None, max_curves: int = 12, extend: float = 3.0, xlim=None,
           band: bool = True, level: float = 0.9, logx="auto", logy="auto", n: int = 200, legend_max: int = 16,
           title: Optional[str] = None):
    """Data and fitted curves of a one-input law against its input.

    Each curve's fitted line is solid over its observed x range and dashed beyond it, to ``extend`` times its
    largest observed x (so ``extend=3`` extrapolates to 3x the largest size; geometric steps on a log axis), or over
    ``xlim=(lo, hi)``. ``band``: a central ``level`` interval of the law, from the bootstrap samples when
    ``fit.bootstrap()`` was run, else from the covariance by the delta method (``FitResult.predict(interval=)``).
    ``logx``/``logy``: True, False or "auto" (log x for power-law families or inputs spanning two decades, log y for
    the pure power laws). ``curves``: keys of the curves to draw (default the first ``max_curves``). A law that
    transforms its inputs (e.g. lr_annealing) is drawn at the observed rows of ``data`` only."""
    law = fit.law
    xcols = list(fit.options["x"])
    if len(xcols) != 1 and law.transform is None:
        raise ValueError(f"curves: {law.name!r} has {len(xcols)} inputs; plot it with lawfit.plot.contours "
                         "(two inputs) or predicted_vs_observed")
    xc, yc = xcols[0], fit.options["y"]
    ext = float(extend)
    if not ext >= 1.0:
        raise ValueError(f"curves: extend must be >= 1 (a factor on the largest observed x), got {extend!r}")
    pos = _positions(fit.index, fit.n_curves, curves, max_curves, op="curves")
    df, idx = (None, None) if data is None else _data_rows(fit, data, "curves")
    if law.transform is not None and df is None:
        raise ValueError(f"curves: {law.name!r} transforms its inputs; pass the data to draw it at the observed rows")
    ax = _axes(ax, path)
    cols = colors(len(pos))

    # Observed x range per curve (from the data when given, else as fitted).
    lo = fit._xrange[pos, 0, 0].copy()
    hi = fit._xrange[pos, 0, 1].copy()
    if df is not None:
        xv = pd.to_numeric(df[xc], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            for j, b in enumerate(pos):
                v = xv[(idx == b) & np.isfinite(xv)]
                if len(v):
                    lo[j], hi[j] = v.min(), v.max()
    all_x = np.concatenate([lo, hi * ext]) if xlim is None else np.asarray(xlim, dtype=np.float64)
    logx = _auto_log(logx, all_x, law.name in _POWER_X)

    # Prediction rows of every drawn curve, one predict call.
    parts, seg = [], []
    for j, b in enumerate(pos):
        if law.transform is not None:
            sel = df[idx == b].sort_values(xc)
            parts.append(sel[[*fit.by, xc, *xcols[1:]]])
            seg.append(np.full(len(sel), j))
            continue
        a, z = (lo[j], hi[j] * ext) if xlim is None else (float(xlim[0]), float(xlim[1]))
        if not (np.isfinite(a) and np.isfinite(z)) or not fit.ok[b]:
            continue
        xs = np.geomspace(a, z, n) if (logx and a > 0) else np.linspace(a, z, n)
        xs = np.unique(np.concatenate([xs, [hi[j]] if a <= hi[j] <= z else []]))
        parts.append(pd.DataFrame({**{c: np.repeat(fit.keys[c].iloc[b], len(xs)) for c in fit.by}, xc: xs}))
        seg.append(np.full(len(xs), j))
    pred = None
    if parts:
        grid = pd.concat(parts, ignore_index=True)
        seg = np.concatenate(seg)
        want_band = band and (fit.bootstrap_samples is not None or np.isfinite(fit.covariance[pos]).any())
        pred = fit.predict(grid, interval=level if want_band else None)
        band = want_band
    else:
        band = False

    yvals = []
    handles = []
    for j, b in enumerate(pos):
        color = cols[j]
        label = _curve_label(fit.keys, fit.by, b)
        if not fit.ok[b]:
            label += f" (fit: {fit.status.iloc[b]})"
        if df is not None:
            sel = df[idx == b]
            yv = pd.to_numeric(sel[yc], errors="coerce").to_numpy(dtype=np.float64)
            ax.scatter(sel[xc], yv, s=12, color=color, alpha=0.75, linewidths=0, zorder=3, gid="data")
            yvals.append(yv)
        if pred is not None and np.any(seg == j):
            p = pred[seg == j]
            x, y = p[xc].to_numpy(dtype=np.float64), p["y_pred"].to_numpy()
            yvals.append(y)
            inside = x <= hi[j] * (1 + 1e-12) if law.transform is None else np.ones(len(x), dtype=bool)
            ax.plot(x[inside], y[inside], color=color, zorder=4, gid="fit")
            if (~inside).any():
                k0 = max(int(np.flatnonzero(~inside)[0]) - 1, 0)  # join the dashed part to the solid one
                ax.plot(x[k0:], y[k0:], color=color, linestyle="--", zorder=4, gid="extrapolation")
            if band:
                ax.fill_between(x, p["y_low"].to_numpy(), p["y_high"].to_numpy(), color=color, alpha=0.18,
                                linewidth=0, zorder=2, gid="band")
        if j < legend_max:
            handles.append(_key_proxy("line", label, color=color))
    if len(pos) > legend_max:
        handles.append(_key_proxy("line", f"... {len(pos) - legend_max} more curves (colour order as listed)",
                                  color="none"))
    if df is not None:
        handles.append(_key_proxy("marker", "data", markersize=4))
    handles.append(_key_proxy("line", "fitted law (observed range)"))
    if law.transform is None and pred is not None and (xlim is not None or ext > 1):
        handles.append(_key_proxy("line", "extrapolation", linestyle="--"))
    if band:
        handles.append(_key_proxy("band", _band_name(fit, level)))
    if logx:
        ax.set_xscale("log")
    yall = np.concatenate(yvals) if yvals else np.empty(0)
    yall = yall[np.isfinite(yall)]
    if logy == "auto":
        logy = law.name in _POWER_Y and len(yall) > 0 and bool(np.all(yall > 0))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xc)
    ax.set_ylabel(yc)
    ax.set_title(title if title is not None else f"{law.name}: {law.formula}")
    _legend(ax, handles)
    _save(ax.figure, path)
    return ax


# ---- two-input laws ----------------------------------------------------------------------------------------
def _nd_cols(fit, op: str) -> tuple:
    xcols = list(fit.options["x"])
    if len(xcols) != 2 or fit.law.transform is not None:
        raise ValueError(f"{op}: needs a law of two inputs; {fit.law.name!r} has inputs {tuple(fit.law.inputs)}")
    return xcols


def _axis_label(col: str, law_input: str) -> str:
    meaning = _INPUT_MEANING.get(law_input)
    return f"{col} ({meaning})" if meaning else str(col)


def _nice_levels(z: np.ndarray, n: int) -> np.ndarray:
    """About ``n`` increasing contour levels that split the grid's values evenly, rounded to 3 significant digits."""
    z = z[np.isfinite(z)]
    q = np.quantile(z, np.linspace(0.02, 0.98, int(n)))
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = 10.0 ** (np.floor(np.log10(np.abs(q))) - 2)
    q = np.where(np.isfinite(mag) & (mag > 0), np.round(q / mag) * mag, q)
    return np.unique(q)


@_styled
def contours(fit, data=None, *, curve=None, ax=None, path=None, extend: float = 3.0, levels: int = 12,
             frontier: bool = True, iso_flops: bool = True, k: float = 6.0, n: int = 120, cmap: str = "viridis",
             title: Optional[str] = None):
    """Iso-loss contours of a two-input law (chinchilla, kaplan, overtrain, ...) in the plane of its inputs (log
    axes), over the observed range of the data widened to ``extend`` times its largest values, with the data
    (coloured by their observed value on the contours' scale), dotted lines of constant compute C = k N D, and the
    compute-optimal frontier (for laws of (N, D), from :func:`lawfit.planning.frontier`) with its interval when the
    fit was bootstrapped (the span of N_opt along each iso-FLOP line). ``curve``: the key of the curve to draw
    (default: the first usable one)."""
    from . import planning

    c0, c1 = _nd_cols(fit, "contours")
    b = _one_curve(fit, curve, "contours")
    df, idx = (None, None) if data is None else _data_rows(fit, data, "contours")
    if df is not None:
        df = df[idx == b]
    lo, hi = fit._xrange[b, :, 0].copy(), fit._xrange[b, :, 1].copy()
    if df is not None and len(df):
        for j, c in enumerate((c0, c1)):
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
            v = v[np.isfinite(v) & (v > 0)]
            if len(v):
                lo[j], hi[j] = v.min(), v.max()
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo > 0)):
        raise ValueError("contours: no positive observed range of the inputs; pass the data")
    ext = float(extend)
    g0 = np.geomspace(lo[0] / 1.5, hi[0] * ext, n)
    g1 = np.geomspace(lo[1] / 1.5, hi[1] * ext, n)
    G0, G1 = np.meshgrid(g0, g1)
    grid = pd.DataFrame({**{c: np.repeat(fit.keys[c].iloc[b], G0.size) for c in fit.by}, c0: G0.ravel(),
                         c1: G1.ravel()})
    Z = fit.predict(grid)["y_pred"].to_numpy().reshape(G0.shape)
    lv = _nice_levels(Z, levels)
    ax = _axes(ax, path, figsize=(6.6, 4.8))
    cs = ax.contourf(G0, G1, Z, levels=lv, cmap=cmap, extend="both", alpha=0.9)
    cl = ax.contour(G0, G1, Z, levels=lv, colors="white", linewidths=0.5, alpha=0.8)
    ax.clabel(cl, cl.levels[::2], fmt="%.3g", fontsize=6.5)
    cb = ax.figure.colorbar(cs, ax=ax, pad=0.02)
    cb.set_label(f"predicted {fit.options['y']} (iso-loss contours)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    handles = []
    if df is not None and len(df):
        ax.scatter(df[c0], df[c1], c=pd.to_numeric(df[fit.options["y"]], errors="coerce"), cmap=cs.cmap, norm=cs.norm,
                   s=26, edgecolors="black", linewidths=0.6, zorder=5, gid="data")
        handles.append(_key_proxy("marker", f"runs (fill: observed {fit.options['y']})", color="white",
                                  markeredgecolor="black"))
    law_nd = tuple(fit.law.inputs) == ("N", "D")
    Cmin, Cmax = k * g0[0] * g1[0], k * g0[-1] * g1[-1]
    if iso_flops:
        for C in 10.0 ** np.arange(np.ceil(np.log10(Cmin)), np.floor(np.log10(Cmax)) + 1, 2):
            D = C / (k * g0)
            m = (D >= g1[0]) & (D <= g1[-1])
            if m.sum() < 2:
                continue
            ax.plot(g0[m], D[m], color="black", linestyle=(0, (1, 1.5)), linewidth=1.0, zorder=4, gid="iso_flop")
            i = int(np.flatnonzero(m)[len(np.flatnonzero(m)) // 5])
            ax.annotate(f"C={C:.0e}", (g0[i], D[i]), fontsize=6.5, color="black", ha="center", va="center",
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8),
                        zorder=6)
        handles.append(_key_proxy("line", f"constant compute C = {k:g} N D (FLOPs)", color="black",
                                  linestyle=(0, (1, 1.5)), linewidth=1.0))
    if frontier and law_nd and fit.ok[b]:
        C = np.geomspace(Cmin, Cmax, 80)
        interval = 0.9 if fit.bootstrap_samples is not None else None
        fr = planning.frontier(fit, C, k=k, interval=interval)
        fr = fr.iloc[b * len(C):(b + 1) * len(C)]
        N, D = fr["N"].to_numpy(), fr["D"].to_numpy()
        inside = (N >= g0[0]) & (N <= g0[-1]) & (D >= g1[0]) & (D <= g1[-1])
        if inside.sum() >= 2:
            if interval is not None:
                Nl, Nh = fr["N_low"].to_numpy()[inside], fr["N_high"].to_numpy()[inside]
                Cs = C[inside]
                poly_x = np.concatenate([Nl, Nh[::-1]])
                poly_y = np.concatenate([Cs / (k * Nl), (Cs / (k * Nh))[::-1]])
                ax.fill(poly_x, poly_y, facecolor="#D55E00", alpha=0.18, edgecolor="none", zorder=5,
                        gid="frontier_band")
                ax.plot(Nl, Cs / (k * Nl), color="#D55E00", linewidth=0.8, linestyle="--", zorder=5)
                ax.plot(Nh, Cs / (k * Nh), color="#D55E00", linewidth=0.8, linestyle="--", zorder=5)
                handles.append(_key_proxy("band", "90% interval of the frontier (bootstrap)", color="#D55E00",
                                          alpha=0.3))
            ax.plot(N[inside], D[inside], color="#D55E00", linewidth=2.0, zorder=6, gid="frontier")
            handles.append(_key_proxy("line", "compute-optimal frontier", color="#D55E00", linewidth=2.0))
    ax.set_xlim(g0[0], g0[-1])
    ax.set_ylim(g1[0], g1[-1])
    ax.set_xlabel(_axis_label(c0, fit.law.inputs[0]))
    ax.set_ylabel(_axis_label(c1, fit.law.inputs[1]))
    if title is None:
        title = f"{fit.law.name}: iso-loss contours"
        if fit.by:
            title += f" ({_curve_label(fit.keys, fit.by, b)})"
    ax.set_title(title)
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    _save(ax.figure, path)
    return ax


def _default_budgets(fit, b: int, data_c, k: float, count: int = 5) -> np.ndarray:
    if data_c is not None and len(data_c):
        a, z = np.nanmin(data_c), np.nanmax(data_c) * 10.0
    else:
        xr = fit._xrange[b]
        a, z = k * xr[0, 0] * xr[1, 0], k * xr[0, 1] * xr[1, 1] * 10.0
    if not (np.isfinite(a) and np.isfinite(z) and a > 0):
        a, z = 1e18, 1e24
    e = np.arange(np.ceil(np.log10(a)), np.floor(np.log10(z)) + 1)
    if len(e) < 3:
        return np.geomspace(a, z, count)
    if len(e) > count:
        e = e[np.unique(np.linspace(0, len(e) - 1, count).round().astype(int))]
    return 10.0 ** e


@_styled
def iso_flop(fit, compute=None, *, data=None, curve=None, ax=None, path=None, n: int = 81, span: float = 30.0,
             k: float = 6.0, title: Optional[str] = None):
    """Iso-FLOP curves: the predicted loss against N at fixed compute C = k N D (D = C / (k N)) for each budget in
    ``compute`` (default: powers of ten across the data's compute and 10x beyond), from N_opt/span to N_opt*span,
    with each curve's minimum (the compute-optimal N) marked and joined across budgets. With ``data``, the runs
    whose compute lies within a factor 1.5 of a budget are drawn in its colour."""
    from . import planning

    c0, c1 = _nd_cols(fit, "iso_flop")
    if tuple(fit.law.inputs) != ("N", "D"):
        raise ValueError(f"iso_flop: needs a law of inputs (N, D); {fit.law.name!r} has {tuple(fit.law.inputs)}")
    b = _one_curve(fit, curve, "iso_flop")
    df = None
    data_c = None
    if data is not None:
        df, idx = _data_rows(fit, data, "iso_flop")
        df = df[idx == b]
        data_c = k * pd.to_numeric(df[c0], errors="coerce").to_numpy() * pd.to_numeric(df[c1], errors="coerce").to_numpy()
    C = _default_budgets(fit, b, data_c, k) if compute is None else np.atleast_1d(np.asarray(compute, dtype=float))
    sl = planning.iso_flop(fit, C, n=n, span=span, k=k)
    m = len(sl) // fit.n_curves
    sl = sl.iloc[b * m:(b + 1) * m]
    ax = _axes(ax, path)
    cols = colors(len(C))
    handles, mins = [], []
    for j, Cj in enumerate(C):
        s = sl[np.isclose(sl["compute"].to_numpy(), Cj, rtol=1e-12)]
        ax.plot(s["N"], s["loss"], color=cols[j], zorder=3, gid="iso_flop")
        best = s[s["is_optimal"]]
        ax.scatter(best["N"], best["loss"], s=40, marker="o", facecolor=cols[j], edgecolor="black", linewidths=0.8,
                   zorder=5, gid="minimum")
        mins.append((float(best["N"].iloc[0]), float(best["loss"].iloc[0])))
        handles.append(_key_proxy("line", f"C = {Cj:.1e} FLOPs", color=cols[j]))
        if data_c is not None:
            near = np.abs(np.log(data_c / Cj)) < np.log(1.5)
            if near.any():
                ax.scatter(df[c0][near], df[fit.options["y"]][near], s=16, color=cols[j], alpha=0.8, marker="s",
                           linewidths=0, zorder=4, gid="data")
    mins = np.array(mins)
    ax.plot(mins[:, 0], mins[:, 1], color="0.3", linestyle="--", linewidth=0.9, zorder=4, gid="optimal_path")
    handles.append(_key_proxy("marker", "minimum: compute-optimal N", color="white", markeredgecolor="black",
                              markersize=6))
    handles.append(_key_proxy("line", "compute-optimal N across budgets", color="0.3", linestyle="--", linewidth=0.9))
    if data_c is not None:
        handles.append(_key_proxy("marker", "runs within 1.5x of a budget", marker="s"))
    ax.set_xscale("log")
    ax.set_xlabel(_axis_label(c0, "N"))
    ax.set_ylabel(f"predicted {fit.options['y']}")
    if title is None:
        title = f"{fit.law.name}: iso-FLOP curves (D = C / ({k:g} N))"
    ax.set_title(title)
    _legend(ax, handles)
    _save(ax.figure, path)
    return ax


# ---- goodness of fit ----------------------------------------------------------------------------------------
def _observed_predicted(fit, data, op: str):
    df, idx = _data_rows(fit, data, op)
    y = pd.to_numeric(df[fit.options["y"]], errors="coerce").to_numpy(dtype=np.float64)
    f = fit.predict(df)["y_pred"].to_numpy()
    ok = np.isfinite(y) & np.isfinite(f)
    log = fit.options.get("space", "linear") == "log"
    if log:
        ok &= (y > 0) & (f > 0)
    w = fit.options.get("weight")
    if w is not None and w in df.columns:
        ok &= pd.to_numeric(df[w], errors="coerce").to_numpy() > 0
    return df[ok].reset_index(drop=True), idx[ok], y[ok], f[ok], log


def _point_colors(fit, idx, max_curves: int):
    """Per point colours (a colour per curve when there are at most max_curves curves) and legend handles."""
    used = np.unique(idx)
    if len(used) <= max_curves and fit.by:
        cols = colors(len(used))
        where = {int(b): j for j, b in enumerate(used)}
        pc = np.array([cols[where[int(b)]] for b in idx]) if len(idx) else np.empty((0, 4))
        handles = [_key_proxy("marker", _curve_label(fit.keys, fit.by, int(b)), color=cols[j])
                   for j, b in enumerate(used)]
        return pc, handles
    c = colors(1)[0]
    return np.array([c] * len(idx)) if len(idx) else np.empty((0, 4)), []


@_styled
def predicted_vs_observed(fit, data, *, ax=None, path=None, max_curves: int = 10, log="auto",
                          title: Optional[str] = None):
    """Predicted against observed values for every row of ``data`` (a colour per curve up to ``max_curves``),
    with the identity line and, in a corner, the number of points, R^2 and the median relative error."""
    df, idx, y, f, log_space = _observed_predicted(fit, data, "predicted_vs_observed")
    ax = _axes(ax, path, figsize=(5.0, 4.6))
    pc, handles = _point_colors(fit, idx, max_curves)
    ax.scatter(y, f, c=pc, s=14, alpha=0.8, linewidths=0, zorder=3, gid="data")
    both = np.concatenate([y, f])
    lo, hi = (np.min(both), np.max(both)) if len(both) else (0.0, 1.0)
    uselog = _auto_log(log, both, log_space) if log == "auto" else bool(log)
    if uselog:
        ax.set_xscale("log")
        ax.set_yscale("log")
        pad = (hi / lo) ** 0.05 if lo > 0 else 1.0
        lim = (lo / pad, hi * pad)
    else:
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        lim = (lo - pad, hi + pad)
    ax.plot(lim, lim, color="black", linewidth=0.9, linestyle="--", zorder=2, gid="identity")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_aspect("equal", adjustable="box")
    if len(y) > 1:
        r, t = (np.log(y), np.log(f)) if log_space else (y, f)
        ss_res, ss_tot = np.sum((r - t) ** 2), np.sum((r - r.mean()) ** 2)
        r2 = 1 - ss_res / ss_tot if ss_tot > 0 else np.nan
        rel = np.median(np.abs(f / y - 1)) if np.all(y != 0) else np.nan
        ax.text(0.03, 0.97, f"{len(y)} points\nR$^2$ = {r2:.4f}{' (log)' if log_space else ''}\n"
                f"median |rel. error| = {rel:.2%}", transform=ax.transAxes, va="top", ha="left", fontsize=7.5)
    handles = handles + [_key_proxy("line", "perfect prediction (y = x)", color="black", linestyle="--",
                                    linewidth=0.9)]
    if not fit.by or len(np.unique(idx)) > max_curves:
        handles.insert(0, _key_proxy("marker", "data", color=colors(1)[0]))
    ax.set_xlabel(f"observed {fit.options['y']}")
    ax.set_ylabel(f"predicted {fit.options['y']}")
    ax.set_title(title if title is not None else f"{fit.law.name}: predicted vs observed")
    _legend(ax, handles, outside=len(handles) > 6)
    _save(ax.figure, path)
    return ax


@_styled
def residuals(fit, data, *, kind: str = "hist", ax=None, path=None, bins="auto", max_curves: int = 10,
              title: Optional[str] = None):
    """Residuals of the fit in the space it was fitted in (log y - log f for ``space="log"``, y - f otherwise):
    ``kind="hist"`` a histogram with the normal density of the same mean and sd; ``kind="x"`` against the first
    input (log axis when it spans two decades), a colour per curve up to ``max_curves``."""
    if kind not in ("hist", "x"):
        raise ValueError(f"residuals: kind must be 'hist' or 'x', got {kind!r}")
    df, idx, y, f, log_space = _observed_predicted(fit, data, "residuals")
    r = np.log(y) - np.log(f) if log_space else y - f
    what = "log y − log f" if log_space else "y − f"
    ax = _axes(ax, path, figsize=(5.2, 3.8))
    c = colors(1)[0]
    if kind == "hist":
        ax.hist(r, bins=bins, color=c, alpha=0.75, edgecolor="white", linewidth=0.5, density=True, gid="hist",
                label=f"residuals ({len(r)} points)")
        if len(r) > 1 and np.std(r) > 0:
            m, s = float(np.mean(r)), float(np.std(r, ddof=1))
            t = np.linspace(r.min() - s, r.max() + s, 200)
            ms = "0" if abs(m) < 1e-6 * s else f"{m:.2g}"
            ax.plot(t, np.exp(-0.5 * ((t - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)), color="#D55E00", gid="normal",
                    label=f"normal (mean {ms}, sd {s:.2g})")
        ax.axvline(0.0, color="black", linewidth=0.8, linestyle="--", label="zero")
        ax.set_xlabel(f"residual ({what})")
        ax.set_ylabel("density")
        ax.legend(loc="upper left")
    else:
        xc = fit.options["x"][0]
        xv = pd.to_numeric(df[xc], errors="coerce").to_numpy(dtype=np.float64)
        pc, handles = _point_colors(fit, idx, max_curves)
        ax.scatter(xv, r, c=pc, s=14, alpha=0.8, linewidths=0, zorder=3, gid="data")
        ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
        if _auto_log("auto", xv, fit.law.name in _POWER_X or len(fit.options["x"]) > 1):
            ax.set_xscale("log")
        ax.set_xlabel(xc)
        ax.set_ylabel(f"residual ({what})")
        handles = handles or [_key_proxy("marker", "residual", color=c)]
        _legend(ax, handles + [_key_proxy("line", "zero", color="black", linestyle="--", linewidth=0.8)])
    ax.set_title(title if title is not None else f"{fit.law.name}: residuals")
    _save(ax.figure, path)
    return ax


@_styled
def diagnostics(fit, data, *, path=None, max_curves: int = 10):
    """One figure of three panels: predicted vs observed, the residual histogram, residuals against the first
    input. Returns the Figure."""
    fig, axes = _figure(path, (13.5, 4.0), 1, 3)
    predicted_vs_observed(fit, data, ax=axes[0, 0], max_curves=max_curves)
    residuals(fit, data, kind="hist", ax=axes[0, 1])
    residuals(fit, data, kind="x", ax=axes[0, 2], max_curves=max_curves,
              title=f"residuals against {fit.options['x'][0]}")
    _save(fig, path)
    return fig


# ---- learning-curve forecasts --------------------------------------------------------------------------------
def _subset(forecast, pos: np.ndarray):
    """A shallow copy of an Extrapolation holding the curves at ``pos`` only (every per-curve array sliced). Each
    curve's draws are keyed by its own hash, so the copy predicts exactly what the whole forecast predicts."""
    C = forecast.n_curves
    sub = copy.copy(forecast)
    for name, v in vars(forecast).items():
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == C:
            setattr(sub, name, v[pos])
        elif isinstance(v, pd.DataFrame) and len(v) == C:
            setattr(sub, name, v.iloc[pos].reset_index(drop=True))
    return sub


def _fan_levels(levels) -> tuple:
    lv = tuple(sorted(float(v) for v in levels))
    if not lv or any(not 0 < v < 1 for v in lv):
        raise ValueError(f"fan: levels must be central interval levels in (0, 1), got {levels!r}")
    return lv


def _truth_rows(truth, forecast, x: str, y: str):
    """``truth`` as (DataFrame of full curves with curve index per row) or (values at the horizon [C])."""
    if isinstance(truth, pd.Series) and not isinstance(truth.index, pd.RangeIndex):
        return None, truth.reindex(forecast.index).to_numpy(dtype=np.float64)
    if isinstance(truth, (pd.Series, np.ndarray, list, tuple)):
        v = np.asarray(truth, dtype=np.float64).reshape(-1)
        if len(v) != forecast.n_curves:
            raise ValueError(f"fan: truth holds {len(v)} values; give one per curve ({forecast.n_curves}) or the "
                             "full curves as a table")
        return None, v
    tdf = to_pandas(truth, name="truth")
    for c in [*forecast.by, x, y]:
        if c not in tdf.columns:
            raise ValueError(f"fan: truth has no column {c!r}")
    return (tdf, lookup_curves(forecast.keys, forecast.by, tdf)), None


@_styled
def fan(forecast, data, *, y: Optional[str] = None, truth=None, curves=None, max_curves: int = 6,
        levels: Sequence[float] = (0.5, 0.9), ncols: int = 3, n: int = 60, logx: bool = False, ax=None, path=None,
        title: Optional[str] = None):
    """Forecast fans of learning curves: for each curve, its observed prefix (``data``, the rows the forecast was
    made from), the predictive median and central ``levels`` bands (50% and 90%) from the first observed step to the
    horizon, and the truth when known (``truth``: the full curves as a table with the same columns, or the values at
    the horizon, one per curve or a Series indexed by the curve keys).

    ``forecast``: an :class:`~lawfit.extrapolation.Extrapolation` (posterior predictive at every step) or a
    :class:`~lawfit.reference.ReferenceForecast` (calibrated quantiles at the horizon only: drawn as interval bars at
    the horizon, joined to the last observed value by a dotted line, since no path is forecast). ``y``: the metric
    column (an Extrapolation knows it; for a ReferenceForecast it is the one column of ``data`` that is neither
    the step nor a key, or must be given). ``curves``: keys of the curves (default: the first ``max_curves`` usable
    ones), one panel each, ``ncols`` per row; with ``ax`` exactly one curve is drawn there and the Axes returned,
    otherwise the Figure."""
    is_ext = hasattr(forecast, "predictive_samples")
    if not is_ext and not hasattr(forecast, "quantiles_at"):
        raise ValueError(f"fan: expected an Extrapolation or a ReferenceForecast, got {type(forecast).__name__}")
    x = forecast.x
    df = to_pandas(data, name="data")
    if y is None:
        y = getattr(forecast, "y", None)
    if y is None:
        rest = [c for c in df.columns if c not in (x, *forecast.by) and pd.api.types.is_numeric_dtype(df[c])]
        if len(rest) != 1:
            raise ValueError(f"fan: give y= (the metric column); data has the numeric columns {rest}")
        y = rest[0]
    for c in [*forecast.by, x, y]:
        if c not in df.columns:
            raise ValueError(f"fan: data has no column {c!r}")
    lv = _fan_levels(levels)
    pos = _positions(forecast.index, forecast.n_curves, curves, max_curves, ok=np.asarray(forecast.ok), op="fan")
    if ax is not None and len(pos) != 1:
        raise ValueError(f"fan: ax= draws one curve; {len(pos)} were selected (pass curves=[key] or leave ax=None)")
    idx = lookup_curves(forecast.keys, forecast.by, df)
    tv = _truth_rows(truth, forecast, x, y) if truth is not None else (None, None)
    tcurves, tvals = tv

    # The predictive of the drawn curves.
    qs = sorted({0.5, *[(1 - v) / 2 for v in lv], *[(1 + v) / 2 for v in lv]})
    if is_ext:
        sub = _subset(forecast, pos)
        xcol = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=np.float64)
        t0 = np.array([np.min(xcol[(idx == b) & (xcol >= 1)], initial=np.inf) for b in pos])
        t0 = np.where(np.isfinite(t0), t0, 1.0)
        hz = np.asarray(sub.horizon, dtype=np.float64)
        u = np.linspace(0.0, 1.0, n)
        if logx:
            T = np.exp(np.log(t0)[:, None] + (np.log(np.maximum(hz, t0)) - np.log(t0))[:, None] * u[None, :])
        else:
            T = t0[:, None] + (np.maximum(hz, t0) - t0)[:, None] * u[None, :]
        T = np.where(np.isfinite(T), T, 1.0)
        d = sub.predictive_samples(T)  # [c, S, n]
        with np.errstate(invalid="ignore"):
            Q = np.nanquantile(np.where(np.isfinite(d), d, np.nan), qs, axis=1) if np.isfinite(d).any() else \
                np.full((len(qs), len(pos), n), np.nan)  # [q, c, n]
    else:
        Qh = forecast.quantiles_at(qs)[pos]  # [c, q]

    if ax is None:
        nc = min(int(ncols), len(pos))
        nr = int(np.ceil(len(pos) / nc))
        fig, axs = _figure(path, (3.6 * nc + 0.4, 2.9 * nr + 0.6), nr, nc)
        axs = list(axs.ravel())
        for a in axs[len(pos):]:
            a.set_visible(False)
    else:
        fig, axs = ax.figure, [ax]
    c_obs, c_fc = PALETTE[0], PALETTE[1]
    alphas = np.linspace(0.4, 0.15, len(lv))
    for j, b in enumerate(pos):
        a = axs[j]
        sel = df[idx == b].sort_values(x)
        xs = pd.to_numeric(sel[x], errors="coerce").to_numpy(dtype=np.float64)
        ys = pd.to_numeric(sel[y], errors="coerce").to_numpy(dtype=np.float64)
        if tcurves is not None:
            tdf, tidx = tcurves
            ts = tdf[tidx == b].sort_values(x)
            a.plot(ts[x], ts[y], color="black", linewidth=0.9, zorder=3, gid="truth")
        if is_ext:
            for i, v in enumerate(lv):
                lo_q, hi_q = qs.index((1 - v) / 2), qs.index((1 + v) / 2)
                a.fill_between(T[j], Q[lo_q, j], Q[hi_q, j], color=c_fc, alpha=alphas[i], linewidth=0, zorder=2,
                               gid=f"band{round(100 * v)}")
            a.plot(T[j], Q[qs.index(0.5), j], color=c_fc, zorder=4, gid="median")
            hzj = hz[j]
        else:
            hzj = float(np.asarray(forecast.horizon)[b]) if np.ndim(forecast.horizon) else float(forecast.horizon)
            med = Qh[j, qs.index(0.5)]
            lx = float(np.asarray(forecast.last_x)[b]) if len(xs) == 0 else xs[-1]
            ly = ys[-1] if len(ys) else np.nan
            a.plot([lx, hzj], [ly, med], color=c_fc, linestyle=":", zorder=4, gid="median_path")
            for i, v in enumerate(lv[::-1]):
                lo_q, hi_q = qs.index((1 - v) / 2), qs.index((1 + v) / 2)
                a.plot([hzj, hzj], [Qh[j, lo_q], Qh[j, hi_q]], color=c_fc, linewidth=2.0 + 4.0 * i,
                       alpha=float(alphas[::-1][i]) + 0.3, solid_capstyle="butt", zorder=4,
                       gid=f"band{round(100 * v)}")
            a.scatter([hzj], [med], marker="D", s=24, color=c_fc, zorder=5, gid="median")
        if tvals is not None and np.isfinite(tvals[b]):
            a.scatter([hzj], [tvals[b]], marker="*", s=70, color="black", zorder=6, gid="truth")
        a.scatter(xs, ys, s=10, color=c_obs, zorder=5, gid="data")
        if len(xs):
            a.axvline(xs[-1], color="0.5", linewidth=0.7, linestyle="--", zorder=1)
        if logx:
            a.set_xscale("log")
        a.set_title(_curve_label(forecast.keys, forecast.by, b, default="curve") if title is None or len(pos) > 1
                    else title, fontsize=9)
        a.set_xlabel(x)
        a.set_ylabel(y)
        if not forecast.ok[b]:
            a.text(0.5, 0.5, f"not forecast: {forecast.status.iloc[b]}", transform=a.transAxes, ha="center",
                   fontsize=8, color="0.3")
    handles = [_key_proxy("marker", "observed (the forecast's input)", color=c_obs)]
    if is_ext:
        handles.append(_key_proxy("line", "predictive median", color=c_fc))
    else:
        handles.append(_key_proxy("marker", "forecast median at the horizon", color=c_fc, marker="D"))
        handles.append(_key_proxy("line", "last observed → forecast (no path forecast)", color=c_fc, linestyle=":"))
    for i, v in enumerate(lv):
        handles.append(_key_proxy("band", f"{v:.0%} predictive interval", color=c_fc, alpha=float(alphas[i]) +
                                  (0.0 if is_ext else 0.3)))
    handles.append(_key_proxy("line", "last observed step", color="0.5", linestyle="--", linewidth=0.7))
    if tcurves is not None:
        handles.append(_key_proxy("line", "truth (full curve)", color="black", linewidth=0.9))
    if tvals is not None:
        handles.append(_key_proxy("marker", "truth at the horizon", color="black", marker="*", markersize=8))
    if ax is not None:
        _legend(ax, handles)
        _save(fig, path)
        return ax
    kind = "Bayesian ensemble (lawfit.extrapolate)" if is_ext else "sweep-aware forecast (reference curves)"
    fig.suptitle(title if title is not None else f"learning-curve forecasts: {kind}", fontsize=10)
    if tuple(int(v) for v in _mpl().__version__.split(".")[:2]) >= (3, 7):
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
    else:  # (no "outside" legend placement before matplotlib 3.7: below the axes, kept by bbox_inches="tight")
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 4),
                   frameon=False)
    _save(fig, path)
    return fig


# ---- evaluation ----------------------------------------------------------------------------------------------
@_styled
def coverage(results, *, k=None, ax=None, path=None, extend: float = 10.0, targets: Sequence[float] = (),
             title: Optional[str] = None):
    """Coverage (pass@k against k) curves. ``results``: a :class:`~lawfit.evals.CoverageResult` (observed mean
    pass@k as dots, the fitted curve solid over the observed k and dashed to ``extend`` times the largest, its
    bootstrap interval shaded), a :func:`~lawfit.evals.pass_curve` table (k, estimate, low, high: dots with error
    bars), or a dict of label -> either (a colour each). ``k``: the k grid of the fitted curves (default log-spaced).
    ``targets``: coverage levels whose required k (:meth:`CoverageResult.samples_for`, with its interval) is
    marked."""
    from .evals import CoverageResult

    items = dict(results) if isinstance(results, dict) else {None: results}
    ax = _axes(ax, path)
    cols = colors(len(items))
    handles = []
    level = None
    any_fit = any_table = False
    for j, (label, r) in enumerate(items.items()):
        c = cols[j]
        if isinstance(r, CoverageResult):
            any_fit = True
            level = r.level
            obs = r.observed
            kmax = float(obs["k"].max())
            kk = np.geomspace(1.0, kmax * float(extend), 200) if k is None else np.asarray(k, dtype=np.float64)
            kk = np.unique(np.concatenate([kk, [kmax]]))
            pr = r.predict(kk)
            inside = kk <= kmax
            ax.fill_between(kk, pr["low"], pr["high"], color=c, alpha=0.2, linewidth=0, gid="band")
            ax.plot(kk[inside], pr["coverage"][inside], color=c, gid="fit")
            if (~inside).any():
                k0 = max(int(np.flatnonzero(~inside)[0]) - 1, 0)
                ax.plot(kk[k0:], pr["coverage"].to_numpy()[k0:], color=c, linestyle="--", gid="extrapolation")
            ax.scatter(obs["k"], obs["coverage"], s=16, color=c, zorder=4, edgecolors="white", linewidths=0.5,
                       gid="data")
            name = f"{label} ({r.method} fit)" if label is not None else f"{r.method} fit"
            if r.status not in ("CONVERGED", "MAX_ITER"):
                name += f", status {r.status}"
            handles.append(_key_proxy("line", name, color=c))
            for tg in targets:
                s = r.samples_for([tg]).iloc[0]
                if np.isfinite(s["k"]):
                    xerr = [[max(s["k"] - s["low"], 0)], [max(s["high"] - s["k"], 0)]] if np.isfinite(
                        s["low"]) and np.isfinite(s["high"]) else None
                    ax.errorbar([s["k"]], [tg], xerr=xerr, fmt="o", color=c, markeredgecolor="black", capsize=3,
                                zorder=5, gid="target")
        else:
            any_table = True
            t = to_pandas(r, name="results")
            for col in ("k", "estimate"):
                if col not in t.columns:
                    raise ValueError(f"coverage: a pass_curve table needs columns k, estimate (low, high); "
                                     f"missing {col!r}")
            yerr = None
            if {"low", "high"} <= set(t.columns):
                yerr = np.vstack([t["estimate"] - t["low"], t["high"] - t["estimate"]]).clip(0)
            ax.errorbar(t["k"], t["estimate"], yerr=yerr, fmt="o-", color=c, capsize=2, markersize=4, linewidth=1.0,
                        gid="pass_curve")
            handles.append(_key_proxy("line", f"{label if label is not None else 'pass@k'} (mean over problems)",
                                      color=c))
    for tg in targets:
        ax.axhline(tg, color="0.4", linewidth=0.7, linestyle=":")
    if any_fit:
        handles.append(_key_proxy("marker", "observed mean pass@k"))
        handles.append(_key_proxy("line", "extrapolation", linestyle="--"))
        handles.append(_key_proxy("band", f"{level:.0%} bootstrap interval"))
    if any_table:
        handles.append(_key_proxy("line", "pass_curve estimate with its interval", linewidth=1.0))
    if targets and any_fit:
        handles.append(_key_proxy("marker", "samples needed for the target (interval)", markeredgecolor="black"))
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("samples per problem k")
    ax.set_ylabel("coverage (pass@k)")
    ax.set_title(title if title is not None else "coverage")
    _legend(ax, handles)
    _save(ax.figure, path)
    return ax


@_styled
def item_curves(model, items=None, *, max_items: int = 8, theta=(-4.0, 4.0), abilities: bool = True, ax=None,
                path=None, title: Optional[str] = None):
    """IRT item characteristic curves of a :func:`lawfit.evals.fit_irt` model: P(correct) against ability for
    ``items`` (names or positions; default ``max_items`` items spread over the difficulty range), a colour each,
    labelled with their discrimination a and difficulty b (P = sigmoid(a theta - b)), with the fitted models'
    abilities as a rug. Multidimensional models are drawn along the first ability dimension, the others at 0."""
    tab = model.items
    names = list(tab.index)
    a_all = np.asarray(model._a, dtype=np.float64)
    b_all = np.asarray(model._b, dtype=np.float64)
    fitted = np.flatnonzero(np.isfinite(b_all))
    if items is None:
        order = fitted[np.argsort(b_all[fitted] / np.where(a_all[fitted, 0] != 0, a_all[fitted, 0], 1.0))]
        sel = order[np.unique(np.linspace(0, len(order) - 1, min(max_items, len(order))).round().astype(int))]
    else:
        its = [items] if isinstance(items, (str, int, np.integer)) else list(items)
        lookup = {n_: i for i, n_ in enumerate(model.item_names)}
        sel = []
        for it in its:
            if isinstance(it, (int, np.integer)) and it not in lookup:
                if not 0 <= it < len(b_all):
                    raise ValueError(f"item_curves: item position {it} outside 0..{len(b_all) - 1}")
                sel.append(int(it))
            elif it in lookup:
                sel.append(lookup[it])
            else:
                raise ValueError(f"item_curves: unknown item {it!r}")
        sel = np.asarray(sel, dtype=np.int64)
    t = np.linspace(float(theta[0]), float(theta[1]), 300)
    T = np.zeros((len(t), model.dim))
    T[:, 0] = t
    P = model.predict_proba(T)  # [G, I]
    ax = _axes(ax, path)
    cols = colors(len(sel))
    handles = []
    for j, i in enumerate(sel):
        ax.plot(t, P[:, i], color=cols[j], gid="icc")
        aa = a_all[i, 0] if model.model != "rasch" else 1.0
        handles.append(_key_proxy("line", f"{model.item_names[i]} (a={aa:.2f}, b={b_all[i]:.2f})", color=cols[j]))
    if abilities:
        th = np.asarray(model._theta, dtype=np.float64)[:, 0]
        th = th[np.isfinite(th)]
        ax.plot(th, np.full(len(th), -0.015), linestyle="none", marker="|", markersize=8, color="0.3", alpha=0.6,
                gid="abilities", clip_on=False)
        handles.append(_key_proxy("marker", f"fitted abilities of the {len(th)} models", marker="|", markersize=8))
    ax.axhline(0.5, color="0.6", linewidth=0.6, linestyle=":")
    ax.set_ylim(-0.04, 1.02)
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("ability θ" + (" (first dimension; others at 0)" if model.dim > 1 else ""))
    ax.set_ylabel("P(correct)")
    ax.set_title(title if title is not None else f"item characteristic curves ({model.model})")
    _legend(ax, handles, outside=True, title="item (discrimination a, difficulty b)")
    _save(ax.figure, path)
    return ax


# ---- planning -------------------------------------------------------------------------------------------------
@_styled
def frontier(fit, compute=None, *, data=None, interval: Optional[float] = "auto", max_curves: int = 8, ax=None,
             path=None, n: int = 50, k: float = 6.0, title: Optional[str] = None):
    """The compute-optimal frontier of a law of (N, D): N_opt (solid) and D_opt (dashed) against training compute
    C = k N D (:func:`lawfit.planning.frontier`), with its interval (shaded) over the bootstrap samples when the fit
    was bootstrapped (``interval="auto"``: 0.9 then, none otherwise; or a level; or None). ``compute``: the budgets
    (default: n budgets from the smallest observed compute to 100x the largest, or 1e18 to 1e26 without a record
    of the data). ``data``: the runs as dots at (k N D, N) and (k N D, D)."""
    from . import planning

    _nd_cols(fit, "frontier")
    if compute is None:
        xr = fit._xrange
        a = k * np.nanmin(xr[:, 0, 0] * xr[:, 1, 0]) if np.isfinite(xr).any() else np.nan
        z = k * np.nanmax(xr[:, 0, 1] * xr[:, 1, 1]) * 100.0 if np.isfinite(xr).any() else np.nan
        compute = np.geomspace(a, z, int(n)) if np.isfinite(a) and np.isfinite(z) and a > 0 else None
    if interval == "auto":
        interval = 0.9 if fit.bootstrap_samples is not None else None
    fr = planning.frontier(fit, compute, n=n, k=k, interval=interval)
    pos = _positions(fit.index, fit.n_curves, None, max_curves, ok=fit.ok)
    m = len(fr) // max(fit.n_curves, 1)
    ax = _axes(ax, path)
    single = len(pos) == 1
    cols = colors(2 if single else len(pos))
    handles = []
    for j, b in enumerate(pos):
        s = fr.iloc[b * m:(b + 1) * m]
        C = s["compute"].to_numpy()
        cN, cD = (cols[0], cols[1]) if single else (cols[j], cols[j])
        for q, c, ls in (("N", cN, "-"), ("D", cD, "--")):
            if interval is not None:
                ax.fill_between(C, s[f"{q}_low"], s[f"{q}_high"], color=c, alpha=0.2, linewidth=0,
                                gid=f"band_{q}")
            ax.plot(C, s[q], color=c, linestyle=ls, gid=f"frontier_{q}")
        label = _curve_label(fit.keys, fit.by, b, default=fit.law.name)
        if single:
            handles += [_key_proxy("line", "N_opt: parameters", color=cN),
                        _key_proxy("line", "D_opt: training tokens", color=cD, linestyle="--")]
        else:
            handles.append(_key_proxy("line", label, color=cols[j]))
    if not single:
        handles += [_key_proxy("line", "N_opt: parameters"), _key_proxy("line", "D_opt: tokens", linestyle="--")]
    if interval is not None:
        handles.append(_key_proxy("band", f"{interval:.0%} interval over the bootstrap"))
    if data is not None:
        df, idx = _data_rows(fit, data, "frontier")
        c0, c1 = fit.options["x"]
        Nv = pd.to_numeric(df[c0], errors="coerce").to_numpy(dtype=np.float64)
        Dv = pd.to_numeric(df[c1], errors="coerce").to_numpy(dtype=np.float64)
        ax.scatter(k * Nv * Dv, Nv, s=12, marker="o", color="0.35", zorder=4, gid="data")
        ax.scatter(k * Nv * Dv, Dv, s=12, marker="s", facecolor="none", edgecolor="0.35", zorder=4, gid="data")
        handles += [_key_proxy("marker", "runs: N"),
                    _key_proxy("marker", "runs: D", color="none", marker="s", markeredgecolor=_NEUTRAL)]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"training compute C = {k:g} N D (FLOPs)")
    ax.set_ylabel("parameters N / tokens D")
    ax.set_title(title if title is not None else f"compute-optimal frontier ({fit.law.name})")
    _legend(ax, handles)
    _save(ax.figure, path)
    return ax


# ---- a FitResult's default plot -----------------------------------------------------------------------------------
def result(fit, data=None, **kw):
    """The plot that suits ``fit``'s law (what :meth:`lawfit.FitResult.plot` draws): :func:`curves` for a law of one
    input (or one that transforms its inputs, e.g. lr_annealing), :func:`contours` for a law of two inputs (one
    curve: ``curve=``), :func:`predicted_vs_observed` for more inputs (needs ``data``). Keyword arguments go to that
    function."""
    law = fit.law
    d = len(fit.options["x"])
    if d == 1 or law.transform is not None:
        return curves(fit, data, **kw)
    if d == 2:
        for name in ("max_curves", "logx", "logy", "band", "level", "xlim", "curves", "legend_max"):
            kw.pop(name, None)  # (the FitResult.plot options of one-input plots)
        return contours(fit, data, **kw)
    if data is None:
        raise ValueError(f"plot: {law.name!r} has {d} inputs; pass the data to plot predicted against observed")
    for name in ("logx", "logy", "band", "level", "xlim", "curves", "legend_max", "extend"):
        kw.pop(name, None)
    return predicted_vs_observed(fit, data, **kw)


@contextlib.contextmanager
def style():
    """A context manager that applies :data:`STYLE` (for figures of one's own in lawfit's style)."""
    with _mpl().rc_context(STYLE):
        yield
