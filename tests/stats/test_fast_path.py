"""The counting pass for lattice times (blincompass.stats._fast) gives the same results as the sorting path.

Every comparison runs the same call twice: once as shipped, once with the counting pass switched off
(``lattice_counts`` replaced by a function that declines), and, when numba is installed, with each of
the two counting kernels.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pandas as pd
import pytest

from blincompass.stats import _fast, _riskset, kaplan_meier, logrank
from blincompass.stats import logrank_test as _logrank_test

HAS_NUMBA = bool(_fast._numba())
BACKENDS = ["numpy", "numba"] if HAS_NUMBA else ["numpy"]
TOL = {"rtol": 1e-12, "atol": 1e-12}


@contextlib.contextmanager
def sorting_path(monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_riskset, "lattice_counts", lambda *a, **k: None)
        m.setattr(logrank, "lattice_counts", lambda *a, **k: None)
        yield


@contextlib.contextmanager
def counting_path(monkeypatch, backend="numpy"):
    calls = []
    real = _fast.lattice_counts

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(_riskset, "lattice_counts", spy)
        m.setattr(logrank, "lattice_counts", spy)
        m.setattr(_fast, "_backend", backend)
        yield calls


def lattice_data(rng, n, decimals, *, top=50.0, groups=2, offset=0):
    t = np.round(rng.exponential(top / 3, n), decimals)
    t = np.minimum(t, top)  # many ties at the end of follow-up
    e = rng.random(n) < 0.6
    # censorings at event times: copy some event times onto censored records
    cens = np.flatnonzero(~e)
    evt = t[e]
    if cens.size and evt.size:
        take = cens[: cens.size // 3]
        t[take] = rng.choice(evt, take.size)
    g = rng.integers(0, groups, n) + offset
    return t, e, g


def assert_km_equal(a, b):
    for f in dataclasses.fields(a):
        if f.name.startswith("_"):
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, float) and isinstance(vb, float):
            np.testing.assert_allclose(va, vb, **TOL)
        else:
            assert va == vb, f.name
    for name in ("_time", "_n_risk", "_n_event", "_n_censor"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype
    assert np.signbit(a.time).sum() == np.signbit(b.time).sum() == 0
    pd.testing.assert_frame_equal(a.table, b.table, rtol=1e-12, atol=1e-12)
    for p in (0.25, 0.5, 0.75):
        assert a.quantile(p) == b.quantile(p)
    q = np.linspace(0, float(a.time[-1]) + 1, 17)
    for x, y in zip(dataclasses.astuple(a.survival_at(q)), dataclasses.astuple(b.survival_at(q)), strict=True):
        np.testing.assert_allclose(x, y, **TOL)


def assert_lr_equal(a, b):
    assert a.groups == b.groups
    assert [type(v) for v in a.groups] == [type(v) for v in b.groups]
    assert a.df == b.df and a.alternative == b.alternative and a.weights == b.weights
    for name in ("statistic", "pvalue", "z"):
        va, vb = getattr(a, name), getattr(b, name)
        if va is None:
            assert vb is None
        else:
            np.testing.assert_allclose(va, vb, **TOL)
    pd.testing.assert_series_equal(a.observed, b.observed, rtol=1e-12, atol=1e-12)
    pd.testing.assert_series_equal(a.expected, b.expected, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(a.variance, b.variance, rtol=1e-12, atol=1e-12)
    pd.testing.assert_series_equal(a.n, b.n)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("decimals", [0, 1, 2, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kaplan_meier_same_as_sorting_path(monkeypatch, backend, decimals, seed):
    rng = np.random.default_rng(seed)
    # the dense table must not have more cells than there are records
    t, e, _ = lattice_data(rng, 3000, decimals, top=50.0 if decimals < 2 else 3.0)
    with counting_path(monkeypatch, backend) as calls:
        fast = kaplan_meier(t, e)
        fast_spss = kaplan_meier(t, e, median_ci="spss", conf_type="plain")
    assert calls == [True, True]
    with sorting_path(monkeypatch):
        slow = kaplan_meier(t, e)
        slow_spss = kaplan_meier(t, e, median_ci="spss", conf_type="plain")
    assert_km_equal(fast, slow)
    assert_km_equal(fast_spss, slow_spss)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "weights", ["logrank", "gehan-breslow", "tarone-ware", "peto-peto", ("fleming-harrington", 1.0, 0.5)]
)
@pytest.mark.parametrize("groups,offset", [(2, 0), (3, 0), (4, -2), (2, 1000)])
def test_logrank_same_as_sorting_path(monkeypatch, backend, weights, groups, offset):
    rng = np.random.default_rng(groups * 7 + offset)
    t, e, g = lattice_data(rng, 2500, 1, groups=groups, offset=offset)
    kw = {"weights": weights}
    with counting_path(monkeypatch, backend) as calls:
        fast = _logrank_test(t, e, g, **kw)
    assert calls == [True]
    with sorting_path(monkeypatch):
        slow = _logrank_test(t, e, g, **kw)
    assert_lr_equal(fast, slow)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logrank_labels_order_and_alternatives(monkeypatch, backend):
    rng = np.random.default_rng(11)
    t, e, g = lattice_data(rng, 2000, 0)
    cases = [
        (g.astype(bool), {}),
        (g.astype(np.int8), {"order": [1, 0]}),
        (g.astype(np.uint16) + 7, {"alternative": "less"}),
        (g.astype(np.int32) - 5, {"alternative": "greater", "order": [-4, -5]}),
        (g.tolist(), {}),
        (pd.Series(g + 3), {"order": [4, 3]}),
        (pd.Series(g == 1), {}),
    ]
    for labels, kw in cases:
        with counting_path(monkeypatch, backend) as calls:
            fast = _logrank_test(t, e, labels, **kw)
        assert calls == [True]
        with sorting_path(monkeypatch):
            slow = _logrank_test(t, e, labels, **kw)
        assert_lr_equal(fast, slow)


def test_backends_give_identical_counts():
    if not HAS_NUMBA:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(5)
    t, e, g = lattice_data(rng, 50_000, 2, groups=3, offset=-1)
    out = {}
    try:
        for b in ("numpy", "numba"):
            _fast.set_backend(b)
            out[b] = (_fast.lattice_counts(t, e), _fast.lattice_counts(t, e, g))
    finally:
        _fast.set_backend("auto")
    for x, y in zip(out["numpy"], out["numba"], strict=True):
        np.testing.assert_array_equal(x.time, y.time)
        np.testing.assert_array_equal(x.counts, y.counts)
        assert x.glo == y.glo


@pytest.mark.parametrize("backend", BACKENDS)
def test_table_grows_and_lattice_refines(monkeypatch, backend):
    """Values outside the sampled range, labels outside the sampled ones and a finer lattice late on."""
    rng = np.random.default_rng(8)
    n = 60_000
    t = np.round(rng.uniform(10, 20, n), 1)
    g = rng.integers(0, 2, n)
    e = rng.random(n) < 0.5
    t[-3] = 0.0  # below the sampled range
    t[-2] = 60.0  # far above it
    t[n // 2 + 1] = 12.25  # needs two decimals
    t[n // 3 + 1] = -0.0
    g[-1] = 5  # a label the sample does not contain
    g[n // 2 + 3] = -1
    with counting_path(monkeypatch, backend) as calls:
        fast_km = kaplan_meier(t, e)
        fast_lr = _logrank_test(t, e, g)
    assert calls == [True, True]
    with sorting_path(monkeypatch):
        slow_km = kaplan_meier(t, e)
        slow_lr = _logrank_test(t, e, g)
    assert_km_equal(fast_km, slow_km)
    assert_lr_equal(fast_lr, slow_lr)
    assert fast_km.time[0] == 0.0 and not np.signbit(fast_km.time[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_declined_cases_fall_back(monkeypatch, backend):
    rng = np.random.default_rng(9)
    n = 40_000
    e = rng.random(n) < 0.5
    g = rng.integers(0, 2, n)
    cases = {
        "unique floats": rng.exponential(10.0, n),
        "seven decimals": np.round(rng.exponential(10.0, n), 7),
        "late off-lattice value": np.concatenate([np.round(rng.uniform(0, 9, n - 1), 1), [np.pi]]),
        "range too wide for n": np.round(rng.uniform(0, 1e4, n), 2),
    }
    for name, t in cases.items():
        with counting_path(monkeypatch, backend) as calls:
            fast_km = kaplan_meier(t, e)
            fast_lr = _logrank_test(t, e, g)
        assert calls == [False, False], name
        with sorting_path(monkeypatch):
            assert_km_equal(fast_km, kaplan_meier(t, e))
            assert_lr_equal(fast_lr, _logrank_test(t, e, g))
    # string labels and entry times / strata / weights do not use the pass
    t = np.round(rng.uniform(1, 9, n), 1)
    with counting_path(monkeypatch, backend) as calls:
        _logrank_test(t, e, np.where(g == 1, "a", "b"))
        _logrank_test(t, e, g, strata=g)
        _logrank_test(t, e, g, entry=t / 2)
        kaplan_meier(t, e, entry=t / 2)
        kaplan_meier(t, e, weights=np.ones(n))
    assert calls == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "time,event,group",
    [
        ([1.0, np.nan, 2.0, 3.0], [1, 0, 1, 1], [0, 1, 0, 1]),
        ([1.0, 2.0, np.inf, 3.0], [1, 0, 1, 1], [0, 1, 0, 1]),
        ([1.0, 2.0, -1.0, 3.0], [1, 0, 1, 1], [0, 1, 0, 1]),
        ([1.0, 2.0, np.nan, 3.0], [1, 0, 2, 1], [0, 1, 0, 1]),  # bad time and bad event: time first
        ([1.0, 2.0, 2.5, 3.0], [1, 0, 2, 1], [0, 1, 0, 1]),
        ([1.0, 2.0, 2.5, 3.0], [1, 0, 1], [0, 1, 0, 1]),
        ([1.0, 2.0, 2.5, 3.0], [1, 0, 1, 1], [0, 1, 0]),
        ([1.0, 2.0, 2.5, 3.0], [1, 0, 1, 1], [1, 1, 1, 1]),
        ([], [], []),
    ],
)
def test_bad_input_same_errors(monkeypatch, backend, time, event, group):
    def errors(fn):
        try:
            fn()
        except ValueError as exc:
            return str(exc)
        return None

    calls = [
        lambda: kaplan_meier(np.array(time, dtype=float), np.array(event)),
        lambda: _logrank_test(np.array(time, dtype=float), np.array(event), np.array(group)),
        lambda: _logrank_test(np.array(time, dtype=float), np.array(event), np.array(group), order=[1, 0]),
    ]
    with counting_path(monkeypatch, backend):
        fast = [errors(c) for c in calls]
    with sorting_path(monkeypatch):
        slow = [errors(c) for c in calls]
    assert fast == slow
    assert fast[0] is not None or fast[1] is not None


INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
NULLABLE = ["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "int8[pyarrow]"]


def _event_variants(e):
    out = {"bool": e, "series bool": pd.Series(e), "boolean": pd.Series(e, dtype="boolean")}
    for dt in INT_DTYPES:
        out[dt] = e.astype(dt)
    for dt in NULLABLE:
        out[dt] = pd.Series(e.astype(np.int8), dtype=dt)
    return out


def _group_variants(g):
    out = {"bool": g == 1, "series bool": pd.Series(g == 1), "boolean": pd.Series(g == 1, dtype="boolean")}
    for dt in INT_DTYPES:
        out[dt] = g.astype(dt)
    for dt in NULLABLE:
        out[dt] = pd.Series(g, dtype=dt)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_integer_and_boolean_dtype_takes_the_counting_pass(monkeypatch, backend):
    rng = np.random.default_rng(21)
    t, e, g = lattice_data(rng, 40_000, 1)
    with sorting_path(monkeypatch):
        ref_km = kaplan_meier(t, e)
        ref_lr = _logrank_test(t, e, g)
        ref_lr_bool = _logrank_test(t, e, g == 1)
    for name, ev in _event_variants(e).items():
        with counting_path(monkeypatch, backend) as calls:
            km = kaplan_meier(t, ev)
            lr = _logrank_test(t, ev, g)
        assert calls == [True, True], name
        assert_km_equal(km, ref_km)
        assert_lr_equal(lr, ref_lr)
    for name, gv in _group_variants(g).items():
        with counting_path(monkeypatch, backend) as calls:
            lr = _logrank_test(t, e.astype(np.int8), gv)
        assert calls == [True], name
        assert_lr_equal(lr, ref_lr_bool if "bool" in name else ref_lr)
        with sorting_path(monkeypatch):  # the general path gives the same answer for these labels
            assert_lr_equal(_logrank_test(t, e, gv), lr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_categorical_labels_take_the_counting_pass(monkeypatch, backend):
    rng = np.random.default_rng(22)
    t, e, g = lattice_data(rng, 30_000, 1, groups=3)
    names = np.array(["control", "blina", "chemo"], dtype=object)[g]
    # categories in an order other than the sorted one, and one category that never occurs
    cat = pd.Categorical(names, categories=["chemo", "unused", "control", "blina"])
    for labels, kw in [
        (pd.Series(cat), {}),
        (cat, {"order": ["control", "chemo", "blina"]}),
        (pd.Series(pd.Categorical(g + 10)), {"weights": "peto-peto"}),
    ]:
        with counting_path(monkeypatch, backend) as calls:
            fast = _logrank_test(t, e, labels, **kw)
        assert calls == [True]
        with sorting_path(monkeypatch):
            slow = _logrank_test(t, e, np.asarray(labels, dtype=object), **kw)
        assert_lr_equal(fast, slow)
    assert fast.groups == (10, 11, 12)
    with counting_path(monkeypatch, backend) as calls, pytest.raises(ValueError, match="missing label"):
        _logrank_test(t, e, pd.Series(pd.Categorical([None, *names[1:]])))
    assert calls == []


def test_bad_integer_events_still_named():
    t = np.array([1.0, 2.0, 3.0])
    for ev, bad in [(np.array([1, -1, 0], dtype=np.int8), "-1"), (np.array([0, 1, 2], dtype=np.uint16), "2")]:
        with pytest.raises(ValueError, match=rf"event: value {bad} at position \d is not 0/1"):
            kaplan_meier(t, ev)
    with pytest.raises(ValueError, match="event"):
        kaplan_meier(t, pd.Series([1, None, 0], dtype="Int8"))
