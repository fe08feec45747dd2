"""Early-stopping decisions on both forecasts: Domhan's full criterion, reference= in should_stop, the Optuna pruner
and the CLI."""
import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.cli import main
from lawfit.extrapolation import decide


@pytest.fixture(scope="module")
def sweep():
    lc = lawfit.datasets.lcbench()
    lc = lc[lc.epoch.between(1, 50)]
    done = lc[lc.trial < 300]
    targets = lc[(lc.trial >= 1000) & (lc.trial < 1060)]
    truth = targets[targets.epoch == 50].set_index("trial")["val_accuracy"]
    return done, targets[targets.epoch <= 10], truth


KW = dict(x="epoch", y="val_accuracy", by="trial", horizon=50)


def test_reference_decisions_follow_the_calibrated_probability(sweep):
    done, early, truth = sweep
    best = float(truth.quantile(0.75))
    fc = lawfit.extrapolate(early, reference=done, **KW)
    dec = decide(fc, best, threshold=0.1)
    np.testing.assert_array_equal(dec["p_better"].to_numpy(), fc.prob_better(best))
    assert (dec["stop"] == (dec["p_better"] < 0.1)).all()
    assert set(dec["reason"]) <= {"unlikely to beat best", "continue"}
    # should_stop with reference= is the same decision, and the stopped runs rarely beat the best.
    ss = lawfit.should_stop(early, reference=done, best=best, threshold=0.1, **KW)
    pd.testing.assert_frame_equal(ss, dec)
    assert 0 < ss["stop"].sum() < len(ss)
    wrongly_stopped = (truth.reindex(ss.index) > best) & ss["stop"]
    assert wrongly_stopped.sum() <= 0.1 * ss["stop"].sum() + 1
    # Loss-like curves (smaller is better): the probability is the other tail.
    neg = early.assign(val_accuracy=-early.val_accuracy)
    dn = lawfit.should_stop(neg, reference=done.assign(val_accuracy=-done.val_accuracy), best=-best, threshold=0.1,
                            mode="min", **KW)
    np.testing.assert_allclose(dn["p_better"].to_numpy(), ss["p_better"].to_numpy(), atol=0.02)


def test_domhan_full_criterion(sweep):
    done, early, truth = sweep
    ex = lawfit.extrapolate(early, samples=200, steps=150, **KW)
    # No best yet: every run continues.
    none = decide(ex, None)
    assert not none["stop"].any() and set(none["reason"]) == {"no best yet"}
    assert none["p_better"].isna().all() and np.isfinite(none["sd"]).all()
    # Optimistic: also stops runs whose outcome is already known (narrow predictive), conservative never does.
    big = float(none["sd"].median())
    opt = decide(ex, truth.max() + 50, criterion="optimistic", std_threshold=big)
    assert (opt.loc[opt["sd"] < big, "stop"]).all()
    assert "outcome known" not in set(decide(ex, None, criterion="conservative")["reason"])
    assert set(decide(ex, None, criterion="optimistic", std_threshold=big)["reason"]) == {"outcome known",
                                                                                          "no best yet"}
    with pytest.raises(ValueError, match="std_threshold"):
        decide(ex, 80.0, criterion="optimistic")
    with pytest.raises(ValueError, match="criterion"):
        decide(ex, 80.0, criterion="eager")
    with pytest.raises(TypeError, match="Extrapolation"):
        decide(truth, 80.0)


def test_optuna_pruner_uses_completed_trials_as_reference():
    optuna = pytest.importorskip("optuna")
    from lawfit.integrations.optuna import ExtrapolationPruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    T = 20

    def objective(trial):
        q = trial.suggest_float("q", 0.0, 1.0)
        rng = np.random.default_rng(trial.number)
        v = 0.0
        for t in range(1, T + 1):
            v = 0.5 + 0.4 * q - 0.3 * t ** -0.7 + 0.003 * rng.standard_normal()
            trial.report(v, t)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return v

    pruner = ExtrapolationPruner(max_steps=T, min_steps=6, interval=3, min_completed=20, min_reference=20,
                                 samples=100, steps=150)
    study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=32)
    assert pruner.n_reference_batches >= 1
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and study.best_trial.state == optuna.trial.TrialState.COMPLETE
    assert study.best_trial.params["q"] >= max(t.params["q"] for t in pruned)
    with pytest.raises(ValueError, match="reference"):
        ExtrapolationPruner(max_steps=T, reference="always")


def test_cli_extrapolate_and_should_stop_with_reference(sweep, tmp_path, capsys):
    done, early, truth = sweep
    early.to_csv(tmp_path / "runs.csv", index=False)
    done.to_csv(tmp_path / "done.csv", index=False)
    base = [str(tmp_path / "runs.csv"), "--x", "epoch", "--y", "val_accuracy", "--by", "trial", "--horizon", "50",
            "--reference", str(tmp_path / "done.csv"), "-q"]
    assert main(["extrapolate", *base, "-o", str(tmp_path / "f.csv")]) == 0
    f = pd.read_csv(tmp_path / "f.csv")
    api = lawfit.extrapolate(early, reference=done, **KW).summary
    np.testing.assert_allclose(f["q50"].to_numpy(), api["q50"].to_numpy())
    assert main(["should-stop", *base, "--best", "80", "-o", str(tmp_path / "d.csv")]) == 0
    d = pd.read_csv(tmp_path / "d.csv")
    assert {"trial", "stop", "reason", "p_better"} <= set(d.columns) and len(d) == early.trial.nunique()
