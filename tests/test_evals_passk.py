"""pass@k / pass^k against exact rationals, intervals, coverage extrapolation, PassUntil."""
from fractions import Fraction
from math import comb

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lawfit
from lawfit._native import _core

from lawfit import evals


def exact_pass_at_k(n, c, k):
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def exact_pass_hat_k(n, c, k):
    return Fraction(comb(c, k), comb(n, k))


@st.composite
def nck(draw):
    n = draw(st.integers(1, 400))
    c = draw(st.one_of(st.just(0), st.just(n), st.integers(0, n)))
    k = draw(st.one_of(st.just(n), st.just(1), st.integers(1, n)))
    return n, c, k


@settings(deadline=None, max_examples=300)
@given(nck())
def test_pass_at_k_matches_exact_rational(t):
    n, c, k = t
    got = evals.pass_at_k(n, c, k)
    want = float(exact_pass_at_k(n, c, k))
    assert got == pytest.approx(want, rel=1e-10, abs=1e-15)
    got_hat = evals.pass_hat_k(n, c, k)
    assert got_hat == pytest.approx(float(exact_pass_hat_k(n, c, k)), rel=1e-10, abs=1e-300)


@settings(deadline=None, max_examples=30)
@given(st.lists(st.tuples(st.integers(1, 300), st.floats(0, 1)), min_size=1, max_size=20), st.data())
def test_grid_matches_exact_rational(rows, data):
    n = np.array([r[0] for r in rows])
    c = np.array([int(round(r[1] * r[0])) for r in rows])
    ks = data.draw(st.lists(st.integers(1, int(n.min())), min_size=1, max_size=6))
    g = evals.pass_at_k(n, c, ks)
    assert g.shape == (len(rows), len(ks))
    for i in range(len(rows)):
        for j, k in enumerate(ks):
            assert g[i, j] == pytest.approx(float(exact_pass_at_k(int(n[i]), int(c[i]), k)), rel=1e-10, abs=1e-15)


def test_edge_cases_and_large_counts():
    assert evals.pass_at_k(10, 0, 10) == 0.0
    assert evals.pass_at_k(10, 10, 1) == 1.0
    assert evals.pass_at_k(10, 1, 10) == 1.0  # every 10-subset holds the one success
    assert np.signbit(evals.pass_at_k(10, 0, 3)) == False  # noqa: E712  (no -0.0)
    # large n goes through lgamma; still close to the exact value
    n, c, k = 100000, 37, 5000
    assert evals.pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), rel=1e-9)
    n, c, k = 5000, 2500, 200
    assert evals.pass_hat_k(n, c, k) == pytest.approx(float(exact_pass_hat_k(n, c, k)), rel=1e-8)


def test_k_greater_than_n_raises():
    with pytest.raises(ValueError, match="'k'"):
        evals.pass_at_k(5, 0, 6)
    with pytest.raises(ValueError, match="'k'"):
        evals.pass_at_k([10, 5], [1, 1], [1, 6])
    with pytest.raises(ValueError, match="'c'"):
        evals.pass_at_k(5, 6, 1)
    with pytest.raises(ValueError, match="'c'"):
        evals.pass_at_k(5, -1, 1)
    with pytest.raises(ValueError, match="'n'"):
        evals.pass_at_k([0], [0], 1)
    with pytest.raises(ValueError, match="'k'"):
        evals.pass_at_k(5, 1, 0)
    with pytest.raises(ValueError, match="'c'"):
        evals.pass_at_k(5, 1.5, 1)
    with pytest.raises(ValueError, match="'n' and 'c'"):
        evals.pass_at_k([5, 5], [1, 1, 1], 1)


def _chen_numpy(n, c, k):
    if n - c < k:
        return 1.0
    return 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))


def test_matches_reference_loop_and_mean():
    rng = np.random.default_rng(0)
    n = rng.integers(20, 200, size=300)
    c = rng.binomial(n, rng.beta(0.5, 2, size=300))
    ks = [1, 2, 5, 10, 20]
    g = evals.pass_at_k(n, c, ks)
    ref = np.array([[_chen_numpy(int(a), int(b), k) for k in ks] for a, b in zip(n, c)])
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-14)
    curve = evals.pass_curve(n, c, ks, interval=None)
    np.testing.assert_allclose(curve["estimate"], g.mean(axis=0), rtol=1e-12)


def test_intervals_bootstrap_and_beta():
    rng = np.random.default_rng(1)
    P = 400
    n = np.full(P, 50)
    c = rng.binomial(50, rng.beta(0.4, 2, size=P))
    b = evals.pass_curve(n, c, [1, 10, 50], n_boot=400, seed=3)
    assert list(b.columns) == ["k", "estimate", "low", "high"]
    assert (b["low"] <= b["estimate"]).all() and (b["estimate"] <= b["high"]).all()
    assert (b["high"] - b["low"] < 0.2).all()
    # deterministic for a seed, thread-count independent
    b2 = evals.pass_curve(n, c, [1, 10, 50], n_boot=400, seed=3, threads=1)
    pd.testing.assert_frame_equal(b, b2)
    be = evals.pass_curve(n, c, [1, 10, 50], interval="beta", n_boot=300, prior="uniform", threads=1)
    be2 = evals.pass_curve(n, c, [1, 10, 50], interval="beta", n_boot=300, prior="uniform", threads=2)
    pd.testing.assert_frame_equal(be, be2)
    assert (be["low"] <= be["estimate"]).all() and (be["estimate"] <= be["high"]).all()
    post = evals.pass_posterior([10, 10], [0, 10], [1, 5], prior="uniform", level=0.9)
    # c = 0 of 10 with a uniform prior: p ~ Beta(1, 11), pass@1 mean = 1/12
    assert post["mean"].iloc[0] == pytest.approx(1 / 12)
    # the 5% / 95% quantiles of Beta(1, 11): 1 - (1-q)^11 = u -> q = 1 - (1-u)^(1/11)
    assert post["low"].iloc[0] == pytest.approx(1 - 0.95 ** (1 / 11), rel=1e-8)
    assert post["high"].iloc[0] == pytest.approx(1 - 0.05 ** (1 / 11), rel=1e-8)
    assert (post["low"] <= post["mean"]).all() and (post["mean"] <= post["high"]).all()
    with pytest.raises(ValueError, match="interval"):
        evals.pass_curve(n, c, [1], interval="nope")


def _beta_problems(P, n, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    p = rng.beta(alpha, beta, size=P)
    return np.full(P, n), rng.binomial(n, p)


def test_coverage_aggregate_and_beta_extrapolate():
    n, c = _beta_problems(3000, 1000, 0.35, 3.0, 7)
    # truth: coverage of the Beta population at large k, 1 - B(a, b + k)/B(a, b)
    from scipy.special import betaln

    k_far = np.array([1000.0, 10000.0])
    truth = 1 - np.exp(betaln(0.35, 3.0 + k_far) - betaln(0.35, 3.0))
    # fit on k <= 100 only (n = 1000 samples, but pretend we extrapolate from a 100-sample budget)
    n100, c100 = np.full(3000, 100), np.random.default_rng(8).binomial(100, np.clip(c / n, 0, 1))
    cb = evals.coverage(n, c, method="beta", n_boot=50, seed=1)
    assert cb.status == "CONVERGED"
    pr = cb.params.set_index("param")
    assert pr.loc["alpha", "estimate"] == pytest.approx(0.35, rel=0.1)
    pb = cb.predict(k_far)
    np.testing.assert_allclose(pb["coverage"], truth, atol=0.02)
    assert (pb["low"] <= pb["coverage"]).all() and (pb["coverage"] <= pb["high"]).all()
    ca = evals.coverage(n100, c100, n_boot=50, seed=1)
    assert ca.status == "CONVERGED"
    pa = ca.predict([100.0, 1000.0])
    obs100 = evals.pass_curve(n100, c100, [100], interval=None)["estimate"].iloc[0]
    assert pa["coverage"].iloc[0] == pytest.approx(obs100, abs=0.02)
    need = ca.samples_for([0.3])
    assert need["k"].iloc[0] > 0 and need["low"].iloc[0] <= need["k"].iloc[0] <= need["high"].iloc[0]
    # round trip: coverage at the needed k equals the target
    assert ca.predict(need["k"])["coverage"].iloc[0] == pytest.approx(0.3, rel=1e-6)
    nb = cb.samples_for([0.3])
    assert cb.predict(nb["k"])["coverage"].iloc[0] == pytest.approx(0.3, abs=2e-3)
    cost = ca.cost_per_solved([10, 100], cost_per_sample=lambda k: 0.5)
    np.testing.assert_allclose(cost["cost_per_solved"], cost["k"] * 0.5 / cost["coverage"])
    # priced by the cost model: one sample = tokens_per_sample decode steps of the sampling model
    arch = dict(n_layers=32, d_model=4096, n_heads=32, vocab=32000, seq_len=4096)
    hw = lawfit.cost.hardware("h100-sxm")
    ref = lawfit.cost.evaluate({**arch, "tokens": 1.0}, hw, infer_batch=8, outputs=["latency_decode_s"])
    by_hand = 512 / 8 * ref["latency_decode_s"].iloc[0] / 3600 * hw.price_per_hour  # steps x time x price
    one = evals.sample_cost(arch, 512, hardware=hw, infer_batch=8)
    assert one == pytest.approx(by_hand, rel=1e-12)
    assert evals.sample_cost(arch, 1024, hardware=hw, infer_batch=8) == pytest.approx(2 * one, rel=1e-12)
    cm = ca.cost_per_solved([10, 100], model=arch, tokens_per_sample=512, hardware=hw, infer_batch=8)
    np.testing.assert_allclose(cm["cost_per_sample"], one)
    np.testing.assert_allclose(cm["cost_per_solved"], cm["k"] * one / cm["coverage"])
    assert (cm["low"] <= cm["cost_per_solved"]).all() and (cm["cost_per_solved"] <= cm["high"]).all()
    with pytest.raises(ValueError, match="tokens_per_sample"):
        ca.cost_per_solved([10], model=arch)
    with pytest.raises(ValueError, match="not both"):
        ca.cost_per_solved([10], 0.5, model=arch, tokens_per_sample=10)
    with pytest.raises(ValueError, match="need model"):
        ca.cost_per_solved([10], tokens_per_sample=10)
    with pytest.raises(ValueError, match="method"):
        evals.coverage(n, c, method="x")


def test_passuntil_estimators_and_law():
    d = evals.passuntil([0, 1, 3, 5], [100, 50, 20, 10], target=5)
    assert d["mle"].tolist() == [0.0, 0.02, 0.15, 0.5]
    assert np.isnan(d["unbiased"].iloc[0]) and np.isnan(d["unbiased"].iloc[1])
    assert d["unbiased"].iloc[3] == pytest.approx(4 / 9)  # stopped at the target: (K-1)/(r-1)
    assert d["censored"].tolist() == [True, False, False, False]
    assert d["high"].iloc[0] == pytest.approx(1 - 0.025 ** (1 / 100), rel=1e-8)  # Clopper-Pearson, 0 of 100
    assert d["low"].iloc[0] == 0.0
    # unbiasedness of (K-1)/(r-1) under inverse sampling, by simulation
    rng = np.random.default_rng(0)
    p, K = 0.05, 4
    r = K + rng.negative_binomial(K, p, size=200000)
    e = evals.passuntil(np.full(r.size, K), r, target=K)
    assert e["unbiased"].mean() == pytest.approx(p, rel=0.01)
    assert e["mle"].mean() > p * 1.05  # the MLE is biased upwards
    # task scaling law on simulated PassUntil counts
    N = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9], 200)
    pu = np.exp(-3e3 * N ** -0.45)
    trials = rng.negative_binomial(8, pu) + 8
    df = pd.DataFrame({"N": N, "successes": 8, "trials": trials})
    res = evals.fit_passuntil(df, target=None)
    assert res.status.iloc[0] == "CONVERGED"
    assert res.params["alpha"].iloc[0] == pytest.approx(0.45, rel=0.1)
    with pytest.raises(ValueError, match="successes"):
        evals.passuntil([3], [2])


def test_scaled_beta_failure_series():
    """failure(k) = E[(1 - s u)^k], u ~ Beta(a, b), from the positive series of passk.hpp: against quadrature
    for random (a, b, s, k), and equal to the closed form 1 - B(a, b + k)/B(a, b) as s -> 1."""
    from scipy import integrate, stats
    from scipy.special import betaln

    rng = np.random.default_rng(3)
    for _ in range(40):
        a, b, s = rng.uniform(0.2, 3), rng.uniform(0.3, 6), rng.uniform(0.05, 0.99)
        k = float(rng.choice([1, 2, 7, 40, 300]))
        ref = integrate.quad(lambda u: (1 - s * u) ** k * stats.beta.pdf(u, a, b), 0, 1, limit=400,
                             epsabs=0, epsrel=1e-11)[0]
        got = 1 - _core.evals_betabinom_coverage(np.array([a]), np.array([b]), np.array([k]), np.array([s]))[0, 0]
        assert got == pytest.approx(ref, rel=1e-8)
    k = np.array([1.0, 10.0, 1000.0, 1e5])
    closed = 1 - np.exp(betaln(0.4, 2.0 + k) - betaln(0.4, 2.0))
    near1 = _core.evals_betabinom_coverage(np.array([0.4]), np.array([2.0]), k, np.array([1 - 1e-12]))[0]
    np.testing.assert_allclose(near1, closed, rtol=1e-9)


def test_scaled_beta_coverage_recovers_a_capped_population():
    """Rates p = 0.6 u, u ~ Beta(0.3, 2): the scaled fit recovers (alpha, beta, s) within about three sampling
    standard deviations (0.0095, 0.13, 0.020 over 12 simulated data sets; the bootstrap's, 0.008-0.0085,
    0.115-0.119, 0.018-0.019 at 300 replicates, agree) and extrapolates coverage to 10x and 100x the budget; the
    unscaled Beta fit (s = 1) cannot."""
    from scipy import integrate, stats

    rng = np.random.default_rng(11)
    a, b, s, P, n = 0.3, 2.0, 0.6, 3000, 200
    c = rng.binomial(n, s * rng.beta(a, b, P))
    r = evals.coverage(np.full(P, n), c, method="scaled_beta", n_boot=60, seed=2)
    assert r.status == "CONVERGED"
    pr = r.params.set_index("param")
    for name, truth, rel in (("alpha", a, 0.1), ("beta", b, 0.2), ("s", s, 0.1)):
        assert pr.loc[name, "estimate"] == pytest.approx(truth, rel=rel)
        assert pr.loc[name, "low"] < pr.loc[name, "estimate"] < pr.loc[name, "high"]
    kk = np.array([2000.0, 20000.0])
    truth = [1 - integrate.quad(lambda u: (1 - s * u) ** k * stats.beta.pdf(u, a, b), 0, 1, limit=400)[0] for k in kk]
    pred = r.predict(kk)
    np.testing.assert_allclose(pred["coverage"], truth, atol=0.01)
    r1 = evals.coverage(np.full(P, n), c, method="beta", n_boot=0)
    assert r1.params.set_index("param").loc["beta", "estimate"] > 1.5 * b  # the cap distorts the s = 1 fit


def test_broadcasting_and_degenerate_coverage():
    np.testing.assert_array_equal(evals.pass_at_k([10, 20], 0, 5), [0.0, 0.0])
    np.testing.assert_allclose(evals.pass_at_k(10, [1, 2], 1), [0.1, 0.2])
    assert evals.pass_at_k([10, 20], [1, 2], [1, 2]).shape == (2, 2)
    with pytest.raises(ValueError, match="none was ever solved"):
        evals.coverage([10, 10], [0, 0])
    cb = evals.coverage([10, 10, 10], [0, 0, 0], method="beta", n_boot=5)
    assert cb.status == "INVALID_INPUT"
    cs = evals.coverage([10, 10, 10], [0, 0, 0], method="scaled_beta", n_boot=5)
    assert cs.status == "INVALID_INPUT" and np.isnan(cs.params["estimate"]).all()


def test_posterior_mean_at_a_trillion_samples_is_inside_its_interval():
    """n = 1e12: the posterior mean of pass@k was exp of a difference of lgammas of size ~n log n, which lost every
    digit (a mean of -0.0039 for a rate of 2e-11, found by the fuzzer). Now from differences that do not cancel:
    inside the interval and equal to k c / n to 1e-6."""
    from lawfit import evals

    r = evals.pass_posterior(10**12, [21, 6, 13, 0], [1, 5, 6])
    cols = [c for c in r.columns if c not in ("problem", "k")]
    mean, low, high = (r[c].to_numpy() for c in cols[:3])
    assert ((low <= mean) & (mean <= high)).all()
    k = r["k"].to_numpy()
    c = np.array([21, 6, 13, 0])[r["problem"].to_numpy()]
    nz = c > 0
    np.testing.assert_allclose(mean[nz], 1 - (1 - (c[nz] + 0.5) / (1e12 + 1)) ** k[nz], rtol=1e-3)


def test_scaled_beta_head_sum_matches_the_full_sum_at_large_concentration():
    """failure(k) = E[(1 - s u)^k] from the positive series, whose exact head now ends where the terms become
    log-concave (j >= sqrt((1 - beta) A) + 1, or at once when beta >= 1) instead of sqrt(A) + 1 (~1e4 terms when a
    small problem set fits alpha + beta ~ 1e8): equal to the full O(k) sum, for beta below and above 1."""
    from scipy.special import betaln, gammaln

    for a, b, s, k in [(2e7, 3e7, 0.6, 40), (3e7, 0.4, 0.9, 30), (5.0, 0.3, 0.7, 200), (1e8, 2.0, 0.5, 25),
                       (0.5, 0.2, 0.95, 3000)]:
        j = np.arange(k + 1)
        lt = (gammaln(k + 1) - gammaln(j + 1) - gammaln(k - j + 1) + (k - j) * np.log1p(-s) + j * np.log(s)
              + betaln(a, b + j) - betaln(a, b))
        full = np.exp(np.logaddexp.reduce(lt))
        cov = _core.evals_betabinom_coverage(np.array([a]), np.array([b]), np.array([float(k)]), np.array([s]))[0, 0]
        assert 1 - cov == pytest.approx(full, rel=1e-6, abs=1e-15)  # (the reference betaln cancels at A ~ 1e8)
