"""The child process of tests/test_fuzz.py: runs fuzzer calls, one at a time, and checks their results.

Protocol (binary, on the process's original stdout / stdin): every message is an 8-byte little-endian length and a
pickle. The parent sends ``(call_id, description)``; the worker writes the call it is about to run to the file named
by ``LAWFIT_FUZZ_CURRENT`` (so that a call that kills the process can be named), runs it, checks the result and
answers ``(call_id, outcome)``:

* ``{"kind": "ok", "info": ...}``: the call succeeded and its result passed the checks below;
* ``{"kind": "wrong", "msg": ...}``: it succeeded with a silently wrong result (a check failed);
* ``{"kind": "exc", "type": ..., "msg": ..., "stage": ...}``: it raised (the parent judges the exception).

Library output written to stdout goes to stderr (the parent keeps it in a log). The native core's memory checks
see a fixed 4 GiB machine (``_args.memory_limit`` pinned), so that which requests are refused as too large does
not depend on the machine the tests run on, and no accepted request allocates more than that.

A description is a dict ``{"ep": entry point, ...}`` of plain picklable values (numbers, strings, numpy arrays,
frames); inputs are built from it here (:func:`build_data`), deterministically.
"""
from __future__ import annotations

import json
import os
import pickle
import struct
import sys
import tempfile
import traceback
import warnings

FUZZ_MEMORY_LIMIT = 4 << 30


class Wrong(AssertionError):
    """A result that came back without an exception but fails a check: a silently wrong result."""


def check(cond, msg) -> None:
    """Raise Wrong(msg) unless cond; msg may be a callable (built only on failure)."""
    if not cond:
        raise Wrong(msg() if callable(msg) else msg)


STAGE = ["call"]  # "setup" (building what the call needs), "call" (the entry point), "check" (inspecting a result)


def stage(s: str) -> None:
    STAGE[0] = s


# ---- inputs ------------------------------------------------------------------------------------------------
def build_law(spec):
    """("builtin", name) | ("formula", formula, inputs, kwargs) | anything else (passed as is)."""
    import lawfit

    if isinstance(spec, tuple) and spec and spec[0] == "builtin":
        return spec[1]
    if isinstance(spec, tuple) and spec and spec[0] == "formula":
        return lawfit.Law(spec[1], spec[2], **spec[3])
    return spec


def _law_values(yl: dict, cols: dict) -> "np.ndarray":
    import numpy as np
    from lawfit.catalogue import get_law

    law = build_law(yl["law"])
    spec = get_law(law)
    X = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in yl["x"]])
    if isinstance(yl["params"], tuple):  # ("random", seed): one truth per curve, drawn here (a formula law's P)
        rng = np.random.default_rng(yl["params"][1])
        codes = np.asarray(yl["curve_of_row"], dtype=np.int64)
        C = int(codes.max()) + 1 if len(codes) else 0
        base = rng.uniform(0.2, 2.0, size=spec.n_params)
        P = (base * (1 + 0.1 * rng.uniform(-1, 1, size=(C, spec.n_params))))[codes]
    else:
        P = yl["params"]
    P = np.ascontiguousarray(P, dtype=np.float64).reshape(len(X), spec.n_params)
    if spec.transform is not None:
        codes = np.asarray(yl["curve_of_row"])
        offsets = np.r_[0, np.cumsum(np.bincount(codes, minlength=int(codes.max()) + 1 if len(codes) else 0))]
        X = spec.transform(offsets.astype(np.int64), np.ascontiguousarray(X))
    with np.errstate(all="ignore"):
        v = np.asarray(spec._eval(np.ascontiguousarray(X, dtype=np.float64), P), dtype=np.float64)
    rng = np.random.default_rng(yl.get("seed", 0))
    return v * (1.0 + yl.get("noise", 0.0) * rng.standard_normal(len(v)))


def _retype(a, kind):
    import numpy as np
    import pandas as pd

    a = np.asarray(a)
    if kind == "str":
        return a.astype(str)
    if kind == "object_mixed":
        o = a.astype(object)
        if len(o):
            o[0] = "a"
        return o
    if kind == "none_obj":
        o = a.astype(object)
        if len(o):
            o[len(o) // 2] = None
        return o
    if kind == "bool":
        return a.astype(float) > np.nanmedian(a.astype(float)) if a.dtype.kind in "fiu" and len(a) else a.astype(bool)
    if kind == "complex":
        return a.astype(complex) + 1j
    if kind == "int":
        f = np.asarray(a, dtype=float)
        return np.where(np.isfinite(f), np.clip(f, -2**62, 2**62), 0).astype(np.int64)
    if kind == "category":
        return pd.Categorical(a)
    if kind == "bytes":
        return np.array([str(v).encode() for v in a], dtype=object)
    if kind == "datetime":
        return pd.to_datetime(np.arange(len(a)), unit="D")
    return a


def build_data(r, tmp: str, name: str = "data"):
    """A recipe -> the data argument. A recipe is {"cols": {name: values}, "y_law": ..., "corrupt": [(col, row,
    value)], "retype": [(col, kind)], "container": ...}; anything that is not a recipe is passed as is."""
    import numpy as np
    import pandas as pd

    if not (isinstance(r, dict) and "cols" in r):
        return r
    cols = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else list(v) if isinstance(v, list) else v)
            for k, v in r["cols"].items()}
    yl = r.get("y_law")
    if yl:
        cols[yl["y"]] = _law_values(yl, cols)
    for col, row, val in r.get("corrupt", ()):
        if col in cols:
            a = np.array(cols[col], dtype=np.float64)
            if len(a):
                a[row % len(a)] = val
            cols[col] = a
    for col, kind in r.get("retype", ()):
        if col in cols:
            cols[col] = _retype(cols[col], kind)
    cont = r.get("container", "frame")
    if cont == "frame":
        return pd.DataFrame(cols)
    if cont == "dict":
        return cols
    if cont == "dict_ragged":
        out = dict(cols)
        k = sorted(out)[-1] if out else None
        if k is not None:
            out[k] = np.asarray(out[k])[:-1]
        return out
    if cont == "dict_scalar":
        return {k: (np.asarray(v)[0] if len(np.atleast_1d(v)) else 0.0) for k, v in cols.items()}
    if cont == "ndarray":
        return pd.DataFrame(cols).to_numpy()
    if cont == "records":
        return pd.DataFrame(cols).to_dict("records")
    if cont in ("csv", "tsv", "csv.gz"):
        path = os.path.join(tmp, f"{name}.{cont}")
        pd.DataFrame(cols).to_csv(path, index=False, sep="\t" if cont == "tsv" else ",")
        return path
    if cont == "badext":
        path = os.path.join(tmp, f"{name}.xyz")
        pd.DataFrame(cols).to_csv(path, index=False)
        return path
    if cont == "missing":
        return os.path.join(tmp, "no_such_dir", f"{name}.csv")
    if cont == "empty_frame":
        return pd.DataFrame({k: pd.Series([], dtype=float) for k in cols})
    if cont == "series":
        return pd.Series(next(iter(cols.values()))) if cols else pd.Series([], dtype=float)
    return pd.DataFrame(cols)


def _frame(data):
    from lawfit._data import to_pandas

    return to_pandas(data)


def _expected_curves(df, by) -> int:
    from lawfit._data import as_list

    b = as_list(by)
    if not b:
        return 1
    return len(df[b].drop_duplicates())


def _finite_col(df, c):
    import numpy as np
    import pandas as pd

    return np.isfinite(pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))


def _le(lo, hi) -> bool:
    """lo <= hi wherever both are finite (arrays)."""
    import numpy as np

    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    both = np.isfinite(lo) & np.isfinite(hi)
    return bool(np.all(lo[both] <= hi[both] + 1e-12 * np.maximum(np.abs(lo[both]), np.abs(hi[both]))))


# ---- checks of results -------------------------------------------------------------------------------------
def check_fit(res, data, kw: dict, where: str = "fit") -> dict:
    import numpy as np
    from lawfit._data import as_list, lookup_curves

    df = _frame(data)
    B = res.n_curves
    check(B == _expected_curves(df, kw.get("by")), f"{where}: {B} result rows for {_expected_curves(df, kw.get('by'))} "
          "input curves")
    st = np.asarray(res._status)
    check(len(st) == B and np.isin(st, range(7)).all(), f"{where}: status codes outside lawfit.Status: {st.tolist()}")
    check(res._params.shape == (B, res.law.n_params), f"{where}: params shape {res._params.shape}")
    ok = res.ok
    bad = ok & ~np.isfinite(res._params).all(axis=1)
    check(not bad.any(), lambda: f"{where}: curve(s) {np.flatnonzero(bad).tolist()} have a good status "
          f"({res.status.iloc[int(np.flatnonzero(bad)[0])]}) but non-finite parameters "
          f"{res._params[bad][0].tolist()}")
    if kw.get("nan_policy", "status") == "status" and len(df):
        cols = list(as_list(kw["x"])) + [kw["y"]] + ([kw["weight"]] if kw.get("weight") is not None else [])
        fin = np.ones(len(df), dtype=bool)
        for c in cols:
            fin &= _finite_col(df, c)
        if not fin.all():
            idx = lookup_curves(res.keys, res.by, df)
            badc = np.unique(idx[~fin])
            badc = badc[badc >= 0]
            flagged = badc[res.ok[badc]]
            check(len(flagged) == 0, lambda: f"{where}: curve(s) {flagged.tolist()} hold NaN/inf data "
                  f"(nan_policy='status') but got status {res.status.iloc[int(flagged[0])]}")
    res.to_frame()
    res.summary()
    repr(res)
    return {"curves": int(B), "ok": int(ok.sum())}


def check_isolation(res, data, law, kw: dict) -> None:
    """Refit without some curves: every remaining curve's status and parameters are bit-identical."""
    import numpy as np
    import pandas as pd
    import lawfit
    from lawfit._data import lookup_curves

    df = _frame(data)
    if res.n_curves < 2 or not res.by or not isinstance(df, pd.DataFrame):
        return
    if any(isinstance(kw.get(a), (pd.DataFrame, dict)) for a in ("starts", "bounds")) and any(
            c in kw[a] for a in ("starts", "bounds") if isinstance(kw.get(a), (pd.DataFrame, dict)) for c in res.by):
        return  # per-curve starts or bounds name the curves: removing curves would make them refer to none
    drop = np.flatnonzero(~res.ok)
    if len(drop) == 0 or len(drop) == res.n_curves:
        drop = np.array([0])
    idx = lookup_curves(res.keys, res.by, df)
    keep_rows = ~np.isin(idx, drop)
    if not keep_rows.any():
        return
    res2 = lawfit.fit(df[keep_rows].reset_index(drop=True), law, **kw)
    pos = lookup_curves(res.keys, res.by, res2.keys[res.by])
    check((pos >= 0).all(), "isolation: a curve of the refit is not in the first fit")
    same_st = np.asarray(res._status)[pos] == np.asarray(res2._status)
    same_p = np.array([np.array_equal(a, b, equal_nan=True) for a, b in zip(res._params[pos], res2._params)])
    diff = np.flatnonzero(~(same_st & same_p))
    check(len(diff) == 0, lambda: f"isolation: curve {diff.tolist()[:3]} changed when curve(s) {drop.tolist()[:5]} "
          f"were removed: status {res.status.iloc[int(pos[diff[0]])]} -> {res2.status.iloc[int(diff[0])]}, params "
          f"{res._params[pos[diff[0]]].tolist()} -> {res2._params[diff[0]].tolist()}")


def check_bootstrap(b, res, n) -> None:
    import numpy as np

    B, P = res.n_curves, res.law.n_params
    check(b.samples.shape == (B, n, P), f"bootstrap: samples shape {b.samples.shape}, expected {(B, n, P)}")
    check(b.status.shape == (B, n), f"bootstrap: status shape {b.status.shape}")
    st = np.asarray(b.status)
    check(np.isin(st, range(7)).all(), "bootstrap: replicate status codes outside lawfit.Status")
    good = (st == 0) | (st == 1)
    fin = np.isfinite(b.samples).all(axis=2)
    check(not (good & ~fin).any(), "bootstrap: a replicate with a good status has non-finite parameters")
    failed = ~res.ok
    check(not (good[failed]).any(), "bootstrap: a curve whose fit failed has replicates with a good status")
    iv = b.interval(0.9)
    for p in res.law.params:
        check(_le(iv[f"{p}_low"], iv[f"{p}_high"]), f"bootstrap: interval low > high for {p}")
    b.stderr
    b.n_failed
    repr(b)


def check_predict(out, new_df, interval) -> None:
    check(len(out) == len(new_df), f"predict: {len(out)} rows for {len(new_df)} rows of new_data")
    check("y_pred" in out.columns, "predict: no y_pred column")
    if interval is not None:
        check(_le(out["y_low"], out["y_high"]), "predict: y_low > y_high")


def _quantile_cols(df):
    qs = sorted((int(c[1:]), c) for c in df.columns if isinstance(c, str) and len(c) > 1 and c[0] == "q"
                and c[1:].isdigit())
    return [c for _, c in qs]


def check_extrapolation(ex, data, kw: dict, reference: bool) -> dict:
    import numpy as np

    df = _frame(data)
    C = _expected_curves(df, kw.get("by"))
    check(ex.n_curves == C, f"extrapolate: {ex.n_curves} curves for {C} input curves")
    st = np.asarray(ex._status)
    check(np.isin(st, range(7)).all(), "extrapolate: status codes outside lawfit.Status")
    summ = ex.summary
    check(len(summ) == C, f"extrapolate: summary has {len(summ)} rows for {C} curves")
    qc = _quantile_cols(summ)
    for a, b in zip(qc[:-1], qc[1:]):
        check(_le(summ[a], summ[b]), f"extrapolate: quantile {a} > {b}")
    ok = ex.ok
    col = "q50" if reference else "mean"
    if col in summ:
        v = summ[col].to_numpy(dtype=float)
        check(np.isfinite(v[ok]).all(), f"extrapolate: a curve with status CONVERGED has a non-finite {col}")
    if not reference:
        check(np.isfinite(ex.samples[ok]).all(), "extrapolate: a CONVERGED curve has non-finite posterior samples")
        ex.diagnostics
    repr(ex)
    return {"curves": int(C), "ok": int(ok.sum())}


# ---- executors ---------------------------------------------------------------------------------------------
def _fit_setup(d, tmp):
    """The FitResult a call works on (description key "fit": {"data", "law", "kw"})."""
    import lawfit

    f = d["fit"]
    stage("setup")
    data = build_data(f["data"], tmp)
    law = build_law(f["law"])
    res = lawfit.fit(data, law, **f["kw"])
    if f.get("bootstrap"):
        res.bootstrap(**f["bootstrap"])
    return res, data


def ex_fit(d, tmp):
    import lawfit

    stage("setup")
    data = build_data(d["data"], tmp)
    law = build_law(d["law"])
    stage("call")
    res = lawfit.fit(data, law, **d["kw"])
    stage("check")
    info = check_fit(res, data, d["kw"])
    if d.get("isolation") and not d["kw"].get("shared"):
        check_isolation(res, data, law, d["kw"])
    return info


def ex_bootstrap(d, tmp):
    res, data = _fit_setup(d, tmp)
    stage("call")
    b = res.bootstrap(**d["kw"])
    stage("check")
    check_bootstrap(b, res, d["kw"].get("n", 4000))
    if d.get("predict"):
        df = _frame(data)
        stage("call2")  # predicting at the fitted rows may be refused (e.g. lr_annealing rows out of step order)
        out = res.predict(df, interval=0.8)
        stage("check")
        check_predict(out, df, 0.8)
    return {"curves": res.n_curves}


def ex_predict(d, tmp):
    res, data = _fit_setup(d, tmp)
    new = build_data(d["new_data"], tmp, "new_data")
    stage("call")
    out = res.predict(new, **d["kw"])
    stage("check")
    check_predict(out, _frame(new), d["kw"].get("interval"))
    return {"rows": len(out)}


def ex_extrapolate(d, tmp):
    import numpy as np
    import lawfit

    stage("setup")
    data = build_data(d["data"], tmp)
    kw = dict(d["kw"])
    if "reference" in kw:
        kw["reference"] = build_data(kw["reference"], tmp, "reference")
    stage("call")
    ex = lawfit.extrapolate(data, **kw)
    stage("check")
    info = check_extrapolation(ex, data, kw, kw.get("reference") is not None)
    if kw.get("reference") is None:
        if ex.n_curves:
            ex.predict([float(np.nanmax(np.r_[ex.horizon[np.isfinite(ex.horizon)], 1.0])) + 1.0])
    else:
        ex.baselines
        ex.prob_better(0.5)
    return info


def ex_should_stop(d, tmp):
    import numpy as np
    import lawfit

    stage("setup")
    data = build_data(d["data"], tmp)
    stage("call")
    out = lawfit.should_stop(data, **d["kw"])
    stage("check")
    C = _expected_curves(_frame(data), d["kw"].get("by"))
    check(len(out) == C, f"should_stop: {len(out)} rows for {C} curves")
    check(not (out["stop"] & (out["status"] != "CONVERGED")).any(), "should_stop: a failed curve is told to stop")
    p = out["p_better"].to_numpy(dtype=float)
    check(np.all((p[np.isfinite(p)] >= 0) & (p[np.isfinite(p)] <= 1)), "should_stop: p_better outside [0, 1]")
    check(_le(out["low"], out["high"]), "should_stop: low > high")
    return {"curves": C}


def ex_law(d, tmp):
    import numpy as np
    import lawfit

    stage("call")
    law = lawfit.Law(d["formula"], d["inputs"], **d["kw"])
    stage("check")
    P, D = law.n_params, len(law.inputs)
    check(all(isinstance(p, str) for p in law.params), "Law: parameter names are not strings")
    check(len(set(law.params)) == P, "Law: duplicate parameter names")
    rng = np.random.default_rng(d.get("seed", 0))
    X = np.exp(rng.uniform(-3, 7, size=(6, D)))
    X[0] = d.get("special", 0.0)
    p = rng.uniform(0.1, 2.0, size=P)
    v = law(X, p)
    check(np.shape(v) == (6,), f"Law: evaluation shape {np.shape(v)}")
    g = law(X, p, grad=True)
    check(np.shape(g) == (6, P + 1), f"Law: gradient shape {np.shape(g)}")
    j = json.loads(json.dumps(law.to_json()))
    law2 = lawfit.Law.from_json(j)
    check(law2.params == law.params and law2.inputs == law.inputs, "Law: to_json/from_json changed the law")
    with np.errstate(all="ignore"):
        v2 = law2(X, p)
    check(np.array_equal(np.asarray(v), np.asarray(v2), equal_nan=True), "Law: from_json(to_json) evaluates differently")
    law.describe_tape()
    repr(law)
    if d.get("fit") and P:
        import pandas as pd

        Xf = np.exp(rng.uniform(0, 5, size=(12, D)))
        y = np.asarray(law(Xf, p))
        df = pd.DataFrame({f"in{j}": Xf[:, j] for j in range(D)})
        df["y"], df["g"] = y, np.repeat([0, 1], 6)
        kw = dict(x=[f"in{j}" for j in range(D)], y="y", by="g", max_iter=30)
        stage("call")
        res = lawfit.fit(df, law, **kw)
        stage("check")
        check_fit(res, df, kw, "fit(Law)")
    return {"params": P}


def ex_evals(d, tmp):
    import numpy as np
    from lawfit import evals

    fn = d["fn"]
    a, kw = d["args"], d["kw"]
    stage("call")
    out = getattr(evals, fn)(*a, **kw)
    stage("check")
    if fn in ("pass_at_k", "pass_hat_k"):
        v = np.asarray(out, dtype=float)
        check(np.all((v >= 0) & (v <= 1)), f"{fn}: values outside [0, 1] (NaN included): {v.ravel()[:5].tolist()}")
        k = np.atleast_1d(np.asarray(a[2]))
        if v.ndim == 2 and k.ndim == 1 and np.all(np.diff(k.astype(float)) > 0):
            dv = np.diff(v, axis=1)
            check(np.all(dv >= -1e-12) if fn == "pass_at_k" else np.all(dv <= 1e-12),
                  f"{fn}: not monotone in k")
    elif fn in ("pass_curve", "pass_posterior"):
        col = "estimate" if fn == "pass_curve" else "mean"
        v = out[col].to_numpy(dtype=float)
        check(np.all((v >= -1e-12) & (v <= 1 + 1e-12)), f"{fn}: {col} outside [0, 1]")
        if "low" in out:
            check(_le(out["low"], out["high"]), f"{fn}: low > high")
            lo, hi = out["low"].to_numpy(dtype=float), out["high"].to_numpy(dtype=float)
            check(np.all(np.isfinite(lo) & np.isfinite(hi)), f"{fn}: non-finite interval")
    elif fn == "passuntil":
        for c in ("mle", "low", "high", "estimate"):
            v = out[c].to_numpy(dtype=float)
            check(np.all((v >= 0) & (v <= 1)), f"passuntil: {c} outside [0, 1]")
        check(_le(out["low"], out["high"]), "passuntil: low > high")
    elif fn == "coverage":
        return check_coverage(out, d)
    elif fn == "fit_irt":
        return check_irt(out, a[0], d)
    return {}


def check_coverage(r, d) -> dict:
    import numpy as np

    p = r.params
    good = r.status in ("CONVERGED", "MAX_ITER")
    est = p["estimate"].to_numpy(dtype=float)
    check(not good or np.isfinite(est).all(), f"coverage: status {r.status} with non-finite estimates {est.tolist()}")
    check(_le(p["low"], p["high"]), "coverage: params low > high")
    lo, hi = p["low"].to_numpy(dtype=float), p["high"].to_numpy(dtype=float)
    if good and d.get("contain"):
        tol = 1e-9 * np.maximum(1.0, np.abs(est))
        inside = ~(np.isfinite(lo) & np.isfinite(hi)) | ((lo - tol <= est) & (est <= hi + tol))
        bad = np.flatnonzero(~inside)
        check(len(bad) == 0, lambda: f"coverage ({r.method}): the interval [{lo[bad[0]]!r}, {hi[bad[0]]!r}] of "
              f"{p['param'].iloc[bad[0]]} excludes its estimate {est[bad[0]]!r}")
    k = d.get("predict_k", [1, 10, 1000])
    pr = r.predict(k)
    c = pr["coverage"].to_numpy(dtype=float)
    check(not good or np.all((c >= 0) & (c <= 1)), f"coverage: predicted coverage outside [0, 1]: {c.tolist()}")
    check(_le(pr["low"], pr["high"]), "coverage: predict low > high")
    if good and d.get("contain"):
        lo, hi = pr["low"].to_numpy(dtype=float), pr["high"].to_numpy(dtype=float)
        inside = ~(np.isfinite(lo) & np.isfinite(hi)) | ((lo - 1e-9 <= c) & (c <= hi + 1e-9))
        check(inside.all(), f"coverage ({r.method}): predict interval excludes the estimate at k="
              f"{np.asarray(k)[~inside].tolist()}")
    sf = r.samples_for([0.1, 0.5, 0.9])
    check(_le(sf["low"], sf["high"]), "coverage: samples_for low > high")
    if good and d.get("contain"):
        kk, lo, hi = (sf[c].to_numpy(dtype=float) for c in ("k", "low", "high"))
        finite_iv = ~np.isnan(lo) & ~np.isnan(hi)
        inside = ~finite_iv | ((lo <= kk * (1 + 1e-9)) & (kk <= hi * (1 + 1e-9)))
        check(inside.all(), f"coverage ({r.method}): samples_for interval excludes the estimate: "
              f"k={kk.tolist()} low={lo.tolist()} high={hi.tolist()}")
    r.cost_per_solved([1, 10], 1.0)
    return {"status": r.status}


def check_irt(m, responses, d) -> dict:
    import numpy as np
    from lawfit.evals import _responses

    Y, rows, cols = _responses(responses)
    check(len(m.items) == Y.shape[1], f"fit_irt: {len(m.items)} item rows for {Y.shape[1]} items")
    check(len(m.abilities) == Y.shape[0], f"fit_irt: {len(m.abilities)} ability rows for {Y.shape[0]} models")
    check(m.status in [s for s in ("CONVERGED", "MAX_ITER", "SINGULAR", "NON_FINITE", "TOO_FEW_POINTS",
                                   "INVALID_INPUT", "NOT_RUN")], f"fit_irt: status {m.status}")
    if m.status in ("CONVERGED", "MAX_ITER"):
        fitted = m.items.dropna(how="all")
        check(np.isfinite(fitted["b"].to_numpy(dtype=float)).all(), "fit_irt: good status with non-finite b")
    repr(m)
    if d.get("select") and m.status in ("CONVERGED", "MAX_ITER") and m._b.size >= 2:
        sel = m.select_items(n_items=min(2, m._b.size), method=d["select"])
        est = m.estimate(np.ascontiguousarray(m._Y[:, sel.items]), sel)
        check(len(est) == m._Y.shape[0], "IRTModel.estimate: wrong row count")
    return {"status": m.status}


def ex_cost_evaluate(d, tmp):
    import numpy as np
    from lawfit import cost

    stage("setup")
    configs = d["configs"]
    if isinstance(configs, dict) and configs.get("__grid__"):
        configs = cost.grid(**configs["axes"])
    stage("call")
    out = cost.evaluate(configs, *d.get("args", ()), **d["kw"])
    stage("check")
    if isinstance(configs, cost.Grid):
        n = configs.size
    elif isinstance(configs, dict):
        lens = {len(np.atleast_1d(v)) for v in configs.values() if np.ndim(v) > 0}
        n = max(lens) if lens else 1
    else:
        n = len(_frame(configs))
    outs = d["kw"].get("outputs")
    if outs is None:
        outs = list(cost.DEFAULT_OUTPUTS)
    elif outs == "all":
        outs = list(cost.OUTPUTS)
    elif isinstance(outs, str):
        outs = [outs]
    if d["kw"].get("as_frame", True):
        check(len(out) == n, f"cost.evaluate: {len(out)} rows for {n} configurations")
        missing = [o for o in outs if o not in out.columns]
        check(not missing, f"cost.evaluate: output column(s) {missing} missing")
    else:
        for o in outs:
            check(o in out and len(out[o]) == n, f"cost.evaluate: output {o!r} missing or of the wrong length")
    return {"n": int(n)}


def ex_cost_grid(d, tmp):
    import numpy as np
    from lawfit import cost

    stage("call")
    g = cost.grid(**d["axes"])
    stage("check")
    want = int(np.prod([len(np.atleast_1d(np.asarray(v, dtype=object))) for v in d["axes"].values()], dtype=float))
    check(g.size == want, f"cost.grid: size {g.size}, expected {want}")
    repr(g)
    if d.get("evaluate") and g.size <= 5000 and all(k in g.axes for k in ("n_layers", "d_model", "n_heads", "tokens")):
        stage("call")
        out = cost.evaluate(g, outputs=["params", "flops_train"])
        stage("check")
        check(len(out) == g.size, "cost.evaluate(grid): wrong row count")
    return {"size": int(g.size)}


def _grid_arg(spec):
    from lawfit import cost

    if isinstance(spec, dict) and spec.get("__grid__"):
        return cost.grid(**spec["axes"])
    return spec


def ex_plan(d, tmp):
    import numpy as np
    import lawfit

    res, _ = _fit_setup(d, tmp)
    kw = dict(d["kw"])
    if "grid" in kw:
        stage("setup")
        kw["grid"] = _grid_arg(kw["grid"])
    stage("call")
    out = lawfit.plan(res, *d["args"], **kw)
    stage("check")
    check(len(out) == res.n_curves, f"plan: {len(out)} rows for {res.n_curves} curves")
    check(list(out["status"]) == list(res.status.astype(str)), "plan: status column differs from the fit's status")
    bad = ~res.ok
    num = [c for c in out.columns if c not in res.by and c != "status" and out[c].dtype.kind == "f"]
    if bad.any() and num:
        check(out.loc[bad, num].isna().all().all(), "plan: a failed curve has non-NaN plan values")
    if kw.get("grid") is not None:
        G = kw["grid"].size if hasattr(kw["grid"], "size") and not hasattr(kw["grid"], "columns") else len(_frame(kw["grid"]))
        idx = out["index"].to_numpy()
        check(np.all((idx >= -1) & (idx < G)), "plan: grid index out of range")
    return {"curves": res.n_curves}


def ex_pareto(d, tmp):
    import numpy as np
    from lawfit.planning import pareto

    res, _ = _fit_setup(d, tmp)
    stage("setup")
    grid = _grid_arg(d["grid"])
    stage("call")
    out = pareto(res, grid, **d["kw"])
    stage("check")
    keys = [c for c in res.by] + (["sample"] if "sample" in out.columns else [])
    groups = out.groupby(keys, dropna=False, sort=False) if keys else [(None, out)]
    for _, g in groups:
        c, l = g["cost"].to_numpy(dtype=float), g["loss"].to_numpy(dtype=float)
        check(np.all(np.diff(c) >= 0), "pareto: costs not in increasing order")
        check(np.all(np.diff(l) < 0), "pareto: a configuration does not beat every cheaper one")
        check(not np.isnan(l).any(), "pareto: NaN loss in a Pareto set")
    return {"rows": len(out)}


def ex_save_load(d, tmp):
    import numpy as np
    import lawfit

    res, data = _fit_setup(d, tmp)
    path = os.path.join(tmp, "fit.json")
    stage("call")
    res.save(path)
    r2 = lawfit.load_result(path)
    stage("check")
    check(np.array_equal(r2._params, res._params, equal_nan=True), "save/load: parameters changed")
    check(np.array_equal(r2._status, res._status), "save/load: status changed")
    check(r2.by == res.by and r2.n_curves == res.n_curves, "save/load: curves changed")
    df = _frame(data)
    if len(df) and all(c in df.columns for c in res.by):
        df = df.dropna(subset=res.by) if res.by else df

        def pred(r):  # predicting at the fitted rows may be refused (e.g. lr_annealing rows out of step order)
            try:
                return r.predict(df)["y_pred"].to_numpy()
            except ValueError as e:
                return str(e)

        a, b = pred(res), pred(r2)
        check(type(a) is type(b) and (a == b if isinstance(a, str) else np.array_equal(a, b, equal_nan=True)),
              lambda: f"save/load: predictions changed: {a!r} -> {b!r}")
    return {"curves": res.n_curves}


def _corrupt(text: str, op) -> bytes:
    kind = op[0]
    if kind == "truncate":
        return text[: int(op[1] * len(text))].encode()
    if kind == "bytes":
        return op[1]
    if kind == "text":
        return op[1].encode()
    d = json.loads(text)
    if kind == "drop":
        d.pop(op[1], None)
    elif kind == "set":
        d[op[1]] = op[2]
    elif kind == "set_in":
        tgt = d.get(op[1])
        path = op[2]
        try:
            for p in path[:-1]:
                tgt = tgt[p % len(tgt)] if isinstance(tgt, list) else tgt[list(tgt)[p % len(tgt)]]
            if isinstance(tgt, list) and tgt:
                tgt[path[-1] % len(tgt)] = op[3]
            elif isinstance(tgt, dict) and tgt:
                tgt[list(tgt)[path[-1] % len(tgt)]] = op[3]
        except (TypeError, ZeroDivisionError, KeyError, IndexError):
            pass
    elif kind == "pop_in":
        tgt = d.get(op[1])
        if isinstance(tgt, list) and tgt:
            tgt.pop(op[2] % len(tgt))
        elif isinstance(tgt, dict) and tgt:
            tgt.pop(list(tgt)[op[2] % len(tgt)])
    return json.dumps(d, allow_nan=True).encode()


def ex_load_result(d, tmp):
    import numpy as np
    import lawfit

    res, data = _fit_setup(d, tmp)
    path = os.path.join(tmp, "good.json")
    res.save(path)
    with open(path) as f:
        text = f.read()
    bad = os.path.join(tmp, "bad.json" if d.get("ext", "json") == "json" else "bad." + d["ext"])
    with open(bad, "wb") as f:
        f.write(_corrupt(text, d["op"]))
    stage("call")
    d["path"] = bad
    r = lawfit.load_result(bad)
    stage("check")
    B = r.n_curves
    check(len(r._status) == B and r._params.shape[0] == B, "load_result: inconsistent curve counts")
    check(np.isfinite(r._params[r.ok]).all(), "load_result: a curve with a good status has non-finite parameters")
    r.to_frame()
    r.summary()
    stage("call2")  # using the loaded result: ValueError is a fine answer (e.g. keys that no longer match)
    df = _frame(data)
    if len(df):
        r.predict(df)
    return {"curves": B}


def ex_selftest(d, tmp):
    """The harness's own test (tests/test_fuzz.py::test_fuzz_worker_survives_aborts_and_hangs)."""
    import signal
    import time

    action = d["action"]
    if action == "abort":
        os.abort()
    if action == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if action == "exit":
        os._exit(3)
    if action == "hang":
        time.sleep(3600)
    if action == "keyerror":
        raise KeyError("x")
    if action == "wrong":
        check(False, "a silently wrong result")
    return {"pid": os.getpid()}


EXECUTORS = {
    "__selftest__": ex_selftest,
    "fit": ex_fit, "bootstrap": ex_bootstrap, "predict": ex_predict, "extrapolate": ex_extrapolate,
    "extrapolate_reference": ex_extrapolate, "should_stop": ex_should_stop, "Law": ex_law,
    "cost.evaluate": ex_cost_evaluate, "cost.grid": ex_cost_grid, "plan": ex_plan, "pareto": ex_pareto,
    "save_load": ex_save_load, "load_result": ex_load_result,
}


def execute(desc: dict, tmp: str) -> dict:
    ep = desc["ep"]
    fn = EXECUTORS.get(ep, ex_evals)
    stage("setup")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = fn(desc, tmp)
        return {"kind": "ok", "info": info}
    except Wrong as w:
        return {"kind": "wrong", "msg": str(w)[:3000], "stage": STAGE[0]}
    except BaseException as e:  # noqa: BLE001 - every exception is reported to the parent, which judges it
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"kind": "exc", "type": type(e).__name__, "module": type(e).__module__, "msg": str(e)[:3000],
                "tb": traceback.format_exc()[-4000:], "stage": STAGE[0], "path": desc.get("path")}


def describe(desc) -> str:
    import numpy as np

    with np.printoptions(threshold=50, precision=6):
        try:
            return repr(desc)[:20000]
        except Exception:  # noqa: BLE001
            return f"<unprintable description of {desc.get('ep')!r}>"


def main() -> None:
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything written to stdout (library output) goes to the log, not into the protocol
    sys.stdout = sys.stderr
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    current = os.environ.get("LAWFIT_FUZZ_CURRENT", os.devnull)

    import numpy as np  # noqa: F401
    import pandas as pd  # noqa: F401
    import lawfit  # noqa: F401
    from lawfit import _args

    _args.memory_limit = lambda: FUZZ_MEMORY_LIMIT

    def send(obj) -> None:
        b = pickle.dumps(obj, protocol=4)
        proto_out.write(struct.pack("<Q", len(b)) + b)

    def read_exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = proto_in.read(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    send(("ready", os.getpid()))
    while True:
        try:
            n = struct.unpack("<Q", read_exact(8))[0]
            call_id, desc = pickle.loads(read_exact(n))
        except EOFError:
            return
        with open(current, "w") as f:
            f.write(f"call {call_id}: {describe(desc)}\n")
        with tempfile.TemporaryDirectory(prefix="lawfit-fuzz-") as tmp:
            out = execute(desc, tmp)
        send((call_id, out))


def replay(report: str, ep=None) -> None:
    """Rerun the failing calls of a LAWFIT_FUZZ_REPORT file in this process, printing each outcome."""
    import base64

    with open(report) as f:
        calls = json.load(f).get("failed_calls", {})
    for name, descs in calls.items():
        if ep is not None and name != ep:
            continue
        for b in descs:
            desc = pickle.loads(base64.b64decode(b))
            print(f"=== {name}: {describe(desc)[:2000]}")
            with tempfile.TemporaryDirectory(prefix="lawfit-fuzz-") as tmp:
                out = execute(desc, tmp)
            print(f"--> {out['kind']}: {out.get('type', '')} {out.get('msg', out.get('info'))}\n{out.get('tb', '')}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--replay":
        replay(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        main()
