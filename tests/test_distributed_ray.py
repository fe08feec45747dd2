"""lawfit on Ray Data: fit, bootstrap, extrapolate, should_stop and cost.evaluate of a Ray Dataset whose blocks cut
curves in the middle give the in-memory results, bit for bit (a local Ray of 2 CPUs)."""
import logging

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import lawfit  # noqa: E402

pytestmark = [
    pytest.mark.slow,  # Ray's start and its per-stage scheduling take ~20 s on 2 cores
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),  # Ray's own deprecations of its settings
    # Ray 2.51 (the last for Python 3.9) leaves one of its helper processes to be reaped at exit
    pytest.mark.filterwarnings("ignore:subprocess [0-9]+ is still running:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # The sort-based shuffle starts no aggregator actors: ~1 s a stage on small data instead of ~10 s.
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    yield
    ray.shutdown()


def blocks(df: pd.DataFrame, n: int = 3):
    """df's rows interleaved across curves, and as a Ray Dataset of n blocks (each holding pieces of many curves)."""
    d = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cuts = np.linspace(0, len(d), n + 1).astype(int)
    return d, ray.data.from_pandas([d.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])])


def test_ray_fit_bootstrap_extrapolate(local_ray):
    df = lawfit.datasets.synthetic_power_law(30, n_points=25, noise=0.03, seed=3)[["curve", "x", "y"]]
    d, ds = blocks(df)
    a = lawfit.fit(d, "power_law", x="x", y="y", by="curve", starts=4)
    b = lawfit.fit(ds, "power_law", x="x", y="y", by="curve", starts=4)
    assert a.to_frame().equals(b.to_frame())
    assert np.array_equal(a._cov, b._cov, equal_nan=True)
    ba, bb = a.bootstrap(n=80, seed=2), b.bootstrap(n=80, seed=2)
    assert ba.samples.tobytes() == bb.samples.tobytes()
    lazy = lawfit.fit(ds, "power_law", x="x", y="y", by="curve", starts=4, compute=False)
    got = lazy.to_pandas().sort_values("curve").reset_index(drop=True)
    want = a.to_frame().reset_index()
    assert got.drop(columns="status_code").astype(want.dtypes.to_dict()).equals(want)  # (Ray: Arrow-backed columns)

    lc = lawfit.datasets.lcbench()
    lc = lc[(lc["trial"] < 10) & (lc["epoch"] <= 12)][["trial", "epoch", "val_accuracy"]]
    d2, ds2 = blocks(lc)
    kw = dict(x="epoch", y="val_accuracy", by="trial", horizon=51, samples=40, steps=30, init_spread=0.0)
    ea, eb = lawfit.extrapolate(d2, **kw), lawfit.extrapolate(ds2, **kw)
    assert ea.samples.tobytes() == eb.samples.tobytes()
    assert ea.summary.equals(eb.summary)
    assert lawfit.should_stop(d2, best=85.0, **kw).equals(lawfit.should_stop(ds2, best=85.0, **kw))

    cfg = pd.DataFrame({"n_layers": [4, 8, 16, 32], "d_model": [512, 1024, 2048, 4096], "n_heads": 16,
                        "tokens": [1e9, 1e10, 1e11, 1e12]})
    want = lawfit.cost.evaluate(cfg, outputs="all")
    assert want.equals(lawfit.cost.evaluate(ray.data.from_pandas([cfg.iloc[:2], cfg.iloc[2:]]), outputs="all"))


def test_ray_read_runs_and_write(local_ray, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = lawfit.datasets.synthetic_power_law(20, n_points=20, noise=0.02, seed=6)[["curve", "x", "y"]]
    df = df.assign(sweep=df["curve"] % 2)
    runs = tmp_path / "runs"
    pq.write_to_dataset(pa.Table.from_pandas(df, preserve_index=False), str(runs), partition_cols=["sweep"])
    ds = lawfit.io.read_runs(runs, engine="ray")
    kw = dict(x="x", y="y", by=["sweep", "curve"])
    want = lawfit.fit(df, "power_law", **kw)
    assert want.to_frame().equals(lawfit.fit(ds, "power_law", **kw).to_frame())  # sweep read back as int64
    lawfit.io.write(lawfit.fit(ds, "power_law", compute=False, **kw), tmp_path / "fits", like=runs)
    assert sorted(p.name for p in (tmp_path / "fits").iterdir()) == ["sweep=0", "sweep=1"]
    back = lawfit.io.read_runs(tmp_path / "fits", engine="pandas").sort_values(["sweep", "curve"])
    assert np.array_equal(back[["E", "A", "alpha"]].to_numpy(), want._params)
