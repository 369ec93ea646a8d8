"""Count tables (blincompass.stats.counts) give the results of the row-level functions and of R.

Every R fixture case is reduced to a count table; the analyses from the table are compared with the same
functions on the patient rows (to 1e-10) and with the R values (to the fixtures' tolerance).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from blincompass.stats import (
    chi2_test,
    contingency_table,
    count_table,
    cumulative_incidence,
    cumulative_incidence_from_counts,
    fisher_exact,
    gray_test,
    gray_test_from_counts,
    kaplan_meier,
    kaplan_meier_from_counts,
    logrank_from_counts,
    logrank_test,
)

R = Path(__file__).resolve().parents[1] / "fixtures" / "r"
KM = json.loads((R / "km_logrank.json").read_text())
CMP = json.loads((R / "competing.json").read_text())["cases"]
EXACT = json.loads((R / "exact.json").read_text())
SAME = {"rtol": 1e-10, "atol": 1e-10}
RTOL = {"rtol": 1e-8, "atol": 1e-10}


def _arr(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _opt(x):
    return np.nan if x is None else x


def _same(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True, **SAME)


def _km_rows(case):
    return (
        np.array(case["time"], dtype=float),
        np.array(case["event"]),
        None if case["entry"] is None else np.array(case["entry"], dtype=float),
        None if case["weights"] is None else np.array(case["weights"], dtype=float),
    )


def assert_km_same(a, b):
    for f in dataclasses.fields(a):
        if f.name.startswith("_"):
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, float) or isinstance(vb, float):
            _same(_opt(va), _opt(vb))
        elif dataclasses.is_dataclass(va):
            _same([_opt(x) for x in dataclasses.astuple(va)], [_opt(x) for x in dataclasses.astuple(vb)])
        else:
            assert va == vb, f.name
    pd.testing.assert_frame_equal(a.table, b.table, **SAME)
    for p in (0.1, 0.25, 0.5, 0.75):
        for method in ("brookmeyer-crowley", "spss"):
            qa, qb = a.quantile(p, method), b.quantile(p, method)
            _same([_opt(v) for v in (qa.estimate, qa.lower, qa.upper, qa.se)],
                  [_opt(v) for v in (qb.estimate, qb.lower, qb.upper, qb.se)])
    grid = np.linspace(0, float(a.time[-1]) * 1.1, 23)
    _same(np.vstack(dataclasses.astuple(a.survival_at(grid))), np.vstack(dataclasses.astuple(b.survival_at(grid))))


@pytest.mark.parametrize("case", KM["km"], ids=[c["name"] for c in KM["km"]])
@pytest.mark.parametrize("median_ci", ["brookmeyer-crowley", "spss"])
def test_kaplan_meier_from_counts(case, median_ci):
    t, e, a, w = _km_rows(case)
    kw = {"conf_type": case["conf_type"], "conf_level": case["conf_level"], "median_ci": median_ci}
    rows = kaplan_meier(t, e, entry=a, weights=w, **kw)
    table = count_table(t, e, entry=a, weights=w)
    got = kaplan_meier_from_counts(table, **kw)
    assert_km_same(got, rows)
    # and R
    for col in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"):
        np.testing.assert_allclose(got.table[col].to_numpy(), _arr(case["table"][col]), **RTOL, err_msg=col)
    np.testing.assert_allclose([got.mean, got.mean_se], [case["rmean"], case["rmean_se"]], **RTOL)
    if median_ci == "brookmeyer-crowley":
        q = case["quantiles"]
        i = q["p"].index(0.5)
        np.testing.assert_allclose(
            [_opt(got.median), _opt(got.median_ci.lower), _opt(got.median_ci.upper)],
            [_opt(q["estimate"][i]), _opt(q["lower"][i]), _opt(q["upper"][i])],
            **RTOL,
        )


def test_kaplan_meier_from_counts_selects_group_stratum_and_cause():
    rng = np.random.default_rng(3)
    n = 400
    t = np.round(rng.exponential(10, n), 1)
    code = rng.choice([0, 1, 2], n, p=[0.3, 0.5, 0.2])
    g = rng.choice(["a", "b"], n)
    s = rng.choice([1, 2, 3], n)
    table = count_table(t, event_code=code, group=g, strata=s)
    assert list(table.columns) == ["stratum", "grp", "time", "n_event_1", "n_event_2", "n_censor"]
    m = (g == "b") & (s == 2)
    assert_km_same(kaplan_meier_from_counts(table, grp="b", stratum=2), kaplan_meier(t[m], code[m] > 0))
    assert_km_same(kaplan_meier_from_counts(table, grp="a", cause=2), kaplan_meier(t[g == "a"], code[g == "a"] == 2))
    assert_km_same(kaplan_meier_from_counts(table), kaplan_meier(t, code > 0))
    # a pyarrow Table, and a table split in two and concatenated (duplicate keys are added up)
    assert_km_same(kaplan_meier_from_counts(pa.Table.from_pandas(table)), kaplan_meier(t, code > 0))
    half = n // 2
    split = pd.concat(
        [count_table(t[:half], event_code=code[:half], group=g[:half], strata=s[:half]),
         count_table(t[half:], event_code=code[half:], group=g[half:], strata=s[half:])]
    ).sample(frac=1.0, random_state=1)
    assert_km_same(kaplan_meier_from_counts(split, grp="b", stratum=2), kaplan_meier(t[m], code[m] > 0))


def _lr_rows(case):
    return (
        np.array(case["time"], dtype=float),
        np.array(case["event"]),
        np.array(case["group"]),
        None if case["entry"] is None else np.array(case["entry"], dtype=float),
        None if case["strata"] is None else np.array(case["strata"]),
    )


def _weights(spec):
    return spec[0] if len(spec) == 1 else (spec[0], float(spec[1]), float(spec[2]))


def assert_lr_same(a, b):
    assert a.groups == b.groups and a.df == b.df and a.alternative == b.alternative and a.weights == b.weights
    _same([a.statistic, a.pvalue, _opt(a.z)], [b.statistic, b.pvalue, _opt(b.z)])
    _same(a.observed, b.observed)
    _same(a.expected, b.expected)
    _same(a.variance, b.variance)
    assert a.n.tolist() == b.n.tolist()
    assert list(a.observed.index) == list(b.observed.index)


@pytest.mark.parametrize("case", KM["logrank"], ids=[c["name"] for c in KM["logrank"]])
def test_logrank_from_counts(case):
    t, e, g, a, s = _lr_rows(case)
    w = _weights(case["weights"])
    table = count_table(t, e, group=g, strata=s, entry=a)
    alts = ["two-sided"] + (["less", "greater"] if case.get("p_less") is not None else [])
    for alt in alts:
        rows = logrank_test(t, e, g, entry=a, strata=s, weights=w, alternative=alt, order=case["order"])
        got = logrank_from_counts(table, weights=w, alternative=alt, order=case["order"])
        assert_lr_same(got, rows)
        want = {"two-sided": case["pvalue"], "less": case.get("p_less"), "greater": case.get("p_greater")}[alt]
        np.testing.assert_allclose(got.pvalue, want, **RTOL)
    np.testing.assert_allclose(got.statistic, case["statistic"], **RTOL)
    np.testing.assert_allclose(got.variance.to_numpy(), np.array(case["variance"]), **RTOL)
    # default order: sorted labels, as the row-level function
    assert_lr_same(logrank_from_counts(table, weights=w), logrank_test(t, e, g, entry=a, strata=s, weights=w))


def _cmp_fit_rows(case):
    return cumulative_incidence(
        np.array(case["time"]), np.array(case["code"]), group=case.get("group"), censor_code=case["cencode"]
    )


def _cmp_table(case, strata=False):
    return count_table(
        np.array(case["time"]),
        event_code=np.array(case["code"]),
        censor_code=case["cencode"],
        group=case.get("group"),
        strata=case.get("strata") if strata else None,
    )


@pytest.mark.parametrize("case", CMP, ids=[c["name"] for c in CMP])
def test_cumulative_incidence_from_counts(case):
    rows = _cmp_fit_rows(case)
    got = cumulative_incidence_from_counts(_cmp_table(case, strata=True))  # strata are pooled
    assert [str(c) for c in got.causes] == [str(c) for c in rows.causes]
    assert got.groups == rows.groups and got.max_time == rows.max_time
    a, b = got.table.copy(), rows.table.copy()
    a["cause"], b["cause"] = a["cause"].map(str), b["cause"].map(str)
    pd.testing.assert_frame_equal(a, b, **SAME)
    assert len(got.tests) == len(rows.tests)
    for x, y in zip(got.tests, rows.tests, strict=True):
        assert str(x.cause) == str(y.cause) and x.df == y.df
        _same([x.statistic, x.pvalue], [y.statistic, y.pvalue])
        _same(x.variance, y.variance)
    # and R: the curves as cuminc lays them out
    for cur in case["curves"]:
        gl, c = cur["label"].rsplit(" ", 1)
        cause = next(v for v in got.causes if str(v) == c)
        x, f, v = got.steps(cause, None if case.get("group") is None else gl)
        np.testing.assert_allclose(x, cur["time"], **RTOL)
        np.testing.assert_allclose(f, cur["est"], **RTOL)
        np.testing.assert_allclose(v, cur["var"], **RTOL)


@pytest.mark.parametrize("case", [c for c in CMP if "tests" in c], ids=lambda c: c["name"])
def test_gray_test_from_counts(case):
    t, code = np.array(case["time"]), np.array(case["code"])
    table = _cmp_table(case, strata=True)
    for c, stat, pv in zip(case["tests"]["cause"], case["tests"]["stat"], case["tests"]["pv"], strict=True):
        rows = gray_test(t, code, case["group"], cause=float(c), strata=case.get("strata"), rho=case["rho"],
                         censor_code=case["cencode"])
        got = gray_test_from_counts(table, cause=float(c), rho=case["rho"])
        assert got.groups == rows.groups and got.df == rows.df and got.n_strata == rows.n_strata
        _same([got.statistic, got.pvalue], [rows.statistic, rows.pvalue])
        _same(got.score, rows.score)
        _same(got.variance, rows.variance)
        np.testing.assert_allclose([got.statistic, got.pvalue], [stat, pv], rtol=1e-8, atol=1e-8)


def _patients(table):
    """Patient rows (row factor, column factor) of a contingency table."""
    arr = np.asarray(table, dtype=np.int64)
    r, c = np.indices(arr.shape)
    rows = np.repeat(r.ravel(), arr.ravel())
    cols = np.repeat(c.ravel(), arr.ravel())
    return np.array([f"r{i}" for i in rows]), np.array([f"c{j:02d}" for j in cols])


@pytest.mark.parametrize("kind", ["fisher_2x2", "fisher_rxc", "chisq"])
def test_contingency_tables_from_counts(kind):
    for case in EXACT[kind]:
        if kind == "fisher_rxc" and np.asarray(case["table"]).sum() > 150:
            continue  # the large enumerations are covered by test_exact.py; the reduction is the same
        r, c = _patients(case["table"])
        long = pd.DataFrame({"a": r, "b": c}).value_counts().rename("n").reset_index()
        ct = contingency_table(long.sample(frac=1.0, random_state=2), "a", "b")
        np.testing.assert_array_equal(ct.to_numpy(), np.asarray(pd.crosstab(r, c)))
        if kind == "chisq":
            got = chi2_test(ct, correction=case["correction"])
            rows = chi2_test(pd.crosstab(r, c), correction=case["correction"])
            assert (got.statistic, got.pvalue) == (rows.statistic, rows.pvalue)
            np.testing.assert_allclose([got.statistic, got.pvalue], [case["statistic"], case["pvalue"]], **RTOL)
        else:
            alt = case.get("alternative", "two-sided")
            got = fisher_exact(ct, alternative=alt)
            assert got.pvalue == fisher_exact(pd.crosstab(r, c), alternative=alt).pvalue
            np.testing.assert_allclose(got.pvalue, case["pvalue"], **RTOL)


def test_contingency_table_orders_and_zero_cells():
    long = pd.DataFrame({"arm": ["x", "y", "x"], "resp": ["CR", "CR", "PR"], "n": [3, 4, 5]})
    ct = contingency_table(long, "arm", "resp", row_order=["y", "x"], col_order=["PR", "CR", "SD"])
    assert ct.to_numpy().tolist() == [[0, 4, 0], [5, 3, 0]]
    with pytest.raises(ValueError, match="level 'CR' of the table is not in the given order"):
        contingency_table(long, "arm", "resp", col_order=["PR"])
    with pytest.raises(ValueError, match=r"n: value -1.0 at row 1"):
        contingency_table(long.assign(n=[1, -1, 2]), "arm", "resp")


@pytest.mark.parametrize(
    "change,pattern",
    [
        (lambda d: d.rename(columns={"grp": "group"}), "named 'grp'"),
        (lambda d: d.drop(columns="n_censor"), "required column 'n_censor'"),
        (lambda d: d.assign(extra=1), "unknown column 'extra'"),
        (lambda d: d.assign(n_censor=d["n_censor"].where(d.index != 2, -1)), r"n_censor: value -1.0 at row 2"),
        (lambda d: d.assign(time=d["time"].where(d.index != 1, np.nan)), "time: non-finite value nan at position 1"),
        (lambda d: d.assign(grp=d["grp"].where(d.index != 3, None)), "grp: missing label nan at position 3"),
        (lambda d: d.assign(n_event_1=d["n_event"]), "either 'n_event' or 'n_event_<cause>'"),
        (lambda d: d.iloc[0:0], "no rows"),
    ],
)
def test_bad_count_tables_are_named(change, pattern):
    table = count_table([1.0, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1], group=[0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=pattern):
        logrank_from_counts(change(table))


def test_refusals():
    table = count_table([1.0, 2, 3, 4], [1, 0, 1, 1], group=[0, 0, 0, 0])
    with pytest.raises(ValueError, match="only one group"):
        logrank_from_counts(table)
    with pytest.raises(ValueError, match="no records for grp=5"):
        kaplan_meier_from_counts(table, grp=5)
    two = count_table([1.0, 2, 3, 4], [1, 0, 1, 1], group=[0, 1, 2, 1])
    with pytest.raises(ValueError, match="needs exactly two groups"):
        logrank_from_counts(two, alternative="less")
    trunc = count_table([2.0, 3], event_code=[1, 2], entry=[1.0, 0.5], group=[0, 1])
    with pytest.raises(ValueError, match="left truncation"):
        gray_test_from_counts(trunc, cause=1)
    with pytest.raises(ValueError, match="cause: 3 is not one of"):
        kaplan_meier_from_counts(trunc, cause=3)


def test_weighted_counts_only_for_kaplan_meier():
    t, e, g = np.array([1.0, 2, 3, 4]), np.array([1, 0, 1, 1]), np.array([0, 1, 0, 1])
    w = np.array([0.5, 1.5, 1.0, 2.0])
    table = count_table(t, e, group=g, weights=w)
    assert_km_same(kaplan_meier_from_counts(table, grp=0), kaplan_meier(t[g == 0], e[g == 0], weights=w[g == 0]))
    with pytest.raises(ValueError, match="non-integer counts .* the log-rank test needs counts"):
        logrank_from_counts(table)
