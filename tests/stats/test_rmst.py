"""Restricted mean survival time against R survival (tests/fixtures/r/rmst.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats import common_horizon, rmst, rmst_difference

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "rmst.json"
CASES = json.loads(FIXTURE.read_text())["cases"]
IDS = [c["name"] for c in CASES]
TOL = {"rtol": 1e-8, "atol": 1e-8}


def _data(case):
    return np.array(case["time"], float), np.array(case["status"], int), np.array(case["group"], dtype=object)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rmst_and_difference_match_r(case):
    t, e, g = _data(case)
    res = rmst_difference(t, e, g, tau=case["tau_given"], order=[case["first"], case["second"]],
                          conf_level=case["conf_level"])
    assert res.tau == pytest.approx(case["tau"], abs=0)
    assert res.tau_rule == ("given" if case["tau_given"] is not None else "smallest last observation")
    np.testing.assert_allclose([res.rmst[0].estimate, res.rmst[0].se, res.rmst[1].estimate, res.rmst[1].se],
                               [case["rmean1"], case["se1"], case["rmean2"], case["se2"]], **TOL)
    np.testing.assert_allclose([res.difference, res.se, res.lower, res.upper, res.statistic, res.pvalue],
                               [case["difference"], case["se_difference"], case["lower"], case["upper"],
                                case["z"], case["p_two_sided"]], **TOL)
    for alt, key in (("greater", "p_greater"), ("less", "p_less")):
        one = rmst_difference(t, e, g, tau=case["tau_given"], order=[case["first"], case["second"]],
                              alternative=alt)
        assert one.pvalue == pytest.approx(case[key], rel=1e-8, abs=1e-12)


def test_single_group_interval_and_event_count():
    t = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    e = np.array([1, 1, 0, 1, 0])
    r = rmst(t, e, 4.0)
    # S = 1 on [0,1), 0.8 on [1,2), 0.6 on [2,3), 0.3 on [3,4]
    assert r.estimate == pytest.approx(1 + 0.8 + 0.6 + 0.3)
    assert r.n_events == 3 and r.n == 5
    assert r.lower == pytest.approx(r.estimate - 1.959963984540054 * r.se)


def test_common_horizon_is_smallest_last_observation():
    t = np.array([1.0, 20.5, 3.0, 67.2])
    g = np.array(["a", "a", "b", "b"], dtype=object)
    assert common_horizon(t, g) == 20.5


def test_tau_beyond_data_is_refused():
    with pytest.raises(ValueError, match="beyond the largest observed time 5"):
        rmst([1.0, 5.0], [1, 0], 6.0)
    with pytest.raises(ValueError, match="compares two groups, got 3"):
        rmst_difference([1.0, 2.0, 3.0], [1, 1, 1], ["a", "b", "c"])


def test_rmst_up_to_the_last_time_is_the_kaplan_meier_restricted_mean():
    from blincompass.stats import kaplan_meier

    case = next(c for c in CASES if c["name"] == "aml_x")
    t, e, _ = _data(case)
    km = kaplan_meier(t, e)
    r = rmst(t, e, float(t.max()))
    assert (r.estimate, r.se) == pytest.approx((km.mean, km.mean_se), rel=1e-12)


def test_bad_alternative_is_refused():
    with pytest.raises(ValueError, match="alternative: 'bigger' is not one of two-sided, less, greater"):
        rmst_difference([1.0, 2.0], [1, 1], ["a", "b"], alternative="bigger")
