"""The planner's per-configuration table (model x tokens factorisation, core/cost/plan.hpp) against the full cost
model (lawfit.cost.evaluate), bit for bit, on random grids and tables; and the fused plan against a brute force
over those outputs on grids whose tokens axis is not the fastest and on tables (no factorisation)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lawfit
from lawfit import cost, planning
from lawfit._native import _core

AXES = {
    "n_layers": [2, 3, 8, 24],
    "d_model": [256, 512, 768, 1024],
    "n_heads": [4, 8],
    "n_kv_heads": [0, 2, 4],
    "d_ff": [0, 1000, 3072],
    "vocab": [1000, 32000],
    "seq_len": [512, 2048],
    "tokens": [1e8, 3e9, 2e10, 1e11, 7e11],
    "n_experts": [1, 4],
    "active_experts": [1],
    "gated_mlp": [0, 1],
    "tied_embeddings": [0, 1],
    "biases": [0, 1],
    "norm": [0, 1, 2],
    "position": [0, 1, 2],
}


@st.composite
def grids(draw):
    axes = {"tokens": draw(st.lists(st.sampled_from(AXES["tokens"]), min_size=1, max_size=4, unique=True))}
    for k in ("n_layers", "d_model", "n_heads"):
        axes[k] = draw(st.lists(st.sampled_from(AXES[k]), min_size=1, max_size=3, unique=True))
    for k in draw(st.lists(st.sampled_from(sorted(set(AXES) - set(axes) - {"active_experts"})), max_size=4,
                           unique=True)):
        axes[k] = draw(st.lists(st.sampled_from(AXES[k]), min_size=1, max_size=3, unique=True))
    return axes


ASSUME = [
    dict(inference_tokens=1e9),
    dict(inference_tokens=0.0, n_gpus=64, zero=3, recompute="full", price=2.0, six_nd_train=1),
    dict(inference_tokens=2e10, n_gpus=8, zero=1, recompute="selective", n_convention="total", latency_slo=0.01,
         infer_batch=4, infer_context=4096),
]


def _table(axes, as_table, assume, options):
    g = cost.grid(**axes)
    if as_table:  # the same configurations as a table (every row its own model)
        df = cost.evaluate(g, outputs=["params"])
        cfg = {k: df[k].to_numpy() if k not in ("norm", "position") else df[k].cat.codes.to_numpy() for k in axes}
        cfg = {k: v.astype(np.float64) for k, v in cfg.items()}
        g = cfg
    hw = cost.hardware("h100-sxm")
    a = cost._assumptions(hw, "bf16", assume)
    values, strides, n, _ = cost._fields(g)
    t = _core._cost_plan_table(values, strides, n, a, options)
    ev = cost.evaluate(g, outputs="all", **assume)
    return t, ev


@settings(deadline=None, max_examples=40)
@given(axes=grids(), which=st.integers(0, len(ASSUME) - 1), as_table=st.booleans(), unit=st.sampled_from([0, 1]),
       fit_slo=st.booleans())
def test_plan_table_equals_evaluate(axes, which, as_table, unit, fit_slo):
    assume = ASSUME[which]
    nconv = {"total": 2}.get(assume.get("n_convention"), 0)
    ev0 = cost.evaluate(cost.grid(**axes), outputs=["flops_total", "cost_total_usd"], **assume)
    c0 = (ev0["flops_total"] if unit == 0 else ev0["cost_total_usd"]).to_numpy()
    budget = float(np.median(c0))
    options = {"objective": 0, "unit": unit, "budget": budget, "n_convention": nconv,
               "require_fit": float(fit_slo), "require_slo": float(fit_slo), "prune": 1.0}
    t, ev = _table(axes, as_table, assume, options)
    assert bool(t["factored"]) == (not as_table or len(ev) == 1)  # a table's rows are their own models
    N = ev["params_active"].to_numpy() - ev["params_embedding"].to_numpy() if nconv == 0 else \
        ev["params_active"].to_numpy()
    C = (ev["flops_total"] if unit == 0 else ev["cost_total_usd"]).to_numpy()
    np.testing.assert_array_equal(t["N"], N)
    np.testing.assert_array_equal(t["D"], ev["tokens"].to_numpy())
    np.testing.assert_array_equal(t["cost"], C)
    ok = np.isfinite(C) & (ev["tokens"].to_numpy() > 0) & (C <= budget)
    if fit_slo:
        ok &= ev["fits_memory"].to_numpy() & ev["meets_slo"].to_numpy()
    np.testing.assert_array_equal(t["ok"], ok)
    if not as_table:
        # Configurations of one model share every field but tokens.
        fields = [k for k in axes if k != "tokens"]
        key = pd.DataFrame({k: ev[k].astype(str) for k in fields}) if fields else pd.DataFrame(index=ev.index)
        if fields:
            assert (key.groupby(t["model"]).nunique() == 1).all().all()
        assert len(np.unique(t["model"])) == len(ev) // len(axes["tokens"])


@pytest.fixture(scope="module")
def fit():
    df = lawfit.datasets.synthetic_chinchilla(noise=0.0)
    return lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")


@pytest.mark.parametrize("as_table", [False, True])
@pytest.mark.parametrize("prune", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_plan_exact_on_interleaved_grid_and_table(fit, as_table, prune, threads):
    # tokens is not the fastest axis here (gated_mlp, norm come after it in field order): models interleave.
    axes = dict(n_layers=[2, 6, 10, 14], d_model=[256, 512, 768], n_heads=4, tokens=np.geomspace(1e9, 1e11, 9),
                gated_mlp=[0, 1], norm=["rmsnorm", "layernorm"])
    g = cost.grid(**axes)
    ev = cost.evaluate(g, outputs=["params_active", "params_embedding", "flops_total"], inference_tokens=1e9)
    N = ev["params_active"].to_numpy() - ev["params_embedding"].to_numpy()
    D = ev["tokens"].to_numpy()
    C = ev["flops_total"].to_numpy()
    if as_table:
        g = pd.DataFrame({k: ev[k] for k in ("n_layers", "d_model", "n_heads", "tokens", "gated_mlp")})
        g["norm"] = ev["norm"].astype(str)
    rng = np.random.default_rng(4)
    P0 = fit._params[0]
    S = P0 * (1 + 0.05 * rng.standard_normal((21, 5)))
    S[2] = [1.7, 400.0, 0.0, 0.3, 0.3]  # not monotone: scanned in full
    budget = float(np.quantile(C, 0.6))
    out = lawfit.plan(fit, budget, grid=g, samples=S[None], inference_tokens=1e9, prune=prune, threads=threads)
    per = out.attrs["samples"]
    X = np.column_stack([N, D])
    Lg = np.stack([fit.law._eval(X, np.ascontiguousarray(p)) for p in S])
    Lb = np.where(C[None] <= budget, Lg, np.inf)
    idx = np.argmin(Lb, axis=1)
    np.testing.assert_array_equal(per["index"].to_numpy(), idx)
    np.testing.assert_array_equal(per["loss"].to_numpy(), Lb[np.arange(len(S)), idx])
    np.testing.assert_array_equal(per["cost"].to_numpy(), C[idx])
    np.testing.assert_array_equal(per["N"].to_numpy(), N[idx])
    assert out["n_admissible"].iloc[0] == int((C <= budget).sum())
    # pareto in cost order
    par = planning.pareto(fit, g, samples=S[None], inference_tokens=1e9, prune=prune, threads=threads)
    order = np.lexsort((np.arange(len(C)), C))
    for s in range(len(S)):
        Lp = Lg[s, order]
        rec = np.flatnonzero(Lp < np.minimum.accumulate(np.r_[np.inf, Lp[:-1]]))
        got = par[par["sample"] == s]
        np.testing.assert_array_equal(got["index"].to_numpy(), order[rec])


def test_plan_ties_go_to_lowest_index(fit):
    # Duplicate tokens values and a law with A = 0 (every N alike): many exact ties across models and digits.
    g = cost.grid(n_layers=[4, 2, 4], d_model=[512, 256], n_heads=4, tokens=[1e10, 3e9, 1e10, 3e9])
    S = np.array([[1.7, 0.0, 400.0, 0.3, 0.3], [1.7, 400.0, 0.0, 0.3, 0.3], list(fit._params[0])])
    ev = cost.evaluate(g, outputs=["params_active", "params_embedding", "flops_total"])
    N = ev["params_active"].to_numpy() - ev["params_embedding"].to_numpy()
    X = np.column_stack([N, ev["tokens"].to_numpy()])
    for prune in (True, False):
        per = lawfit.plan(fit, 1e30, grid=g, samples=S[None], prune=prune).attrs["samples"]
        Lg = np.stack([fit.law._eval(X, np.ascontiguousarray(p)) for p in S])
        np.testing.assert_array_equal(per["index"].to_numpy(), np.argmin(Lg, axis=1))


def test_evaluate_frame_columns_match_fields():
    g = cost.grid(n_layers=[2, 4], d_model=[256, 512], n_heads=4, n_kv_heads=[0, 2], d_ff=[0, 1000],
                  tokens=[1e9, 2e9, 5e9], gated_mlp=[0, 1], norm=["rmsnorm", "none"])
    df = cost.evaluate(g)
    n = g.size
    assert len(df) == n
    i = np.arange(n)
    # last field fastest: norm (2), gated_mlp (2), tokens (3), d_ff (2), n_kv_heads (2), d_model (2), n_layers (2)
    np.testing.assert_array_equal(df["norm"].astype(str).to_numpy(), np.array(["rmsnorm", "none"])[i % 2])
    np.testing.assert_array_equal(df["gated_mlp"].to_numpy(), ((i // 2) % 2).astype(bool))
    np.testing.assert_array_equal(df["tokens"].to_numpy(), np.array([1e9, 2e9, 5e9])[(i // 4) % 3])
    np.testing.assert_array_equal(df["d_ff"].to_numpy(),
                                  np.where((i // 12) % 2 == 0, 4 * df["d_model"].to_numpy(), 1000))
    np.testing.assert_array_equal(df["n_kv_heads"].to_numpy(), np.where((i // 24) % 2 == 0, 4, 2))
    np.testing.assert_array_equal(df["n_layers"].to_numpy(), np.array([2, 4])[i // 96])
    assert df["n_layers"].dtype == np.int64 and df["gated_mlp"].dtype == bool
    assert df["vocab"].dtype == np.int64 and (df["vocab"] == 32000).all()
    # derived columns from a scalar 0: the source axis expanded with its own stride
    d3 = cost.evaluate(cost.grid(n_layers=[2, 3], d_model=[256, 512, 768], n_heads=[4, 8], tokens=[1e9, 2e9]))
    np.testing.assert_array_equal(d3["d_ff"].to_numpy(), 4 * d3["d_model"].to_numpy())
    np.testing.assert_array_equal(d3["n_kv_heads"].to_numpy(), d3["n_heads"].to_numpy())
    np.testing.assert_array_equal(d3["n_heads"].to_numpy(), np.tile(np.repeat([4, 8], 2), 6))
    # the frame owns its columns (no aliasing of caller arrays in table mode)
    tok = np.array([1e9, 2e9])
    d2 = cost.evaluate({"n_layers": [2, 2], "d_model": [256, 256], "n_heads": 4, "tokens": tok})
    d2.loc[0, "tokens"] = 5.0
    assert tok[0] == 1e9
