"""The vector-lane solver (csrc/core/fit/lanes.hpp): one start per curve, unweighted l2 with VarPro, for a law with an
eval_t (power_law; a compiled formula of one input) runs four curves at once, one per AVX2 lane.

What it must keep:
- a curve's fit depends on its own data only: alone (fit_batch's few-curves path), in a large batch (the many-curves
  path), beside curves of other lengths or curves that leave the lanes' plain projection (an amplitude at its bound,
  a singular linear block, no finite start), in any order: the same bits (parameters, objective, iterations, status,
  standard errors);
- the same optima as the scalar solver (the baseline kernels, LAWFIT_CPU=baseline) and as full LM.
The first holds on every kernel level; the others compare against the lanes only where they are built.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import lawfit

LANES = bool(lawfit.build_info().get("lane_solver"))
GAUSS = "a*exp(-(x-b)^2/(2*c^2)) + d"


def _power_law_curves(seed=0):
    """Curves of 3 to 40 points: well-posed ones, and ones that leave the plain projection."""
    rng = np.random.default_rng(seed)
    rows, starts = [], []
    for k in range(45):
        n = int(rng.integers(3, 41))
        x = np.geomspace(10.0, 10.0 ** rng.uniform(2, 5), n)
        E, A, al = rng.uniform(0.5, 2), rng.uniform(1, 10), rng.uniform(0.2, 1)
        y = (E + A * x ** -al) * (1 + 0.01 * rng.standard_normal(n))
        kind = k % 9
        if kind == 1:
            y = 1.0 + 0.001 * np.log(x)  # increasing: the amplitude A runs to its bound 0
        elif kind == 2:
            y = np.full(n, 3.0)  # flat: A and alpha undetermined
        elif kind == 3:
            y = E + A * x ** -al  # exact: cost 0
        rows.append(pd.DataFrame({"run": k, "x": x, "y": y}))
        s = [E * (1 + 0.1 * rng.standard_normal()), A * np.exp(0.1 * rng.standard_normal()), al]
        if kind == 4:
            s = [2.0, 100.0, 0.3]  # a poor start
        elif kind == 5:
            s = [np.nan, 1.0, 0.5]  # no usable start: NOT_RUN
        starts.append({"run": k, "E": s[0], "A": s[1], "alpha": s[2]})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(starts)


def _gauss_curves(seed=1, n_curves=30):
    rng = np.random.default_rng(seed)
    rows, starts = [], []
    for k in range(n_curves):
        n = int(rng.integers(5, 40))
        x = np.linspace(-3, 3, n)
        a, b, c, d = rng.uniform(1, 3), rng.uniform(-1, 1), rng.uniform(0.5, 1.5), rng.uniform(0, 1)
        y = a * np.exp(-((x - b) ** 2) / (2 * c * c)) + d + 0.02 * rng.standard_normal(n)
        if k % 7 == 3:
            y = np.full(n, 0.5)  # no peak: a at 0, b and c undetermined
        rows.append(pd.DataFrame({"run": k, "x": x, "y": y}))
        starts.append({"run": k, "a": a * 1.1, "b": b + 0.1, "c": c * 0.9, "d": d})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(starts)


def _table(r, keys):
    """Every per-curve output of a fit, in the order of keys."""
    return {"p": r.params.loc[keys].to_numpy(), "obj": r.objective.loc[keys].to_numpy(),
            "it": r.iterations.loc[keys].to_numpy(), "st": r.status.loc[keys].astype(str).to_numpy(),
            "se": r.stderr.loc[keys].to_numpy()}


def _same(a, b):
    for k in a:
        x, y = a[k], b[k]
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.uint64), y.view(np.uint64)), k
        else:
            assert np.array_equal(x, y), k


def _check_alone_and_in_batches(df, starts, law):
    keys = starts["run"].to_numpy()
    whole = _table(lawfit.fit(df, law, x="x", y="y", by="run", starts=starts, threads=2), keys)
    # every curve alone (fit_batch's few-curves path)
    for i, k in enumerate(keys):
        one = lawfit.fit(df[df.run == k], law, x="x", y="y", by="run", starts=starts[starts.run == k])
        _same(_table(one, [k]), {f: v[i:i + 1] for f, v in whole.items()})
    # the batch in reverse order, and in two interleaved halves: other neighbours in the lanes (many-curves path)
    rev = pd.concat([df[df.run == k] for k in keys[::-1]], ignore_index=True)
    _same(_table(lawfit.fit(rev, law, x="x", y="y", by="run", starts=starts, threads=1), keys), whole)
    for half in (keys[::2], keys[1::2]):
        sub = lawfit.fit(df[df.run.isin(half)], law, x="x", y="y", by="run", starts=starts[starts.run.isin(half)],
                         threads=2)
        _same(_table(sub, half), {f: v[np.isin(keys, half)] for f, v in whole.items()})
    return whole


def test_power_law_curve_fits_the_same_alone_or_in_any_batch():
    df, starts = _power_law_curves()
    whole = _check_alone_and_in_batches(df, starts, "power_law")
    # the mix really leaves the plain path: a bound, a start that cannot run, exact fits
    assert "NOT_RUN" in set(whole["st"])
    assert np.sum(whole["p"][:, 1] < 1e-6) >= 3  # A run to its bound 0
    assert np.sum(whole["obj"] < 1e-20) >= 3


def test_curves_sharing_x_values_fit_as_alone():
    """Curves that share their x values (a sweep's common sizes) share one buffer of prepared inputs per thread in the
    many-curves path: in any mix of shared and own x values, in groups and across them, each fits as it does alone."""
    rng = np.random.default_rng(3)
    grids = [np.geomspace(10, 1e4, 20), np.geomspace(10, 1e3, 12), np.geomspace(100, 1e5, 20)]
    rows, starts = [], []
    for k in range(64):
        g = int(rng.integers(0, 5))  # 3 and 4: the curve's own x values
        x = grids[g] if g < 3 else np.geomspace(10, 10 ** rng.uniform(3, 5), int(rng.integers(8, 25)))
        E, A, al = rng.uniform(0.5, 2), rng.uniform(1, 10), rng.uniform(0.2, 1)
        rows.append(pd.DataFrame({"run": k, "x": x, "y": (E + A * x ** -al) * (1 + 0.01 * rng.standard_normal(len(x)))}))
        starts.append({"run": k, "E": E * 1.1, "A": A * 0.9, "alpha": al * 1.1})
    df, starts = pd.concat(rows, ignore_index=True), pd.DataFrame(starts)
    _check_alone_and_in_batches(df, starts, "power_law")


def test_compiled_formula_fits_the_same_alone_or_in_any_batch():
    law = lawfit.Law(GAUSS, inputs="x", native=True)
    try:
        law.compile()
    except RuntimeError as e:
        pytest.skip(f"no native formula here: {e}")
    df, starts = _gauss_curves()
    whole = _check_alone_and_in_batches(df, starts, law)
    assert (whole["st"] == "CONVERGED").mean() > 0.8


def test_lanes_reach_full_lm_optima():
    """Well-posed curves from near-truth starts: the lanes (VarPro) and full LM end at the same optimum."""
    df = lawfit.datasets.synthetic_power_law(400, seed=7)
    base = lawfit.fit(df, "power_law", x="x", y="y", by="curve")
    starts = base.params.mul([1.05, 0.9, 1.1]).reset_index()
    v = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=starts)
    m = lawfit.fit(df, "power_law", x="x", y="y", by="curve", starts=starts, solver="lm")
    ok = (v.status == "CONVERGED").to_numpy() & (m.status == "CONVERGED").to_numpy()
    assert ok.mean() > 0.95
    np.testing.assert_allclose(v.objective.to_numpy()[ok], m.objective.to_numpy()[ok], rtol=1e-8)
    np.testing.assert_allclose(v.params.to_numpy()[ok], m.params.to_numpy()[ok], rtol=2e-5)


CHILD = r"""
import json, sys
import numpy as np, pandas as pd
import lawfit
sys.path.insert(0, sys.argv[1])
from test_lanes import _power_law_curves, _gauss_curves, GAUSS
out = {"lanes": bool(lawfit.build_info()["lane_solver"])}
df, st = _power_law_curves()
r = lawfit.fit(df, "power_law", x="x", y="y", by="run", starts=st)
out["pl"] = [r.params.to_numpy().tolist(), r.objective.tolist(), r.status.astype(str).tolist()]
law = lawfit.Law(GAUSS, inputs="x", native=True)
try:
    law.compile()
    df, st = _gauss_curves()
    r = lawfit.fit(df, law, x="x", y="y", by="run", starts=st)
    out["g"] = [r.params.to_numpy().tolist(), r.objective.tolist(), r.status.astype(str).tolist()]
except RuntimeError:
    pass
json.dump(out, sys.stdout)
"""


@pytest.mark.skipif(not LANES, reason="the lane solver is built for the avx2 kernels with libmvec only")
def test_lanes_agree_with_the_scalar_solver():
    """The same fits on the baseline kernels (the scalar VarPro) and on the lanes: the same statuses, objectives to
    1e-9 and parameters of well-determined fits to 1e-7 (the documented tolerance across levels)."""
    here = os.path.dirname(os.path.abspath(__file__))
    res = {}
    for level in ("baseline", "avx2"):
        env = dict(os.environ, LAWFIT_CPU=level)
        p = subprocess.run([sys.executable, "-c", CHILD, here], env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        res[level] = json.loads(p.stdout)
    assert res["avx2"]["lanes"] and not res["baseline"]["lanes"]
    for k in ("pl", "g"):
        if k not in res["avx2"]:
            continue
        (pb, ob, sb), (pa, oa, sa) = res["baseline"][k], res["avx2"][k]
        pb, pa, ob, oa = (np.array(v, float) for v in (pb, pa, ob, oa))
        sb, sa = np.array(sb), np.array(sa)
        # (the undetermined curves, a flat one or one whose amplitude ran to 0, end where rounding takes them)
        amp = pb[:, 1 if k == "pl" else 0]  # power_law's A, the Gaussian's a: fits with a term to determine
        good = (sb == "CONVERGED") & (ob > 1e-20) & (amp > 1e-3)
        assert good.sum() >= 20, k
        assert np.array_equal(sb[good], sa[good]), k
        assert np.array_equal(sb == "NOT_RUN", sa == "NOT_RUN"), k
        np.testing.assert_allclose(oa[good], ob[good], rtol=1e-9, err_msg=k)
        np.testing.assert_allclose(pa[good], pb[good], rtol=1e-7, err_msg=k)
