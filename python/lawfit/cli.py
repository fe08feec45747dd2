"""The ``lawfit`` command line: fit, predict, laws, demo (and the plan/cost/evals subcommands)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings

import numpy as np
import pandas as pd

EPILOG = """examples:
  lawfit demo                                   fit laws to the example data shipped with lawfit
  lawfit laws                                   list the law catalogue
  lawfit fit runs.csv --law chinchilla --x N,D --y loss --loss huber --delta 1e-3 --space log -o fit.json
  lawfit fit curves.csv --law pow3 --x epoch --y acc --by trial -o fit.json --csv params.csv
  lawfit fit runs/ --law pow3 --x step --y loss --by run --scheduler tcp://host:8786 --parquet fits/
  lawfit predict fit.json new_points.csv -o predictions.csv --interval 0.9
"""


def _parse_bounds(items):
    out = {}
    for it in items or []:
        try:
            name, rng = it.split("=", 1)
            lo, hi = rng.split(":", 1)
            out[name] = (float(lo) if lo else None, float(hi) if hi else None)
        except ValueError:
            raise SystemExit(f"lawfit: --bounds expects NAME=LOW:HIGH (either side may be empty), got {it!r}")
    return out


def _parse_pairs(items, flag: str, number: bool) -> dict:
    """NAME=VALUE items of --fixed (VALUE a number) or --tie (VALUE an expression of the other parameters)."""
    out = {}
    for it in items or []:
        name, sep, val = it.partition("=")
        if not sep or not name.strip() or not val.strip():
            raise ValueError(f"{flag} expects NAME={'VALUE' if number else 'EXPRESSION'}, got {it!r}")
        if number:
            try:
                val = float(val)
            except ValueError:
                raise ValueError(f"{flag} {it!r}: the value must be a number") from None
        out[name.strip()] = val.strip() if isinstance(val, str) else val
    return out or None


def _distributed_input(a):
    """FILE through lawfit.io.read_runs (lazy) when it is a Parquet dataset directory or URL, or when --scheduler /
    --ray name a cluster; None for a plain in-memory file. Connects to the cluster named (a Dask Client, ray.init)."""
    import os

    path = str(a.file)
    remote = "://" in path
    if not (a.scheduler or a.ray or os.path.isdir(path) or remote):
        return None
    from . import io as lawfit_io

    if a.ray:
        import ray

        if not ray.is_initialized():
            ray.init(address=None if a.ray == "local" else a.ray, log_to_driver=False)
        return lawfit_io.read_runs(path, engine="ray")
    if a.scheduler:
        from distributed import Client

        if a.scheduler == "local":
            from distributed import LocalCluster

            a._client = Client(LocalCluster(dashboard_address=None, silence_logs=logging.ERROR))
        else:
            a._client = Client(a.scheduler)
    if os.path.isdir(path) or remote or path.lower().endswith((".parquet", ".pq")):
        return lawfit_io.read_runs(path)
    import dask.dataframe as dd

    return dd.read_csv(path, sep="\t" if path.lower().endswith(".tsv") else ",")


def _cmd_fit(a) -> int:
    try:
        return _fit(a)
    finally:
        client = getattr(a, "_client", None)
        if client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None and a.scheduler == "local":
                cluster.close()


def _fit(a) -> int:
    import lawfit

    starts = None
    if a.starts is not None:
        starts = int(a.starts) if a.starts.isdigit() else pd.read_csv(a.starts)
    data = _distributed_input(a)
    if data is None and a.parquet:
        raise ValueError("--parquet writes the per-curve table of a Parquet dataset / cluster fit; give a dataset "
                         "directory or URL, --scheduler or --ray (or use --csv)")
    if data is not None and a.parquet and not (a.output or a.csv or a.report):
        # Lazy: every partition's per-curve table is written by the worker that fitted it, never collected.
        from . import io as lawfit_io

        table = lawfit.distributed.fit(data, a.law, x=a.x.split(","), y=a.y, by=a.by.split(",") if a.by else None,
                                       weight=a.weight, loss=a.loss, delta=a.delta, space=a.space, starts=starts,
                                       bounds=_parse_bounds(a.bounds), fixed=_parse_pairs(a.fixed, "--fixed", True),
                                       tie=_parse_pairs(a.tie, "--tie", False),
                                       shared=a.shared.split(",") if a.shared else None, max_iter=a.max_iter,
                                       threads=a.threads, seed=a.seed,
                                       nan_policy=a.nan_policy, compute=False, partitions=a.partitions)
        like = a.file if _is_dataset(a.file) else None
        lawfit_io.write(table, a.parquet, like=like, overwrite=True)
        if not a.quiet:
            print(f"wrote the per-curve table to {a.parquet}" + (" (partitioned like the input)" if like else ""))
        return 0
    if data is not None and a.partitions is not None:
        fit_fn = lambda *args, **kw: lawfit.distributed.fit(*args, partitions=a.partitions, **kw)  # noqa: E731
    else:
        fit_fn = lawfit.fit
    res = fit_fn(
        a.file if data is None else data,
        a.law,
        x=a.x.split(","),
        y=a.y,
        by=a.by.split(",") if a.by else None,
        weight=a.weight,
        loss=a.loss,
        delta=a.delta,
        space=a.space,
        starts=starts,
        bounds=_parse_bounds(a.bounds),
        fixed=_parse_pairs(a.fixed, "--fixed", True),
        tie=_parse_pairs(a.tie, "--tie", False),
        shared=a.shared.split(",") if a.shared else None,
        max_iter=a.max_iter,
        threads=a.threads,
        seed=a.seed,
        nan_policy=a.nan_policy,
        progress=not a.quiet,
    )
    if not a.quiet:
        print(res.summary(max_rows=a.rows))
    if a.report:
        if data is not None:
            raise ValueError("--report computes residuals from the rows of FILE, which stay on the cluster; "
                             "fit in memory for the report")
        print(res.report(format="text", max_rows=a.rows))
    if a.output:
        res.save(a.output)
        if not a.quiet:
            print(f"saved the fit to {a.output} (read it with lawfit.load_result or `lawfit predict`)")
    if a.csv:
        res.to_frame(report=a.report and data is None).to_csv(a.csv)
    if a.parquet:
        from . import io as lawfit_io

        lawfit_io.write(res, a.parquet, like=a.file if _is_dataset(a.file) else None, overwrite=True)
    if res.n_curves and not res.ok.any():
        print(f"lawfit fit: error: {_all_failed(res, a)}", file=sys.stderr)
        return 1
    return 0


def _is_dataset(path) -> bool:
    import os

    return os.path.isdir(str(path)) or "://" in str(path)


def _all_failed(res, a) -> str:
    """Why every curve of a fit failed, naming the rows at fault (the first few) where rows are to blame."""
    from ._data import to_pandas
    from .fitting import bad_rows

    counts = res.status.value_counts()
    what = ", ".join(f"{k}={v}" for k, v in counts[counts > 0].items())
    msg = f"every curve failed ({what}); no parameters were fitted"
    try:
        df = to_pandas(a.file, name="FILE")
        bad = bad_rows(df, res.law, x=a.x.split(","), y=a.y, weight=a.weight, space=a.space)
    except ValueError:
        bad = None
    if bad is not None and len(bad):
        csv = str(a.file).lower().endswith((".csv", ".csv.gz", ".tsv", ".txt"))
        shown = []
        for row, reason in bad.head(10).itertuples(index=False):
            where = f"row {row} (line {row + 2} of {a.file})" if csv else f"row {row}"
            shown.append(f"{where}: {reason}")
        more = f"; and {len(bad) - 10} more row(s)" if len(bad) > 10 else ""
        msg += ". Rows at fault: " + "; ".join(shown) + more
        if a.nan_policy == "status" and bad["reason"].str.contains("non-finite").any():
            msg += ". --nan-policy omit drops the rows with NaN/inf"
    elif (res.status == "TOO_FEW_POINTS").any():
        msg += f". {res.law.name} has {res.law.n_params} parameters: a curve needs at least that many points"
    return msg


def _cmd_predict(a) -> int:
    import lawfit

    res = lawfit.load_result(a.fit)
    pred = res.predict(a.data, interval=a.interval)
    if a.output:
        pred.to_csv(a.output, index=False)
    else:
        pred.to_csv(sys.stdout, index=False)
    return 0


WIDTH = 100  # columns of the `lawfit laws` listing and of `lawfit laws NAME`


def _short_citation(citation: str) -> str:
    """'Hoffmann et al. 2022, Training ...' -> 'Hoffmann et al. 2022'; several authors -> 'First et al. YEAR'."""
    import re

    m = re.match(r"\s*(.*?)\s*\b((?:1[89]|20)\d\d)\b", citation)
    if not m:
        return citation.split(",")[0][:30]
    who = m.group(1).rstrip(",")
    if "," in who:
        who = who.split(",")[0].strip() + " et al."
    return f"{who} {m.group(2)}"


def _wrap(text: str, indent: str, more: str = None) -> str:
    import textwrap

    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=more if more is not None else
                         indent + "  ", break_long_words=False, break_on_hyphens=False)


def _laws_listing(tab, aliases) -> str:
    """The catalogue in WIDTH columns: name, inputs, parameters (wrapped), short citation."""
    import textwrap

    rows = [(n, r["inputs"], r["params"], _short_citation(r["citation"])) for n, r in tab.iterrows()]
    head = ("name", "inputs", "parameters", "paper")
    w = [max(len(head[j]), *(len(r[j]) for r in rows)) for j in (0, 1, 3)]
    wp = WIDTH - (w[0] + w[1] + w[2] + 6)
    lines = [f"{head[0]:<{w[0]}}  {head[1]:<{w[1]}}  {head[2]:<{wp}}  {head[3]}".rstrip()]
    for name, inputs, params, cite in rows:
        chunks = textwrap.wrap(params, wp, break_long_words=False) or [""]
        lines.append(f"{name:<{w[0]}}  {inputs:<{w[1]}}  {chunks[0]:<{wp}}  {cite}".rstrip())
        lines += [f"{'':<{w[0]}}  {'':<{w[1]}}  {c}".rstrip() for c in chunks[1:]]
    lines.append("aliases: " + ", ".join(f"{k} = {v}" for k, v in aliases.items()))
    lines.append("`lawfit laws NAME` shows a law's formula, bounds, default starts and the paper's symbols.")
    return "\n".join(lines)


def _law_detail(spec, asked: str) -> str:
    """`lawfit laws NAME`: formula, inputs, citation, each parameter's bounds/scale/starts, the paper's symbols."""
    alias = f" (`{asked}` is an alias of {spec.name})" if asked != spec.name else ""
    out = [_wrap(f"{spec.name}: {spec.formula}{alias}", "", "  "),
           _wrap(f"inputs: {', '.join(spec.x_names)}", "  "),
           _wrap(f"citation: {spec.citation}", "  ", "    "),
           "  parameters: bounds, scale (log: fitted as log p, p > 0), default starts"]
    wn = max(len(p) for p in spec.params)
    for j, p in enumerate(spec.params):
        starts = ", ".join(f"{v:g}" for v in spec.grid[j])
        solved = " (solved exactly, linear)" if spec.linear[j] else ""
        out.append(_wrap(f"{p:>{wn}}  [{spec.lower[j]:g}, {spec.upper[j]:g}]  {spec.scale[j]}  starts "
                         f"{starts}{solved}", "    ", "    " + " " * (wn + 2)))
    pf = spec.paper
    if pf is None:
        return "\n".join(out)
    out.append(_wrap(f"the paper writes: {pf.formula}", "  ", "    "))
    if pf.same_as(spec.params):
        out.append("    same symbols as lawfit's, in the same order")
    else:
        sym = spec.paper_symbols
        if not pf.symbols:
            out.append("    same symbols as lawfit's")
        else:
            ws = max(len(v) for v in sym.values())
            for p in spec.params:
                how = pf.symbols[p][1] if p in pf.symbols else "the same symbol"
                out.append(_wrap(f"{p:>{wn}} -> {sym[p]:<{ws}}  {how}", "    ", "    " + " " * (wn + ws + 6)))
        order = spec.paper_order
        if tuple(order) != tuple(sym[p] for p in spec.params):
            src = pf.order_source or "the paper"
            out.append(_wrap(f"order in {src}: {', '.join(order)}; lawfit's: {', '.join(spec.params)}",
                             "    ", "      "))
    if pf.note:
        out.append(_wrap(f"note: {pf.note}", "    ", "      "))
    if not pf.same_as(spec.params):
        out.append(_wrap(f"lawfit.get_law({spec.name!r}).to_paper(result.params) gives fitted values in the "
                         "paper's symbols and order", "    ", "      "))
    return "\n".join(out)


def _cmd_laws(a) -> int:
    import lawfit

    from .catalogue import ALIASES, resolve_name

    tab = lawfit.laws()
    if a.name:
        if resolve_name(a.name) not in tab.index:
            raise SystemExit(f"lawfit: unknown law {a.name!r}; run `lawfit laws` for the list")
        print(_law_detail(lawfit.get_law(a.name), a.name))
        return 0
    print(_laws_listing(tab, ALIASES))
    return 0


def _cmd_demo(a) -> int:
    from . import demo

    return demo.run(plot=a.plot, threads=a.threads)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lawfit",
        description="Fit scaling laws and learning curves to many runs at once, sample their uncertainty, "
        "and price training plans.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="store_true", help="print version and build information")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    f = sub.add_parser("fit", help="fit a law to every curve of a table", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Fit a law to every curve of FILE (CSV or Parquet) in one batched native call.\n\n"
                       "The objective is scipy's cost: 0.5 x the weighted sum of loss(residual), for l2 half the "
                       "weighted sum of squared errors.\nExit status 1 when every curve failed (the message names "
                       "the rows at fault), 2 on a bad argument or a file that cannot be read or written.")
    f.add_argument("file", help="CSV / Parquet file, one row per observation; or a Parquet dataset directory / fsspec "
                                "URL (runs/, s3://bucket/runs/), read lazily and fitted partition by partition on "
                                "Dask (--scheduler) or Ray (--ray)")
    f.add_argument("--law", required=True, help="catalogue name (see `lawfit laws`)")
    f.add_argument("--x", required=True,
                   help="input column(s), comma-separated, in the law's input order (matched by position: a "
                        "warning says when the names are the law's inputs in another order)")
    f.add_argument("--y", required=True, help="observed column")
    f.add_argument("--by", help="column(s) identifying curves, comma-separated (default: one curve)")
    f.add_argument("--weight", help="column of per-point weights")
    f.add_argument("--loss", default="l2", choices=["l2", "huber", "soft_l1", "cauchy"],
                   help="loss of the residuals (scipy's least_squares names; default l2)")
    f.add_argument("--delta", type=float, help="robust loss scale (default 1.0; Chinchilla: 1e-3 in log space)")
    f.add_argument("--space", default="linear", choices=["linear", "log"], help="residuals y-f or log y - log f")
    f.add_argument("--starts", help="an integer (random starts per curve) or a CSV of starts (a column per parameter)")
    f.add_argument("--bounds", nargs="*", metavar="P=LO:HI", help="parameter bounds, e.g. alpha=0:2 E=0:")
    f.add_argument("--fixed", nargs="*", metavar="P=VALUE",
                   help="hold parameters at values, e.g. alpha=0.34 (NaN SE; the others' covariance conditional)")
    f.add_argument("--tie", nargs="*", metavar="P=EXPR",
                   help="tie parameters to the others, e.g. beta=alpha or B=2*A (the law with the expression "
                        "substituted is fitted; both are reported)")
    f.add_argument("--shared", help="parameter(s) shared across all curves, comma-separated")
    f.add_argument("--max-iter", type=int, dest="max_iter", help="iteration limit per start (default 200)")
    f.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    f.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    f.add_argument("--nan-policy", default="status", choices=["status", "omit", "raise"], dest="nan_policy",
                   help="rows with NaN/inf: their curve gets the status NON_FINITE (status, the default), the rows "
                        "are dropped (omit), or the command stops (raise)")
    f.add_argument("-o", "--output", help="write the fit as JSON (for `lawfit predict`, `lawfit plan`)")
    f.add_argument("--csv", help="write parameters, standard errors and status per curve as CSV (with --report, "
                                 "the report's columns too)")
    f.add_argument("--report", action="store_true",
                   help="print goodness of fit per curve: chi-square, reduced chi-square, AIC, BIC, R^2 (lmfit's "
                        "definitions), residuals, the most correlated parameters, parameters at a bound")
    f.add_argument("--rows", type=int, default=20, help="curves shown in the summary")
    f.add_argument("--scheduler", metavar="ADDRESS",
                   help="fit on a Dask cluster: its scheduler's address (tcp://host:8786), or 'local' for a local "
                        "cluster; FILE (a Parquet dataset directory or URL, or a file) is read lazily by "
                        "lawfit.io.read_runs and fitted partition by partition (docs/scale-out.md)")
    f.add_argument("--ray", metavar="ADDRESS",
                   help="fit on a Ray cluster: 'auto' (the running cluster), an address, or 'local'")
    f.add_argument("--partitions", type=int,
                   help="Dask/Ray: partitions the curves are shuffled into (default: as many as the input has)")
    f.add_argument("--parquet", metavar="DIR",
                   help="write the per-curve table as a Parquet dataset (partitioned like FILE when FILE is a "
                        "partitioned dataset); alone (without -o/--csv) the fit is never collected: each worker "
                        "writes its partitions")
    f.add_argument("-q", "--quiet", action="store_true", help="no summary, no progress bar")
    f.set_defaults(func=_cmd_fit)

    pr = sub.add_parser("predict", help="predict with a saved fit")
    pr.add_argument("fit", help="JSON written by `lawfit fit -o` or FitResult.save")
    pr.add_argument("data", help="CSV / Parquet with the by and x columns of the fit")
    pr.add_argument("-o", "--output", help="CSV to write (default: stdout)")
    pr.add_argument("--interval", type=float, help="also y_low / y_high at this level, e.g. 0.9")
    pr.set_defaults(func=_cmd_predict)

    la = sub.add_parser("laws", help="list the law catalogue, or show one law",
                        description="Without NAME: every catalogue law with its inputs, parameters and paper, in "
                        "100 columns. With NAME: the law's formula, citation, each parameter's bounds, scale and "
                        "default starts, and the paper's symbol for each parameter where the paper's names or "
                        "order differ from lawfit's (lawfit.get_law(NAME).paper_symbols, .to_paper).")
    la.add_argument("name", nargs="?", help="show this law's formula, parameters, bounds, starts and the paper's "
                                            "symbols")
    la.set_defaults(func=_cmd_laws)

    de = sub.add_parser("demo", help="fit laws to the example data shipped with lawfit")
    de.add_argument("--plot", help="also save a figure to this PNG (needs matplotlib)")
    de.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    de.set_defaults(func=_cmd_demo)
    for mod in _extensions():
        mod.add_parsers(sub)
    return p


def _extensions() -> list:
    """Modules that add subcommands with add_parsers(subparsers): plan/cost, evals, extrapolation."""
    from . import cost_cli, evals_cli, extrapolate_cli

    return [cost_cli, evals_cli, extrapolate_cli]


def _show_warning(command: str):
    """warnings.showwarning for the CLI: ``lawfit CMD: warning: message`` on stderr, without the source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"lawfit {command}: warning: {message}", file=sys.stderr)

    return show


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.version:
        import lawfit

        print(json.dumps(lawfit.build_info(), indent=2))
        return 0
    if not a.command:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(a.command)
            return int(a.func(a) or 0)
    except ValueError as exc:
        print(f"lawfit {a.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`lawfit ... | head`): stop quietly, as Unix tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's final flush does not fail again
        return 0
    except OSError as exc:  # a file that cannot be read or written (no such folder, no permission, disk full)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"lawfit {a.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
