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


@pytest.mark.parametrize("name", LAWS)
def test_recovers_truth_with_default_starts(name):
    spec = lawfit.get_law(name)
    case = case_for(name)
    cols = case.frame()
    xs = list(spec.x_names)
    X = np.column_stack([np.asarray(cols[c], dtype=float) for c in xs])
    truth = np.array([case.truth[k] for k in spec.params])
    y = _native_y(spec, X, truth)
    df = pd.DataFrame({**cols, "y": y})
    r = lawfit.fit(df, name, x=xs, y="y")
    assert r.status.iloc[0] == "CONVERGED", (name, r.status.iloc[0])
    fitted = r.params.iloc[0]
    check = [k for k in spec.params if k not in case.unidentified]
    np.testing.assert_allclose(
        fitted[check].to_numpy(), [case.truth[k] for k in check], rtol=case.rtol, err_msg=f"{name}: {case.note}"
    )
    if case.unidentified:
        yhat = _native_y(spec, X, fitted.to_numpy())
        np.testing.assert_allclose(yhat, y, rtol=1e-6, err_msg=f"{name}: fitted curve")


@pytest.mark.parametrize("name", LAWS)
def test_outside_domain_is_invalid_input_for_that_curve_only(name):
    spec = lawfit.get_law(name)
    case = case_for(name)
    cols = case.frame()
    xs = list(spec.x_names)
    X = np.column_stack([np.asarray(cols[c], dtype=float) for c in xs])
    truth = np.array([case.truth[k] for k in spec.params])
    y = _native_y(spec, X, truth)
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
