"""Cost models for decoder transformers: parameters, FLOPs, memory, time, GPU-hours, money, energy, CO2, water.

One native call evaluates a table or a Cartesian grid of configurations (millions at once)::

    import lawfit
    df = lawfit.cost.evaluate(
        lawfit.cost.grid(n_layers=[24, 32], d_model=[2048, 4096], n_heads=32, tokens=[1e11, 1e12]),
        hardware="h100-sxm", n_gpus=256, price=2.5,
    )
    df.attrs["conventions"]  # what each output counts

Big grids are evaluated in chunks of native calls written into the result's arrays, so the memory a call needs
is its output (refused up front, with the bytes, when the output cannot fit); ``iter_evaluate`` streams a grid of
any size as DataFrames of ``chunk_rows`` configurations.

Formulas: REFERENCE.md section 4 (Kaplan et al. 2020; Hoffmann et al. 2022 appendix F; Korthikanti et al.
2022; Rajbhandari et al. 2020; Li et al. 2023). Hardware figures come from ``hardware.json`` (shipped with the
package), each with its source and whether a peak is dense or sparse.
"""
from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .. import _device
from .._args import show
from .._native import _core
from .._progress import with_progress
from .. import distributed
from ..distributed import is_distributed

__all__ = [
    "FIELDS",
    "OUTPUTS",
    "CONVENTIONS",
    "Hardware",
    "Grid",
    "grid",
    "hardware",
    "catalogue",
    "load_hardware",
    "evaluate",
    "iter_evaluate",
]

FIELDS: tuple = tuple(_core.cost_field_names())
OUTPUTS: tuple = tuple(_core.cost_output_names())
DEFAULT_OUTPUTS: tuple = (
    "params", "params_non_embedding", "params_active", "flops_train", "flops_train_6nd", "memory_train_bytes",
    "time_train_s", "gpu_hours", "cost_usd", "energy_kwh", "co2_kg", "water_l", "fits_memory", "meets_slo",
    "within_budget",
)
_BOOL_OUTPUTS = {"fits_memory", "meets_slo", "within_budget"}
_REQUIRED = ("n_layers", "d_model", "n_heads", "tokens")
_DEFAULTS = {
    "n_kv_heads": 0.0,  # 0: = n_heads
    "d_ff": 0.0,  # 0: = ffn_mult * d_model
    "vocab": 32000.0,
    "seq_len": 2048.0,
    "n_experts": 1.0,
    "active_experts": 1.0,
    "gated_mlp": 0.0,
    "tied_embeddings": 0.0,
    "biases": 0.0,
    "norm": 1.0,
    "position": 0.0,
}
_CODES = {
    "norm": {"none": 0, "rmsnorm": 1, "layernorm": 2},
    "position": {"rope": 0, "learned": 1, "relative": 2},
}
_N_CONVENTIONS = {"non_embedding": 0, "with_head": 1, "total": 2}
_RECOMPUTE = {"none": 0, "selective": 1, "full": 2}
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8")

CONVENTIONS: dict = {
    "params": "all weights: matrices, token embedding, learned positions, untied output head; biases only with "
    "biases=True; norm gains per `norm` (rmsnorm d, layernorm 2d per norm, 2 per layer + 1 final)",
    "params_non_embedding": "params minus token embedding, learned positional table and untied output head "
    "(Kaplan et al. 2020: 12 n_layers d_model^2 for a plain 4x MLP without biases or norms)",
    "params_active": "params with active_experts MLPs per layer instead of n_experts (MoE)",
    "flops_train": "Hoffmann et al. 2022 appendix F: forward per sequence (embedding 2SVd, QKV, QK^T 2S^2 kq, "
    "softmax 3HS^2, AV 2S^2 kq, output projection, MLP, logits 2SdV) x 3 (backward = 2x forward) x tokens/S; "
    "GQA uses n_kv_heads for K/V, gated MLP 3 matrices, MoE the active experts + router; causal=True halves the "
    "S^2 terms, vocab_flops=False drops the embedding and logits terms; model FLOPs (no recomputation)",
    "flops_train_6nd": "6 N D with N per n_convention (default non_embedding, active parameters for MoE)",
    "flops_decode_per_token": "2 x active non-embedding parameters + 4 n_layers c n_heads d_head + 2 d_model vocab "
    "at context c = infer_context (default seq_len)",
    "memory_train_bytes": "per GPU: mixed-precision Adam states 16 bytes/param (ZeRO-1 4P + 12P/Nd, ZeRO-2 2P + "
    "14P/Nd, ZeRO-3 16P/Nd, Nd = n_gpus) + activations (Korthikanti et al. 2022, 16-bit, no tensor/sequence "
    "parallelism): L s b h (34 + 5 a s / h), selective recompute 34 L s b h, full recompute 2 L s b h",
    "memory_infer_bytes": "weights (weight_bytes/param) + KV cache infer_batch x context x 2 L n_kv_heads d_head "
    "kv_bytes",
    "time_train_s": "roofline per optimizer step on each GPU: max(step FLOPs / (peak x efficiency_compute), "
    "bytes / (bandwidth x efficiency_memory)); step FLOPs = flops_train (or 6ND with six_nd_train) x 4/3 with "
    "full recomputation / steps / n_gpus; bytes = 3 x weight bytes per micro-step + 32 bytes/param optimizer "
    "read+write (sharded with ZeRO >= 1); peak is the DENSE figure for `dtype`",
    "gpu_hours": "n_gpus x time_train_s / 3600 (training only; inference in gpu_hours_infer)",
    "cost_usd": "gpu_hours x price (USD per GPU-hour); training only; cost_total_usd adds inference",
    "energy_kwh": "facility energy WITH PUE: gpu_hours x power_w x utilisation / 1000 x pue; energy_it_kwh is "
    "the same without PUE",
    "co2_kg": "energy_kwh (with PUE) x grid_kg_per_kwh (location-based)",
    "water_l": "Li et al. 2023: energy_it_kwh x (wue_onsite + pue x wue_offsite), litres",
    "latency_decode_s": "one decode step of infer_batch sequences on one GPU: max(2 N_active B / (peak eta_c), "
    "(N_active weight bytes + B c kv bytes) / (bandwidth eta_m))",
    "fits_memory": "memory_train_bytes <= the GPU's memory",
    "meets_slo": "latency_decode_s <= latency_slo",
    "within_budget": "cost_total_usd <= budget_usd",
}


# ---- hardware catalogue --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hardware:
    """One accelerator. Peaks in FLOP/s per dtype (dense; ``sparse`` says where a figure is a sparse one),
    memory in bytes, bandwidth in bytes/s, power in watts, price in USD per GPU-hour, ``sources`` per value."""

    key: str
    name: str
    peak_flops: dict
    memory_bytes: float
    bandwidth: float
    power_w: float
    price_per_hour: float
    sparse: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    notes: str = ""

    def peak(self, dtype: str) -> float:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {show(dtype)}")
        v = self.peak_flops.get(dtype)
        if v is None:
            raise ValueError(f"hardware {self.key!r} has no {dtype} peak in the catalogue")
        if self.sparse.get(dtype):
            raise ValueError(
                f"hardware {self.key!r}: the {dtype} peak is a sparse figure; give the dense peak for cost models"
            )
        return float(v)

    def to_dict(self) -> dict:
        return {
            "key": self.key, "name": self.name, "peak_flops": dict(self.peak_flops),
            "memory_bytes": self.memory_bytes, "bandwidth": self.bandwidth, "power_w": self.power_w,
            "price_per_hour": self.price_per_hour, "sparse": dict(self.sparse), "sources": dict(self.sources),
            "notes": self.notes,
        }


def _positive(v, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {show(v)}") from None
    if not (x > 0 and math.isfinite(x)):
        raise ValueError(f"{what} must be positive and finite, got {show(v)}")
    return x


def _entry(key: str, e: Mapping, origin: str) -> Hardware:
    """A catalogue entry (hardware.json schema: values as {"value", "source"[, "sparse"]})."""
    where = f"hardware {key!r} ({origin})"

    def unpack(name, required=True):
        if name not in e or e[name] is None:
            if required:
                raise ValueError(f"{where}: missing field '{name}'")
            return None, None, False
        v = e[name]
        if isinstance(v, Mapping):
            if "value" not in v:
                raise ValueError(f"{where}: field '{name}' needs a 'value'")
            return v["value"], v.get("source", "user"), bool(v.get("sparse", False))
        return v, "user", False

    peaks, sparse, sources = {}, {}, {}
    pt = e.get("peak_tflops")
    if not isinstance(pt, Mapping) or not pt:
        raise ValueError(f"{where}: field 'peak_tflops' must map dtypes ({', '.join(DTYPES)}) to TFLOPS")
    for dt, v in pt.items():
        if dt not in DTYPES:
            raise ValueError(f"{where}: field 'peak_tflops' has unknown dtype {dt!r}; known: {DTYPES}")
        if v is None:
            continue
        if isinstance(v, Mapping):
            val, src, sp = v.get("value"), v.get("source", "user"), bool(v.get("sparse", False))
        else:
            val, src, sp = v, "user", False
        if val is None:
            continue
        peaks[dt] = _positive(val, f"{where}: field 'peak_tflops.{dt}'") * 1e12
        sparse[dt] = sp
        sources[f"peak_tflops.{dt}"] = src
    vals = {}
    for name, scale in (("memory_gb", 1e9), ("bandwidth_tbs", 1e12), ("tdp_w", 1.0)):
        v, src, _ = unpack(name)
        vals[name] = _positive(v, f"{where}: field '{name}'") * scale
        sources[name] = src
    v, src, _ = unpack("price_per_hour_usd", required=False)
    price = 0.0
    if v is not None:
        price = float(v)
        if not (price >= 0 and math.isfinite(price)):
            raise ValueError(f"{where}: field 'price_per_hour_usd' must be >= 0, got {show(v)}")
        sources["price_per_hour_usd"] = src
    return Hardware(
        key=key, name=str(e.get("name", key)), peak_flops=peaks, memory_bytes=vals["memory_gb"],
        bandwidth=vals["bandwidth_tbs"], power_w=vals["tdp_w"], price_per_hour=price, sparse=sparse,
        sources=sources, notes=str(e.get("notes", "")),
    )


def _read_catalogue(text: str, origin: str) -> dict:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"hardware file {origin}: not valid JSON ({exc})") from None
    if not isinstance(d, Mapping) or d.get("format") != "lawfit.hardware/1" or not isinstance(d.get("entries"), Mapping):
        raise ValueError(f"hardware file {origin}: expected {{'format': 'lawfit.hardware/1', 'entries': {{...}}}}")
    return {k: _entry(k, e, origin) for k, e in d["entries"].items()}


_CATALOGUE: dict = _read_catalogue(
    resources.files(__name__).joinpath("hardware.json").read_text(encoding="utf-8"), "lawfit/cost/hardware.json"
)


def load_hardware(path) -> list:
    """Add the entries of a hardware JSON file (same schema as the shipped ``hardware.json``) to the catalogue;
    returns their keys. Entries are validated; a key already present is replaced."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise ValueError(f"hardware file not found: {p}")
    with open(p, encoding="utf-8") as f:
        entries = _read_catalogue(f.read(), p)
    _CATALOGUE.update(entries)
    return list(entries)


def hardware(spec: Union[str, Mapping, Hardware, None] = None) -> Union[Hardware, pd.DataFrame]:
    """A catalogue entry by key (``"h100-sxm"``), a validated user entry from a dict (hardware.json schema, plain
    numbers allowed: ``{"peak_tflops": {"bf16": 500}, "memory_gb": 64, "bandwidth_tbs": 2, "tdp_w": 500}``),
    or, with no argument, the catalogue as a DataFrame."""
    if spec is None:
        return catalogue()
    if isinstance(spec, Hardware):
        return spec
    if isinstance(spec, Mapping):
        key = str(spec.get("key", spec.get("name", "user")))
        return _entry(key, spec, "user dict")
    if isinstance(spec, str):
        k = spec.lower().replace("_", "-")
        if k in _CATALOGUE:
            return _CATALOGUE[k]
        if os.path.exists(spec):
            keys = load_hardware(spec)
            if len(keys) != 1:
                raise ValueError(f"hardware: file {spec} holds {len(keys)} entries; pass one of {keys} by key")
            return _CATALOGUE[keys[0]]
        raise ValueError(f"hardware: unknown hardware {spec!r}; known: {', '.join(sorted(_CATALOGUE))}")
    raise ValueError(f"hardware must be a catalogue key, a dict or a Hardware, got {type(spec).__name__}")


def _hardware_arg(spec, op: str) -> Hardware:
    """The ``hardware`` argument of a cost evaluation: a key, a dict or a Hardware (None is not a default)."""
    if spec is None or isinstance(spec, pd.DataFrame):
        raise ValueError(
            f"{op}: hardware must be a catalogue key (e.g. 'h100-sxm'; see lawfit.cost.catalogue()), a dict or a "
            f"lawfit.cost.Hardware, got {'None' if spec is None else 'a DataFrame'}; known keys: "
            f"{', '.join(sorted(_CATALOGUE))}"
        )
    return hardware(spec)


def catalogue() -> pd.DataFrame:
    """The hardware catalogue: a row per entry with dense peaks (TFLOPS), memory, bandwidth, TDP and price."""
    rows = []
    for k, h in _CATALOGUE.items():
        r = {"key": k, "name": h.name}
        for dt in DTYPES:
            r[f"{dt}_tflops"] = h.peak_flops[dt] / 1e12 if dt in h.peak_flops else np.nan
        r.update(memory_gb=h.memory_bytes / 1e9, bandwidth_tbs=h.bandwidth / 1e12, tdp_w=h.power_w,
                 price_per_hour_usd=h.price_per_hour)
        rows.append(r)
    out = pd.DataFrame(rows).set_index("key")
    out.attrs["conventions"] = {"peaks": "dense tensor-core figures per GPU; sources in lawfit.cost.hardware(key).sources"}
    return out


# ---- configurations ------------------------------------------------------------------------------------
class Grid:
    """A Cartesian grid of configurations: each field is a scalar or a 1-D axis; configuration i takes the
    mixed-radix digits of i over the axes in field order (the last varying fastest). Never materialised."""

    def __init__(self, **axes):
        unknown = set(axes) - set(FIELDS)
        if unknown:
            raise ValueError(f"grid: unknown field(s) {sorted(unknown)}; fields: {list(FIELDS)}")
        self.axes = {k: _field_values(k, v, "grid", allow_empty=False) for k, v in axes.items()}

    @property
    def shape(self) -> tuple:
        return tuple(len(self.axes[k]) for k in FIELDS if k in self.axes)

    @property
    def size(self) -> int:
        return int(np.prod([len(v) for v in self.axes.values()], dtype=np.float64)) if self.axes else 1

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"<lawfit.cost.Grid {self.size} configurations over {', '.join(f'{k}[{len(v)}]' for k, v in self.axes.items())}>"


def grid(**axes) -> Grid:
    """A Cartesian grid of configurations (see :class:`Grid`); pass it to :func:`evaluate` or :func:`lawfit.plan`."""
    return Grid(**axes)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _field_values(name: str, v, op: str = "configs", allow_empty: bool = True) -> np.ndarray:
    """A field's values (a scalar or a 1-D list) as float64, checked: the right type for the field (numbers;
    whole numbers for counts; names or codes for norm and position), never nested, non-empty unless
    allow_empty. ValueError names the field."""
    where = f"{op}: field '{name}'"
    shape_msg = f"{where} must be a scalar or a 1-D list of values"
    if isinstance(v, (Mapping, set, frozenset)):
        raise ValueError(f"{shape_msg}, got {type(v).__name__}")
    try:
        raw = np.asarray(v) if name not in _CODES else np.asarray(v, dtype=object)
    except (TypeError, ValueError):
        raise ValueError(f"{shape_msg}, got a nested list of unequal lengths") from None
    if raw.ndim > 1:
        raise ValueError(f"{shape_msg}, got a nested list of shape {tuple(raw.shape)}")
    raw = np.atleast_1d(raw)
    if raw.size == 0 and not allow_empty:
        raise ValueError(f"{where} must hold at least one value, got an empty list")
    if name in _CODES:
        codes = _CODES[name]
        out = np.empty(raw.shape, dtype=np.float64)
        for j, x in enumerate(raw):  # a handful of category names, not configurations
            if isinstance(x, str) and x in codes:
                out[j] = codes[x]
            elif _is_number(x) and float(x) in codes.values():
                out[j] = float(x)
            else:
                shown = x.item() if isinstance(x, np.generic) else x
                raise ValueError(f"{where}: unknown value {shown!r}; known: {list(codes)} (or their codes "
                                 f"{list(codes.values())})")
        return np.ascontiguousarray(out)
    if raw.dtype.kind not in "biuf":
        if raw.dtype.kind != "O" or not all(_is_number(x) or isinstance(x, (bool, np.bool_)) for x in raw):
            bad = next((x for x in raw if not (_is_number(x) or isinstance(x, (bool, np.bool_)))), raw[0])
            shown = bad.item() if isinstance(bad, np.generic) else bad
            raise ValueError(f"{where} must be numeric, got {type(shown).__name__} {shown!r}")
    a = raw.astype(np.float64)
    if name in _INT_FIELDS:
        frac = np.isfinite(a) & (a != np.round(a))
        if frac.any():
            raise ValueError(f"{where} must hold whole numbers, got {float(a[frac][0])!r}")
    return np.ascontiguousarray(a)


def _fields(configs) -> tuple:
    """(values list, strides int64[F], n, table_or_None) for the native call."""
    if isinstance(configs, Grid):
        axes = dict(configs.axes)
        mode = "grid"
    else:
        from .._data import to_pandas

        df = to_pandas(configs, name="configs") if not isinstance(configs, Mapping) else None
        if df is None:
            cols = {k: np.asarray(v) for k, v in configs.items()}
            lens = {len(np.atleast_1d(v)) for v in cols.values() if np.ndim(v) > 0}
            if len(lens) > 1:
                raise ValueError(f"configs: columns have different lengths {sorted(lens)}; use lawfit.cost.grid for a "
                                 "Cartesian product")
            axes = cols
        else:
            axes = {c: df[c].to_numpy() for c in df.columns if c in FIELDS}
        unknown = set(axes) - set(FIELDS)
        if unknown:
            raise ValueError(f"configs: unknown field(s) {sorted(unknown)}; fields: {list(FIELDS)}")
        axes = {k: _field_values(k, v) for k, v in axes.items()}
        mode = "table"
    for r in _REQUIRED:
        if r not in axes:
            raise ValueError(f"configs: missing field '{r}' (required: {', '.join(_REQUIRED)})")
    values, lens = [], []
    for k in FIELDS:
        a = axes.get(k)
        if a is None:
            a = np.array([_DEFAULTS[k]], dtype=np.float64)
        values.append(a)
        lens.append(len(a))
    strides = np.ones(len(FIELDS), dtype=np.int64)
    if mode == "grid":
        n = math.prod(lens)  # a Python int: no overflow, nothing built
        if n >= 2**63:
            raise ValueError(f"grid: {n:.3e} configurations; at most 2**63 can be indexed (use fewer or shorter "
                             "axes, or evaluate the grid in chunks)")
        s = 1
        for j in reversed(range(len(FIELDS))):
            strides[j] = s
            s *= lens[j]
    else:
        long = {L for L in lens if L != 1}
        if len(long) > 1:
            raise ValueError(f"configs: columns have different lengths {sorted(long)}")
        n = long.pop() if long else 1
    return values, strides, int(n), mode


def _assumptions(hw: Hardware, dtype: str, kw: dict) -> tuple:
    """Native assumption dict and a readable copy; every keyword is checked by name."""
    kw = dict(kw)
    a: dict = {
        "peak_flops": hw.peak(dtype), "bandwidth": hw.bandwidth, "memory_bytes": hw.memory_bytes,
        "power_w": hw.power_w, "price_per_hour": hw.price_per_hour,
    }
    if "price" in kw:
        kw["price_per_hour"] = kw.pop("price")
    if "mfu" in kw:
        kw["efficiency_compute"] = kw.pop("mfu")
    if "budget" in kw:
        kw["budget_usd"] = kw.pop("budget")
    known = {
        "price_per_hour", "efficiency_compute", "efficiency_memory", "utilisation", "pue", "grid_kg_per_kwh",
        "wue_onsite", "wue_offsite", "causal", "vocab_flops", "n_convention", "n_gpus", "zero", "recompute",
        "micro_batch", "weight_bytes", "kv_bytes", "batch_tokens", "infer_batch", "infer_context",
        "inference_tokens", "latency_slo", "budget_usd", "six_nd_train", "ffn_mult",
    }
    for k, v in kw.items():
        if k not in known:
            raise ValueError(f"unknown assumption {k!r}; known: {', '.join(sorted(known | {'price', 'mfu', 'budget'}))}")
        if k == "n_convention":
            if not isinstance(v, str) or v not in _N_CONVENTIONS:
                raise ValueError(f"n_convention must be one of {list(_N_CONVENTIONS)}, got {show(v)}")
            v = _N_CONVENTIONS[v]
        elif k == "recompute":
            if not isinstance(v, str) or v not in _RECOMPUTE:
                raise ValueError(f"recompute must be one of {list(_RECOMPUTE)}, got {show(v)}")
            v = _RECOMPUTE[v]
        try:
            if isinstance(v, (str, bytes)):
                raise TypeError
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"assumption {k!r} must be a number, got {type(v).__name__} {show(v)}") from None
        if math.isnan(x):
            raise ValueError(f"assumption {k!r} is NaN")
        if k in ("utilisation", "efficiency_compute", "efficiency_memory") and not (0 < x <= 1):
            raise ValueError(f"assumption {k!r} must be in (0, 1], got {show(v)}")
        if k == "pue" and not (x >= 1):
            raise ValueError(f"assumption 'pue' must be >= 1, got {show(v)}")
        if k in ("grid_kg_per_kwh", "wue_onsite", "wue_offsite", "price_per_hour", "inference_tokens", "budget_usd") and x < 0:
            raise ValueError(f"assumption {k!r} must be >= 0, got {show(v)}")
        if k == "latency_slo" and not x > 0:
            raise ValueError(f"assumption 'latency_slo' must be positive, got {show(v)}")
        a[k] = x
    return a


_INT_FIELDS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab", "seq_len", "n_experts",
               "active_experts")


def _grid_view(out: np.ndarray, L: int, stride: int) -> np.ndarray:
    """``out`` [n] as [n / (stride L), L, stride]: element [a, j, s] is a configuration whose digit is j."""
    return out.reshape(len(out) // (stride * L), L, stride)


def _fill(out: np.ndarray, v: np.ndarray, stride: int, mode: str) -> None:
    """Write a field's values for configurations 0..len(out)-1 into ``out``: a scalar filled, a table column
    copied, a grid axis broadcast in mixed-radix order (no temporary, no per-configuration index arithmetic)."""
    if len(v) == 1:
        out.fill(v[0])
    elif mode != "grid":
        out[...] = v
    else:
        _grid_view(out, len(v), stride)[...] = v.reshape(1, -1, 1)


def _column_dtype(k: str):
    """The dtype of field k's column in an evaluate() frame (norm and position: their int8 category codes)."""
    if k in _CODES:
        return np.int8
    if k in ("gated_mlp", "tied_embeddings", "biases"):
        return np.bool_
    if k in _INT_FIELDS:
        return np.int64
    return np.float64


def _config_arrays(values, strides, n: int, mode: str, a: dict) -> dict:
    """The configuration columns of an evaluate() frame as fresh arrays (the frame owns them without a copy):
    counts as int64 (derived n_kv_heads and d_ff resolved), flags as bool, norm and position as int8 category
    codes. Dtypes are set on the values before expansion (a grid's axes are short); each column is written in
    place, the derived ones with a mask of their zeros as the only temporary."""
    cols = {}
    for j, k in enumerate(FIELDS):
        v = values[j]
        dt = _column_dtype(k)
        col = np.empty(n, dtype=dt)
        _fill(col, v.astype(dt), int(strides[j]), mode)
        if k in ("n_kv_heads", "d_ff") and bool((v == 0).any()):
            # 0: n_kv_heads = n_heads, d_ff = round(ffn_mult * d_model), from the source field's values
            src = FIELDS.index("n_heads" if k == "n_kv_heads" else "d_model")
            sv = (values[src] if k == "n_kv_heads" else np.round(a.get("ffn_mult", 4.0) * values[src])).astype(dt)
            if len(v) == 1:  # the whole column is derived
                _fill(col, sv, int(strides[src]), mode)
            elif len(sv) == 1:
                col[col == 0] = sv[0]
            elif mode != "grid":
                np.copyto(col, sv, where=col == 0)
            else:
                L, st = len(sv), int(strides[src])
                np.copyto(_grid_view(col, L, st), sv.reshape(1, L, 1), where=_grid_view(col == 0, L, st))
        cols[k] = col
    return cols


def _categoricals(cols: dict) -> dict:
    """norm and position codes as categoricals (in place in ``cols``)."""
    for k in _CODES:
        if k in cols:
            cols[k] = pd.Categorical.from_codes(cols[k], categories=list(_CODES[k]))
    return cols


def _config_columns(values, strides, n: int, mode: str, a: dict) -> dict:
    """The configuration columns of an evaluate() frame (see :func:`_config_arrays`), norm and position as
    categoricals."""
    return _categoricals(_config_arrays(values, strides, n, mode, a))


# Configurations per native call when a table or grid is evaluated in chunks: the memory beyond the output is one
# chunk's outputs and configuration columns (~250 bytes a configuration with every output, ~60 MB).
_CHUNK_ROWS = 1 << 18


def _bytes_per_config(outs: Sequence[str], with_config: bool) -> float:
    """Bytes of one configuration's row of the result: 8 per output (1 for the boolean masks) and, with the
    configuration columns, their dtypes' sizes."""
    b = sum(1 if o in _BOOL_OUTPUTS else 8 for o in outs)
    if with_config:
        b += sum(np.dtype(_column_dtype(k)).itemsize for k in FIELDS)
    return float(b)


def _chunks(values, strides, n: int, mode: str, rows: int):
    """(start, stop, values, strides) of consecutive runs of at most ``rows`` configurations (at least rows/2 but
    for the last of a run), each a table or grid of its own: a table's rows sliced; a grid's outer axes fixed to
    one value, the first axis whose inner block fits sliced, the inner axes whole. Chunks, not configurations,
    are iterated."""
    if n == 0:
        return
    if mode != "grid":
        for s in range(0, n, rows):
            e = min(n, s + rows)
            yield s, e, [v if len(v) == 1 else v[s:e] for v in values], strides
        return
    lens = [len(v) for v in values]
    k = next(j for j in range(len(lens)) if strides[j] <= rows)  # strides[-1] == 1
    inner, L = int(strides[k]), lens[k]
    m = max(1, rows // inner)
    outer = lens[:k]
    for p in range(math.prod(outer)):
        digits = np.unravel_index(p, outer) if k else ()
        head = [values[j][int(d):int(d) + 1] for j, d in zip(range(k), digits)]
        for j0 in range(0, L, m):
            j1 = min(L, j0 + m)
            sub = head + [values[k][j0:j1]] + list(values[k + 1:])
            st = np.ones(len(sub), dtype=np.int64)
            acc = 1
            for j in reversed(range(len(sub))):
                st[j] = acc
                acc *= len(sub[j])
            s = (p * L + j0) * inner
            yield s, s + (j1 - j0) * inner, sub, st


def _native(values, strides, n: int, a: dict, outs: list, threads: int, device: str) -> dict:
    if device == "cuda":
        return _device.cuda_module().cost_evaluate_cuda(values, strides, n, a, outs)
    return _core.cost_evaluate(values, strides, n, a, outs, int(threads))


def _prepare(op: str, configs, hardware, dtype, outputs, threads, device, assumptions) -> tuple:
    """Checked arguments of evaluate / iter_evaluate: (hardware, assumptions, outputs, threads, values, strides, n,
    mode, meta)."""
    from .._args import resolve_threads
    from .._device import check_device

    check_device(device, op)
    threads = resolve_threads(threads, op=op)
    hw = _hardware_arg(hardware, op)
    a = _assumptions(hw, dtype, assumptions)
    outs = _outputs(outputs)
    values, strides, n, mode = _fields(configs)
    meta = {
        "conventions": {k: CONVENTIONS[k] for k in CONVENTIONS if k in outs or k in ("params", "flops_train")},
        "assumptions": a,
        "hardware": {"key": hw.key, "name": hw.name, "dtype": dtype, "sources": hw.sources},
    }
    return hw, a, outs, threads, values, strides, n, mode, meta


def _outputs(outputs) -> list:
    """The ``outputs`` argument as a list of output names: None (the defaults), "all", one name, or a sequence of
    names (a string is one name, never a sequence of characters)."""
    if outputs is None:
        return list(DEFAULT_OUTPUTS)
    if isinstance(outputs, str) and outputs == "all":
        return list(OUTPUTS)
    if isinstance(outputs, str):
        outs = [outputs]
    elif isinstance(outputs, (Mapping, set, frozenset, bytes)) or not hasattr(outputs, "__iter__"):
        raise ValueError(f"outputs must be an output name, 'all' or a list of output names, got "
                         f"{type(outputs).__name__} {show(outputs)}")
    else:
        outs = list(outputs)
    for o in outs:
        if not isinstance(o, str) or o not in OUTPUTS:
            raise ValueError(f"outputs: unknown output {o!r}; known: {', '.join(OUTPUTS)}")
    return list(dict.fromkeys(outs))


@with_progress("lawfit cost.evaluate")
def evaluate(
    configs,
    hardware: Union[str, Mapping, Hardware] = "h100-sxm",
    *,
    dtype: str = "bf16",
    outputs: Optional[Sequence[str]] = None,
    include_config: bool = True,
    as_frame: bool = True,
    threads: int = 0,
    device: str = "cpu",
    compute: bool = True,
    **assumptions,
):
    """Evaluate the cost model over a table (DataFrame / dict of equal-length columns, scalars broadcast) or a
    :func:`grid` of configurations, in one native call (GIL released, all cores).

    Fields: n_layers, d_model, n_heads, tokens (required); n_kv_heads (default n_heads), d_ff (default
    ffn_mult x d_model, ffn_mult=4), vocab (32000), seq_len (2048), gated_mlp, tied_embeddings, biases (False),
    n_experts, active_experts (1), norm ("rmsnorm" | "layernorm" | "none"), position ("rope" | "learned" |
    "relative").

    Assumptions (keywords): n_gpus (1), zero (0-3), recompute ("none" | "selective" | "full"), micro_batch (1),
    batch_tokens (4M), mfu / efficiency_compute (0.4), efficiency_memory (0.8), utilisation (0.8), price (USD per
    GPU-hour; default the catalogue's), pue (1.2), grid_kg_per_kwh (0.4), wue_onsite (0.5), wue_offsite (3.1),
    causal (False), vocab_flops (True), n_convention ("non_embedding" | "with_head" | "total", the N of 6ND),
    six_nd_train (time from 6ND instead of the appendix-F count), weight_bytes (2), kv_bytes (2), infer_batch (1),
    infer_context (seq_len), inference_tokens (0), latency_slo (s per decode step), budget (USD).

    outputs: None (the default outputs), "all", one output name (e.g. "params") or a list of names (see ``OUTPUTS``).

    Returns a DataFrame (configuration columns unless include_config=False, then the outputs; constraint masks
    ``fits_memory``, ``meets_slo``, ``within_budget`` as booleans) with ``attrs["conventions"]``,
    ``attrs["assumptions"]`` and ``attrs["hardware"]``; or a dict of arrays with as_frame=False.

    Memory: the result takes 8 bytes a configuration per output (1 per mask) plus, with the configuration
    columns, 85; a result larger than this machine's memory is refused before anything is built (stream it with
    :func:`iter_evaluate`, or search the grid with :func:`lawfit.plan` / :func:`lawfit.pareto`). Tables and grids
    of more than 2**18 configurations are evaluated in chunks written into the result's arrays: the call needs
    its output plus one chunk.

    device: "cpu" (default) or "cuda": evaluate on the current CUDA device (the field arrays are copied to the
    device, the outputs copied back; bit-identical to the CPU). ValueError on a build without CUDA.

    compute: for a Dask DataFrame / Ray Dataset ``configs`` (evaluated partition by partition on the current cluster:
    :mod:`lawfit.distributed`), False returns a lazy frame instead.
    """
    if compute is not True or is_distributed(configs):  # a Dask DataFrame / Ray Dataset: lawfit.distributed
        return distributed.dispatch("cost.evaluate", locals())
    from .._args import check_alloc

    hw, a, outs, threads, values, strides, n, mode, meta = _prepare(
        "cost.evaluate", configs, hardware, dtype, outputs, threads, device, assumptions)
    with_config = include_config and as_frame
    cfg_bytes = _bytes_per_config([], True) if with_config else 0.0
    check_alloc("cost.evaluate", n * _bytes_per_config(outs, with_config), f"{n} configurations x {len(outs)} outputs",
                (f"(The configuration columns take {cfg_bytes:.0f} of the {_bytes_per_config(outs, with_config):.0f} "
                 "bytes a configuration.) " if with_config else "")
                + "Stream it in chunks with lawfit.cost.iter_evaluate(..., chunk_rows=...), ask for fewer outputs "
                "or include_config=False, or search it with lawfit.plan / lawfit.pareto (grid=...), which never "
                "store the grid.")
    rows = _CHUNK_ROWS
    if n <= rows:
        res = _native(values, strides, n, a, outs, threads, device)
        for o in _BOOL_OUTPUTS & set(outs):
            res[o] = res[o].astype(bool)
        cols = _config_columns(values, strides, n, mode, a) if with_config else {}
    else:
        # In chunks, into the result's own arrays: the memory beyond the output is one chunk's. Every field value
        # is checked first, so that an error names its position in the whole table.
        _native(values, strides, 0, a, outs, threads, "cpu")
        res = {o: np.empty(n, dtype=bool if o in _BOOL_OUTPUTS else np.float64) for o in outs}
        for s0, s1, v, st in _chunks(values, strides, n, mode, rows):
            part = _native(v, st, s1 - s0, a, outs, threads, device)
            for o in outs:
                res[o][s0:s1] = part[o]  # (the masks: nonzero -> True, as astype(bool))
            del part
        cols = _config_columns(values, strides, n, mode, a) if with_config else {}
    if not as_frame:
        res = dict(res)
        res["conventions"] = meta
        return res
    cols.update(res)
    # The columns are fresh arrays owned by this frame: no copy, no consolidation into 2-D blocks (which
    # copied every column once more and dominated the time on 10^7 configurations).
    df = pd.DataFrame(cols, copy=False)
    df.attrs.update(meta)
    return df


def iter_evaluate(
    configs,
    hardware: Union[str, Mapping, Hardware] = "h100-sxm",
    *,
    chunk_rows: int = 1 << 20,
    dtype: str = "bf16",
    outputs: Optional[Sequence[str]] = None,
    include_config: bool = True,
    threads: int = 0,
    device: str = "cpu",
    **assumptions,
):
    """:func:`evaluate` in chunks of at most ``chunk_rows`` configurations: an iterator of DataFrames, each
    indexed by its configurations' positions in the whole table or grid (a RangeIndex), with the columns and
    values of the matching rows of ``evaluate(...)``; memory holds one chunk whatever the grid's size. A grid's
    chunks hold at least chunk_rows / 2 configurations but at the end of an axis. The arguments and every field
    value are checked when it is called, before the first chunk."""
    from .._args import check_alloc, check_int

    chunk_rows = check_int("chunk_rows", chunk_rows, 1, op="cost.iter_evaluate")
    hw, a, outs, threads, values, strides, n, mode, meta = _prepare(
        "cost.iter_evaluate", configs, hardware, dtype, outputs, threads, device, assumptions)
    check_alloc("cost.iter_evaluate", min(n, chunk_rows) * (8.0 * len(outs) + _bytes_per_config(outs, include_config)),
                f"chunk_rows={chunk_rows} configurations x {len(outs)} outputs", "Use a smaller chunk_rows.")
    _native(values, strides, 0, a, outs, threads, "cpu")  # every field value checked up front

    def chunks():
        for s0, s1, v, st in _chunks(values, strides, n, mode, chunk_rows):
            res = _native(v, st, s1 - s0, a, outs, threads, device)
            for o in _BOOL_OUTPUTS & set(outs):
                res[o] = res[o].astype(bool)
            cols = _config_columns(v, st, s1 - s0, mode, a) if include_config else {}
            cols.update(res)
            df = pd.DataFrame(cols, copy=False, index=pd.RangeIndex(s0, s1))
            df.attrs.update(meta)
            yield df

    return chunks()
