"""lawfit on Dask: every distributed entry point gives the in-memory call's results, bit for bit, on a local cluster
of two worker processes, with the input's partitions cutting curves in the middle (lawfit.distributed)."""
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import lawfit  # noqa: E402
from lawfit import cost  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """A local cluster of 2 worker processes, 1 thread each (CI machines have 2 cores)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as c:
        yield c


def cut(df: pd.DataFrame, npartitions: int = 3, seed: int = 0):
    """df with its rows interleaved across curves (the input order) and as a Dask DataFrame of ``npartitions``
    partitions: every partition holds pieces of many curves."""
    d = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return d, dd.from_pandas(d, npartitions=npartitions, sort=False)


def assert_fit_equal(a, b):
    assert a.keys.equals(b.keys)
    assert a.to_frame().equals(b.to_frame())
    for name in ("_params", "_cov", "_cost", "_iters", "_status", "_best", "_npts"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert np.array_equal(a._xrange, b._xrange, equal_nan=True)


def curves_split(ddf, by) -> int:
    """How many curves have rows in more than one partition of ddf."""
    seen = {}
    for i in range(ddf.npartitions):
        for k in ddf.get_partition(i)[by].drop_duplicates().itertuples(index=False):
            seen.setdefault(tuple(k), set()).add(i)
    return sum(len(v) > 1 for v in seen.values())


@pytest.fixture(scope="module")
def power(client):
    df = lawfit.datasets.synthetic_power_law(40, n_points=30, noise=0.03, seed=3)
    df = df.drop(columns=["E", "A", "alpha"]).assign(w=np.random.default_rng(1).uniform(0.5, 2.0, len(df)))
    d, ddf = cut(df)
    assert curves_split(ddf, ["curve"]) >= 20
    return d, ddf


@pytest.mark.parametrize("opts", [
    dict(),
    dict(loss="huber", delta=0.05, space="log", weight="w"),
    dict(starts=8, seed=11),
    dict(bounds={"alpha": (0.1, 0.9)}, max_iter=30),
    dict(fixed={"E": 1.2}),
    dict(fixed={"E": pd.Series([1.0, 1.5], index=pd.Index([2, 7], name="curve"))}),
    dict(tie={"A": "5*E"}),
])
def test_fit_identical(power, opts):
    d, ddf = power
    a = lawfit.fit(d, "power_law", x="x", y="y", by="curve", **opts)
    b = lawfit.fit(ddf, "power_law", x="x", y="y", by="curve", **opts)
    assert_fit_equal(a, b)


def test_fit_per_curve_tables_and_nan_policy(power):
    d, ddf = power
    d = d.copy()
    d.loc[d.index[::97], "y"] = np.nan
    ddf = dd.from_pandas(d, npartitions=4, sort=False)
    bounds = pd.DataFrame({"curve": [3, 7, 30], "alpha_lower": [0.3, 0.2, 0.1], "alpha_upper": [0.5, 0.6, 0.7]})
    starts = pd.DataFrame({"curve": [1, 1, 5], "E": [1.0, 0.5, 1.5], "A": [5.0, 2.0, 5.0], "alpha": [0.5, 0.3, 0.5]})
    for policy in ("status", "omit"):
        kw = dict(x="x", y="y", by="curve", bounds=bounds, starts=starts, nan_policy=policy)
        assert_fit_equal(lawfit.fit(d, "power_law", **kw), lawfit.fit(ddf, "power_law", **kw))
    bad = pd.DataFrame({"curve": [3, 999], "alpha_lower": [0.3, 0.2], "alpha_upper": [0.5, 0.6]})
    with pytest.raises(ValueError, match="not in the data"):
        lawfit.fit(ddf, "power_law", x="x", y="y", by="curve", bounds=bad)


def test_fit_multi_key_and_lazy_table(power):
    d, _ = power
    d = d.assign(group=np.where(d["curve"] % 3 == 0, "a", "b"), run=d["curve"] // 2)
    ddf = dd.from_pandas(d, npartitions=3, sort=False)
    kw = dict(x="x", y="y", by=["group", "run"])
    a = lawfit.fit(d, "power_law", **kw)
    assert_fit_equal(a, lawfit.fit(ddf, "power_law", **kw))
    lazy = lawfit.distributed.fit(ddf, "power_law", compute=False, partitions=5, **kw)
    assert isinstance(lazy, dd.DataFrame) and lazy.npartitions == 5
    got = lazy.compute().sort_values(["group", "run"]).reset_index(drop=True)
    assert dict(lazy.dtypes) == dict(got.dtypes)  # the meta matches what the tasks return
    want = a.to_frame().reset_index()
    assert got.drop(columns="status_code").astype(want.dtypes.to_dict()).equals(want)
    assert (got["status_code"] == a._status).all()


@pytest.mark.parametrize("method", ["pairs", "residual"])
def test_bootstrap_identical(power, method):
    d, ddf = power
    kw = dict(x="x", y="y", by="curve", loss="soft_l1", delta=0.1)
    a = lawfit.fit(d, "power_law", **kw)
    b = lawfit.fit(ddf, "power_law", **kw)
    ba = a.bootstrap(n=150, method=method, seed=4)
    bb = b.bootstrap(n=150, method=method, seed=4)
    assert ba.samples.tobytes() == bb.samples.tobytes()
    assert np.array_equal(ba.status, bb.status)
    assert b.bootstrap_samples is bb.samples
    assert ba.interval(0.8).equals(bb.interval(0.8))
    assert ba.interval(0.8, method="bca").equals(bb.interval(0.8, method="bca"))  # jackknife per partition
    assert a.predict(d, interval=0.9).equals(b.predict(d, interval=0.9))
    one = lawfit.distributed.bootstrap(ddf, "power_law", n=150, method=method, seed=4, **kw)
    assert one.samples.tobytes() == ba.samples.tobytes()
    lazy = lawfit.distributed.bootstrap(ddf, "power_law", n=150, method=method, seed=4, level=0.8, compute=False,
                                        **kw).compute().sort_values("curve").reset_index(drop=True)
    assert np.array_equal(lazy[list(ba.interval(0.8).columns)].to_numpy(), ba.interval(0.8).to_numpy(),
                          equal_nan=True)
    assert np.array_equal(lazy[[f"{p}_se" for p in a.law.params]].to_numpy(), ba.stderr.to_numpy(), equal_nan=True)


@pytest.fixture(scope="module")
def lcb(client):
    df = lawfit.datasets.lcbench()
    df = df[(df["trial"] < 16) & (df["epoch"] <= 12)][["trial", "epoch", "val_accuracy"]]
    return cut(df, 3, seed=2)


EX = dict(x="epoch", y="val_accuracy", by="trial", horizon=51, samples=60, steps=40)


def test_extrapolate_identical(lcb):
    # init_spread=0: the walkers start in a ball (no Laplace start factors).
    d, ddf = lcb
    a = lawfit.extrapolate(d, init_spread=0.0, **EX)
    b = lawfit.extrapolate(ddf, init_spread=0.0, **EX)
    assert a.samples.tobytes() == b.samples.tobytes()
    assert a.summary.equals(b.summary)
    assert a.predict(steps=[20, 30, 51]).equals(b.predict(steps=[20, 30, 51]))
    assert a.problem["walkers"] == b.problem["walkers"]
    lazy = lawfit.extrapolate(ddf, init_spread=0.0, compute=False, **EX).compute()
    assert lazy.sort_values("trial").reset_index(drop=True).equals(a.summary.reset_index())
    s1 = lawfit.should_stop(d, best=85.0, init_spread=0.0, **EX)
    s2 = lawfit.should_stop(ddf, best=85.0, init_spread=0.0, **EX)
    assert s1.equals(s2)
    best = pd.Series(np.linspace(80, 90, 16), index=pd.Index(np.arange(16), name="trial"))
    s3 = lawfit.should_stop(ddf, best=best, init_spread=0.0, compute=False, **EX).compute()
    assert s3.sort_values("trial").reset_index(drop=True).equals(
        lawfit.should_stop(d, best=best, init_spread=0.0, **EX).reset_index())


def test_extrapolate_batch_walker_count(lcb):
    # A partition whose curves all sit at the horizon has no active family (walkers 4 on its own): it is rerun with
    # the batch's count, as the single in-memory call samples every curve with one ensemble size.
    d, _ = lcb
    late = lawfit.datasets.lcbench()
    late = late[(late["trial"] >= 1000) & (late["trial"] < 1004)][["trial", "epoch", "val_accuracy"]]
    both = pd.concat([d, late], ignore_index=True)
    ddf = dd.from_pandas(both.sort_values("trial", kind="stable"), npartitions=2, sort=False)
    kw = dict(EX, init_spread=0.0)
    a = lawfit.extrapolate(both, **kw)
    b = lawfit.distributed.extrapolate(ddf, partitions=6, **kw)
    assert (a.status.loc[1000:] == "INVALID_INPUT").all()
    assert a.samples.tobytes() == b.samples.tobytes()


def test_extrapolate_identical_default_starts(lcb):
    # (The start factors fall back to the diagonal per curve, so a curve's walkers never depend on its batch.)
    d, ddf = lcb
    a = lawfit.extrapolate(d, **EX)
    b = lawfit.extrapolate(ddf, **EX)
    assert a.samples.tobytes() == b.samples.tobytes()


def test_cost_evaluate_and_plan(client):
    rng = np.random.default_rng(0)
    n = 3000
    cfg = pd.DataFrame({"n_layers": rng.integers(4, 48, n), "d_model": rng.choice([512, 1024, 2048], n),
                        "n_heads": 16, "tokens": rng.uniform(1e9, 1e12, n)})
    a = cost.evaluate(cfg, "h100-sxm", outputs="all", n_gpus=8)
    b = cost.evaluate(dd.from_pandas(cfg, npartitions=4), "h100-sxm", outputs="all", n_gpus=8)
    assert a.equals(b) and a.attrs == b.attrs
    lazy = cost.evaluate(dd.from_pandas(cfg, npartitions=4), "h100-sxm", outputs="all", n_gpus=8, compute=False)
    assert lazy.compute().equals(a)
    g = cost.grid(n_layers=[8, 16, 32], d_model=[512, 1024], n_heads=16, tokens=np.geomspace(1e9, 1e12, 30))
    assert lawfit.distributed.evaluate(g, chunk_rows=40).equals(cost.evaluate(g))
    assert lawfit.distributed.evaluate(g, chunk_rows=40, compute=False).compute().equals(cost.evaluate(g))
    df = pd.concat([lawfit.datasets.synthetic_chinchilla(n=150, seed=s).assign(run=s) for s in (1, 2)])
    res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", by="run", loss="huber", delta=1e-3, space="log")
    res.bootstrap(n=30, seed=1)
    grid = cost.grid(n_layers=np.arange(4, 64, 4), d_model=[512, 1024, 2048, 4096], n_heads=16,
                     tokens=np.geomspace(1e9, 1e13, 30))
    for objective in ("loss", "cost"):
        want = lawfit.plan(res, 1e21, grid=grid, objective=objective)
        got = lawfit.distributed.plan(res, 1e21, grid=grid, objective=objective, chunk_rows=300)
        assert want.equals(got) and want.attrs["samples"].equals(got.attrs["samples"])
    tab = cost.evaluate(grid, outputs=["params"])[list(cost.FIELDS)]
    tab = tab.assign(norm=tab["norm"].cat.codes.astype(float), position=tab["position"].cat.codes.astype(float))
    assert lawfit.plan(res, 1e21, grid=dd.from_pandas(tab, npartitions=5)).equals(lawfit.plan(res, 1e21, grid=grid))


def test_read_runs_and_write(tmp_path, client):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    df = lawfit.datasets.lcbench()
    df = df[(df["trial"] < 60) & (df["epoch"] >= 1)].assign(sweep=lambda t: t["trial"] % 3)
    runs = tmp_path / "runs"
    pq.write_to_dataset(pa.Table.from_pandas(df, preserve_index=False), str(runs), partition_cols=["sweep"])
    assert lawfit.io.partition_columns(runs) == ["sweep"]
    lazy = lawfit.io.read_runs(runs)
    eager = lawfit.io.read_runs(runs, engine="pandas")
    assert isinstance(lazy, dd.DataFrame) and lazy["sweep"].dtype == np.int64 and eager["sweep"].dtype == np.int64
    kw = dict(x="epoch", y="val_accuracy", by=["sweep", "trial"])
    want = lawfit.fit(df, "pow3", **kw)  # the table the dataset was written from
    assert_fit_equal(want, lawfit.fit(lazy, "pow3", **kw))
    assert_fit_equal(want, lawfit.fit(eager, "pow3", **kw))
    out = tmp_path / "fits"
    lawfit.io.write(lawfit.fit(lazy, "pow3", compute=False, **kw), out, like=runs)
    assert sorted(p.name for p in out.iterdir()) == ["sweep=0", "sweep=1", "sweep=2"]
    back = lawfit.io.read_runs(out, engine="pandas").sort_values(["sweep", "trial"]).reset_index(drop=True)
    frame = want.to_frame().reset_index()
    assert back[list(frame.columns)].equals(frame)
    lawfit.io.write(want, tmp_path / "fits2", like=runs)
    back2 = lawfit.io.read_runs(tmp_path / "fits2", engine="pandas").sort_values(["sweep", "trial"])
    assert back2.reset_index(drop=True)[list(frame.columns)].equals(frame)
    only = lawfit.io.read_runs(runs, filters=[("sweep", "==", 2)], columns=["trial", "epoch", "val_accuracy"])
    assert set(only["trial"].compute() % 3) == {2}


def test_refusals(power):
    d, ddf = power
    with pytest.raises(ValueError, match="shared parameters"):
        lawfit.fit(ddf, "power_law", x="x", y="y", by="curve", shared="alpha")
    with pytest.raises(ValueError, match="compute=False applies to a Dask DataFrame"):
        lawfit.fit(d, "power_law", x="x", y="y", by="curve", compute=False)
    with pytest.raises(ValueError, match="per-curve bounds"):
        lawfit.fit(ddf, "power_law", x="x", y="y", by="curve", starts=4,
                   bounds=pd.DataFrame({"curve": [1], "alpha_lower": [0.2]}))
    with pytest.raises(ValueError, match="column 'nope' not found"):
        lawfit.fit(ddf, "power_law", x="nope", y="y", by="curve")
    with pytest.raises(ValueError, match="split across partitions"):
        lawfit.distributed.fit(ddf, "power_law", x="x", y="y", by="curve", shuffle=False)
    with pytest.raises(ValueError, match="horizon .* Series"):
        lawfit.extrapolate(ddf, x="x", y="y", by="curve", horizon=np.full(40, 2000.0))
    with pytest.raises(ValueError, match="reference="):
        lawfit.extrapolate(ddf, x="x", y="y", by="curve", horizon=2000, reference="self")


def test_worker_killed_mid_fit(client):
    """A worker process killed while the fit's tasks run: the engine reruns the lost tasks (pure functions of their
    partition) and the result is the in-memory one, with every curve."""
    df = lawfit.datasets.synthetic_power_law(4000, n_points=20, noise=0.02, seed=9)[["curve", "x", "y"]]
    d, ddf = cut(df, 10, seed=3)
    kw = dict(x="x", y="y", by="curve", starts=48, seed=2)
    want = lawfit.fit(d, "power_law", **kw)
    pids = client.run(os.getpid)
    killed = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline:
            busy = [w for w, tasks in client.processing().items() if any("_payload_task" in str(t) for t in tasks)]
            if busy:
                time.sleep(0.3)
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    got = lawfit.distributed.fit(ddf, "power_law", partitions=10, **kw)
    t.join()
    assert killed, "no worker was killed (the fit finished first)"
    assert got.n_curves == 4000
    assert_fit_equal(want, got)
    client.wait_for_workers(2, timeout=60)


def test_cli_fit_dataset(tmp_path, client, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from lawfit.cli import main

    df = lawfit.datasets.synthetic_power_law(24, n_points=20, noise=0.02, seed=5)[["curve", "x", "y"]]
    df = df.assign(sweep=df["curve"] % 2)
    runs = tmp_path / "runs"
    pq.write_to_dataset(pa.Table.from_pandas(df, preserve_index=False), str(runs), partition_cols=["sweep"])
    base = ["fit", str(runs), "--law", "power_law", "--x", "x", "--y", "y", "--by", "sweep,curve", "-q"]
    assert main(base + ["--parquet", str(tmp_path / "fits")]) == 0  # lazy: written by the workers
    assert sorted(p.name for p in (tmp_path / "fits").iterdir()) == ["sweep=0", "sweep=1"]
    assert main(base + ["-o", str(tmp_path / "fit.json"), "--partitions", "3"]) == 0
    want = lawfit.fit(df, "power_law", x="x", y="y", by=["sweep", "curve"])
    assert lawfit.load_result(tmp_path / "fit.json").params.equals(want.params)
    back = lawfit.io.read_runs(tmp_path / "fits", engine="pandas").sort_values(["sweep", "curve"])
    assert np.array_equal(back[["E", "A", "alpha"]].to_numpy(), want._params)


def test_progress_through_the_engine(power, capsys):
    # progress=True shows the engine's own progress (distributed's bar on a cluster), not lawfit's native bar.
    d, ddf = power
    res = lawfit.fit(ddf, "power_law", x="x", y="y", by="curve", progress=True)
    assert res.n_curves == 40
    out = capsys.readouterr()
    assert "100% Completed" in out.out + out.err
    lawfit.extrapolate(ddf, x="x", y="y", by="curve", horizon=5000, samples=10, steps=4, progress=True)
    out = capsys.readouterr()
    assert "100% Completed" in out.out + out.err
