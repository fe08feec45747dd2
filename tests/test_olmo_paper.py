"""The OLMo ladder paper's procedure (Bhagia et al. 2024) with lawfit on the shipped data reproduces the paper's
published 13B-5T per-task chained errors (bench/reference/olmo_ladder_chained_main.csv) to 1e-3; the dataset
helpers prepare the checkpoints as the paper does (skip the first 10%, 5-checkpoint moving average)."""
import importlib.util
import pathlib

import numpy as np
import pandas as pd
import pytest

import lawfit

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
_spec = importlib.util.spec_from_file_location("lawfit_bench_olmo_paper", _BENCH / "bench_olmo_paper.py")
paper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paper)

PUBLISHED = paper.published()


@pytest.fixture(scope="module")
def rows():
    return paper.load()


def test_paper_rows(rows):
    s1, s2, t = rows
    assert len(s1) == 16 and sorted(s1["size"].unique()) == ["190M", "1B", "370M", "760M"]
    assert sorted(s1["chinchilla_multiple"].unique()) == [1.0, 2.0, 5.0, 10.0] and not s1["rerun"].any()
    assert len(paper.step2_rows(s2, "hellaswag")) == 1402  # 1401 smoothed checkpoints + the (0, 1) anchor
    assert t.loc["13B-5T", "N"] == 13202396160 and t.loc["13B-5T", "D"] == 5000088518656
    assert t.loc["7B-4T", "N"] == 6887575552 and t.loc["7B-4T", "D"] == 3945065873408


@pytest.mark.parametrize("task", list(lawfit.datasets.OLMO_TASKS))
def test_13b_chained_error_matches_published(rows, task):
    s1, s2, t = rows
    got = paper.chained(task, s1, s2, t)["targets"]["13B-5T"]
    pub = PUBLISHED.loc[lawfit.datasets.OLMO_TASKS[task]]
    assert got["true"] == pytest.approx(pub["Actual"], abs=1e-6)  # the paper's truth: mean of the last 5 checkpoints
    assert abs(got["pred"] - pub["Pred"]) <= 1e-3
    assert abs(got["rel_error"] - pub["Rel Error"]) <= 1e-3


def test_7b_anneal_matches_the_paper_optimisers(rows):
    """No 7B CSV is published; there lawfit must agree with the paper's optimisers (scipy) on the same rows."""
    s1, s2, t = rows
    got = paper.chained("hellaswag", s1, s2, t)
    ref = paper.scipy_task("hellaswag", s1, s2, t)
    assert abs(got["targets"]["7B-4T"]["pred"] - ref["pred"]["7B-4T"]) <= 1e-4
    f1, f2 = got["fits"]
    assert f1.objective.iloc[0] <= ref["step1"]["objective"] * (1 + 1e-6)
    assert f2.objective.iloc[0] <= ref["step2"]["objective"] * (1 + 1e-6)


def test_smooth_and_skip_follow_the_paper():
    raw = lawfit.datasets.olmo_ladder()
    out = lawfit.datasets.olmo_ladder(smooth=5, skip_frac=0.1)
    for run in ("190M-1xC", "1B-10xC"):
        r, o = raw[raw["run"] == run], out[out["run"] == run]
        n = len(r)
        kept = r.iloc[int(np.ceil(0.1 * n)):]
        assert len(o) == len(kept)
        np.testing.assert_array_equal(o["step"].to_numpy(), kept["step"].to_numpy())
        np.testing.assert_array_equal(o["D"].to_numpy(), kept["D"].to_numpy())
        x = kept["mmlu_bpb"].to_numpy()
        want = [x[max(0, i - 4): i + 1].mean() for i in range(len(x))]  # trailing mean, shorter at the start
        np.testing.assert_allclose(o["mmlu_bpb"].to_numpy(), want, rtol=1e-12)
    # smooth=1, skip_frac=0 is the raw data; the last smoothed row of a run is the mean of its last 5 checkpoints
    pd.testing.assert_frame_equal(lawfit.datasets.olmo_ladder(smooth=1, skip_frac=0.0), raw)
    last = lawfit.datasets.olmo_ladder(smooth=5).groupby("run").tail(1).set_index("run")["piqa_acc"]
    assert last["370M-5xC"] == pytest.approx(raw[raw["run"] == "370M-5xC"]["piqa_acc"].tail(5).mean(), rel=1e-12)


@pytest.mark.parametrize("kw,msg", [({"smooth": 0}, "smooth"), ({"smooth": 2.5}, "smooth"),
                                    ({"skip_frac": 1.0}, "skip_frac"), ({"skip_frac": -0.1}, "skip_frac"),
                                    ({"skip_frac": "0.1"}, "skip_frac")])
def test_bad_smoothing_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        lawfit.datasets.olmo_ladder(**kw)
    with pytest.raises(ValueError, match=msg):
        lawfit.datasets.olmo_targets(**kw)


def test_targets_hold_the_annealed_7b():
    t = lawfit.datasets.olmo_targets()
    assert list(t["run"].unique()) == ["OLMo-2-7B", "OLMo-2-7B-anneal", "OLMo-2-13B"]
    pre = t[t["run"] == "OLMo-2-7B"].iloc[-1]
    ann = t[t["run"] == "OLMo-2-7B-anneal"]
    assert len(ann) == 1 and ann["D"].iloc[0] == 3945065873408 > pre["D"]
    # the anneal's own evaluation, not the pretraining run's last checkpoint: on average the tasks gain accuracy
    acc = [f"{k}_acc" for k in lawfit.datasets.OLMO_TASKS]
    assert ann[acc].iloc[0].mean() > pre[acc].mean() + 0.005
