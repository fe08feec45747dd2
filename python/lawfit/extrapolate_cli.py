"""``lawfit extrapolate`` and ``lawfit should-stop``: learning-curve forecasts and early-stopping decisions.

    lawfit extrapolate RUNS.csv --x epoch --y val_accuracy --by trial --horizon 50 [--reference DONE.csv]
        [--quantiles 0.05,0.5,0.95] [--mode max] [-o forecast.csv]
    lawfit should-stop RUNS.csv --x epoch --y val_accuracy --by trial --horizon 50 --best 80 [--mode max]
        [--reference DONE.csv] [--threshold 0.05] [--criterion optimistic --std-threshold 0.5] [-o decisions.csv]

With ``--reference`` (finished runs of the same sweep, same columns) the forecast is sweep-aware and calibrated on
the reference (docs/forecasting.md); without it, each curve is extrapolated alone by the Bayesian ensemble.
"""
from __future__ import annotations

import argparse

from .evals_cli import _floats, _write


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="CSV / Parquet of the partial curves, one row per observation")
    p.add_argument("--x", required=True, help="step column (epoch, step, tokens)")
    p.add_argument("--y", required=True, help="metric column")
    p.add_argument("--by", help="column(s) identifying curves, comma-separated")
    p.add_argument("--horizon", type=float, required=True, help="step to forecast (the end of training)")
    p.add_argument("--reference", default=None, metavar="DONE.csv",
                   help="finished runs of the same sweep (same columns), observed to the horizon: sweep-aware, "
                        "calibrated forecasts")
    p.add_argument("--mode", choices=["max", "min"], default=None,
                   help="larger (accuracy) or smaller (loss) is better (default: inferred per curve)")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the ensemble's random streams")
    p.add_argument("-o", "--output", default=None, help="output CSV/Parquet (default: stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_parsers(subparsers) -> None:
    e = subparsers.add_parser("extrapolate", help="forecast every learning curve at a later step",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(e)
    e.add_argument("--quantiles", type=_floats, default=[0.05, 0.5, 0.95], help="comma-separated, in (0, 1)")
    e.add_argument("--plot", default=None, metavar="OUT.png",
                   help="also draw the forecast fans of the first 6 curves to this file (needs matplotlib)")
    e.set_defaults(func=run_extrapolate)

    s = subparsers.add_parser("should-stop", help="early-stopping decisions (Domhan et al.'s criterion)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(s)
    s.add_argument("--best", type=float, default=None, help="best final value so far (none: every run continues)")
    s.add_argument("--threshold", type=float, default=0.05, help="stop when P(beats best) is below this")
    s.add_argument("--level", type=float, default=0.9, help="central interval reported")
    s.add_argument("--criterion", choices=["conservative", "optimistic"], default="conservative",
                   help="stop only on P(beats best) below --threshold (conservative, the default) or also on a small "
                        "predictive sd (optimistic, with --std-threshold)")
    s.add_argument("--std-threshold", type=float, default=None, dest="std_threshold",
                   help="optimistic: also stop when the predictive sd is below this (y units)")
    s.set_defaults(func=run_should_stop)


def _by(args):
    return [c for c in args.by.split(",") if c] if args.by else None


def _reference(args):
    if args.reference is None:
        return None
    from ._data import to_pandas

    return to_pandas(args.reference, name="--reference")


def run_extrapolate(args) -> int:
    from ._data import to_pandas
    from .extrapolation import extrapolate

    data = to_pandas(args.file, name="FILE")
    ex = extrapolate(data, x=args.x, y=args.y, by=_by(args), horizon=args.horizon,
                     mode=args.mode, quantiles=tuple(args.quantiles), threads=args.threads, seed=args.seed,
                     reference=_reference(args), progress=not args.quiet)
    _write(ex.summary.reset_index(), args.output)
    if args.plot:
        import sys

        from .plot import fan

        fan(ex, data, y=args.y, path=args.plot)
        print(f"wrote the forecast fans to {args.plot}", file=sys.stderr)  # (stdout may hold the CSV)
    return 0


def run_should_stop(args) -> int:
    from ._data import to_pandas
    from .extrapolation import should_stop

    dec = should_stop(to_pandas(args.file, name="FILE"), x=args.x, y=args.y, by=_by(args), horizon=args.horizon,
                      best=args.best, mode=args.mode or "max", threshold=args.threshold, level=args.level,
                      criterion=args.criterion, std_threshold=args.std_threshold, threads=args.threads,
                      seed=args.seed, reference=_reference(args), progress=not args.quiet)
    _write(dec.reset_index(), args.output)
    return 0
