"""Tests for blincompass.stats.km against R survival (tests/fixtures/r/km_logrank.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats import kaplan_meier, median_follow_up

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "km_logrank.json"
DATA = json.loads(FIXTURE.read_text())
CASES = DATA["km"]
TOL = {"rtol": 1e-8, "atol": 1e-10}


def _arr(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _opt(x):
    return np.nan if x is None else x


def _fit(case, **kw):
    return kaplan_meier(
        np.array(case["time"], dtype=float),
        np.array(case["event"]),
        entry=None if case["entry"] is None else np.array(case["entry"], dtype=float),
        weights=None if case["weights"] is None else np.array(case["weights"], dtype=float),
        conf_type=case["conf_type"],
        conf_level=case["conf_level"],
        **kw,
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_table_matches_summary_survfit(case):
    res = _fit(case)
    tab = res.table
    ref = case["table"]
    assert list(tab.columns) == ["time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"]
    assert len(tab) == len(ref["time"])
    for col in tab.columns:
        np.testing.assert_allclose(tab[col].to_numpy(), _arr(ref[col]), **TOL, err_msg=col)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_quantiles_match_quantile_survfit(case):
    res = _fit(case)
    q = case["quantiles"]
    for i, p in enumerate(q["p"]):
        r = res.quantile(p)
        got = [_opt(r.estimate), _opt(r.lower), _opt(r.upper)]
        want = [_opt(q["estimate"][i]), _opt(q["lower"][i]), _opt(q["upper"][i])]
        np.testing.assert_allclose(got, want, **TOL, err_msg=f"p={p}")
    i = q["p"].index(0.5)
    np.testing.assert_allclose(
        [_opt(res.median), _opt(res.median_ci.lower), _opt(res.median_ci.upper)],
        [_opt(q["estimate"][i]), _opt(q["lower"][i]), _opt(q["upper"][i])],
        **TOL,
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_restricted_mean_matches_print_survfit(case):
    res = _fit(case)
    np.testing.assert_allclose([res.mean, res.mean_se], [case["rmean"], case["rmean_se"]], **TOL)


AT_CASES = [c for c in CASES if "at" in c]


@pytest.mark.parametrize("case", AT_CASES, ids=[c["name"] for c in AT_CASES])
def test_survival_at_matches_summary_times(case):
    res = _fit(case)
    at = case["at"]
    got = res.survival_at(at["times"])
    for name in ("surv", "std_err", "lower", "upper"):
        np.testing.assert_allclose(getattr(got, name), _arr(at[name]), **TOL, err_msg=name)


FU_CASES = [c for c in CASES if "follow_up" in c]


@pytest.mark.parametrize("case", FU_CASES, ids=[c["name"] for c in FU_CASES])
def test_median_follow_up_reverse_km(case):
    fu = median_follow_up(
        np.array(case["time"], dtype=float),
        np.array(case["event"]),
        conf_type=case["conf_type"],
        conf_level=case["conf_level"],
    )
    ref = case["follow_up"]
    np.testing.assert_allclose(
        [_opt(fu.median), _opt(fu.median_ci.lower), _opt(fu.median_ci.upper)],
        [_opt(ref["median"]), _opt(ref["lower"]), _opt(ref["upper"])],
        **TOL,
    )
    t = np.array(case["time"], dtype=float)
    assert fu.median_observed == np.median(t)
    assert (fu.minimum, fu.maximum, fu.n) == (t.min(), t.max(), t.size)


# ---- SPSS median and its standard error ---------------------------------------------------------------

AML_M_TIME = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161]
AML_M_EVENT = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0]


def test_spss_median_by_hand():
    """aml, maintained arm: S = .909, .818, .716, .614, .491, .368, .184 at 9, 13, 18, 23, 31, 34, 48."""
    res = kaplan_meier(AML_M_TIME, AML_M_EVENT, median_ci="spss")
    s = {9: 10 / 11, 13: 10 / 11 * 9 / 10}
    s[18] = s[13] * 7 / 8
    s[23] = s[18] * 6 / 7
    s[31] = s[23] * 4 / 5
    s[34] = s[31] * 3 / 4
    # median: smallest event time with S <= 0.5
    assert res.median == 31.0
    gw31 = 1 / (11 * 10) + 1 / (10 * 9) + 1 / (8 * 7) + 1 / (7 * 6) + 1 / (5 * 4)
    se_s = s[31] * np.sqrt(gw31)
    # u = last event time with S >= 0.55 (23), l = first with S <= 0.45 (34)
    dens = (s[23] - s[34]) / (34 - 23)
    se = se_s / dens
    assert res.median_se == pytest.approx(se, rel=1e-12)
    z = 1.959963984540054
    assert res.median_ci.lower == pytest.approx(31 - z * se, rel=1e-12)
    assert res.median_ci.upper == pytest.approx(31 + z * se, rel=1e-12)
    # the Brookmeyer-Crowley answer for the same data differs (R: 31, 13 - NA)
    bc = kaplan_meier(AML_M_TIME, AML_M_EVENT)
    assert (bc.median, bc.median_ci.lower, bc.median_ci.upper) == (31.0, 13.0, None)


def test_spss_interval_is_symmetric_and_quantile_uses_same_rule():
    res = kaplan_meier(AML_M_TIME, AML_M_EVENT, median_ci="spss")
    assert res.median - res.median_ci.lower == pytest.approx(res.median_ci.upper - res.median)
    q = res.quantile(0.25)  # S <= 0.75 first at t = 18 (S = 0.716)
    assert q.estimate == 18.0 and q.method == "spss"
    # 75th percentile: S <= 0.25 first at 48; density from u = 34 (S >= 0.30) and l = 48 (S <= 0.20)
    q75 = res.quantile(0.75)
    s34 = 10 / 11 * 9 / 10 * 7 / 8 * 6 / 7 * 4 / 5 * 3 / 4
    s48 = s34 / 2
    gw48 = 1 / 110 + 1 / 90 + 1 / 56 + 1 / 42 + 1 / 20 + 1 / 12 + 1 / 2
    assert q75.estimate == 48.0
    assert q75.se == pytest.approx(s48 * np.sqrt(gw48) / ((s34 - s48) / (48 - 34)), rel=1e-12)
    # the curve never reaches S <= 0.1: no 90th percentile
    q90 = res.quantile(0.9)
    assert q90.estimate is None and q90.se is None and q90.lower is None


def test_spss_median_flat_stretch_takes_first_time():
    # 10 uncensored times: S hits exactly 0.5 at t=5 and stays until t=6
    t = np.arange(1, 11, dtype=float)
    e = np.ones(10)
    assert kaplan_meier(t, e, median_ci="spss").median == 5.0
    assert kaplan_meier(t, e).median == 5.5  # R's midpoint rule


def test_median_not_reached_is_none():
    res = kaplan_meier([1, 2, 3, 4], [1, 0, 0, 0])
    # the lower band (log-log) drops below 0.5 at t = 1, the curve and the upper band never do
    assert res.median is None and res.median_ci.lower == 1.0 and res.median_ci.upper is None
    res = kaplan_meier([1, 2, 3, 4], [1, 0, 0, 0], median_ci="spss")
    assert res.median is None and res.median_se is None


def test_result_is_frozen_and_unweighted_equals_unit_weights():
    a = kaplan_meier(AML_M_TIME, AML_M_EVENT)
    b = kaplan_meier(AML_M_TIME, AML_M_EVENT, weights=np.ones(11))
    with pytest.raises(AttributeError):
        a.median = 1.0  # type: ignore[misc]
    for col in a.table.columns:
        np.testing.assert_allclose(a.table[col], b.table[col], rtol=1e-14)


def test_integer_weights_equal_replicated_rows():
    t = np.array([3.0, 5, 5, 8, 10, 12])
    e = np.array([1, 0, 1, 1, 0, 1])
    w = np.array([2, 1, 3, 1, 2, 1])
    a = kaplan_meier(t, e, weights=w)
    b = kaplan_meier(np.repeat(t, w), np.repeat(e, w))
    for col in a.table.columns:
        np.testing.assert_allclose(a.table[col], b.table[col], rtol=1e-13)
    assert a.mean == pytest.approx(b.mean) and a.median == b.median


def test_entry_zero_equals_right_censored_when_times_positive():
    t = np.array([3.0, 5, 5, 8, 10, 12])
    e = np.array([1, 0, 1, 1, 0, 1])
    a = kaplan_meier(t, e)
    b = kaplan_meier(t, e, entry=np.zeros(6))
    for col in a.table.columns:
        np.testing.assert_allclose(a.table[col], b.table[col], rtol=1e-14)


# ---- input checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time": [1.0, np.nan, 3.0], "event": [1, 0, 1]}, r"time: non-finite value .*nan.* at position 1"),
        ({"time": [1.0, -2.0, 3.0], "event": [1, 0, 1]}, r"time: negative value .*-2\.0.* at position 1"),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 2, 1]}, r"event: value .*2.* at position 1"),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 0]}, r"length mismatch: time=3, event=2"),
        ({"time": [], "event": []}, r"time: empty input"),
        (
            {"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "entry": [0.0, 2.5, 1.0]},
            r"entry: value 2.5 at position 1 is not before the exit time 2.0",
        ),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "entry": [0.0, 1.0]}, r"length mismatch"),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "weights": [1, -1, 1]}, r"weights: negative value"),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "conf_type": "arcsin"}, r"conf_type: 'arcsin'"),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "conf_level": 1.5}, r"conf_level"),
        ({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "median_ci": "exact"}, r"median_ci: 'exact'"),
    ],
)
def test_bad_input_raises(kwargs, match):
    time = kwargs.pop("time")
    event = kwargs.pop("event")
    with pytest.raises(ValueError, match=match):
        kaplan_meier(time, event, **kwargs)


def test_quantile_and_survival_at_reject_bad_arguments():
    res = kaplan_meier(AML_M_TIME, AML_M_EVENT)
    with pytest.raises(ValueError, match="p: 1.5"):
        res.quantile(1.5)
    with pytest.raises(ValueError, match="times: NaN at position 1"):
        res.survival_at([1.0, np.nan])
