"""Tests for blincompass.stats.timedep against R survival (tests/fixtures/r/timedep.R).

Covers tmerge-style splitting, the Mantel–Byar test (= exact-ties Cox score test), Simon–Makuch curves
(= survfit on counting-process data), landmark analyses (= survdiff/survfit on the landmark cohort) and
the Cox model with a time-dependent exposure, on the Stanford heart-transplant data (survival::jasa) and
on a tied synthetic cohort.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats.timedep import (
    landmark,
    landmark_table,
    mantel_byar,
    simon_makuch,
    split_at_transition,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "timedep.json"
CASES = json.loads(FIXTURE.read_text())["cases"]
IDS = [c["name"] for c in CASES]
TOL = {"rtol": 1e-8, "atol": 1e-8}


def _data(case):
    t = np.array(case["time"], dtype=float)
    e = np.array(case["event"])
    w = np.array([np.nan if v is None else v for v in case["wait"]], dtype=float)
    return t, e, w, case.get("strata")


def _check_curve(km, ref):
    tab = km.table
    np.testing.assert_allclose(tab["time"], ref["time"], **TOL)
    np.testing.assert_allclose(tab["n_risk"], ref["n_risk"], **TOL)
    np.testing.assert_allclose(tab["n_event"], ref["n_event"], **TOL)
    np.testing.assert_allclose(tab["surv"], ref["surv"], **TOL)
    # survfit's $std.err is on the cumulative-hazard scale; the table reports the SE of S
    # (and infinite where S = 0, which is left out)
    surv = np.array(ref["surv"], dtype=float)
    pos = surv > 0
    se = np.array(ref["std_err"], dtype=float)[pos] * surv[pos]
    np.testing.assert_allclose(tab["std_err"].to_numpy()[pos], se, equal_nan=True, **TOL)
    lo = np.array(ref["lower"], dtype=float)
    hi = np.array(ref["upper"], dtype=float)
    np.testing.assert_allclose(tab["lower"], lo, equal_nan=True, **TOL)
    np.testing.assert_allclose(tab["upper"], hi, equal_nan=True, **TOL)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_split_matches_tmerge(case):
    t, e, w, _ = _data(case)
    cp = split_at_transition(t, e, w)
    ref = case["split"]
    d = cp.data
    np.testing.assert_array_equal(d["id"] + 1, ref["id"])
    np.testing.assert_allclose(d["start"], ref["start"])
    np.testing.assert_allclose(d["stop"], ref["stop"])
    np.testing.assert_array_equal(d["event"], ref["event"])
    np.testing.assert_array_equal(d["exposed"], ref["exposed"])
    assert cp.n_subjects == t.size
    assert cp.n_transitions == int(np.sum(~np.isnan(w) & (w > 0) & (w < t)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_mantel_byar_is_exact_ties_cox_score_test(case):
    t, e, w, s = _data(case)
    mb = mantel_byar(t, e, w, strata=s)
    np.testing.assert_allclose(mb.statistic, case["cox"]["exact"]["score"], **TOL)
    np.testing.assert_allclose(mb.pvalue, case["cox"]["exact"]["score_p"], **TOL)
    # with tied deaths neither Efron's nor Breslow's score test is the Mantel–Byar statistic
    assert abs(mb.statistic - case["cox"]["efron"]["score"]) > 1e-6
    assert abs(mb.statistic - case["cox"]["breslow"]["score"]) > 1e-6
    np.testing.assert_allclose(mb.z**2, mb.statistic, **TOL)
    np.testing.assert_allclose(mb.z, (mb.observed - mb.expected) / np.sqrt(mb.variance), **TOL)


def test_mantel_byar_one_sided_and_immortal_time():
    case = CASES[0]  # Stanford heart transplant
    t, e, w, _ = _data(case)
    two = mantel_byar(t, e, w)
    less = mantel_byar(t, e, w, alternative="less")
    greater = mantel_byar(t, e, w, alternative="greater")
    assert less.pvalue + greater.pvalue == pytest.approx(1.0)
    assert min(less.pvalue, greater.pvalue) == pytest.approx(two.pvalue / 2)
    # the naive ever-transplanted comparison is hugely "significant"; the Mantel–Byar test is not
    assert case["naive"]["chisq"] > 30 and two.statistic < 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_simon_makuch_matches_survfit(case):
    t, e, w, _ = _data(case)
    sm = simon_makuch(t, e, w, conf_type="log")  # R survfit's default band
    for ref in case["simon_makuch"]:
        _check_curve(sm.exposed if ref["label"] == "exposed=1" else sm.unexposed, ref)
    sm90 = simon_makuch(t, e, w, conf_type="plain", conf_level=0.9)
    for ref in case["simon_makuch_plain"]:
        _check_curve(sm90.exposed if ref["label"] == "exposed=1" else sm90.unexposed, ref)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_simon_makuch_from_landmark(case):
    t, e, w, _ = _data(case)
    ref = case["simon_makuch_landmark"]
    sm = simon_makuch(t, e, w, landmark=ref["landmark"], conf_type="log")
    assert sm.landmark == ref["landmark"]
    for cur in ref["curves"]:
        _check_curve(sm.exposed if cur["label"] == "exposed=1" else sm.unexposed, cur)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_landmark_matches_survdiff(case):
    t, e, w, s = _data(case)
    for ref in case["landmarks"]:
        r = landmark(t, e, w, landmark=ref["landmark"], conf_type="log")
        np.testing.assert_array_equal(r.data["index"], ref["index"])
        np.testing.assert_array_equal(r.data["exposed"], ref["exposed"])
        np.testing.assert_allclose(r.data["time"], t[ref["index"]] - ref["landmark"])
        assert r.n_excluded == t.size - len(ref["index"])
        np.testing.assert_allclose(r.logrank.statistic, ref["chisq"], **TOL)
        # survdiff orders groups x = 0, 1; z refers to the exposed group
        np.testing.assert_allclose(r.logrank.observed[1], ref["obs"][1], **TOL)
        np.testing.assert_allclose(r.logrank.expected[1], ref["exp"][1], **TOL)
        for cur in ref["km"]:
            _check_curve(r.km[1] if cur["label"] == "x=1" else r.km[0], cur)
        if s is not None:
            rs = landmark(t, e, w, landmark=ref["landmark"], strata=s)
            np.testing.assert_allclose(rs.logrank.statistic, ref["chisq_strata"], **TOL)


def test_landmark_table():
    case = CASES[0]
    t, e, w, _ = _data(case)
    landmarks = [ref["landmark"] for ref in case["landmarks"]]
    tab = landmark_table(t, e, w, landmarks=landmarks, alternative="greater")
    assert tab["landmark"].tolist() == landmarks
    np.testing.assert_allclose(tab["statistic"], [ref["chisq"] for ref in case["landmarks"]], **TOL)
    assert (tab["n_exposed"] + tab["n_unexposed"] == tab["n_at_risk"]).all()
    assert (tab["n_at_risk"] + tab["n_excluded"] == t.size).all()
    # one-sided p-values from z of the exposed group
    from scipy.stats import norm

    np.testing.assert_allclose(tab["pvalue"], norm.sf(tab["z"]), **TOL)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_time_dependent_matches_coxph(case, ties):
    cox = pytest.importorskip("blincompass.stats.cox")
    del cox
    from blincompass.stats.timedep import cox_time_dependent

    t, e, w, s = _data(case)
    ref = case["cox"][ties]
    fit = cox_time_dependent(t, e, w, strata=s, ties=ties)
    np.testing.assert_allclose(fit.coef["coef"].to_numpy(), ref["coef"], **TOL)
    np.testing.assert_allclose(fit.coef["se"].to_numpy(), ref["se"], **TOL)
    np.testing.assert_allclose([fit.loglik.initial, fit.loglik.final], ref["loglik"], **TOL)
    np.testing.assert_allclose(fit.score_test.statistic, ref["score"], **TOL)
    np.testing.assert_allclose(fit.wald_test.statistic, ref["wald"], **TOL)
    np.testing.assert_allclose(fit.likelihood_ratio_test.statistic, ref["lrt"], rtol=1e-8, atol=1e-8)


def test_split_rules():
    cp = split_at_transition([5, 4, 3, 6], [1, 0, 1, 1], [2, None, 0, 6], id=["a", "b", "c", "d"],
                             strata=["x", "y", "x", "y"])
    d = cp.data
    assert d["id"].tolist() == ["a", "a", "b", "c", "d"]
    assert d["start"].tolist() == [0, 2, 0, 0, 0]
    assert d["stop"].tolist() == [2, 5, 4, 3, 6]
    assert d["event"].tolist() == [0, 1, 0, 1, 1]
    assert d["exposed"].tolist() == [0, 1, 0, 1, 0]  # transition at the last follow-up time: unexposed
    assert d["strata"].tolist() == ["x", "x", "y", "x", "y"]
    assert cp.n_transitions == 1


def test_errors_name_position_and_value():
    with pytest.raises(ValueError, match=r"exposure_time: value 7.0 at position 1 is after the end of follow-up"):
        split_at_transition([5, 6], [1, 0], [None, 7.0])
    with pytest.raises(ValueError, match=r"time: negative value .*-2.* at position 0"):
        mantel_byar([-2, 6], [1, 0], [None, 1.0])
    with pytest.raises(ValueError, match=r"exposure_time: value -1 at position 0"):
        landmark([5, 6], [1, 0], [-1, None], landmark=1)
    with pytest.raises(ValueError, match=r"landmark: 10 is not before the largest follow-up time"):
        landmark([5, 6], [1, 0], [None, 1.0], landmark=10)
    with pytest.raises(ValueError, match=r"landmark: -1"):
        simon_makuch([5, 6], [1, 0], [None, 1.0], landmark=-1)
    with pytest.raises(ValueError, match=r"time: value 0.0 at position 1"):
        split_at_transition([5, 0], [1, 0], [None, None])
    with pytest.raises(ValueError, match="length mismatch"):
        split_at_transition([5, 6], [1, 0], [None])
    with pytest.raises(ValueError, match="alternative"):
        mantel_byar([5, 6], [1, 0], [None, 1.0], alternative="two.sided")


def test_landmark_with_empty_group():
    r = landmark([5, 6, 7], [1, 0, 1], [None, None, None], landmark=1)
    assert r.logrank is None and r.km[1] is None
    tab = landmark_table([5, 6, 7], [1, 0, 1], [None, None, None], landmarks=[1, 2])
    assert tab["pvalue"].isna().all()
