import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lawfit
from lawfit import cost

# Hoffmann et al. 2022, table A4: (n_layers, d_model, ffw_size, n_heads, kv_size) -> ratio to 6ND
CHINCHILLA_A4 = [
    (10, 640, 2560, 10, 64, 1.03),
    (20, 1024, 4096, 16, 64, 1.10),
    (24, 1280, 5120, 10, 128, 1.08),
    (26, 1792, 7168, 14, 128, 1.04),
    (28, 2048, 8192, 16, 128, 1.03),
    (40, 3584, 14336, 28, 128, 0.99),
]


def test_chinchilla_table_a4_ratios():
    t = pd.DataFrame(CHINCHILLA_A4, columns=["n_layers", "d_model", "d_ff", "n_heads", "kv", "ratio"])
    # The paper's models: 32k vocabulary, 2048 context, biases, LayerNorm, Transformer-XL relative positions;
    # N counts the output head but not the input embedding. The table's ratios match the appendix-F count
    # without the embedding and final-logit matmuls (vocab_flops=False).
    df = cost.evaluate(t.drop(columns=["kv", "ratio"]).assign(tokens=2048, vocab=32000, seq_len=2048, biases=True,
                       norm="layernorm", position="relative"), vocab_flops=False, n_convention="with_head")
    ratio = (df["flops_train"] / df["flops_train_6nd"]).to_numpy()
    np.testing.assert_array_equal(np.round(ratio, 2), t["ratio"].to_numpy())
    # Chinchilla's own parameter count for the 73M model (relative positions, biases, LayerNorms, output head).
    d, f, L, V = 640, 2560, 10, 32000
    per_layer = (3 * d * d + 3 * d) + (d * d + 2 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d
    assert df["flops_train_6nd"].iloc[0] == 6 * 2048 * (L * per_layer + 2 * d + d * V)


def test_appendix_f_hand_count():
    L, d, H, S, V, f = 2, 64, 4, 16, 100, 256
    df = cost.evaluate(dict(n_layers=L, d_model=d, n_heads=H, d_ff=f, vocab=V, seq_len=S, tokens=S), outputs="all")
    fwd = 2 * S * V * d + L * (2 * 3 * S * d * d + 2 * S * S * d + 3 * H * S * S + 2 * S * S * d + 2 * S * d * d
                               + 2 * S * 2 * d * f) + 2 * S * d * V
    assert df["flops_train"].iloc[0] == pytest.approx(3 * fwd, rel=1e-15)
    causal = cost.evaluate(dict(n_layers=L, d_model=d, n_heads=H, d_ff=f, vocab=V, seq_len=S, tokens=S), causal=True)
    att = L * (2 * S * S * d + 3 * H * S * S + 2 * S * S * d)
    assert causal["flops_train"].iloc[0] == pytest.approx(3 * (fwd - att / 2), rel=1e-15)
    # KV cache: 2 L n_kv d_head bytes; GQA with 1 KV head
    kv = cost.evaluate(dict(n_layers=L, d_model=d, n_heads=H, n_kv_heads=1, tokens=1), outputs=["kv_cache_bytes_per_token"])
    assert kv["kv_cache_bytes_per_token"].iloc[0] == 2 * L * 1 * (d // H) * 2


@settings(deadline=None, max_examples=30)
@given(L=st.integers(1, 96), d=st.integers(1, 64).map(lambda k: 64 * k))
def test_kaplan_non_embedding_count(L, d):
    df = cost.evaluate(dict(n_layers=L, d_model=d, n_heads=d // 64, tokens=1e9, norm="none"))
    assert df["params_non_embedding"].iloc[0] == 12 * L * d * d
    assert df["flops_train_6nd"].iloc[0] == 6 * 12 * L * d * d * 1e9


def test_memory_zero_and_footprint_by_hand():
    c = dict(n_layers=4, d_model=256, n_heads=4, tokens=1e9, norm="none", tied_embeddings=True)
    base = cost.evaluate(c, outputs="all")
    P = base["params"].iloc[0]
    for z, expect in [(0, 16 * P), (1, 4 * P + 12 * P / 8), (2, 2 * P + 14 * P / 8), (3, 16 * P / 8)]:
        m = cost.evaluate(c, n_gpus=8, zero=z, outputs=["memory_train_states_bytes"])
        assert m["memory_train_states_bytes"].iloc[0] == pytest.approx(expect, rel=1e-14)
    s, h, a, L = 2048, 256, 4, 4
    act = cost.evaluate(c, outputs=["memory_activations_bytes"], micro_batch=2)
    assert act.iloc[0, -1] == pytest.approx(L * s * 2 * h * (34 + 5 * a * s / h))
    full = cost.evaluate(c, outputs=["memory_activations_bytes"], micro_batch=2, recompute="full")
    assert full.iloc[0, -1] == pytest.approx(L * 2 * s * 2 * h)
    # footprint: kWh = gpu_hours * W * util / 1000 (IT), x PUE facility; CO2 on facility energy; water Li et al.
    f = cost.evaluate(c, outputs=["gpu_hours", "energy_it_kwh", "energy_kwh", "co2_kg", "water_l", "cost_usd"],
                      pue=1.5, utilisation=0.5, grid_kg_per_kwh=0.3, wue_onsite=1.0, wue_offsite=2.0, price=3.0)
    gh = f["gpu_hours"].iloc[0]
    it = gh * 700 * 0.5 / 1000
    assert f["energy_it_kwh"].iloc[0] == pytest.approx(it)
    assert f["energy_kwh"].iloc[0] == pytest.approx(it * 1.5)
    assert f["co2_kg"].iloc[0] == pytest.approx(it * 1.5 * 0.3)
    assert f["water_l"].iloc[0] == pytest.approx(it * (1.0 + 1.5 * 2.0))
    assert f["cost_usd"].iloc[0] == pytest.approx(gh * 3.0)
    assert "PUE" in f.attrs["conventions"]["energy_kwh"]


def test_roofline_compute_bound_training_time():
    c = dict(n_layers=32, d_model=4096, n_heads=32, tokens=1e12)
    df = cost.evaluate(c, n_gpus=64, zero=1, mfu=0.5, outputs=["flops_train", "time_train_s", "gpu_hours"])
    peak = 989.4e12
    assert df["time_train_s"].iloc[0] == pytest.approx(df["flops_train"].iloc[0] / (64 * peak * 0.5), rel=1e-12)
    assert df["gpu_hours"].iloc[0] == pytest.approx(df["time_train_s"].iloc[0] * 64 / 3600)


def test_decode_latency_memory_bound():
    c = dict(n_layers=32, d_model=4096, n_heads=32, tokens=1e12, seq_len=4096)
    df = cost.evaluate(c, outputs=["params_active", "latency_decode_s", "meets_slo"], latency_slo=0.001,
                       efficiency_memory=1.0)
    kv = 2 * 32 * 32 * 128 * 2 * 4096
    expect = (df["params_active"].iloc[0] * 2 + kv) / 3.35e12
    assert df["latency_decode_s"].iloc[0] == pytest.approx(expect, rel=1e-12)
    assert not df["meets_slo"].iloc[0]


def test_grid_equals_table_and_threads_deterministic():
    g = cost.grid(n_layers=[2, 8, 24], d_model=[256, 1024], n_heads=[4, 8], gated_mlp=[False, True],
                  tokens=np.geomspace(1e8, 1e11, 5), n_kv_heads=[0, 2])
    a = cost.evaluate(g, outputs="all")
    assert len(a) == g.size == 3 * 2 * 2 * 2 * 5 * 2
    table = a[list(cost.FIELDS)].copy()
    b = cost.evaluate(table, outputs="all")
    out_cols = list(cost.OUTPUTS)
    pd.testing.assert_frame_equal(a[out_cols], b[out_cols])
    c1 = cost.evaluate(g, outputs="all", threads=1)
    pd.testing.assert_frame_equal(a[out_cols], c1[out_cols])
    assert (a["n_kv_heads"] > 0).all() and (a["d_ff"] == 4 * a["d_model"]).all()


def test_moe_active_params():
    df = cost.evaluate(dict(n_layers=2, d_model=128, n_heads=2, n_experts=8, active_experts=2, tokens=1e6,
                            norm="none", tied_embeddings=True), outputs=["params", "params_active", "params_embedding"])
    mlp = 2 * 128 * 512
    assert df["params"].iloc[0] - df["params_active"].iloc[0] == 2 * 6 * mlp


@pytest.mark.parametrize(
    "configs, kw, field",
    [
        (dict(n_layers=0, d_model=128, n_heads=2, tokens=1e9), {}, "n_layers"),
        (dict(n_layers=2, d_model=100, n_heads=3, tokens=1e9), {}, "n_heads"),
        (dict(n_layers=2, d_model=128, n_heads=4, n_kv_heads=3, tokens=1e9), {}, "n_kv_heads"),
        (dict(n_layers=2, d_model=128, n_heads=2, tokens=np.nan), {}, "tokens"),
        (dict(n_layers=2, d_model=np.nan, n_heads=2, tokens=1e9), {}, "d_model"),
        (dict(n_layers=2, d_model=128, n_heads=2, tokens=1e9), {"budget": -1.0}, "budget"),
        (dict(n_layers=2, d_model=128, n_heads=2, tokens=1e9), {"pue": np.nan}, "pue"),
        (dict(n_layers=2, d_model=128, n_heads=2, tokens=1e9), {"hardware": "tpu-v9"}, "hardware"),
        (dict(n_layers=2, d_model=128, n_heads=2), {}, "tokens"),
        (dict(n_layers=2, d_model=128, n_heads=2, tokens=1e9, norm="batchnorm"), {}, "norm"),
    ],
)
def test_bad_input_names_field(configs, kw, field):
    with pytest.raises(ValueError, match=field):
        cost.evaluate(configs, **kw)


def test_bad_grid_heads():
    with pytest.raises(ValueError, match="n_heads"):
        cost.evaluate(cost.grid(n_layers=2, d_model=[128, 192], n_heads=[2, 5], tokens=1e9))


def test_hardware_catalogue_sources_and_user_entries(tmp_path):
    cat = cost.catalogue()
    for k in ["h100-sxm", "h100-pcie", "h200", "a100-40gb", "a100-80gb", "l40s", "mi300x"]:
        assert k in cat.index
        h = cost.hardware(k)
        assert all(h.sources.values()) and {"memory_gb", "bandwidth_tbs", "tdp_w"} <= set(h.sources)
        assert h.sparse and not any(h.sparse.values())
    assert cost.hardware("h100-sxm").peak("bf16") == pytest.approx(989.4e12)
    assert cost.hardware("h100-sxm").bandwidth == pytest.approx(3.35e12)
    user = {"name": "x", "peak_tflops": {"bf16": 100}, "memory_gb": 16, "bandwidth_tbs": 1, "tdp_w": 300}
    h = cost.hardware(user)
    assert h.peak("bf16") == 1e14 and h.sources["memory_gb"] == "user"
    with pytest.raises(ValueError, match="memory_gb"):
        cost.hardware({**user, "memory_gb": -1})
    with pytest.raises(ValueError, match="tdp_w"):
        cost.hardware({k: v for k, v in user.items() if k != "tdp_w"})
    with pytest.raises(ValueError, match="sparse"):
        cost.hardware({**user, "peak_tflops": {"bf16": {"value": 200, "sparse": True, "source": "s"}}}).peak("bf16")
    p = tmp_path / "hw.json"
    p.write_text(json.dumps({"format": "lawfit.hardware/1", "entries": {"my-gpu": user}}))
    assert cost.load_hardware(p) == ["my-gpu"]
    df = cost.evaluate(dict(n_layers=2, d_model=128, n_heads=2, tokens=1e9), hardware="my-gpu")
    assert df.attrs["hardware"]["key"] == "my-gpu"


def test_cost_package_ships_catalogue():
    import importlib.resources as r

    assert r.files("lawfit.cost").joinpath("hardware.json").is_file()
