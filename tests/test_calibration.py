"""Calibration on synthetic truth: 500 simulated data sets per law, fitted and bootstrapped in one batched
call each; 90% intervals must contain the truth 85-95% of the time (bench/calibration.py has the full table)."""
import importlib.util
import pathlib

import pytest

_spec = importlib.util.spec_from_file_location(
    "lawfit_bench_calibration", pathlib.Path(__file__).resolve().parents[1] / "bench" / "calibration.py")
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)


@pytest.mark.parametrize("law,method", [("power_law", "pairs"), ("pow3", "pairs"), ("chinchilla", "residual")])
def test_bootstrap_intervals_are_calibrated(law, method):
    r = calibration.coverage(law, sets=500, boot=200, method=method, seed=1)
    assert r["fitted"] >= 495
    cov = {k: v for k, v in r.items() if k in ("extrapolated", "E", "A", "B", "alpha", "beta", "c", "a")}
    for k, v in cov.items():
        assert 0.83 <= v <= 0.96, (law, k, v)
