"""Schedule-aware extrapolation (lawfit.schedules, extrapolate(schedule=/lr=)): the LR formulas, the schedule
integrals against lr_annealing's own transform, bad input per curve, and forecasts through a decay."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit import schedules
from lawfit._transforms import lr_annealing_features


def test_lr_formulas():
    c = schedules.cosine(1000, warmup=100, peak=2.0, final=0.2)
    lr = c.lr([50, 100, 550, 1000, 2000])
    np.testing.assert_allclose(lr, [1.0, 2.0, 1.1, 0.2, 0.2])
    w = schedules.wsd(1000, decay=0.2, warmup=0, final=0.0)
    np.testing.assert_allclose(w.lr([1, 800, 900, 1000]), [1.0, 1.0, 0.5, 0.0])
    s = schedules.wsd(1000, decay=200, shape="sqrt")
    np.testing.assert_allclose(s.lr([850]), [1 - np.sqrt(0.25)])
    np.testing.assert_allclose(schedules.linear(200, final=0.5).lr([100]), [0.75])
    np.testing.assert_allclose(schedules.constant(warmup=10).lr([5, 10, 500]), [0.5, 1.0, 1.0])


@pytest.mark.parametrize("sched", [schedules.cosine(700, warmup=50, final=0.1), schedules.wsd(700, decay=0.3, warmup=20),
                                   schedules.linear(700, final=0.0), schedules.constant(warmup=30)])
def test_features_equal_the_lr_transform_on_dense_rows(sched):
    steps = np.arange(1, 701, dtype=float)
    lr = sched.lr(steps)
    ref = lr_annealing_features(np.array([0, 700]), np.column_stack([steps, lr]))
    f = sched.resolve(1)
    got, err = schedules.features(np.array([0, 5]), np.array([1.0, 7, 250, 699, 700]), f)
    assert err[0] == 0
    np.testing.assert_allclose(got, ref[[0, 6, 249, 698, 699]], rtol=1e-10, atol=1e-9)


def _simulate(n_curves, sched, total, cut, seed, noise=0.003):
    rng = np.random.default_rng(seed)
    steps = np.arange(10, total + 1, 10, dtype=float)
    F, _ = schedules.features(np.array([0, len(steps)]), steps, sched.resolve(1))
    rows = []
    for i in range(n_curves):
        alpha = np.exp(rng.normal(np.log(0.6), 0.2))
        L0, A = rng.uniform(2.0, 3.0), rng.uniform(3.0, 8.0)
        base = L0 + A * F[:, 0] ** -alpha
        C = rng.uniform(0.02, 0.07) * base[-1] / F[-1, 1]
        y = base - C * F[:, 1] + noise * rng.standard_normal(len(steps))
        rows.append(pd.DataFrame({"run": i, "step": steps, "loss": y, "truth": (base - C * F[:, 1])[-1]}))
    df = pd.concat(rows, ignore_index=True)
    return df[df.step <= cut], df


def test_forecast_through_a_wsd_decay_beats_last_value_and_the_ensemble():
    sched = schedules.wsd(3000, decay=0.25, warmup=100)
    obs, full = _simulate(40, sched, 3000, 2000, seed=1)  # cut in the stable phase: the decay is all ahead
    truth = full.groupby("run")["truth"].first()
    ex = lawfit.extrapolate(obs, x="step", y="loss", by="run", horizon=3000, schedule=sched)
    assert (ex.status == "CONVERGED").all()
    sk = ex.skill(truth).iloc[0]
    assert sk["ratio_to_last"] < 0.4
    assert sk["coverage_90"] >= 0.8
    plain = lawfit.extrapolate(obs, x="step", y="loss", by="run", horizon=3000, samples=300, steps=100)
    q = plain.predict()
    mae_plain = np.abs(q["q50"].to_numpy() - truth.to_numpy()).mean()
    assert sk["mae_forecast"] < 0.5 * mae_plain  # a saturating family cannot see the decay coming


def test_reference_calibrates_and_lr_column_matches_named_schedule():
    sched = schedules.cosine(2000, warmup=50, final=0.1)
    obs, full = _simulate(12, sched, 2000, 600, seed=2)
    _, ref = _simulate(30, sched, 2000, 2000, seed=3)
    ref = ref.assign(run=ref.run + 100)
    truth = full.groupby("run")["truth"].first()
    ex = lawfit.extrapolate(obs, x="step", y="loss", by="run", horizon=2000, schedule=sched, reference=ref)
    assert (ex.status == "CONVERGED").all()
    assert ex.summary["method"].str.startswith("lr_annealing + reference").all()
    assert ex.skill(truth).iloc[0]["ratio_to_last"] < 0.6
    # lr= with the LR at every observed row and plan rows (no loss) up to the horizon: the same forecast, as the
    # integrals agree when every training step has a row.
    steps = np.arange(1, 2001, dtype=float)
    dense = []
    for r, g in obs.groupby("run"):
        d = pd.DataFrame({"run": r, "step": steps, "lr": sched.lr(steps)})
        dense.append(d.merge(g[["step", "loss"]], on="step", how="left"))
    dense = pd.concat(dense, ignore_index=True)
    a = lawfit.extrapolate(dense, x="step", y="loss", by="run", horizon=2000, lr="lr").predict()
    b = lawfit.extrapolate(obs, x="step", y="loss", by="run", horizon=2000, schedule=sched).predict()
    np.testing.assert_allclose(a["q50"], b["q50"], rtol=1e-6)
    np.testing.assert_allclose(a["q95"], b["q95"], rtol=1e-6)


def test_each_curve_alone_and_bad_curves_isolated():
    sched = schedules.cosine(1500, final=0.1)
    obs, _ = _simulate(6, sched, 1500, 500, seed=4)
    full = lawfit.extrapolate(obs, x="step", y="loss", by="run", horizon=1500, schedule=sched).predict()
    one = lawfit.extrapolate(obs[obs.run == 3], x="step", y="loss", by="run", horizon=1500, schedule=sched).predict()
    np.testing.assert_allclose(one["q50"].to_numpy(), full.loc[full.run == 3, "q50"].to_numpy(), rtol=1e-12)
    bad = obs.copy()
    bad.loc[bad.run == 1, "step"] += 0.5  # not integer steps
    bad = pd.concat([bad, pd.DataFrame({"run": [9, 9], "step": [10.0, 20.0], "loss": [3.0, 2.9]})])  # too few
    ex = lawfit.extrapolate(bad, x="step", y="loss", by="run", horizon=1500, schedule=sched)
    st = ex.status
    assert st[1] == "INVALID_INPUT" and st[9] == "TOO_FEW_POINTS"
    good = ex.predict().set_index("run")
    np.testing.assert_allclose(good.loc[3, "q50"], full.set_index("run").loc[3, "q50"], rtol=1e-12)


def test_bad_arguments_are_named():
    sched = schedules.cosine("total_steps")
    obs, _ = _simulate(2, schedules.cosine(800), 800, 300, seed=5)
    with pytest.raises(ValueError, match="total_steps"):
        lawfit.extrapolate(obs, x="step", y="loss", by="run", horizon=800, schedule=sched)
    with pytest.raises(ValueError, match="not both"):
        lawfit.extrapolate(obs.assign(lr=1.0), x="step", y="loss", by="run", horizon=800,
                           schedule=schedules.cosine(800), lr="lr")
    with pytest.raises(ValueError, match="decay"):
        schedules.wsd(100, decay=500).resolve(1)
    with pytest.raises(ValueError, match="kind"):
        schedules.Schedule("step")
    with pytest.raises(ValueError, match="one value per curve"):
        lawfit.extrapolate(obs.assign(total_steps=np.arange(len(obs)) + 800.0), x="step", y="loss", by="run",
                           horizon=800, schedule=sched)


def test_should_stop_uses_the_schedule():
    sched = schedules.wsd(3000, decay=0.25, warmup=100)
    obs, full = _simulate(20, sched, 3000, 2000, seed=6)
    truth = full.groupby("run")["truth"].first()
    best = float(truth.min())
    d = lawfit.should_stop(obs, x="step", y="loss", by="run", horizon=3000, best=best, mode="min", schedule=sched)
    # The run that ends best is never stopped against its own final value; clearly worse runs are.
    assert not d.loc[truth.idxmin(), "stop"]
    worst = truth.sort_values().index[-5:]
    assert d.loc[worst, "stop"].all()


def test_numeric_fields_are_checked_at_construction():
    with pytest.raises(ValueError, match="total"):
        schedules.cosine(total=-5)
    with pytest.raises(ValueError, match="final"):
        schedules.linear(100, final=2.0)
    schedules.cosine(total="total_steps")  # a column: checked once the data is known


def test_features_of_a_failed_curve_are_nan_not_stale_memory():
    """schedules.features: the rows of a curve whose steps are refused are NaN. They were left unwritten (whatever the
    memory held), and a tiny stale S2 made the schedule forecast's division overflow now and then: a RuntimeWarning,
    an error under this suite's filterwarnings, in about 30% of calls (seen as an intermittent failure of
    test_each_curve_alone_and_bad_curves_isolated)."""
    sched = schedules.cosine(1500, final=0.1)
    obs, _ = _simulate(6, sched, 1500, 500, seed=4)
    bad = obs.copy()
    bad.loc[bad.run == 1, "step"] += 0.5
    for _ in range(20):  # (stale memory differs from call to call)
        ex = lawfit.extrapolate(bad, x="step", y="loss", by="run", horizon=1500, schedule=sched)
        assert ex.status[1] == "INVALID_INPUT"
        ex.predict()
    offsets = np.array([0, 3, 6], dtype=np.int64)
    steps = np.array([0.0, 10.0, 20.0, 0.0, 10.5, 20.0])
    out, err = schedules.features(offsets, steps, {"kind": 0, "warmup": 0.0, "total": 100.0, "peak": 1.0,
                                                   "final": 0.1, "decay": 0.0, "shape": 0})
    assert err[0] == 0 and err[1] != 0
    assert np.isfinite(out[:3]).all() and np.isnan(out[3:]).all()
