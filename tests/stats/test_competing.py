"""Tests for blincompass.stats.competing against R cmprsk::cuminc (tests/fixtures/r/competing.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats.competing import cumulative_incidence, gray_test

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "competing.json"
CASES = json.loads(FIXTURE.read_text())["cases"]
TOL = {"rtol": 1e-8, "atol": 1e-8}


def _cause(res, label: str):
    return next(c for c in res.causes if str(c) == label)


def _fit(case):
    return cumulative_incidence(
        np.array(case["time"]), np.array(case["code"]), group=case.get("group"), censor_code=case["cencode"]
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_curves_match_cuminc(case):
    res = _fit(case)
    assert len(case["curves"]) == len(res.causes) * len(res.groups)
    for cur in case["curves"]:
        g, c = cur["label"].rsplit(" ", 1)
        x, f, v = res.steps(_cause(res, c), None if case.get("group") is None else g)
        np.testing.assert_allclose(x, cur["time"], **TOL)
        np.testing.assert_allclose(f, cur["est"], **TOL)
        np.testing.assert_allclose(v, cur["var"], **TOL)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_timepoints_match(case):
    res = _fit(case)
    tp = case["timepoints"]
    out = res.timepoints(tp["times"])
    np.testing.assert_allclose(np.unique(out["time"]), tp["times"])
    for row, label in enumerate(tp["labels"]):
        g, c = label.rsplit(" ", 1)
        sel = out["cause"].map(str) == c
        if case.get("group") is not None:
            sel &= out["group"] == g
        est = np.array(tp["est"][row], dtype=float)
        var = np.array(tp["var"][row], dtype=float)
        np.testing.assert_allclose(out.loc[sel, "est"].to_numpy(), est, equal_nan=True, **TOL)
        np.testing.assert_allclose(out.loc[sel, "var"].to_numpy(), var, equal_nan=True, **TOL)


@pytest.mark.parametrize("case", [c for c in CASES if "tests" in c], ids=lambda c: c["name"])
def test_gray_matches_cuminc_tests(case):
    t, code = np.array(case["time"]), np.array(case["code"])
    for c, stat, pv, df in zip(case["tests"]["cause"], case["tests"]["stat"], case["tests"]["pv"],
                               case["tests"]["df"], strict=True):
        res = gray_test(t, code, case["group"], cause=float(c), strata=case.get("strata"), rho=case["rho"],
                        censor_code=case["cencode"])
        assert res.df == df
        np.testing.assert_allclose(res.statistic, stat, **TOL)
        np.testing.assert_allclose(res.pvalue, pv, **TOL)


def test_cumulative_incidence_reports_unstratified_gray():
    case = next(c for c in CASES if c["name"] == "cmprsk_example_nostrata")
    res = _fit(case)
    assert [str(r.cause) for r in res.tests] == case["tests"]["cause"]
    np.testing.assert_allclose([r.statistic for r in res.tests], case["tests"]["stat"], **TOL)


def test_single_cause_is_one_minus_km():
    rng = np.random.default_rng(1)
    t = rng.integers(1, 15, 40).astype(float)
    e = rng.integers(0, 2, 40)
    res = cumulative_incidence(t, e)
    tab = res.table
    # Kaplan–Meier by hand
    surv, s = [], 1.0
    for u in np.unique(t[e == 1]):
        s *= 1 - np.sum((t == u) & (e == 1)) / np.sum(t >= u)
        surv.append(s)
    np.testing.assert_allclose(tab["est"], 1 - np.array(surv), rtol=1e-12)


def test_tied_input_order_does_not_matter():
    case = next(c for c in CASES if c["name"] == "tied_synthetic")
    t, code, grp = np.array(case["time"]), np.array(case["code"]), np.array(case["group"])
    perm = np.random.default_rng(5).permutation(t.size)
    a = cumulative_incidence(t, code, group=grp).table
    b = cumulative_incidence(t[perm], code[perm], group=grp[perm]).table
    np.testing.assert_array_equal(a[["est", "var"]].to_numpy(), b[["est", "var"]].to_numpy())


def test_loglog_interval_formula():
    case = next(c for c in CASES if c["name"] == "all39")
    res = _fit(case)
    tab = res.table
    f, se = tab["est"].to_numpy(), tab["std_err"].to_numpy()
    z = 1.959963984540054
    inner = (f > 0) & (f < 1)
    k = z * se[inner] / (f[inner] * np.log(f[inner]))
    np.testing.assert_allclose(tab["lower"].to_numpy()[inner], f[inner] ** np.exp(-k), rtol=1e-12)
    np.testing.assert_allclose(tab["upper"].to_numpy()[inner], f[inner] ** np.exp(k), rtol=1e-12)
    assert np.all(tab["lower"] <= tab["est"]) and np.all(tab["est"] <= tab["upper"])
    plain = cumulative_incidence(np.array(case["time"]), np.array(case["code"]), group=case["group"],
                                 censor_code=9, conf_type="plain", conf_level=0.9).table
    z90 = 1.6448536269514722
    np.testing.assert_allclose(plain["upper"], np.clip(plain["est"] + z90 * plain["std_err"], 0, 1))


def test_timepoints_nan_beyond_follow_up():
    res = cumulative_incidence([1, 2, 3, 10], [1, 2, 0, 1], group=["a", "a", "b", "b"])
    out = res.timepoints([2.5, 5])
    a = out[(out["group"] == "a") & (out["cause"] == 1)]
    assert a["est"].isna().all()
    b = out[(out["group"] == "b") & (out["cause"] == 1)]
    assert b["est"].tolist() == [0.0, 0.0]


def test_undeclared_code_is_rejected():
    with pytest.raises(ValueError, match=r"event_code: value 3 at position 2"):
        cumulative_incidence([1, 2, 3], [1, 2, 3], causes=[1, 2])
    with pytest.raises(ValueError, match=r"event_code: value 9 at position 1"):
        gray_test([1, 2, 3, 4], [1, 9, 0, 1], [0, 0, 1, 1], cause=1, causes=[1, 2])


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"time: negative value .*-1\.0.* at position 1"):
        cumulative_incidence([1, -1], [1, 0])
    with pytest.raises(ValueError, match="length mismatch"):
        cumulative_incidence([1, 2], [1, 0, 0])
    with pytest.raises(ValueError, match="conf_type"):
        cumulative_incidence([1, 2], [1, 0], conf_type="arcsin")
    with pytest.raises(ValueError, match="cause: 3"):
        gray_test([1, 2, 3, 4], [1, 2, 0, 1], [0, 0, 1, 1], cause=3)
    with pytest.raises(ValueError, match="at least two groups"):
        gray_test([1, 2, 3, 4], [1, 2, 0, 1], [0, 0, 0, 0], cause=1)
    with pytest.raises(ValueError, match="group: missing label"):
        cumulative_incidence([1, 2], [1, 0], group=["a", None])
