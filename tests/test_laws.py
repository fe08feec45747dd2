"""The built-in law catalogue: analytic gradients, recovery with the default starts, domain handling.

Every test iterates ``lawfit.laws()``, so a law added to the catalogue is covered as soon as it has a
case in tests/strategies.py (a law without one fails here).
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

import lawfit
from lawfit._native import _core
from strategies import case_for, jittered_params, seeds

LAWS = list(lawfit.laws().index)


def _native_y(spec, X_raw: np.ndarray, p: np.ndarray, offsets=None) -> np.ndarray:
    X = X_raw
    if spec.transform is not None:
        off = offsets if offsets is not None else np.array([0, len(X_raw)], dtype=np.int64)
        X = spec.transform(off, X_raw)
    return _core.law_eval(spec.name, np.ascontiguousarray(X, dtype=float), p, False)


def test_catalogue_metadata_consistent():
    for name in LAWS:
        spec = lawfit.get_law(name)
        P = spec.n_params
        assert len(spec.lower) == len(spec.upper) == len(spec.scale) == len(spec.linear) == len(spec.grid) == P
        assert spec.citation and spec.formula
        for j in range(P):
            assert spec.lower[j] <= spec.upper[j]
            assert 1 <= len(spec.grid[j]) <= 8
            if spec.scale[j] == "log":
                assert spec.lower[j] >= 0.0, (name, spec.params[j])
                assert all(v > 0 for v in spec.grid[j]), (name, spec.params[j])


_AMPLITUDE = {d["name"]: d["amplitude"] for d in _core.law_catalogue()}


@pytest.mark.parametrize("name", [n for n in LAWS if max(_AMPLITUDE[n]) >= 0])
def test_declared_amplitudes_hold(name):
    """A law's `amplitude` table (core/laws/law.hpp; VarPro's exact projection relies on it): the derivative by such
    a nonlinear parameter is its amplitude times something the linear parameters do not enter. Checked at the law's
    test case with every linear parameter moved: that derivative divided by the amplitude does not change."""
    spec, case, cols, xs, X, y = noiseless_case(name)
    amp = _AMPLITUDE[name]
    if spec.transform is not None:
        X = spec.transform(np.array([0, len(X)], dtype=np.int64), X)
    X = np.ascontiguousarray(X, dtype=float)
    p = np.array([case.truth[k] for k in spec.params], dtype=float)
    q = p.copy()
    rng = np.random.default_rng(0)
    for j in range(spec.n_params):
        if spec.linear[j]:
            q[j] = p[j] * rng.uniform(1.3, 2.0) + rng.uniform(0.1, 1.0) * (spec.scale[j] == "linear")
    gp = _core.law_eval(name, X, p, True)[:, 1:]
    gq = _core.law_eval(name, X, q, True)[:, 1:]
    checked = 0
    for j, a in enumerate(amp):
        if a < 0:
            continue
        assert spec.linear[a] and not spec.linear[j], (name, j, a)
        np.testing.assert_allclose(gq[:, j] / q[a], gp[:, j] / p[a], rtol=1e-12, atol=1e-300,
                                   err_msg=f"{name}: d/d{spec.params[j]} is not {spec.params[a]} x (free of c)")
        checked += 1
    assert checked


@pytest.mark.parametrize("name", LAWS)
def test_gradient_matches_central_differences(name):
    spec = lawfit.get_law(name)
    case = case_for(name)

    @settings(deadline=None, max_examples=15)
    @given(seed=seeds)
    def check(seed):
        rng = np.random.default_rng(seed)
        n = 16
        X = np.ascontiguousarray(case.native_x(rng, n), dtype=float)
        p = jittered_params(case, spec, rng)
        out = _core.law_eval(name, X, p, True)
        f, g = out[:, 0], out[:, 1:]
        assert np.all(np.isfinite(out)), (p, X[~np.isfinite(out).all(axis=1)])
        for j in range(spec.n_params):
            h = 1e-5 * max(abs(p[j]), 1e-2)
            pp, pm = p.copy(), p.copy()
            pp[j] += h
            pm[j] -= h
            fd = (_core.law_eval(name, X, pp, False) - _core.law_eval(name, X, pm, False)) / (2 * h)
            tol = 1e-5 * np.abs(g[:, j]) + 1e-7 * (np.abs(f) + 1e-12) / max(abs(p[j]), 1e-2)
            bad = np.abs(fd - g[:, j]) > tol
            assert not bad.any(), (
                f"{name}: d/d{spec.params[j]} analytic {g[bad, j][:3]} vs central differences {fd[bad][:3]} "
                f"at x={X[bad][:3].tolist()}, p={p.tolist()}"
            )

    check()


def noiseless_case(name):
    """The law, its test case, the case's input columns and names, X [n, D] and noiseless y at the truth."""
    spec = lawfit.get_law(name)
    case = case_for(name)
    cols = case.frame()
    xs = list(spec.x_names)
    X = np.column_stack([np.asarray(cols[c], dtype=float) for c in xs])
    y = _native_y(spec, X, np.array([case.truth[k] for k in spec.params]))
    return spec, case, cols, xs, X, y


@pytest.mark.parametrize("name", LAWS)
def test_recovers_truth_with_default_starts(name):
    spec, case, cols, xs, X, y = noiseless_case(name)
    df = pd.DataFrame({**cols, "y": y})
    r = lawfit.fit(df, name, x=xs, y="y")
    assert r.status.iloc[0] == "CONVERGED", (name, r.status.iloc[0])
    fitted = r.params.iloc[0]
    if case.canon is not None:
        fitted = pd.Series(case.canon(fitted.to_dict()))[list(spec.params)]
    check = [k for k in spec.params if k not in case.unidentified]
    np.testing.assert_allclose(
        fitted[check].to_numpy(), [case.truth[k] for k in check], rtol=case.rtol, err_msg=f"{name}: {case.note}"
    )
    if case.unidentified:
        yhat = _native_y(spec, X, fitted.to_numpy())
        np.testing.assert_allclose(yhat, y, rtol=1e-6, err_msg=f"{name}: fitted curve")


@pytest.mark.parametrize("name", LAWS)
def test_outside_domain_is_invalid_input_for_that_curve_only(name):
    spec, case, cols, xs, X, y = noiseless_case(name)
    good = pd.DataFrame({**{c: X[:, k] for k, c in enumerate(xs)}, "y": y, "curve": 0})
    bad = good.copy()
    bad["curve"] = 1
    last = len(bad) - 1
    for k, c in enumerate(xs):
        bad.loc[last, c] = case.bad_x[k]
    df = pd.concat([good, bad], ignore_index=True)
    r = lawfit.fit(df, name, x=xs, y="y", by="curve")
    alone = lawfit.fit(good, name, x=xs, y="y")
    assert r.status.loc[1] == lawfit.Status.INVALID_INPUT.name
    assert np.isnan(r.params.loc[1]).all()
    assert r.status.loc[0] == alone.status.iloc[0]
    np.testing.assert_array_equal(r.params.loc[0].to_numpy(), alone.params.iloc[0].to_numpy())


# ---- lr_annealing: schedule integrals -------------------------------------------------------------------------
from lawfit._transforms import lr_annealing_features  # noqa: E402
from strategies import wsd_rows  # noqa: E402


def _reference_integrals(eta: np.ndarray, lam: float = 0.999) -> tuple:
    """Direct loop over every step 1..T of a dense schedule eta[T] (eta[i-1] is step i): warmup (steps before
    the first maximum) counted as the maximum LR, eta_0 = eta_1, m_i = lam*m_{i-1} + (eta_{i-1} - eta_i)."""
    eta = eta.astype(float).copy()
    peak = int(np.argmax(eta))
    eta[:peak] = eta[peak]
    S1 = np.cumsum(eta)
    m, prev, S2, acc = 0.0, eta[0], np.empty_like(eta), 0.0
    for i, e in enumerate(eta):
        m = lam * m + (prev - e)
        acc += m
        S2[i] = acc
        prev = e
    return S1, S2


def _cosine(T: int, warmup: int, lr_max: float) -> np.ndarray:
    s = np.arange(1, T + 1, dtype=float)
    lr = lr_max * 0.5 * (1 + np.cos(np.pi * np.clip((s - warmup) / (T - warmup), 0, 1))) + 1e-5
    return np.where(s < warmup, lr_max * s / warmup, lr)


def _wsd(T: int, warmup: int, lr_max: float) -> np.ndarray:
    s = np.arange(1, T + 1, dtype=float)
    return wsd_rows(T, lr_max, every=1, warmup=warmup)["lr"][: len(s)]


@pytest.mark.parametrize("schedule", [_cosine, _wsd])
def test_lr_annealing_integrals_match_dense_loop(schedule):
    T = 3000
    eta = schedule(T, 150, 3e-4)
    S1, S2 = _reference_integrals(eta)
    # Every step observed.
    X = np.column_stack([np.arange(1, T + 1, dtype=float), eta])
    F = lr_annealing_features(np.array([0, T], dtype=np.int64), X)
    np.testing.assert_allclose(F[:, 0], S1, rtol=1e-12)
    np.testing.assert_allclose(F[:, 1], S2, rtol=1e-9, atol=1e-15)
    # LR updated (and logged) only at irregular steps, held in between: the gaps are summed in closed form
    # and must agree with the loop over every step of the held schedule.
    rng = np.random.default_rng(0)
    obs = np.unique(np.concatenate([[1, 5], rng.choice(np.arange(6, T + 1), size=150, replace=False)]))
    held = eta[obs[np.searchsorted(obs, np.arange(1, T + 1), side="right") - 1] - 1]
    S1h, S2h = _reference_integrals(held)
    Xs = np.column_stack([obs.astype(float), held[obs - 1]])
    Fs = lr_annealing_features(np.array([0, len(obs)], dtype=np.int64), Xs)
    np.testing.assert_allclose(Fs[:, 0], S1h[obs - 1], rtol=1e-12)
    np.testing.assert_allclose(Fs[:, 1], S2h[obs - 1], rtol=1e-9, atol=1e-15)


def test_lr_annealing_many_curves_and_bad_rows():
    a = wsd_rows(1000, 1e-3, every=4)
    b = wsd_rows(600, 5e-4, every=3)
    X = np.column_stack([np.concatenate([a["step"], b["step"]]), np.concatenate([a["lr"], b["lr"]])])
    off = np.array([0, len(a["step"]), len(X)], dtype=np.int64)
    F = lr_annealing_features(off, X)
    one = lambda Z: lr_annealing_features(np.array([0, len(Z)], dtype=np.int64), Z)  # noqa: E731
    np.testing.assert_array_equal(F[: off[1]], one(X[: off[1]]))
    np.testing.assert_array_equal(F[off[1]:], one(X[off[1]:]))
    Xbad = X.copy()
    Xbad[off[1] + 5, 0] = Xbad[off[1] + 4, 0]  # curve 1: repeated step
    with pytest.raises(ValueError, match="curve 1"):
        lr_annealing_features(off, Xbad)
    Xbad = X.copy()
    Xbad[3, 0] += 0.5
    with pytest.raises(ValueError, match="curve 0"):
        lr_annealing_features(off, Xbad)
    # Through lawfit.fit: rows of one curve out of step order give that curve the status INVALID_INPUT (one bad
    # curve never spoils the batch); the other curve is fitted as alone.
    df = pd.DataFrame({"step": X[:, 0], "lr": X[:, 1], "loss": 3.0 - 0.1 * np.log(X[:, 0]), "run": [0] * off[1] + [1] * (len(X) - off[1])})
    df = pd.concat([df[df.run == 0], df[df.run == 1].iloc[::-1]])
    res = lawfit.fit(df, "lr_annealing", x=["step", "lr"], y="loss", by="run")
    alone = lawfit.fit(df[df.run == 0], "lr_annealing", x=["step", "lr"], y="loss", by="run")
    assert list(res.status) == [alone.status.iloc[0], "INVALID_INPUT"]
    np.testing.assert_array_equal(res.params.iloc[[0]].to_numpy(), alone.params.to_numpy())


def test_lr_annealing_fit_and_predict_on_raw_columns():
    truth = {"L0": 2.6, "A": 0.7, "C": 0.5, "alpha": 0.45}
    rows = [wsd_rows(2000, 1e-3, every=5), wsd_rows(1500, 6e-4, every=5, decay_from=0.5)]
    frames = []
    for k, r in enumerate(rows):
        F = lr_annealing_features(np.array([0, len(r["step"])], dtype=np.int64), np.column_stack([r["step"], r["lr"]]))
        y = truth["L0"] + truth["A"] * F[:, 0] ** -truth["alpha"] - truth["C"] * F[:, 1]
        frames.append(pd.DataFrame({**r, "loss": y, "run": k}))
    df = pd.concat(frames, ignore_index=True)
    res = lawfit.fit(df, "lr_annealing", x=["step", "lr"], y="loss", by="run")
    assert (res.status == "CONVERGED").all()
    np.testing.assert_allclose(res.params.to_numpy(), [[truth[k] for k in res.params.columns]] * 2, rtol=1e-6)
    np.testing.assert_allclose(res.predict(df)["y_pred"].to_numpy(), df["loss"].to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("name", LAWS)
def test_varpro_and_full_lm_reach_the_same_optimum(name):
    """Variable projection (the default solver for l2 fits in linear space, core/fit/varpro.hpp) and plain LM on all
    parameters end at the same optimum of the law's recovery case, with 0.1% noise on y so that the optimum is not
    an exact interpolation: the same objective (1e-10 relative) and parameters within 1e-8 relative, or, in the flat
    valleys of the 9-parameter laws (bnsl2, dcpt), within 1e-2 of a standard error (where the tolerances stop both
    solvers)."""
    spec, case, cols, xs, X, y = noiseless_case(name)
    y = y * (1.0 + 1e-3 * np.random.default_rng(7).standard_normal(len(y)))
    df = pd.DataFrame({**cols, "y": y})
    tight = dict(ftol=1e-12, xtol=1e-12, gtol=1e-12)
    rv = lawfit.fit(df, name, x=xs, y="y", solver="varpro", **tight)
    rl = lawfit.fit(df, name, x=xs, y="y", solver="lm", **tight)
    assert rv.status.iloc[0] == "CONVERGED" and rl.status.iloc[0] == "CONVERGED", (rv.status.iloc[0], rl.status.iloc[0])
    np.testing.assert_allclose(rv.objective.iloc[0], rl.objective.iloc[0], rtol=1e-10)
    pv, pl, se = rv.params.iloc[0], rl.params.iloc[0], rl.stderr.iloc[0]
    if case.canon is not None:
        pv = pd.Series(case.canon(pv.to_dict()))[list(spec.params)]
        pl = pd.Series(case.canon(pl.to_dict()))[list(spec.params)]
    check = [k for k in spec.params if k not in case.unidentified]
    d = np.abs(pv[check].to_numpy() - pl[check].to_numpy())
    rel_ok = d <= 1e-8 * np.abs(pl[check].to_numpy()) + 1e-12
    se_ok = d <= 1e-2 * np.nan_to_num(se[check].to_numpy(), nan=0.0)
    assert np.all(rel_ok | (se_ok & (len(spec.params) >= 9))), (
        f"{name}: varpro {pv[check].to_numpy()} vs lm {pl[check].to_numpy()} (stderr {se[check].to_numpy()})")
