"""Sweep-aware forecasts (lawfit.extrapolate(..., reference=...)): judged on real LCBench curves against the
last-value baseline, calibrated intervals, flat curves, determinism and isolation."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.reference import ReferenceForecast


@pytest.fixture(scope="module")
def lcbench():
    lc = lawfit.datasets.lcbench()
    return lc[lc.epoch.between(1, 50)]


@pytest.mark.parametrize("cut", [10, 20])
def test_lcbench_beats_last_value_with_calibrated_intervals(lcbench, cut):
    ref = lcbench[lcbench.trial < 600]
    tgt = lcbench[(lcbench.trial >= 600) & (lcbench.trial < 1200)]
    truth = tgt[tgt.epoch == 50].set_index("trial")["val_accuracy"]
    ex = lawfit.extrapolate(tgt[tgt.epoch <= cut], x="epoch", y="val_accuracy", by="trial", horizon=50,
                            reference=ref, mode="max")
    assert isinstance(ex, ReferenceForecast) and ex.ok.all()
    s = ex.skill(truth).iloc[0]
    assert s["curves"] == 600
    assert s["ratio_to_last"] < 0.95  # measured 0.78 / 0.84 on these 600 curves (coverage 0.90 / 0.92)
    assert 0.84 <= s["coverage_90"] <= 0.96
    # the baselines are the curves' own last and best values
    obs = tgt[tgt.epoch <= cut]
    assert np.array_equal(ex.baselines["last"].to_numpy(), obs[obs.epoch == cut].set_index("trial")
                          .loc[ex.index, "val_accuracy"].to_numpy())
    p = ex.prob_better(truth.max())
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(ex.prob_better(-1e9) == 1.0)


def test_flat_curves_are_not_predicted_to_rise():
    t = np.arange(1.0, 31.0)
    rng = np.random.default_rng(0)
    ref = []
    for i in range(60):  # half stay flat at 50, half rise from epoch 5 on
        rise = (i % 2) * np.clip(t - 5, 0, None) * 0.5
        ref.append(pd.DataFrame({"run": i, "epoch": t, "acc": 50 + rise + 0.01 * rng.standard_normal(30)}))
    ref = pd.concat(ref)
    tgt = pd.DataFrame({"run": [100] * 10 + [101] * 10, "epoch": np.r_[t[:10], t[:10]],
                        "acc": np.r_[np.full(10, 50.0), 50 + np.clip(t[:10] - 5, 0, None) * 0.5]})
    ex = lawfit.extrapolate(tgt, x="epoch", y="acc", by="run", horizon=30, reference=ref)
    s = ex.summary
    assert s.loc[100, "q50"] == pytest.approx(50.0, abs=0.05)  # flat stays flat
    assert s.loc[101, "q50"] == pytest.approx(62.5, abs=0.5)  # the riser rises like its neighbours


def test_deterministic_and_isolated(lcbench):
    ref = lcbench[lcbench.trial < 200]
    tgt = lcbench[(lcbench.trial >= 200) & (lcbench.trial < 260) & (lcbench.epoch <= 10)]
    kw = dict(x="epoch", y="val_accuracy", by="trial", horizon=50, reference=ref)
    a = lawfit.extrapolate(tgt, threads=1, **kw).summary
    b = lawfit.extrapolate(tgt, threads=2, **kw).summary
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    bad = pd.DataFrame({"trial": [-1, -1, 5000], "epoch": [1.0, 2.0, 3.0], "val_accuracy": [np.nan, 1.0, np.inf]})
    c = lawfit.extrapolate(pd.concat([bad, tgt]), threads=2, **kw).summary
    pd.testing.assert_frame_equal(c.loc[a.index], a, check_exact=True)
    with pytest.raises(ValueError, match="reference"):
        lawfit.extrapolate(tgt, x="epoch", y="val_accuracy", by="trial", horizon=50,
                           reference=ref.rename(columns={"val_accuracy": "acc"}))


def test_self_reference_calibrates_the_ensemble_by_backtest():
    """No finished runs: reference="self" backtests the single-curve ensemble on the call's own curves (cut at half
    their prefix) and learns a shrinkage toward the last value and conformal scores. On 400 LCBench curves cut at
    epoch 10 the median is no worse than the last value and the 90% interval covers 0.8-0.95 of the finals."""
    lc = lawfit.datasets.lcbench()
    lc = lc[lc.epoch.between(1, 50) & (lc.trial % 5 == 0)]
    truth = lc[lc.epoch == 50].set_index("trial")["val_accuracy"]
    early = lc[lc.epoch <= 10]
    f = lawfit.extrapolate(early, x="epoch", y="val_accuracy", by="trial", horizon=50, reference="self",
                           samples=300, steps=150)
    sk = f.skill(truth).iloc[0]
    assert sk["ratio_to_last"] <= 1.0, sk.to_dict()
    assert 0.8 <= sk["coverage_90"] <= 0.95, sk.to_dict()
    assert 0.0 <= f.shrink <= 1.0 and f.ok.all()
    # A curve that has not moved keeps its last value (no predicted rise), with an interval around it.
    flat = f.summary[f.summary.method.str.startswith("backtest: flat")]
    assert len(flat) > 0
    np.testing.assert_array_equal(flat["q50"].to_numpy(), flat["last"].to_numpy())
    assert (flat["q05"] <= flat["q50"]).all() and (flat["q50"] <= flat["q95"]).all()
    # A curve that cannot be used (no finite value) gets a status and the others' forecasts stay finite.
    bad = pd.DataFrame({"trial": [-1] * 3, "epoch": [1.0, 2.0, 3.0], "val_accuracy": [np.nan] * 3})
    g = lawfit.extrapolate(pd.concat([bad, early]), x="epoch", y="val_accuracy", by="trial", horizon=50,
                           reference="self", samples=300, steps=150)
    assert not g.ok[0] and g.ok[1:].all()


def test_self_reference_uses_the_finished_curves_of_the_call():
    """One call holding finished runs and running ones: the finished ones are the reference of the others (same
    forecasts as passing them as reference=), and their own forecast is their observed value."""
    lc = lawfit.datasets.lcbench()
    lc = lc[lc.epoch.between(1, 50) & (lc.trial % 4 == 0)]
    done, running = lc[lc.trial < 1000], lc[(lc.trial >= 1000) & (lc.epoch <= 10)]
    kw = dict(x="epoch", y="val_accuracy", by="trial", horizon=50, mode="max")
    mixed = lawfit.extrapolate(pd.concat([running, done]), reference="self", **kw)
    apart = lawfit.extrapolate(running, reference=done, **kw)
    s = mixed.summary
    pd.testing.assert_frame_equal(s.loc[apart.index], apart.summary)
    fin = done[done.epoch == 50].set_index("trial")["val_accuracy"]
    np.testing.assert_array_equal(s.loc[fin.index, "q50"].to_numpy(), fin.to_numpy())
    assert (s.loc[fin.index, "method"] == "observed").all()
    best = float(fin.median())
    p = mixed.prob_better(best)
    obs = np.isin(s.index, fin.index)
    np.testing.assert_array_equal(p[obs], (s["q50"].to_numpy()[obs] > best).astype(float))


def test_small_reference_calibrates_on_all_scores_or_refuses():
    """A reference too small for a held-out calibration half (q95 needs 19 scores) calibrates on every leave-one-out
    score instead of returning infinite quantiles under a CONVERGED status; one too small for that is refused."""
    rng = np.random.default_rng(0)
    x = np.arange(1, 51.0)

    def curves(n, first):
        a = rng.uniform(1, 2, n)
        return pd.DataFrame({"run": np.repeat(np.arange(first, first + n), 50), "x": np.tile(x, n),
                             "y": np.repeat(a, 50) * (1 + np.tile(x, n) ** -0.5) + 0.01 * rng.standard_normal(50 * n)})

    tg = curves(5, 1000).query("x <= 10")
    ex = lawfit.extrapolate(tg, x="x", y="y", by="run", horizon=50, reference=curves(24, 0), mode="min")
    p = ex.predict()
    assert np.isfinite(p[["q05", "q95"]].to_numpy()).all() and ex.ok.all()
    with pytest.raises(ValueError, match="reference: .* cannot calibrate"):
        lawfit.extrapolate(tg, x="x", y="y", by="run", horizon=50, reference=curves(10, 0), mode="min")


def test_log_likelihood_of_the_calibrated_predictive_beats_the_ensemble():
    """Mean log predictive density of the final values (LCBench, cut at epoch 10, a quarter of the trials): the
    sweep-aware forecast's calibrated predictive is better than the single-curve ensemble's, and finite even for
    truths far outside the calibration scores (the conformal tail mass)."""
    lc = lawfit.datasets.lcbench()
    lc = lc[lc.epoch.between(1, 50) & (lc.trial % 4 == 0)]
    ref, tgt = lc[lc.trial < 1000], lc[lc.trial >= 1000]
    truth = tgt[tgt.epoch == 50].set_index("trial")["val_accuracy"]
    obs = tgt[tgt.epoch <= 10]
    kw = dict(x="epoch", y="val_accuracy", by="trial", horizon=50, mode="max")
    ll_ref = lawfit.extrapolate(obs, reference=ref, **kw).log_likelihood(truth)
    ex = lawfit.extrapolate(obs, samples=300, steps=150, **kw)
    ll_ens = ex.log_likelihood(ex.horizon[:, None], truth.reindex(ex.index).to_numpy()[:, None]).reshape(-1)
    assert np.isfinite(ll_ref).all()
    assert np.mean(ll_ref) > np.nanmean(ll_ens) + 0.5, (np.mean(ll_ref), np.nanmean(ll_ens))


def _twin_runs(runs, seed, start=0):
    """Runs of four near-identical metrics (val / test copies): the prefix does not settle the final value."""
    rng = np.random.default_rng(seed)
    t = np.arange(1.0, 41.0)
    rows = []
    for r in range(start, start + runs):
        a, tau, late = rng.uniform(0.3, 0.6), rng.uniform(3, 8), rng.normal(0, 0.08)
        base = 1.0 - a * (1 - np.exp(-t / tau)) - late * np.clip((t - 10) / 30, 0, 1)
        for m in ("val", "test", "val2", "test2"):
            rows.append(pd.DataFrame({"run": r, "metric": m, "t": t, "y": base + 0.002 * rng.standard_normal(40)}))
    return pd.concat(rows, ignore_index=True)


def test_loo_group_keeps_near_copies_out_of_the_calibration():
    ref, tgt = _twin_runs(100, 1), _twin_runs(80, 2, start=1000)
    truth = tgt[tgt.t == 40].set_index(["run", "metric"])["y"]
    kw = dict(x="t", y="y", by=["run", "metric"], horizon=40, reference=ref, mode="min")
    plain = lawfit.extrapolate(tgt[tgt.t <= 10], **kw).skill(truth).iloc[0]
    grouped = lawfit.extrapolate(tgt[tgt.t <= 10], loo_group="run", **kw).skill(truth).iloc[0]
    # Leave-one-out finds each held-out curve's twin, so the scores are too small and the intervals too narrow;
    # leaving the whole run out calibrates on what a new run looks like.
    assert plain["coverage_90"] < 0.75  # measured 0.20
    assert 0.83 <= grouped["coverage_90"] <= 0.97  # measured 0.88
    assert grouped["mae_forecast"] < plain["mae_forecast"]  # the twin's outcome is no forecast for a new run


def test_match_within_restricts_neighbours_to_the_same_metric():
    rng = np.random.default_rng(3)
    t = np.arange(1.0, 31.0)
    rows = []
    for r in range(120):  # two metrics with the same prefix level, opposite later trends
        for m, sgn in (("up", 1.0), ("down", -1.0)):
            y = 0.5 + 0.01 * rng.standard_normal(30) + sgn * 0.3 * np.clip((t - 10) / 20, 0, 1) * rng.uniform(0.5, 1)
            rows.append(pd.DataFrame({"run": r, "metric": m, "t": t, "y": y}))
    d = pd.concat(rows, ignore_index=True)
    ref, tgt = d[d.run < 80], d[d.run >= 80]
    truth = tgt[tgt.t == 30].set_index(["run", "metric"])["y"]
    kw = dict(x="t", y="y", by=["run", "metric"], horizon=30, reference=ref, mode="max")
    mixed = lawfit.extrapolate(tgt[tgt.t <= 10], **kw).skill(truth).iloc[0]
    matched = lawfit.extrapolate(tgt[tgt.t <= 10], match_within="metric", **kw).skill(truth).iloc[0]
    assert matched["mae_forecast"] < 0.5 * mixed["mae_forecast"]
    assert 0.83 <= matched["coverage_90"] <= 0.97
    with pytest.raises(ValueError, match="by columns"):
        lawfit.extrapolate(tgt[tgt.t <= 10], match_within="t", **kw)
    with pytest.raises(ValueError, match="reference="):
        lawfit.extrapolate(tgt[tgt.t <= 10], x="t", y="y", by=["run", "metric"], horizon=30, loo_group="run")
