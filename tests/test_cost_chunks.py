"""cost.evaluate in chunks (big tables and grids): the same frame, bit for bit, as one native call; the stream of
cost.iter_evaluate; the refusal of an output that cannot fit in memory."""
import numpy as np
import pandas as pd
import pytest

from lawfit import _args, cost

GRIDS = [
    dict(n_layers=[2, 8, 24], d_model=[256, 1024], n_heads=[4, 8], n_kv_heads=[0, 2], d_ff=[0, 1000],
         gated_mlp=[False, True], norm=["rmsnorm", "none", "layernorm"], position=["rope", "learned"],
         tokens=np.geomspace(1e8, 1e11, 7)),
    dict(n_layers=[2, 3], d_model=[256, 512, 768], n_heads=[4, 8], tokens=np.geomspace(1e8, 1e12, 301)),  # derived
    dict(n_layers=4, d_model=512, n_heads=8, tokens=np.geomspace(1e8, 1e12, 1000), seq_len=[512, 1024]),
]


def _identical(a: pd.DataFrame, b: pd.DataFrame):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    pd.testing.assert_index_equal(a.index, b.index)
    for c in a.columns:
        assert a[c].dtype == b[c].dtype, c
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if isinstance(a[c].dtype, pd.CategoricalDtype):
            x, y = a[c].cat.codes.to_numpy(), b[c].cat.codes.to_numpy()
        assert x.tobytes() == y.tobytes(), c
    assert a.attrs == b.attrs


@pytest.mark.parametrize("g", GRIDS)
@pytest.mark.parametrize("rows", [37, 500])
def test_chunked_grid_is_the_single_call_bit_for_bit(monkeypatch, g, rows):
    grid = cost.grid(**g)
    kw = dict(outputs="all", n_gpus=8, zero=1, inference_tokens=1e10, latency_slo=0.05, budget=1e5)
    ref = cost.evaluate(grid, **kw)
    ref_arrays = cost.evaluate(grid, as_frame=False, **kw)
    monkeypatch.setattr(cost, "_CHUNK_ROWS", rows)
    assert grid.size > rows
    _identical(cost.evaluate(grid, **kw), ref)
    _identical(cost.evaluate(grid, include_config=False, **kw), ref[list(cost.OUTPUTS)])
    arrays = cost.evaluate(grid, as_frame=False, **kw)
    for o in cost.OUTPUTS:
        assert arrays[o].dtype == ref_arrays[o].dtype and arrays[o].tobytes() == ref_arrays[o].tobytes(), o
    parts = list(cost.iter_evaluate(grid, chunk_rows=rows, **kw))
    assert all(len(p) <= rows for p in parts) and all(p.attrs == ref.attrs for p in parts)
    _identical(pd.concat(parts), ref)


def test_chunked_table_is_the_single_call_bit_for_bit(monkeypatch):
    full = cost.evaluate(cost.grid(**GRIDS[0]))
    table = {c: full[c].to_numpy() for c in ("n_layers", "d_model", "n_heads", "n_kv_heads", "tokens")}
    table["norm"] = full["norm"].astype(str).to_numpy()
    table["vocab"] = 50304  # a scalar: broadcast
    zero = np.arange(len(full)) % 3 == 0
    table["n_kv_heads"] = np.where(zero, 0, table["n_kv_heads"])  # 0: derived from n_heads, row by row
    table["d_ff"] = np.where(zero, 0, 1000)
    ref = cost.evaluate(table, outputs="all")
    np.testing.assert_array_equal(ref["n_kv_heads"], np.where(zero, table["n_heads"], table["n_kv_heads"]))
    np.testing.assert_array_equal(ref["d_ff"], np.where(zero, 4 * table["d_model"], 1000))
    monkeypatch.setattr(cost, "_CHUNK_ROWS", 100)
    _identical(cost.evaluate(table, outputs="all"), ref)
    _identical(pd.concat(cost.iter_evaluate(pd.DataFrame(table), outputs="all", chunk_rows=77)), ref)


def test_chunked_errors_name_the_position_in_the_whole_table(monkeypatch):
    tok = np.full(1000, 1e9)
    tok[777] = np.nan
    cfg = dict(n_layers=2, d_model=128, n_heads=2, tokens=tok)
    with pytest.raises(ValueError, match="field 'tokens' is NaN .*at position 777") as one:
        cost.evaluate(cfg)
    monkeypatch.setattr(cost, "_CHUNK_ROWS", 100)
    with pytest.raises(ValueError) as chunked:
        cost.evaluate(cfg)
    assert str(chunked.value) == str(one.value)
    with pytest.raises(ValueError) as streamed:
        cost.iter_evaluate(cfg, chunk_rows=10)  # checked when called, before the first chunk
    assert str(streamed.value) == str(one.value)
    with pytest.raises(ValueError, match="cost.iter_evaluate: chunk_rows must be >= 1, got 0"):
        cost.iter_evaluate(cfg, chunk_rows=0)


def test_iter_evaluate_streams_a_grid_too_big_for_memory(monkeypatch):
    g = cost.grid(n_layers=np.arange(2, 2002), d_model=np.arange(64, 64 * 1001, 64), n_heads=1,
                  tokens=np.geomspace(1e9, 1e13, 100_000))  # 2 * 10^11 configurations
    monkeypatch.setattr(_args, "memory_limit", lambda: 2**34)
    with pytest.raises(ValueError, match=r"cost.evaluate: 200000000000 configurations x 15 outputs would need "
                                         r"36\.8 TB; this machine has 17\.2 GB of memory. \(The configuration "
                                         r"columns take 85 of the 184 bytes a configuration.\) Stream it in chunks"):
        cost.evaluate(g)
    it = cost.iter_evaluate(g, chunk_rows=50_000, outputs=["params", "cost_usd"])
    first, second = next(it), next(it)
    assert len(first) == len(second) == 50_000 and second.index[0] == 50_000
    ref = cost.evaluate(cost.grid(n_layers=2, d_model=64, n_heads=1, tokens=np.geomspace(1e9, 1e13, 100_000)[50_000:]),
                        outputs=["params", "cost_usd"])
    np.testing.assert_array_equal(second["cost_usd"].to_numpy(), ref["cost_usd"].to_numpy())


def test_refusal_counts_the_result_bytes(monkeypatch):
    g = cost.grid(n_layers=np.arange(2, 102), d_model=np.arange(64, 64 * 101, 64), n_heads=1,
                  tokens=np.geomspace(1e9, 1e13, 100))  # 10^6 configurations
    per = 12 * 8 + 3 * 1 + (9 * 8 + 8 + 3 * 1 + 2 * 1)  # 12 float outputs, 3 masks; config columns
    monkeypatch.setattr(_args, "memory_limit", lambda: 10**6 * per - 1)
    with pytest.raises(ValueError, match=r"1000000 configurations x 15 outputs would need 184 MB.*iter_evaluate.*"
                                         r"include_config=False.*lawfit.plan / lawfit.pareto"):
        cost.evaluate(g)
    monkeypatch.setattr(_args, "memory_limit", lambda: 10**6 * per)
    assert len(cost.evaluate(g)) == 10**6
    assert len(cost.evaluate(g, outputs=["params"], include_config=False)) == 10**6
