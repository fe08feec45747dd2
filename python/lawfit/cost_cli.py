"""Command-line subcommands ``lawfit plan`` and ``lawfit cost`` (wired into the main CLI by ``add_parsers``).

    lawfit plan FIT.json --budget 1e24 [--inference-tokens 2e12] [--hardware h100-sxm] [--price 2.5] [--plot out.png]
    lawfit cost --n-layers 32 --d-model 4096 --n-heads 32 --tokens 1e12 [--hardware h100-sxm] [--n-gpus 256]
    lawfit cost --configs configs.csv [--out costs.csv]
"""
from __future__ import annotations

import json
import sys


ARCH_HELP = (
    ("n-layers", "transformer layers (required without --configs)"),
    ("d-model", "model width (required without --configs)"),
    ("n-heads", "attention heads (required without --configs)"),
    ("n-kv-heads", "key/value heads, fewer for GQA/MQA (default: n-heads)"),
    ("d-ff", "MLP hidden width (default 4 x d-model)"),
    ("vocab", "vocabulary size (default 32000)"),
    ("seq-len", "training sequence length (default 2048)"),
    ("n-experts", "MLP experts per layer, MoE (default 1)"),
    ("active-experts", "experts active per token, MoE (default 1)"),
)


def readable(df):
    """A copy of ``df`` for printing: floats with 6 significant digits (4.34677e+22, not 43467669504000000000000.0),
    integers and other values as they are."""
    import numbers

    import numpy as np

    def cell(v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            return v
        if isinstance(v, numbers.Integral):
            return int(v)
        return format(float(v), ".6g")

    return df.apply(lambda col: col.map(cell)) if len(df.columns) else df


def add_parsers(subparsers) -> None:
    """Add the ``plan`` and ``cost`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("plan", help="inference-aware training plan from a saved fit (FitResult.save)")
    p.add_argument("fit", help="FIT.json written by FitResult.save")
    p.add_argument("--budget", type=float, required=True, help="compute budget in FLOPs (training + inference)")
    p.add_argument("--inference-tokens", type=float, default=0.0, help="tokens to be generated over the deployment")
    p.add_argument("--objective", choices=["loss", "cost"], default="loss",
                   help="minimise the loss within the budget (loss, the default) or the cost of reaching "
                        "--target-loss (cost)")
    p.add_argument("--target-loss", type=float, default=None, help="loss to reach with --objective cost")
    p.add_argument("--hardware", default=None, help="catalogue key (see `lawfit cost --list-hardware`) or JSON file")
    p.add_argument("--price", type=float, default=None, help="USD per GPU-hour (default: the catalogue's)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation for GPU-hours")
    p.add_argument("--dtype", default="bf16", help="training precision of the GPU's peak FLOPs (default bf16)")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="write the compute-optimal frontier plot")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_plan)

    c = subparsers.add_parser("cost", help="cost model for transformer configurations")
    c.add_argument("--configs", default=None, help="CSV/Parquet table of configurations (columns = fields)")
    for name, text in ARCH_HELP:
        c.add_argument(f"--{name}", type=int, default=None, help=text)
    c.add_argument("--tokens", type=float, default=None, help="training tokens, e.g. 1e12 (required without --configs)")
    c.add_argument("--gated-mlp", action="store_true", help="gated MLP (SwiGLU: three matrices instead of two)")
    c.add_argument("--hardware", default="h100-sxm",
                   help="GPU: catalogue key (see --list-hardware) or a JSON file (default h100-sxm)")
    c.add_argument("--dtype", default="bf16", help="training precision of the GPU's peak FLOPs (default bf16)")
    c.add_argument("--n-gpus", type=float, default=1, help="GPUs training together (default 1)")
    c.add_argument("--zero", type=int, default=0, help="ZeRO stage 0-3: how optimizer states are sharded (default 0)")
    c.add_argument("--recompute", choices=["none", "selective", "full"], default="none",
                   help="activation recomputation (default none)")
    c.add_argument("--price", type=float, default=None, help="USD per GPU-hour (default: the catalogue's)")
    c.add_argument("--mfu", type=float, default=None, help="model FLOPs utilisation (default 0.4)")
    c.add_argument("--pue", type=float, default=None, help="data-centre power usage effectiveness (default 1.2)")
    c.add_argument("--grid-intensity", type=float, default=None, help="kg CO2e per kWh (default 0.4)")
    c.add_argument("--inference-tokens", type=float, default=None,
                   help="tokens to be generated over the deployment (adds the inference cost; default 0)")
    c.add_argument("--all", action="store_true", help="every output, not just the main ones")
    c.add_argument("--out", default=None, help="write the table to CSV instead of printing")
    c.add_argument("--list-hardware", action="store_true", help="print the hardware catalogue and exit")
    c.set_defaults(func=run_cost)


def run_plan(args) -> int:
    import numpy as np

    from . import load_result
    from .planning import plan, plot_frontier

    fit = load_result(args.fit)
    out = plan(fit, args.budget, inference_tokens=args.inference_tokens, hardware=args.hardware, price=args.price,
               objective=args.objective, target_loss=args.target_loss, mfu=args.mfu, dtype=args.dtype)
    if args.plot:
        lo = max(args.budget / 1e4, 1.0)
        plot_frontier(fit, np.geomspace(lo, args.budget * 100, 40), path=args.plot)
    if args.json:
        print(json.dumps({"plan": json.loads(out.to_json(orient="records")), "conventions": out.attrs["conventions"]},
                         indent=1))
    else:
        print(readable(out).to_string())
        print("\nconventions: " + "; ".join(f"{k}: {v}" for k, v in out.attrs["conventions"].items()))
    if args.plot:  # (on stderr with --json, so that stdout stays JSON)
        print(f"wrote the compute-optimal frontier plot to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def run_cost(args) -> int:
    from . import cost

    if args.list_hardware:
        print(cost.catalogue().to_string())
        return 0
    if args.configs:
        configs = args.configs
    else:
        configs = {}
        for name in ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab", "seq_len", "n_experts",
                     "active_experts", "tokens"):
            v = getattr(args, name)
            if v is not None:
                configs[name] = [v]
        configs["gated_mlp"] = [bool(args.gated_mlp)]
    kw = {"n_gpus": args.n_gpus, "zero": args.zero, "recompute": args.recompute}
    for k, attr in (("price", "price"), ("mfu", "mfu"), ("pue", "pue"), ("grid_kg_per_kwh", "grid_intensity"),
                    ("inference_tokens", "inference_tokens")):
        if getattr(args, attr) is not None:
            kw[k] = getattr(args, attr)
    df = cost.evaluate(configs, hardware=args.hardware, dtype=args.dtype, outputs="all" if args.all else None, **kw)
    if args.out:
        df.to_csv(args.out, index=False)
    else:
        shown = readable(df)  # (the CSV of --out keeps every digit)
        print(shown.T.to_string() if len(df) <= 4 else shown.to_string())
    print("\nconventions: " + "; ".join(f"{k}: {v}" for k, v in df.attrs["conventions"].items()),
          file=sys.stderr if args.out is None else sys.stdout)
    return 0
