"""Parameters shared across curves: a joint fit, checked against scipy on the stacked problem."""
import numpy as np
import pytest

import lawfit

least_squares = pytest.importorskip("scipy.optimize").least_squares


def _seeds_data(n_curves=6, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    alpha = 0.45
    E = rng.uniform(0.8, 1.5, n_curves)
    A = rng.uniform(2, 8, n_curves)
    x = np.tile(np.geomspace(1, 1000, 15), n_curves)
    c = np.repeat(np.arange(n_curves), 15)
    y = (E[c] + A[c] * x**-alpha) * (1 + noise * rng.standard_normal(x.size))
    return {"run": c, "x": x, "y": y}, E, A, alpha


def test_shared_exponent_matches_scipy_joint_fit():
    data, E, A, alpha = _seeds_data()
    r = lawfit.fit(data, "power_law", x="x", y="y", by="run", shared="alpha", ftol=1e-12, xtol=1e-12, gtol=1e-12)
    assert (r.status == "CONVERGED").all()
    assert r.params["alpha"].nunique() == 1
    B = len(E)
    x, y, c = data["x"], data["y"], data["run"]

    def resid(q):
        a, e, amp = q[0], q[1 : 1 + B], q[1 + B :]
        return y - (e[c] + amp[c] * x**-a)

    q0 = np.concatenate([[0.3], np.ones(B), np.ones(B) * 3])
    s = least_squares(resid, q0, ftol=1e-14, xtol=1e-14, gtol=1e-14)
    assert r.objective.sum() <= s.cost * (1 + 1e-9)
    np.testing.assert_allclose(r.params["alpha"].iloc[0], s.x[0], rtol=1e-6)
    np.testing.assert_allclose(r.params["E"].to_numpy(), s.x[1 : 1 + B], rtol=1e-6)
    np.testing.assert_allclose(r.params["A"].to_numpy(), s.x[1 + B :], rtol=1e-6)
    # Marginal covariance blocks equal the corresponding blocks of the full joint covariance.
    J = s.jac
    cov = np.linalg.inv(J.T @ J) * (2 * s.cost / (len(y) - len(q0)))
    for b in range(B):
        idx = [1 + b, 1 + B + b, 0]  # E_b, A_b, alpha in law order
        np.testing.assert_allclose(r.covariance[b], cov[np.ix_(idx, idx)], rtol=1e-4)


def test_shared_is_deterministic_across_threads_and_spares_bad_curves():
    data, *_ = _seeds_data(n_curves=8, seed=2)
    data["y"] = data["y"].copy()
    data["y"][data["run"] == 5] = np.nan
    a = lawfit.fit(data, "power_law", x="x", y="y", by="run", shared=["alpha"], threads=1)
    b = lawfit.fit(data, "power_law", x="x", y="y", by="run", shared=["alpha"], threads=2)
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
    assert a.status.loc[5] == "NON_FINITE"
    assert (a.status.drop(index=5) == "CONVERGED").all()
    clean = {k: v[data["run"] != 5] for k, v in data.items()}
    c = lawfit.fit(clean, "power_law", x="x", y="y", by="run", shared=["alpha"], threads=2)
    np.testing.assert_allclose(a.params.drop(index=5).to_numpy(), c.params.to_numpy(), rtol=1e-12)


def test_shared_rejects_per_curve_starts():
    data, *_ = _seeds_data(n_curves=3)
    starts = {"run": [0, 1, 2], "E": [1.0] * 3, "A": [3.0] * 3, "alpha": [0.5] * 3}
    with pytest.raises(ValueError, match="starts common to all curves"):
        lawfit.fit(data, "power_law", x="x", y="y", by="run", shared="alpha", starts=starts)


def test_shared_with_a_formula_law_equals_builtin():
    data, *_ = _seeds_data(n_curves=5, seed=4)
    law = lawfit.Law("E + A * x^-alpha", inputs=["x"], params=["E", "A", "alpha"],
                     bounds={"A": (0, None), "alpha": (0, 10)})
    st = {"E": [1.0], "A": [3.0], "alpha": [0.3]}
    a = lawfit.fit(data, "power_law", x="x", y="y", by="run", shared="alpha", starts=st)
    b = lawfit.fit(data, law, x="x", y="y", by="run", shared="alpha", starts=st)
    np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=1e-7)
