import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

import lawfit
from lawfit import cost, planning
from lawfit.cli import main as cli_main

H = lawfit.datasets.HOFFMANN
P0 = np.array([H["E"], H["A"], H["B"], H["alpha"], H["beta"]])


@pytest.fixture(scope="module")
def fit():
    df = lawfit.datasets.synthetic_chinchilla(noise=0.0)
    return lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")


def L(N, D, p=P0):
    return p[0] + p[1] * N ** -p[3] + p[2] * D ** -p[4]


def test_optimal_closed_form_vs_brute_force(fit):
    C = np.geomspace(1e19, 1e26, 8)
    out = fit.optimal(C)
    assert list(out.columns) == ["compute", "N", "D", "loss"]
    p = fit._params[0]
    for c, n in zip(C, out["N"]):
        r = minimize_scalar(lambda u: L(np.exp(u), c / (6 * np.exp(u)), p), bounds=(0, np.log(c / 6)),
                            method="bounded", options={"xatol": 1e-12})
        assert n == pytest.approx(np.exp(r.x), rel=1e-6)
    num = planning.optimal(fit, C, method="numeric")
    np.testing.assert_allclose(num["N"], out["N"], rtol=1e-6)
    np.testing.assert_allclose(num["D"] * num["N"] * 6, C, rtol=1e-12)
    assert out.attrs["method"] == "closed" and "conventions" in out.attrs


@settings(deadline=None, max_examples=25)
@given(al=st.floats(0.15, 0.8), be=st.floats(0.15, 0.8), la=st.floats(2, 9), lb=st.floats(2, 9),
       lc=st.floats(18, 27))
def test_closed_equals_numeric_random_laws(al, be, la, lb, lc):
    p = np.array([[1.7, np.exp(la), np.exp(lb), al, be]])
    law = lawfit.get_law("chinchilla")
    C = np.array([10.0 ** lc])
    Nc, Dc, Lc, _ = planning._optimal_arrays(law, p, C, 6.0, "closed")
    Nn, Dn, Ln, _ = planning._optimal_arrays(law, p, C, 6.0, "numeric")
    if 1 < Nc[0] < C[0] / 6:
        # A value-based search resolves the argmin only to ~sqrt(eps |L| / L''), loose where the reducible loss is
        # tiny next to E; the loss itself agrees to rounding.
        assert Ln[0] == pytest.approx(Lc[0], rel=1e-14)
        assert Nn[0] == pytest.approx(Nc[0], rel=1e-3)


def test_iso_flop_and_frontier(fit):
    iso = planning.iso_flop(fit, [1e21, 1e23], n=101)
    opt = fit.optimal([1e21, 1e23])
    for c, n in zip(opt["compute"], opt["N"]):
        s = iso[iso["compute"] == c]
        assert s.loc[s["is_optimal"], "N"].iloc[0] == pytest.approx(n, rel=0.05)
        assert (s["loss"] >= s["loss"].min()).all()
    fr = planning.frontier(fit, n=10)
    assert len(fr) == 10 and fr["N"].is_monotonic_increasing


def test_optimal_interval_from_bootstrap_samples():
    df = lawfit.datasets.synthetic_chinchilla(n=120, noise=0.02)
    r = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss")
    C = [1e20, 1e24]
    with pytest.raises(ValueError, match="bootstrap"):
        planning.optimal(r, C, interval=0.9)
    r.bootstrap(n=300, seed=3)
    out = planning.frontier(r, C, interval=0.8)
    assert list(out.columns) == ["compute", "N", "D", "loss", "N_low", "N_high", "D_low", "D_high", "loss_low",
                                 "loss_high"]
    for q in ("N", "D", "loss"):
        assert (out[f"{q}_low"] < out[q]).all() and (out[q] < out[f"{q}_high"]).all()
    # the quantiles of the per-sample closed-form optima
    S = r.bootstrap_samples[0]
    S = S[np.isfinite(S).all(axis=1)]
    N, _ = planning._chinchilla_closed(S, np.full(len(S), 1e24), 6.0)
    np.testing.assert_allclose(out[["N_low", "N_high"]].iloc[1], np.quantile(N, [0.1, 0.9]), rtol=1e-12)
    # explicit samples; a curve whose samples are all NaN gets NaN bounds
    out = planning.optimal(r, 1e22, interval=0.5, samples=np.full((1, 10, 5), np.nan))
    assert out[["N_low", "N_high"]].isna().all(axis=None)
    with pytest.raises(ValueError, match="interval"):
        planning.optimal(r, 1e22, interval=1.5)


def _brute_inference(p, budget, d_inf, objective, target=None):
    # Dense grid in log N, refined twice around the best point.
    lo, hi = 0.0, np.log(budget / 6)
    for _ in range(4):
        u = np.linspace(lo, hi, 20001)
        N = np.exp(u)
        if objective == "loss":
            D = (budget / N - 2 * N * 0 - 2 * d_inf) / 6
            D = (budget - 2 * N * d_inf) / (6 * N)
            f = np.where(D > 0, L(N, np.maximum(D, 1e-300), p), np.inf)
        else:
            rest = target - p[0] - p[1] * N ** -p[3]
            with np.errstate(all="ignore"):
                D = np.where(rest > 0, (p[2] / rest) ** (1 / p[4]), np.inf)
            f = 6 * N * D + 2 * N * d_inf
        j = int(np.argmin(f))
        step = u[1] - u[0]
        lo, hi = u[max(j - 2, 0)], u[min(j + 2, len(u) - 1)]
    return N[j], D[j]


@pytest.mark.parametrize("d_inf", [0.0, 2e12, 2e13])
def test_inference_aware_vs_brute_force(fit, d_inf):
    budget = 1e24
    p = fit._params[0]
    out = lawfit.plan(fit, budget, inference_tokens=d_inf)
    Nb, Db = _brute_inference(p, budget, d_inf, "loss")
    assert out["N"].iloc[0] == pytest.approx(Nb, rel=1e-3)
    assert out["D"].iloc[0] == pytest.approx(Db, rel=1e-3)
    assert out["flops_total"].iloc[0] == pytest.approx(budget, rel=1e-9)
    oc = lawfit.plan(fit, budget, inference_tokens=d_inf, objective="cost")
    T = oc["target_loss"].iloc[0]
    Nb, Db = _brute_inference(p, budget, d_inf, "cost", target=T)
    assert oc["N"].iloc[0] == pytest.approx(Nb, rel=1e-3)
    assert oc["D"].iloc[0] == pytest.approx(Db, rel=1e-3)
    assert oc["loss"].iloc[0] == pytest.approx(T, rel=1e-9)
    assert oc["flops_total"].iloc[0] <= oc["flops_total_chinchilla"].iloc[0] * (1 + 1e-9)
    # numeric path (generic law solver) agrees with the Sardana-Frankle equation
    Nn, Dn = planning._plan_cost_numeric(fit.law, fit._params, np.array([T]), d_inf, 6.0, 2.0)
    assert Nn[0] == pytest.approx(oc["N"].iloc[0], rel=1e-3)


def _grid():
    return cost.grid(n_layers=np.arange(2, 50, 4), d_model=np.arange(256, 4097, 256), n_heads=4,
                     tokens=np.geomspace(1e9, 1e12, 40))


def _grid_np(budget, d_inf=0.0):
    df = cost.evaluate(_grid(), outputs=["params_non_embedding", "flops_total", "flops_train"],
                       inference_tokens=d_inf)
    return df["params_non_embedding"].to_numpy(), df["tokens"].to_numpy(), df["flops_total"].to_numpy()


def test_fused_grid_argmin_matches_numpy(fit):
    rng = np.random.default_rng(1)
    S = P0 * (1 + 0.03 * rng.standard_normal((40, 5)))
    S[3] = [1.7, 400.0, 0.0, 0.3, 0.3]  # B = 0: not strictly monotone, scanned in full
    budget = 3e20
    out = lawfit.plan(fit, budget, grid=_grid(), samples=S[None], inference_tokens=1e10)
    per = out.attrs["samples"]
    N, D, C = _grid_np(budget, 1e10)
    Lg = S[:, [0]] + S[:, [1]] * N[None] ** -S[:, [3]] + S[:, [2]] * D[None] ** -S[:, [4]]
    Lg[:, C > budget] = np.inf
    np.testing.assert_array_equal(per["index"].to_numpy(), np.argmin(Lg, axis=1))
    np.testing.assert_allclose(per["loss"], Lg.min(axis=1), rtol=1e-13)
    ex = lawfit.plan(fit, budget, grid=_grid(), samples=S[None], inference_tokens=1e10, prune=False)
    pd.testing.assert_frame_equal(per, ex.attrs["samples"])
    one = lawfit.plan(fit, budget, grid=_grid(), samples=S[None], inference_tokens=1e10, threads=1)
    pd.testing.assert_frame_equal(per, one.attrs["samples"])
    assert out["N_low"].iloc[0] <= out["N"].iloc[0] <= out["N_high"].iloc[0]


def test_fused_grid_cost_objective_and_pareto(fit):
    rng = np.random.default_rng(2)
    S = P0 * (1 + 0.02 * rng.standard_normal((20, 5)))
    target = 2.4
    out = lawfit.plan(fit, 1e30, grid=_grid(), samples=S[None], objective="cost", target_loss=target)
    per = out.attrs["samples"]
    N, D, C = _grid_np(1e30)
    Lg = S[:, [0]] + S[:, [1]] * N[None] ** -S[:, [3]] + S[:, [2]] * D[None] ** -S[:, [4]]
    Cm = np.where(Lg <= target, C[None], np.inf)
    best = np.argmin(Cm, axis=1)
    has = np.isfinite(Cm.min(axis=1))
    np.testing.assert_array_equal(per["index"].to_numpy()[has], best[has])
    assert (per["index"].to_numpy()[~has] == -1).all()
    par = planning.pareto(fit, _grid())
    order = np.lexsort((np.arange(len(C)), C))
    Lp = L(N, D, fit._params[0])[order]
    rec = np.flatnonzero(Lp < np.minimum.accumulate(np.r_[np.inf, Lp[:-1]]))
    np.testing.assert_array_equal(par["index"].to_numpy(), order[rec])
    assert par["cost"].is_monotonic_increasing and par["loss"].is_monotonic_decreasing


def test_plan_with_samples_and_hardware(fit):
    rng = np.random.default_rng(3)
    S = P0 * (1 + 0.01 * rng.standard_normal((30, 5)))
    out = lawfit.plan(fit, 1e23, inference_tokens=1e12, samples=S[None], hardware="h100-sxm", price=2.0)
    for c in ("N", "D", "loss", "flops_total"):
        assert out[f"{c}_low"].iloc[0] <= out[f"{c}_high"].iloc[0]
    assert out["cost_usd"].iloc[0] == pytest.approx(out["gpu_hours"].iloc[0] * 2.0)
    assert len(out.attrs["samples"]) == 30


@pytest.mark.parametrize(
    "kw, field",
    [({"budget": -1e20}, "budget"), ({"budget": np.nan}, "budget"), ({"budget": 1e20, "inference_tokens": -1},
     "inference_tokens"), ({"budget": 1e20, "hardware": "nope"}, "hardware"),
     ({"budget": 1e20, "objective": "speed"}, "objective")],
)
def test_plan_bad_input(fit, kw, field):
    with pytest.raises(ValueError, match=field):
        lawfit.plan(fit, **kw)


def test_optimal_bad_compute(fit):
    with pytest.raises(ValueError, match="compute"):
        fit.optimal(-1.0)
    with pytest.raises(ValueError, match="compute"):
        fit.optimal([1e20, np.nan])


def test_cli_plan_and_cost(fit, tmp_path, capsys):
    path = tmp_path / "fit.json"
    fit.save(path)
    assert cli_main(["plan", str(path), "--budget", "1e24", "--inference-tokens", "2e12", "--hardware", "h100-sxm",
                     "--price", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "cost_usd" in out and "conventions" in out
    assert cli_main(["cost", "--n-layers", "32", "--d-model", "4096", "--n-heads", "32", "--tokens", "1e12"]) == 0
    assert "flops_train_6nd" in capsys.readouterr().out
    assert cli_main(["cost", "--n-layers", "0", "--d-model", "4096", "--n-heads", "32", "--tokens", "1e12"]) == 2
    assert "n_layers" in capsys.readouterr().err


# ---- fused grid scan vs brute force with the native law evaluation (exact) --------------------------------
def _brute_native(law, S, N, D, C, budget=None, target=None):
    """Per-sample losses of every configuration with the law's own eval (what the scan must reproduce bit for bit),
    then the first argmin (LOSS) / first configuration in cost order reaching the target (COST)."""
    X = np.column_stack([N, D])
    Lg = np.stack([law._eval(X, np.ascontiguousarray(p)) for p in S])
    assert np.isfinite(Lg).all()
    if target is None:
        Lb = np.where(C[None] <= budget, Lg, np.inf)
        idx = np.argmin(Lb, axis=1)
        return idx, Lb[np.arange(len(S)), idx], Lg
    order = np.lexsort((np.arange(len(C)), C))
    reach = Lg[:, order] <= target
    first = np.where(reach.any(axis=1), order[np.argmax(reach, axis=1)], -1)
    return first, np.where(first >= 0, Lg[np.arange(len(S)), np.maximum(first, 0)], np.nan), Lg


def _law_fit_and_samples(name, n=24, seed=5):
    df = lawfit.datasets.synthetic_chinchilla(noise=0.0)
    f = lawfit.fit(df, name, x=["N", "D"], y="loss")
    rng = np.random.default_rng(seed)
    S = f._params[0] * (1 + 0.02 * rng.standard_normal((n, f.law.n_params)))
    if name == "chinchilla":  # ties: B = 0 (all D alike) and A = 0 (all N alike); not monotone, scanned in full
        S[3] = [1.7, 400.0, 0.0, 0.3, 0.3]
        S[7] = [1.7, 0.0, 400.0, 0.3, 0.3]
    return f, S


@pytest.mark.parametrize("name", ["chinchilla", "kaplan"])  # separable (term tables) / generic eval fall-back
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("prune", [True, False])
def test_fused_grid_exact_vs_native_brute_force(name, threads, prune):
    f, S = _law_fit_and_samples(name)
    N, D, C = _grid_np(0, 1e10)
    budget = 3e20
    out = lawfit.plan(f, budget, grid=_grid(), samples=S[None], inference_tokens=1e10, prune=prune, threads=threads)
    per = out.attrs["samples"]
    idx, loss, Lg = _brute_native(f.law, S, N, D, C, budget=budget)
    np.testing.assert_array_equal(per["index"].to_numpy(), idx)
    np.testing.assert_array_equal(per["loss"].to_numpy(), loss)  # bit-identical to the law's eval
    np.testing.assert_array_equal(per["cost"].to_numpy(), C[idx])
    p0 = f._params[0]
    i0, l0, _ = _brute_native(f.law, p0[None], N, D, C, budget=budget)
    assert out["index"].iloc[0] == i0[0] and out["loss"].iloc[0] == l0[0]
    # cost objective: first configuration in cost order reaching the target
    target = float(np.median(loss)) + 0.01
    oc = lawfit.plan(f, 1e30, grid=_grid(), samples=S[None], inference_tokens=1e10, objective="cost",
                     target_loss=target, prune=prune, threads=threads)
    ic, lc, _ = _brute_native(f.law, S, N, D, C, target=target)
    np.testing.assert_array_equal(oc.attrs["samples"]["index"].to_numpy(), ic)
    np.testing.assert_array_equal(oc.attrs["samples"]["loss"].to_numpy(), lc)
    # pareto: records of the loss in cost order
    par = planning.pareto(f, _grid(), samples=S[None], inference_tokens=1e10, prune=prune, threads=threads)
    order = np.lexsort((np.arange(len(C)), C))
    for s in range(len(S)):
        Lp = Lg[s, order]
        rec = np.flatnonzero(Lp < np.minimum.accumulate(np.r_[np.inf, Lp[:-1]]))
        got = par[par["sample"] == s]
        np.testing.assert_array_equal(got["index"].to_numpy(), order[rec])
        np.testing.assert_array_equal(got["loss"].to_numpy(), Lp[rec])


def test_fused_grid_thread_and_block_invariance(fit):
    # More samples than one block, odd counts, thread counts 1..3: identical frames.
    rng = np.random.default_rng(9)
    S = P0 * (1 + 0.05 * rng.standard_normal((37, 5)))
    kw = dict(grid=_grid(), samples=S[None], inference_tokens=1e10)
    ref = lawfit.plan(fit, 3e20, threads=1, prune=False, **kw).attrs["samples"]
    for threads in (2, 3):
        for prune in (True, False):
            pd.testing.assert_frame_equal(ref, lawfit.plan(fit, 3e20, threads=threads, prune=prune, **kw).attrs["samples"])
