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


def simulate_design(M, I, design, seed=0):
    """Common simulation conventions: "U": a ~ U(0.5, 2.5); "LN": a ~ LogNormal(0, 0.5); "girth": girth's README
    example, a ~ U(0.5, 1.5) with difficulties delta ~ U(-2.5, 2.5) in sigmoid(a (theta - delta)). b ~ N(0, 1)
    otherwise; theta ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    th = rng.normal(size=M)
    if design == "U":
        a, b = rng.uniform(0.5, 2.5, I), rng.normal(size=I)
    elif design == "LN":
        a, b = rng.lognormal(0.0, 0.5, I), rng.normal(size=I)
    else:
        a = rng.uniform(0.5, 1.5, I)
        b = a * rng.uniform(-2.5, 2.5, I)
    P = 1 / (1 + np.exp(-(np.outer(th, a) - b)))
    return (rng.random((M, I)) < P).astype(np.int8), a, b, th


@pytest.mark.parametrize("design", ["U", "LN", "girth"])
@pytest.mark.parametrize("method", ["jmap", "mml"])
def test_discrimination_recovery_at_the_information_limit(design, method):
    # 200 models x 1,000 items: the discriminations can only be as good as a fit that knows the true abilities
    Y, a, b, th = simulate_design(200, 1000, design)
    m = evals.fit_irt(Y, "2pl", method=method, max_iter=500)
    assert m.status == "CONVERGED"
    r_a, r_o = np.corrcoef(m.items["a"], a)[0, 1], np.corrcoef(oracle_a(Y.astype(float), th[:, None]), a)[0, 1]
    assert r_a >= r_o - 0.01, (r_a, r_o)
    assert np.corrcoef(m.items["b"], b)[0, 1] >= 0.95
    # MML's scale is fixed by the N(0, 1) ability distribution: the discriminations are on the true scale
    if method == "mml":
        assert np.median(m.items["a"]) == pytest.approx(np.median(a), rel=0.1)


def test_discrimination_recovery_reaches_095_where_the_design_allows():
    # log-normal discriminations, 400 models: the oracle bound is above 0.95 and both estimators reach it
    Y, a, b, th = simulate_design(400, 1000, "LN", seed=3)
    r_o = np.corrcoef(oracle_a(Y.astype(float), th[:, None]), a)[0, 1]
    assert r_o >= 0.95
    for method in ["jmap", "mml"]:
        m = evals.fit_irt(Y, "2pl", method=method, max_iter=500)
        assert np.corrcoef(m.items["a"], a)[0, 1] >= 0.95, method


def test_mml_beats_joint_map_with_few_items_per_model():
    # 1,000 models x 20 items: joint estimation inflates discriminations; marginal ML does not
    Y, a, b, th = simulate_design(1000, 20, "LN", seed=4)
    jm = evals.fit_irt(Y, "2pl")
    mm = evals.fit_irt(Y, "2pl", method="mml")
    assert mm.status == "CONVERGED"
    r_o = np.corrcoef(oracle_a(Y.astype(float), th[:, None]), a)[0, 1]
    r_m, r_j = np.corrcoef(mm.items["a"], a)[0, 1], np.corrcoef(jm.items["a"], a)[0, 1]
    assert r_m >= r_o - 0.01 and r_m >= r_j
    assert np.mean(np.abs(mm.items["a"] - a)) < np.mean(np.abs(jm.items["a"] - a))
    # EAP abilities with posterior sds
    ab = mm.abilities
    assert np.corrcoef(ab["theta"], th)[0, 1] >= 0.85 and (ab["se_theta"] > 0).all()


def test_mml_deterministic_across_threads_and_checks():
    Y, *_ = simulate_design(150, 200, "U", seed=5)
    Y = Y.astype(float)
    Y[np.random.default_rng(0).random(Y.shape) < 0.1] = np.nan
    m1 = evals.fit_irt(Y, method="mml", threads=1)
    m2 = evals.fit_irt(Y, method="mml", threads=2)
    pd.testing.assert_frame_equal(m1.items, m2.items)
    pd.testing.assert_frame_equal(m1.abilities, m2.abilities)
    with pytest.raises(ValueError, match="method"):
        evals.fit_irt(Y, "rasch", method="mml")
    with pytest.raises(ValueError, match="method"):
        evals.fit_irt(Y, method="em")
    with pytest.raises(ValueError, match="quadrature"):
        evals.fit_irt(Y, method="mml", quadrature=2)


@pytest.mark.parametrize("I", [1000, 4000])
def test_reduced_set_optimal_anchors_reach_the_oracle(I):
    # 400 models (IRT fitted on 300, scores of the other 100), 100 anchors, log-normal discriminations
    Y, a, b, th = simulate_design(400, I, "LN", seed=1)
    train, test = Y[:300], Y[300:]
    full = test.mean(axis=1)
    m = evals.fit_irt(train)
    sel = m.select_items(100, method="optimal")
    assert sel.items.size == 100 and np.unique(sel.items).size == 100
    assert sel.weights.sum() == pytest.approx(1.0) and (sel.weights > 0).all()
    est = m.estimate(test[:, sel.items], sel)
    from lawfit._native import _core
    Yk = np.ascontiguousarray(test[:, sel.items])
    _, _, _, oracle = _core.evals_irt_posterior_scores(Yk, sel.items, np.ascontiguousarray(a[:, None]), b, 61, 0)
    mae_oracle = np.mean(np.abs(oracle - full))
    for col in ["irt", "pirt", "gpirt"]:
        mae = np.mean(np.abs(est[col] - full))
        assert mae <= 0.02, (col, mae)
        assert mae <= mae_oracle + 0.005, (col, mae, mae_oracle)
    # better than the plain mean of 100 random items
    rnd = m.select_items(100, method="random", seed=0)
    assert np.mean(np.abs(est["pirt"] - full)) < np.mean(np.abs(test[:, rnd.items].mean(axis=1) - full))


def test_pirt_counts_unanswered_anchors_as_unseen():
    Y, a, b, th = simulate_design(300, 500, "U", seed=6)
    m = evals.fit_irt(Y[:250])
    sel = m.select_items(50, method="kmeans")
    R = Y[250:, sel.items].astype(float)
    R[:, :10] = np.nan  # 10 anchors unanswered: predicted like any other item not answered
    est = m.estimate(R, sel)
    assert (est["n_seen"] == 40).all()
    # numpy reference: posterior over a 61-node grid on [-6, 6] with a N(0, 1) prior
    x = np.linspace(-6, 6, 61)
    A, B = m.items["a"].to_numpy(), m.items["b"].to_numpy()
    P = 1 / (1 + np.exp(-(np.outer(x, A) - B)))  # [Q, I]
    Pk = P[:, sel.items]
    seen = ~np.isnan(R)
    Yf = np.where(seen, R, 0)
    L = -x ** 2 / 2 + (Yf @ np.log(Pk.T) + (seen & (Yf == 0)) @ np.log(1 - Pk.T))  # [M, Q]
    post = np.exp(L - L.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    rest = P.sum(axis=1)[None, :] - seen @ Pk.T  # sum over every item not answered, per node
    ref_pirt = (Yf.sum(axis=1) + (post * rest).sum(axis=1)) / A.size
    ref_irt = (post * P.mean(axis=1)[None, :]).sum(axis=1)
    np.testing.assert_allclose(est["pirt"], ref_pirt, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est["irt"], ref_irt, rtol=1e-10, atol=1e-12)
    assert np.isfinite(est["gpirt"]).all()
