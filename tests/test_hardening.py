"""Hardening of the Python layer: every bad argument, damaged file or impossible request raises one ValueError that
names the argument (or field), up front, with plain Python values in the message; failures of one curve give
that curve a status and never spoil the others."""
import json
import re

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit import _args, cost, evals
from lawfit.cli import main
from lawfit.extrapolation import extrapolate

NUMPY_REPR = re.compile(r"np\.(float|int|uint|bool|str)\w*\(")


def _raises(match, fn, *a, **kw):
    """fn(*a, **kw) raises ValueError matching ``match``, without numpy reprs in the message."""
    with pytest.raises(ValueError, match=match) as info:
        fn(*a, **kw)
    assert not NUMPY_REPR.search(str(info.value)), str(info.value)
    return str(info.value)


@pytest.fixture(scope="module")
def curves():
    return lawfit.datasets.synthetic_power_law(5, noise=0.01, seed=1)


@pytest.fixture(scope="module")
def res(curves):
    return lawfit.fit(curves, "power_law", x="x", y="y", by="curve")


# ---- 1. cost.evaluate(hardware=None) ------------------------------------------------------------------
CFG = dict(n_layers=2, d_model=128, n_heads=2, tokens=1e9)


@pytest.mark.parametrize("hw", [None, 5, "tpu-v9", pd.DataFrame()])
def test_cost_evaluate_bad_hardware_names_it(hw):
    _raises("hardware", cost.evaluate, CFG, hardware=hw)


def test_sample_cost_hardware_none_names_it():
    _raises("hardware", evals.sample_cost, dict(n_layers=2, d_model=128, n_heads=2), 10, hardware=None)


# ---- 2. formulas: nesting depth, which parameters a formula produced --------------------------------------
@pytest.mark.parametrize("formula", [
    "(" * 400 + "a*x" + ")" * 400,
    "(" * 330 + "a*x" + ")" * 330,
    "-" * 500 + "a*x",
    "exp(" * 400 + "a*x" + ")" * 400,
    "a*x" + "^x" * 400,
])
def test_deep_formula_is_a_value_error(formula):
    msg = _raises(r"formula: the formula is nested too deeply \(more than 200 levels", lawfit.Law, formula, inputs="x")
    assert "at position" in msg


def test_moderately_nested_formula_compiles():
    law = lawfit.Law("(" * 150 + "a*x" + ")" * 150 + " + " + "exp(" * 60 + "b" + ")" * 60, inputs="x")
    assert law.params == ("a", "b")


def test_formula_typo_shows_the_parameters_it_produced():
    law = lawfit.Law("E + A*N^-alhpa", inputs=["N"])
    assert law.params == ("E", "A", "alhpa")
    assert "params=['E', 'A', 'alhpa']" in repr(law) and "alhpa" in str(law)
    msg = _raises(r"input 'N' is never used", lawfit.Law, "E + A*n^-alpha", inputs=["N"])
    assert "E, A, n, alpha" in msg


# ---- 3. cost.grid validates every axis --------------------------------------------------------------------
@pytest.mark.parametrize("axes,match", [
    (dict(norm=[["rmsnorm", "layernorm"]]), r"field 'norm' must be a scalar or a 1-D list"),
    (dict(norm=[5]), r"field 'norm': unknown value 5"),
    (dict(norm=["batchnorm"]), r"field 'norm': unknown value 'batchnorm'"),
    (dict(norm=[]), r"field 'norm' must hold at least one value"),
    (dict(position=[1.5]), r"field 'position': unknown value 1.5"),
    (dict(n_layers=[]), r"field 'n_layers' must hold at least one value"),
    (dict(n_layers=[[2, 4]]), r"field 'n_layers' must be a scalar or a 1-D list"),
    (dict(n_layers=[[2, 4], [6]]), r"field 'n_layers' must be a scalar or a 1-D list"),
    (dict(n_layers=["a"]), r"field 'n_layers' must be numeric, got str 'a'"),
    (dict(n_layers="24"), r"field 'n_layers' must be numeric"),
    (dict(n_layers=[2.5]), r"field 'n_layers' must hold whole numbers, got 2.5"),
    (dict(tokens={"a": 1}), r"field 'tokens' must be a scalar or a 1-D list"),
    (dict(tokens=[1e9, None]), r"field 'tokens' must be numeric"),
])
def test_grid_axis_errors_name_the_axis(axes, match):
    _raises(match, cost.grid, **{**CFG, **axes})


def test_grid_good_axes_still_work():
    g = cost.grid(n_layers=np.array([2, 4]), d_model=[128.0], n_heads=2, tokens=[1e9, 2e9], norm=["rmsnorm", 2],
                  gated_mlp=[False, True])
    assert g.size == 16
    assert len(cost.evaluate(g)) == 16


# ---- 4. load_result: schema-checked up front -------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    df = lawfit.datasets.synthetic_power_law(5, noise=0.01, seed=3)
    df = df[~((df["curve"] == 4) & (df.groupby("curve").cumcount() > 1))]  # curve 4: too few points
    r = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    assert r.status.loc[4] == "TOO_FEW_POINTS"
    path = tmp_path_factory.mktemp("res") / "fit.json"
    r.save(path)
    return path, df


def _corruptions(text: str) -> list:
    """(name, file text) of ~40 damaged versions of a saved result."""
    d = json.loads(text)
    out = [(f"truncated at {k}", text[:k]) for k in (0, 1, 2, 10, 100, len(text) // 2, len(text) - 1)]
    out.append(("not json", "this is not json"))
    out.append(("a list", "[1, 2, 3]"))
    out.append(("a csv", "curve,E,A,alpha\n0,1.0,2.0,0.5\n"))
    for k in ("format", "law", "by", "keys", "options", "params", "cost", "cov", "iters", "status", "best_start",
              "n_points"):
        out.append((f"without {k}", json.dumps({a: b for a, b in d.items() if a != k})))
    for k in d:
        out.append((f"{k} = 'oops'", json.dumps({**d, k: "oops"})))
    for k in ("law", "params", "cov", "status", "n_points", "x_range"):
        out.append((f"{k} = 7", json.dumps({**d, k: 7})))

    def edit(name, fn):
        e = json.loads(text)
        fn(e)
        out.append((name, json.dumps(e)))

    edit("n_points < 0", lambda e: e["n_points"].__setitem__(2, -5))
    edit("iters < 0", lambda e: e["iters"].__setitem__(1, -1))
    edit("best_start < -1", lambda e: e["best_start"].__setitem__(0, -3))
    edit("status -1", lambda e: e["status"].__setitem__(3, -1))
    edit("status 99", lambda e: e["status"].__setitem__(3, 99))
    edit("status 1.5", lambda e: e["status"].__setitem__(3, 1.5))
    edit("status null", lambda e: e["status"].__setitem__(3, None))
    edit("status true", lambda e: e["status"].__setitem__(3, True))
    edit("n_points NaN", lambda e: e["n_points"].__setitem__(0, float("nan")))
    edit("params: a curve short", lambda e: e["params"].pop())
    edit("params: a parameter short", lambda e: e["params"][1].pop())
    edit("params: a string", lambda e: e["params"][1].__setitem__(0, "1.0"))
    edit("params: NaN for a converged curve", lambda e: e["params"][0].__setitem__(2, None))
    edit("cov: wrong shape", lambda e: e["cov"][2].pop())
    edit("cost < 0", lambda e: e["cost"].__setitem__(0, -1.0))
    edit("cost: a curve short", lambda e: e["cost"].pop())
    edit("keys: a curve short", lambda e: e["keys"]["curve"].pop())
    edit("keys: duplicate", lambda e: e["keys"]["curve"].__setitem__(1, e["keys"]["curve"][0]))
    edit("keys: a list value", lambda e: e["keys"]["curve"].__setitem__(1, [1]))
    edit("status empty", lambda e: [e[k].clear() for k in ("status", "params", "cost", "cov", "iters",
                                                          "best_start", "n_points")])
    edit("law: unknown name", lambda e: e["law"].__setitem__("name", "no_such_law"))
    edit("law: unknown kind", lambda e: e["law"].__setitem__("kind", "magic"))
    edit("options without x", lambda e: e["options"].pop("x"))
    edit("options.x wrong length", lambda e: e["options"].__setitem__("x", ["x", "z"]))
    edit("options.loss unknown", lambda e: e["options"].__setitem__("loss", "l3"))
    edit("schema_version from the future", lambda e: e.__setitem__("schema_version", 99))
    edit("schema_version 0", lambda e: e.__setitem__("schema_version", 0))
    edit("format other", lambda e: e.__setitem__("format", "lawfit.FitResult/9"))
    edit("x_range wrong shape", lambda e: e["x_range"][0].__setitem__(0, [1.0]))
    return out


def test_load_result_rejects_every_corruption_at_load_time(saved, tmp_path):
    path, df = saved
    text = path.read_text()
    corr = _corruptions(text)
    assert len(corr) > 40
    for i, (name, bad) in enumerate(corr):
        p = tmp_path / f"bad{i}.json"
        p.write_text(bad)
        with pytest.raises(ValueError) as info:  # at load time, not when .params or .predict is used
            lawfit.load_result(p)
        msg = str(info.value)
        assert msg.startswith(f"load_result: {p}: "), (name, msg)
        assert not NUMPY_REPR.search(msg), (name, msg)


def test_load_result_messages_name_the_field(saved, tmp_path):
    path, _ = saved
    d = json.loads(path.read_text())

    def load(e):
        p = tmp_path / "x.json"
        p.write_text(json.dumps(e))
        return lambda: lawfit.load_result(p)

    e = json.loads(json.dumps(d))
    e["status"][3] = -1
    _raises(r"field 'status' must hold codes of lawfit.Status \(0..6\), got -1 at curve 3", load(e))
    e = json.loads(json.dumps(d))
    e["n_points"][2] = -5
    _raises(r"field 'n_points' must hold point counts >= 0, got -5 at curve 2", load(e))
    e = json.loads(json.dumps(d))
    e["params"][1].pop()
    _raises(r"field 'params' must hold 3 values per curve \(one per parameter\), got 2 at curve 1", load(e))
    _raises(r"field 'cost' is missing", load({k: v for k, v in d.items() if k != "cost"}))
    p = tmp_path / "t.json"
    p.write_text(path.read_text()[:-20])
    _raises(r"not a lawfit result JSON .*truncated", lambda: lawfit.load_result(p))
    _raises(r"file not found", lambda: lawfit.load_result(tmp_path / "nope.json"))


def test_load_result_reads_good_and_legacy_files(saved, tmp_path, curves):
    path, df = saved
    d = json.loads(path.read_text())
    assert d["schema_version"] == 1 and d["format"] == "lawfit.FitResult/1"
    r = lawfit.load_result(path)
    assert list(r.status) == ["CONVERGED"] * 4 + ["TOO_FEW_POINTS"]
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({k: v for k, v in d.items() if k not in ("schema_version", "x_range")}))
    r2 = lawfit.load_result(legacy)
    pd.testing.assert_frame_equal(r2.params, r.params)
    pd.testing.assert_frame_equal(r2.predict(df), r.predict(df))
    law = lawfit.Law("E + A*x^-alpha", inputs="x")
    rf = lawfit.fit(curves, law, x="x", y="y", by="curve")
    rf.save(tmp_path / "formula.json")
    pd.testing.assert_frame_equal(lawfit.load_result(tmp_path / "formula.json").params, rf.params)


def test_cli_predict_with_a_csv_says_it_is_not_a_result(saved, tmp_path, capsys):
    path, df = saved
    data = tmp_path / "data.csv"
    df.to_csv(data, index=False)
    lawfit.load_result(path).to_frame().to_csv(tmp_path / "params.csv")
    assert main(["predict", str(tmp_path / "params.csv"), str(data)]) == 2
    err = capsys.readouterr().err
    assert "not a lawfit result JSON" in err and "CSV" in err


# ---- 5. outputs too large for memory are refused before allocating -----------------------------------------
def test_huge_bootstrap_is_refused(res):
    msg = _raises(r"bootstrap: n=1000000000000 replicates x 5 curve\(s\) x 3 parameters would need .* TB", res.bootstrap,
                  n=10**12)
    assert "this machine has" in msg


def test_huge_random_starts_are_refused(curves):
    _raises(r"fit: starts=1000000000000 random starts x 3 parameters would need", lawfit.fit, curves, "power_law",
            x="x", y="y", by="curve", starts=10**12)


def test_huge_cost_grid_is_refused_without_building_it():
    g = cost.grid(n_layers=np.arange(1, 10001), d_model=np.arange(64, 64 * 10001, 64), n_heads=np.arange(1, 10001),
                  tokens=np.geomspace(1e9, 1e13, 10000))
    msg = _raises(r"cost.evaluate: 10000000000000000 configurations x \d+ outputs would need", cost.evaluate, g)
    assert "lawfit.plan" in msg and "chunks" in msg
    big = cost.grid(**{k: np.arange(1, 1001) for k in ("n_layers", "d_model", "n_heads", "tokens", "vocab",
                                                         "seq_len", "d_ff")})
    _raises(r"grid: .* configurations; at most 2\*\*63", cost.evaluate, big)


def test_huge_extrapolation_samples_are_refused(curves):
    _raises(r"extrapolate: samples=1000000000000 draws x 5 curve\(s\)", extrapolate, curves, x="x", y="y",
            by="curve", horizon=100, samples=10**12)


def test_memory_limit_comes_from_the_machine(monkeypatch, res):
    assert _args.memory_limit() > 2**20
    monkeypatch.setattr(_args, "memory_limit", lambda: 1000)
    _raises(r"bootstrap: n=100 replicates .* this machine has 1 KB of memory", res.bootstrap, n=100)


# ---- 6. argument types: one helper, messages naming the argument -------------------------------------------
@pytest.mark.parametrize("kw,match", [
    (dict(by=5), r"by column 5 not found"),
    (dict(by=[["curve"]]), r"by must name column\(s\)"),
    (dict(y=None), r"y must name one column, got NoneType None"),
    (dict(y=["y"]), r"y must name one column"),
    (dict(weight=["w"]), r"weight must name one column"),
    (dict(threads="2"), r"threads must be an integer >= 0, got str '2'"),
    (dict(threads=2.0), r"threads must be an integer >= 0, got float 2.0"),
    (dict(threads=-1), r"threads must be >= 0, got -1"),
    (dict(max_iter=2.5), r"max_iter must be an integer >= 1, got float 2.5"),
    (dict(max_iter=True), r"max_iter must be an integer"),
    (dict(delta="1"), r"delta must be a number"),
    (dict(seed=-1), r"seed must be an integer in \[0, 2\*\*64\), got -1"),
    (dict(seed=2**64), r"seed must be an integer in \[0, 2\*\*64\), got 18446744073709551616"),
    (dict(seed=1.5), r"seed must be an integer in \[0, 2\*\*64\), got float 1.5"),
    (dict(seed=np.float64(3.0)), r"seed must be an integer in \[0, 2\*\*64\), got float64 3.0"),
    (dict(seed="7"), r"seed must be an integer"),
    (dict(starts=2.5), r"starts must be None, an integer"),
    (dict(ftol=None), r"ftol must be a number, got NoneType None"),
    (dict(xtol="1e-8"), r"xtol must be a number, got str '1e-8'"),
    (dict(gtol=np.nan), r"gtol must be a number >= 0, got nan"),
    (dict(ftol=-1.0), r"ftol must be a number >= 0, got -1.0"),
])
def test_fit_argument_errors_name_the_argument(curves, kw, match):
    args = dict(x="x", y="y", by="curve")
    args.update(kw)
    _raises(match, lawfit.fit, curves, "power_law", **args)


def test_large_seeds_and_numpy_integers_are_accepted(curves):
    a = lawfit.fit(curves, "power_law", x="x", y="y", by="curve", starts=3, seed=2**64 - 1)
    b = lawfit.fit(curves, "power_law", x="x", y="y", by="curve", starts=3, seed=np.uint64(2**64 - 1),
                   max_iter=np.int32(200), threads=np.int64(1))
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())


def test_predict_interval_must_be_a_level(res, curves):
    _raises(r"interval must be a number in \(0, 1\), got str '0.9'", res.predict, curves, interval="0.9")
    _raises(r"interval must be in \(0, 1\), got 1.5", res.predict, curves, interval=1.5)
    assert "y_low" in res.predict(curves, interval=np.float32(0.9))


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "1", None])
def test_every_entry_point_checks_seeds(res, curves, seed):
    m = r"seed must be an integer in \[0, 2\*\*64\)"
    _raises(m, res.bootstrap, n=10, seed=seed)
    _raises(m, extrapolate, curves, x="x", y="y", by="curve", horizon=100, seed=seed)
    _raises(m, evals.pass_curve, [10, 10], [3, 4], [1, 2], seed=seed)
    _raises(m, evals.coverage, [10, 10], [3, 4], seed=seed)
    _raises(m, evals.fit_irt, np.eye(4), seed=seed)


def test_other_argument_types(res):
    _raises(r"n must be a positive integer, got float 2.5", res.bootstrap, n=2.5)
    _raises(r"threads must be an integer >= 0, got str '2'", res.bootstrap, n=10, threads="2")
    _raises(r"level must be a number in \(0, 1\)", evals.pass_curve, [10], [3], [1], level="high")
    _raises(r"n_boot must be an integer >= 2", evals.pass_curve, [10], [3], [1], n_boot=2.5)
    _raises(r"max_iter must be an integer >= 1", evals.fit_irt, np.eye(4), max_iter=2.5)
    _raises(r"threads must be an integer >= 0", evals.pass_at_k, 10, 3, 1, threads="x")
    _raises(r"threads must be an integer >= 0", cost.evaluate, CFG, threads=1.5)


# ---- 7. extrapolate: quantiles up front, in-sample horizons as a per-curve status ---------------------------
FAST = dict(steps=60, samples=40)


@pytest.mark.parametrize("q,match", [("ab", "quantiles must be a sequence"), (0.5, "quantiles must be a sequence"),
                                     ([0.5, 1.5], r"quantiles must be in \(0, 1\), got 1.5"),
                                     (["a"], r"quantiles must be a number in \(0, 1\), got str 'a'"),
                                     ([], "at least one level")])
def test_extrapolate_checks_quantiles_up_front(curves, q, match):
    _raises(match, extrapolate, curves, x="x", y="y", by="curve", horizon=100, quantiles=q, **FAST)


def test_extrapolate_in_sample_horizon_gives_that_curve_a_status(curves):
    last = curves.groupby("curve")["x"].max()
    hz = pd.Series(last.to_numpy() * 3, index=last.index)
    ref = extrapolate(curves, x="x", y="y", by="curve", horizon=hz, **FAST)
    hz2 = hz.copy()
    hz2.loc[1] = last.loc[1] / 2  # inside the observed range
    hz2.loc[3] = last.loc[3]  # at the last observed step
    ex = extrapolate(curves, x="x", y="y", by="curve", horizon=hz2, **FAST)
    assert list(ex.status.loc[[1, 3]]) == ["INVALID_INPUT", "INVALID_INPUT"]
    assert not ex.ok[[1, 3]].any()
    assert np.isnan(ex.samples[[1, 3]]).all()
    assert np.isnan(ex.summary.loc[[1, 3], "mean"]).all()
    good = [0, 2, 4]
    assert (ref.status.loc[good] == ex.status.loc[good]).all()
    np.testing.assert_array_equal(ex.samples[good], ref.samples[good])
    _raises(r"Extrapolation|quantiles", ex.predict, quantiles="ab")


# ---- 8. evals and plan: overflow, degenerate data, failed fits ---------------------------------------------
@pytest.mark.parametrize("arg", ["n", "c", "k"])
@pytest.mark.parametrize("big", [2**64, 2**63, np.uint64(2**63), 1e19])
def test_pass_at_k_counts_must_fit_int64(arg, big):
    a = dict(n=10, c=3, k=2)
    a[arg] = big
    msg = _raises(rf"argument '{arg}' must hold counts below 2\*\*63", evals.pass_at_k, **a)
    assert "-9223372036854775808" not in msg


def test_pass_at_k_largest_count_still_works():
    assert evals.pass_at_k(2**63 - 1, 0, 1) == 0.0


def test_fit_irt_on_all_missing_is_an_error():
    _raises(r"argument 'responses' needs at least 2 models and 1 item with observed answers", evals.fit_irt, np.full((5, 4), np.nan))
    _raises(r"argument 'responses' needs at least 2 models and 1 item with observed answers", evals.fit_irt, np.full((5, 4), -1), model="rasch")


def test_coverage_tables_carry_the_status():
    r = evals.coverage([1, 1, 1], [0, 1, 0], n_boot=5)  # one k: nothing to fit
    assert r.status == "TOO_FEW_POINTS"
    for tab in (r.params, r.predict([10, 100]), r.samples_for([0.5]), r.cost_per_solved([10], 1.0)):
        assert (tab["status"] == "TOO_FEW_POINTS").all()
    ok = evals.coverage([20] * 6, [2, 5, 0, 20, 9, 1], n_boot=5)
    assert ok.status == "CONVERGED" and (ok.predict([100])["status"] == "CONVERGED").all()


def test_plan_gives_failed_curves_nan_and_their_status():
    df = lawfit.datasets.synthetic_chinchilla(n=80, noise=0.0).assign(g=0)
    df.loc[df.index[:3], "g"] = 1  # curve 1: 3 points, 5 parameters
    f = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", by="g", space="log")
    assert list(f.status) == ["CONVERGED", "TOO_FEW_POINTS"]
    out = lawfit.plan(f, 1e22, hardware="h100-sxm")
    assert list(out["status"]) == ["CONVERGED", "TOO_FEW_POINTS"]
    assert np.isfinite(out.loc[0, ["N", "D", "loss", "cost_usd"]].astype(float)).all()
    assert out.loc[1, ["N", "D", "loss", "flops_total", "cost_usd"]].isna().all()
    g = cost.grid(n_layers=[2, 4, 8], d_model=[256, 512], n_heads=4, tokens=np.geomspace(1e9, 1e11, 5))
    og = lawfit.plan(f, 1e19, grid=g)
    assert list(og["status"]) == ["CONVERGED", "TOO_FEW_POINTS"]
    assert og.loc[1, "index"] == -1 and og.loc[1, ["N", "D", "loss", "cost"]].isna().all()
    single = lawfit.fit(df[df["g"] == 1], "chinchilla", x=["N", "D"], y="loss", space="log")
    _raises(r"plan: the fit has no curve with usable parameters \(status: TOO_FEW_POINTS\)", lawfit.plan, single,
            1e22)


# ---- 9. threads: validated and capped in Python ------------------------------------------------------------
def test_resolve_threads_caps_and_validates():
    cap = _args.max_threads()
    assert cap >= 4
    assert _args.resolve_threads(None) == 0
    assert _args.resolve_threads(10**6) == cap
    assert _args.resolve_threads(0) == 0
    _raises("threads must be >= 0", _args.resolve_threads, -1)
    _raises("threads must be an integer", _args.resolve_threads, True)


def test_huge_thread_counts_are_capped_not_fatal(curves, res):
    r = lawfit.fit(curves, "power_law", x="x", y="y", by="curve", threads=10**6)
    np.testing.assert_array_equal(r.params.to_numpy(), res.params.to_numpy())
    b1 = res.bootstrap(n=20, threads=10**6)
    b2 = res.bootstrap(n=20, threads=1)
    np.testing.assert_array_equal(b1.samples, b2.samples)
    assert evals.pass_at_k([10, 20], [3, 4], [1, 2], threads=10**9).shape == (2, 2)
    assert len(cost.evaluate(CFG, threads=10**9)) == 1


def test_lr_annealing_features_threads_checked_and_capped():
    from lawfit._transforms import lr_annealing_features

    off, X = np.array([0, 3]), np.array([[1, 1e-3], [2, 1e-3], [3, 5e-4]])
    np.testing.assert_array_equal(lr_annealing_features(off, X, threads=10**6), lr_annealing_features(off, X))
    _raises(r"lr_annealing: threads must be an integer >= 0, got str '2'", lr_annealing_features, off, X, threads="2")


def test_threads_zero_means_all_cores_everywhere(curves, res):
    """threads=0 (like None) is all cores at every entry point: fit used to refuse it while evals, cost and plan
    took it."""
    r0 = lawfit.fit(curves, "power_law", x="x", y="y", by="curve", threads=0)
    pd.testing.assert_frame_equal(r0.to_frame(), res.to_frame(), check_exact=True)
    b0, b1 = res.bootstrap(n=20, threads=0), res.bootstrap(n=20, threads=1)
    np.testing.assert_array_equal(b0.samples, b1.samples)
    e0 = extrapolate(curves, x="x", y="y", by="curve", horizon=2000, threads=0, **FAST)
    e1 = extrapolate(curves, x="x", y="y", by="curve", horizon=2000, threads=1, **FAST)
    np.testing.assert_array_equal(e0.samples, e1.samples)
    assert evals.pass_at_k(10, 3, 2, threads=0) == evals.pass_at_k(10, 3, 2, threads=1)
    assert _args.resolve_threads(None) == _args.resolve_threads(0) == 0
    for bad in (-1, 1.0, "0", True):
        _raises("threads must be", lawfit.fit, curves, "power_law", x="x", y="y", by="curve", threads=bad)


# ---- 10. regressions found by tests/test_fuzz.py and review --------------------------------------------------------
def test_cost_outputs_string_is_one_output_name():
    """outputs="params" is the output 'params', not the outputs 'p', 'a', 'r', ..."""
    one = cost.evaluate(CFG, outputs="params", include_config=False)
    assert list(one.columns) == ["params"]
    pd.testing.assert_frame_equal(one, cost.evaluate(CFG, outputs=["params"], include_config=False))
    assert set(cost.evaluate(CFG, outputs="all", include_config=False).columns) == set(cost.OUTPUTS)
    _raises(r"outputs: unknown output 'parms'", cost.evaluate, CFG, outputs="parms")
    _raises(r"outputs must be an output name, 'all' or a list of output names, got int 5", cost.evaluate, CFG,
            outputs=5)
    _raises(r"outputs: unknown output 5", cost.evaluate, CFG, outputs=["params", 5])


def test_fit_starts_dict_of_scalars_is_one_start_for_all_curves(curves):
    """starts={"E": 2, "A": 100, "alpha": 0.3} used to fail with pandas' 'If using all scalar values, you must pass
    an index'."""
    kw = dict(x="x", y="y", by="curve")
    a = lawfit.fit(curves, "power_law", starts={"E": 2, "A": 100, "alpha": 0.3}, **kw)
    b = lawfit.fit(curves, "power_law", starts=pd.DataFrame({"E": [2.0], "A": [100.0], "alpha": [0.3]}), **kw)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_exact=True)
    assert (a.status == "CONVERGED").all()
    one = lawfit.fit(curves, "power_law", starts={"curve": 3, "E": 2.0, "A": 100.0, "alpha": 0.3}, **kw)
    assert (one.status == "CONVERGED").all()  # a start for curve 3; the others fall back to the default start
    _raises(r"starts: entry 'E' of the dict must be a scalar or a 1-D array, got shape \(1, 2\)", lawfit.fit,
            curves, "power_law", starts={"E": [[1, 2]], "A": 1.0, "alpha": 0.3}, **kw)
    _raises(r"starts: missing column\(s\) for parameter\(s\) \['alpha'\]", lawfit.fit, curves, "power_law",
            starts={"E": 2, "A": 100}, **kw)


@pytest.mark.parametrize("method,n", [("beta", [1, 1, 1]), ("beta", 1), ("scaled_beta", [2, 2, 1]),
                                      ("scaled_beta", [1, 1]), ("beta", [50]), ("scaled_beta", [50, 40])])
def test_beta_coverage_without_enough_samples_is_too_few_points(method, n):
    """With n = 1 sample per problem only the mean rate is identified (any concentration fits as well): the
    beta-binomial fit used to report CONVERGED with arbitrary (alpha, beta). scaled_beta needs n >= 3. A single
    problem (two for scaled_beta) cannot determine a distribution of rates either."""
    c = [0, 1, 1][: np.size(n)] if np.ndim(n) else [0, 1, 1]
    r = evals.coverage(n, c, method=method, n_boot=10)
    assert r.status == "TOO_FEW_POINTS"
    assert r.params["estimate"].isna().all() and (r.params["status"] == "TOO_FEW_POINTS").all()
    assert (r.predict([1, 10])["status"] == "TOO_FEW_POINTS").all()
    ok = evals.coverage([2, 1, 1] if method == "beta" else [3, 1, 1], [1, 1, 0], method=method, n_boot=10)
    assert ok.status in ("CONVERGED", "MAX_ITER") and np.isfinite(ok.params["estimate"]).all()


def test_aggregate_coverage_interval_contains_its_estimate():
    """c = [0, 0, 10] of n = 10: about 30% of the bootstrap resamples solve no problem. They used to be dropped
    (nothing to fit in log space), which cut the bootstrap distribution off at its low end, exactly at the point
    estimate (the resamples with one solved problem reproduce the data), so the interval started at the estimate
    and could exclude it after rounding. They now count as the curve c(k) = 0 (a = -inf)."""
    r = evals.coverage(10, [0, 0, 10], n_boot=200, seed=0)
    reps = r.replicates
    zero = reps["zero"].to_numpy()
    assert 0.15 < zero[1:].mean() < 0.45 and not zero[0]
    assert np.all(reps.loc[zero, "a"] == -np.inf) and (reps.loc[zero, "status"] == int(lawfit.Status.TOO_FEW_POINTS)).all()
    p = r.params.set_index("param")
    assert p.loc["a", "low"] < p.loc["a", "estimate"] <= p.loc["a", "high"]
    assert p.loc["a", "low"] == -np.inf
    pr = r.predict([1, 10, 1000])
    assert (pr["low"] <= pr["coverage"]).all() and (pr["coverage"] <= pr["high"]).all() and (pr["low"] == 0).all()
    sf = r.samples_for([0.2, 0.5])  # c(k) = 1/3 at every k: 0.2 is reached at once, 0.5 never
    assert list(sf["k"]) == [0.0, np.inf]
    assert (sf["low"] <= sf["k"]).all() and (sf["k"] <= sf["high"]).all()
    c = r.cost_per_solved([1, 10], 1.0)
    assert (c["low"] <= c["cost_per_solved"]).all() and (c["cost_per_solved"] <= c["high"]).all()
    _raises(r"argument 'c' is 0 for every problem", evals.coverage, 10, [0, 0, 0])


def test_plan_and_pareto_refuse_grids_whose_tables_do_not_fit(monkeypatch):
    """The planner's per-model table and candidate lists are sized up front (they used to be allocated unchecked:
    std::bad_alloc or the OOM killer on a huge grid)."""
    from lawfit.planning import pareto

    df = lawfit.datasets.synthetic_chinchilla(n=80, noise=0.0)
    f = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log")
    huge = cost.grid(n_layers=np.arange(1, 2001), d_model=np.arange(64, 64 * 2001, 64), n_heads=np.arange(1, 2001),
                     tokens=np.geomspace(1e9, 1e13, 2000))
    _raises(r"pareto: a grid of 16000000000000 configurations \(8000000000 models\) would need .* PB", pareto, f, huge)
    _raises(r"plan: a grid of 16000000000000 configurations .* would need", lawfit.plan, f, 1e21, grid=huge)
    _raises(r"plan: a grid of 16000000000000 configurations .* would need", lawfit.plan, f, 1e21, grid=huge,
            objective="cost")
    # A grid of few models and a long (sorted) tokens axis: the loss objective scans each model's run of tokens
    # and never lists the configurations, so it fits where the cost objective's list would not.
    g = cost.grid(n_layers=[2, 4], d_model=[256, 512], n_heads=4, tokens=np.geomspace(1e9, 1e12, 10**5))
    monkeypatch.setattr(_args, "memory_limit", lambda: 10**6)
    out = lawfit.plan(f, 1e21, grid=g)
    assert out.loc[0, "index"] >= 0
    _raises(r"plan: a grid of 400000 configurations \(4 models\) would need 32 MB; this machine has 1 MB", lawfit.plan,
            f, 1e21, grid=g, objective="cost")


def test_messages_show_numpy_values_as_python_values():
    """Values the user passed as numpy scalars are shown as plain values in messages (fuzzer finds)."""
    df = lawfit.datasets.synthetic_chinchilla(n=40, noise=0.0)
    f = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", space="log")
    _raises(r"budget must be positive and finite, got 0.0$", lawfit.plan, f, 0)
    _raises(r"budget must be positive and finite, got -1.0$", lawfit.plan, f, np.float64(-1))
    _raises(r"inference_tokens must be >= 0 and finite, got -2.0", lawfit.plan, f, 1e21,
            inference_tokens=np.float64(-2))
    Y = np.array([[1.0, 0.0], [0.0, np.inf]])
    _raises(r"entry \(1, 1\) is inf$", evals.fit_irt, Y)
    _raises(r"prior parameters must be > 0, got \(0.0, 1.0\)", evals.pass_posterior, 10, 3,
            1, prior=(np.float64(0), np.float64(1)))
    _raises(r"assumption 'pue' must be >= 1, got 0.5", cost.evaluate, CFG, pue=np.float64(0.5))
    _raises(r"assumption 'pue' must be a number, got str '1.2'", cost.evaluate, CFG, pue="1.2")
    _raises(r"n_convention must be one of .*, got \['total'\]", cost.evaluate, CFG, n_convention=["total"])
    assert _args.show(np.float32(1.5)) == "1.5" and _args.show((np.int64(2), [np.uint8(3)])) == "(2, [3])"


@pytest.mark.parametrize("kw,match", [
    (dict(prior_a=(0, 0)), r"prior_a must be a \(mean, sd\) pair with a finite mean and sd > 0, got \(0, 0\)"),
    (dict(prior_a=(1.0, np.nan)), r"prior_a must be a \(mean, sd\) pair with a finite mean and sd > 0"),
    (dict(prior_a="x"), r"prior_a must be a \(mean, sd\) pair of numbers, got 'x'"),
    (dict(prior_a=(1.0,)), r"prior_a must be a \(mean, sd\) pair of numbers"),
    (dict(prior_b_sd=0.0), r"prior_b_sd must be a finite number > 0, got 0.0"),
    (dict(prior_b_sd="3"), r"prior_b_sd must be a number, got str '3'"),
])
def test_fit_irt_priors_name_the_argument(kw, match):
    """'prior standard deviations must be > 0' did not say which prior."""
    _raises(match, evals.fit_irt, np.eye(4), **kw)


@pytest.mark.parametrize("fn", [evals.pass_at_k, evals.pass_hat_k, evals.pass_curve, evals.pass_posterior])
@pytest.mark.parametrize("n,match", [
    ([[1], [2, 3]], r"argument 'n' must be a scalar or a 1-D array of counts, got a ragged nested list"),
    ("10", r"argument 'n' must hold integer counts, got <U2 values '10'"),
    ([1 + 1j], r"argument 'n' must hold integer counts, got complex128"),
    ([None, 3], r"argument 'n' must hold integer counts, got object"),
])
def test_counts_of_the_wrong_kind_name_the_argument(fn, n, match):
    """Ragged lists gave numpy's 'setting an array element with a sequence'; strings were parsed as numbers."""
    _raises(match, fn, n, [0, 0], [1])


@pytest.mark.parametrize("fam,match", [
    (5, r"families must be a set name \(all, domhan, lcpfn\), a family name or a list of family names, got int 5"),
    (None, r"families must be a set name .* got NoneType None"),
    ([], r"families must name at least one family"),
    (["pow3", 3], r"families: unknown family name\(s\) 3; choose from"),
])
def test_extrapolate_families_of_the_wrong_type_name_the_argument(curves, fam, match):
    """families=5 raised TypeError: 'int' object is not iterable."""
    _raises(match, extrapolate, curves, x="x", y="y", by="curve", horizon=2000, families=fam, **FAST)


def test_lr_annealing_bad_curves_get_a_status_not_an_error():
    """lr_annealing's per-curve transform: a non-finite lr (lr=-inf in the first row) gave finite features and a
    CONVERGED curve, and one curve with unsorted steps made the whole fit raise. Now NON_FINITE / INVALID_INPUT for
    those curves, the others bit-identical."""
    from strategies import wsd_rows
    from lawfit._transforms import lr_annealing_features

    def curve(run, total=2000):
        df = pd.DataFrame(wsd_rows(total, 1e-3, every=50)).assign(run=run)
        S = lr_annealing_features(np.array([0, len(df)]), df[["step", "lr"]].to_numpy())
        df["loss"] = lawfit.get_law("lr_annealing")._eval(S, np.array([2.6, 0.7, 0.5, 0.45]))
        return df

    good = pd.concat([curve("a"), curve("b", 3000)], ignore_index=True)
    inf_lr = curve("c")
    inf_lr.loc[inf_lr.index[0], "lr"] = -np.inf
    unsorted = curve("d")
    unsorted["step"] = unsorted["step"].to_numpy()[::-1]
    fractional = curve("e")
    fractional.loc[fractional.index[3], "step"] = 2.5
    kw = dict(x=["step", "lr"], y="loss", by="run")
    ref = lawfit.fit(good, "lr_annealing", **kw)
    mix = lawfit.fit(pd.concat([inf_lr, good, unsorted, fractional], ignore_index=True), "lr_annealing", **kw)
    assert mix.status.to_dict() == {"a": "CONVERGED", "b": "CONVERGED", "c": "NON_FINITE", "d": "INVALID_INPUT",
                                    "e": "INVALID_INPUT"}
    assert mix.params.loc[["c", "d", "e"]].isna().all().all()
    pd.testing.assert_frame_equal(mix.to_frame().loc[["a", "b"]], ref.to_frame(), check_exact=True)
    _raises(r"new_data: the rows of curve run='d': lr_annealing: column 'step' must be strictly increasing within "
            r"each curve$", mix.predict, unsorted)
    _raises(r"new_data: the rows of curve run='e': lr_annealing: column 'step' must hold non-negative integers$",
            mix.predict, fractional)
    nan_lr = curve("a").assign(lr=np.nan)
    assert mix.predict(nan_lr)["y_pred"].isna().all()  # non-finite inputs: NaN predictions, as for any law


def test_beta_coverage_is_never_negative():
    """1 - failure(k) from log-gammas rounded to -7e-15 for a rate of ~0 (fuzzer: n = 2**62, c = 1)."""
    r = evals.coverage([2**62, 2**62], [1, 0], method="beta", n_boot=5, seed=120)
    c = r.predict([1, 10, 1000])
    assert (c[["coverage", "low", "high"]].fillna(0) >= 0).all().all()
    assert not np.signbit(c["coverage"].to_numpy()).any()


def test_extrapolate_values_near_the_largest_double_are_non_finite_not_converged():
    """A curve reaching 1e308 normalises with a scale of ~1e308: its forecast overflowed to inf/NaN while its
    status said CONVERGED (fuzzer). It now gets NON_FINITE and is not sampled; other curves are unaffected."""
    t = np.arange(1.0, 9.0)
    good = pd.DataFrame({"k": 0, "step": t, "v": 0.8 - 0.3 * t ** -0.5})
    bad = pd.concat([pd.DataFrame({"k": 1, "step": t[:4], "v": [0.1, 0.65, 1e308, 1e308]}),
                     pd.DataFrame({"k": 2, "step": t[:5], "v": [0.1, -1e308, 0.3, 0.2, 0.5]})])
    kw = dict(x="step", y="v", by="k", horizon=30, samples=20, steps=30)
    ref = extrapolate(good, **kw)
    ex = extrapolate(pd.concat([bad, good], ignore_index=True), **kw)
    assert list(ex.status) == ["CONVERGED", "NON_FINITE", "NON_FINITE"]
    assert np.isnan(ex.summary.loc[[1, 2], "mean"]).all()
    np.testing.assert_array_equal(ex.samples[0], ref.samples[0])
    big = extrapolate(pd.DataFrame({"k": 3, "step": t[:4], "v": [0.1, 0.2, 1e300, 1e300]}), **kw)
    assert list(big.status) == ["CONVERGED"] and np.isfinite(big.summary["mean"]).all()


@pytest.mark.parametrize("inputs", [None, 5, b"x", {"x": 1}])
def test_law_inputs_of_the_wrong_type_name_the_argument(inputs):
    """Law("a*x", None) raised TypeError: 'NoneType' object is not iterable."""
    _raises(r"inputs must be a name or a list of names of the formula's input variables", lawfit.Law, "a*x", inputs)
    _raises(r"params must be a name or a list of parameter names, got int 5", lawfit.Law, "a*x", "x", params=5)


@pytest.mark.parametrize("walkers", [1, 2])
def test_extrapolate_too_few_walkers_is_refused_up_front(curves, walkers):
    """walkers=2 passed the Python check and failed in C++ with "mcmc: 'walkers' must be an even number >= 4"."""
    _raises(rf"walkers must be an integer in \[3, 2147483647\), got {walkers}", extrapolate, curves, x="x", y="y",
            by="curve", horizon=2000, walkers=walkers, **FAST)
    ex = extrapolate(curves, x="x", y="y", by="curve", horizon=2000, walkers=3, **FAST)
    assert ex.problem["walkers"] == 4


def test_reference_forecast_overflow_is_non_finite():
    """extrapolate(reference=...) on curves and references with values near +-1e308 (a fuzzer case): the point
    forecast overflowed to inf while the status said CONVERGED. Now NON_FINITE."""
    import pathlib

    case = json.loads((pathlib.Path(__file__).parent / "fuzz_cases" / "reference_overflow.json").read_text())

    def frame(cols):
        return pd.DataFrame({c: [float(v) if isinstance(v, str) else v for v in vals] for c, vals in cols.items()})

    # The case's reference has 5 curves: enough to calibrate quartiles (a 90% interval would need 19 and is refused).
    with pytest.raises(ValueError, match="cannot calibrate"):
        extrapolate(frame(case["data"]), reference=frame(case["reference"]), **case["kw"])
    ex = extrapolate(frame(case["data"]), reference=frame(case["reference"]),
                     **{**case["kw"], "quantiles": (0.25, 0.5, 0.75)})
    s = ex.summary
    assert not ((s["status"] == "CONVERGED") & ~np.isfinite(s["q50"])).any()
    assert not ((s["status"] == "CONVERGED") & ~np.isfinite(s[["q25", "q75"]]).all(axis=1)).any()


@pytest.mark.parametrize("kw,match", [
    (dict(x=5), r"x column 5 not found; columns are: curve, x, y"),
    (dict(y="loss"), r"y column 'loss' not found"),
    (dict(by="run"), r"by column 'run' not found"),
])
@pytest.mark.parametrize("with_reference", [False, True])
def test_extrapolate_missing_columns_name_the_argument(curves, kw, match, with_reference):
    """'column(s) [5] not found' did not say which argument; with reference=, a data column missing raised KeyError."""
    args = dict(x="x", y="y", by="curve", horizon=2000, **FAST)
    args.update(kw)
    if with_reference:
        args["reference"] = curves
    _raises(match, extrapolate, curves, **args)


def test_by_naming_a_column_twice_is_refused():
    """by=['k', 'k'] (found by the fuzzer): the grouping read a two-column frame where it expected a column and raised
    AttributeError; now a ValueError names the column."""
    data = {"k": [1.0, 1, 1, 1], "x": [1.0, 2, 3, 4], "y": [3.0, 2, 1.5, 1.2]}
    with pytest.raises(ValueError, match="by names column 'k' twice"):
        lawfit.fit(data, "power_law", x="x", y="y", by=["k", "k"])


def test_beta_coverage_replicates_without_a_group_of_two_are_not_converged():
    """A bootstrap replicate of beta coverage that drew only problems with one sample cannot identify the spread of
    the rates: it was CONVERGED with alpha anywhere in 2e-4..1.8e8; now TOO_FEW_POINTS, and the others fit."""
    from lawfit import evals

    r = evals.coverage([1, 1, 1, 1, 5], [0, 1, 1, 0, 3], method="beta", n_boot=200, seed=0).replicates
    only_ones = r["status"] == int(lawfit.Status.TOO_FEW_POINTS)
    assert only_ones.any() and (~only_ones).any()
    assert r.loc[only_ones, ["alpha", "beta"]].isna().all().all()
    assert (r.loc[~only_ones, "status"] == int(lawfit.Status.CONVERGED)).mean() > 0.9
