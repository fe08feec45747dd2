"""Per-worker memory stays bounded by the partition size when the dataset is larger than a worker's memory limit:
a Parquet dataset of LAWFIT_TEST_MEMORY_GIB GiB (in memory; e.g. 3) fitted with compute=False and written back by
2 workers limited to a third of it each (e.g. 1 GiB). Opt-in (minutes of CPU and GiBs of disk):

    LAWFIT_TEST_MEMORY_GIB=3 PYTHONPATH=python python -m pytest tests/test_distributed_memory.py
"""
import logging
import os
import threading
import time

import numpy as np
import pytest

GIB = float(os.environ.get("LAWFIT_TEST_MEMORY_GIB", "0") or 0)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(GIB <= 0, reason="opt-in: set LAWFIT_TEST_MEMORY_GIB (dataset size in GiB, e.g. 3)")]

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")
pa = pytest.importorskip("pyarrow")

import lawfit  # noqa: E402


def write_runs(root, gib: float, points: int = 50, rows_per_file: int = 2_000_000) -> int:
    """Long-format runs (run int64, step, loss float64: 24 bytes a row), ~gib GiB in memory, a file per 2M rows."""
    import pyarrow.parquet as pq

    n_files = max(1, int(np.ceil(gib * 2**30 / (rows_per_file * 24))))
    rng = np.random.default_rng(0)
    n_runs = rows_per_file // points
    for f in range(n_files):
        run = np.repeat(np.arange(f * n_runs, (f + 1) * n_runs, dtype=np.int64), points)
        step = np.tile(np.geomspace(10, 1e5, points), n_runs)
        E = 1.5 + 0.5 * rng.random(n_runs)
        loss = (E[run - f * n_runs] + 5.0 * step ** -0.3) * (1 + 0.01 * rng.standard_normal(len(run)))
        pq.write_table(pa.table({"run": run, "step": step, "loss": loss}), root / f"part-{f:04d}.parquet",
                       row_group_size=rows_per_file // 8)
    return n_files * n_runs


def test_memory_bounded_by_partition(tmp_path):
    from distributed import Client, LocalCluster

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    curves = write_runs(runs_dir, GIB)
    limit = GIB / 3 * 2**30
    peaks = {}
    stop = threading.Event()

    def rss():
        return psutil.Process().memory_info().rss

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=int(limit), silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)

        def sample():
            while not stop.is_set():
                try:
                    for w, v in client.run(rss).items():
                        peaks[w] = max(peaks.get(w, 0), v)
                except Exception:  # noqa: BLE001 - a worker restarting
                    pass
                time.sleep(0.2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        runs = lawfit.io.read_runs(runs_dir, blocksize=8 * 2**20)  # partitions of ~8 MB of Parquet
        table = lawfit.distributed.fit(runs, "power_law", x="step", y="loss", by="run", compute=False)
        lawfit.io.write(table, tmp_path / "fits")
        stop.set()
        th.join()
        assert client.run(os.getpid) == pids, "a worker was restarted (memory limit exceeded?)"
    assert max(peaks.values()) < limit
    back = lawfit.io.read_runs(tmp_path / "fits", columns=["run", "status"], engine="pandas")
    assert len(back) == curves and back["run"].is_unique
    assert (back["status"] == "CONVERGED").mean() > 0.99
