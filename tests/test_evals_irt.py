"""Batched IRT: parameter recovery, identifiability conventions, missing data, reduced-set estimates."""
import numpy as np
import pandas as pd
import pytest

from lawfit import evals


def simulate(M, I, seed=0, D=1, a_range=(0.5, 2.5), missing=0.0):
    rng = np.random.default_rng(seed)
    th = rng.normal(size=(M, D))
    a = rng.uniform(*a_range, size=(I, D))
    b = rng.normal(0, 1, size=I)
    P = 1 / (1 + np.exp(-(th @ a.T - b)))
    Y = (rng.random((M, I)) < P).astype(np.float64)
    if missing:
        Y[rng.random((M, I)) < missing] = np.nan
    return Y, a, b, th


def oracle_a(Y, th):
    """Item discriminations fitted with the TRUE abilities (the information limit for this many models)."""
    t = th[:, 0]
    A, B = np.ones(Y.shape[1]), np.zeros(Y.shape[1])
    for _ in range(30):
        P = 1 / (1 + np.exp(-(np.outer(t, A) - B)))
        R, W = Y - P, P * (1 - P)
        ga, gb = (R * t[:, None]).sum(0) - (A - 1) / 4, -R.sum(0) - B / 9
        haa, hab, hbb = (W * t[:, None] ** 2).sum(0) + 0.25, -(W * t[:, None]).sum(0), W.sum(0) + 1 / 9
        det = haa * hbb - hab ** 2
        A, B = A + (hbb * ga - hab * gb) / det, B + (haa * gb - hab * ga) / det
    return A


def test_2pl_recovers_parameters_200x1000():
    Y, a, b, th = simulate(200, 1000, seed=0)
    m = evals.fit_irt(Y, "2pl")
    assert m.status == "CONVERGED"
    it, ab = m.items, m.abilities
    assert np.corrcoef(it["b"], b)[0, 1] >= 0.95
    assert np.corrcoef(ab["theta"], th[:, 0])[0, 1] >= 0.95
    # item response curves (every model x item probability)
    P_true = 1 / (1 + np.exp(-(th @ a.T - b)))
    assert np.corrcoef(m.predict_proba().ravel(), P_true.ravel())[0, 1] >= 0.95
    # discriminations: as good as a fit that knows the true abilities (the 200-model information limit)
    r_a = np.corrcoef(it["a"], a[:, 0])[0, 1]
    assert r_a >= np.corrcoef(oracle_a(Y, th), a[:, 0])[0, 1] - 0.01
    assert r_a >= 0.88
    # identifiability conventions: standardised abilities, positive discriminations
    assert abs(ab["theta"].mean()) < 1e-8 and ab["theta"].std(ddof=0) == pytest.approx(1.0, abs=0.05)
    assert (it["a"] > 0).all()
    assert (it["se_a"] > 0).all() and (it["se_b"] > 0).all()


def test_2pl_recovery_with_more_models_and_missing_entries():
    Y, a, b, th = simulate(1000, 400, seed=1, missing=0.2)
    m = evals.fit_irt(pd.DataFrame(Y), "2pl")
    assert m.status == "CONVERGED"
    assert np.corrcoef(m.items["a"], a[:, 0])[0, 1] >= 0.95
    assert np.corrcoef(m.items["b"], b)[0, 1] >= 0.98


def test_rasch_and_multidimensional():
    Y, a, b, th = simulate(300, 500, seed=2, a_range=(1, 1))
    r = evals.fit_irt(Y, "rasch")
    assert "a" not in r.items.columns
    assert np.corrcoef(r.items["b"], b)[0, 1] >= 0.97
    Y2, a2, b2, th2 = simulate(400, 600, seed=3, D=2)
    m = evals.fit_irt(Y2, "mirt", dim=2)
    assert list(m.items.columns[:3]) == ["a1", "a2", "b"]
    L = th2 @ a2.T - b2
    Lhat = m._theta @ m._a.T - m._b
    assert np.corrcoef(L.ravel(), Lhat.ravel())[0, 1] >= 0.95
    # conventions: whitened abilities, orthogonal loading columns in decreasing order, positive column sums
    T = m._theta
    np.testing.assert_allclose(T.mean(axis=0), 0, atol=0.05)
    G = m._a.T @ m._a
    assert abs(G[0, 1]) < 1e-6 * G[0, 0] and G[0, 0] >= G[1, 1]
    assert (m._a.sum(axis=0) >= 0).all()


def test_deterministic_across_threads():
    Y, *_ = simulate(120, 300, seed=4, missing=0.1)
    m1 = evals.fit_irt(Y, threads=1)
    m2 = evals.fit_irt(Y, threads=2)
    pd.testing.assert_frame_equal(m1.items, m2.items)
    pd.testing.assert_frame_equal(m1.abilities, m2.abilities)


def test_reduced_set_estimates():
    Y, a, b, th = simulate(400, 1000, seed=1)
    train, test = Y[:300], Y[300:]
    full = test.mean(axis=1)
    m = evals.fit_irt(train)
    # adaptive testing, 100 items per model by Fisher information: MAE <= 0.02
    ad = m.select_items(100, method="adaptive", responses=test, se_stop=0.01)
    assert (ad["n_items"] == 100).all()
    assert np.mean(np.abs(ad["pirt"] - full)) <= 0.02
    # a looser SE target stops earlier
    ad2 = m.select_items(100, method="adaptive", responses=test, se_stop=0.3)
    assert ad2["n_items"].mean() < 40 and (ad2["se"] <= 0.3 + 1e-12).all()
    # static anchors (tinyBenchmarks): 100 items, estimators beat the plain mean of a random sample
    for method in ["kmeans", "kmeans-info", "random"]:
        sel = m.select_items(100, method=method, seed=0)
        assert sel.items.size == 100 and sel.weights.sum() == pytest.approx(1.0)
        est = m.estimate(test[:, sel.items], sel)
        for col in ["irt", "pirt", "gpirt"]:
            assert np.mean(np.abs(est[col] - full)) <= 0.035, (method, col)
    rnd = m.select_items(100, method="random", seed=0)
    est = m.estimate(test[:, rnd.items], rnd)
    assert np.mean(np.abs(est["pirt"] - full)) < np.mean(np.abs(est["naive"] - full))
    # abilities of new models from a subset of items (MAP), many at once
    ab = m.abilities_for(test[:, rnd.items], rnd.items)
    assert np.corrcoef(ab["theta"], th[300:, 0])[0, 1] > 0.85


def test_bad_inputs():
    Y, *_ = simulate(20, 30, seed=5)
    Y[0, 0] = 2
    with pytest.raises(ValueError, match="'responses'"):
        evals.fit_irt(Y)
    with pytest.raises(ValueError, match="'responses'"):
        evals.fit_irt(np.zeros(5))
    with pytest.raises(ValueError, match="model"):
        evals.fit_irt(np.zeros((5, 5)), model="3pl")
    Y[0, 0] = 1
    m = evals.fit_irt(Y)
    with pytest.raises(ValueError, match="'responses'"):
        m.estimate(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="'n_items'"):
        m.select_items(0)
    with pytest.raises(ValueError, match="'items'"):
        m.abilities_for(np.zeros((2, 2)), items=[0, 99])
