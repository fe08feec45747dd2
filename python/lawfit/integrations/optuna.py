"""Optuna pruner that stops trials by Bayesian learning-curve extrapolation (Domhan et al. 2015).

    import optuna
    from lawfit.integrations.optuna import ExtrapolationPruner

    study = optuna.create_study(direction="maximize", pruner=ExtrapolationPruner(max_steps=50))

Each time a trial asks ``should_prune()``, the pruner extrapolates *every* running trial that has new reports
in one batched :func:`lawfit.extrapolate` call and caches the decision per (trial, step), so parallel workers
share the work. A trial is pruned when P(its value at ``max_steps`` beats the best completed trial) is below
``threshold``; a trial whose extrapolation fails is never pruned. Needs the ``optuna`` extra.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

try:
    import optuna
    from optuna.pruners import BasePruner
    from optuna.trial import TrialState
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError("lawfit.integrations.optuna needs optuna: pip install 'lawfit[optuna]'") from exc

from .._args import show
from ..extrapolation import decide, extrapolate


class ExtrapolationPruner(BasePruner):
    """Prune trials whose extrapolated learning curve is unlikely to beat the best completed trial.

    Parameters
    ----------
    max_steps: the step at which trials end (the extrapolation horizon).
    threshold: prune when P(final value beats the best) < threshold (Domhan et al.: 0.05).
    min_steps: do not prune before this many reported steps.
    interval: only decide every ``interval`` steps (decisions in between reuse the last one: continue).
    min_completed: completed trials needed before anything is pruned.
    reference: "auto" (default): once ``min_reference`` completed trials have reported up to ``max_steps``, their
        curves are the reference of a sweep-aware, calibrated forecast (``lawfit.extrapolate(..., reference=)``);
        before that, and with "none", each running trial is extrapolated alone (the Bayesian ensemble).
    min_reference: completed full-length trials needed for the sweep-aware forecast (at least 19: the split-
        conformal calibration of a central 90% interval needs 19 scores).
    criterion, std_threshold: Domhan et al.'s conservative / optimistic criterion (:func:`lawfit.decide`).
    families, samples, steps, seed, threads: passed to :func:`lawfit.extrapolate` (ensemble path).
    """

    def __init__(self, max_steps: int, *, threshold: float = 0.05, min_steps: int = 5, interval: int = 1,
                 min_completed: int = 1, reference: str = "auto", min_reference: int = 20,
                 criterion: str = "conservative", std_threshold: Optional[float] = None, families="domhan",
                 samples: int = 500, steps: int = 600, seed: int = 0, threads: Optional[int] = None):
        if max_steps < 1 or min_steps < 1 or interval < 1 or min_completed < 1:
            raise ValueError("max_steps, min_steps, interval and min_completed must be >= 1")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {show(threshold)}")
        if reference not in ("auto", "none"):
            raise ValueError(f"reference must be 'auto' or 'none', got {show(reference)}")
        if min_reference < 19:
            raise ValueError(f"min_reference must be >= 19 (the calibration of a 90% interval needs 19 curves), "
                             f"got {show(min_reference)}")
        self.reference = reference
        self.min_reference = int(min_reference)
        self._decide_kw = dict(criterion=criterion, std_threshold=std_threshold)
        self.max_steps = int(max_steps)
        self.threshold = float(threshold)
        self.min_steps = int(min_steps)
        self.interval = int(interval)
        self.min_completed = int(min_completed)
        self._kw = dict(families=families, samples=int(samples), steps=int(steps), seed=int(seed), threads=threads)
        self._cache: dict = {}  # (trial number, step) -> (prune, p_better)
        self.n_batches = 0  # batched extrapolation calls made (for inspection)
        self.n_reference_batches = 0  # of which sweep-aware (completed trials as the reference)

    def _reference(self, done) -> Optional[pd.DataFrame]:
        """The completed trials that reported up to max_steps, as a long table, or None if too few."""
        full = [t for t in done if t.intermediate_values and max(t.intermediate_values) >= self.max_steps]
        if len(full) < self.min_reference:
            return None
        rows = [(t.number, s, v) for t in full for s, v in t.intermediate_values.items() if np.isfinite(v)]
        ref = pd.DataFrame(rows, columns=["trial", "step", "value"])
        return ref[ref["step"] >= 1]

    def _due(self, t) -> Optional[int]:
        step = t.last_step
        if step is None or len(t.intermediate_values) < self.min_steps or step >= self.max_steps:
            return None
        if len(t.intermediate_values) % self.interval:
            return None
        return step

    def prune(self, study: "optuna.study.Study", trial: "optuna.trial.FrozenTrial") -> bool:
        step = self._due(trial)
        if step is None:
            return False
        key = (trial.number, step)
        if key in self._cache:
            return self._cache[key][0]
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(done) < self.min_completed:
            return False
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        best = study.best_value
        # Every running trial with a decision due and not cached, plus this one: one batched call.
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if t.number != trial.number]
        todo = [trial] + [t for t in running if self._due(t) is not None and (t.number, t.last_step) not in self._cache]
        rows = [(t.number, s, v) for t in todo for s, v in t.intermediate_values.items() if np.isfinite(v)]
        df = pd.DataFrame(rows, columns=["trial", "step", "value"])
        df = df[df["step"] >= 1]
        if df.empty:
            return False
        ref = self._reference(done) if self.reference == "auto" else None
        kw = self._kw if ref is None else dict(threads=self._kw["threads"])
        ex = extrapolate(df, x="step", y="value", by="trial", horizon=self.max_steps,
                         mode="max" if maximize else "min", reference=ref, **kw)
        self.n_batches += 1
        self.n_reference_batches += ref is not None
        dec = decide(ex, best, threshold=self.threshold, **self._decide_kw)
        for t in todo:
            if t.number in dec.index:
                self._cache[(t.number, t.last_step)] = (bool(dec.loc[t.number, "stop"]),
                                                        float(dec.loc[t.number, "p_better"]))
        return self._cache.get(key, (False, np.nan))[0]
