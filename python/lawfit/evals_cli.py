"""``lawfit evals ...``: pass@k tables, coverage extrapolation, PassUntil and IRT from the command line.

The main CLI (lawfit.cli) calls :func:`add_parsers` with its subparsers object; each subcommand sets ``func`` to its
handler, which returns an exit status.

    lawfit evals passk FILE --n-col n --c-col c --k 1,10,100 [--interval bootstrap|beta|none]
    lawfit evals coverage FILE --n-col n --c-col c --predict 100,1000 --target 0.5 [--method beta]
        [--cost-per-sample 0.01 | --sampler n_layers=32,d_model=4096,n_heads=32 --tokens-per-sample 512]
        [-o PREFIX (PREFIX_params.csv, PREFIX_predict.csv, ...) | --table predict -o predict.csv]
    lawfit evals passuntil FILE --successes-col s --trials-col r [--target-col t]
    lawfit evals irt RESPONSES.csv --model 2pl -o items.csv [--abilities abilities.csv]
    lawfit evals anchors RESPONSES.csv --n-items 100 -o anchors.csv
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd


def _ints(s: str) -> list:
    try:
        return [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def _floats(s: str) -> list:
    try:
        return [float(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None


def _write(df: pd.DataFrame, out, index: bool = False) -> None:
    if out is None or out == "-":
        df.to_csv(sys.stdout, index=index)
    elif str(out).lower().endswith((".parquet", ".pq")):
        df.to_parquet(out, index=index)
    else:
        df.to_csv(out, index=index)


def _table(path):
    from ._data import to_pandas

    return to_pandas(path, name="FILE")


def _col(df: pd.DataFrame, name: str, flag: str) -> np.ndarray:
    if name not in df.columns:
        raise ValueError(f"{flag}: column {name!r} not found; columns are: {', '.join(map(str, df.columns))}")
    return df[name].to_numpy()


def _passk(args) -> int:
    from . import evals

    df = _table(args.file)
    n, c = _col(df, args.n_col, "--n-col"), _col(df, args.c_col, "--c-col")
    interval = None if args.interval == "none" else args.interval
    out = evals.pass_curve(n, c, args.k, kind="pass^k" if args.hat else "pass@k", interval=interval,
                           level=args.level, n_boot=args.n_boot, seed=args.seed, threads=args.threads)
    _write(out, args.output)
    return 0


def _arch(text: str) -> dict:
    """'n_layers=32,d_model=4096,n_heads=32' -> {field: number} for the cost model."""
    out = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--sampler: expected FIELD=VALUE pairs separated by commas, got {part!r}")
        try:
            out[key.strip()] = float(val)
        except ValueError:
            raise ValueError(f"--sampler: {key.strip()} must be a number, got {val!r}") from None
    return out


COVERAGE_TABLES = ("params", "predict", "samples_for", "cost_per_solved")


def _table_paths(out: str, names) -> dict:
    """-o PREFIX (or PREFIX.csv / PREFIX.parquet) -> {table: PREFIX_table.csv (or .parquet)}."""
    import os

    base, ext = os.path.splitext(str(out))
    if ext.lower() not in (".csv", ".parquet", ".pq", ".tsv", ".txt"):
        base, ext = str(out), ".csv"
    return {t: f"{base}_{t}{ext}" for t in names}


def _coverage(args) -> int:
    from . import evals

    if (args.cost_per_sample is not None or args.sampler) and not args.predict:
        raise ValueError("--cost-per-sample / --sampler need --predict (the k to price)")
    if args.sampler and args.cost_per_sample is not None:
        raise ValueError("give either --cost-per-sample or --sampler, not both")
    if args.sampler and args.tokens_per_sample is None:
        raise ValueError("--sampler needs --tokens-per-sample")
    needs = {"predict": "--predict", "samples_for": "--target", "cost_per_solved": "--cost-per-sample or --sampler"}
    given = {"predict": bool(args.predict), "samples_for": bool(args.target),
             "cost_per_solved": args.cost_per_sample is not None or bool(args.sampler)}
    if args.table and args.table != "params" and not given[args.table]:
        raise ValueError(f"--table {args.table} needs {needs[args.table]}")
    df = _table(args.file)
    n, c = _col(df, args.n_col, "--n-col"), _col(df, args.c_col, "--c-col")
    res = evals.coverage(n, c, method=args.method, level=args.level, n_boot=args.n_boot, seed=args.seed,
                         threads=args.threads)
    tables = {"params": res.params}
    if args.predict:
        tables["predict"] = res.predict(args.predict)
    if args.target:
        tables["samples_for"] = res.samples_for(args.target)
    if args.sampler:
        tables["cost_per_solved"] = res.cost_per_solved(
            args.predict, model=_arch(args.sampler), tokens_per_sample=args.tokens_per_sample,
            hardware=args.hardware, infer_batch=args.infer_batch)
    elif args.cost_per_sample is not None:
        tables["cost_per_solved"] = res.cost_per_solved(args.predict, args.cost_per_sample)
    if args.table:  # one table, to -o FILE or stdout
        _write(tables[args.table], args.output)
        return 0
    if args.output is None or args.output == "-":  # every table, readable, on stdout
        blocks = [f"{name}:\n{tab.to_string(index=False)}" for name, tab in tables.items()]
        print("\n\n".join(blocks))
        return 0
    paths = _table_paths(args.output, tables)
    for name, tab in tables.items():
        _write(tab, paths[name])
    print("wrote " + ", ".join(paths.values()))
    return 0


def _passuntil(args) -> int:
    from . import evals

    df = _table(args.file)
    s, r = _col(df, args.successes_col, "--successes-col"), _col(df, args.trials_col, "--trials-col")
    t = _col(df, args.target_col, "--target-col") if args.target_col else None
    _write(evals.passuntil(s, r, t, level=args.level), args.output)
    return 0


def _irt(args) -> int:
    from . import evals

    Y = evals.read_responses(args.responses)
    m = evals.fit_irt(Y, args.model, dim=args.dim, max_iter=args.max_iter, tol=args.tol, threads=args.threads)
    print(repr(m), file=sys.stderr)
    _write(m.items, args.output, index=True)
    if args.abilities:
        _write(m.abilities, args.abilities, index=True)
    return 0 if m.status in ("CONVERGED", "MAX_ITER") else 1


def _anchors(args) -> int:
    from . import evals

    Y = evals.read_responses(args.responses)
    m = evals.fit_irt(Y, args.model, threads=args.threads)
    sel = m.select_items(args.n_items, method=args.method, seed=args.seed, threads=args.threads)
    _write(sel.to_frame(m.item_names), args.output)
    return 0


USAGE = """Statistics of evaluation samples: pass@k, coverage extrapolation, PassUntil, IRT.

examples:
  lawfit evals passk FILE --n-col n --c-col c --k 1,10,100 [--interval bootstrap|beta|none]
  lawfit evals coverage FILE --n-col n --c-col c --predict 100,1000 --target 0.5 [--method beta]
      [--cost-per-sample 0.01 | --sampler n_layers=32,d_model=4096,n_heads=32 --tokens-per-sample 512]
      [-o PREFIX: one file per table, PREFIX_params.csv, PREFIX_predict.csv, ... | --table predict]
  lawfit evals passuntil FILE --successes-col s --trials-col r [--target-col t]
  lawfit evals irt RESPONSES.csv --model 2pl -o items.csv [--abilities abilities.csv]
  lawfit evals anchors RESPONSES.csv --n-items 100 -o anchors.csv

FILE: a CSV/Parquet table, one row per problem (n samples drawn, c of them correct). RESPONSES: a wide table,
the first column the model's name, one column per item (1 correct, 0 wrong, empty missing).
Run `lawfit evals COMMAND --help` for the options of each command."""


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Register ``evals`` and its subcommands on the main CLI's subparsers (lawfit.cli calls this)."""
    p = subparsers.add_parser("evals", help="evaluation statistics: pass@k, coverage, PassUntil, IRT",
                              description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="evals_command", metavar="COMMAND")
    sub.required = True

    def common(sp, table=True, output="output CSV/Parquet (default: stdout)"):
        if table:
            sp.add_argument("file", help="CSV/Parquet table, one row per problem (or item)")
        sp.add_argument("-o", "--output", default=None, help=output)
        sp.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
        sp.add_argument("--seed", type=int, default=0, help="seed of the random streams (bootstrap, k-means; "
                                                             "default 0)")
        sp.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")

    q = sub.add_parser("passk", help="mean pass@k (or pass^k) over problems, with an interval")
    common(q)
    q.add_argument("--n-col", default="n", help="column with samples per problem (default n)")
    q.add_argument("--c-col", default="c", help="column with correct samples per problem (default c)")
    q.add_argument("--k", type=_ints, required=True, help="comma-separated k values, e.g. 1,10,100")
    q.add_argument("--hat", action="store_true", help="pass^k (all k correct) instead of pass@k")
    q.add_argument("--interval", choices=["bootstrap", "beta", "none"], default="bootstrap",
                   help="bootstrap over problems (default), each problem's Beta posterior (beta), or none")
    q.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates or posterior draws (default 1000)")
    q.set_defaults(func=_passk)

    q = sub.add_parser(
        "coverage", help="fit and extrapolate coverage c(k)", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fit coverage c(k) (the fraction of problems solved by k samples) and extrapolate it.\n\n"
        "Up to four tables, one per file: params (the fit), predict (coverage at --predict k), samples_for\n"
        "(the k reaching each --target coverage), cost_per_solved (with --cost-per-sample or --sampler).\n"
        "-o PREFIX writes PREFIX_params.csv, PREFIX_predict.csv, ... (-o cov.parquet: cov_params.parquet, ...);\n"
        "--table NAME writes that table alone, to -o FILE or stdout; with neither, the tables are printed.")
    common(q, output="PREFIX of the output files, one per table: PREFIX_params.csv, PREFIX_predict.csv, ... "
                     "(PREFIX.parquet: Parquet files); with --table, the one file to write")
    q.add_argument("--n-col", default="n", help="column with samples per problem (default n)")
    q.add_argument("--c-col", default="c", help="column with correct samples per problem (default c)")
    q.add_argument("--method", choices=["aggregate", "beta", "scaled_beta"], default="aggregate",
                   help="c(k) = exp(a k^b) fitted to the mean pass@k curve (aggregate, the default), or per-problem "
                        "rates ~ Beta (beta) or ~ s x Beta (scaled_beta)")
    q.add_argument("--predict", type=_floats, default=None, help="comma-separated k to predict coverage at")
    q.add_argument("--target", type=_floats, default=None, help="comma-separated target coverages")
    q.add_argument("--cost-per-sample", type=float, default=None, help="price of one sample (cost per solved)")
    q.add_argument("--sampler", default=None, metavar="FIELD=V,...",
                   help="price samples with the cost model: the sampling model's architecture, e.g. "
                        "n_layers=32,d_model=4096,n_heads=32 (fields of `lawfit cost`)")
    q.add_argument("--tokens-per-sample", type=float, default=None, help="tokens generated per sample (--sampler)")
    q.add_argument("--hardware", default="h100-sxm", help="GPU of the sampler (catalogue key)")
    q.add_argument("--infer-batch", type=float, default=1.0, help="sequences decoded together (--sampler)")
    q.add_argument("--n-boot", type=int, default=200, help="bootstrap replicates for the intervals (default 200)")
    q.add_argument("--table", choices=COVERAGE_TABLES, default=None,
                   help="write only this table, to -o FILE or stdout as CSV (predict needs --predict, samples_for "
                        "--target, cost_per_solved --cost-per-sample or --sampler)")
    q.set_defaults(func=_coverage)

    q = sub.add_parser("passuntil", help="PassUntil estimators per item")
    common(q)
    q.add_argument("--successes-col", default="successes", help="column with successes per item (default successes)")
    q.add_argument("--trials-col", default="trials", help="column with samples drawn per item (default trials)")
    q.add_argument("--target-col", default=None,
                   help="column with the successes each item was sampled until (enables the unbiased estimator)")
    q.set_defaults(func=_passuntil)

    q = sub.add_parser("irt", help="fit Rasch / 2PL / multidimensional 2PL to a models x items response table")
    common(q, table=False)
    q.add_argument("responses", help="wide CSV/Parquet: first column model name, one column per item (0/1/empty)")
    q.add_argument("--model", choices=["rasch", "2pl", "mirt"], default="2pl",
                   help="item response model (default 2pl)")
    q.add_argument("--dim", type=int, default=1, help="ability dimensions (mirt)")
    q.add_argument("--max-iter", type=int, default=200, help="EM iteration limit (default 200)")
    q.add_argument("--tol", type=float, default=1e-4, help="convergence tolerance of the EM (default 1e-4)")
    q.add_argument("--abilities", default=None, help="also write the abilities table here")
    q.set_defaults(func=_irt)

    q = sub.add_parser("anchors", help="choose a reduced anchor item set (tinyBenchmarks)")
    common(q, table=False)
    q.add_argument("responses", help="wide CSV/Parquet: first column model name, one column per item (0/1/empty)")
    q.add_argument("--model", choices=["rasch", "2pl"], default="2pl", help="item response model (default 2pl)")
    q.add_argument("--n-items", type=int, default=100, help="anchor items to choose (default 100)")
    q.add_argument("--method", choices=["kmeans", "kmeans-info", "random"], default="kmeans",
                   help="k-means strata of the item parameters (tinyBenchmarks, the default), the same strata "
                        "represented by their most informative item, or a random set")
    q.set_defaults(func=_anchors)
    return p
